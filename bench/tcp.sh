#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# TCP throughput through the router (bench/tcp_vm.sh): iperf3, parallel streams, GRO/GSO/TSO
# on, 2 vCPUs under TCG, rflow against the C flowtable, the classic path and plain routing,
# interleaved in one boot. Prints the median, the spread (min-max) and the ratios; raw samples
# go to bench/results/<date>-tcp.txt. ROUNDS, STREAMS and SECONDS_PER_RUN tune it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/lib.sh"

"$ROOT/scripts/setup.sh"
KO=$("$ROOT/scripts/build-module.sh")
mkdir -p "$ROOT/bench/results"
raw=$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)-tcp.txt
VM_CPUS=${VM_CPUS:-2} VM_MEMORY=${VM_MEMORY:-2G} "$ROOT/scripts/vm.sh" --allow-c-flowtable -- \
	env ROUNDS="${ROUNDS:-5}" STREAMS="${STREAMS:-4}" SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}" \
	RFLOW_KO="$KO" bench/tcp_vm.sh | tee "$raw"
python3 - "$raw" <<'PY' | tee -a "$raw"
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if f and f[0] == "tcp":
        runs[f[1]].append(int(f[3]) / 1e6)
if not runs:
    sys.exit("no samples")
print()
print("| mode | runs | median Mbit/s | min | max |")
print("|---|---|---|---|---|")
med = {}
for mode in ("route", "classic", "cflow", "rflow"):
    if mode in runs:
        v = runs[mode]
        med[mode] = statistics.median(v)
        print(f"| {mode} | {len(v)} | {med[mode]:.0f} | {min(v):.0f} | {max(v):.0f} |")
print()
for a, b in (("rflow", "cflow"), ("rflow", "classic"), ("cflow", "classic"), ("rflow", "route")):
    if a in med and b in med:
        print(f"{a} / {b} (medians): {med[a] / med[b]:.3f}")
PY
if grep -q '^error ' "$raw"; then
	die "some runs failed or did not offload (see $raw)"
fi
