#!/bin/sh
# Prints systemd's security analysis of the mailroom service unit and fails when its overall
# exposure is above the limit (default 1.5; systemd's scale: 0 best, 10 worst).
#
# Usage: systemd/check-security.sh [UNIT_FILE] [MAX_EXPOSURE]
# Needs `systemd-analyze` (Debian: the `systemd` package) with `--offline=yes` (systemd ≥ 250);
# it reads the unit file only, so no running systemd is needed (containers and CI are fine).
set -eu

unit=${1:-$(dirname "$0")/mailroom.service}
max=${2:-1.5}

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "check-security: systemd-analyze not found (apt-get install systemd)" >&2
    exit 2
fi

# --threshold=100: systemd-analyze's own verdict is not ours; we compare against $max below.
out=$(systemd-analyze security --offline=yes --threshold=100 --no-pager "$unit" 2>&1) || {
    printf '%s\n' "$out" >&2
    echo "check-security: systemd-analyze failed on $unit" >&2
    exit 2
}
printf '%s\n' "$out"

exposure=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p')
if [ -z "$exposure" ]; then
    echo "check-security: no overall exposure in the output of systemd-analyze" >&2
    exit 2
fi

if awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e <= m) }'; then
    echo "check-security: exposure $exposure <= $max: ok"
else
    echo "check-security: exposure $exposure > $max: tighten $unit" >&2
    exit 1
fi
