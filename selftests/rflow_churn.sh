#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Churn: at least $CHURN flow creations and teardowns (100,000 by default), from UDP flows that
# expire after one second and are created again on their tuple's next packet, and from short
# TCP connections that open, get offloaded and close; with a verified transfer and listings
# running the whole time. Nothing may be lost or listed twice, the transfers' data must arrive
# intact, and every flow must be freed at the end.

source "$(dirname "$0")/lib.sh"

CHURN=${CHURN:-100000}
TUPLES=${TUPLES:-10000}
TCP_CONNS=${TCP_CONNS:-200}

tap_header 5
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }
setup_topology && load_ruleset || { tap_fail "topology"; tap_done; }
many_flows_prepare "$TUPLES" >/dev/null || { tap_fail "pktgen setup"; tap_done; }
ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=1
ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_tcp_timeout=2

churn() {
	local created0 created passes=0 t0
	created0=$(rflow_total flows_created)
	listing_readers_start
	timeout 600 ip netns exec "$ns2" python3 "$SELFTESTS/tcp_churn.py" server 10.0.2.99 7000 \
		>/dev/null 2>&1 &
	local server=$!
	wait_for 10 listening "$ns2" 7000 || fail "churn server did not start"
	timeout 600 ip netns exec "$ns1" python3 "$SELFTESTS/tcp_churn.py" client 10.0.2.99 7000 \
		"$TCP_CONNS" 100000 >"$work/tcp_churn.out" 2>&1 &
	local tcp=$!
	( udp_transfer 10.0.2.99 4000000 >"$work/steady.out" 2>&1; echo $? >"$work/steady.rc" ) \
		>/dev/null 2>&1 &
	t0=$(date +%s)
	while :; do
		created=$(( $(rflow_total flows_created) - created0 ))
		[ "$created" -ge "$CHURN" ] && [ -e "$work/steady.rc" ] && ! kill -0 "$tcp" 2>/dev/null && break
		[ $(( $(date +%s) - t0 )) -lt $((400 * TIME_SCALE)) ] || { fail "only $created flows created in $passes passes"; break; }
		many_flows_send "$TUPLES" >/dev/null
		passes=$((passes + 1))
		# Let the flows of this pass expire before their tuples come round again.
		sleep 2.5
	done
	wait "$tcp" || fail "tcp churn: $(cat "$work/tcp_churn.out")"
	kill "$server" 2>/dev/null
	cat "$work/tcp_churn.out"
	[ "$(cat "$work/steady.rc")" = 0 ] || fail "steady udp transfer failed: $(cat "$work/steady.out")"
	echo "$created flows created in $passes pktgen passes of $TUPLES tuples, $TCP_CONNS tcp connections, $(( $(date +%s) - t0 )) s"
}

listings_clean() {
	listing_readers_stop
	local listings dups
	listings=$(wc -l <"$work/readers.log")
	dups=$(awk '{ s += $3 } END { print s + 0 }' "$work/readers.log")
	echo "$listings listings during the churn, $dups duplicates"
	[ "$listings" -ge 3 ] || fail "only $listings listings completed"
	[ "$dups" -eq 0 ] || fail "listings showed $dups flows twice: $(head -n 20 "$work/readers.dups")"
}

all_freed() {
	wait_for 15 sh -c "! ip netns exec $nsr cat /proc/net/rflow | grep -q '^ '" ||
		fail "flows left after the churn: $(ip netns exec "$nsr" cat /proc/net/rflow | head)"
	local line
	line=$(ip netns exec "$nsr" cat /proc/net/rflow | grep '^flowtable')
	echo "$line"
	cleanup_topology
	wait_for 20 sh -c '[ "$(awk '"'"'$1 == "rflow" { print $3 }'"'"' /proc/net/rflow)" = 0 ]' ||
		fail "$(rflow_allocated) flows still allocated"
}

tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable
tap_check "$CHURN+ flow creations and teardowns with traffic, data intact" churn
tap_check "concurrent listings never repeat a flow" listings_clean
tap_check "every flow expired and freed" all_freed
tap_check "rflow is still the flowtable" rflow_is_the_flowtable

tap_done
