#!/usr/bin/env bash
# Confirmation mail through smtp:// to a relay on loopback, in two rounds of N signups (16
# clients) each, next to what the same relay takes from a plain SMTP client (Python's
# smtplib, one connection, mails one after another) in the same run:
# - burst: the relay is up; the rate from the first signup to the last mail received;
# - queued: the relay is down while the N signups queue their mails, then comes back; the
#   rate from the first mail it receives to the last (N queued mails, delivered).
# Each round reports how many mails arrived and how many twice (by Message-ID).
# Usage: bash benches/mail/run.sh [BIN] [N]   (default: a release build, 1000 signups).
# SQLite with one instance; with BENCH_POSTGRES_URL (a server URL such as
# postgres://postgres@127.0.0.1:5432/postgres) PostgreSQL with two instances sharing the
# queue, in a database created and dropped here.
# The relay is benches/mail/relay.py (Python's smtpd, which like most relays delays its ACK
# until it has something to say); it is started and stopped here.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-}; N=${2:-1000}
if [ -z "$BIN" ]; then cargo build --release --locked --quiet; BIN=target/release/consentry; fi
W=$(mktemp -d); RELAY=$((RANDOM%900+2600))
LOG=$W/received.log
start_relay() { python3 -W ignore benches/mail/relay.py $RELAY $LOG >> $W/relay.log 2>&1 & R=$!; }
start_relay
PIDS=""; DB_NAME=""
cleanup() {
  kill $PIDS $R 2>/dev/null || true; wait 2>/dev/null || true
  if [ -n "$DB_NAME" ]; then psql "$BENCH_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null; fi
  rm -rf $W
}
trap cleanup EXIT
sleep 0.5
python3 - "$RELAY" 2000 <<'PY'
import smtplib, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
body = "Subject: plain\r\nMessage-ID: <plain@bench>\r\n\r\n" + "x" * 2000 + "\r\n"
with smtplib.SMTP("127.0.0.1", port) as s:
    t = time.time()
    for _ in range(n):
        s.sendmail("a@example.jp", ["b@example.jp"], body)
    print(f"relay from a plain client (smtplib, one connection): {n / (time.time() - t):.0f} mails/s")
PY
: > $LOG
if [ -n "${BENCH_POSTGRES_URL:-}" ]; then
  DB_NAME="consentry_bench_mail_$$"
  psql "$BENCH_POSTGRES_URL" -qc "CREATE DATABASE $DB_NAME" >/dev/null
  export CONSENTRY_DATABASE_URL="${BENCH_POSTGRES_URL%/*}/$DB_NAME"; INSTANCES=2
  queued() { psql "$CONSENTRY_DATABASE_URL" -Atc "$1"; }
else
  export CONSENTRY_DATABASE_URL="sqlite://$W/db.sqlite"; INSTANCES=1
  queued() { sqlite3 $W/db.sqlite "$1"; }
fi
export CONSENTRY_MAIL_URL="smtp://127.0.0.1:$RELAY" CONSENTRY_LOG=warn
export CONSENTRY_SENDER_RATE_PER_SECOND=100000 CONSENTRY_SENDER_BURST=100000
SENDER=$($BIN sender create --name B --legal-name "B K.K." --postal-address "Tokyo" --contact p@b.example.jp --standing good --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
KEY=$($BIN key create --sender $SENDER --role sender --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])')
PORTS=""
for i in $(seq $INSTANCES); do
  PORT=$((18000 + RANDOM % 900 * 2 + i))
  CONSENTRY_BIND="127.0.0.1:$PORT" CONSENTRY_BASE_URL="http://127.0.0.1:$PORT" $BIN serve > $W/serve$i.log 2>&1 &
  PIDS="$PIDS $!"; PORTS="$PORTS $PORT"
  for _ in $(seq 50); do curl -fs http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
done
FIRST=$(echo $PORTS | cut -d' ' -f1)
curl -fs -X POST http://127.0.0.1:$FIRST/v1/lists -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"slug":"n","name":"News","consent_text":"Yes","policy_url":"https://b.example.jp/p","locale":"en"}' >/dev/null
# signups FROM N: N signups with distinct addresses, spread over the instances
signups() {
python3 - "$KEY" "$1" "$N" $PORTS <<'PY'
import json, sys, time, urllib.request, concurrent.futures as cf
key, first, n, ports = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
def signup(i):
    req = urllib.request.Request(f"http://127.0.0.1:{ports[i % len(ports)]}/v1/consents", method="POST",
        data=json.dumps({"list": "n", "email": f"user{i}-{time.time_ns()}@example{i%50}.jp"}).encode(),
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"})
    answer = urllib.request.urlopen(req)
    return answer.status == 202 and json.load(answer).get("confirmation") == "queued"
t = time.time()
with cf.ThreadPoolExecutor(16) as ex:
    queued = sum(ex.map(signup, range(first, first + n)))
print(f"  {n} signups answered in {time.time()-t:.1f}s ({queued} x 202 queued), {len(ports)} instance(s)")
PY
}
distinct() { cut -d' ' -f2 $LOG | sort -u | wc -l; }
# waits until the relay has received WANT distinct mails (or 5 minutes)
wait_for() { for _ in $(seq 600); do [ "$(distinct)" -ge "$1" ] && break; sleep 0.5; done; }
# report FROM_TIME AFTER_TIME: mails first received after AFTER_TIME, their rate from
# FROM_TIME (or from the first of them when FROM_TIME is "first") to the last of them
report() {
python3 - "$LOG" "$@" <<'PY'
import sys
log, since, after = sys.argv[1], sys.argv[2], float(sys.argv[3])
first, lines = {}, 0
for line in open(log):
    t, mid = line.split()
    lines += 1
    first.setdefault(mid, float(t))
ts = sorted(t for t in first.values() if t > after)
start = ts[0] if since == "first" else float(since)
print(f"  {len(ts)} mails, {lines - len(first)} doubled in the whole run: {len(ts) / (ts[-1] - start):.1f} mails/s")
PY
}
echo "burst: the relay is up while $N signups come in"
t0=$(date +%s.%N)
signups 0
t1=$(date +%s.%N)
wait_for "$N"
report "$t0" "$t0"
echo "  of which after the last signup:"; report "$t1" "$t1"
echo "queued: the relay is down while $N signups queue their mails, then comes back"
kill $R; wait $R 2>/dev/null || true
signups "$N"
sleep 1; t_up=$(date +%s.%N); start_relay
wait_for $((2 * N))
report first "$t_up"
sent=$(queued "select count(*) from outbox where kind='mail' and status='sent'")
echo "outbox says $sent mails sent; distinct Message-IDs received: $(distinct)"
