#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs every rflow test and ends with "N passed, N failed, N skipped". Exit status 0 only when
# nothing failed and everything ran. Installs what it needs (scripts/setup.sh) and builds both
# kernels if the cache has none (scripts/build-kernel.sh); prints how long each stage took.
#
#   1. build:  rflow.ko for both kernels with clippy, every warning an error; rustfmt; clippy on
#              the host crates, tests included
#   2. host:   cargo test of rust/pure (parsing, hashing, checksums, NAT, the RCU table, flow
#              state, timeouts, admission) and of the frame generator, then a libFuzzer run of
#              the packet parser and rewrite and of the simulated NIC's engine (FUZZ_SECONDS
#              each, default 30: a smoke run that fits CI; FUZZ_SECONDS=3600 for a real one)
#   3. vm:     normal kernel: rflow's selftests, the kernel's own nft_flowtable.sh unchanged, and
#              the kernel features a ruleset may use
#   4. vm:     the control run against the C flowtable, and the hostile-frame comparison of
#              both implementations
#   5. vm:     debug kernel (KASAN, lockdep, kmemleak, fault injection): forwarding, module
#              unload with live flows, device removal, allocation failures, reloads, scale
#              and hostile frames, at CI sizes
#
# The debug kernel builds in the background while stages 1 to 4 run (never two kernel builds
# or two VMs at once). Every VM run ends with the kernel's verdict (no splat, no kmemleak
# report), and a splat or a QEMU crash fails the run with its own message.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

PASS=0
FAIL=0
SKIP=0
STAGES=()
start=$(date +%s)
stage_start=$start
stage_name=

stage() {
	local now
	now=$(date +%s)
	if [ -n "$stage_name" ]; then
		STAGES+=("$(printf '%-44s %4d s' "$stage_name" $((now - stage_start)))")
		log "stage '$stage_name' took $((now - stage_start)) s"
	fi
	stage_name=$1
	stage_start=$now
	[ -n "$1" ] && log "stage '$1'"
}

result() {
	local rc=$1 name=$2
	if [ "$rc" -eq 0 ]; then
		PASS=$((PASS + 1))
		echo "ok - $name"
	else
		FAIL=$((FAIL + 1))
		echo "not ok - $name"
	fi
}

# Adds the per-script summaries ("# x.sh: P passed, F failed, S skipped") of a VM run; a script
# with no summary did not run and counts as one failure. $1 is the VM's output, $2 its exit
# status (86: kernel splat, 87: QEMU crashed), $3 a label.
vm_results() {
	local out=$1 rc=$2 label=$3
	shift 3
	local t line p f s
	case "$rc" in
	86) result 1 "$label: kernel splat in the console log (printed above)" ;;
	87) result 1 "$label: QEMU crashed (infrastructure, printed above)" ;;
	esac
	for t in "$@" kernel; do
		line=$(grep -E "^# $t: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped( \([0-9]+ s\))?$" "$out" | tail -n 1)
		if [ -z "$line" ]; then
			result 1 "$label: $t did not run to completion (see the output above)"
			continue
		fi
		read -r p f s < <(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' <<<"$line")
		PASS=$((PASS + p))
		FAIL=$((FAIL + f))
		SKIP=$((SKIP + s))
	done
}

summary() {
	stage ""
	echo
	echo "stage times:"
	printf '  %s\n' "${STAGES[@]}"
	echo "  total $(($(date +%s) - start)) s"
	echo
	echo "$PASS passed, $FAIL failed, $SKIP skipped"
	[ "$FAIL" -eq 0 ]
	exit $?
}

# Runs the selftest scripts $@ in a VM (options before --) and adds their results.
vm_run() {
	local label=$1
	shift
	local opts=()
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	local out rc
	out=$(mktemp)
	local vars=() tests=()
	for a in "$@"; do
		if [[ $a == *=* ]]; then vars+=("$a"); else tests+=("$a"); fi
	done
	"$RFLOW_ROOT/scripts/vm.sh" "${opts[@]}" -- selftests/run.sh "${vars[@]}" "${tests[@]}" 2>&1 |
		tee "$out"
	rc=${PIPESTATUS[0]}
	vm_results "$out" "$rc" "$label" "${tests[@]}"
	rm -f "$out"
}

