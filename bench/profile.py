#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Folds bench/tbprof.c's block counts into instructions per packet per kernel function.

usage: profile.py --count N DIR MODE...
       profile.py --count N --annotate SYMBOL --ko MODULE.ko DIR MODE

DIR holds, per mode, the plugin's output (MODE-N.blocks, MODE-2N.blocks) and the guest's
/proc/kallsyms while the mode's modules were loaded (MODE-N.kallsyms, MODE-2N.kallsyms) of two
runs that differ only in the number of measured packets, N and 2N. Per function, the second
run's instructions minus the first's, over N, is what one packet costs in that function.
Prints one table: each function that costs at least --min instructions per packet in some
mode, with its cost in every mode and the difference between the last two modes.

With --annotate, splits one function of MODULE.ko (rflow's hook, where the whole fast path is
inlined) by the inlined function each instruction comes from, using the module's DWARF
(llvm-symbolizer): per packet, by innermost function, and by the outermost function inlined
below the ones named in --glue.
"""
import argparse
import bisect
import collections
import os
import re
import subprocess
import sys


def load_symbols(path):
    """Sorted text symbol starts and their names ("name [module]")."""
    syms = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[1] not in "tTwW":
                continue
            addr = int(parts[0], 16)
            if addr == 0:
                continue
            name = parts[2]
            if len(parts) > 3:
                name += " " + parts[3]
            syms.append((addr, name))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def executed(blocks_path):
    """(instruction address, executions) for every instruction of every block in tbprof.c's
    output; an address translated in several blocks comes once per block."""
    with open(blocks_path) as f:
        for line in f:
            fields = line.split()
            executions = int(fields[0])
            for addr in fields[1:]:
                yield int(addr, 16), executions


def fold(blocks_path, starts, names):
    per_function = collections.Counter()
    total = 0
    for addr, executions in executed(blocks_path):
        i = bisect.bisect_right(starts, addr) - 1
        per_function[names[i] if i >= 0 else "?"] += executions
        total += executions
    return per_function, total


def symbol_address(path, symbol):
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == symbol:
                return int(parts[0], 16)
    raise SystemExit(f"{symbol} not in {path}")


def annotate(args):
    """Per-packet instructions of --annotate's function, by inlined function."""
    mode = args.modes[0]
    nm = subprocess.run(["nm", "-S", args.ko], capture_output=True, text=True, check=True)
    for line in nm.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == args.annotate:
            ko_start, size = int(parts[0], 16), int(parts[1], 16)
            break
    else:
        raise SystemExit(f"{args.annotate} not in {args.ko}")
    per_offset = []
    for n in (args.count, 2 * args.count):
        base = os.path.join(args.dir, f"{mode}-{n}")
        start = symbol_address(base + ".kallsyms", args.annotate)
        c = collections.Counter()
        for a, executions in executed(base + ".blocks"):
            if start <= a < start + size:
                c[a - start] += executions
        per_offset.append(c)
    first, second = per_offset
    cost = {o: (second[o] - first[o]) / args.count for o in set(first) | set(second)}
    offsets = sorted(o for o, v in cost.items() if v)
    out = subprocess.run(
        ["llvm-symbolizer-14", "--inlines", "--obj=" + args.ko]
        + [hex(ko_start + o) for o in offsets], capture_output=True, text=True, check=True)
    innermost = collections.Counter()
    outermost = collections.Counter()
    glue = re.compile(args.glue)
    for offset, frames in zip(offsets, out.stdout.strip().split("\n\n")):
        lines = frames.splitlines()
        names = [re.sub(r"::\{closure#\d+\}", "", n) for n in lines[0::2]]
        innermost[names[0]] += cost[offset]
        below = [n for n in names if not glue.search(n)]
        outermost[below[-1] if below else "(glue)"] += cost[offset]
    print(f"# {args.annotate} in {mode}: {sum(cost.values()):.1f} instructions per packet")
    for title, table in (("outermost inlined function", outermost),
                         ("innermost inlined function", innermost)):
        print(f"\n| {title} | instructions per packet |\n|---|---|")
        for name, v in sorted(table.items(), key=lambda kv: -kv[1]):
            if abs(v) >= args.min:
                print(f"| {name[:140]} | {v:.1f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--min", type=float, default=5.0)
    ap.add_argument("--annotate", help="a function of --ko to split by inlined function")
    ap.add_argument("--ko", help="the module --annotate's function is in, with its DWARF")
    ap.add_argument("--glue", default=r"ip::forward$|ip::hook$|hook_callback|FlowtableOps>::hook$",
                    help="functions the outermost split looks through (regex)")
    ap.add_argument("dir")
    ap.add_argument("modes", nargs="+")
    args = ap.parse_args()
    if args.annotate:
        annotate(args)
        return
    counts = {}
    for mode in args.modes:
        runs = []
        for n in (args.count, 2 * args.count):
            base = os.path.join(args.dir, f"{mode}-{n}")
            starts, names = load_symbols(base + ".kallsyms")
            runs.append(fold(base + ".blocks", starts, names))
        (first, total1), (second, total2) = runs
        counts[mode] = collections.Counter(
            {f: (second[f] - first[f]) / args.count for f in set(first) | set(second)})
        print(f"# {mode}: {(total2 - total1) / args.count:.1f} kernel instructions per packet",
              file=sys.stderr)
    functions = set()
    for c in counts.values():
        functions.update(f for f, n in c.items() if abs(n) >= args.min)
    last = args.modes[-2:] if len(args.modes) > 1 else None
    header = "| function | " + " | ".join(args.modes)
    header += f" | {last[1]} - {last[0]} |" if last else " |"
    print(header)
    print("|---" * (len(args.modes) + 1 + bool(last)) + "|")

    def key(f):
        return -max(abs(c[f]) for c in counts.values())

    for f in sorted(functions, key=key):
        row = [counts[m][f] for m in args.modes]
        line = f"| {f} | " + " | ".join(f"{v:.1f}" for v in row)
        if last:
            line += f" | {row[-1] - row[-2]:+.1f} |"
        print(line)


if __name__ == "__main__":
    main()
