#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""UDP echo over one fixed 5-tuple, for tests that watch a single flow over time.

    udp_pinger.py server <bind address> <port>
    udp_pinger.py client <server address> <port> <source port> <count> <interval seconds>

The server echoes every datagram until killed. The client sends <count> numbered datagrams
from <source port>, one every <interval>, each carrying a 400-byte pattern, and waits up to a
second for each echo, which must come back unchanged and from the address and port it was sent
to (with DNAT, the reply's source is rewritten back). It prints "sent N echoed M" (and how many
came from elsewhere) and exits 0 only if every datagram came back intact (a flow forwarded
wrongly in either direction, or a payload corrupted by a rewrite, fails it).
"""

import socket
import struct
import sys
import time

PAD = bytes(range(256)) + bytes(range(144))


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def server(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        msg, peer = s.recvfrom(65536)
        s.sendto(msg, peer)


def client(addr, port, sport, count, interval):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if family(addr) == socket.AF_INET6 else "0.0.0.0", sport))
    s.settimeout(1.0)
    want = (socket.inet_pton(family(addr), addr), port)
    echoed = 0
    elsewhere = 0
    for seq in range(count):
        msg = struct.pack("!I", seq) + PAD
        s.sendto(msg, (addr, port))
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                got, peer = s.recvfrom(65536)
            except socket.timeout:
                break
            if (socket.inet_pton(family(addr), peer[0]), peer[1]) != want:
                elsewhere += 1
                continue
            if got == msg:
                echoed += 1
                break
        time.sleep(interval)
    print(f"sent {count} echoed {echoed}" + (f" from elsewhere {elsewhere}" if elsewhere else ""))
    return 0 if echoed == count else 1


def main(argv):
    if len(argv) == 4 and argv[1] == "server":
        return server(argv[2], int(argv[3]))
    if len(argv) == 7 and argv[1] == "client":
        return client(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), float(argv[6]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
