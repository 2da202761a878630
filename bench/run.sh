#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark: boots one VM (1 vCPU, instruction counting) and measures the cost per forwarded
# 64-byte UDP packet of every mode at 1, 1024 and 16384 flows (bench/bench_vm.sh), then prints
# the table: guest instructions per packet, cost above the drop floor, and rflow / C flowtable.
# Raw samples go to bench/results/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/lib.sh"

"$ROOT/scripts/setup.sh"
KDIR=$("$ROOT/scripts/build-kernel.sh")
mapfile -t MAKE_ARGS < <(kernel_make_args)
make -s -C "$KDIR" M="$ROOT" "${MAKE_ARGS[@]}" modules

mkdir -p "$ROOT/bench/results"
raw=$ROOT/bench/results/$(date +%Y%m%d-%H%M%S).txt
VM_CPUS=1 "$ROOT/scripts/vm.sh" --allow-c-flowtable --icount -- \
	env REPS="${REPS:-5}" COUNT="${COUNT:-40000}" FLOWS="${FLOWS:-1 1024 16384}" \
	MODES="${MODES:-drop route classic cflow rflow}" \
	bench/bench_vm.sh | tee "$raw"
grep -q '^sample ' "$raw" || die "no samples (see $raw)"
"$ROOT/bench/table.py" "$raw" | tee -a "$raw"
if grep -q '^error ' "$raw"; then
	die "some measurements lost packets (see $raw)"
fi
