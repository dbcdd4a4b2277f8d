#!/usr/bin/env bash
# Cross-builds mailroom.exe and runs it under Wine: `--version`, the demo to a clean finish
# (it archives its communications through the Windows durability path: write, FlushFileBuffers,
# MoveFileExW with write-through, directory flush), and `service install` / `uninstall`
# against Wine's Service Control Manager. Prints each command, its exit status and output;
# exits non-zero when the build, `--version` or the demo fail (Wine's SCM is only reported:
# it is not Windows').
#
# Needs Debian's rustc-web, cargo-web, rust-web-src, gcc-mingw-w64-x86-64,
# binutils-mingw-w64-x86-64 and wine64 (.ci/run installs them). The recipe is
# shared/windows/README.md's: the rustup toolchain has no Windows std, so Debian's rustc builds
# one (-Zbuild-std). The dev profile (without debug info) builds faster than release here.
#
# Environment: WINTARGET (default target/windows), the cargo target directory of the build.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=x86_64-pc-windows-gnu
WINTARGET=${WINTARGET:-$PWD/target/windows}
EXE=$WINTARGET/$TARGET/debug/mailroom.exe
WINE=/usr/lib/wine/wine64

step() { printf '\n== %s\n' "$*"; }

step "cross-build mailroom.exe (dev profile, no debug info) into $WINTARGET"
start=$(date +%s)
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$WINTARGET" CARGO_PROFILE_DEV_DEBUG=0 \
  CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
  /usr/bin/cargo build --quiet -Zbuild-std=std,panic_abort --target "$TARGET" --bin mailroom
echo "built $EXE in $(( $(date +%s) - start )) s"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mailroom-wine.XXXXXX")
trap 'wineserver_down; rm -rf "$WORK"' EXIT
export WINEPREFIX=$WORK/prefix WINEARCH=win64 WINEDEBUG=-all
wineserver_down() { WINEPREFIX=$WINEPREFIX /usr/lib/wine/wineserver -k 2>/dev/null || true; }

step "the stub bcryptprimitives.dll (Wine 8 lacks ProcessPrng) beside a copy of the exe"
STUB=packaging/windows/wine
x86_64-w64-mingw32-gcc -shared -o "$WORK/bcryptprimitives.dll" \
  "$STUB/bcryptprimitives-stub.c" "$STUB/bcryptprimitives-stub.def" -ladvapi32
cp "$EXE" "$WORK/mailroom.exe"
ls -l "$WORK/mailroom.exe" "$WORK/bcryptprimitives.dll"

step "a fresh WINEPREFIX"
timeout --kill-after=10 300 "$WINE" wineboot -i >/dev/null 2>&1
echo "$WINEPREFIX"

# Runs mailroom.exe with the arguments given, printing the command, its output and its status;
# the status is left in $status. Every Wine call is bounded: LIMIT seconds (default 120; the
# demo gets 600), then it is killed and counts as failed (status 124).
run() {
  printf '\n$ mailroom.exe %s\n' "$*"
  set +e
  timeout --kill-after=10 "${LIMIT:-120}" "$WINE" "$WORK/mailroom.exe" "$@" 2>&1 | tr -d '\r'
  status=${PIPESTATUS[0]}
  set -e
  echo "exit status: $status"
}

failed=0
run --version
[ "$status" -eq 0 ] || failed=1

# Z: is Wine's mapping of the Unix root.
DEMO="Z:$(printf '%s' "$WORK/demo" | tr / '\\')"
LIMIT=600 run demo --dir "$DEMO"
[ "$status" -eq 0 ] || failed=1
step "what the demo archived (on the Unix side)"
find "$WORK/demo" -name '*.pdf' | sed "s|$WORK/||" | sort | head -20
echo "$(find "$WORK/demo" -name '*.pdf' | wc -l) PDF files"

step "the service, in Wine's Service Control Manager (reported, not judged)"
CONFIG="$WORK/config.toml"
STATE="Z:$(printf '%s' "$WORK/service" | tr / '\\')"
printf '[storage]\ndatabase = %s\narchive_dir = %s\n' \
  "'$STATE\\mailroom.sqlite3'" "'$STATE\\archive'" >"$CONFIG"
WINCONFIG="Z:$(printf '%s' "$CONFIG" | tr / '\\')"
run --config "$WINCONFIG" service install
sc() { printf '\n$ sc %s\n' "$*"; timeout --kill-after=10 60 "$WINE" sc "$@" 2>&1 | tr -d '\r' || true; }
# Waits up to 30 s for the service's state, from `sc query`.
wait_state() {
  for _ in $(seq 1 60); do
    timeout 30 "$WINE" sc query mailroom 2>/dev/null | tr -d '\r' | grep -q "STATE *: [0-9]  $1" && return 0
    sleep 0.5
  done
  return 1
}
# Wine 8's services.exe cannot open a service created in its own session (OpenServiceW:
# "Service does not exist", though `sc query` lists it) until it reads its registry again:
# end the session, as a reboot would; the next one starts the auto-start service itself.
sc query mailroom
echo "-- ending the Wine session (wineserver -k); the next command boots services.exe again"
wineserver_down
run service start
wait_state RUNNING && echo "(the service reached RUNNING)" || echo "(the service did not reach RUNNING)"
sc query mailroom
run service stop
sc query mailroom
echo "-- the service's log (%ProgramData%\\mailroom\\logs in the prefix):"
find "$WINEPREFIX/drive_c" -path '*mailroom/logs/*' -type f -exec cat {} + 2>/dev/null | tail -20
run service uninstall
[ "$status" -eq 0 ] || sc delete mailroom
sc query mailroom

if [ "$failed" -ne 0 ]; then
  echo
  echo "wine-check: FAILED (--version or the demo)"
  exit 1
fi
echo
echo "wine-check: ok"
