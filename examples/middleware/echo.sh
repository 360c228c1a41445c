#!/usr/bin/env bash
# A middleware that passes every message through unchanged.
#
#   gor --input-raw :8080 --middleware "examples/middleware/echo.sh" --output-stdout
#
# gor writes one line per message on stdin: the hex of the header line and the
# HTTP payload. Whatever lines we print on stdout are delivered; a message we
# do not print is dropped. With GOR_MIDDLEWARE_DEBUG=1 each message's header
# line (type, id, timestamp) is decoded with xxd and logged on stderr, which
# gor passes through.
while IFS= read -r line; do
  printf '%s\n' "$line"
  if [ -n "$GOR_MIDDLEWARE_DEBUG" ]; then
    printf '%s' "$line" | xxd -r -p | head -n 1 | sed 's/^/[echo.sh] /' >&2
  fi
done
