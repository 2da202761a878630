#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Allocation failures (debug kernel: FAILSLAB, FAULT_INJECTION_DEBUG_FS): failslab on rflow's flow
# cache, rflow's own fault attributes (debugfs rflow/) on the flow allocation and on the bucket
# arrays of table resizes. (Not fail_function: without ftrace its kprobe runs as an NMI, where
# should_fail() takes a lock lockdep then reports.) Traffic must
# continue on the classic path with its data intact, the connections rflow could not offload
# must not stay marked [OFFLOAD], the counters must stay true (flows allocated = flows listed =
# connections offloaded), and once the faults stop everything works and is freed again.

source "$(dirname "$0")/lib.sh"

DBG=/sys/kernel/debug
FAILSLAB=$DBG/failslab
RFLOW_FAULTS=$DBG/rflow
SLAB=/sys/kernel/slab/rflow_flow
# pktgen tuples per pass (three passes): enough for the table to need several resizes.
TUPLES=${FAULT_TUPLES:-2000}

tap_header 6
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }
mountpoint -q $DBG || mount -t debugfs none $DBG
if [ ! -d $FAILSLAB ] || [ ! -d $RFLOW_FAULTS/fail_flow_alloc ] || [ ! -e $SLAB/failslab ]; then
	# Only scripts/check.sh's debug run calls this script, on a kernel that has them.
	tap_fail "this kernel has no failslab or no debugfs fault attributes (run it on the debug kernel)"
	tap_done
fi

faults_off() {
	echo 0 >$FAILSLAB/probability
	echo 0 >$SLAB/failslab
	local attr
	for attr in $RFLOW_FAULTS/fail_*; do
		echo 0 >"$attr/probability"
	done
	return 0
}
trap 'faults_off; __lib_exit' EXIT

fresh() {
	cleanup_topology
	setup_topology && load_ruleset && many_flows_prepare "$TUPLES" >/dev/null || return 1
	# pktgen's flows must outlive the transfers that follow them on a slow kernel.
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=3600
}

# Makes every allocation behind rflow's fault attribute $1 fail.
fail_every_call() {
	local attr=$RFLOW_FAULTS/$1
	[ -d "$attr" ] || { fail "no fault attribute $1"; return 1; }
	echo 1 >"$attr/interval"
	echo -1 >"$attr/times"
	echo 0 >"$attr/space"
	echo 0 >"$attr/verbose"
	echo 100 >"$attr/probability"
}

# Flows listed in the router, flows rflow has allocated (module-wide), and conntrack entries
# marked [OFFLOAD]: all three must agree once the traffic has stopped. The three are read one
# after the other, and the last transfer's TCP flow, closed, is freed by the GC within a pass
# or two: between two readings it can be in one and gone from the next. So they get a few
# seconds to settle, and a disagreement that stays fails.
counters_agree() {
	local listed allocated offloaded tries=0
	while :; do
		listed=$(ip netns exec "$nsr" cat /proc/net/rflow | grep -c '^ udp \|^ tcp ')
		allocated=$(rflow_allocated)
		offloaded=$(ip netns exec "$nsr" conntrack -L 2>/dev/null | grep -c OFFLOAD)
		[ "$listed" -eq "$allocated" ] && [ "$listed" -eq "$offloaded" ] && break
		tries=$((tries + 1))
		[ "$tries" -lt $((5 * TIME_SCALE)) ] || break
		sleep 1
	done
	echo "listed $listed, allocated $allocated, conntrack [OFFLOAD] $offloaded (after $tries s)"
	[ "$listed" -eq "$allocated" ] || fail "$allocated flows allocated, $listed listed"
	[ "$listed" -eq "$offloaded" ] || fail "$offloaded connections [OFFLOAD], $listed flows listed"
}

# Real transfers, verified end to end, while pktgen offers its tuples three times.
traffic() {
	many_flows_send $((3 * TUPLES)) >/dev/null &
	local pg=$!
	tcp_transfer 10.0.2.99 400000 || return 1
	udp_transfer 10.0.2.99 100000 || return 1
	wait "$pg"
}

