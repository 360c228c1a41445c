#!/usr/bin/env bash
# Traffic-shaping throughput, a recording replayed at full speed into
# --output-null:
#   middleware: messages/s through an echo middleware (examples/middleware/
#               echo.rs, compiled) against the limit, the echo program alone
#               on the same hex lines; plus the CPU gor adds per message for
#               the middleware (hex out, hex back, queues) next to the echo
#               program's own: on a machine with few cores the two share
#               them, so CPU, not wall time, says who the limit is.
#   modifier:   messages/s with 5 --http-* rules against the same pipeline
#               without them.
# Best of 3 runs each. Prints one summary line. N=... sets the record count.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-400000}
for tool in python3 rustc /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "shaping: SKIPPED ($tool is missing)"; exit 0; }
done
GOR=target/release/gor
[ -x "$GOR" ] || cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rustc -O --edition 2021 examples/middleware/echo.rs -o "$work/echo"
python3 bench/gen_gor.py "$N" "$work/big.gor" "$work/big.hex"

# best LABEL CMD...: best-of-3 "wall user+sys" seconds of CMD, in $work/res-LABEL.
best() {
  local label=$1; shift
  : >"$work/res-$label"
  for _ in 1 2 3; do
    local start end
    start=$(date +%s%N)
    /usr/bin/time -o "$work/t" -f '%U %S' "$@" >/dev/null 2>"$work/err" \
      || { echo "shaping: FAILED: $*" >&2; tail -5 "$work/err" >&2; exit 1; }
    end=$(date +%s%N)
    awk -v wall="$(( (end - start) / 1000 ))" '{ printf "%.6f %.3f\n", wall / 1e6, $1 + $2 }' \
      "$work/t" >>"$work/res-$label"
  done
  sort -n "$work/res-$label" | head -1 >"$work/res-$label.best"
}

best plain "$GOR" --input-file "$work/big.gor" --output-null
best echo sh -c "exec \"$work/echo\" <\"$work/big.hex\""
# The echo program's own CPU, measured inside the middleware run.
best mw "$GOR" --input-file "$work/big.gor" --output-null \
  --middleware "/usr/bin/time -a -o $work/echo-cpu -f '%U %S' $work/echo"
best mod "$GOR" --input-file "$work/big.gor" --output-null \
  --http-allow-method GET \
  --http-set-header 'X-Replayed: gor' \
  --http-disallow-url '^/admin' \
  --http-header-limiter 'X-User-Id: 100%' \
  --http-rewrite-url '/api/v1/(.*):/api/v2/$1'

python3 - "$N" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
def wall_cpu(label):
    w, c = open(f"{work}/res-{label}.best").read().split()
    return float(w), float(c)
plain, echo, mw, mod = (wall_cpu(x) for x in ("plain", "echo", "mw", "mod"))
echo_cpu = min(sum(map(float, l.split())) for l in open(f"{work}/echo-cpu") if l.strip())
rate = lambda s: n / s
# CPU gor spends on the middleware path: its CPU with the middleware,
# minus the echo program's, minus what the same run costs gor without it.
added_us = (mw[1] - echo_cpu - plain[1]) / n * 1e6
echo_us = echo_cpu / n * 1e6
print(f"shaping: middleware {rate(mw[0]):,.0f} msg/s = {rate(mw[0]) / rate(echo[0]):.2f}x of limit "
      f"{rate(echo[0]):,.0f} msg/s (the echo program alone; CPU per message: gor adds "
      f"{added_us:.2f} us, the echo program takes {echo_us:.2f} us); modifier 5 rules "
      f"{rate(mod[0]):,.0f} msg/s = {rate(mod[0]) / rate(plain[0]):.2f}x of no modifier "
      f"{rate(plain[0]):,.0f} msg/s; {n} requests, 2 cores shared by gor and the middleware")
PY
