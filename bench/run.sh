#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark: boots one VM (1 vCPU, instruction counting) and measures the cost per forwarded
# 64-byte UDP packet of every mode at 1, 1024, 16384 and 1,000,000 flows (bench/bench_vm.sh),
# the cost of setting flows up, memory per flow and how long rflow's resizes block inserts,
# then prints the tables: guest instructions per packet, cost above the drop floor, and
# rflow / C flowtable. The hardware modes (cflow-hw, rflow-hw: `flags offload` on rflow_sim,
# the simulated offload NIC) run at the flow counts up to HW_MAX_FLOWS (4096; rflow_sim's
# table takes 8192 entries, two per flow), so at 1 and 1024 by default: instructions per packet
# forwarded by the simulated hardware, and flows per second of guest time set up in it. Then
# the cost of listing flows (rflow's terse and full dumps, conntrack's) and of GETs by UFID,
# at DUMP_FLOWS (1, 1024, 100,000 and 1,000,000). FLOWS= or DUMP_FLOWS= (empty) skips a part.
# VARIANTS (default "ipv4 ipv6 nat counter vlan") repeats the per-packet comparison on IPv6, with
# NAT, with the flowtable's `counter` flag and through a VLAN device, each with its own drop
# floor: variants other than ipv4 run VARIANT_MODES (drop cflow rflow) up to VARIANT_MAX_FLOWS
# (16384) flows; VARIANTS=ipv4 is the benchmark of earlier runs.
# Raw samples go to bench/results/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/lib.sh"

"$ROOT/scripts/setup.sh"
KO=$("$ROOT/scripts/build-module.sh")

mkdir -p "$ROOT/bench/results"
raw=$ROOT/bench/results/$(date +%Y%m%d-%H%M%S).txt
VM_CPUS=1 VM_MEMORY=${VM_MEMORY:-6G} "$ROOT/scripts/vm.sh" --allow-c-flowtable --icount -- \
	env REPS="${REPS:-5}" COUNT="${COUNT:-40000}" FLOWS="${FLOWS-1 1024 16384 1000000}" \
	DUMP_FLOWS="${DUMP_FLOWS-1 1024 100000 1000000}" \
	MODES="${MODES:-drop route classic cflow rflow cflow-hw rflow-hw}" \
	BIG_MODES="${BIG_MODES:-drop cflow rflow}" BIG_REPS="${BIG_REPS:-2}" \
	HW_MAX_FLOWS="${HW_MAX_FLOWS:-4096}" RFLOW_KO="$KO" \
	VARIANTS="${VARIANTS:-ipv4 ipv6 nat counter vlan}" \
	VARIANT_MODES="${VARIANT_MODES:-drop cflow rflow}" \
	VARIANT_MAX_FLOWS="${VARIANT_MAX_FLOWS:-16384}" \
	bench/bench_vm.sh | tee "$raw"
grep -qE '^(sample|dump) ' "$raw" || die "no samples (see $raw)"
"$ROOT/bench/table.py" "$raw" | tee -a "$raw"
if grep -q '^error ' "$raw"; then
	die "some measurements failed: lost packets, packets off the fast path, conntrack's" \
		"counters, or missed or never reached the hardware (see $raw)"
fi
