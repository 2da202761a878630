#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark: boots one VM (1 vCPU, instruction counting) and measures the cost per forwarded
# 64-byte UDP packet of every mode at 1, 1024, 16384 and 1,000,000 flows (bench/bench_vm.sh),
# the cost of setting flows up, memory per flow and how long rflow's resizes block inserts,
# then prints the tables: guest instructions per packet, cost above the drop floor, and
# rflow / C flowtable.
# Raw samples go to bench/results/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/lib.sh"

"$ROOT/scripts/setup.sh"
KO=$("$ROOT/scripts/build-module.sh")

mkdir -p "$ROOT/bench/results"
raw=$ROOT/bench/results/$(date +%Y%m%d-%H%M%S).txt
VM_CPUS=1 VM_MEMORY=${VM_MEMORY:-6G} "$ROOT/scripts/vm.sh" --allow-c-flowtable --icount -- \
	env REPS="${REPS:-5}" COUNT="${COUNT:-40000}" FLOWS="${FLOWS:-1 1024 16384 1000000}" \
	MODES="${MODES:-drop route classic cflow rflow}" BIG_MODES="${BIG_MODES:-drop cflow rflow}" \
	BIG_REPS="${BIG_REPS:-2}" RFLOW_KO="$KO" \
	bench/bench_vm.sh | tee "$raw"
grep -q '^sample ' "$raw" || die "no samples (see $raw)"
"$ROOT/bench/table.py" "$raw" | tee -a "$raw"
if grep -q '^error ' "$raw"; then
	die "some measurements lost packets (see $raw)"
fi
