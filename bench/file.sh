#!/usr/bin/env bash
# File replay throughput: a recorded file read by `--input-file` at unlimited
# speed into `--output-null` and into `--output-file`, against `cat` reading
# the same file in the same run (page cache warm for both). Also peak memory
# for a 1 GB and a 256 MB file, to show it does not grow with the file.
#
#   bash bench/file.sh            # 1024 MB file (SIZE_MB=... to change)
#
# Unlimited speed: records carry timestamps; a huge speed factor such as
# `|100000000%` (or `|0%`) makes every wait zero, and a zero wait costs no
# clock read and no sleep.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
SMALL_MB=$((SIZE_MB / 4))
SPEED='100000000%'
RUNS=${RUNS:-3}

cargo build --release --quiet --bin gor --example make_gor_file
GOR=target/release/gor
MAKE=target/release/examples/make_gor_file
[ -x /usr/bin/time ] || { echo "file: /usr/bin/time is missing (GNU time); cannot measure memory" ; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gor-bench-file.XXXXXX")
# Output files go to memory when possible, so the disk does not set the pace.
OUT_DIR=$(mktemp -d /dev/shm/gor-bench-out.XXXXXX 2>/dev/null || mktemp -d "$WORK/out.XXXXXX")
trap 'rm -rf "$WORK" "$OUT_DIR"' EXIT

BIG="$WORK/big.gor"
SMALL="$WORK/small.gor"
"$MAKE" "$BIG" "$SIZE_MB"
"$MAKE" "$SMALL" "$SMALL_MB"
BYTES=$(stat -c %s "$BIG")
cat "$BIG" > /dev/null  # warm the page cache

before_run() { rm -f "$OUT_DIR"/*; }
. bench/lib/timing.sh

mbps() { awk -v b="$BYTES" -v ns="$1" 'BEGIN { printf "%.0f", b / 1048576 / (ns / 1e9) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

cat_ns=$(best_of cat "$BIG")
copy_ns=$(best_of sh -c "cat '$BIG' > '$OUT_DIR/copy.gor'")
null_ns=$(best_of "$GOR" --input-file "$BIG|$SPEED" --output-null)
file_ns=$(best_of "$GOR" --input-file "$BIG|$SPEED" --output-file "$OUT_DIR/out.gor" \
  --output-file-queue-limit 0 --output-file-size-limit 4gb)

cat_cpu=$(cpu_ms cat "$BIG")
null_cpu=$(cpu_ms "$GOR" --input-file "$BIG|$SPEED" --output-null)

rss() { /usr/bin/time -f %M "$GOR" --input-file "$1|$SPEED" --output-null 2>&1 >/dev/null | tail -1; }
rss_big=$(rss "$BIG")
rss_small=$(rss "$SMALL")

echo "cat > /dev/null:             $(mbps "$cat_ns") MB/s" >&2
echo "cat > file (copy):           $(mbps "$copy_ns") MB/s" >&2
echo "gor --output-null:           $(mbps "$null_ns") MB/s" >&2
echo "gor --output-file:           $(mbps "$file_ns") MB/s (output in $(dirname "$OUT_DIR"))" >&2
echo "CPU time: cat ${cat_cpu} ms, gor --output-null ${null_cpu} ms" >&2
echo "peak RSS: ${rss_big} KB for ${SIZE_MB} MB, ${rss_small} KB for ${SMALL_MB} MB" >&2

echo "file: input-file->output-null $(mbps "$null_ns") MB/s = $(ratio "$null_ns" "$cat_ns") x cat ($(mbps "$cat_ns") MB/s); input-file->output-file $(mbps "$file_ns") MB/s = $(ratio "$file_ns" "$cat_ns") x cat, $(ratio "$file_ns" "$copy_ns") x cat-copy; CPU time $(ratio "$null_cpu" "$cat_cpu") x cat; peak RSS $((rss_big / 1024)) MB (${SIZE_MB} MB file) vs $((rss_small / 1024)) MB (${SMALL_MB} MB file)"
