#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Control run: the same forwarding test with the in-tree C flowtable doing the work, in a VM
# booted without the block on the C modules. The C flowtable must pass the data and bypass
# subtests (so the setup is sound), and every subtest that attributes the forwarding to rflow
# must fail (so those checks can tell who forwarded).

source "$(dirname "$0")/lib.sh"

tap_header 3
forward_out=$(RFLOW_IMPL=c bash "$SELFTESTS/rflow_forward.sh" 2>&1)
printf '%s\n' "$forward_out" | sed 's/^/# /'

expect() {
	local pattern=$1 want=$2 n bad
	n=$(printf '%s\n' "$forward_out" | grep -cE "^(not )?ok [0-9]+ rflow_forward: $pattern")
	bad=$(printf '%s\n' "$forward_out" | grep -E "^(not )?ok [0-9]+ rflow_forward: $pattern" | grep -vcE "^$want [0-9]")
	[ "$n" -gt 0 ] || fail "no subtest matches '$pattern'"
	[ "$bad" -eq 0 ] || fail "$bad of $n subtests matching '$pattern' were not '$want'"
}

tap_check "C flowtable: data intact in every case" expect '.*: data intact' ok
tap_check "C flowtable: the classic path was bypassed in every case" expect '.*: \[OFFLOAD\]' ok
tap_check "C flowtable: every rflow attribution check fails" expect '(rflow is|.*: rflow listed)' 'not ok'

tap_done
