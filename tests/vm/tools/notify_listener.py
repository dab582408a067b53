#!/usr/bin/env python3
"""Stand-in for systemd's notification socket. Binds a datagram socket at
PATH, waits (up to 30 s) for READY=1, then at once pings the control socket
SOCK the way mdadm does and reports whether it answered:
    READY pid=<MAINPID> ping=ok|failed
usage: notify_listener.py PATH SOCK"""
import os, socket, struct, sys

START, END = 0x5A5AA5A5, 0xA5A55A5A
path, sock_path = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
rx.bind(path)
rx.settimeout(30)
print("listening", flush=True)
while True:
    msg = rx.recv(4096).decode(errors="replace")
    fields = dict(l.split("=", 1) for l in msg.split("\n") if "=" in l)
    if fields.get("READY") == "1":
        break
ping = "failed"
try:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(sock_path)
    c.sendall(struct.pack("=Ii", START, 0) + struct.pack("=I", END))
    reply = c.recv(8)
    if len(reply) >= 4 and struct.unpack("=I", reply[:4])[0] == START:
        ping = "ok"
except OSError as e:
    ping = "failed(%s)" % e
print("READY pid=%s ping=%s" % (fields.get("MAINPID", "?"), ping), flush=True)
