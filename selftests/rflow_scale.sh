#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Scale: one flowtable holding $FLOWS concurrent UDP flows (100,000 in `make check`, 1,000,000
# in `make stress`), driven from pktgen through every resize up and, as they expire, back down,
# with the fast path forwarding and listings read concurrently the whole time:
#
#   - every tuple gets exactly one flow, and a quiet listing shows exactly the flows counted;
#   - no listing ever shows a flow twice, while the table grows and shrinks under it;
#   - the table grows to at most one entry per bucket and shrinks back to its minimum;
#   - a device change in the namespace is not held up by a listing in progress;
#   - at the end every flow is freed and rflow's slab cache is empty.

source "$(dirname "$0")/lib.sh"

FLOWS=${FLOWS:-100000}

tap_header 8
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }
setup_topology && load_ruleset || { tap_fail "topology"; tap_done; }
many_flows_prepare "$FLOWS" >"$work/prepare.log" || { tap_fail "pktgen setup"; tap_done; }
cat "$work/prepare.log"
n=$MANY_FLOWS

stat() { rflow_stat "$nsr" "$1"; }

# Pass 1 creates the conntrack entries (unconfirmed until then, so not offloadable); its
# duration sets the flow timeout, long enough for every flow to live through the fill. Passes 2
# and 3 follow each other with nothing in between: a listing of every flow costs as much as a
# pass, and on a loaded machine (a kernel build beside the VM in CI) two of them once let every
# flow of pass 2 expire before pass 3 reached it.
fill() {
	local t0 t1 pass1 pps1 pps2 pps3
	t0=$(date +%s)
	pps1=$(many_flows_send "$n") || return 1
	t1=$(date +%s)
	pass1=$((t1 - t0))
	timeout=$((4 * pass1 + 60))
	echo "pass 1 (conntrack entries): $n packets in $pass1 s ($pps1 pps); flow timeout $timeout s"
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout="$timeout"
	echo "$timeout" >"$work/timeout"
	listing_readers_start
	# Pass 2 offloads every tuple, pass 3 runs on the fast path (pass 2's packets all took the
	# classic path: each created its flow after passing through).
	t0=$(date +%s)
	pps2=$(many_flows_send "$n") || return 1
	pps3=$(many_flows_send "$n") || return 1
	t1=$(date +%s)
	echo "pass 2 (flows created): $pps2 pps; pass 3 (fast path): $pps3 pps; both in $((t1 - t0)) s"
	local fast flows
	fast=$(stat packets)
	flows=$(stat flows)
	echo "$flows flows, $(stat buckets) buckets, fast path packets so far: $fast"
	[ "$flows" -eq "$n" ] || fail "$flows flows for $n tuples"
	[ "$fast" -ge $((n * 9 / 10)) ] || fail "fast path forwarded $fast packets of pass 3's $n"
}

quiet_listing() {
	local listed flows removed try
	# Quiet means no flow expired while it was read: on a loaded machine the flows' timeout
	# can run out during the listing, and then the listing is taken again.
	for try in 1 2 3; do
		removed=$(stat removed)
		ip netns exec "$nsr" cat /proc/net/rflow >"$work/quiet"
		listed=$(grep -c '^ udp ' "$work/quiet")
		flows=$(stat flows)
		[ "$(stat removed)" = "$removed" ] && break
		echo "flows expired during listing $try: again"
	done
	echo "listed $listed flows, counted $flows"
	[ "$listed" -eq "$flows" ] || fail "listing shows $listed flows, the table counts $flows"
	[ "$(awk '{ print $2, $4 }' "$work/quiet" | sort | uniq -d | wc -l)" -eq 0 ] ||
		fail "a flow is listed twice"
}

# A device added and removed in the namespace while a reader holds a listing open and reads it
# slowly: the netdevice notifier must not wait for the listing.
device_during_listing() {
	local t0 t1 base busy
	t0=$(date +%s%N)
	ip -net "$nsr" link add rflowd0 type dummy && ip -net "$nsr" link set rflowd0 up &&
		ip -net "$nsr" link del rflowd0
	t1=$(date +%s%N)
	base=$(( (t1 - t0) / 1000000 ))
	ip netns exec "$nsr" python3 -c '
import sys, time
with open("/proc/net/rflow", "rb") as f:
    while f.read(4096):
        time.sleep(0.01)
' &
	local reader=$!
	sleep 0.5
	t0=$(date +%s%N)
	ip -net "$nsr" link add rflowd0 type dummy && ip -net "$nsr" link set rflowd0 up &&
		ip -net "$nsr" link del rflowd0
	t1=$(date +%s%N)
	busy=$(( (t1 - t0) / 1000000 ))
	kill "$reader" 2>/dev/null
	wait "$reader" 2>/dev/null
	echo "device add/up/del: $base ms alone, $busy ms with a listing being read"
	[ "$busy" -le $((3 * base + 2000 * TIME_SCALE)) ] ||
		fail "device handling took $busy ms with a listing open, $base ms without"
}

