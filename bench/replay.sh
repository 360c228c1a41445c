#!/usr/bin/env bash
# Replay throughput: 200,000 recorded requests replayed at unlimited speed
# to nginx on loopback, against what wrk gets from the same nginx with the
# same number of connections, in the same run. Prints one line:
#   replay: gor R req/s / wrk W req/s = ratio (goal >= 0.9), delivered D/N, gor CPU C s, peak RSS M MB
# Environment: REQUESTS (200000), CONNS (64), ROUNDS (5), GOR (target/release/gor).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-200000}
CONNS=${CONNS:-64}
GOR=${GOR:-target/release/gor}

for tool in nginx wrk python3 /usr/bin/time; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "replay: skipped, $tool is not installed (apt-get install nginx-light wrk time python3)"
    exit 0
  fi
done
[ -x "$GOR" ] || cargo build --release -q

work=$(mktemp -d)
nginx_pid=""
cleanup() {
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

source bench/lib/nginx.sh
start_nginx "$work" "access_log $work/logs/access.log;" 'location / { return 200 "ok"; }'

# The recording: same timestamp for every record, so nothing paces the replay.
python3 bench/gen_gor.py "$REQUESTS" "$work/bench.gor"

# The machine is shared and noisy: several rounds, each wrk (the limit: same
# server, same connection count) then gor right after it, under the same
# load; the median of the per-round ratios is reported.
ROUNDS=${ROUNDS:-5}
best_gor=0; wrk_cpu_us=0; delivered_all=1; : > "$work/rounds.txt"
for round in $(seq "$ROUNDS"); do
  /usr/bin/time -f "%U %S" -o "$work/wrk_time.txt" \
    wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:$port/bench/1?q=1" > "$work/wrk.txt"
  wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  wrk_reqs=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  read -r wu ws < "$work/wrk_time.txt"
  wrk_cpu_us=$(python3 -c "print(f'{($wu+$ws)/$wrk_reqs*1e6:.1f}')")

  before=$(wc -l < "$work/logs/access.log")
  start=$(date +%s.%N)
  /usr/bin/time -v -o "$work/time.txt" "$GOR" --input-file "$work/bench.gor" \
    --output-http "http://127.0.0.1:$port" \
    --output-http-workers "$CONNS" --output-http-workers-min "$CONNS" \
    2> "$work/gor.err" >/dev/null || { cat "$work/gor.err" >&2; exit 1; }
  end=$(date +%s.%N)
  sleep 0.2
  after=$(wc -l < "$work/logs/access.log")
  delivered=$((after - before))
  [ "$delivered" -eq "$REQUESTS" ] || delivered_all=0
  gor_rps=$(python3 -c "print(int($delivered / ($end - $start)))")
  echo "$gor_rps $wrk_rps" >> "$work/rounds.txt"
  if [ "$gor_rps" -gt "$best_gor" ]; then best_gor=$gor_rps; cp "$work/time.txt" "$work/best_time.txt"; best_delivered=$delivered; fi
done
cp "$work/best_time.txt" "$work/time.txt"
delivered=$best_delivered

cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u+s}' "$work/time.txt")
rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$work/time.txt")
gor_cpu_us=$(python3 -c "print(f'{$cpu/$REQUESTS*1e6:.1f}')")
python3 - "$REQUESTS" "$work/rounds.txt" "$delivered" "$cpu" "$rss" "$gor_cpu_us" "$wrk_cpu_us" "$delivered_all" "$ROUNDS" <<'PY'
import sys
n, rounds_file, delivered, cpu, rss, gus, wus, all_ok, rounds = sys.argv[1:]
pairs = sorted((float(g) / float(w), float(g), float(w)) for g, w in (l.split() for l in open(rounds_file)))
ratio, gor, wrk = pairs[len(pairs) // 2]
print(f"replay: gor {gor:,.0f} req/s / wrk {wrk:,.0f} req/s = {ratio:.2f} (goal >= 0.9; median of {rounds} rounds, "
      f"range {pairs[0][0]:.2f}-{pairs[-1][0]:.2f}), "
      f"delivered {delivered}/{n}{'' if all_ok == '1' else ' (SOME ROUND LOST REQUESTS)'}, "
      f"gor CPU {cpu} s ({gus} us/req; wrk {wus} us/req) and peak RSS {rss} MB in its fastest round")
PY
