#!/usr/bin/env bash
# Mailbox benchmarks (issues 3 and 8), printed as one table. Not part of CI: run by hand.
#
#   bench/mailbox.sh [REPETITIONS] [COUNT] [SIZE] [HISTORY]   defaults: 3 2000 200000 20000
#
# (a) COUNT communications × SIZE bytes: `mailroom sync mailbox` wall time against a floor
#     that downloads the same files from the same sandbox with one keep-alive curl process and
#     fsyncs each (GNU sync FILE…, then the directory). Both run in every repetition, in
#     alternating order; medians and their ratio are reported (target ≤ 1.25).
# (b) Flatness: mailroom keeps one data directory across the repetitions, as a daemon keeps
#     its database, so repetition r starts with (r-1)·COUNT handled communications that its
#     reconciliation lists again; then HISTORY more small ones are ingested and one more
#     COUNT × SIZE cycle (with its own floor) is timed. The time per cycle must not grow.
# (c) Peak RSS (GNU time) of a cycle whose reconciliation lists the HISTORY + everything
#     before, all handled, and nothing new (target ≤ 40 MiB).
# (d) Peak RSS of `mailroom sync mailbox` ingesting one 1 GiB communication (target ≤ 40 MiB).
#
# Everything runs on 127.0.0.1 with an OS-assigned port, under a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}; COUNT=${2:-2000}; SIZE=${3:-200000}; HISTORY=${4:-20000}
for tool in curl jq /usr/bin/time sync bc; do command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }; done

