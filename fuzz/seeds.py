#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/seeds/<target>/) from the kinds of input
the test suite uses: recorded requests and responses, relay frames,
middleware lines, command lines, Kafka JSON, captured segments and
WebSocket frames. Run it again after changing a target's input layout."""
import gzip, json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = b"\n\xF0\x9F\x90\xB5\xF0\x9F\x99\x88\xF0\x9F\x99\x89\n"

GET = b"GET /v1/users/42?lang=en HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl\r\nAccept: */*\r\n\r\n"
POST = b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"id\": 42}\r\n\r\n"[:-4]
CHUNKED = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"name\": \"alice\"}"
GZ_BODY = gzip.compress(b'{"items": [1, 2, 3]}', mtime=0)
GZIPPED = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + \
    b"%x\r\n" % len(GZ_BODY) + GZ_BODY + b"\r\n0\r\n\r\n"
RESP_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"


def record(kind, rid, ts, payload, latency=None):
    head = b"%d %s %d" % (kind, rid, ts)
    if latency is not None:
        head += b" %d" % latency
    return head + b"\n" + payload + SEP


def recording():
    out = b""
    out += record(1, b"a" * 24, 1700000000000000000, GET)
    out += record(2, b"a" * 24, 1700000000000100000, OK, 100000)
    out += record(1, b"b" * 24, 1700000000000200000, POST)
    out += record(3, b"b" * 24, 1700000000000300000, OK, 900)
    out += record(1, b"c" * 24, 1700000000000400000, CHUNKED)
    return out


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    rec = recording()
    # gor_records: mode byte (bit 0 gzip, bit 1 capped records, bits 2-7 read size).
    write("gor_records", "plain", bytes([0xF0]) + rec)
    write("gor_records", "plain_small_reads", bytes([0x04]) + rec)
    write("gor_records", "gzip", bytes([0x01]) + rec)
    write("gor_records", "gzip_raw", bytes([0x01]) + gzip.compress(rec, mtime=0))
    write("gor_records", "capped", bytes([0x02]) + rec)
    write("gor_records", "damaged", bytes([0x08]) + rec[:70] + b"garbage\n" + rec[40:])
    # relay_frames: number of cuts, cut lengths, the stream.
    write("relay_frames", "whole", bytes([0]) + rec)
    write("relay_frames", "cut", bytes([4, 7, 60, 1, 200]) + rec)
    # middleware_lines: read buffer size, hex lines.
    lines = b"".join(m.hex().encode() + b"\n" for m in rec.split(SEP) if m)
    write("middleware_lines", "lines", bytes([255]) + lines)
    write("middleware_lines", "small_buffer", bytes([3]) + lines + b"zz\n\n" + lines[:51])
    # argv: NUL-separated arguments.
    for i, argv in enumerate([
        ["--input-raw", ":80", "--output-http", "http://staging", "--http-allow-method", "GET"],
        ["-input-file", "requests.gor|200%", "-output-http=http://a|10", "-output-http-workers", "4",
         "--http-rewrite-url", "/v1/(.*):/v2/$1", "--http-set-header", "X-A: 1"],
        ["--input-tcp", ":28020", "--output-kafka-host", "k:9092", "--output-kafka-topic", "t",
         "--output-kafka-json-format", "--exit-after", "10s", "--stats"],
        ["--input-raw", "eth0:8080", "--input-raw-engine", "af_packet", "--input-raw-track-response",
         "--output-file", "s3://bucket/%Y-%m-%d.gz", "--output-file-size-limit", "32mb"],
        ["file-server", ":8000"],
        ["--help"],
    ]):
        write("argv", f"argv{i}", b"\0".join(a.encode() for a in argv))
    # modifier and prettify: raw messages.
    for name, msg in [("get", GET), ("post", POST), ("chunked", CHUNKED), ("ok", OK),
                      ("gzipped", GZIPPED), ("resp_chunked", RESP_CHUNKED)]:
        write("modifier", name, msg)
        write("prettify", name, msg)
    # kafka_json: messages in GoReplay's JSON format.
    for i, doc in enumerate([
        {"Req_URL": "/v1/users/42", "Req_Type": "1", "Req_ID": "a" * 24, "Req_Ts": "1700000000000000000",
         "Req_Method": "GET", "Req_Headers": {"Host": "h", "Accept": "*/*"}},
        {"Req_URL": "/upload", "Req_Type": "1", "Req_ID": "b" * 24, "Req_Ts": "1",
         "Req_Method": "POST", "Req_Body": "{\"id\": 42}", "Req_Headers": {"Content-Length": "10"}},
        {"Req_URL": "", "Req_Type": "2", "Req_ID": "c" * 24, "Req_Ts": "2", "Req_Method": "HTTP/1.1"},
    ]):
        write("kafka_json", f"doc{i}", json.dumps(doc).encode())
    # capture_segments: mode, then items (see gor::fuzzing::capture_segments).
    def seg(tag, payload, offset=0):
        return bytes([tag, offset & 0xFF]) + struct.pack(">H", len(payload)) + payload
    syn = seg(0x03, b"") + seg(0x02, b"")
    http = syn + seg(0x01, GET) + seg(0x00, OK) + seg(0x01, POST[:30]) + seg(0x01, POST[30:]) + \
        seg(0x00, RESP_CHUNKED) + seg(0x01, CHUNKED) + seg(0x00, GZIPPED) + seg(0x05, b"") + seg(0x04, b"")
    write("capture_segments", "http", bytes([0]) + http)
    write("capture_segments", "reordered", bytes([0]) + syn + seg(0x01, GET[20:], 20) + seg(0x01, GET[:20], -len(GET)) +
          seg(0x00, OK) + bytes([0x7F]))
    write("capture_segments", "binary", bytes([1]) + syn + seg(0x01, b"\x00\x01ping") + seg(0x00, b"\x00\x02pong"))
    write("capture_segments", "incomplete", bytes([2]) + syn + seg(0x11, GET[:40]) + bytes([0x7F]))
    # An Ethernet/IPv4/TCP frame carrying the GET, as a raw frame item.
    tcp = struct.pack(">HHIIBBHHH", 40000, 80, 1, 1, 5 << 4, 0x18, 65535, 0, 0)
    ip_len = 20 + len(tcp) + len(GET)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, 6, 0, bytes([10, 0, 0, 7]), bytes([10, 0, 0, 1]))
    frame = b"\x00" * 12 + b"\x08\x00" + ip + tcp + GET
    write("capture_segments", "ethernet_frame", bytes([0]) + bytes([0x80]) + struct.pack(">H", len(frame)) + frame)
    # ws_frames: mode, then frames (server frames are not masked).
    ping = b"\x89\x04ping"
    text = b"\x81\x05hello"
    close = b"\x88\x02\x03\xe8"
    write("ws_frames", "frames", bytes([1]) + ping + text + close)
    write("ws_frames", "handshake", bytes([0]) + b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")
    write("ws_frames", "url", bytes([3]) + b"wss://user:pass@example.com:8443/path\0" + text)
    # diff_compare: the baseline's length (2 bytes), the baseline, the candidate.
    def pair(a, b):
        return struct.pack(">H", len(a)) + a + b
    json_a = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: x\r\nContent-Length: 52\r\n\r\n{"items": [{"price": 1}, {"price": 2}], "user": "ana"}'[:-0 or None]
    json_b = json_a.replace(b'"price": 2', b'"price": 3')
    write("diff_compare", "json", pair(json_a, json_b))
    write("diff_compare", "gzip_vs_chunked", pair(GZIPPED, RESP_CHUNKED))
    write("diff_compare", "status", pair(OK, OK.replace(b"200 OK", b"500 Internal Server Error")))
    write("diff_compare", "request", pair(OK, GET))


if __name__ == "__main__":
    main()
