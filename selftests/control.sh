#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Control run: rflow's forwarding test and the kernel's nft_flowtable.sh with the in-tree C
# flowtable doing the work, in a VM booted without the block on the C modules. The C flowtable
# must pass the data, bypass and upstream subtests (so the setup is sound), and every subtest
# that attributes the forwarding to rflow must fail (so those checks can tell who forwarded).

source "$(dirname "$0")/lib.sh"

tap_header 7
forward_out=$(RFLOW_IMPL=c bash "$SELFTESTS/rflow_forward.sh" 2>&1)
printf '%s\n' "$forward_out" | sed 's/^/# /'

upstream_out=$(RFLOW_IMPL=c bash "$SELFTESTS/nft_flowtable_upstream.sh" 2>&1)
printf '%s\n' "$upstream_out" | sed 's/^/# /'

# expect <output> <script> <subtest pattern> <ok|not ok>: every matching subtest has that result.
expect() {
	local out=$1 script=$2 pattern=$3 want=$4 n bad
	n=$(printf '%s\n' "$out" | grep -cE "^(not )?ok [0-9]+ $script: $pattern")
	bad=$(printf '%s\n' "$out" | grep -E "^(not )?ok [0-9]+ $script: $pattern" | grep -vcE "^$want [0-9]")
	[ "$n" -gt 0 ] || fail "no $script subtest matches '$pattern'"
	[ "$bad" -eq 0 ] || fail "$bad of $n $script subtests matching '$pattern' were not '$want'"
	echo "$n $script subtests matching '$pattern': $want"
}

tap_check "C flowtable: data intact in every case" \
	expect "$forward_out" rflow_forward '.*: data intact' ok
tap_check "C flowtable: the classic path was bypassed in every case" \
	expect "$forward_out" rflow_forward '.*: \[OFFLOAD\]' ok
tap_check "C flowtable: every rflow attribution check of rflow_forward fails" \
	expect "$forward_out" rflow_forward '(rflow is|.*: rflow listed)' 'not ok'
tap_check "C flowtable: every nft_flowtable.sh case passes, both passes" \
	expect "$upstream_out" nft_flowtable_upstream 'pass [12]: ' ok
tap_check "C flowtable: nft_flowtable.sh reports exactly the pinned cases" \
	expect "$upstream_out" nft_flowtable_upstream 'nft_flowtable.sh reported exactly the pinned' ok
tap_check "C flowtable: nft_flowtable.sh exits 0" \
	expect "$upstream_out" nft_flowtable_upstream 'nft_flowtable.sh exit status' ok
tap_check "C flowtable: every rflow attribution check of the upstream run fails" \
	expect "$upstream_out" nft_flowtable_upstream '(rflow is|rflow created)' 'not ok'

tap_done
