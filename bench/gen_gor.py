#!/usr/bin/env python3
"""Writes a big recording for benchmarks.

    bench/gen_gor.py N out.gor [out.hex]

N request records (realistic headers, a few hundred bytes each, varied paths,
query strings and user ids) in gor's file format, all with the same timestamp
so that `--input-file` replays them at full speed. With a third argument, the
same messages are also written as middleware hex lines (what gor feeds a
middleware), for measuring a middleware program on its own.
"""
import sys


def main():
    n = int(sys.argv[1])
    sep = "\n\U0001F435\U0001F648\U0001F649\n".encode()
    hex_out = open(sys.argv[3], "w") if len(sys.argv) > 3 else None
    with open(sys.argv[2], "wb") as out:
        for i in range(n):
            meta = b"1 %024x 1700000000000000000 0\n" % i
            data = (
                "GET /api/v1/users/%d/orders?page=%d&session=s%d HTTP/1.1\r\n"
                "Host: shop.example.com\r\n"
                "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n"
                "Accept: application/json\r\n"
                "Accept-Language: en-US,en;q=0.9\r\n"
                "X-User-Id: %d\r\n"
                "Cookie: sid=%08x; theme=dark\r\n"
                "\r\n" % (i % 5000, i % 7, i % 997, i % 5000, i * 2654435761 % (1 << 32))
            ).encode()
            out.write(meta + data + sep)
            if hex_out:
                hex_out.write((meta + data).hex() + "\n")
    if hex_out:
        hex_out.close()


if __name__ == "__main__":
    main()