stage "setup (apt, cargo, pip)"
"$RFLOW_ROOT/scripts/setup.sh" || { result 1 "setup"; summary; }

stage "normal kernel build"
KDIR=$(RFLOW_KERNEL=normal "$RFLOW_ROOT/scripts/build-kernel.sh") || { result 1 "kernel build"; summary; }
KDIR_DEBUG=$(RFLOW_KERNEL=debug kernel_build_dir)

# The debug kernel builds while the normal kernel's stages run.
debug_log=$(mktemp)
RFLOW_KERNEL=debug "$RFLOW_ROOT/scripts/build-kernel.sh" >"$debug_log" 2>&1 &
debug_build=$!

stage "build and style (normal module, host crates)"
KO=$("$RFLOW_ROOT/scripts/build-module.sh" CLIPPY=1 KRUSTFLAGS=-Dwarnings)
build=$?
result $build "build: rflow.ko (normal kernel) with clippy, no warnings"
rustfmt --check --edition 2021 --config-path "$KDIR/.rustfmt.toml" \
	"$RFLOW_ROOT/rust/rflow_main.rs" "$RFLOW_ROOT/rust/rflow_sim.rs" "$RFLOW_ROOT/rust/pure/src/lib.rs"
result $? "style: rustfmt clean"
(cd "$RFLOW_ROOT/rust/pure" && cargo clippy --quiet --all-targets -- -D warnings)
result $? "style: host crate rust/pure (tests included) clippy clean"
# The frame generator's build output stays out of the tree (the VM sees the cache read-only).
FRAMES_TARGET=$RFLOW_CACHE/frames-target
(cd "$RFLOW_ROOT/selftests/frames" && export CARGO_TARGET_DIR=$FRAMES_TARGET &&
	cargo clippy --quiet --all-targets -- -D warnings && cargo fmt --check &&
	cargo build --quiet --release)
frames=$?
result $frames "build: selftests/frames (the hostile-frame generator), clippy and rustfmt clean"
FRAMES_BIN=$FRAMES_TARGET/release/rflow-frames
RFLOWCTL_TARGET=$RFLOW_CACHE/rflowctl-target
(cd "$RFLOW_ROOT/tools/rflowctl" && export CARGO_TARGET_DIR=$RFLOWCTL_TARGET &&
	cargo clippy --quiet --all-targets -- -D warnings && cargo fmt --check &&
	cargo build --quiet --release)
rflowctl=$?
result $rflowctl "build: tools/rflowctl, clippy and rustfmt clean"
RFLOWCTL_BIN=$RFLOWCTL_TARGET/release/rflowctl
# The XDP programs that call bpf_xdp_flow_lookup() (rflow_xdp.sh), against this kernel's BTF.
XDP_DIR=$("$RFLOW_ROOT/scripts/build-xdp.sh" "$KDIR")
xdp=$?
result $xdp "build: the XDP programs of rflow_xdp.sh (ours and the kernel tree's xdp_flowtable.c)"
# `make install` staged as a distribution would have it: the kernel's modules first, then
# rflow's installation on top, from the builds above (nothing is built again). The control VM
# makes it the guest's module tree (selftests/rflow_install.sh).
INSTALL_ROOT=$RFLOW_CACHE/install-root
rm -rf "$INSTALL_ROOT"
if [ "$build" -eq 0 ] && [ "$rflowctl" -eq 0 ]; then
	mapfile -t KMAKE < <(kernel_make_args)
	install_out=$(
		make -C "$KDIR" "${KMAKE[@]}" INSTALL_MOD_PATH="$INSTALL_ROOT" modules_install 2>&1 &&
		make -C "$RFLOW_ROOT" install KDIR="$KDIR" BUILD_DIR="$(dirname "$KO")" \
			RFLOWCTL_TARGET="$RFLOWCTL_TARGET" DESTDIR="$INSTALL_ROOT" \
			CLIPPY=1 KRUSTFLAGS=-Dwarnings 2>&1
	)
	install_rc=$?
	[ "$install_rc" -eq 0 ] || tail -n 20 <<<"$install_out"
	result $install_rc "install: make install DESTDIR= stages the modules, modprobe.d, rflowctl, man page"
