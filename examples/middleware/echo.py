#!/usr/bin/env python3
"""A middleware that passes every message through unchanged.

    gor --input-raw :8080 --middleware "python3 examples/middleware/echo.py" --output-stdout

Each line on stdin is the hex of one message (header line + HTTP payload).
Print a hex line to deliver a message; print nothing to drop it. Flush after
every line, or gor waits for the buffer to fill.
"""
import sys


def main():
    for line in sys.stdin.buffer:
        payload = bytes.fromhex(line.decode().strip())
        # header line: b"<type> <id> <timestamp> <latency>\n", then the HTTP bytes
        sys.stdout.write(payload.hex() + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
