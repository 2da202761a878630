#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reliable UDP file transfer for rflow's selftests.

The client sends a file in numbered datagrams; the server echoes each one back, so both
directions of the UDP flow carry the data. The client checks every echo, retransmits on
timeout (stop and wait), and at the end compares the SHA-256 the server computed over what it
received with its own. Exit status 0 means both directions delivered the file intact.

    udp_xfer.py server <bind address> <port>
    udp_xfer.py client <server address> <port> <file>

With RFLOW_IP_OPTIONS=1 in the environment, every IPv4 datagram carries IP options (four NOPs),
which the flowtable must leave to the classic path. With RFLOW_UDP_NO_CHECK=1, IPv4 datagrams
are sent without a UDP checksum (0), which NAT must leave alone.
"""

import hashlib
import os
import socket
import struct
import sys

CHUNK = 1200
HDR = struct.Struct("!IB")  # sequence number, kind
DATA, DONE = 0, 1
SO_NO_CHECK = 11  # <asm-generic/socket.h>; Python does not export it


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def udp_socket(addr):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    if os.environ.get("RFLOW_IP_OPTIONS") == "1" and family(addr) == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, bytes([1, 1, 1, 1]))
    if os.environ.get("RFLOW_UDP_NO_CHECK") == "1" and family(addr) == socket.AF_INET:
        s.setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
    return s


def server(addr, port):
    s = udp_socket(addr)
    s.bind((addr, port))
    s.settimeout(60)
    received = {}
    while True:
        msg, peer = s.recvfrom(65536)
        seq, kind = HDR.unpack_from(msg)
        if kind == DATA:
            received.setdefault(seq, msg[HDR.size:])
            s.sendto(msg, peer)
        else:
            digest = hashlib.sha256(b"".join(received[i] for i in range(seq))).digest()
            for _ in range(5):
                s.sendto(HDR.pack(seq, DONE) + digest, peer)
            return 0


def client(addr, port, path):
    data = open(path, "rb").read()
    chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
    s = udp_socket(addr)
    s.connect((addr, port))
    s.settimeout(0.5)
    for seq, chunk in enumerate(chunks):
        msg = HDR.pack(seq, DATA) + chunk
        for _ in range(40):
            s.send(msg)
            try:
                while True:
                    echo = s.recv(65536)
                    if echo == msg:
                        break
            except socket.timeout:
                continue
            break
        else:
            print(f"no echo for datagram {seq}", file=sys.stderr)
            return 1
    want = hashlib.sha256(data).digest()
    for _ in range(40):
        s.send(HDR.pack(len(chunks), DONE))
        try:
            reply = s.recv(65536)
        except socket.timeout:
            continue
        seq, kind = HDR.unpack_from(reply)
        if kind == DONE:
            if reply[HDR.size:] != want:
                print("server received different data", file=sys.stderr)
                return 1
            return 0
    print("no final digest from server", file=sys.stderr)
    return 1


if __name__ == "__main__":
    if sys.argv[1] == "server":
        sys.exit(server(sys.argv[2], int(sys.argv[3])))
    sys.exit(client(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
