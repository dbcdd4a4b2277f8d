#!/usr/bin/env bash
# Daemon benchmarks (issue 10), printed as one table. Not part of CI: run by hand.
#
#   bench/daemon.sh [IDLE_SECS] [POLLS]     defaults: 600 100
#   PROFILE=release bench/daemon.sh …        the plain release build instead of [profile.dist]
#
# (a) start to READY=1: `mailroom run` started against the sandbox, the time until its first
#     sd_notify READY=1 on a socket this script binds (median of 5 starts);
# (b) idle: after its start-up jobs, RSS and CPU of `mailroom run` over IDLE_SECS with
#     nothing due (mailbox hourly, everything else nightly): target ≤ 15 MiB, ≈ 0 % CPU;
# (c) RSS after POLLS mailbox polls (one a second, each finding nothing new) against the RSS
#     after the 10th: no growth;
# (d) time to alert: a communication appears in the sandbox while the daemon polls every
#     minute; the time until its alert is in the Maildir of a real SMTP server (aiosmtpd with
#     STARTTLS and AUTH, tests/support/smtpd.py). Target ≤ the poll interval + 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-600}; POLLS=${2:-100}
for tool in curl jq bc openssl size /usr/bin/python3 python3; do command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 1; }; done

# The profile servers run (Cargo.toml, [profile.dist]); PROFILE=release measures plain release.
PROFILE=${PROFILE:-dist}
cargo build --profile "$PROFILE" --quiet
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mailroom-daemon-bench.XXXXXX")
cp "${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE/mailroom" "$WORK/mailroom"
BIN=$WORK/mailroom
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN" sandbox --listen 127.0.0.1:0 --print-config --data-dir "$WORK/unused" >"$WORK/sandbox.toml" 2>"$WORK/sandbox.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^password' "$WORK/sandbox.toml" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's|^base_url = "\(.*\)/ops/3.2"|\1|p' "$WORK/sandbox.toml")
[ -n "$BASE" ] || { echo "bench: the sandbox did not start" >&2; exit 1; }
create() { curl -sS --fail -H 'Content-Type: application/json' -d "{\"count\":$1,\"size\":$2}" "$BASE/_sandbox/myepo/communications" >/dev/null; }

# A notify socket: prints "<unix time> <message>" per datagram.
listen() { # $1 = socket path, $2 = log
  python3 -u -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
while True:
    m = s.recv(4096).decode(errors="replace").replace("\n", " | ")
    print(f"{time.time():.6f} {m}", flush=True)' "$1" >"$2" &
  PIDS+=($!)
  for _ in $(seq 50); do [ -S "$1" ] && break; sleep 0.1; done
}

config() { # $1 = dir, $2 = mailbox pattern, $3 = extra toml; prints the config path
  mkdir -p "$1"
  { sed "s|$WORK/unused|$1|" "$WORK/sandbox.toml"
    printf '\n[schedule]\ntime_zone = "Europe/Berlin"\nmailbox = "%s"\nstatus = "0 0 3 * * *"\njitter_secs = 0\n%s\n' "$2" "$3"
  } >"$1/mailroom.toml"
  echo "$1/mailroom.toml"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
anon_kib() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# (a) start to READY=1, five starts on one database.
CFG=$(config "$WORK/a" "0 0 * * * *" "")
: >"$WORK/ready.txt"
for i in 1 2 3 4 5; do
  listen "$WORK/a/n$i.sock" "$WORK/a/n$i.log"
  t0=$(now)
  NOTIFY_SOCKET="$WORK/a/n$i.sock" MAILROOM_LOG=warn "$BIN" --config "$CFG" run 2>"$WORK/a/run$i.err" &
  pid=$!
  for _ in $(seq 300); do grep -q 'READY=1' "$WORK/a/n$i.log" && break; sleep 0.05; done
  t1=$(awk '/READY=1/ {print $1; exit}' "$WORK/a/n$i.log")
  [ -n "$t1" ] || { echo "bench: no READY=1" >&2; cat "$WORK/a/run$i.err" >&2; exit 1; }
  echo "$t1 - $t0" | bc -l >>"$WORK/ready.txt"
  kill -TERM "$pid"; wait "$pid" || true
done
READY=$(median <"$WORK/ready.txt")

# (b) idle.
CFG=$(config "$WORK/b" "0 0 * * * *" "")
MAILROOM_LOG=warn "$BIN" --config "$CFG" run 2>"$WORK/b/run.err" &
PID=$!; PIDS+=("$PID")
for _ in $(seq 600); do
  n=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from sync_runs where finished_at is not null").fetchone()[0])' "$WORK/b/mailroom.sqlite3" 2>/dev/null || echo 0)
  [ "$n" -ge 2 ] && break; sleep 0.1
done
sleep 2
TICK=$(getconf CLK_TCK)
c0=$(cpu_ticks "$PID"); r0=$(rss_kib "$PID"); t0=$(now)
sleep "$IDLE"
c1=$(cpu_ticks "$PID"); r1=$(rss_kib "$PID"); a1=$(anon_kib "$PID"); t1=$(now)
IDLE_CPU=$(echo "100 * ($c1 - $c0) / $TICK / ($t1 - $t0)" | bc -l)
kill -TERM "$PID"; wait "$PID" || true

# (c) RSS over POLLS polls, one a second.
CFG=$(config "$WORK/c" "* * * * * *" "")
MAILROOM_LOG=warn "$BIN" --config "$CFG" run 2>"$WORK/c/run.err" &
PID=$!; PIDS+=("$PID")
polls() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from sync_runs where job=\"mailbox\" and finished_at is not null").fetchone()[0])' "$WORK/c/mailroom.sqlite3" 2>/dev/null || echo 0; }
for _ in $(seq 1200); do [ "$(polls)" -ge 10 ] && break; sleep 0.1; done
R10=$(rss_kib "$PID")
for _ in $(seq $((POLLS * 30))); do [ "$(polls)" -ge "$POLLS" ] && break; sleep 0.1; done
RN=$(rss_kib "$PID"); DONE=$(polls)
kill -TERM "$PID"; wait "$PID" || true
"$BIN" --config "$CFG" status >"$WORK/status.txt" 2>/dev/null || true

