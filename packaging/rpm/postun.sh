# mailroom %postun ($1: 0 erase). rpm has no purge: like Fedora's packages, an erase keeps the
# mailroom user, /var/lib/mailroom (database and archive) and an edited config (saved as
# /etc/mailroom/config.toml.rpmsave); remove them by hand once the archive is backed up.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
