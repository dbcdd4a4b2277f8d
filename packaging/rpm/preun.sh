# mailroom %preun ($1: 0 erase, 1 or more upgrade): stop and disable the daemon only when the
# package is erased; on upgrade it keeps running until %post restarts it.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now mailroom.service >/dev/null 2>&1 || :
fi
exit 0
