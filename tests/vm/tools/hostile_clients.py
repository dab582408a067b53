#!/usr/bin/env python3
"""Hostile clients for mdmon's control socket: garbage, stalled, half-sent,
huge and negative lengths, many at once, a client that never reads. Runs for
SECONDS seconds, then closes everything. usage: hostile_clients.py SOCK SECONDS"""
import os, socket, struct, sys, time

START, END = 0x5A5AA5A5, 0xA5A55A5A
sock_path, seconds = sys.argv[1], float(sys.argv[2])
held = []

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(sock_path)
    return s

def frame(length, payload=b""):
    return struct.pack("=Ii", START, length) + payload + struct.pack("=I", END)

deadline = time.time() + seconds
rounds = 0
while time.time() < deadline:
    rounds += 1
    try:
        # Garbage.
        s = conn(); s.sendall(os.urandom(64)); held.append(s)
        # Connect and send nothing.
        held.append(conn())
        # Half a message: header only.
        s = conn(); s.sendall(struct.pack("=Ii", START, 100)); held.append(s)
        # Huge and negative lengths.
        s = conn(); s.sendall(struct.pack("=Ii", START, 0x7FFFFFFF)); held.append(s)
        s = conn(); s.sendall(struct.pack("=Ii", START, -5)); held.append(s)
        # Garbage update payload with a valid frame.
        s = conn(); s.sendall(frame(12, os.urandom(12))); held.append(s)
        # A ping whose reply is never read, then many pings queued.
        s = conn(); s.sendall(frame(0) * 50); held.append(s)
        # Many clients at once.
        for _ in range(20):
            try:
                held.append(conn())
            except OSError:
                break
    except OSError:
        pass
    # Keep the number of open sockets bounded.
    while len(held) > 200:
        held.pop(0).close()
    time.sleep(0.05)
for s in held:
    s.close()
print(f"hostile clients: {rounds} rounds")
