#!/usr/bin/env bash
# --output-diff throughput: a recording of 1 KB JSON responses (for each id
# the request, the original response and a replayed one; one id in ten
# differs in a field deep in an array) read by `--input-file` at unlimited
# speed into `--output-diff`, against the same pipeline into
# `--output-null` in the same run. Also peak memory at 100,000 and at
# 1,000,000 pairs, to show it does not grow with the number compared.
#
#   bash bench/diff.sh            # 1,000,000 pairs (PAIRS=... to change)
#
# Goal: at least 100,000 pairs/s and at least 0.3 of the null pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-1000000}
SMALL=$((PAIRS / 10))
SPEED='100000000%'
RUNS=${RUNS:-3}

cargo build --release --quiet --bin gor
GOR=${CARGO_TARGET_DIR:-target}/release/gor
[ -x /usr/bin/time ] || { echo "diff: /usr/bin/time is missing (GNU time); cannot measure memory" ; exit 1; }
command -v python3 >/dev/null || { echo "diff: python3 is missing; cannot write the recording" ; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gor-bench-diff.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
BIG="$WORK/big.gor"
LITTLE="$WORK/small.gor"
python3 bench/gen_diff.py "$PAIRS" "$BIG"
python3 bench/gen_diff.py "$SMALL" "$LITTLE"
cat "$BIG" > /dev/null  # warm the page cache

before_run() { rm -rf "$WORK/out"; }
. bench/lib/timing.sh

null_ns=$(best_of "$GOR" --input-file "$BIG|$SPEED" --output-null)
diff_ns=$(best_of "$GOR" --input-file "$BIG|$SPEED" --output-diff "$WORK/out")
null_cpu=$(cpu_ms "$GOR" --input-file "$BIG|$SPEED" --output-null)
diff_cpu=$(cpu_ms "$GOR" --input-file "$BIG|$SPEED" --output-diff "$WORK/out")

# The run compared every pair and found the differences planted.
rm -rf "$WORK/out"
line=$("$GOR" --input-file "$BIG|$SPEED" --output-diff "$WORK/out" 2>&1 | grep 'output-diff:' || true)
expect="$PAIRS compared, $((PAIRS - (PAIRS + 9) / 10)) equal, $(((PAIRS + 9) / 10)) different"
case "$line" in
  *"$expect"*) ;;
  *) echo "diff: FAILED: expected '$expect', got '$line'"; exit 1 ;;
esac

rss() { rm -rf "$WORK/out"; /usr/bin/time -f %M "$GOR" --input-file "$1|$SPEED" --output-diff "$WORK/out" 2>&1 >/dev/null | tail -1; }
rss_big=$(rss "$BIG")
rss_small=$(rss "$LITTLE")

rate() { awk -v n="$PAIRS" -v ns="$1" 'BEGIN { printf "%.0f", n / (ns / 1e9) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

echo "gor --output-null:  $(rate "$null_ns") pairs/s (3 records each), CPU ${null_cpu} ms" >&2
echo "gor --output-diff:  $(rate "$diff_ns") pairs/s, CPU ${diff_cpu} ms ($(rate "$((diff_cpu * 1000000))") pairs per CPU second)" >&2
echo "peak RSS: ${rss_small} KB for ${SMALL} pairs, ${rss_big} KB for ${PAIRS} pairs" >&2

echo "diff: $(rate "$diff_ns") pairs/s of 1 KB JSON (goal >= 100000) = $(ratio "$diff_ns" "$null_ns") x the --output-null pipeline ($(rate "$null_ns") pairs/s; goal >= 0.3); CPU $(ratio "$diff_cpu" "$null_cpu") x; peak RSS $((rss_small / 1024)) MB at ${SMALL} pairs vs $((rss_big / 1024)) MB at ${PAIRS}"
