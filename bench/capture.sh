#!/usr/bin/env bash
# Live capture under load: nginx on loopback driven by wrk at full rate while
# gor captures with --input-raw-track-response, in three traffic mixes:
#   get       small GET requests;
#   post      POSTs with bodies from 1 KB to 2 MB (mostly small), checked byte for byte;
#   pipeline  10 pipelined GETs per write.
# For each mix: captured requests / requests wrk completed, intact requests /
# completed, captured responses paired with a captured request / completed,
# gor CPU-seconds per 1,000 requests against nginx's in the same run, and
# gor's peak RSS. Goal: 1.000 everywhere, CPU ratio <= 0.25.
# Prints one summary line (details on stderr).
# Environment: DURATION (10 s per mix), CONNS (16), ENGINE (libpcap),
# GOR_ARGS (extra gor flags, e.g. "--input-raw-buffer-size 256mb"),
# MIXES (default "get post pipeline") picks the mixes to run,
# STEADY=1 adds a 60 s (STEADY_SECONDS) small-GET run reporting RSS at 10 s and at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
ENGINE=${ENGINE:-libpcap}
GOR=${GOR:-target/release/gor}

source bench/lib/live.sh
live_setup capture nginx wrk python3

source bench/lib/nginx.sh
start_nginx "$work" 'access_log off; client_max_body_size 8m; client_body_buffer_size 4m;' 'location / { return 200 "hello from nginx\n"; }'

# CPU ticks (user+system) of a process and its children threads.
ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
nginx_ticks() {
  local t=0
  for p in $nginx_pid $(pgrep -P "$nginx_pid" || true); do t=$((t + $(ticks "$p"))); done
  echo $t
}
hz=$(getconf CLK_TCK)

