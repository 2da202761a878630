#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# TCP and UDP forwarding over IPv4 and IPv6 through an rflow flowtable: the data arrives intact
# in both directions, conntrack marks the connection [OFFLOAD], /proc/net/rflow lists the flow,
# and the fast path, not the classic path, moved the bytes: the forward chain's counters stay
# under 5% of them while rflow's own counters account for at least 90%.

source "$(dirname "$0")/lib.sh"

SIZE=${SIZE:-4000000}

tap_header 6
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }
trap cleanup_topology EXIT
setup_topology && load_ruleset || { tap_fail "topology"; tap_done; }

tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable

# Checks that the fast path moved $1 bytes: forward chain under 5%, rflow at least 90%.
check_bypass() {
	local moved=$1 fwd ft
	fwd=$(forward_bytes)
	ft=$(rflow_stat "$nsr" bytes)
	ft=$((${ft:-0} - ft_before))
	note "moved $moved bytes: forward chain saw $fwd, rflow fast path $ft"
	[ "$fwd" -lt $((moved / 20)) ] || fail "forward chain saw $fwd of $moved bytes"
	[ "$ft" -ge $((moved * 9 / 10)) ] || fail "rflow forwarded only $ft of $moved bytes"
}

reset_counters() {
	ip netns exec "$nsr" nft reset counters table inet filter >/dev/null
	ft_before=$(rflow_stat "$nsr" bytes)
	ft_before=${ft_before:-0}
}

# While a connection to port $2 is open: conntrack shows it offloaded and rflow lists it.
check_live_flow() {
	local fam=$1 port=$2 proto=$3
	ip netns exec "$nsr" conntrack -L -f "$fam" -p "$proto" --dport "$port" 2>/dev/null |
		grep -q OFFLOAD || fail "conntrack does not show [OFFLOAD] for $proto port $port:" \
		"$(ip netns exec "$nsr" conntrack -L 2>&1)"
	ip netns exec "$nsr" cat /proc/net/rflow | grep -q " $proto .*:$port " ||
		fail "/proc/net/rflow does not list the $proto flow: $(ip netns exec "$nsr" cat /proc/net/rflow)"
}

tcp_case() {
	local dst=$1 fam=$2
	reset_counters
	tcp_transfer "$dst" "$SIZE" 3 "check_live_flow $fam 12345 tcp" && check_bypass $((2 * SIZE))
}

udp_case() {
	local dst=$1 fam=$2
	reset_counters
	udp_transfer "$dst" "$SIZE" && check_live_flow "$fam" 5000 udp && check_bypass $((2 * SIZE))
}

tap_check "tcp ipv4: data intact both ways, [OFFLOAD], listed, fast path" tcp_case 10.0.2.99 ipv4
tap_check "tcp ipv6: data intact both ways, [OFFLOAD], listed, fast path" tcp_case dead:2::99 ipv6
tap_check "udp ipv4: data intact both ways, [OFFLOAD], listed, fast path" udp_case 10.0.2.99 ipv4
tap_check "udp ipv6: data intact both ways, [OFFLOAD], listed, fast path" udp_case dead:2::99 ipv6
tap_check "rflow is still the flowtable after the traffic" rflow_is_the_flowtable

tap_done