expire_all() {
	local timeout
	timeout=$(cat "$work/timeout")
	wait_for $((timeout + 30)) sh -c "[ \$(ip netns exec $nsr cat /proc/net/rflow | grep -c '^ udp ') -eq 0 ]" ||
		fail "$(stat flows) flows left $((timeout + 30)) s after the traffic stopped"
	# The GC shrinks the table on the pass after the last flow went.
	wait_for 5 sh -c "[ \"\$(ip netns exec $nsr cat /proc/net/rflow | awk '\$1 == \"flowtable\" { for (i = 5; i < NF; i += 2) if (\$i == \"buckets\") print \$(i + 1) }')\" = 64 ]" ||
		fail "table not back to 64 buckets: $(grep '^flowtable' "$work/quiet")"
	listing_readers_stop
}

readers_saw() {
	local listings peak_flows peak_buckets dups
	listings=$(wc -l <"$work/readers.log")
	peak_flows=$(sort -n -k1 "$work/readers.log" | tail -n 1 | awk '{ print $1 }')
	peak_buckets=$(sort -n -k2 "$work/readers.log" | tail -n 1 | awk '{ print $2 }')
	dups=$(awk '{ s += $3 } END { print s + 0 }' "$work/readers.log")
	local line
	line=$(ip netns exec "$nsr" cat /proc/net/rflow | grep '^flowtable')
	echo "$listings concurrent listings: up to $peak_flows flows and $peak_buckets buckets, $dups duplicates"
	echo "$line"
	[ "$listings" -ge 3 ] || fail "only $listings listings completed"
	[ "$dups" -eq 0 ] || fail "listings showed $dups flows twice: $(head -n 20 "$work/readers.dups")"
	# Grown to at most one entry (a flow has two) per bucket.
	[ "${peak_buckets:-0}" -ge $((2 * n)) ] || [ "${peak_buckets:-0}" -ge $((1 << 20)) ] ||
		fail "peak of $peak_buckets buckets for $((2 * n)) entries"
	local grown shrunk
	grown=$(awk '{ for (i = 5; i < NF; i += 2) if ($i == "grown") print $(i + 1) }' <<<"$line")
	shrunk=$(awk '{ for (i = 5; i < NF; i += 2) if ($i == "shrunk") print $(i + 1) }' <<<"$line")
	[ "${grown:-0}" -ge 2 ] || fail "table grew $grown times"
	[ "${shrunk:-0}" -ge 1 ] || fail "table shrank $shrunk times"
}

all_freed() {
	ip netns exec "$nsr" nft flush ruleset
	cleanup_topology
	wait_for 20 sh -c '[ "$(awk '"'"'$1 == "rflow" { print $3 }'"'"' /proc/net/rflow)" = 0 ]' ||
		fail "$(rflow_allocated) flows still allocated"
	local slab=/sys/kernel/slab/rflow_flow
	if [ -e "$slab/shrink" ] && [ -r /proc/slabinfo ]; then
		echo 1 >"$slab/shrink"
		local active
		active=$(awk '$1 == "rflow_flow" { print $2 }' /proc/slabinfo)
		echo "rflow_flow slab: $active active objects"
		[ "$active" = 0 ] || fail "rflow_flow slab holds $active objects"
	else
		echo "no slab statistics on this kernel (SLUB_DEBUG off): flows_allocated only"
	fi
}

tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable
tap_check "$n flows: one per tuple, fast path forwarding" fill
tap_check "$n flows: a quiet listing shows each flow once" quiet_listing
tap_check "$n flows: a listing being read does not hold up device handling" device_during_listing
tap_check "$n flows: all expire, the table shrinks back to 64 buckets" expire_all
tap_check "$n flows: concurrent listings never repeat a flow; the table grew and shrank" readers_saw
tap_check "$n flows: every flow freed, slab cache empty" all_freed
tap_check "rflow is still the flowtable" rflow_is_the_flowtable

tap_done
