#!/usr/bin/env bash
# Confirmation mail through smtp:// to a relay on loopback: N signups (16 clients), then the
# rate from the first signup to the last mail the relay received, with how many arrived,
# how many twice (by Message-ID), and what the same relay takes from a plain SMTP client
# (Python's smtplib, one connection, mails one after another) in the same run.
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
python3 -W ignore benches/mail/relay.py $RELAY $W/received.log > $W/relay.log 2>&1 & R=$!
PIDS="$R"; DB_NAME=""
cleanup() {
  kill $PIDS 2>/dev/null || true; wait 2>/dev/null || true
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
: > $W/received.log
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
t0=$(date +%s.%N)
python3 - "$KEY" "$N" $PORTS <<'PY'
import json, sys, time, urllib.request, concurrent.futures as cf
key, n, ports = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def signup(i):
    req = urllib.request.Request(f"http://127.0.0.1:{ports[i % len(ports)]}/v1/consents", method="POST",
        data=json.dumps({"list": "n", "email": f"user{i}-{time.time_ns()}@example{i%50}.jp"}).encode(),
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"})
    answer = urllib.request.urlopen(req)
    return answer.status == 202 and json.load(answer).get("confirmation") == "queued"
t = time.time()
with cf.ThreadPoolExecutor(16) as ex:
    queued = sum(ex.map(signup, range(n)))
print(f"{n} signups answered in {time.time()-t:.1f}s ({queued} x 202 queued), {len(ports)} instance(s)")
PY
t1=$(date +%s.%N); at_t1=$(sort -u $W/received.log | wc -l)
# wait until the relay has received a mail for every queued signup (or 5 minutes)
for _ in $(seq 600); do
  [ "$(sort -u $W/received.log | wc -l)" -ge "$N" ] && break; sleep 0.5
done
end=$(date +%s.%N)
received=$(wc -l < $W/received.log); unique=$(sort -u $W/received.log | wc -l)
sent=$(queued "select count(*) from outbox where kind='mail' and status='sent'")
echo "relay received $received mails ($unique distinct Message-IDs, $((received - unique)) doubled; outbox says $sent sent):" \
  "$(python3 -c "print(f'{$unique/($end-$t0):.1f}')") mails/s from the first signup to the last mail;" \
  "$(python3 -c "print(f'{($unique-$at_t1)/max($end-$t1,1e-3):.1f}')") mails/s for the $((unique - at_t1)) still to go after the last signup"