# (d) time to alert through a real SMTP server.
mkdir -p "$WORK/d/maildir"
( cd "$WORK/d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout ca.key -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.pem 2>/dev/null
  echo bench-password >smtp.password )
/usr/bin/python3 tests/support/smtpd.py --maildir "$WORK/d/maildir" --user bench --password-file "$WORK/d/smtp.password" \
  --cert "$WORK/d/server.pem" --key "$WORK/d/server.key" >"$WORK/d/port" 2>"$WORK/d/smtpd.err" < <(sleep 100000) &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/d/port" ] && break; sleep 0.1; done
SMTP_PORT=$(head -1 "$WORK/d/port")
CFG=$(config "$WORK/d" "0 * * * * *" "
[notify.email]
host = \"127.0.0.1\"
port = $SMTP_PORT
tls = \"starttls\"
username = \"bench\"
password_file = \"$WORK/d/smtp.password\"
ca_file = \"$WORK/d/ca.pem\"
from = \"mailroom <mailroom@bench.example>\"
to = [\"formalities@bench.example\"]")
MAILROOM_LOG=warn "$BIN" --config "$CFG" run 2>"$WORK/d/run.err" &
PID=$!; PIDS+=("$PID")
mails() { find "$WORK/d/maildir/new" -type f 2>/dev/null | wc -l; }
# The start-up poll archives (and alerts) what the earlier phases left handled at the office:
# wait until the mail from it has settled, then count from there.
last=-1
for _ in $(seq 300); do n=$(mails); [ "$n" -eq "$last" ] && [ "$n" -gt 0 ] && break; last=$n; sleep 1; done
BEFORE=$(mails)
create 1 200000
t0=$(now)
for _ in $(seq 1500); do [ "$(mails)" -gt "$BEFORE" ] && break; sleep 0.1; done
t1=$(now)
[ "$(mails)" -gt "$BEFORE" ] || { echo "bench: no alert arrived" >&2; cat "$WORK/d/run.err" >&2; exit 1; }
ALERT=$(echo "$t1 - $t0" | bc -l)
kill -TERM "$PID"; wait "$PID" || true

printf '\nprofile: %s, binary %s bytes of code and read-only data\n' "$PROFILE" "$(size -A "$BIN" | awk '$1 == ".text" || $1 == ".rodata" {s += $2} END {print s}')"
printf '\n| benchmark | measured | target |\n|---|---|---|\n'
printf '| (a) start to READY=1, median of 5 | %.3f s | |\n' "$READY"
printf '| (b) idle RSS after start-up jobs / after %s s | %.1f / %.1f MiB | ≤ 15 MiB |\n' "$IDLE" "$(echo "$r0/1024" | bc -l)" "$(echo "$r1/1024" | bc -l)"
printf '| (b) of which anonymous (heap, stacks; the rest is the binary'"'"'s own mapped pages) | %.1f MiB | |\n' "$(echo "$a1/1024" | bc -l)"
printf '| (b) idle CPU over %s s | %.3f %% | ≈ 0 %% |\n' "$IDLE" "$IDLE_CPU"
printf '| (c) RSS after 10 / %s polls | %.1f / %.1f MiB | no growth |\n' "$DONE" "$(echo "$R10/1024" | bc -l)" "$(echo "$RN/1024" | bc -l)"
printf '| (d) communication created → alert in the SMTP Maildir (poll every 60 s) | %.1f s | ≤ 120 s |\n' "$ALERT"
printf '\n`mailroom status` after the %s polls of (c):\n\n' "$DONE"
cat "$WORK/status.txt"
