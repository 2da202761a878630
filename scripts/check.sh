#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs every rflow test and ends with "N passed, N failed, N skipped". Exit status 0 only when
# nothing failed and everything ran. Installs what it needs (scripts/setup.sh) and builds the
# kernel if the cache has none (scripts/build-kernel.sh).
#
#   1. build: rflow.ko with clippy, every rustc/clippy warning an error; rustfmt clean;
#             clippy clean host crate, tests included
#   2. host:  cargo test of rust/pure (parsing, keys, hashing, checksums, NAT), and a
#             libFuzzer run of the packet parser and rewrite (FUZZ_SECONDS, default 60)
#   3. vm:    the selftests against rflow, C flowtable modules blocked on the command line,
#             including the kernel's own nft_flowtable.sh, unchanged
#   4. vm:    the control run against the C flowtable, in a second VM
set -uo pipefail
source "$(dirname "$0")/lib.sh"

PASS=0
FAIL=0
SKIP=0

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
# with no summary did not run and counts as one failure.
vm_results() {
	local out=$1
	shift
	local t line p f s
	for t in "$@"; do
		line=$(grep -E "^# $t: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$" "$out" | tail -n 1)
		if [ -z "$line" ]; then
			result 1 "vm: $t did not run to completion (see the output above)"
			continue
		fi
		read -r p f s < <(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/' <<<"$line")
		PASS=$((PASS + p))
		FAIL=$((FAIL + f))
		SKIP=$((SKIP + s))
	done
}

summary() {
	echo
	echo "$PASS passed, $FAIL failed, $SKIP skipped"
	[ "$FAIL" -eq 0 ]
	exit $?
}

start=$(date +%s)
"$RFLOW_ROOT/scripts/setup.sh" || { result 1 "setup"; summary; }
KDIR=$("$RFLOW_ROOT/scripts/build-kernel.sh") || { result 1 "kernel build"; summary; }
mapfile -t MAKE_ARGS < <(kernel_make_args)

# 1. Build and style.
log "building rflow.ko (clippy, warnings are errors)"
make -s -C "$KDIR" M="$RFLOW_ROOT" "${MAKE_ARGS[@]}" clean >/dev/null 2>&1
make -C "$KDIR" M="$RFLOW_ROOT" "${MAKE_ARGS[@]}" CLIPPY=1 KRUSTFLAGS=-Dwarnings modules
build=$?
result $build "build: rflow.ko with clippy, no warnings"
rustfmt --check --edition 2021 --config-path "$KDIR/.rustfmt.toml" \
	"$RFLOW_ROOT/rust/rflow_main.rs" "$RFLOW_ROOT/rust/pure/src/lib.rs"
result $? "style: rustfmt clean"
(cd "$RFLOW_ROOT/rust/pure" && cargo clippy --all-targets -- -D warnings)
result $? "style: host crate (tests included) clippy clean"

# 2. Host unit tests.
log "host unit tests (rust/pure)"
host_out=$(mktemp)
(cd "$RFLOW_ROOT/rust/pure" && cargo test 2>&1) | tee "$host_out"
host_rc=${PIPESTATUS[0]}
read -r hp hf < <(awk '/^test result: / { p += $4; f += $6 } END { print p + 0, f + 0 }' "$host_out")
PASS=$((PASS + ${hp:-0}))
FAIL=$((FAIL + ${hf:-0}))
if [ "$host_rc" -ne 0 ] && [ "${hf:-0}" -eq 0 ]; then
	result 1 "host: cargo test failed to run"
fi
rm -f "$host_out"

# libFuzzer needs a few unstable flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
log "fuzzing the packet parser and rewrite for ${FUZZ_SECONDS:-60} s"
(cd "$RFLOW_ROOT/rust/pure" && RUSTC_BOOTSTRAP=1 cargo fuzz run packet --sanitizer none -- \
	-max_total_time="${FUZZ_SECONDS:-60}" 2>&1 | grep -E '^(Done|#[0-9]+ +DONE)|panicked|SUMMARY')
result "${PIPESTATUS[0]}" "fuzz: packet parser and rewrite, ${FUZZ_SECONDS:-60} s without a failure"

if [ "$build" -ne 0 ]; then
	result 1 "vm: selftests not run, the module did not build"
	summary
fi

# 3. Selftests against rflow.
TESTS=(rflow_forward.sh rflow_lifecycle.sh rflow_parity.sh nft_flowtable_upstream.sh)
log "VM selftests against rflow: ${TESTS[*]}"
vm_out=$(mktemp)
"$RFLOW_ROOT/scripts/vm.sh" -- selftests/run.sh KDIR="$KDIR" "${TESTS[@]}" 2>&1 | tee "$vm_out"
vm_results "$vm_out" "${TESTS[@]}"

# 4. Control run against the C flowtable.
log "VM control run against the C flowtable"
"$RFLOW_ROOT/scripts/vm.sh" --allow-c-flowtable -- selftests/run.sh KDIR="$KDIR" control.sh 2>&1 |
	tee "$vm_out"
vm_results "$vm_out" control.sh
rm -f "$vm_out"

log "all tests took $(($(date +%s) - start)) s"
summary
