#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Raw generic netlink requests to rflow's family, for what rflowctl never sends.

    rflow_genl.py bad-input <ufid of a live flow>   hostile requests, one per line of output
    rflow_genl.py eperm                              GET, dump, DEL, FLUSH, STATS without
                                                     CAP_NET_ADMIN
    rflow_genl.py dump-intr <command>                a terse dump running <command> after its
                                                     first message: "messages M interrupted I"
    rflow_genl.py del-ufids <pace>                   DEL of each UFID (hex) read from stdin,
                                                     one every <pace> s: "deleted D gone G bad B"
    rflow_genl.py fuzz <count> <seed> [ufid ...]     random and mutated requests
    rflow_genl.py dump-ufids [terse]                 one dump: "UFID" per line (hex), then
                                                     "# messages M interrupted I"
    rflow_genl.py stats-loop <stop file>             STATS dumps back to back until the file
                                                     exists: "D STATS dumps, L listing
                                                     flowtables"

Every request asks for extended acks. bad-input prints "ok <case>: errno <n> <message>" for a
request refused with the expected errno and a non-empty extack message, "FAIL <case>: ..."
otherwise, and exits 1 if any failed. The fuzzer only counts what it saw: the kernel's verdict
(no splat, no leak) is the test's.
"""

import errno
import os
import random
import socket
import struct
import subprocess
import sys
import time

NETLINK_GENERIC = 16
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
NLM_F_ACK_TLVS = 0x200
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSGERR_ATTR_MSG = 1
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
NLA_F_NESTED = 0x8000

# include/uapi/linux/rflow.h
CMD_GET, CMD_DEL, CMD_FLUSH, CMD_NEW, CMD_HW, CMD_STATS = 1, 2, 3, 4, 5, 6
A_UFID, A_UFID_FLAGS, A_FLOWTABLE = 2, 3, 4
FT_A_FAMILY, FT_A_TABLE, FT_A_NAME = 1, 2, 3


def attr(kind, payload):
    hdr = struct.pack("=HH", 4 + len(payload), kind)
    return hdr + payload + b"\0" * (-len(payload) % 4)


def nest(kind, *attrs):
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


class Genl:
    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sock.setsockopt(270, NETLINK_EXT_ACK, 1)
        self.sock.setsockopt(270, NETLINK_CAP_ACK, 1)
        self.sock.bind((0, 0))
        self.seq = 0
        self.family = self.resolve("rflow")

    def send(self, msg_type, flags, cmd, payload, version=1):
        self.seq += 1
        body = struct.pack("=BBH", cmd, version, 0) + payload
        hdr = struct.pack("=IHHII", 16 + len(body), msg_type, flags, self.seq, 0)
        self.sock.send(hdr + body)
        return self.seq

    def send_raw(self, data):
        self.sock.send(data)

    def replies(self, seq, dump):
        """Yields (type, flags, payload) of the answers to request `seq`, up to its ack or
        error (a do) or its DONE or error (a dump)."""
        while True:
            data = self.sock.recv(1 << 20)
            off = 0
            while off + 16 <= len(data):
                length, kind, flags, mseq, _pid = struct.unpack_from("=IHHII", data, off)
                if length < 16:
                    return
                payload = data[off + 16:off + length]
                off += (length + 3) & ~3
                if mseq != seq:
                    continue
                yield kind, flags, payload
                if kind == NLMSG_ERROR or (dump and kind == NLMSG_DONE):
                    return

    def request(self, cmd, payload, flags=NLM_F_REQUEST | NLM_F_ACK, family=None,
                between=None):
        """Returns (errno, extack message, [genl payloads], interrupted). A dump calls
        `between` once, after its first message and before it reads the next part."""
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        if not dump:
            flags |= NLM_F_ACK
        seq = self.send(self.family if family is None else family, flags, cmd, payload)
        msgs, err, text, intr = [], 0, "", False
        for kind, mflags, payload in self.replies(seq, dump):
            if between and msgs:
                between()
                between = None
            if kind == NLMSG_ERROR:
                err = -struct.unpack_from("=i", payload)[0]
                if mflags & NLM_F_ACK_TLVS:
                    text = ext_ack_message(payload[4 + 16:])
                break
            if kind == NLMSG_DONE:
                if len(payload) >= 4:
                    err = -struct.unpack_from("=i", payload)[0]
                    text = ext_ack_message(payload[4:])
                break
            intr |= bool(mflags & NLM_F_DUMP_INTR)
            msgs.append(payload[4:])
        return err, text, msgs, intr

    def resolve(self, name):
        seq = self.send(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, CTRL_CMD_GETFAMILY,
                        attr(CTRL_ATTR_FAMILY_NAME, name.encode() + b"\0"))
        found = None
        for kind, _flags, payload in self.replies(seq, False):
            if kind == NLMSG_ERROR:
                break
            for akind, value in attrs(payload[4:]):
                if akind == CTRL_ATTR_FAMILY_ID:
                    found = struct.unpack("=H", value[:2])[0]
        if found is None:
            sys.exit(f"no generic netlink family {name}")
        return found


def attrs(data):
    off = 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        if length < 4:
            return
        yield kind & 0x3FFF, data[off + 4:off + length]
        off += (length + 3) & ~3


def ext_ack_message(tlvs):
    for kind, value in attrs(tlvs):
        if kind == NLMSGERR_ATTR_MSG:
            return value.rstrip(b"\0").decode(errors="replace")
    return ""


# A value the attribute policy refuses: EINVAL, or ERANGE for lengths and values out of range.
POLICY = -1
POLICY_ERRNOS = (errno.EINVAL, errno.ERANGE)


def ufid_attr(ufid):
    return attr(A_UFID, ufid)


def bad_input(live_ufid_hex):
    nl = Genl()
    live = bytes.fromhex(live_ufid_hex)
    absent = bytes(16)
    cases = [
        # name, command, payload, expected errno, flags
        ("GET without a UFID", CMD_GET, b"", errno.EINVAL),
        ("GET with a 0-byte UFID", CMD_GET, attr(A_UFID, b""), POLICY),
        ("GET with a 15-byte UFID", CMD_GET, attr(A_UFID, live[:15]), POLICY),
        ("GET with a 17-byte UFID", CMD_GET, attr(A_UFID, live + b"\0"), POLICY),
        ("GET of an unknown UFID", CMD_GET, ufid_attr(absent), errno.ENOENT),
        ("GET with an unknown attribute", CMD_GET, ufid_attr(live) + attr(77, b"\0" * 4),
         errno.EINVAL),
        ("GET with unknown UFID flags", CMD_GET,
         ufid_attr(live) + attr(A_UFID_FLAGS, struct.pack("=I", 0x80)), errno.EINVAL),
        ("GET with a short UFID_FLAGS", CMD_GET,
         ufid_attr(live) + attr(A_UFID_FLAGS, b"\1"), errno.EINVAL),
        ("DEL without a UFID (never a flush)", CMD_DEL, b"", errno.EINVAL),
        ("DEL with a 17-byte UFID (never a flush)", CMD_DEL, attr(A_UFID, live + b"\0"),
         POLICY),
        ("DEL of an unknown UFID", CMD_DEL, ufid_attr(absent), errno.ENOENT),
        ("FLUSH with a flowtable that is not a nest", CMD_FLUSH,
         attr(A_FLOWTABLE, b"inet\0\0\0\0"), errno.EINVAL),
        ("FLUSH with a truncated nested attribute", CMD_FLUSH,
         attr(A_FLOWTABLE | NLA_F_NESTED, struct.pack("=HH", 40, FT_A_NAME) + b"ab\0\0"),
         errno.EINVAL),
        ("FLUSH with an unterminated name", CMD_FLUSH,
         nest(A_FLOWTABLE, attr(FT_A_NAME, b"abcd")), errno.EINVAL),
        ("FLUSH with an over-long table name", CMD_FLUSH,
         nest(A_FLOWTABLE, attr(FT_A_TABLE, b"t" * 300 + b"\0")), errno.EINVAL),
        ("FLUSH with an unknown family", CMD_FLUSH,
         nest(A_FLOWTABLE, attr(FT_A_FAMILY, b"\xff")), POLICY),
        ("NEW (an event)", CMD_NEW, ufid_attr(live), errno.EOPNOTSUPP),
        ("HW (an event)", CMD_HW, ufid_attr(live), errno.EOPNOTSUPP),
        ("an unknown command", 42, ufid_attr(live), errno.EOPNOTSUPP),
    ]
    failed = 0
    for name, cmd, payload, want in cases:
        err, text, _msgs, _intr = nl.request(cmd, payload)
        if want == POLICY and err in POLICY_ERRNOS:
            want = err
        if err == want and text:
            print(f"ok {name}: errno {err} {text}")
        elif err == want and cmd == 42:
            # The genetlink core answers unknown commands itself, without a message.
            print(f"ok {name}: errno {err} (core)")
        else:
            failed += 1
            print(f"FAIL {name}: errno {err} (want {want}), message '{text}'")
    # A dump with a malformed filter is refused before it starts.
    err, text, msgs, _ = nl.request(CMD_GET, nest(A_FLOWTABLE, attr(FT_A_NAME, b"ab")),
                                    NLM_F_REQUEST | NLM_F_DUMP)
    if err == errno.EINVAL and not msgs:
        print(f"ok dump with an unterminated flowtable name: errno {err} {text}")
    else:
        failed += 1
        print(f"FAIL dump with an unterminated flowtable name: errno {err}, {len(msgs)} messages")
    # STATS is a dump: a filter naming no flowtable, or a malformed one, is refused.
    for name, payload, want in [
        ("STATS of a flowtable that does not exist",
         nest(A_FLOWTABLE, attr(FT_A_NAME, b"nosuchft\0")), errno.ENOENT),
        ("STATS with an unterminated flowtable name",
         nest(A_FLOWTABLE, attr(FT_A_NAME, b"ab")), errno.EINVAL),
        ("STATS with an unknown attribute", attr(77, b"\0" * 4), errno.EINVAL),
    ]:
        err, text, msgs, _ = nl.request(CMD_STATS, payload, NLM_F_REQUEST | NLM_F_DUMP)
        if err == want and text and not msgs:
            print(f"ok {name}: errno {err} {text}")
        else:
            failed += 1
            print(f"FAIL {name}: errno {err} (want {want}) '{text}', {len(msgs)} messages")
    # The live flow is still there, untouched.
    err, text, msgs, _ = nl.request(CMD_GET, ufid_attr(live))
    if err == 0 and len(msgs) == 1:
        print("ok the live flow is still there after the hostile requests")
    else:
        failed += 1
        print(f"FAIL the live flow is gone: errno {err} {text}")
    return 1 if failed else 0


def eperm():
    nl = Genl()
    failed = 0
    probes = [
        ("GET", CMD_GET, ufid_attr(bytes(16)), NLM_F_REQUEST | NLM_F_ACK),
        ("dump", CMD_GET, b"", NLM_F_REQUEST | NLM_F_DUMP),
        ("DEL", CMD_DEL, ufid_attr(bytes(16)), NLM_F_REQUEST | NLM_F_ACK),
        ("FLUSH", CMD_FLUSH, b"", NLM_F_REQUEST | NLM_F_ACK),
        ("STATS", CMD_STATS, b"", NLM_F_REQUEST | NLM_F_DUMP),
    ]
    for name, cmd, payload, flags in probes:
        err, text, msgs, _ = nl.request(cmd, payload, flags)
        if err == errno.EPERM and text and not msgs:
            print(f"ok {name} unprivileged: errno {err} {text}")
        else:
            failed += 1
            print(f"FAIL {name} unprivileged: errno {err} '{text}', {len(msgs)} messages")
    return 1 if failed else 0


def dump_ufids(terse):
    nl = Genl()
    payload = attr(A_UFID_FLAGS, struct.pack("=I", 3)) if terse else b""
    err, text, msgs, intr = nl.request(CMD_GET, payload, NLM_F_REQUEST | NLM_F_DUMP)
    if err:
        print(f"dump failed: errno {err} {text}", file=sys.stderr)
        return 1
    for m in msgs:
        for kind, value in attrs(m):
            if kind == A_UFID:
                print(value.hex())
    print(f"# messages {len(msgs)} interrupted {int(intr)}")
    return 0


def dump_intr(command):
    """A terse dump that runs `command` (a shell command) after its first message."""
    nl = Genl()
    payload = attr(A_UFID_FLAGS, struct.pack("=I", 3))
    err, text, msgs, intr = nl.request(CMD_GET, payload, NLM_F_REQUEST | NLM_F_DUMP,
                                       between=lambda: subprocess.run(command, shell=True,
                                                                      check=True))
    if err:
        print(f"dump failed: errno {err} {text}", file=sys.stderr)
        return 1
    print(f"messages {len(msgs)} interrupted {int(intr)}")
    return 0


def del_ufids(pace):
    """DELs of the UFIDs read from stdin (hex), one every `pace` seconds: each is torn down
    (reply with reason user) or already gone (ENOENT with a message); anything else fails."""
    nl = Genl()
    ok = gone = bad = 0
    for line in sys.stdin:
        ufid = bytes.fromhex(line.strip())
        err, text, msgs, _ = nl.request(CMD_DEL, ufid_attr(ufid))
        if err == 0 and len(msgs) == 1:
            ok += 1
        elif err == errno.ENOENT and text:
            gone += 1
        else:
            bad += 1
            print(f"FAIL DEL {ufid.hex()}: errno {err} '{text}', {len(msgs)} messages")
        time.sleep(pace)
    print(f"deleted {ok} gone {gone} bad {bad}")
    return 1 if bad else 0


def stats_loop(stop_file):
    """STATS dumps back to back until `stop_file` exists; any error fails."""
    nl = Genl()
    dumps = listed = 0
    while not os.path.exists(stop_file):
        err, text, msgs, _ = nl.request(CMD_STATS, b"", NLM_F_REQUEST | NLM_F_DUMP)
        if err:
            print(f"FAIL STATS dump {dumps + 1}: errno {err} '{text}'")
            return 1
        dumps += 1
        listed += bool(msgs)
    print(f"{dumps} STATS dumps, {listed} listing flowtables")
    return 0 if listed else 1


def fuzz(count, seed, ufids):
    rnd = random.Random(seed)
    nl = Genl()
    known = [bytes.fromhex(u) for u in ufids] or [bytes(16)]
    seeds = [
        (CMD_GET, ufid_attr(known[0]), NLM_F_REQUEST | NLM_F_ACK),
        (CMD_GET, attr(A_UFID_FLAGS, struct.pack("=I", 3)), NLM_F_REQUEST | NLM_F_DUMP),
        (CMD_GET, nest(A_FLOWTABLE, attr(FT_A_FAMILY, b"\1"), attr(FT_A_TABLE, b"filter\0"),
                       attr(FT_A_NAME, b"f\0")), NLM_F_REQUEST | NLM_F_DUMP),
        (CMD_FLUSH, nest(A_FLOWTABLE, attr(FT_A_NAME, b"nosuchft\0")),
         NLM_F_REQUEST | NLM_F_ACK),
        (CMD_DEL, ufid_attr(bytes(16)), NLM_F_REQUEST | NLM_F_ACK),
        (CMD_STATS, b"", NLM_F_REQUEST | NLM_F_DUMP),
        (CMD_STATS, nest(A_FLOWTABLE, attr(FT_A_FAMILY, b"\1"), attr(FT_A_NAME, b"f\0")),
         NLM_F_REQUEST | NLM_F_DUMP),
    ]
    stats = {}
    for i in range(count):
        cmd, payload, flags = rnd.choice(seeds)
        payload = bytearray(payload)
        choice = rnd.random()
        if choice < 0.4 and payload:
            for _ in range(rnd.randint(1, 4)):
                payload[rnd.randrange(len(payload))] = rnd.randrange(256)
        elif choice < 0.6:
            payload = bytearray(rnd.randbytes(rnd.randint(0, 64)))
        elif choice < 0.75 and payload:
            payload = payload[:rnd.randrange(len(payload))]
        elif choice < 0.85:
            payload += attr(rnd.randrange(1 << 16), rnd.randbytes(rnd.randint(0, 20)))
        # DEL and FLUSH only with payloads that cannot name a live flow or flowtable: the
        # fuzzer must not tear down the flows other checks watch.
        if cmd == CMD_DEL and bytes(known[0]) in bytes(payload):
            cmd = CMD_GET
        if rnd.random() < 0.05:
            cmd = rnd.randrange(256)
            if cmd in (CMD_DEL, CMD_FLUSH):
                cmd = CMD_GET
        if rnd.random() < 0.02:
            # A header that lies about the length, or a bare header.
            body = struct.pack("=BBH", cmd, 1, 0) + bytes(payload)
            length = rnd.choice([0, 8, 16, 19, 16 + len(body) + 8])
            try:
                nl.send_raw(struct.pack("=IHHII", length, nl.family, flags, 0, 0) + body)
            except OSError:
                pass
            nl.sock.settimeout(0.05)
            try:
                while nl.sock.recv(1 << 16):
                    pass
            except (socket.timeout, BlockingIOError, OSError):
                pass
            nl.sock.settimeout(None)
            stats["raw"] = stats.get("raw", 0) + 1
            continue
        err, _text, msgs, _ = nl.request(cmd, bytes(payload), flags)
        key = f"errno {err}" if err else f"ok ({'dump' if flags & NLM_F_DUMP else 'do'})"
        stats[key] = stats.get(key, 0) + 1
    print(f"{count} requests, seed {seed}: " +
          ", ".join(f"{k}: {v}" for k, v in sorted(stats.items())))
    return 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    what = sys.argv[1]
    if what == "bad-input":
        return bad_input(sys.argv[2])
    if what == "eperm":
        return eperm()
    if what == "dump-ufids":
        return dump_ufids(len(sys.argv) > 2 and sys.argv[2] == "terse")
    if what == "dump-intr":
        return dump_intr(sys.argv[2])
    if what == "del-ufids":
        return del_ufids(float(sys.argv[2]))
    if what == "stats-loop":
        return stats_loop(sys.argv[2])
    if what == "fuzz":
        return fuzz(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
