#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Two TCP connections on the same tuple, for rflow's CLOSING/reopen test.

    tcp_reopen.py server <address> <port> <bytes>
    tcp_reopen.py client <address> <port> <source port> <bytes> <marker file> <pause>

The client connects twice from the same source port, each time sending <bytes> (in two halves
a second apart, so the second connection lives long enough to be offloaded again) and waiting
for the server to close. The server closes first, so the client's port is free at once, and
checks it received the right data. Between the connections the client creates <marker file>
and waits <pause> seconds.
"""

import hashlib
import socket
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def payload(n, size):
    block = hashlib.sha256(b"conn%d" % n).digest()
    return (block * (size // len(block) + 1))[:size]


def server(addr, port, size):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    s.settimeout(60)
    for n in (1, 2):
        c, _ = s.accept()
        got = b""
        while len(got) < size:
            chunk = c.recv(65536)
            if not chunk:
                break
            got += chunk
        c.close()
        if got != payload(n, size):
            print(f"connection {n}: got {len(got)} bytes, not the data sent", file=sys.stderr)
            return 1
    return 0


def client(addr, port, sport, size, marker, pause):
    for n in (1, 2):
        s = socket.socket(family(addr), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::" if ":" in addr else "0.0.0.0", sport))
        s.connect((addr, port))
        data = payload(n, size)
        s.sendall(data[: size // 2])
        time.sleep(1)
        s.sendall(data[size // 2 :])
        s.settimeout(30)
        if s.recv(1) != b"":
            print("server sent data", file=sys.stderr)
            return 1
        s.close()
        if n == 1:
            open(marker, "w").close()
            time.sleep(pause)
    return 0


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "server":
        sys.exit(server(a[2], int(a[3]), int(a[4])))
    sys.exit(client(a[2], int(a[3]), int(a[4]), int(a[5]), a[6], float(a[7])))