failslab_flows() {
	fresh || return 1
	echo 1 >$SLAB/failslab
	echo Y >$FAILSLAB/cache-filter
	echo 1 >$FAILSLAB/interval
	echo -1 >$FAILSLAB/times
	echo 0 >$FAILSLAB/space
	echo 0 >$FAILSLAB/verbose
	echo 50 >$FAILSLAB/probability
	traffic || return 1
	local listed
	listed=$(ip netns exec "$nsr" cat /proc/net/rflow | grep -c '^ udp ')
	# Each tuple has two chances (the passes after the one that confirms its conntrack entry):
	# about three quarters of them end up offloaded.
	echo "with half of the flow allocations failing: $listed of $MANY_FLOWS pktgen tuples offloaded"
	[ "$listed" -gt $((MANY_FLOWS / 10)) ] && [ "$listed" -lt $((MANY_FLOWS * 98 / 100)) ] ||
		fail "$listed flows of $MANY_FLOWS tuples: failslab did not act on rflow's cache"
	counters_agree
	faults_off
}

failfn_flows() {
	fresh || return 1
	fail_every_call fail_flow_alloc || return 1
	fastpath_begin
	traffic || return 1
	local listed
	listed=$(ip netns exec "$nsr" cat /proc/net/rflow | grep -c '^ udp \|^ tcp ')
	echo "every flow allocation failing: $listed flows, forward chain saw $(forward_bytes) bytes"
	[ "$listed" -eq 0 ] || fail "$listed flows despite every allocation failing"
	[ "$(forward_bytes)" -ge 1000000 ] || fail "the classic path did not carry the transfers"
	counters_agree
	faults_off
	# Without the fault, the same traffic offloads again.
	fastpath_begin
	tcp_transfer 10.0.2.99 400000 || return 1
	[ "$(rflow_stat "$nsr" created)" -ge 1 ] || fail "nothing offloaded once the faults stopped"
	counters_agree
}

failfn_resize() {
	fresh || return 1
	fail_every_call fail_buckets_alloc || return 1
	traffic || return 1
	local line flows buckets failed
	line=$(ip netns exec "$nsr" cat /proc/net/rflow | grep '^flowtable')
	echo "$line"
	flows=$(rflow_stat "$nsr" flows)
	buckets=$(rflow_stat "$nsr" buckets)
	failed=$(rflow_stat "$nsr" resize_failed)
	[ "$buckets" -eq 64 ] || fail "table resized to $buckets buckets although every allocation failed"
	[ "$flows" -gt 128 ] || fail "only $flows flows: too few to need a resize"
	[ "$failed" -ge 1 ] || fail "no failed resize counted"
	# Lookups work on long chains: a transfer now runs on the fast path.
	fastpath_begin
	tcp_transfer 10.0.2.99 400000 || return 1
	fastpath_check 800000
	faults_off
	wait_for 5 sh -c "[ \$(ip netns exec $nsr cat /proc/net/rflow | awk '\$1 == \"flowtable\" { for (i = 5; i < NF; i += 2) if (\$i == \"buckets\") print \$(i + 1) }') -gt 64 ]" ||
		fail "table did not grow once allocations worked again"
	counters_agree
}

all_freed() {
	faults_off
	cleanup_topology
	wait_for 20 sh -c '[ "$(awk '"'"'$1 == "rflow" { print $3 }'"'"' /proc/net/rflow)" = 0 ]' ||
		fail "$(rflow_allocated) flows still allocated"
}

tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable
tap_check "failslab on the flow cache (50%): data intact, counters true" failslab_flows
tap_check "fail_flow_alloc (100%): classic path, no stale [OFFLOAD]" failfn_flows
tap_check "fail_buckets_alloc (100%): no resize, fast path still works, grows later" failfn_resize
tap_check "every flow freed" all_freed
tap_check "rflow is still the flowtable" rflow_is_the_flowtable

tap_done
