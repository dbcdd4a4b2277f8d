#!/usr/bin/env bash
# Builds the server packages into target/packages/ and lists what each holds:
#   the .deb (cargo-deb), the .rpm (cargo-generate-rpm), and the MSI (wixl) when given the path
#   of a Windows mailroom.exe, as the first argument or $MAILROOM_EXE (empty: no MSI, said so).
# The Linux binary is the `dist` profile's (Cargo.toml); its `mailroom generate` renders the man
# pages and completions into target/generated/ first, which both packages' assets name.
# Needs: cargo-deb, cargo-generate-rpm (cargo install … --locked), dpkg-deb; rpm to list the
# .rpm (skipped with a line when missing); wixl and msiinfo (Debian msitools, wixl) for the MSI.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
EXE="${1:-${MAILROOM_EXE:-}}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$ROOT/target/packages"
GEN="$ROOT/target/generated"
VERSION=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "mailroom"))')
rm -rf "$OUT" "$GEN"
mkdir -p "$OUT"

echo "== mailroom $VERSION, cargo build --profile dist"
cargo build --quiet --locked --profile dist --bin mailroom
BIN="$TARGET/dist/mailroom"

echo "== man pages and shell completions (mailroom generate) into target/generated/"
"$BIN" generate man "$GEN/man"
"$BIN" generate completions "$GEN/completions"

echo "== .deb (cargo deb, profile dist from [package.metadata.deb])"
cargo deb --no-build --locked --strip --output "$OUT/"
DEB=$(ls "$OUT"/mailroom_*.deb)
dpkg-deb -I "$DEB"
dpkg-deb -c "$DEB"

echo "== .rpm (cargo generate-rpm --profile dist)"
# cargo-generate-rpm packages the binary as it finds it; a stripped copy (symbols kept for
# backtraces, debug info dropped) in a staging target dir leaves cargo's own output alone.
STAGE="$ROOT/target/rpm-stage"
rm -rf "$STAGE"
mkdir -p "$STAGE/dist"
strip --strip-debug -o "$STAGE/dist/mailroom" "$BIN"
cargo generate-rpm --profile dist --target-dir "$STAGE" --output "$OUT/"
RPM=$(ls "$OUT"/mailroom-*.rpm)
if command -v rpm >/dev/null; then
  rpm -qip "$RPM"
  rpm -qlvp "$RPM"
  echo "-- config files"
  rpm -qcp "$RPM"
  echo "-- scriptlets"
  rpm -qp --scripts "$RPM"
else
  echo "-- rpm is not installed (apt-get install rpm): not listing $RPM"
fi

if [ -z "$EXE" ]; then
  echo "== MSI: skipped, no mailroom.exe given (packaging/build.sh PATH or MAILROOM_EXE=PATH)"
else
  echo "== MSI (wixl) with $EXE"
  test -f "$EXE" || { echo "build.sh: $EXE: no such file" >&2; exit 1; }
  # wixl resolves each Source relative to the working directory only: stage the files.
  MSISTAGE="$ROOT/target/msi-stage"
  rm -rf "$MSISTAGE"
  mkdir -p "$MSISTAGE"
  cp "$EXE" "$MSISTAGE/mailroom.exe"
  cp config.example.toml README.md "$MSISTAGE/"
  MSI="$OUT/mailroom-$VERSION-x64.msi"
  (cd "$MSISTAGE" && wixl -a x64 -D Version="$VERSION" -D Exe=mailroom.exe \
    -D ConfigExample=config.example.toml -D Readme=README.md \
    -o "$MSI" "$ROOT/packaging/windows/mailroom.wxs")
  for table in File Component Directory ServiceInstall ServiceControl; do
    echo "-- $table"
    msiinfo export "$MSI" "$table"
  done
fi

echo "== built"
ls -l "$OUT"
