#!/usr/bin/env bash
# Confirmation mail through smtp:// to a relay on loopback: N signups (16 clients) against a
# fresh SQLite server, then the rate from the first signup to the last mail the relay took.
# Usage: bash benches/mail/run.sh [BIN] [N]   (default: a release build, 1000 signups).
# The relay is benches/mail/relay.py (Python's smtpd, which like most relays delays its ACK
# until it has something to say); it is started and stopped here.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-}; N=${2:-1000}
if [ -z "$BIN" ]; then cargo build --release --locked --quiet; BIN=target/release/consentry; fi
W=$(mktemp -d); PORT=18$((RANDOM%900+100)); RELAY=$((RANDOM%900+2600))
python3 -W ignore benches/mail/relay.py $RELAY > $W/relay.log 2>&1 & R=$!
export CONSENTRY_DATABASE_URL="sqlite://$W/db.sqlite" CONSENTRY_MAIL_URL="smtp://127.0.0.1:$RELAY"
export CONSENTRY_BIND="127.0.0.1:$PORT" CONSENTRY_BASE_URL="http://127.0.0.1:$PORT" CONSENTRY_LOG=warn
export CONSENTRY_SENDER_RATE_PER_SECOND=100000 CONSENTRY_SENDER_BURST=100000
SENDER=$($BIN sender create --name B --legal-name "B K.K." --postal-address "Tokyo" --contact p@b.example.jp --standing good --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
KEY=$($BIN key create --sender $SENDER --role sender --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])')
$BIN serve > $W/serve.log 2>&1 & S=$!
trap "kill $S $R; rm -rf $W" EXIT
for _ in $(seq 50); do curl -fs http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
curl -fs -X POST http://127.0.0.1:$PORT/v1/lists -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"slug":"n","name":"News","consent_text":"Yes","policy_url":"https://b.example.jp/p","locale":"en"}' >/dev/null
t0=$(date +%s.%N)
python3 - "$PORT" "$KEY" "$N" <<'PY'
import json, sys, time, urllib.request, concurrent.futures as cf
port, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def signup(i):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/consents", method="POST",
        data=json.dumps({"list": "n", "email": f"user{i}-{time.time_ns()}@example{i%50}.jp"}).encode(),
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"})
    return urllib.request.urlopen(req).status
t = time.time()
with cf.ThreadPoolExecutor(16) as ex:
    codes = list(ex.map(signup, range(n)))
print(f"{n} signups accepted in {time.time()-t:.1f}s ({codes.count(202)} x 202)")
PY
# wait until the outbox is drained
start=$(date +%s.%N)
for _ in $(seq 600); do
  left=$(sqlite3 $W/db.sqlite "select count(*) from outbox where kind='mail' and status = 'queued'" 2>/dev/null || echo "?")
  [ "$left" = "0" ] && break; sleep 0.5
done
end=$(date +%s.%N)
sent=$(sqlite3 $W/db.sqlite "select count(*) from outbox where kind='mail' and status='sent'")
echo "outbox drained: $sent sent; $(python3 -c "print(f'{$sent/($end-$t0):.1f}')") mails/s from the first signup to the last mail"
