#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What listing flows costs, run in the benchmark VM's router namespace (bench/bench_vm.sh)
once it holds <flows> offloaded flows (and conntrack their connections):

    dump_cost.py <flows>

Under QEMU's -icount shift=0 a guest nanosecond is one guest instruction, so the times below
count instructions. Each dump is timed from its request to its NLMSG_DONE, userspace doing no
more than receiving into one buffer (the kernel builds the messages inside recvmsg(), in this
process), and repeated until it covered 100,000 flows or took 2 s of guest time. Prints

    dump <kind> <flows> <ns per flow> <bytes per flow> <messages> <dumps>

for kind rflow-terse (UFID and counters only), rflow-full (everything rflowctl shows) and
ctnetlink (the conntrack table's dump, the kernel side of `conntrack -L`, which is how users
find offloaded flows today); then "dump conntrack-L <flows> <ns per flow> ..." for the whole
`conntrack -L` process, output formatting included, and

    get <flows> <ns per request> <requests>

for GET requests by UFID of flows picked at random (the request, the lookup and the reply).
"""

import gc
import os
import random
import socket
import struct
import subprocess
import sys
import time

# The attribute helpers of the selftests' raw client.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "selftests"))
from rflow_genl import attr, attrs  # noqa: E402

NETLINK_NETFILTER = 12
NETLINK_GENERIC = 16
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 0x10, 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 2
RFLOW_CMD_GET, RFLOW_A_UFID, RFLOW_A_UFID_FLAGS = 1, 2, 3
RFLOW_UFID_F_TERSE = 3  # OMIT_KEY | OMIT_ACTIONS
# ctnetlink: (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET
CT_GET = (1 << 8) | 1
BUF = bytearray(1 << 20)


class Socket:
    def __init__(self, proto):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 0))
        self.seq = 0

    def send(self, msg_type, flags, body):
        self.seq += 1
        self.sock.send(struct.pack("=IHHII", 16 + len(body), msg_type, flags, self.seq, 0) + body)

    def messages(self):
        """Yields (type, payload) up to and including NLMSG_DONE or NLMSG_ERROR (parsed)."""
        while True:
            n = self.sock.recv_into(BUF)
            off = 0
            while off + 16 <= n:
                length, kind = struct.unpack_from("=IH", BUF, off)
                yield kind, bytes(BUF[off + 16:off + length])
                if kind in (NLMSG_DONE, NLMSG_ERROR):
                    return
                off += (length + 3) & ~3

    def timed_dump(self, msg_type, body):
        """One dump, received without parsing: returns (ns, bytes, messages)."""
        t0 = time.perf_counter_ns()
        self.send(msg_type, NLM_F_REQUEST | NLM_F_DUMP, body)
        total = parts = 0
        while True:
            n = self.sock.recv_into(BUF)
            total += n
            parts += 1
            # The dump's last part ends with NLMSG_DONE: 16 bytes of header and an errno of 0.
            if n >= 20 and struct.unpack_from("=IHHIIi", BUF, n - 20)[:2] == (20, NLMSG_DONE):
                break
            if n >= 16 and struct.unpack_from("=IH", BUF, 0)[1] == NLMSG_ERROR:
                sys.exit(f"dump refused: {struct.unpack_from('=i', BUF, 16)[0]}")
        return time.perf_counter_ns() - t0, total, parts


def genl_family(nl, name):
    body = struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0) + attr(CTRL_ATTR_FAMILY_NAME,
                                                                 name.encode() + b"\0")
    nl.send(GENL_ID_CTRL, NLM_F_REQUEST, body)
    for kind, payload in nl.messages():
        if kind == NLMSG_ERROR:
            sys.exit(f"no family {name}")
        for akind, value in attrs(payload[4:]):
            if akind == CTRL_ATTR_FAMILY_ID:
                return struct.unpack_from("=H", value)[0]
    sys.exit(f"no family {name}")


def measure(flows, kind, dump):
    # Warm (caches, the socket's buffers), and the cost of one dump: the repetitions stop at
    # 100,000 flows or 2 s of guest time (conntrack walks every bucket of its hash table, a
    # million here, whatever the number of entries).
    first, _, _ = dump()
    reps = max(1, min(-(-100000 // max(flows, 1)), 2_000_000_000 // max(first, 1)))
    ns = total = parts = 0
    for _ in range(reps):
        t, b, p = dump()
        ns, total, parts = ns + t, total + b, parts + p
    print(f"dump {kind} {flows} {ns // (reps * flows)} {total // (reps * flows)} "
          f"{parts // reps} {reps}", flush=True)


def main():
    flows = int(sys.argv[1])
    nl = Socket(NETLINK_GENERIC)
    family = genl_family(nl, "rflow")
    terse = struct.pack("=BBH", RFLOW_CMD_GET, 1, 0) + attr(
        RFLOW_A_UFID_FLAGS, struct.pack("=I", RFLOW_UFID_F_TERSE))
    full = struct.pack("=BBH", RFLOW_CMD_GET, 1, 0)
    measure(flows, "rflow-terse", lambda: nl.timed_dump(family, terse))
    measure(flows, "rflow-full", lambda: nl.timed_dump(family, full))

    ct = Socket(NETLINK_NETFILTER)
    # struct nfgenmsg: AF_UNSPEC (every family), version 0, resource id 0.
    measure(flows, "ctnetlink", lambda: ct.timed_dump(CT_GET, struct.pack("=BBH", 0, 0, 0)))
    t0 = time.perf_counter_ns()
    out = subprocess.run(["conntrack", "-L"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         check=False).stdout
    print(f"dump conntrack-L {flows} {(time.perf_counter_ns() - t0) // flows} "
          f"{len(out) // flows} - 1", flush=True)

    # The UFIDs, from one terse dump.
    ufids = []
    nl.send(family, NLM_F_REQUEST | NLM_F_DUMP, terse)
    for kind, payload in nl.messages():
        if kind == NLMSG_DONE:
            break
        for akind, value in attrs(payload[4:]):
            if akind == RFLOW_A_UFID:
                ufids.append(value)
    if len(ufids) < flows:
        sys.exit(f"the dump listed {len(ufids)} flows, not {flows}")
    rnd = random.Random(1)
    picks = [rnd.choice(ufids) for _ in range(2000)]
    requests = [struct.pack("=BBH", RFLOW_CMD_GET, 1, 0) + attr(RFLOW_A_UFID, u) for u in picks]
    # Python's collector would walk the million UFIDs now and then inside the timed loop.
    del ufids
    gc.collect()
    gc.disable()
    t0 = time.perf_counter_ns()
    for body in requests:
        nl.send(family, NLM_F_REQUEST, body)
        n = nl.sock.recv_into(BUF)
        if n >= 16 and struct.unpack_from("=IH", BUF, 0)[1] == NLMSG_ERROR:
            sys.exit(f"GET failed: {struct.unpack_from('=i', BUF, 16)[0]}")
    print(f"get {flows} {(time.perf_counter_ns() - t0) // len(requests)} {len(requests)}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
