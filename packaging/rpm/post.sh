# mailroom %post ($1: 1 install, 2 or more upgrade). The state directory, the service enabled,
# and started only once the configuration has no REPLACE- placeholder left; an upgrade restarts
# a running daemon (%preun does not stop it on upgrade). The same decisions as the .deb's postinst.
if [ ! -d /var/lib/mailroom ]; then
    install -d -m 0750 -o mailroom -g mailroom /var/lib/mailroom
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ]; then
    systemctl enable mailroom.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
    if grep -v '^[[:space:]]*#' /etc/mailroom/config.toml 2>/dev/null | grep -q 'REPLACE-' ||
        [ ! -f /etc/mailroom/config.toml ]; then
        echo "mailroom: edit /etc/mailroom/config.toml (replace the REPLACE- values, see /usr/share/doc/mailroom), then run: systemctl start mailroom"
    elif [ "$1" -gt 1 ]; then
        systemctl try-restart mailroom.service >/dev/null 2>&1 || :
    else
        systemctl start mailroom.service >/dev/null 2>&1 || :
    fi
fi
exit 0
