#!/usr/bin/env bash
# Soak: gor captures live traffic and replays it to a second server at a
# steady rate for SOAK_MINUTES (30 by default). Every 10 s it samples gor's
# resident memory, open file descriptors and threads; at the end it checks
# that every request sent was captured and replayed, and prints the
# figures docs/reliability.md quotes. Not part of `make test` or `make
# bench` (it takes half an hour); needs root for the capture.
#
#   bash bench/soak.sh                       # 30 minutes at 200 requests/s
#   SOAK_MINUTES=5 RATE=500 bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${SOAK_MINUTES:-30}
rate=${RATE:-200}
gor=${GOR:-target/release/gor}
[ -x "$gor" ] || cargo build --release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The "production" server and the replay target: each counts what it
# gets, says its port in $1, and its count in $2 when told to stop.
cat >"$work/server.py" <<'PY'
import http.server, signal, sys, threading
count = 0
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        global count
        with lock:
            count += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(srv.server_address[1]))
def stop(*_):
    open(sys.argv[2], "w").write(str(count))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
srv.serve_forever()
PY
# A client sending RATE requests a second on 4 keep-alive connections.
cat >"$work/client.py" <<'PY'
import http.client, sys, threading, time
port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
sent = [0] * 4
def run(i):
    c = http.client.HTTPConnection("127.0.0.1", port)
    step = 4.0 / rate
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        c.request("GET", f"/soak/{i}/{n}")
        c.getresponse().read()
        n += 1
        sent[i] = n
        wait = start + n * step - time.monotonic()
        if wait > 0:
            time.sleep(wait)
threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(sent), flush=True)
PY

python3 "$work/server.py" "$work/app.port" "$work/app.count" &
app=$!
python3 "$work/server.py" "$work/target.port" "$work/target.count" &
target=$!
while [ ! -s "$work/app.port" ] || [ ! -s "$work/target.port" ]; do sleep 0.1; done
app_port=$(cat "$work/app.port")
target_port=$(cat "$work/target.port")

"$gor" --input-raw "127.0.0.1:$app_port" --output-http "http://127.0.0.1:$target_port" \
    --input-raw-stats --stats >"$work/gor.out" 2>"$work/gor.err" &
gor_pid=$!
sleep 2
seconds=$((minutes * 60))
python3 "$work/client.py" "$app_port" "$rate" "$seconds" >"$work/sent" &
client=$!
echo "soak: ${minutes} min at ${rate} requests/s; gor pid $gor_pid"
echo "elapsed_s rss_kb fds threads" | tee "$work/samples"
start=$(date +%s)
while kill -0 "$client" 2>/dev/null; do
    sleep 10
    rss=$(awk '/VmRSS/ {print $2}' /proc/$gor_pid/status)
    fds=$(ls /proc/$gor_pid/fd | wc -l)
    threads=$(awk '/Threads/ {print $2}' /proc/$gor_pid/status)
    echo "$(( $(date +%s) - start )) $rss $fds $threads" | tee -a "$work/samples"
done
wait "$client"
sent=$(cat "$work/sent")
sleep 3
kill -TERM "$gor_pid"
wait "$gor_pid" || true
kill -TERM "$app" "$target"
wait "$app" "$target" || true
app_got=$(cat "$work/app.count")
target_got=$(cat "$work/target.count")
captured=$(grep -o 'requests=[0-9]*' "$work/gor.err" | tail -1 | cut -d= -f2)
echo "sent $sent, the app server got $app_got, gor captured $captured, the replay target got $target_got"
# Warm-up: the first 2 minutes (or the first fifth of a short run).
python3 - "$work/samples" "$minutes" <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]).read().splitlines()[1:] if l.strip()]
warm = min(120, int(sys.argv[2]) * 60 // 5)
after = [r for r in rows if r[0] >= warm] or rows
rss = [r[1] for r in after]
mid = sorted(rss)[len(rss) // 2]
print(f"after {warm} s of warm-up: RSS {min(rss)}-{max(rss)} kB (median {mid}, spread "
      f"{100 * (max(rss) - min(rss)) / (2 * mid):.1f}% either way), "
      f"fds {min(r[2] for r in after)}-{max(r[2] for r in after)}, "
      f"threads {min(r[3] for r in after)}-{max(r[3] for r in after)}")
PY
grep -i "dropped or skipped" "$work/gor.err" || echo "nothing dropped"
[ "$sent" = "$app_got" ] && [ "$sent" = "$target_got" ] && [ "$sent" = "$captured" ] \
    && echo "soak: nothing lost" || { echo "soak: requests lost"; exit 1; }
