#!/usr/bin/env bash
# The main job, end to end, on this machine only:
#   1. a local "production" server answers some traffic,
#   2. gor captures that traffic off the loopback interface into a file,
#   3. gor replays the file against a second, "staging" server,
#   4. what happened is printed.
# Both servers are gor's own `gor file-server`; the client is curl when
# present, else bash's /dev/tcp. Needs root (or CAP_NET_RAW) for capture.
set -euo pipefail
cd "$(dirname "$0")/.."
GOR=${GOR:-$PWD/target/release/gor}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
PROD=$(free_port); STAGING=$(free_port)
mkdir -p "$work/prod" "$work/staging"
for d in prod staging; do
  echo "hello from $d" > "$work/$d/index.html"
  printf '{"items":[1,2,3]}' > "$work/$d/api.json"
done

request() { # METHOD PATH [BODY]
  if command -v curl >/dev/null; then
    curl -s -o /dev/null -X "$1" ${3:+--data "$3"} "http://127.0.0.1:$PROD$2"
  else
    exec 3<>"/dev/tcp/127.0.0.1/$PROD"
    printf '%s %s HTTP/1.1\r\nHost: demo\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "$1" "$2" "${#3}" "${3:-}" >&3
    cat <&3 >/dev/null; exec 3<&-
  fi
}

echo "== 1. production server on 127.0.0.1:$PROD, staging server on 127.0.0.1:$STAGING"
(cd "$work/prod" && exec "$GOR" file-server "127.0.0.1:$PROD" 2>"$work/prod.log") & pids+=($!)
(cd "$work/staging" && exec "$GOR" file-server "127.0.0.1:$STAGING" 2>"$work/staging.log") & pids+=($!)

echo "== 2. capturing port $PROD into $work/requests.gor"
"$GOR" --input-raw "127.0.0.1:$PROD" --input-raw-track-response \
       --output-file "$work/requests.gor" 2>"$work/capture.log" & cap=$!; pids+=($cap)
sleep 1.5
request GET /index.html
request GET '/api.json?user=42&page=2'
request POST /api.json '{"name":"demo"}'
request GET /missing
sleep 0.5
kill -INT "$cap"; wait "$cap" || true
echo "   captured $(grep -c '^1 ' "$work/requests_0.gor" || true) requests and $(grep -c '^2 ' "$work/requests_0.gor" || true) responses:"
grep -a -A1 '^1 ' "$work/requests_0.gor" | grep -av '^1 \|^--' | sed 's/\r$//; s/^/     /'

echo "== 3. replaying the file against staging"
"$GOR" --input-file "$work/requests_0.gor" --output-http "http://127.0.0.1:$STAGING" \
       --output-http-track-response --output-file "$work/replayed.gor" 2>"$work/replay.log"

echo "== 4. what staging received and answered"
grep -a -v '^\s*$' "$work/staging.log" | grep -a '^[A-Z]* /' | sed 's/^/     /'
# Status codes of one record type: 2 = captured responses, 3 = replayed ones.
statuses() { grep -a -A1 "^$1 " "$2" | grep -a '^HTTP/' | cut -d' ' -f2 | sort | uniq -c | awk '{printf " %s x %s;", $1, $2}'; }
echo "   production answered:$(statuses 2 "$work/requests_0.gor")"
echo "   staging answered:   $(statuses 3 "$work/replayed_0.gor")"
echo "== done"
