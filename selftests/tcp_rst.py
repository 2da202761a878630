#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""TCP client that ends its connection with a reset, for rflow's teardown tests.

    tcp_rst.py <server address> <port> <bytes> <seconds>

Connects, sends <bytes>, keeps the connection open <seconds> (so the flow can be inspected
while offloaded), then closes with SO_LINGER 0, which sends RST instead of FIN.
"""

import socket
import struct
import sys
import time

addr, port, size, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.connect((addr, port))
s.sendall(b"x" * size)
time.sleep(hold)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
