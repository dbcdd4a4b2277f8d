#!/usr/bin/env bash
# Installs the .deb into throw-away roots and checks what its maintainer scripts do:
#   packaging/test-deb.sh [target/packages/mailroom_*.deb]
#
# The real dpkg does the unpacking, the conffile handling and the script calls
# (`dpkg --root=R --force-script-chrootless`: the scripts run on this host with DPKG_ROOT=R,
# which they honour), so an upgrade keeps an edited config because dpkg does, not because a
# harness imitates it. adduser, deluser, chown, systemctl, deb-systemd-helper and
# deb-systemd-invoke are stubs first on PATH that record each call; adduser/deluser edit
# R/etc/passwd and R/etc/group, chown applies the ids found there (as root), so the owners on
# disk are the ones the scripts asked for. Scenarios:
#   1. install with the example config: user, state dir 0750, config 0640 root:mailroom, unit
#      enabled, NOT started, one line saying what to edit;
#   2. the admin edits the config; upgrade to a newer version: the config is kept byte for byte,
#      no second user, the running service restarted (try-restart), not stopped by prerm;
#   3. remove: stopped, the unit masked; user, state dir and config kept;
#   4. purge: user, group, state dir and config gone;
#   5. a new root whose config was put in place before the install (as configuration management
#      does): the install starts the service.
# Prints each check; exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
DEB="${1:-$(ls target/packages/mailroom_*.deb)}"
DEB=$(realpath "$DEB")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mailroom-test-deb.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
CALLS="$WORK/calls"
STUBS="$WORK/stubs"
mkdir -p "$STUBS"

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# --- the stubs -----------------------------------------------------------------------------
for name in systemctl deb-systemd-helper deb-systemd-invoke; do
  cat >"$STUBS/$name" <<EOF
#!/bin/sh
echo "$name \$*" >>"$CALLS"
exit 0
EOF
done
cat >"$STUBS/adduser" <<EOF
#!/bin/sh
echo "adduser \$*" >>"$CALLS"
for last; do :; done
echo "\$last:x:64990:64990::/var/lib/mailroom:/usr/sbin/nologin" >>"\$DPKG_ROOT/etc/passwd"
echo "\$last:x:64990:" >>"\$DPKG_ROOT/etc/group"
EOF
cat >"$STUBS/deluser" <<EOF
#!/bin/sh
echo "deluser \$*" >>"$CALLS"
for last; do :; done
case " \$* " in
*" --group "*) f="\$DPKG_ROOT/etc/group" ;;
*) f="\$DPKG_ROOT/etc/passwd" ;;
esac
grep -v "^\$last:" "\$f" >"\$f.new" || true
mv "\$f.new" "\$f"
EOF
cat >"$STUBS/chown" <<EOF
#!/bin/sh
# chown USER:GROUP PATH, names looked up in the throw-away root's files.
echo "chown \$1 \${2#"\$DPKG_ROOT"}" >>"$CALLS"
id_of() { awk -F: -v n="\$1" '\$1 == n { print \$3 }' "\$2"; }
u=\$(id_of "\${1%%:*}" "\$DPKG_ROOT/etc/passwd")
g=\$(id_of "\${1#*:}" "\$DPKG_ROOT/etc/group")
[ -n "\$u" ] && [ -n "\$g" ] || { echo "chown stub: \$1 unknown in \$DPKG_ROOT" >&2; exit 1; }
exec /bin/chown "\$u:\$g" "\$2"
EOF
chmod 755 "$STUBS"/*
export PATH="$STUBS:$PATH"

# A root dpkg can install into: its database, root in passwd/group, and "systemd runs here".
new_root() {
  local r=$1
  mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/etc" "$r/run/systemd/system"
  : >"$r/var/lib/dpkg/status"
  : >"$r/var/lib/dpkg/available"
  echo "root:x:0:0:root:/root:/bin/sh" >"$r/etc/passwd"
  echo "root:x:0:" >"$r/etc/group"
}
# dpkg against root $1; the rest are dpkg's arguments. Output in $WORK/out.
dpkg_in() {
  local r=$1
  shift
  : >"$CALLS"
  if ! dpkg --root="$r" --force-script-chrootless --force-depends --force-confold \
    --force-not-root "$@" >"$WORK/out" 2>&1; then
    cat "$WORK/out" >&2
    fail "dpkg $*"
  fi
}
called() { grep -qxF -- "$1" "$CALLS" || { cat "$CALLS" >&2; fail "expected the call: $1"; }; ok "called: $1"; }
not_called() { ! grep -qE -- "$1" "$CALLS" || { cat "$CALLS" >&2; fail "unexpected call matching: $1"; }; ok "no call matching: $1"; }
# mode uid gid of a path
has() {
  local path=$1 want=$2 got
  got=$(stat -c '%a %u %g' "$path") || fail "$path is missing"
  [ "$got" = "$want" ] || fail "$path: mode uid gid $got, wanted $want"
  ok "${path#"$R"} $want"
}
user_id() { awk -F: '$1 == "mailroom" { print $3 }' "$R/etc/passwd"; }

# --- the package itself ----------------------------------------------------------------------
echo "== $DEB"
dpkg-deb -e "$DEB" "$WORK/control"
grep -qxF /etc/mailroom/config.toml "$WORK/control/conffiles" || fail "config.toml is not a conffile"
ok "conffiles: $(tr '\n' ' ' <"$WORK/control/conffiles")"
for s in postinst prerm postrm; do
  [ -x "$WORK/control/$s" ] || fail "no executable $s"
done
ok "postinst, prerm, postrm present"

# Version+1 of the same package, for the upgrade: the same files, config included.
VERSION=$(dpkg-deb -f "$DEB" Version)
NEWER="$WORK/mailroom-newer.deb"
dpkg-deb -R "$DEB" "$WORK/newer"
sed -i "s/^Version: .*/Version: $VERSION+test1/" "$WORK/newer/DEBIAN/control"
dpkg-deb --root-owner-group -b "$WORK/newer" "$NEWER" >/dev/null

