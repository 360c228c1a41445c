#!/usr/bin/env python3
"""A middleware that adds a header to every request and drops DELETE requests.

    gor --input-raw :8080 --middleware "python3 examples/middleware/add_header.py X-Replayed yes" \
        --output-http http://staging:8080

Arguments: header name and value (default: X-Middleware: python).
Responses (type 2 and 3) are passed through unchanged.
"""
import sys


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "X-Middleware"
    value = sys.argv[2] if len(sys.argv) > 2 else "python"
    header = f"{name}: {value}\r\n".encode()
    for line in sys.stdin.buffer:
        try:
            message = bytes.fromhex(line.decode().strip())
        except ValueError:
            continue
        meta, _, http = message.partition(b"\n")
        if meta.startswith(b"1"):
            if http.startswith(b"DELETE "):
                continue  # not echoed: dropped, and so is its response
            first_line_end = http.find(b"\r\n")
            if first_line_end >= 0:
                cut = first_line_end + 2
                http = http[:cut] + header + http[cut:]
        sys.stdout.write((meta + b"\n" + http).hex() + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
