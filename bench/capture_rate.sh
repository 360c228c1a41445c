#!/usr/bin/env bash
# Capture cost at steady, modest rates: nginx on loopback, a paced client
# (bench/lib/paced.py) sending small GETs at 100/s and at 2,000/s over 8
# keep-alive connections, and `gor --input-raw :PORT --output-file` capturing
# them. For each rate: gor's CPU time (user+system, every thread, from
# /proc/PID/task/*/schedstat) per captured request, and captured / answered.
# Also gor's CPU per second of a capture that sees no traffic at all.
# Goal: at most 7.5 µs CPU per request at 2,000/s, idle CPU near zero
# (under 2 ms a second), every answered request captured.
# Prints one summary line (details on stderr).
# Environment: DURATION (10 s per rate), IDLE (5 s), ENGINE (libpcap),
# RATES (default "100 2000"), GOR_ARGS (extra gor flags).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
IDLE=${IDLE:-5}
ENGINE=${ENGINE:-libpcap}
GOR=${GOR:-target/release/gor}

source bench/lib/live.sh
live_setup capture_rate nginx python3

source bench/lib/nginx.sh
start_nginx "$work" 'access_log off;' 'location / { return 200 "hello from nginx\n"; }'

# CPU nanoseconds of every thread of a process (schedstat: run time first).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'; }

# start_gor NAME: a capture writing to $work/NAME.gor, ready when it returns.
start_gor() {
  "$GOR" --input-raw "127.0.0.1:$port" --input-raw-engine "$ENGINE" ${GOR_ARGS:-} \
    --output-file "$work/$1.gor" --output-file-append 2> "$work/$1.err" &
  gor_pid=$!
  for _ in $(seq 200); do grep -qs "BPF Filter" "$work/$1.err" && break; sleep 0.05; done
  sleep 1 # start-up work is not counted
}

stop_gor() {
  kill -INT "$gor_pid"; wait "$gor_pid" 2>/dev/null || true; gor_pid=""
}

# Records of type 1 (requests) in a file gor wrote.
requests_in() {
  python3 - "$1" <<'PY'
import sys
sep = "\n\U0001F435\U0001F648\U0001F649\n".encode()
data = open(sys.argv[1], "rb").read() if __import__("os").path.exists(sys.argv[1]) else b""
print(sum(1 for r in data.split(sep) if r.startswith(b"1 ")))
PY
}

summary=""
for rate in ${RATES:-100 2000}; do
  start_gor "rate$rate"
  c0=$(cpu_ns "$gor_pid")
  answered=$(python3 bench/lib/paced.py "$port" "$rate" "$DURATION")
  sleep 0.5 # what is in flight reaches the file
  c1=$(cpu_ns "$gor_pid")
  stop_gor
  captured=$(requests_in "$work/rate$rate.gor")
  line=$(python3 - "$rate" "$answered" "$captured" "$c0" "$c1" <<'PY'
import sys
rate, answered, captured, c0, c1 = map(int, sys.argv[1:])
us = (c1 - c0) / 1000 / max(captured, 1)
print(f"{rate}/s: {us:.1f} µs CPU per request, captured {captured / max(answered, 1):.3f} of {answered}")
PY
)
  echo "  $line" >&2
  summary="$summary${summary:+; }$line"
done

start_gor idle
c0=$(cpu_ns "$gor_pid")
sleep "$IDLE"
c1=$(cpu_ns "$gor_pid")
stop_gor
idle=$(python3 -c "print(f'{($c1 - $c0) / 1e6 / $IDLE:.2f}')")
echo "  idle: $idle ms CPU per second" >&2
summary="$summary; idle ${idle} ms CPU/s"

echo "capture_rate ($ENGINE, --output-file, ${DURATION}s per rate, goal <= 7.5 µs per request at 2,000/s, idle near 0): $summary"