R="$WORK/root"
new_root "$R"

echo "== 1. install (the example config: unconfigured)"
dpkg_in "$R" -i "$DEB"
called "adduser --system --group --home /var/lib/mailroom --no-create-home --quiet mailroom"
UID_=$(user_id)
[ -n "$UID_" ] || fail "no mailroom user in the root"
has "$R/usr/bin/mailroom" "755 0 0"
"$R/usr/bin/mailroom" --version | grep -q '^mailroom ' || fail "the packaged binary does not run"
ok "usr/bin/mailroom --version runs"
has "$R/usr/lib/systemd/system/mailroom.service" "644 0 0"
has "$R/usr/lib/systemd/user/mailroom-desktop.service" "644 0 0"
has "$R/etc/xdg/autostart/mailroom-desktop.desktop" "644 0 0"
has "$R/etc/mailroom/config.toml" "640 0 $UID_"
cmp -s "$R/etc/mailroom/config.toml" config.example.toml || fail "config.toml is not the example"
ok "etc/mailroom/config.toml is config.example.toml"
has "$R/var/lib/mailroom" "750 $UID_ $UID_"
for f in usr/share/man/man1/mailroom.1.gz usr/share/man/man1/mailroom-sync.1.gz \
  usr/share/bash-completion/completions/mailroom usr/share/zsh/vendor-completions/_mailroom \
  usr/share/fish/vendor_completions.d/mailroom.fish usr/share/doc/mailroom/README.md \
  usr/share/doc/mailroom/config.example.toml usr/share/doc/mailroom/systemd.md; do
  has "$R/$f" "644 0 0"
done
called "chown mailroom:mailroom /var/lib/mailroom"
called "chown root:mailroom /etc/mailroom/config.toml"
called "deb-systemd-helper enable mailroom.service"
called "systemctl --system daemon-reload"
not_called "^deb-systemd-invoke (start|restart|try-restart)"
grep -q "^mailroom: edit /etc/mailroom/config.toml .*systemctl start mailroom" "$WORK/out" ||
  { cat "$WORK/out"; fail "no line saying what to edit"; }
ok "said: $(grep '^mailroom: edit' "$WORK/out")"

echo "== 2. the admin edits the config; upgrade to $VERSION+test1"
sed -i 's/REPLACE-[A-Z-]*/edited/' "$R/etc/mailroom/config.toml"
grep -q REPLACE- "$R/etc/mailroom/config.toml" && fail "the edit left REPLACE-"
cp "$R/etc/mailroom/config.toml" "$WORK/edited.toml"
dpkg_in "$R" -i "$NEWER"
[ "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f '${Version}' mailroom)" = "$VERSION+test1" ] ||
  fail "not upgraded"
ok "upgraded to $VERSION+test1"
cmp -s "$R/etc/mailroom/config.toml" "$WORK/edited.toml" || fail "the edited config was replaced"
ok "the edited config is kept byte for byte"
has "$R/etc/mailroom/config.toml" "640 0 $UID_"
has "$R/var/lib/mailroom" "750 $UID_ $UID_"
not_called "^adduser"
not_called "^deb-systemd-invoke stop"
called "deb-systemd-invoke try-restart mailroom.service"
not_called "^deb-systemd-invoke start"

echo "== 3. remove"
echo "archived" >"$R/var/lib/mailroom/mailroom.sqlite3"
dpkg_in "$R" -r mailroom
called "deb-systemd-invoke stop mailroom.service"
called "deb-systemd-helper mask mailroom.service"
[ ! -e "$R/usr/bin/mailroom" ] || fail "the binary is still there"
ok "usr/bin/mailroom removed"
cmp -s "$R/etc/mailroom/config.toml" "$WORK/edited.toml" || fail "remove touched the config"
ok "etc/mailroom/config.toml kept"
[ -f "$R/var/lib/mailroom/mailroom.sqlite3" ] || fail "remove touched the state"
ok "var/lib/mailroom kept"
[ -n "$(user_id)" ] || fail "remove deleted the user"
ok "the mailroom user kept"
not_called "^deluser"

echo "== 4. purge"
dpkg_in "$R" -P mailroom
called "deb-systemd-helper purge mailroom.service"
called "deluser --system --quiet mailroom"
called "deluser --group --system --quiet mailroom"
for p in var/lib/mailroom etc/mailroom; do
  [ ! -e "$R/$p" ] || fail "$p is still there"
  ok "$p removed"
done
! grep -q '^mailroom:' "$R/etc/passwd" "$R/etc/group" || fail "the user or group is still there"
ok "the user and group removed"

echo "== 5. a fresh root with a finished config in place: the install starts the service"
R="$WORK/root2"
new_root "$R"
mkdir -p "$R/etc/mailroom"
cp "$WORK/edited.toml" "$R/etc/mailroom/config.toml"
dpkg_in "$R" -i "$DEB"
called "deb-systemd-helper enable mailroom.service"
called "deb-systemd-invoke start mailroom.service"
! grep -q '^mailroom: edit' "$WORK/out" || fail "asked to edit a finished config"
ok "no request to edit"
cmp -s "$R/etc/mailroom/config.toml" "$WORK/edited.toml" || fail "the config in place was replaced"
ok "the config in place is kept"
has "$R/etc/mailroom/config.toml" "640 0 $(user_id)"

echo "== test-deb: all checks passed"
