#!/usr/bin/env python3
"""Measures what slow and idle clients do to a real `bgerase serve` (docs/security.md).

Usage: scripts/measure_hostile_clients.py [BINARY] [extra serve flags...]

Starts the server on a free loopback port with a fresh --data folder, then for each scenario
prints how long a new client waits for GET /v2/health (or how long the server takes to close a
trickling client). Prints figures only; the tests in tests/api/hostile_clients_test.cpp assert
the behaviour.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../build/bgerase")
extra = sys.argv[2:]
work = tempfile.mkdtemp(prefix="bgerase-measure-")
log_path = os.path.join(work, "serve.log")
log = open(log_path, "w")
proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data",
                         os.path.join(work, "data"), "--quiet", *extra],
                        stdout=subprocess.DEVNULL, stderr=log)
port = 0
for _ in range(600):
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", open(log_path).read())
    if m:
        port = int(m.group(1))
        break
    time.sleep(0.1)
assert port, open(log_path).read()


def health(timeout=60.0):
    """Seconds until GET /v2/health is answered on a fresh connection, and its status."""
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    try:
        s.sendall(b"GET /v2/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.recv(4096)
        status = data.split(b" ")[1].decode() if data else "closed"
    except socket.timeout:
        status = "timeout"
    finally:
        s.close()
    return time.monotonic() - start, status


for _ in range(1200):
    if health()[1] == "200":
        break
    time.sleep(0.1)


def sockets(n, first_bytes):
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        if first_bytes:
            s.sendall(first_bytes)
        out.append(s)
    time.sleep(0.3)
    return out


print(f"binary: {binary} {' '.join(extra)}")
print(f"baseline health: {health()[0] * 1000:.1f} ms")
for n, what, first in [(20, "partial request lines", b"GET /v2/hea"),
                       (200, "idle connections", b"")]:
    held = sockets(n, first)
    took, status = health(timeout=60)
    print(f"{n} {what}: health answered {status} after {took:.2f} s")
    for s in held:
        s.close()
    time.sleep(0.5)

# 500 connections opened as fast as one thread can: the slowest connect (a full accept queue
# drops SYNs, which clients retry after a second).
slowest = 0.0
burst = []
for _ in range(500):
    t = time.monotonic()
    burst.append(socket.create_connection(("127.0.0.1", port), timeout=30))
    slowest = max(slowest, time.monotonic() - t)
took, status = health(timeout=60)
print(f"500 connections at once: slowest connect {slowest * 1000:.1f} ms; "
      f"health then answered {status} after {took:.2f} s")
for s_ in burst:
    s_.close()
time.sleep(0.5)

# A byte a second of headers: how long until the server closes it.
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /v2/health HTTP/1.1\r\nHost: x\r\n")
start = time.monotonic()
closed_after = None
s.settimeout(1.0)
while time.monotonic() - start < 150:
    try:
        s.sendall(b"a")
        if s.recv(4096) == b"":
            closed_after = time.monotonic() - start
            break
        closed_after = time.monotonic() - start  # got an answer (408) then EOF next
        break
    except socket.timeout:
        continue
    except (BrokenPipeError, ConnectionResetError):
        closed_after = time.monotonic() - start
        break
s.close()
print("byte-a-second header trickler: " +
      (f"closed after {closed_after:.1f} s" if closed_after else "still open after 150 s"))

# A POST without Content-Length on a small route (the sign-in form): how long until it is answered.
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(60)
start = time.monotonic()
s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n")
try:
    data = s.recv(4096)
    print(f"POST without a length: answered {data.split(b' ')[1].decode() if data else 'closed'} "
          f"after {time.monotonic() - start:.2f} s")
except socket.timeout:
    print("POST without a length: no answer in 60 s")
s.close()

proc.send_signal(signal.SIGTERM)
proc.wait(timeout=120)
shutil.rmtree(work)
