#!/usr/bin/env bash
# Instructions per request, counted by callgrind: deterministic for the same build and
# database, where a rate on a shared 2-core machine drifts by a tenth from one minute to the
# next. For comparing two builds of the check path, not for absolute speed (under valgrind
# SHA-256 runs without the CPU's SHA instructions and `rep stosb` counts once per byte).
#
#   bash benches/instructions/run.sh BIN DIR [N]
#
# DIR holds a database seeded by the check benchmark (`BENCH_SQLITE_DIR=DIR cargo bench
# --bench check`: DIR/bench.db and the sender key DIR/bench-S.key, S = BENCH_SUBSCRIPTIONS,
# 1,000,000 unless set, as for the check benchmark). Starts BIN serve on
# it under callgrind with one worker, sends N (2,000) sequential GET /healthz and then N
# allowed GET /v1/check over one keep-alive connection, and prints the instructions of each
# phase divided by N. Needs valgrind.
set -euo pipefail
BIN=$(realpath "$1"); DIR=$(realpath "$2"); N=${3:-2000}
SUBSCRIPTIONS=${BENCH_SUBSCRIPTIONS:-1000000}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d)
trap 'kill "$VPID" 2>/dev/null || true; wait "$VPID" 2>/dev/null || true; rm -rf "$OUT"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CONSENTRY_DATABASE_URL="sqlite://$DIR/bench.db" CONSENTRY_BIND="127.0.0.1:$PORT" \
CONSENTRY_PEPPER=bench-pepper-bench-pepper-bench-pepper-0123456789 \
CONSENTRY_TOKEN_KEYS=b1:YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMDEyMzQ1Njc4OQ \
CONSENTRY_MAIL_URL="file://$OUT/mail" CONSENTRY_LOG=error CONSENTRY_WORKERS=1 \
CONSENTRY_SENDER_RATE_PER_SECOND=10000000 CONSENTRY_SENDER_BURST=10000000 \
valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.%p" --dump-instr=no \
    "$BIN" serve >/dev/null 2>"$OUT/valgrind.log" &
VPID=$!
python3 "$HERE/requests.py" "$PORT" "$VPID" "$OUT" "$(cat "$DIR/bench-$SUBSCRIPTIONS.key")" "$N" \
    "$SUBSCRIPTIONS"
