# mailroom %pre: the system user and group, before the files are unpacked, so that rpm can give
# /etc/mailroom/config.toml its group (root:mailroom 0640) as it writes it.
getent group mailroom >/dev/null || groupadd --system mailroom
getent passwd mailroom >/dev/null ||
    useradd --system --gid mailroom --home-dir /var/lib/mailroom --no-create-home \
        --shell /sbin/nologin --comment "mailroom daemon" mailroom
exit 0
