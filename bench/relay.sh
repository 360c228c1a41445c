#!/usr/bin/env bash
# Relay throughput: a recording replayed by `--input-file` at unlimited
# speed through a loopback relay (`--output-tcp` → `--input-tcp`) into
# `--output-file`, against the same file straight into `--output-file`, in
# the same run; plain and TLS. Also the peak memory of both relay sides,
# the CPU time (user + system) of the direct run and of both relay sides
# together (unlike wall time, it does not depend on how many cores the two
# relay processes share, so it compares across machines), the ratio of a
# relay that only moves bytes (the best any relay can do on the machine),
# and `--output-ws` into a small WebSocket server that counts the frames
# (examples/ws_sink.rs: gor has no WebSocket input).
#
#   bash bench/relay.sh            # 300 MB recording, 3 rounds
#   SIZE_MB=100 RUNS=5 bash bench/relay.sh
#
# The relay time runs from the sender's start until the receiver has
# written everything and exited (it is stopped with SIGINT once the sender
# is done; a stop reads every connection to its end first). Each round
# measures the direct run and every relay back to back, and the ratios are
# taken within a round; the summary gives the median and the range over
# the rounds. Run it under `nice -n -5` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-300}
SPEED='100000000%'
RUNS=${RUNS:-3}

cargo build --release --quiet --bin gor --example make_gor_file --example ws_sink --example relay_floor
TARGET=${CARGO_TARGET_DIR:-target}
GOR=$TARGET/release/gor
MAKE=$TARGET/release/examples/make_gor_file
WS_SINK=$TARGET/release/examples/ws_sink
FLOOR=$TARGET/release/examples/relay_floor
[ -x /usr/bin/time ] || { echo "relay: /usr/bin/time is missing (GNU time); cannot measure memory" ; exit 1; }
command -v openssl > /dev/null || { echo "relay: openssl is missing; cannot make a test certificate" ; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gor-bench-relay.XXXXXX")
# Output files go to memory when possible, so the disk does not set the pace.
OUT_DIR=$(mktemp -d /dev/shm/gor-bench-relay-out.XXXXXX 2>/dev/null || mktemp -d "$WORK/out.XXXXXX")
RECV_PID=
cleanup() {
  [ -n "$RECV_PID" ] && kill "$RECV_PID" 2> /dev/null || true
  rm -rf "$WORK" "$OUT_DIR"
}
trap cleanup EXIT

BIG="$WORK/big.gor"
"$MAKE" "$BIG" "$SIZE_MB"
BYTES=$(stat -c %s "$BIG")
cat "$BIG" > /dev/null  # warm the page cache
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2> /dev/null
FILE_FLAGS=(--output-file-queue-limit 0 --output-file-size-limit 4gb)
PORT=$((20000 + RANDOM % 20000))

now() { date +%s%N; }
# wait_for LOG TEXT: until the server writing LOG has written TEXT (10 s at most).
wait_for() {
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2> /dev/null && break
    sleep 0.05
  done
}
mbps() { awk -v b="$BYTES" -v ns="$1" 'BEGIN { printf "%.0f", b / 1048576 / (ns / 1e9) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

# cpu FILE: the CPU seconds (user + system) /usr/bin/time wrote to FILE
# (its last line: "rss_kb user system").
cpu() { tail -1 "$1" | awk '{ printf "%.2f", $2 + $3 }'; }

# direct: input-file straight to output-file; prints "ns cpu_s".
direct() {
  rm -f "$OUT_DIR"/*
  local start took
  start=$(now)
  /usr/bin/time -f '%M %U %S' -o "$WORK/direct.time" "$GOR" --input-file "$BIG|$SPEED" \
    --output-file "$OUT_DIR/direct.gor" "${FILE_FLAGS[@]}" > /dev/null 2>&1
  took=$(( $(now) - start ))
  echo "$took $(cpu "$WORK/direct.time")"
}

# relay [tls]: prints "ns sender_rss_kb receiver_rss_kb cpu_s" (the CPU
# time of both sides together).
relay() {
  rm -f "$OUT_DIR"/*
  local recv_tls=() send_tls=()
  if [ "${1:-}" = tls ]; then
    recv_tls=(--input-tcp-secure --input-tcp-certificate "$WORK/cert.pem" --input-tcp-certificate-key "$WORK/key.pem")
    send_tls=(--output-tcp-secure --output-tcp-skip-verify)
  fi
  /usr/bin/time -f '%M %U %S' -o "$WORK/recv.time" "$GOR" --input-tcp "127.0.0.1:$PORT" "${recv_tls[@]}" \
    --output-file "$OUT_DIR/relay.gor" "${FILE_FLAGS[@]}" > /dev/null 2> "$WORK/recv.log" &
  RECV_PID=$!
  wait_for "$WORK/recv.log" "listening on"
  local start gor_pid
  # /usr/bin/time's child is the receiving gor (looked up before the clock
  # starts: pgrep reads all of /proc).
  gor_pid=$(pgrep -P "$RECV_PID" -x gor || true)
  start=$(now)
  /usr/bin/time -f '%M %U %S' -o "$WORK/send.time" "$GOR" --input-file "$BIG|$SPEED" \
    --output-tcp "localhost:$PORT" "${send_tls[@]}" > /dev/null 2> "$WORK/send.log"
  kill -INT "${gor_pid:-$RECV_PID}"
  wait "$RECV_PID" || true
  RECV_PID=
  local took=$(( $(now) - start ))
  local got
  got=$(cat "$OUT_DIR"/relay*.gor | wc -c)
  if [ "$got" -ne "$BYTES" ]; then
    echo "relay: the receiver wrote $got bytes of $BYTES" >&2
    tail -5 "$WORK/send.log" "$WORK/recv.log" >&2
    exit 1
  fi
  local both
  both=$(awk -v a="$(cpu "$WORK/send.time")" -v b="$(cpu "$WORK/recv.time")" 'BEGIN { printf "%.2f", a + b }')
  echo "$took $(tail -1 "$WORK/send.time" | cut -d' ' -f1) $(tail -1 "$WORK/recv.time" | cut -d' ' -f1) $both"
}

# relay_ws: --output-ws into ws_sink; prints ns.
relay_ws() {
  rm -f "$WORK/ws.count" "$WORK/ws.log"
  "$WS_SINK" "127.0.0.1:$PORT" "$WORK/ws.count" 2> "$WORK/ws.log" &
  RECV_PID=$!
  wait_for "$WORK/ws.log" "listening on"
  local start
  start=$(now)
  "$GOR" --input-file "$BIG|$SPEED" --output-ws "ws://127.0.0.1:$PORT/" > /dev/null 2> "$WORK/send.log"
  wait "$RECV_PID" || true
  RECV_PID=
  local took=$(( $(now) - start ))
  local frames=0 payload=0
  [ -s "$WORK/ws.count" ] && read -r frames payload < "$WORK/ws.count"
  # A frame is a record without its 14-byte separator.
  if [ $((payload + 14 * frames)) -ne "$BYTES" ]; then
    echo "relay: the WebSocket server got $frames frames, $payload bytes; the recording has $BYTES bytes" >&2
    tail -5 "$WORK/send.log" >&2
    exit 1
  fi
  echo "$took"
}

# floor: what a relay that only moves bytes (examples/relay_floor.rs: one
# connection, no records) reaches against its own file copy, in the same
# round: about the best ratio any relay can have on this machine. Prints
# "copy_ns relay_ns".
floor() {
  rm -f "$OUT_DIR"/*
  local start copy_ns
  start=$(now)
  "$FLOOR" copy "$BIG" "$OUT_DIR/floor-copy.gor"
  copy_ns=$(( $(now) - start ))
  rm -f "$OUT_DIR"/*
  "$FLOOR" recv "$PORT" "$OUT_DIR/floor-relay.gor" > "$WORK/floor.log" &
  RECV_PID=$!
  wait_for "$WORK/floor.log" "listening"
  start=$(now)
  "$FLOOR" send "$PORT" "$BIG"
  wait "$RECV_PID"
  RECV_PID=
  local got
  got=$(stat -c %s "$OUT_DIR/floor-relay.gor")
  [ "$got" -eq "$BYTES" ] || { echo "relay: the floor's receiver wrote $got bytes of $BYTES" >&2; exit 1; }
  echo "$copy_ns $(( $(now) - start ))"
}

# stats VALUE...: "median (min–max)"
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s (%s-%s)", m, v[1], v[NR] }'; }

DIRECT=() PLAIN=() TLS=() WS=() R_PLAIN=() R_TLS=() R_WS=() C_DIRECT=() C_PLAIN=() C_TLS=() R_FLOOR=() FLOOR_RELAY=() R_OF_FLOOR=()
for round in $(seq "$RUNS"); do
  read -r d d_cpu < <(direct)
  relay > "$WORK/plain.txt"
  read -r p p_send p_recv p_cpu < "$WORK/plain.txt"
  relay tls > "$WORK/tls.txt"
  read -r t t_send t_recv t_cpu < "$WORK/tls.txt"
  C_DIRECT+=("$d_cpu") C_PLAIN+=("$p_cpu") C_TLS+=("$t_cpu")
  read -r f_copy f_relay < <(floor)
  R_FLOOR+=("$(ratio "$f_relay" "$f_copy")") FLOOR_RELAY+=("$(mbps "$f_relay")")
  R_OF_FLOOR+=("$(ratio "$p" "$f_relay")")
  w=$(relay_ws)
  DIRECT+=("$(mbps "$d")") PLAIN+=("$(mbps "$p")") TLS+=("$(mbps "$t")") WS+=("$(mbps "$w")")
  R_PLAIN+=("$(ratio "$p" "$d")") R_TLS+=("$(ratio "$t" "$d")") R_WS+=("$(ratio "$w" "$d")")
  echo "relay round $round: direct $(mbps "$d") MB/s; tcp $(mbps "$p") MB/s ($(ratio "$p" "$d")); tls $(mbps "$t") MB/s ($(ratio "$t" "$d")); ws $(mbps "$w") MB/s ($(ratio "$w" "$d")); peak RSS sender/receiver $((p_send / 1024))/$((p_recv / 1024)) MB plain, $((t_send / 1024))/$((t_recv / 1024)) MB TLS; CPU s direct $d_cpu, tcp $p_cpu, tls $t_cpu; byte-moving floor $(mbps "$f_relay") MB/s ($(ratio "$f_relay" "$f_copy") x its copy; gor's tcp relay $(ratio "$p" "$f_relay") x the floor)" >&2
done

echo "relay: ${SIZE_MB} MB recording, median (range) of $RUNS rounds; direct input-file->output-file $(stats "${DIRECT[@]}") MB/s; over --output-tcp/--input-tcp $(stats "${PLAIN[@]}") MB/s = $(stats "${R_PLAIN[@]}") x direct (goal 0.75); with TLS $(stats "${TLS[@]}") MB/s = $(stats "${R_TLS[@]}") x direct (goal 0.5); --output-ws into a counting server $(stats "${WS[@]}") MB/s = $(stats "${R_WS[@]}") x direct; CPU seconds (both relay sides together) direct $(stats "${C_DIRECT[@]}"), tcp $(stats "${C_PLAIN[@]}"), tls $(stats "${C_TLS[@]}"); a relay that only moves bytes (examples/relay_floor.rs) reaches $(stats "${FLOOR_RELAY[@]}") MB/s = $(stats "${R_FLOOR[@]}") x its own file copy, and gor's relay over --output-tcp keeps $(stats "${R_OF_FLOOR[@]}") of that rate"
