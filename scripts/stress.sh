#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The stress tests at full size, on the debug kernel: every rflow selftest with none of its
# checks selected out (make check skips some on the debug kernel), then one flowtable with
# 1,000,000 concurrent flows, 100,000 flow creations and teardowns of churn, 50 module reloads
# under traffic, 1,000,000 hostile frames (also through the C flowtable, for the comparison,
# on the normal kernel), netlink dumps of 1,000,000 flows beside churn, GETs and DELs, and
# 100,000 fuzzed netlink requests. `make check` runs the same scripts at sizes that fit CI.
# Sizes can be overridden: STRESS_FLOWS, STRESS_CHURN, STRESS_CYCLES, STRESS_FRAMES; the VM
# gets STRESS_MEMORY (12G).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

"$RFLOW_ROOT/scripts/setup.sh" || exit 1
KDIR=$(RFLOW_KERNEL=normal "$RFLOW_ROOT/scripts/build-kernel.sh") || exit 1
KDIR_DEBUG=$(RFLOW_KERNEL=debug "$RFLOW_ROOT/scripts/build-kernel.sh") || exit 1
KO=$("$RFLOW_ROOT/scripts/build-module.sh") || exit 1
KO_DEBUG=$("$RFLOW_ROOT/scripts/build-module.sh" --debug) || exit 1
FRAMES_TARGET=$RFLOW_CACHE/frames-target
(cd "$RFLOW_ROOT/selftests/frames" && CARGO_TARGET_DIR=$FRAMES_TARGET cargo build --quiet --release) || exit 1
FRAMES_BIN=$FRAMES_TARGET/release/rflow-frames
RFLOWCTL_TARGET=$RFLOW_CACHE/rflowctl-target
(cd "$RFLOW_ROOT/tools/rflowctl" && CARGO_TARGET_DIR=$RFLOWCTL_TARGET cargo build --quiet --release) || exit 1
RFLOWCTL_BIN=$RFLOWCTL_TARGET/release/rflowctl

rc=0
start=$(date +%s)
log "control VM (normal kernel): ${STRESS_FRAMES:-1000000} hostile frames through C, then rflow"
"$RFLOW_ROOT/scripts/vm.sh" --allow-c-flowtable -- selftests/run.sh KDIR="$KDIR" RFLOW_KO="$KO" \
	RFLOW_FRAMES="$FRAMES_BIN" HOSTILE_COMPARE=1 FRAMES="${STRESS_FRAMES:-1000000}" \
	TEST_TIMEOUT=7200 rflow_hostile.sh || rc=1
log "debug VM: every rflow selftest, nothing selected out; scale, churn, reload, hostile frames at full size"
VM_MEMORY=${STRESS_MEMORY:-12G} "$RFLOW_ROOT/scripts/vm.sh" --debug -- selftests/run.sh \
	KDIR="$KDIR_DEBUG" RFLOW_KO="$KO_DEBUG" RFLOW_FRAMES="$FRAMES_BIN" RFLOWCTL="$RFLOWCTL_BIN" \
	TIME_SCALE=4 SIZE=1000000 CHURN_FLOWS="${STRESS_FLOWS:-1000000}" FUZZ_REQUESTS=100000 \
	FLOWS="${STRESS_FLOWS:-1000000}" CHURN="${STRESS_CHURN:-100000}" \
	CYCLES="${STRESS_CYCLES:-50}" FRAMES="${STRESS_FRAMES:-1000000}" TEST_TIMEOUT=36000 \
	rflow_forward.sh rflow_lifecycle.sh rflow_parity.sh rflow_removal.sh rflow_faults.sh \
	rflow_scale.sh rflow_churn.sh rflow_reload.sh rflow_hostile.sh rflow_hw_offload.sh \
	rflow_netlink.sh || rc=1
log "stress tests took $(($(date +%s) - start)) s"
exit $rc
