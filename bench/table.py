#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarises bench_vm.sh samples: median instructions per packet per mode and flow count,
the cost above the drop floor, and rflow / C flowtable above the floor, one table per variant
(ipv4, ipv6, nat, counter, vlan) and a summary of the ratios; for the hardware modes on
rflow_sim (cflow-hw, rflow-hw), instructions per packet and hardware setup rates; the cost of
listing flows (dump_cost.py) and of GETs by UFID.

Measurement lines may end with variant=<variant>; lines without one (files from before the
variants) are ipv4."""

import statistics
import sys
from collections import defaultdict

MODES = ["drop", "route", "classic", "cflow", "rflow"]
VARIANTS = ["ipv4", "ipv6", "nat", "counter", "vlan"]
# What each variant forwards, for its table's title.
WHAT = {
    "ipv4": "64-byte UDP packet",
    "ipv6": "78-byte IPv6 UDP packet",
    "nat": "64-byte UDP packet (with a UDP checksum), masqueraded by the router",
    "counter": "64-byte UDP packet, flowtable with the `counter` flag",
    "vlan": "64-byte 802.1Q-tagged UDP packet (the router's ingress is a VLAN device)",
}
# Per variant: (mode, flows) -> values. `samples`, `setup`, ... below are the ipv4 ones.
by_variant = defaultdict(lambda: defaultdict(list))
setup_v = defaultdict(lambda: defaultdict(list))
memory_v = defaultdict(lambda: defaultdict(list))
resize_v = defaultdict(lambda: defaultdict(list))
hwsetup = defaultdict(list)
dumps = {}
gets = {}
for line in open(sys.argv[1]):
    f = line.split()
    # Result files end with this script's own tables: only sample lines have a count third.
    if len(f) < 4 or not f[2].isdigit():
        continue
    variant = "ipv4"
    for word in f[3:]:
        if word.startswith("variant="):
            variant = word[len("variant="):]
    if f[0] == "sample":
        by_variant[variant][(f[1], int(f[2]))].append(int(f[4]))
    elif f[0] == "setup":
        setup_v[variant][(f[1], int(f[2]))].append(int(f[4]))
    elif f[0] == "memory":
        memory_v[variant][(f[1], int(f[2]))].append(int(f[4]))
    elif f[0] == "hwsetup" and variant == "ipv4":
        hwsetup[(f[1], int(f[2]))].append(int(f[4]))
    elif f[0] == "dump" and len(f) >= 5:
        dumps[(f[1], int(f[2]))] = (int(f[3]), int(f[4]))
    elif f[0] == "get":
        gets[int(f[1])] = int(f[2])
    elif f[0] == "resize" and len(f) > 3 and f[3].isdigit():
        resize_v[variant][int(f[1])].append(int(f[3]))

samples = by_variant["ipv4"]
setup = setup_v["ipv4"]
memory = memory_v["ipv4"]
resize = resize_v["ipv4"]
# The variants in the file, in their usual order, unknown ones last.
variants = [v for v in VARIANTS if by_variant.get(v)]
variants += sorted(v for v in by_variant if v not in VARIANTS and by_variant[v])
several = variants != ["ipv4"] and len(variants) > 0


def med(d, k):
    return statistics.median(d[k]) if d.get(k) else None


def above_ratio(d, n):
    """rflow / C above the floor at n flows, or None."""
    r, c, fl = med(d, ("rflow", n)), med(d, ("cflow", n)), med(d, ("drop", n))
    if None in (r, c, fl) or c == fl:
        return None
    return (r - fl) / (c - fl)


for v in variants or ["ipv4"]:
    d = by_variant[v]
    vflows = sorted({k[1] for k in d})
    print()
    title = f"guest instructions per forwarded {WHAT.get(v, 'packet')}"
    if v != "ipv4" or several:
        title = f"variant {v}: " + title
    print(title + " (median of repetitions; spread = max-min)")
    print()
    print("| flows | " + " | ".join(MODES) + " | rflow / C above floor |")
    print("|---|" + "---|" * len(MODES) + "---|")
    for n in vflows:
        meds = {m: statistics.median(d[(m, n)]) for m in MODES if d.get((m, n))}
        cells = []
        for m in MODES:
            if m not in meds:
                cells.append("-")
                continue
            s = d[(m, n)]
            cell = f"{meds[m]:.0f} (±{(max(s) - min(s)) / 2:.0f})"
            if m != "drop" and "drop" in meds:
                cell += f" [+{meds[m] - meds['drop']:.0f}]"
            cells.append(cell)
        r = above_ratio(d, n)
        ratio = "-" if r is None else f"{r:.3f}"
        print(f"| {n} | " + " | ".join(cells) + f" | {ratio} |")
    print()
    if v == "ipv4":
        print("[+N] = cost above the drop floor (pktgen, veth and receive are in the floor).")
    else:
        print(f"[+N] = cost above variant {v}'s own drop floor.")

if several:
    all_flows = sorted({k[1] for v in variants for k in by_variant[v]})
    print()
    print("rflow / C flowtable, cost above each variant's own drop floor (medians), per variant")
    print("and number of flows")
    print()
    print("| variant | " + " | ".join(str(n) for n in all_flows) + " |")
    print("|---|" + "---|" * len(all_flows))
    for v in variants:
        cells = []
        for n in all_flows:
            r = above_ratio(by_variant[v], n)
            cells.append("-" if r is None else f"{r:.3f}")
        print(f"| {v} | " + " | ".join(cells) + " |")

flows = sorted({k[1] for k in samples})

one = {m: med(samples, (m, min(flows))) for m in ("drop", "cflow", "rflow")} if flows else {}
print()
print(("variant ipv4: " if several else "")
      + "scale: cost above the floor at each size / at the smallest size")
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

# With several variants, the setup, memory and resize tables get a variant column.
sv = variants if several else ["ipv4"]
vcol, vsep = ("| variant ", "---|") if several else ("", "")


def vcell(v):
    return f"| {v} " if several else ""


print()
print("flow setup: guest instructions per packet of the pass that offloads every flow (slow path")
print("plus flow creation), and flows set up per second of guest time")
print()
print(vcol + "| flows | cflow (C) | rflow | rflow / C | C flows/s | rflow flows/s |")
print("|" + vsep + "---|---|---|---|---|---|")
for v in sv:
    for n in sorted({k[1] for k in by_variant[v]}):
        c, r = med(setup_v[v], ("cflow", n)), med(setup_v[v], ("rflow", n))
        if c is None or r is None:
            continue
        print(vcell(v) + f"| {n} | {c:.0f} | {r:.0f} | {r / c:.3f} | {1e9 / c:,.0f} | "
              f"{1e9 / r:,.0f} |")

print()
print("memory per flow: slab + vmalloc growth while the flows were created, per flow (bytes)")
print()
print(vcol + "| flows | cflow (C) | rflow | rflow / C |")
print("|" + vsep + "---|---|---|---|")
for v in sv:
    for n in sorted({k[1] for k in by_variant[v]}):
        c, r = med(memory_v[v], ("cflow", n)), med(memory_v[v], ("rflow", n))
        if c is None or r is None:
            continue
        # With one flow the growth is within a slab page either way (0, or a page): no ratio.
        ratio = f"{r / c:.2f}" if n > 1 and c > 0 else "-"
        print(vcell(v) + f"| {n} | {c:.0f} | {r:.0f} | {ratio} |")

print()
print("longest time one of rflow's resizes held the table's writer lock (inserts waited),")
print("in guest microseconds (= thousands of instructions)")
print()
print(vcol + "| flows | max over the repetitions |")
print("|" + vsep + "---|---|")
for v in sv:
    for n in sorted({k[1] for k in by_variant[v]}):
        if resize_v[v].get(n):
            print(vcell(v) + f"| {n} | {max(resize_v[v][n])} |")

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
