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
# PER=flow: what one more flow costs (its conntrack entry, its creation, its share of the
# GC) instead of one more packet.
PER=${PER:-packet}
case "$PER" in
packet) COUNT=${COUNT:-50000} ;;
flow) COUNT=${COUNT:-2000} ;;
*) die "PER is packet or flow" ;;
esac
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
# warm-up and the harness. With PER=flow, the two runs have $FLOWS and 2 x $FLOWS flows and
# the same $COUNT packets: the difference is what $FLOWS more flows cost, their three warm-up
# packets (conntrack's new entry, the flow's creation, one fast-path packet) and everything
# else that grows with the flows: the GC's passes over them, and the harness's count of the
# offloaded flows (`conntrack -L` for C, ctnetlink's functions; /proc/net/rflow for rflow).
if [ "$PER" = flow ]; then
	step=$FLOWS
else
	step=$COUNT
fi
for mode in $MODES; do
	for n in "$step" $((2 * step)); do
		if [ "$PER" = flow ]; then
			flows=$n count=$COUNT
		else
			flows=$FLOWS count=$n
		fi
		echo "# profiling $mode: $VARIANT, $flows flows, $count packets" >&2
		VM_CPUS=1 VM_MEMORY=${VM_MEMORY:-2G} \
			VM_QEMU_OPTS="-plugin $plugin,out=$out/$mode-$n.blocks" \
			"$ROOT/scripts/vm.sh" --allow-c-flowtable --icount -- \
			env REPS=1 COUNT="$count" FLOWS="$flows" DUMP_FLOWS= MODES="$mode" VARIANT_MODES="$mode" \
			VARIANTS="$VARIANT" RFLOW_KO="$KO" C_FLOW_KO="${C_FLOW_KO:-}" \
			sh -c "bench/bench_vm.sh && cat /proc/kallsyms > '$out/$mode-$n.kallsyms'" |
			tee "$out/$mode-$n.samples"
		[ -s "$out/$mode-$n.blocks" ] || die "no profile written for $mode"
	done
done
python3 "$ROOT/bench/profile.py" --count "$step" "$out" $MODES | tee "$out/profile.txt"
# rflow's fast path is one function (the inet hook, hook_callback::<FlowTable, 2>, with
# everything inlined): split it by inlined function.
if [ "$PER" = packet ] && [[ " $MODES " == *" rflow "* ]]; then
	hook=$(nm "$out/rflow.ko" | grep -o '_R[A-Za-z0-9_]*hook_callback[A-Za-z0-9_]*Kh2_[A-Za-z0-9_]*')
	python3 "$ROOT/bench/profile.py" --count "$step" --min 1 --annotate "$hook" \
		--ko "$out/rflow.ko" "$out" rflow | tee -a "$out/profile.txt"
fi
