"""The requests of benches/instructions/run.sh, with a callgrind dump after each phase.

    python3 requests.py PORT VALGRIND_PID OUT_DIR SENDER_KEY N SUBSCRIPTIONS
"""
import glob
import http.client
import os
import subprocess
import sys
import time

port, pid, out, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].strip()
n, subscriptions = int(sys.argv[5]), int(sys.argv[6])
auth = {"Authorization": "Bearer " + key}


def connect():
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port)
            c.request("GET", "/healthz")
            c.getresponse().read()
            return c
        except OSError:
            time.sleep(0.2)
    sys.exit("the server did not start under valgrind")


def get(c, path, headers=None):
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"{path}: {r.status} {body[:200]!r}")
    return body


def instructions_since_last_dump():
    """Dumps the counters (which resets them) and reads the newest dump's total."""
    before = set(glob.glob(out + "/cg.*"))
    subprocess.run(["callgrind_control", "-d", pid], capture_output=True, check=True)
    newest = max(set(glob.glob(out + "/cg.*")) - before or before, key=os.path.getmtime)
    with open(newest) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    sys.exit("no total in " + newest)


def check_path(i):
    # Spread over the seeded addresses as the check benchmark does.
    return f"/v1/check?list=newsletter&email=user{(i * 2654435761) % subscriptions}@example.jp"


c = connect()
for i in range(200):  # warm-up: caches, prepared statements, the key's argon2
    get(c, "/healthz")
    get(c, check_path(i + n), auth)
instructions_since_last_dump()
for _ in range(n):
    get(c, "/healthz")
healthz = instructions_since_last_dump()
for i in range(n):
    if b'"allowed":true' not in get(c, check_path(i), auth):
        sys.exit("a check did not allow a seeded address")
checks = instructions_since_last_dump()
print(f"instructions per GET /healthz: {healthz // n:,}; per allowed GET /v1/check: {checks // n:,}")
