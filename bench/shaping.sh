#!/usr/bin/env bash
# Traffic-shaping throughput: messages/s of a file replayed at full speed
# through (a) an echo middleware and (b) the HTTP modifier with 5 rules, each
# against its limit measured in this run:
#   middleware: the echo program alone on the same hex lines (the pipe cost
#               gor cannot beat), and gor without middleware;
#   modifier:   the same pipeline without the modifier.
# Prints one summary line. Needs: cargo, python3, rustc. N=... sets the size.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
for tool in python3 rustc; do
  command -v "$tool" >/dev/null || { echo "shaping: SKIPPED ($tool is missing)"; exit 0; }
done
GOR=target/release/gor
[ -x "$GOR" ] || cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rustc -O --edition 2021 examples/middleware/echo.rs -o "$work/echo"
python3 bench/gen_gor.py "$N" "$work/big.gor" "$work/big.hex"

# Best of 3 wall-clock seconds of a command.
best() {
  local best=""
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>"$work/err" || { echo "shaping: FAILED: $*" >&2; cat "$work/err" >&2; exit 1; }
    e=$(date +%s.%N)
    best=$(python3 -c "a='$best'; d=$e-$s; print(d if not a else min(float(a), d))")
  done
  echo "$best"
}
rate() { python3 -c "print(int($N / $1))"; }

gor_plain=$(best "$GOR" --input-file "$work/big.gor" --output-null)
echo_alone=$(best sh -c "\"$work/echo\" < \"$work/big.hex\"")
gor_mw=$(best "$GOR" --input-file "$work/big.gor" --middleware "$work/echo" --output-null)
gor_mod=$(best "$GOR" --input-file "$work/big.gor" --output-null \
  --http-allow-method GET \
  --http-set-header 'X-Replayed: gor' \
  --http-disallow-url '^/admin' \
  --http-header-limiter 'X-User-Id: 100%' \
  --http-rewrite-url '/api/v1/(.*):/api/v2/$1')

r_plain=$(rate "$gor_plain"); r_echo=$(rate "$echo_alone")
r_mw=$(rate "$gor_mw"); r_mod=$(rate "$gor_mod")
limit_mw=$(( r_echo < r_plain ? r_echo : r_plain ))
python3 - "$N" "$r_plain" "$r_echo" "$r_mw" "$r_mod" "$limit_mw" <<'PY'
import sys
n, plain, echo, mw, mod, limit = map(int, sys.argv[1:])
print(f"shaping: middleware {mw} msg/s = {mw/limit:.2f}x of limit {limit} msg/s "
      f"(echo alone {echo}, gor without middleware {plain}); "
      f"modifier 5 rules {mod} msg/s = {mod/plain:.2f}x of no modifier {plain} msg/s; "
      f"{n} requests")
PY
