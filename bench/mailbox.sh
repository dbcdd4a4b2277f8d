#!/usr/bin/env bash
# Mailbox benchmarks (issue 3), printed as a table. Not part of CI: run by hand.
#
#   bench/mailbox.sh [REPETITIONS] [COUNT] [SIZE]      defaults: 3 2000 200000
#
# (a) COUNT communications × SIZE bytes: `mailroom sync mailbox` wall time against a baseline
#     that downloads the same files from the same sandbox with one keep-alive curl process and
#     fsyncs them (GNU sync FILE…, then the directory). Both run in every repetition, in
#     alternating order; medians and their ratio are reported (target ≤ 1.25).
# (b) Peak RSS of `mailroom sync mailbox` ingesting one 1 GiB communication (target ≤ 40 MiB),
#     from GNU time.
# (c) Idle RSS of `mailroom run` between polls: the daemon does not exist yet.
#
# Everything runs on 127.0.0.1 with an OS-assigned port, under a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}; COUNT=${2:-2000}; SIZE=${3:-200000}
for tool in curl jq /usr/bin/time sync; do command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }; done

cargo build --release --quiet
BIN=$PWD/target/release/mailroom
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mailroom-bench.XXXXXX")
SANDBOX_PID=
cleanup() { [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN" sandbox --listen 127.0.0.1:0 --print-config --data-dir "$WORK/unused" >"$WORK/sandbox.toml" 2>"$WORK/sandbox.log" &
SANDBOX_PID=$!
for _ in $(seq 100); do grep -q '^password' "$WORK/sandbox.toml" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's|^base_url = "\(.*\)/ops/3.2"|\1|p' "$WORK/sandbox.toml")
[ -n "$BASE" ] || { echo "bench: the sandbox did not start" >&2; cat "$WORK/sandbox.log" >&2; exit 1; }

config_for() { sed "s|$WORK/unused|$1|" "$WORK/sandbox.toml" >"$1.toml"; echo "$1.toml"; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

token() {
  curl -sS -u sandbox-client:sandbox-secret -d grant_type=client_credentials -d scope=mailbox \
    "$BASE/myepo/oauth2/sandbox/v1/token" | jq -r .access_token
}

# mailroom keeps one data directory across runs, as a daemon keeps its database: each run
# also pays for its reconciliation listing of everything handled before.
CFG=$(config_for "$WORK/data")
run_mailroom() { # prints seconds
  local t0 t1
  t0=$(now); MAILROOM_LOG=warn "$BIN" --config "$CFG" sync mailbox >"$WORK/m.out" 2>"$WORK/m.err"; t1=$(now)
  grep -q "^mailbox: $COUNT unhandled at the EPO ($COUNT new), $COUNT archived, $COUNT marked handled" "$WORK/m.out" \
    || { echo "bench: mailroom run failed" >&2; cat "$WORK/m.out" "$WORK/m.err" >&2; exit 1; }
  echo "$t1 - $t0" | bc -l
}

run_baseline() { # $1 = directory, $2 = file of ids; prints seconds
  mkdir -p "$1"; local t0 t1 tok; tok=$(token)
  { echo "header = \"Authorization: Bearer $tok\""
    while read -r id; do echo "url = \"$BASE/myepo/v1/communications/$id/file?setHandled=false\""; echo "output = \"$1/$id.pdf\""; done <"$2"
  } >"$1.curl"
  t0=$(now)
  curl -sS --fail -K "$1.curl"
  find "$1" -name '*.pdf' -print0 | xargs -0 sync --
  sync "$1"
  t1=$(now)
  [ "$(find "$1" -name '*.pdf' | wc -l)" -eq "$COUNT" ] || { echo "bench: baseline incomplete" >&2; exit 1; }
  echo "$t1 - $t0" | bc -l
}

# Warm-up: takes the sandbox's seeded communications out of the way, warms the caches.
MAILROOM_LOG=warn "$BIN" --config "$CFG" sync mailbox >/dev/null 2>&1

: >"$WORK/mailroom.times"; : >"$WORK/baseline.times"
for rep in $(seq "$REPS"); do
  curl -sS -H 'Content-Type: application/json' -d "{\"count\":$COUNT,\"size\":$SIZE}" \
    "$BASE/_sandbox/myepo/communications" | jq -r '.ids[]' >"$WORK/ids.$rep"
  if [ $((rep % 2)) -eq 1 ]; then
    run_mailroom >>"$WORK/mailroom.times"; run_baseline "$WORK/b$rep" "$WORK/ids.$rep" >>"$WORK/baseline.times"
  else
    run_baseline "$WORK/b$rep" "$WORK/ids.$rep" >>"$WORK/baseline.times"; run_mailroom >>"$WORK/mailroom.times"
  fi
  rm -rf "$WORK/b$rep"
done
M=$(median <"$WORK/mailroom.times"); B=$(median <"$WORK/baseline.times")
RATIO=$(echo "$M / $B" | bc -l)

# (b) one 1 GiB communication, on a fresh sandbox and data directory, so that nothing but the
# download is measured (the reconciliation listing of a long history costs memory of its own,
# reported separately below).
"$BIN" sandbox --listen 127.0.0.1:0 --print-config --data-dir "$WORK/big" >"$WORK/big-sandbox.toml" 2>/dev/null &
BIG_PID=$!
for _ in $(seq 100); do grep -q '^password' "$WORK/big-sandbox.toml" 2>/dev/null && break; sleep 0.1; done
BIG_BASE=$(sed -n 's|^base_url = "\(.*\)/ops/3.2"|\1|p' "$WORK/big-sandbox.toml")
MAILROOM_LOG=warn "$BIN" --config "$WORK/big-sandbox.toml" sync mailbox >/dev/null 2>&1
curl -sS -H 'Content-Type: application/json' -d '{"count":1,"size":1073741824}' "$BIG_BASE/_sandbox/myepo/communications" >/dev/null
/usr/bin/time -v "$BIN" --config "$WORK/big-sandbox.toml" sync mailbox >"$WORK/big.out" 2>"$WORK/big.err" || { cat "$WORK/big.out" "$WORK/big.err" >&2; exit 1; }
kill "$BIG_PID" 2>/dev/null
RSS_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/big.err")
grep -q "(1 new), 1 archived" "$WORK/big.out" || { echo "bench: 1 GiB run did not archive" >&2; cat "$WORK/big.out" >&2; exit 1; }

# Peak RSS of one more COUNT-file cycle on the long-lived data directory (its reconciliation
# lists everything handled in the window).
curl -sS -H 'Content-Type: application/json' -d "{\"count\":$COUNT,\"size\":$SIZE}" "$BASE/_sandbox/myepo/communications" >/dev/null
/usr/bin/time -v "$BIN" --config "$CFG" sync mailbox >/dev/null 2>"$WORK/hist.err"
HIST_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/hist.err")
HANDLED=$(( (REPS + 1) * COUNT + 12 ))

printf '\n| benchmark | measured | target |\n|---|---|---|\n'
printf '| (a) %s × %s B: mailroom sync, median of %s | %.2f s | |\n' "$COUNT" "$SIZE" "$REPS" "$M"
printf '| (a) same files, curl + fsync baseline, median of %s | %.2f s | |\n' "$REPS" "$B"
printf '| (a) ratio mailroom ÷ baseline | %.2f | ≤ 1.25 |\n' "$RATIO"
printf '| (b) peak RSS ingesting one 1 GiB communication | %.1f MiB | ≤ 40 MiB |\n' "$(echo "$RSS_KB / 1024" | bc -l)"
printf '| peak RSS of a %s-file cycle whose reconciliation lists %s handled communications | %.1f MiB | |\n' "$COUNT" "$HANDLED" "$(echo "$HIST_KB / 1024" | bc -l)"
printf '| (c) idle RSS of `mailroom run` between polls | n/a: the daemon is not built yet | |\n'
printf '\nraw seconds: mailroom %s; baseline %s\n' "$(tr '\n' ' ' <"$WORK/mailroom.times")" "$(tr '\n' ' ' <"$WORK/baseline.times")"
