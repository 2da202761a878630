#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Removal of every kind of device a flow can reference, under traffic and idle: the router's
# output device, a bridge port, a VLAN device over a bridge (the flow transmits directly on it
# and holds a reference), a PPPoE device over a bridge (likewise) and a plain PPPoE device;
# then the router's namespace. Each deletion must complete within a few seconds (the kernel
# waits for every reference before a device can go: a flow that kept one would block it until
# it expired), the flows using the device must be gone, and at the end none is left allocated.
# An idle flow is the hard case: no packet comes along to find its route stale.

source "$(dirname "$0")/lib.sh"

tap_header 12
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }

BOUND_MS=$((5000 * TIME_SCALE))

fresh() {
	cleanup_topology
	setup_topology && load_ruleset
}

listing() {
	ip netns exec "$nsr" cat /proc/net/rflow
}

# Moves the router's veth1 under a bridge br0; the router's address towards ns2 goes on $1
# (br0 itself, or a device on top of it that the caller creates).
bridge_veth1() {
	ip -net "$nsr" addr flush dev veth1
	ip -net "$nsr" link add br0 type bridge
	ip -net "$nsr" link set veth1 master br0
	ip -net "$nsr" link set br0 up
}

setup_bridge_port() {
	bridge_veth1
	ip -net "$nsr" addr add 10.0.2.1/24 dev br0
}

setup_vlan_over_bridge() {
	bridge_veth1
	ip -net "$nsr" link add link br0 name br0.10 type vlan id 10
	ip -net "$nsr" link set br0.10 up
	ip -net "$nsr" addr add 10.0.2.1/24 dev br0.10
	ip -net "$ns2" addr flush dev eth0
	ip -net "$ns2" link add link eth0 name eth0.10 type vlan id 10
	ip -net "$ns2" link set eth0.10 up
	ip -net "$ns2" addr add 10.0.2.99/24 dev eth0.10
	ip -net "$ns2" route add default via 10.0.2.1
}

# A PPPoE session from the router to ns2 over device $1 (lib.sh's pppoe_session); ns1 then
# reaches ns2 at 10.99.0.2.
removal_pppoe_session() {
	pppoe_session "$1" || return 1
	DST=10.99.0.2
}

setup_pppoe() {
	removal_pppoe_session veth1
}

setup_pppoe_over_bridge() {
	bridge_veth1
	ip -net "$nsr" addr add 10.0.2.1/24 dev br0
	removal_pppoe_session br0
}

# Deletes $1 in the router and prints how long it took in ms. A PPP device goes away when its
# pppd closes the unit: SIGKILL closes it at once (SIGTERM would first run LCP's termination,
# seconds of pppd's own timers that say nothing about the kernel).
delete_device() {
	local dev=$1 t0 t1
	t0=$(date +%s%N)
	if [ "$dev" = ppp0 ]; then
		ip netns pids "$nsr" | xargs -r ps -o pid=,comm= -p | awk '$2 == "pppd" { print $1 }' |
			xargs -r kill -KILL
		wait_for 60 sh -c "! ip -net $nsr link show ppp0 >/dev/null 2>&1"
	else
		timeout 60 ip -net "$nsr" link del "$dev"
	fi
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000000 ))
}

# One case: set up with $2, offload a UDP flow to ns2 that lists "$4" (showing it uses the
# device), then delete device $3, with traffic running when $5 is "traffic".
removal_case() {
	local name=$1 setup=$2 dev=$3 expect=$4 mode=$5 ms
	fresh || return 1
	DST=10.0.2.99
	$setup || return 1
	if [ "$mode" = traffic ]; then
		make_file "$work/big" 20000000
		# The transfer cannot finish: the device goes away.
		timeout 120 ip netns exec "$ns2" python3 "$SELFTESTS/udp_xfer.py" server 0.0.0.0 5000 \
			>/dev/null 2>&1 &
		wait_for 20 udp_bound "$ns2" 5000
		timeout 120 ip netns exec "$ns1" python3 "$SELFTESTS/udp_xfer.py" client "$DST" 5000 \
			"$work/big" >/dev/null 2>&1 &
	else
		UDP_BIND=0.0.0.0 udp_transfer "$DST" 200000 || return 1
	fi
	wait_for 20 sh -c "ip netns exec $nsr cat /proc/net/rflow | grep -q ' udp .*$expect'" ||
		{ fail "no flow using $dev ($expect): $(listing)"; return 1; }
	listing | grep ' udp '
	ms=$(delete_device "$dev")
	echo "$name: $dev deleted in $ms ms with an offloaded flow ($mode)"
	[ "$ms" -le "$BOUND_MS" ] || fail "deleting $dev took $ms ms (bound $BOUND_MS ms)"
	wait_for 5 sh -c "! ip netns exec $nsr cat /proc/net/rflow | grep -q ' udp .*$expect'" ||
		fail "flow using $dev still listed: $(listing)"
}

netns_removal() {
	fresh || return 1
	make_file "$work/big" 20000000
	udp_transfer_background "$work/big" >/dev/null 2>&1
	wait_for 20 sh -c "ip netns exec $nsr cat /proc/net/rflow | grep -q ' udp '" ||
		fail "traffic never offloaded"
	local t0 t1
	t0=$(date +%s%N)
	cleanup_topology
	wait_for 30 sh -c '[ "$(awk '"'"'$1 == "rflow" { print $3 }'"'"' /proc/net/rflow)" = 0 ]' ||
		fail "$(rflow_allocated) flows still allocated after deleting the namespaces"
	t1=$(date +%s%N)
	echo "namespaces deleted under traffic, every flow freed in $(( (t1 - t0) / 1000000 )) ms"
}

none_left() {
	cleanup_topology
	wait_for 10 sh -c '[ "$(awk '"'"'$1 == "rflow" { print $3 }'"'"' /proc/net/rflow)" = 0 ]' ||
		fail "$(rflow_allocated) flows still allocated"
}

tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable
tap_check "output device deleted under traffic" \
	removal_case output true veth1 "iif" traffic
tap_check "bridge port deleted under traffic" \
	removal_case "bridge port" setup_bridge_port veth1 "xmit direct" traffic
tap_check "bridge port deleted, flow idle" \
	removal_case "bridge port" setup_bridge_port veth1 "xmit direct" idle
tap_check "vlan device over a bridge deleted under traffic" \
	removal_case "vlan over bridge" setup_vlan_over_bridge br0.10 "xmit direct" traffic
tap_check "vlan device over a bridge deleted, flow idle" \
	removal_case "vlan over bridge" setup_vlan_over_bridge br0.10 "xmit direct" idle
tap_check "pppoe device deleted under traffic" \
	removal_case pppoe setup_pppoe ppp0 "encap 8864" traffic
tap_check "pppoe device over a bridge deleted under traffic" \
	removal_case "pppoe over bridge" setup_pppoe_over_bridge ppp0 "xmit direct" traffic
tap_check "pppoe device over a bridge deleted, flow idle" \
	removal_case "pppoe over bridge" setup_pppoe_over_bridge ppp0 "xmit direct" idle
tap_check "namespace deleted under traffic: every flow freed" netns_removal
tap_check "no flow left allocated" none_left
tap_check "rflow is still the flowtable" rflow_is_the_flowtable

tap_done
