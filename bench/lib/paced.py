"""A paced HTTP client: GET requests at a steady rate over keep-alive
connections, each answer read before the connection is used again.

    python3 paced.py PORT RATE SECONDS [CONNECTIONS]

Requests are sent at evenly spaced times (RATE a second); a request that
falls behind its time is sent at once, so a slow moment is caught up
rather than lost. Prints the number of requests answered.
"""
import socket
import sys
import time

port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
conns = int(sys.argv[4]) if len(sys.argv) > 4 else 8

socks = []
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    socks.append(s)

total = int(rate * seconds)
request = b"GET /paced HTTP/1.1\r\nHost: bench\r\nUser-Agent: paced\r\n\r\n"
start = time.monotonic()
answered = 0
for i in range(total):
    due = start + i / rate
    wait = due - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    s = socks[i % conns]
    s.sendall(request)
    got = b""
    # nginx answers with a Content-Length; the body ends the answer.
    while not got.endswith(b"hello from nginx\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    answered += got.endswith(b"hello from nginx\n")
for s in socks:
    s.close()
print(answered)
