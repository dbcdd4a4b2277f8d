#!/usr/bin/env bash
# Makes docs/alert.png and docs/digest.png: the built-in HTML of the communication alert and
# of the daily digest for the sample events (src/notify/render/samples.rs), as headless
# Chromium shows them at a reading-pane width. Run it after changing a template, look at
# both pictures, and commit them with the change.
#
#   docs/screenshots.sh [WIDTH]      (default 480; the heights fit the samples)
#
# Needs Debian's chromium. Renders with the built-in templates only.
set -euo pipefail

width=${1:-480}
declare -A height=([alert]=880 [digest]=1480)
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
browser=${CHROMIUM:-/usr/bin/chromium}
[ -x "$browser" ] || { echo "screenshots.sh: no $browser (apt-get install chromium)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$root" && cargo run --quiet --example render_samples -- "$work/html" >/dev/null)

for name in alert digest; do
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --hide-scrollbars --no-first-run --user-data-dir="$work/profile-$name" \
        --window-size="$width,${height[$name]}" --screenshot="$work/$name.png" \
        "file://$work/html/$name.html" >/dev/null 2>&1
    [ -s "$work/$name.png" ] || { echo "screenshots.sh: chromium wrote no $name.png" >&2; exit 1; }
    cp "$work/$name.png" "$here/$name.png"
    echo "$here/$name.png"
done