fi
# The family's YAML spec against the kernel's schema for genetlink-legacy specs, the one that
# allows structs (the counters are one, as OVS's; OVS's spec uses it too). The selftests then
# talk to the module through it with the kernel's tools/net/ynl/cli.py.
python3 - "$KDIR/Documentation/netlink/genetlink-legacy.yaml" \
	"$RFLOW_ROOT/Documentation/netlink/specs/rflow.yaml" <<'PY'
import sys, yaml, jsonschema
schema, spec = (yaml.safe_load(open(p)) for p in sys.argv[1:])
jsonschema.validate(spec, schema)
print("rflow.yaml is a valid genetlink-legacy spec")
PY
result $? "style: Documentation/netlink/specs/rflow.yaml validates against the kernel's schema"
python3 - "$RFLOW_ROOT/Documentation/rflow.rst" <<'PY'
import sys, docutils.core
# Warnings are errors, as the kernel's `make htmldocs` wants them gone.
docutils.core.publish_string(open(sys.argv[1]).read(), writer_name="null",
                             settings_overrides={"halt_level": 2, "report_level": 2})
PY
result $? "style: Documentation/rflow.rst is clean reStructuredText"

stage "host tests and fuzzing"
host_out=$(mktemp)
(cd "$RFLOW_ROOT/rust/pure" && cargo test 2>&1) | tee "$host_out"
host_rc=${PIPESTATUS[0]}
(cd "$RFLOW_ROOT/selftests/frames" && CARGO_TARGET_DIR=$FRAMES_TARGET cargo test 2>&1) |
	tee -a "$host_out"
host_rc=$((host_rc | PIPESTATUS[0]))
(cd "$RFLOW_ROOT/tools/rflowctl" && CARGO_TARGET_DIR=$RFLOWCTL_TARGET cargo test 2>&1) |
	tee -a "$host_out"
host_rc=$((host_rc | PIPESTATUS[0]))
read -r hp hf < <(awk '/^test result: / { p += $4; f += $6 } END { print p + 0, f + 0 }' "$host_out")
PASS=$((PASS + ${hp:-0}))
FAIL=$((FAIL + ${hf:-0}))
if [ "$host_rc" -ne 0 ] && [ "${hf:-0}" -eq 0 ]; then
	result 1 "host: cargo test failed to run"
fi
rm -f "$host_out"
# libFuzzer needs a few unstable flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
for target in "packet:packet parser and rewrite" "sim_frame:simulated NIC engine"; do
	(cd "$RFLOW_ROOT/rust/pure" && RUSTC_BOOTSTRAP=1 cargo fuzz run "${target%%:*}" --sanitizer none -- \
		-max_total_time="${FUZZ_SECONDS:-30}" 2>&1 | grep -E '^(Done|#[0-9]+ +DONE)|panicked|SUMMARY')
	result "${PIPESTATUS[0]}" "fuzz: ${target#*:}, ${FUZZ_SECONDS:-30} s without a failure"
done

if [ "$build" -ne 0 ] || [ "$frames" -ne 0 ] || [ "$rflowctl" -ne 0 ] || [ "$xdp" -ne 0 ]; then
	result 1 "vm: selftests not run, the module, the frame generator, rflowctl or the XDP programs did not build"
	kill "$debug_build" 2>/dev/null
	summary
fi
COMMON=(KDIR="$KDIR" RFLOW_FRAMES="$FRAMES_BIN" RFLOWCTL="$RFLOWCTL_BIN" RFLOW_XDP="$XDP_DIR")

