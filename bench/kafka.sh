#!/usr/bin/env bash
# Kafka throughput in messages/s of 1 KB: a recording sent by `--input-file`
# to `--output-kafka-*` (until every message is acknowledged), and read back
# by `--input-kafka-*` into `--output-null`, against the same recording
# read by `--input-file` into `--output-null`, in the same run. The broker
# is librdkafka's mock cluster (examples/kafka_mock_broker.rs) on loopback,
# 4 partitions.
#
#   bash bench/kafka.sh            # 200,000 messages (COUNT=... to change)
#
# The read side runs until gor's own counter (served by --http-pprof) says
# every message was read.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-200000}
SPEED='100000000%'
PORT=${PORT:-18787}

cargo build --release --quiet --bin gor --example kafka_mock_broker
GOR=${CARGO_TARGET_DIR:-$PWD/target}/release/gor
BROKER=${CARGO_TARGET_DIR:-$PWD/target}/release/examples/kafka_mock_broker
command -v curl > /dev/null || { echo "kafka: curl is missing; cannot read gor's counters" ; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gor-bench-kafka.XXXXXX")
BROKER_PID=
READER_PID=
cleanup() {
  [ -n "$READER_PID" ] && kill "$READER_PID" 2> /dev/null || true
  [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2> /dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

REC="$WORK/1k.gor"
python3 - "$COUNT" "$REC" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
sep = "\n\U0001F435\U0001F648\U0001F649\n".encode()
with open(path, "wb") as out:
    for i in range(n):
        head = f"GET /item/{i}?user={i * 7919 % 100000} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: bench\r\n".encode()
        meta = f"1 {i:024x} 1700000000000000000 0\n".encode()
        pad = 1024 - len(meta) - len(head) - len(b"X-Pad: \r\n\r\n")
        out.write(meta + head + b"X-Pad: " + b"p" * pad + b"\r\n\r\n" + sep)
PY
cat "$REC" > /dev/null  # warm the page cache

"$BROKER" bench 4 > "$WORK/broker.out" 2> "$WORK/broker.err" &
BROKER_PID=$!
for _ in $(seq 100); do
  grep -q "bootstrap servers:" "$WORK/broker.out" && break
  sleep 0.1
done
BOOTSTRAP=$(sed -n 's/^bootstrap servers: //p' "$WORK/broker.out")
[ -n "$BOOTSTRAP" ] || { echo "kafka: the mock broker did not start: $(cat "$WORK/broker.err")" ; exit 1; }

now() { date +%s%N; }
rate() { awk -v n="$COUNT" -v ns="$1" 'BEGIN { printf "%.0f", n / (ns / 1e9) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

start=$(now)
"$GOR" --input-file "$REC|$SPEED" --output-null > /dev/null 2>&1
null_ns=$(( $(now) - start ))

start=$(now)
"$GOR" --input-file "$REC|$SPEED" --output-kafka-host "$BOOTSTRAP" --output-kafka-topic bench \
  > /dev/null 2> "$WORK/write.err" || { echo "kafka: file->kafka failed: $(tail -3 "$WORK/write.err")" ; exit 1; }
write_ns=$(( $(now) - start ))

start=$(now)
"$GOR" --input-kafka-host "$BOOTSTRAP" --input-kafka-topic bench --input-kafka-offset "-2|$SPEED" \
  --output-null --http-pprof "127.0.0.1:$PORT" > /dev/null 2> "$WORK/read.err" &
READER_PID=$!
read_ns=
for _ in $(seq 12000); do
  got=$(curl -s "http://127.0.0.1:$PORT/debug/vars" | grep -o '"input_kafka([^"]*)\.messages":[0-9]*' | sed 's/.*://' || true)
  if [ -n "$got" ] && [ "$got" -ge "$COUNT" ]; then read_ns=$(( $(now) - start )); break; fi
  kill -0 "$READER_PID" 2> /dev/null || break
  sleep 0.02
done
kill -INT "$READER_PID" 2> /dev/null || true
wait "$READER_PID" 2> /dev/null || true
READER_PID=
[ -n "$read_ns" ] || { echo "kafka: kafka->output-null did not read $COUNT messages: $(tail -3 "$WORK/read.err")" ; exit 1; }

echo "input-file->output-null:  $(rate "$null_ns") msg/s" >&2
echo "input-file->output-kafka: $(rate "$write_ns") msg/s" >&2
echo "input-kafka->output-null: $(rate "$read_ns") msg/s" >&2

echo "kafka: 1 KB messages, file->kafka $(rate "$write_ns") msg/s = $(ratio "$null_ns" "$write_ns") x file->null ($(rate "$null_ns") msg/s); kafka->null $(rate "$read_ns") msg/s = $(ratio "$null_ns" "$read_ns") x file->null (mock cluster, 4 partitions, $COUNT messages)"
