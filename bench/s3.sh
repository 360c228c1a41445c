#!/usr/bin/env bash
# S3 recording and replay throughput: a recording (1 GB, SIZE_MB to change)
# replayed at unlimited speed into `--output-file s3://…` (32 MB chunks,
# staged on disk and uploaded), then read back by `--input-file s3://…` into
# `--output-null`, against the same two steps with a local `--output-file`
# and `--input-file` on the same chunks, in the same run. The S3 server is
# s3s-fs (examples/s3_server.rs: objects kept as files, every request's
# signature checked) on loopback, sharing the machine with gor. Also gor's
# peak RSS in both S3 directions, to show it is bounded by the chunk size,
# not the recording size, and the CPU seconds gor and the server each spent
# (the machine's other jobs make wall times vary; CPU time varies less).
# Goal: S3 at least 0.5 of the disk rate each way.
#
#   bash bench/s3.sh              # SIZE_MB=256 bash bench/s3.sh for a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
SPEED='100000000%'
CHUNK=(--output-file-queue-limit 0 --output-file-size-limit 32mb)

[ -x /usr/bin/time ] || { echo "s3: /usr/bin/time is missing (GNU time); cannot measure memory"; exit 1; }
cargo build --release --quiet --bin gor --example make_gor_file --example s3_server
GOR=${CARGO_TARGET_DIR:-target}/release/gor
MAKE=${CARGO_TARGET_DIR:-target}/release/examples/make_gor_file
SERVER=${CARGO_TARGET_DIR:-target}/release/examples/s3_server

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gor-bench-s3.XXXXXX")
mkdir "$WORK/disk" "$WORK/staging"
# The server's objects are in memory (/dev/shm) when it can: a remote store
# costs this machine's disk nothing, and the local runs need its page cache.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then STORE=$(mktemp -d /dev/shm/gor-bench-s3.XXXXXX); else STORE="$WORK/s3"; mkdir "$STORE"; fi
# The server stops when its standard input closes.
coproc S3 { exec "$SERVER" "$STORE" gor-bench; }
s3_pid=$S3_PID
trap 'exec {S3[1]}>&- 2>/dev/null || true; wait "$s3_pid" 2>/dev/null || true; rm -rf "$WORK" "$STORE"' EXIT
read -r info <&"${S3[0]}"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$info" "$1"; }
export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
AWS_ENDPOINT_URL=$(field endpoint)
AWS_ACCESS_KEY_ID=$(field access_key)
AWS_SECRET_ACCESS_KEY=$(field secret_key)

BIG="$WORK/big.gor"
"$MAKE" "$BIG" "$SIZE_MB"
BYTES=$(stat -c %s "$BIG")
cat "$BIG" > /dev/null  # warm the page cache

now() { date +%s%N; }
# The server's CPU time so far, in clock ticks (user + system).
server_ticks() { awk '{ print $14 + $15 }' "/proc/$s3_pid/stat"; }
# timed CMD...: wall time in ns; of the last run, peak RSS (KB) in
# $WORK/rss and gor's CPU seconds in $WORK/cpu.
timed() {
  local start
  start=$(now)
  /usr/bin/time -f '%M %U %S' -o "$WORK/time" "$@" > /dev/null 2> "$WORK/err" || { cat "$WORK/err" >&2; return 1; }
  echo $(( $(now) - start ))
  read -r rss user sys < "$WORK/time"
  echo "$rss" > "$WORK/rss"
  awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }' > "$WORK/cpu"
}
# CPU seconds of the server between two server_ticks.
server_cpu() { awk -v a="$1" -v b="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }'; }
mbps() { awk -v b="$BYTES" -v ns="$1" 'BEGIN { printf "%.0f", b / 1048576 / (ns / 1e9) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

disk_write=$(timed "$GOR" --input-file "$BIG|$SPEED" --output-file "$WORK/disk/rec.gor" "${CHUNK[@]}")
cpu_disk_write=$(cat "$WORK/cpu")
disk_read=$(timed "$GOR" --input-file "$WORK/disk/rec_*.gor|$SPEED" --output-null)
cpu_disk_read=$(cat "$WORK/cpu")
before=$(server_ticks)
s3_write=$(timed "$GOR" --input-file "$BIG|$SPEED" --output-file "s3://gor-bench/rec.gor" \
  --output-file-buffer "$WORK/staging" "${CHUNK[@]}")
rss_write=$(cat "$WORK/rss") cpu_s3_write=$(cat "$WORK/cpu") server_write=$(server_cpu "$before" "$(server_ticks)")
before=$(server_ticks)
s3_read=$(timed "$GOR" --input-file "s3://gor-bench/rec|$SPEED" --output-null)
rss_read=$(cat "$WORK/rss") cpu_s3_read=$(cat "$WORK/cpu") server_read=$(server_cpu "$before" "$(server_ticks)")
objects=$(find "$STORE/gor-bench" -type f -name 'rec_*' | wc -l)
cmp <(cat "$WORK"/disk/rec_*.gor) <(cat "$STORE"/gor-bench/rec_*.gor) ||
  { echo "s3: the objects differ from the local chunks" >&2; exit 1; }

echo "disk write $(mbps "$disk_write") MB/s, read $(mbps "$disk_read") MB/s; CPU seconds: gor ${cpu_disk_write} writing, ${cpu_disk_read} reading" >&2
echo "S3 CPU seconds: writing gor ${cpu_s3_write} + server ${server_write}, reading gor ${cpu_s3_read} + server ${server_read}" >&2
echo "s3: ${SIZE_MB} MB recording: to S3 $(mbps "$s3_write") MB/s = $(ratio "$s3_write" "$disk_write") x disk ($(mbps "$disk_write") MB/s); from S3 $(mbps "$s3_read") MB/s = $(ratio "$s3_read" "$disk_read") x disk ($(mbps "$disk_read") MB/s); peak RSS $((rss_write / 1024)) MB writing, $((rss_read / 1024)) MB reading ($objects objects of 32 MB)"