# What runs where (see Documentation/testing.md). A cold run on a 2-core machine builds two
# kernels (about 18 and 30 minutes, the second beside the normal kernel's VMs), so the debug
# kernel, ten times slower under TCG, gets what only it can check. The normal kernel carries
# every script and the CI-size scale tests: a table of 100,000 flows that resizes up and down
# through eleven sizes, 30,000 flow creations of churn, 5 reloads, 300,000 hostile frames
# through C and rflow. The debug kernel (KASAN, lockdep, kmemleak, fault injection) runs the
# scripts that exercise memory, locking, RCU, references and allocation failures at sizes that
# take the same paths (the table still grows from 64 to 16,384 buckets and back under
# concurrent listings); the checks of those scripts that only the normal kernel needs to see
# are selected out with CASES_<script> and reported as skipped. `make stress` runs everything
# on the debug kernel at full size.
stage "vm: normal kernel, rflow selftests"
vm_run "vm normal" -- "${COMMON[@]}" RFLOW_KO="$KO" \
	FLOWS="${CI_FLOWS:-100000}" CHURN="${CI_CHURN:-30000}" CYCLES="${CI_CYCLES:-5}" SIZE=1000000 \
	rflow_forward.sh rflow_lifecycle.sh rflow_parity.sh rflow_removal.sh kernel_features.sh \
	nft_flowtable_upstream.sh rflow_scale.sh rflow_churn.sh rflow_reload.sh rflow_hw_offload.sh \
	rflow_netlink.sh rflow_xdp.sh

stage "vm: normal kernel, control run against C"
vm_run "vm control" --allow-c-flowtable -- "${COMMON[@]}" RFLOW_KO="$KO" \
	HOSTILE_COMPARE=1 FRAMES="${CI_HOSTILE_FRAMES:-300000}" HW_COMPARE=1 TEST_TIMEOUT=1800 \
	XDP_COMPARE=1 INSTALL_ROOT="$INSTALL_ROOT" control.sh rflow_hostile.sh rflow_hw_offload.sh \
	rflow_xdp.sh rflow_install.sh

stage "debug kernel build (waiting for the background build)"
if ! wait "$debug_build"; then
	tail -n 30 "$debug_log"
	result 1 "debug kernel build"
	summary
fi
rm -f "$debug_log"
KO_DEBUG=$("$RFLOW_ROOT/scripts/build-module.sh" --debug CLIPPY=1 KRUSTFLAGS=-Dwarnings)
result $? "build: rflow.ko (debug kernel) with clippy, no warnings"

stage "vm: debug kernel, rflow selftests, scale, faults, hostile frames"
VM_MEMORY=${CI_DEBUG_MEMORY:-4G} vm_run "vm debug" --debug -- "${COMMON[@]}" \
	KDIR="$KDIR_DEBUG" RFLOW_KO="$KO_DEBUG" TIME_SCALE=4 SIZE=200000 \
	FLOWS="${CI_DEBUG_FLOWS:-10000}" CYCLES="${CI_DEBUG_CYCLES:-1}" \
	FRAMES="${CI_DEBUG_FRAMES:-10000}" FAULT_TUPLES=1000 TEST_TIMEOUT=1800 \
	FUZZ_REQUESTS="${CI_DEBUG_FUZZ:-5000}" CHURN_FLOWS=1024 DUMP_ROUNDS=2 YNL_CHECK=0 \
	"CASES_rflow_forward=tcp ipv4|udp ipv6|rflow is" \
	"CASES_rflow_lifecycle=rflow is|module unloads" \
	"CASES_rflow_removal=rflow is|vlan .* idle|pppoe .* bridge .* idle|no flow" \
	"CASES_rflow_hw_offload=binds each|bypasses|deleting the flowtable|failed DESTROYs|slow driver|indirect driver|random bind|best-effort|unloads|still the flowtable" \
	"CASES_rflow_netlink=^(list|per-direction|del|DELs|flush|watch|another|hostile|without|stats|dumps|netlink fuzzer|rflow is)" \
	rflow_forward.sh rflow_lifecycle.sh rflow_removal.sh rflow_faults.sh rflow_reload.sh \
	rflow_scale.sh rflow_hostile.sh rflow_hw_offload.sh rflow_netlink.sh

summary
