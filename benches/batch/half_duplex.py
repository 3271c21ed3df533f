"""A batch check from a client that sends its whole list before it reads the answer, as a
sender's backend written with Python's standard library (http.client) does. Prints one JSON
line: answers, whether sampled answers are in order, seconds, addresses/s, and the server's
peak anonymous and file-backed RSS, sampled every 50 ms from /proc.

    python3 benches/batch/half_duplex.py PORT SENDER_KEY SERVER_PID LINES [LIST]

The server must run on 127.0.0.1:PORT with a list (default `newsletter`) of that sender.
"""
import http.client
import json
import sys
import threading
import time

port, key, pid, lines = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
list_slug = sys.argv[5] if len(sys.argv) > 5 else "newsletter"
body = "".join(f"reader{i}@example.jp\n" for i in range(lines)).encode()
peak = {"RssAnon:": 0, "RssFile:": 0}
running = True


def sample():
    while running:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                field = line.split()
                if field and field[0] in peak:
                    peak[field[0]] = max(peak[field[0]], int(field[1]))
        time.sleep(0.05)


sampler = threading.Thread(target=sample)
sampler.start()
start = time.time()
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
connection.request(
    "POST",
    f"/v1/check?list={list_slug}",
    body=body,
    headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"},
)
uploaded = time.time()
response = connection.getresponse()
data = response.read()
end = time.time()
running = False
sampler.join()

answers = data.split(b"\n")[:-1]
in_order = all(
    f'"email":"reader{i}@example.jp"'.encode() in answers[i]
    for i in range(0, len(answers), 50_000)
)
print(json.dumps({
    "lines": lines,
    "status": response.status,
    "answers": len(answers),
    "in_order_sampled": in_order,
    "receipt": response.getheader("Consentry-Check-Receipt"),
    "upload_s": round(uploaded - start, 2),
    "total_s": round(end - start, 2),
    "addr_per_s": round(lines / (end - start)),
    "peak_rss_anon_mib": round(peak["RssAnon:"] / 1024, 1),
    "peak_rss_file_mib": round(peak["RssFile:"] / 1024, 1),
}))