cat > "$work/post.lua" <<'LUA'
-- Bodies from 1 KB to 2 MB, most of them small. A body of n bytes is the
-- alphabet repeated, so the capture can be checked byte for byte.
local sizes = {}
for i = 1, 90 do sizes[#sizes + 1] = 1024 * (1 + (i % 8)) end
for i = 1, 9 do sizes[#sizes + 1] = 65536 * (1 + (i % 4)) end
sizes[#sizes + 1] = 1048576 + 524288
sizes[#sizes + 1] = 2097152
local alphabet = string.rep("abcdefghijklmnopqrstuvwxyz", 80660)
local reqs = {}
for i, n in ipairs(sizes) do
  reqs[i] = wrk.format("POST", "/post", {["Content-Type"] = "application/octet-stream"}, string.sub(alphabet, 1, n))
end
local k = 0
request = function()
  k = k + 1
  return reqs[(k % #reqs) + 1]
end
LUA

cat > "$work/pipeline.lua" <<'LUA'
-- Ten GETs per write (wrk's own pipelining example).
init = function(args)
  local r = {}
  for i = 1, 10 do r[i] = wrk.format("GET", "/p/" .. i .. "?x=" .. i) end
  req = table.concat(r)
end
request = function() return req end
LUA

cat > "$work/check.py" <<'PY'
import sys
path, mix = sys.argv[1], sys.argv[2]
sep = "\n\U0001F435\U0001F648\U0001F649\n".encode()
alphabet = b"abcdefghijklmnopqrstuvwxyz" * 80660
data = open(path, "rb").read()
reqs, intact, resp_ids, req_ids = 0, 0, [], set()
for rec in data.split(sep):
    if not rec:
        continue
    nl = rec.find(b"\n")
    meta, payload = rec[:nl].split(b" "), rec[nl + 1:]
    if meta[0] == b"1":
        reqs += 1
        req_ids.add(meta[1])
        head, _, body = payload.partition(b"\r\n\r\n")
        ok = head.split(b"\r\n")[0].endswith(b" HTTP/1.1")
        if mix == "post":
            cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            n = int(cl[0].split(b":")[1]) if cl else -1
            ok = ok and n == len(body) and body == alphabet[:n]
        else:
            ok = ok and body == b""
        intact += ok
    elif meta[0] == b"2":
        resp_ids.append(meta[1])
paired = sum(1 for i in resp_ids if i in req_ids)
print(reqs, intact, paired)
PY

# One mix: run_mix NAME [wrk args...]; prints "captured intact responses completed gor_cpu nginx_cpu rss_mb"
run_mix() {
  local name=$1; shift
  local out="$work/$name.gor"
  if [ "$use_file" = 1 ]; then
    "$GOR" --input-raw "127.0.0.1:$port" --input-raw-engine "$ENGINE" --input-raw-track-response \
      --input-raw-stats ${GOR_ARGS:-} --output-file "$out" --output-file-append 2> "$work/$name.err" &
  else
    "$GOR" --input-raw "127.0.0.1:$port" --input-raw-engine "$ENGINE" --input-raw-track-response \
      --input-raw-stats ${GOR_ARGS:-} --output-stdout > "$out" 2> "$work/$name.err" &
  fi
  gor_pid=$!
  for _ in $(seq 200); do grep -qs "BPF Filter" "$work/$name.err" && break; sleep 0.05; done
  local n0 g0
  n0=$(nginx_ticks); g0=$(ticks "$gor_pid")
  wrk -t1 -c"$CONNS" -d"${DURATION}s" "$@" "http://127.0.0.1:$port/" > "$work/$name.wrk" 2>&1
  local n1; n1=$(nginx_ticks)
  sleep 2 # let gor finish what is in flight
  local g1 rss
  g1=$(ticks "$gor_pid")
  rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$gor_pid/status")
  kill -INT "$gor_pid"; wait "$gor_pid" 2>/dev/null || true; gor_pid=""
  local completed; completed=$(awk '/requests in/ {print $1}' "$work/$name.wrk")
  read -r captured intact paired < <(python3 "$work/check.py" "$out" "$name")
  rm -f "$out"; grep -h "input_raw stats\|dropped or skipped" "$work/$name.err" >&2 || true
  echo "$captured $intact $paired $completed $((g1 - g0)) $((n1 - n0)) $rss"
}

# --output-file when this build has it (buffered writes), else stdout.
use_file=0
if timeout 5 "$GOR" --input-dummy x --output-file "$work/probe.gor" --exit-after 200ms >/dev/null 2>&1; then
  use_file=1
fi
output=$([ "$use_file" = 1 ] && echo output-file || echo output-stdout)

summary=""
for mix in ${MIXES:-get post pipeline}; do
  case $mix in
    get) res=$(run_mix get) ;;
    post) res=$(run_mix post -s "$work/post.lua") ;;
    pipeline) res=$(run_mix pipeline -s "$work/pipeline.lua") ;;
  esac
  read -r cap intact paired done gcpu ncpu rss <<< "$res"
  line=$(python3 - "$mix" "$cap" "$intact" "$paired" "$done" "$gcpu" "$ncpu" "$rss" "$hz" <<'PY'
import sys
mix, cap, intact, paired, done, g, n, rss, hz = sys.argv[1], *map(int, sys.argv[2:])
d = max(done, 1)
gk = g / hz / d * 1000
nk = n / hz / d * 1000
print(f"{mix}: captured {cap/d:.3f} intact {intact/d:.3f} responses {paired/d:.3f} "
      f"(wrk {done} req) gor/nginx CPU per 1k req {gk:.4f}/{nk:.4f} s = {gk/max(nk,1e-9):.2f} peak RSS {rss} MB")
PY
)
  echo "  $line" >&2
  summary="$summary${summary:+; }$line"
done

if [ "${STEADY:-0}" = 1 ]; then
  long=${STEADY_SECONDS:-60}
  "$GOR" --input-raw "127.0.0.1:$port" --input-raw-engine "$ENGINE" --input-raw-track-response \
    --output-null 2> "$work/steady.err" &
  gor_pid=$!
  for _ in $(seq 200); do grep -qs "BPF Filter" "$work/steady.err" && break; sleep 0.05; done
  wrk -t1 -c"$CONNS" -d"${long}s" "http://127.0.0.1:$port/" > /dev/null 2>&1 &
  wrk_pid=$!
  sleep 10; r10=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$gor_pid/status")
  sleep $((long - 11)); r60=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$gor_pid/status")
  wait "$wrk_pid" 2>/dev/null || true
  kill -INT "$gor_pid"; wait "$gor_pid" 2>/dev/null || true; gor_pid=""
  summary="$summary; steady small GETs: RSS ${r10} MB at 10 s, ${r60} MB at $((long - 1)) s"
fi

echo "capture ($ENGINE, --$output, ${DURATION}s per mix, goal 1.000 and CPU ratio <= 0.25): $summary"
