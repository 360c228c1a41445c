#!/usr/bin/env python3
"""Writes a recording for the --output-diff benchmark.

    bench/gen_diff.py N out.gor

N request ids, each with its request (type 1), the original response
(type 2) and a replayed response (type 3), all with the same timestamp so
that `--input-file` reads them at full speed. Bodies are JSON of about
1 KB over 20 endpoints; the two responses differ in their Date header (left
out of the comparison by default) and, for one id in ten, in one field deep
in an array, so both the equal path and the JSON comparison are measured.
"""
import json
import sys


def body(endpoint, i, price):
    items = [
        {"sku": "sku-%d-%d" % (endpoint, k), "name": "Item number %d of the catalogue" % k,
         "price": price if k == 3 else 10 + k, "qty": k + 1, "tags": ["a", "b", "c"]}
        for k in range(7)
    ]
    doc = {"id": i, "endpoint": endpoint, "user": {"name": "user %d" % (i % 5000), "tier": "gold"},
           "items": items, "total": 123.5, "currency": "EUR"}
    return json.dumps(doc, separators=(",", ":")).encode()


def response(b, date):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: %s\r\n"
            b"Cache-Control: max-age=60\r\nContent-Length: %d\r\n\r\n" % (date, len(b))) + b


def main():
    n = int(sys.argv[1])
    sep = "\n\U0001F435\U0001F648\U0001F649\n".encode()
    # A few templates, reused: generating a million JSON documents in
    # Python would take longer than the benchmark.
    templates = {}
    with open(sys.argv[2], "wb", buffering=1 << 20) as out:
        for i in range(n):
            endpoint = i % 20
            differs = i % 10 == 0
            key = (endpoint, differs)
            if key not in templates:
                base = body(endpoint, 0, 13)
                cand = body(endpoint, 0, 14 if differs else 13)
                templates[key] = (
                    response(base, b"Mon, 07 Dec 2026 08:00:00 GMT"),
                    response(cand, b"Mon, 07 Dec 2026 08:00:01 GMT"),
                )
            orig, replayed = templates[key]
            rid = b"%024x" % i
            req = b"GET /api/v%d/orders/%d?page=2 HTTP/1.1\r\nHost: shop.example.com\r\nAccept: application/json\r\n\r\n" % (endpoint, i)
            out.write(b"1 " + rid + b" 1700000000000000000 0\n" + req + sep)
            out.write(b"2 " + rid + b" 1700000000000000000 1000\n" + orig + sep)
            out.write(b"3 " + rid + b" 1700000000000000000 2000\n" + replayed + sep)


if __name__ == "__main__":
    main()