cargo build --release --quiet
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mailroom-bench.XXXXXX")
# A private copy: a target directory shared with other checkouts may be rebuilt mid-run.
cp "${CARGO_TARGET_DIR:-$PWD/target}/release/mailroom" "$WORK/mailroom"
BIN=$WORK/mailroom
SANDBOX_PID=; BIG_PID=
cleanup() {
  [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null
  [ -n "$BIG_PID" ] && kill "$BIG_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

start_sandbox() { # $1 = data dir, $2 = config file to write; prints the sandbox's base URL
  "$BIN" sandbox --listen 127.0.0.1:0 --print-config --data-dir "$1" >"$2" 2>"$2.log" &
  echo $! >"$2.pid"
  for _ in $(seq 100); do grep -q '^password' "$2" 2>/dev/null && break; sleep 0.1; done
  sed -n 's|^base_url = "\(.*\)/ops/3.2"|\1|p' "$2"
}
BASE=$(start_sandbox "$WORK/unused" "$WORK/sandbox.toml"); SANDBOX_PID=$(cat "$WORK/sandbox.toml.pid")
[ -n "$BASE" ] || { echo "bench: the sandbox did not start" >&2; cat "$WORK/sandbox.toml.log" >&2; exit 1; }

config_for() { sed "s|$WORK/unused|$1|" "$WORK/sandbox.toml" >"$1.toml"; echo "$1.toml"; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mib() { echo "$1 / 1024" | bc -l; }
create() { # $1 = count, $2 = size; prints the new ids
  curl -sS --fail -H 'Content-Type: application/json' -d "{\"count\":$1,\"size\":$2}" \
    "$BASE/_sandbox/myepo/communications" | jq -r '.ids[]'
}
token() {
  curl -sS -u sandbox-client:sandbox-secret -d grant_type=client_credentials -d scope=mailbox \
    "$BASE/myepo/oauth2/sandbox/v1/token" | jq -r .access_token
}

CFG=$(config_for "$WORK/data")
HANDLED=0 # communications handled at the office (all within the reconciliation window)
run_mailroom() { # $1 = new communications expected; prints seconds
  local t0 t1
  t0=$(now); MAILROOM_LOG=warn "$BIN" --config "$CFG" sync mailbox >"$WORK/m.out" 2>"$WORK/m.err"; t1=$(now)
  grep -q "^mailbox: $1 unhandled at the EPO ($1 new), $1 archived, $1 marked handled" "$WORK/m.out" \
    || { echo "bench: mailroom run failed" >&2; cat "$WORK/m.out" "$WORK/m.err" >&2; exit 1; }
  echo "$t1 - $t0" | bc -l
}

run_floor() { # $1 = directory, $2 = file of ids; prints seconds
  mkdir -p "$1"; local t0 t1 tok; tok=$(token)
  { echo "header = \"Authorization: Bearer $tok\""
    while read -r id; do echo "url = \"$BASE/myepo/v1/communications/$id/file?setHandled=false\""; echo "output = \"$1/$id.pdf\""; done <"$2"
  } >"$1.curl"
  t0=$(now)
  curl -sS --fail -K "$1.curl"
  tc=$(now)
  find "$1" -name '*.pdf' -print0 | xargs -0 sync --
  sync "$1"
  t1=$(now)
  # Where the floor's time goes: the downloads, then the fsyncs.
  echo "$(echo "$tc - $t0" | bc -l) $(echo "$t1 - $tc" | bc -l)" >>"$WORK/floor.split"
  [ "$(find "$1" -name '*.pdf' | wc -l)" -eq "$(wc -l <"$2")" ] || { echo "bench: floor incomplete" >&2; exit 1; }
  rm -rf "$1" "$1.curl"
  echo "$t1 - $t0" | bc -l
}

# Warm-up: takes the sandbox's seeded communications out of the way, warms the caches.
MAILROOM_LOG=warn "$BIN" --config "$CFG" sync mailbox >"$WORK/m.out" 2>&1
HANDLED=$(sed -n 's/^mailbox: \([0-9]*\) unhandled.*/\1/p' "$WORK/m.out")

# (a) and the first points of (b).
: >"$WORK/mailroom.times"; : >"$WORK/floor.times"; : >"$WORK/flat.rows"
for rep in $(seq "$REPS"); do
  create "$COUNT" "$SIZE" >"$WORK/ids.$rep"
  before=$HANDLED
  if [ $((rep % 2)) -eq 1 ]; then
    m=$(run_mailroom "$COUNT"); f=$(run_floor "$WORK/f$rep" "$WORK/ids.$rep")
  else
    f=$(run_floor "$WORK/f$rep" "$WORK/ids.$rep"); m=$(run_mailroom "$COUNT")
  fi
  echo "$m" >>"$WORK/mailroom.times"; echo "$f" >>"$WORK/floor.times"
  echo "$before $m $f" >>"$WORK/flat.rows"
  HANDLED=$((HANDLED + COUNT))
done
M=$(median <"$WORK/mailroom.times"); F=$(median <"$WORK/floor.times")
RATIO=$(echo "$M / $F" | bc -l)

# (b) a long history: HISTORY small communications ingested (untimed), then one more cycle.
create "$HISTORY" 2000 >/dev/null
MAILROOM_LOG=warn "$BIN" --config "$CFG" sync mailbox >"$WORK/m.out" 2>"$WORK/m.err" \
  || { echo "bench: ingesting the history failed" >&2; cat "$WORK/m.out" "$WORK/m.err" >&2; exit 1; }
HANDLED=$((HANDLED + HISTORY))

# (c) a cycle that only reconciles: everything handled, nothing new.
/usr/bin/time -v "$BIN" --config "$CFG" sync mailbox >"$WORK/c.out" 2>"$WORK/c.err" \
  || { echo "bench: reconciliation cycle failed" >&2; cat "$WORK/c.out" "$WORK/c.err" >&2; exit 1; }
grep -q "^mailbox: 0 unhandled" "$WORK/c.out" || { echo "bench: unexpected work" >&2; cat "$WORK/c.out" >&2; exit 1; }
RECON_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/c.err")
RECON_S=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/c.err")

create "$COUNT" "$SIZE" >"$WORK/ids.long"
before=$HANDLED
f=$(run_floor "$WORK/flong" "$WORK/ids.long"); m=$(run_mailroom "$COUNT")
echo "$before $m $f" >>"$WORK/flat.rows"
HANDLED=$((HANDLED + COUNT))

# (d) one 1 GiB communication, on a fresh sandbox and data directory, so that nothing but the
# download is measured.
BIG_BASE=$(start_sandbox "$WORK/big" "$WORK/big-sandbox.toml"); BIG_PID=$(cat "$WORK/big-sandbox.toml.pid")
MAILROOM_LOG=warn "$BIN" --config "$WORK/big-sandbox.toml" sync mailbox >/dev/null 2>&1
curl -sS --fail -H 'Content-Type: application/json' -d '{"count":1,"size":1073741824}' "$BIG_BASE/_sandbox/myepo/communications" >/dev/null
/usr/bin/time -v "$BIN" --config "$WORK/big-sandbox.toml" sync mailbox >"$WORK/big.out" 2>"$WORK/big.err" || { cat "$WORK/big.out" "$WORK/big.err" >&2; exit 1; }
kill "$BIG_PID" 2>/dev/null; BIG_PID=
BIG_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/big.err")
grep -q "(1 new), 1 archived" "$WORK/big.out" || { echo "bench: 1 GiB run did not archive" >&2; cat "$WORK/big.out" >&2; exit 1; }

printf '\n| benchmark | measured | target |\n|---|---|---|\n'
printf '| (a) %s × %s B: mailroom sync, median of %s | %.2f s | |\n' "$COUNT" "$SIZE" "$REPS" "$M"
printf '| (a) same files, curl + fsync floor, median of %s | %.2f s | |\n' "$REPS" "$F"
printf '| (a) ratio mailroom ÷ floor | %.2f | ≤ 1.25 |\n' "$RATIO"
while read -r before m f; do
  printf '| (b) %s × %s B cycle with %s handled before: mailroom / floor | %.2f s / %.2f s (%.2f) | flat |\n' \
    "$COUNT" "$SIZE" "$before" "$m" "$f" "$(echo "$m / $f" | bc -l)"
done <"$WORK/flat.rows"
printf '| (c) peak RSS of a cycle reconciling %s handled communications (%s wall) | %.1f MiB | ≤ 40 MiB |\n' \
  "$((HANDLED - COUNT))" "$RECON_S" "$(mib "$RECON_KB")"
printf '| (d) peak RSS ingesting one 1 GiB communication | %.1f MiB | ≤ 40 MiB |\n' "$(mib "$BIG_KB")"
printf '\nraw seconds (a): mailroom %s; floor %s\n' "$(tr '\n' ' ' <"$WORK/mailroom.times")" "$(tr '\n' ' ' <"$WORK/floor.times")"
printf 'floor split, in order of the runs (downloads + fsyncs, s): %s\n' \
  "$(awk '{printf "%.2f+%.2f ", $1, $2}' "$WORK/floor.split")"
