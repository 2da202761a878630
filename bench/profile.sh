#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Where the per-packet instructions go, function by function: the icount benchmark
# (bench/bench_vm.sh, $VARIANT, $FLOWS flows, $COUNT packets) once per mode ($MODES, default
# "cflow rflow"), each in its own VM booted with bench/tbprof.c, a QEMU plugin that counts every
# kernel instruction executed. The guest's /proc/kallsyms, taken while the mode's modules are
# still loaded, maps the addresses to functions; bench/profile.py prints, per function, the
# instructions executed per measured packet for each mode, and the difference, then splits
# rflow's hook, where the whole fast path is inlined, by inlined function (the module's DWARF).
# bench/stages.sh gives the cost of each stage of rflow's fast path; this says which functions
# it is spent in, for rflow and C alike.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/lib.sh"

MODES=${MODES:-"cflow rflow"}
FLOWS=${FLOWS:-1024}
COUNT=${COUNT:-50000}
VARIANT=${VARIANT:-ipv4}
"$ROOT/scripts/setup.sh"
KO=${RFLOW_KO:-$("$ROOT/scripts/build-module.sh")}
out=${PROFILE_OUT:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)-profile}
mkdir -p "$out"
# The module as profiled, with its DWARF, for --annotate.
cp "$KO" "$out/rflow.ko"
plugin=$out/tbprof.so
cc -O2 -shared -fPIC -fvisibility=hidden -o "$plugin" "$ROOT/bench/tbprof.c" -lpthread

# Each mode runs twice, with $COUNT and with 2 x $COUNT measured packets: under -icount both
# boots execute the same instructions but for the extra $COUNT packets, so the difference of
# the two profiles is exactly what $COUNT fast-path packets cost, without the boot, the
# warm-up and the harness.
for mode in $MODES; do
	for n in "$COUNT" $((2 * COUNT)); do
		echo "# profiling $mode: $VARIANT, $FLOWS flows, $n packets" >&2
		VM_CPUS=1 VM_MEMORY=${VM_MEMORY:-2G} \
			VM_QEMU_OPTS="-plugin $plugin,out=$out/$mode-$n.blocks" \
			"$ROOT/scripts/vm.sh" --allow-c-flowtable --icount -- \
			env REPS=1 COUNT="$n" FLOWS="$FLOWS" DUMP_FLOWS= MODES="$mode" \
			VARIANTS="$VARIANT" RFLOW_KO="$KO" C_FLOW_KO="${C_FLOW_KO:-}" \
			sh -c "bench/bench_vm.sh && cat /proc/kallsyms > '$out/$mode-$n.kallsyms'" |
			tee "$out/$mode-$n.samples"
		[ -s "$out/$mode-$n.blocks" ] || die "no profile written for $mode"
	done
done
python3 "$ROOT/bench/profile.py" --count "$COUNT" "$out" $MODES | tee "$out/profile.txt"
# rflow's fast path is one function (the inet hook, hook_callback::<FlowTable, 2>, with
# everything inlined): split it by inlined function.
if [[ " $MODES " == *" rflow "* ]]; then
	hook=$(nm "$out/rflow.ko" | grep -o '_R[A-Za-z0-9_]*hook_callback[A-Za-z0-9_]*Kh2_[A-Za-z0-9_]*')
	python3 "$ROOT/bench/profile.py" --count "$COUNT" --min 1 --annotate "$hook" \
		--ko "$out/rflow.ko" "$out" rflow | tee -a "$out/profile.txt"
fi
