#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarises bench_vm.sh samples: median instructions per packet per mode and flow count,
the cost above the drop floor, and rflow / C flowtable above the floor; for the hardware
modes on rflow_sim (cflow-hw, rflow-hw), instructions per packet and hardware setup rates;
the cost of listing flows (dump_cost.py) and of GETs by UFID."""

import statistics
import sys
from collections import defaultdict

MODES = ["drop", "route", "classic", "cflow", "rflow"]
samples = defaultdict(list)
setup = defaultdict(list)
memory = defaultdict(list)
resize = defaultdict(list)
hwsetup = defaultdict(list)
dumps = {}
gets = {}
for line in open(sys.argv[1]):
    f = line.split()
    # Result files end with this script's own tables: only sample lines have a count third.
    if len(f) < 4 or not f[2].isdigit():
        continue
    if f[0] == "sample":
        samples[(f[1], int(f[2]))].append(int(f[4]))
    elif f[0] == "setup":
        setup[(f[1], int(f[2]))].append(int(f[4]))
    elif f[0] == "memory":
        memory[(f[1], int(f[2]))].append(int(f[4]))
    elif f[0] == "hwsetup":
        hwsetup[(f[1], int(f[2]))].append(int(f[4]))
    elif f[0] == "dump" and len(f) >= 5:
        dumps[(f[1], int(f[2]))] = (int(f[3]), int(f[4]))
    elif f[0] == "get":
        gets[int(f[1])] = int(f[2])
    elif f[0] == "resize" and len(f) > 3 and f[3].isdigit():
        resize[int(f[1])].append(int(f[3]))

flows = sorted({k[1] for k in samples})
print()
print("guest instructions per forwarded 64-byte UDP packet (median of repetitions; spread = max-min)")
print()
print("| flows | " + " | ".join(MODES) + " | rflow / C above floor |")
print("|---|" + "---|" * len(MODES) + "---|")
for n in flows:
    med = {m: statistics.median(samples[(m, n)]) for m in MODES if samples[(m, n)]}
    cells = []
    for m in MODES:
        if m not in med:
            cells.append("-")
            continue
        s = samples[(m, n)]
        cell = f"{med[m]:.0f} (±{(max(s) - min(s)) / 2:.0f})"
        if m != "drop" and "drop" in med:
            cell += f" [+{med[m] - med['drop']:.0f}]"
        cells.append(cell)
    ratio = "-"
    if {"drop", "cflow", "rflow"} <= med.keys():
        ratio = f"{(med['rflow'] - med['drop']) / (med['cflow'] - med['drop']):.3f}"
    print(f"| {n} | " + " | ".join(cells) + f" | {ratio} |")
print()
print("[+N] = cost above the drop floor (pktgen, veth and receive are in the floor).")


def med(d, k):
    return statistics.median(d[k]) if d.get(k) else None


one = {m: med(samples, (m, min(flows))) for m in ("drop", "cflow", "rflow")} if flows else {}
print()
print("scale: cost above the floor at each size / at the smallest size")
print()
print("| flows | cflow (C) | rflow |")
print("|---|---|---|")
for n in flows:
    cells = []
    for m in ("cflow", "rflow"):
        v, d, base = med(samples, (m, n)), med(samples, ("drop", n)), one.get(m)
        if None in (v, d, base, one.get("drop")):
            cells.append("-")
        else:
            cells.append(f"{(v - d) / (base - one['drop']):.3f}")
    print(f"| {n} | " + " | ".join(cells) + " |")

print()
print("flow setup: guest instructions per packet of the pass that offloads every flow (slow path")
print("plus flow creation), and flows set up per second of guest time")
print()
print("| flows | cflow (C) | rflow | rflow / C | C flows/s | rflow flows/s |")
print("|---|---|---|---|---|---|")
for n in flows:
    c, r = med(setup, ("cflow", n)), med(setup, ("rflow", n))
    if c is None or r is None:
        continue
    print(f"| {n} | {c:.0f} | {r:.0f} | {r / c:.3f} | {1e9 / c:,.0f} | {1e9 / r:,.0f} |")

print()
print("memory per flow: slab + vmalloc growth while the flows were created, per flow (bytes)")
print()
print("| flows | cflow (C) | rflow | rflow / C |")
print("|---|---|---|---|")
for n in flows:
    c, r = med(memory, ("cflow", n)), med(memory, ("rflow", n))
    if c is None or r is None:
        continue
    print(f"| {n} | {c:.0f} | {r:.0f} | {r / c:.2f} |")

print()
print("longest time one of rflow's resizes held the table's writer lock (inserts waited),")
print("in guest microseconds (= thousands of instructions)")
print()
print("| flows | max over the repetitions |")
print("|---|---|")
for n in flows:
    if resize.get(n):
        print(f"| {n} | {max(resize[n])} |")

HW = ("cflow-hw", "rflow-hw")
hw_flows = sorted({k[1] for k in list(samples) + list(hwsetup) if k[0] in HW})
if hw_flows:

    def spread(d, k, sep=""):
        v = d[k]
        return f"{statistics.median(v):{sep}.0f} (±{(max(v) - min(v)) / 2:{sep}.0f})"

    def ratio(d, k_r, k_c):
        r, c = med(d, k_r), med(d, k_c)
        return "-" if r is None or c is None else f"{r / c:.3f}"

    print()
    print("hardware offload on rflow_sim: guest instructions per forwarded packet with the flow in")
    print("the simulated hardware (median, ± half-range), and hardware setup: flows per second of")
    print("guest time from the start of the pass that creates the flows until the ASIC holds both")
    print("directions of every flow")
    print()
    print("| flows | cflow-hw (C) | rflow-hw | rflow-hw / cflow-hw | C setup flows/s | "
          "rflow setup flows/s | rflow / C setup rate |")
    print("|---|---|---|---|---|---|---|")
    for n in hw_flows:
        cells = [spread(d, (m, n)) if d.get((m, n)) else "-"
                 for d, m in ((samples, "cflow-hw"), (samples, "rflow-hw"))]
        cells.append(ratio(samples, ("rflow-hw", n), ("cflow-hw", n)))
        cells += [spread(hwsetup, (m, n), ",") if hwsetup.get((m, n)) else "-" for m in HW]
        cells.append(ratio(hwsetup, ("rflow-hw", n), ("cflow-hw", n)))
        print(f"| {n} | " + " | ".join(cells) + " |")

dump_flows = sorted({k[1] for k in dumps})
if dump_flows:
    KINDS = ["rflow-terse", "rflow-full", "ctnetlink", "conntrack-L"]
    print()
    print("listing flows: guest instructions per flow / bytes per flow, rflow's terse and full dumps,")
    print("conntrack's dump of the same connections (kernel side of `conntrack -L`), and the whole")
    print("`conntrack -L` (process, formatting and output included; bytes of text)")
    print()
    print("| flows | " + " | ".join(KINDS) + " | terse / full time | full / terse bytes |")
    print("|---|" + "---|" * len(KINDS) + "---|---|")
    for n in dump_flows:
        cells = [f"{dumps[(k, n)][0]:,} / {dumps[(k, n)][1]}" if (k, n) in dumps else "-"
                 for k in KINDS]
        t, f = dumps.get(("rflow-terse", n)), dumps.get(("rflow-full", n))
        extra = ["-", "-"]
        if t and f:
            extra = [f"{t[0] / f[0]:.2f}", f"{f[1] / t[1]:.2f}"]
        print(f"| {n} | " + " | ".join(cells + extra) + " |")
    if gets:
        print()
        print("GET by UFID: guest instructions per request (send, lookup, reply, receive)")
        print()
        print("| flows | instructions per GET |")
        print("|---|---|")
        for n in sorted(gets):
            print(f"| {n} | {gets[n]:,} |")
