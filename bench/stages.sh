#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Where rflow's per-packet instructions go: the icount benchmark (bench/bench_vm.sh, plain
# IPv4, $FLOWS flows) with rflow built once normally and once per stage of the fast path with
# `--cfg rflow_stage_twice="<stage>"` (rust/ip.rs), which runs that stage a second time and
# discards the result. Under -icount a guest nanosecond is one instruction, so a variant's
# extra cost over the normal build is exactly what one run of the stage executes; what the
# stages leave of the cost above the drop floor is the transmit and the hook's glue. The
# normal run also measures the C flowtable, for the totals.
#
# Stages: link (ethertype, VLAN/PPPoE), parse (IP and L4 headers, the key), lookup (hash and
# table walk, teardown and conntrack checks), checks (MTU, TCP state, route cookie), rewrite
# (checksum handling, TTL/NAT rewrite, encapsulation pop), account (refresh, counters); csum is
# the part of parse that verifies the IPv4 header checksum (rflow does, C does not).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/lib.sh"

STAGES=${STAGES-"link parse csum lookup checks rewrite account"}
# The C flowtable's IPv4 path has no link stage of its own (the inet hook's switch on the
# ethertype is part of the glue).
C_STAGES=${C_STAGES-"parse lookup checks rewrite account"}
FLOWS=${FLOWS:-1024}
"$ROOT/scripts/setup.sh"
KDIR=$("$ROOT/scripts/build-kernel.sh")
mapfile -t MAKE_ARGS < <(kernel_make_args)
mkdir -p "$ROOT/bench/results"
raw=$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)-stages.txt

build_variant() {
	local name=$1
	shift
	RFLOW_MODULE_DIR=$RFLOW_CACHE/module/stage-$name "$ROOT/scripts/build-module.sh" "$@"
}

# The C flowtable's nf_flow_table.ko built from the kernel tree, with stage $1 doubled (none:
# as is, to check that this build costs what the kernel's own does).
build_c_variant() {
	local out=$RFLOW_CACHE/module/cstage-$1
	python3 "$ROOT/bench/cstages.py" "$KDIR" "$out"
	make -C "$KDIR" M="$out" "${MAKE_ARGS[@]}" RFLOW_STAGE_CFLAGS="-DSTAGE_$1" modules >&2
	echo "$out/nf_flow_table.ko"
}

# Runs the benchmark's $2 modes with rflow $1 (and nf_flow_table.ko $4, if given), labelling
# the samples $3.
run_vm() {
	local ko=$1 modes=$2 label=$3 cko=${4:-}
	VM_CPUS=1 VM_MEMORY=${VM_MEMORY:-2G} "$ROOT/scripts/vm.sh" --allow-c-flowtable --icount -- \
		env REPS="${REPS:-3}" COUNT="${COUNT:-20000}" FLOWS="$FLOWS" DUMP_FLOWS= \
		MODES="$modes" VARIANTS=ipv4 RFLOW_KO="$ko" C_FLOW_KO="$cko" bench/bench_vm.sh |
		sed "s/^sample /sample-$label /"
}

rflow_ko=$(build_variant none)
{
	run_vm "$rflow_ko" "drop cflow rflow" none "$(build_c_variant none)"
	# The kernel's own nf_flow_table.ko: the copy above must cost the same.
	run_vm "$rflow_ko" cflow intree
	for st in $C_STAGES; do
		run_vm "$rflow_ko" cflow "c-$st" "$(build_c_variant "$st")"
	done
	for st in $STAGES; do
		# make puts the value into a shell command: the quotes rustc needs are escaped.
		run_vm "$(build_variant "$st" "KRUSTFLAGS=--cfg rflow_stage_twice=\\\"$st\\\"")" rflow "$st"
	done
} | tee "$raw"
python3 - "$raw" <<'PY' | tee -a "$raw"
import collections, statistics, sys
v = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if f and f[0].startswith("sample-"):
        v[(f[0][7:], f[1])].append(int(f[4]))
med = {k: statistics.median(x) for k, x in v.items()}
floor, c, r = med[("none", "drop")], med[("none", "cflow")], med[("none", "rflow")]
print()
print(f"drop floor {floor:.0f}; above it: C {c - floor:.0f} (nf_flow_table.ko built by"
      f" bench/cstages.py; the kernel's own: {med[('intree', 'cflow')] - floor:.0f}),"
      f" rflow {r - floor:.0f}: rflow / C {(r - floor) / (c - floor):.3f}")
print()
print("| stage | C | rflow | rflow - C |")
print("|---|---|---|---|")
c_left, r_left = c - floor, r - floor
for st in ("link", "parse", "csum", "lookup", "checks", "rewrite", "account"):
    cc = med[(f"c-{st}", "cflow")] - c if (f"c-{st}", "cflow") in med else None
    rc = med[(st, "rflow")] - r if (st, "rflow") in med else None
    if st != "csum":  # part of parse
        c_left -= cc or 0
        r_left -= rc or 0
    fmt = lambda x: "-" if x is None else f"{x:.0f}"
    diff = "-" if cc is None or rc is None else f"{rc - cc:+.0f}"
    print(f"| {st} | {fmt(cc)} | {fmt(rc)} | {diff} |")
print(f"| transmit and glue (the rest) | {c_left:.0f} | {r_left:.0f} | {r_left - c_left:+.0f} |")
print(f"| above the drop floor | {c - floor:.0f} | {r - floor:.0f} | {r - c:+.0f} |")
PY
