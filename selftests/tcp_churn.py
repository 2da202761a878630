#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Many short TCP connections, for rflow's churn test.

    tcp_churn.py server <address> <port>
    tcp_churn.py client <address> <port> <connections> <bytes>

Each client connection sends <bytes> of a payload derived from its number, half, a pause long
enough for the flowtable to offload it, then the rest, and closes; the server replies with the
SHA-256 of what it received, which the client checks. Exit status 0 means every connection
delivered its data intact. The server runs until killed.
"""

import hashlib
import socket
import sys
import threading
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def payload(n, size):
    block = hashlib.sha256(b"churn%d" % n).digest()
    return (block * (size // len(block) + 1))[:size]


def serve_one(conn):
    with conn:
        h = hashlib.sha256()
        while True:
            data = conn.recv(65536)
            if not data:
                break
            h.update(data)
        conn.sendall(h.digest())


def server(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(128)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve_one, args=(conn,), daemon=True).start()


def client(addr, port, count, size):
    bad = 0
    for n in range(count):
        data = payload(n, size)
        with socket.create_connection((addr, port), timeout=30) as c:
            c.sendall(data[: size // 2])
            time.sleep(0.05)
            c.sendall(data[size // 2 :])
            c.shutdown(socket.SHUT_WR)
            got = b""
            while len(got) < 32:
                chunk = c.recv(32 - len(got))
                if not chunk:
                    break
                got += chunk
        if got != hashlib.sha256(data).digest():
            bad += 1
            print("connection %d: data corrupted" % n, file=sys.stderr)
    print("%d connections, %d corrupted" % (count, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
