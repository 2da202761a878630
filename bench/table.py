#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarises bench_vm.sh samples: median instructions per packet per mode and flow count,
the cost above the drop floor, and rflow / C flowtable above the floor."""

import statistics
import sys
from collections import defaultdict

MODES = ["drop", "route", "classic", "cflow", "rflow"]
samples = defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if f and f[0] == "sample":
        samples[(f[1], int(f[2]))].append(int(f[4]))

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
