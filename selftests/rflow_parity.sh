#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Parity with the C flowtable beyond what nft_flowtable.sh covers, each case proving the fast
# path moved the data (forward chain under 5% of the bytes, rflow's counters at least 90%):
#
#   - IPv6 NAT: DNAT and masquerade, TCP and UDP;
#   - 802.1AD + 802.1Q double tags between the host and the router;
#   - a PPPoE session (pppd client on the router, pppoe-server as the peer);
#   - GRE version 0 tunnels through the router;
#   - the flowtable `counter` flag: conntrack's byte counts equal the bytes actually moved;
#   - (removing devices under traffic: rflow_removal.sh);
#   - sysctl changes apply to new flows;
#   - a route change tears the flow down from the packet path and it comes back;
#   - checksums on the wire after NAT, verified by the receivers' stacks, from full checksums
#     and from CHECKSUM_PARTIAL packets, and IPv4 UDP without a checksum;
#   - admission as nft_flow_offload_eval(): GRE with NAT, connections with a conntrack helper
#     and IPv4 packets with options stay on the classic path.

source "$(dirname "$0")/lib.sh"

SIZE=${SIZE:-2000000}

tap_header 11
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }
tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable

fresh_topology() {
	cleanup_topology
	setup_topology && load_ruleset "$@"
}

show_flows() {
	ip netns exec "$nsr" cat /proc/net/rflow >"$work/proc"
}

# Checks the flow of port $1 was listed with text $2 while it was open.
listed() {
	grep " :$1 \|:$1 " "$work/proc" | grep -q -- "$2" ||
		fail "flow of port $1 not listed with '$2': $(cat "$work/proc")"
}

# The router NATs connections to 10.0.6.6 and dead:6::6 port 1666 (TCP and UDP) to ns2's
# listeners on ports 12345 and 5000, UDP port 1667 to 5001 (IPv4), and masquerades towards ns2.
load_nat() {
	ip netns exec "$nsr" nft -f - <<-EOF
	table inet nat {
		chain prerouting {
			type nat hook prerouting priority dstnat; policy accept;
			iifname "veth0" ip daddr 10.0.6.6 tcp dport 1666 dnat ip to 10.0.2.99:12345
			iifname "veth0" ip daddr 10.0.6.6 udp dport 1666 dnat ip to 10.0.2.99:5000
			iifname "veth0" ip daddr 10.0.6.6 udp dport 1667 dnat ip to 10.0.2.99:5001
			iifname "veth0" ip6 daddr dead:6::6 tcp dport 1666 dnat ip6 to [dead:2::99]:12345
			iifname "veth0" ip6 daddr dead:6::6 udp dport 1666 dnat ip6 to [dead:2::99]:5000
		}
		chain postrouting {
			type nat hook postrouting priority srcnat; policy accept;
			oifname "veth1" masquerade
		}
	}
	EOF
}

ipv6_nat() {
	fresh_topology || return 1
	load_nat
	fastpath_begin
	TCP_DPORT=1666 tcp_transfer dead:6::6 "$SIZE" 2 show_flows || return 1
	listed 1666 nat
	fastpath_check $((2 * SIZE))
	fastpath_begin
	UDP_DPORT=1666 UDP_BIND=dead:2::99 udp_transfer dead:6::6 "$SIZE" || return 1
	show_flows
	listed 1666 nat
	fastpath_check $((2 * SIZE))
	# Masquerade: the server saw the router's address, not ns1's.
	ip netns exec "$nsr" conntrack -L -f ipv6 2>/dev/null | grep 'dport=1666' | grep -q 'dst=dead:2::1' ||
		fail "no masquerade in conntrack: $(ip netns exec "$nsr" conntrack -L -f ipv6 2>&1)"
}

# ns1 and the router talk through an 802.1AD tag (100) carrying an 802.1Q tag (10).
double_tags() {
	fresh_topology || return 1
	ip -net "$ns1" addr flush dev eth0
	ip -net "$nsr" addr flush dev veth0
	# The frames carry 8 bytes of tags: let the veth pair take them.
	ip -net "$ns1" link set eth0 mtu 1508
	ip -net "$nsr" link set veth0 mtu 1508
	local ns dev addr4 addr6
	for ns in "$ns1" "$nsr"; do
		if [ "$ns" = "$ns1" ]; then
			dev=eth0 addr4=10.0.1.99/24 addr6=dead:1::99/64
		else
			dev=veth0 addr4=10.0.1.1/24 addr6=dead:1::1/64
		fi
		ip -net "$ns" link add link "$dev" name "$dev.100" type vlan proto 802.1ad id 100
		ip -net "$ns" link add link "$dev.100" name "$dev.100.10" type vlan proto 802.1Q id 10
		ip -net "$ns" link set "$dev.100" mtu 1504 up
		ip -net "$ns" link set "$dev.100.10" mtu 1500 up
		ip -net "$ns" addr add "$addr4" dev "$dev.100.10"
		ip -net "$ns" addr add "$addr6" dev "$dev.100.10" nodad
	done
	ip -net "$ns1" route replace default via 10.0.1.1 dev eth0.100.10
	ip -net "$ns1" -6 route replace default via dead:1::1 dev eth0.100.10
	local dst
	for dst in 10.0.2.99 dead:2::99; do
		fastpath_begin
		tcp_transfer "$dst" "$SIZE" 2 show_flows || return 1
		listed 12345 "encap 88a8/100 encap 8100/10"
		fastpath_check $((2 * SIZE))
	done
}

# The router reaches ns2 through a PPPoE session on veth1 (lib.sh's pppoe_session); ns1 talks
# to 10.99.0.2.
pppoe() {
	fresh_topology && pppoe_session veth1 || return 1
	fastpath_begin
	tcp_transfer 10.99.0.2 "$SIZE" 2 show_flows || return 1
	listed 12345 "encap 8864/"
	fastpath_check $((2 * SIZE))
}

# ns1 and ns2 tunnel TCP over GRE version 0 through the router, which offloads the GRE flow.
# Tunnels 192.168.77.1 (ns1) to 192.168.77.2 (ns2) in GRE through the router; ns2 sees ns1's
# end at $1.
gre_tunnels() {
	ip -net "$ns1" tunnel add gre1 mode gre local 10.0.1.99 remote 10.0.2.99
	ip -net "$ns2" tunnel add gre1 mode gre local 10.0.2.99 remote "$1"
	ip -net "$ns1" addr add 192.168.77.1/24 dev gre1
	ip -net "$ns2" addr add 192.168.77.2/24 dev gre1
	ip -net "$ns1" link set gre1 up
	ip -net "$ns2" link set gre1 up
}

gre() {
	fresh_topology || return 1
	ip netns exec "$nsr" nft insert rule inet filter forward meta l4proto gre ct mark set 1 flow add @f
	gre_tunnels 10.0.1.99
	fastpath_begin
	tcp_transfer 192.168.77.2 "$SIZE" 2 show_flows || return 1
	grep -q " gre 10.0.1.99:0 > 10.0.2.99:0 " "$work/proc" ||
		fail "GRE flow not listed: $(cat "$work/proc")"
	fastpath_check $((2 * SIZE))
}

# With `counter`, conntrack's byte counts of an offloaded connection equal what the receivers
# got: segmentation offloads are off so every packet is counted the same way at both ends.
counter_accuracy() {
	fresh_topology counter || return 1
	ip netns exec "$ns1" ethtool -K eth0 tso off gso off >/dev/null 2>&1
	ip netns exec "$ns2" ethtool -K eth0 tso off gso off >/dev/null 2>&1
	ip netns exec "$ns1" nft add table inet c
	ip netns exec "$ns1" nft add chain inet c in '{ type filter hook input priority 0; }'
	ip netns exec "$ns1" nft add rule inet c in tcp sport 12345 counter
	ip netns exec "$ns2" nft add table inet c
	ip netns exec "$ns2" nft add chain inet c in '{ type filter hook input priority 0; }'
	ip netns exec "$ns2" nft add rule inet c in tcp dport 12345 counter
	fastpath_begin
	tcp_transfer 10.0.2.99 "$SIZE" 1 || return 1
	fastpath_check $((2 * SIZE))
	local orig repl rx1 rx2 line
	line=$(ip netns exec "$nsr" conntrack -L -p tcp --dport 12345 2>/dev/null)
	orig=$(sed -E 's/.*dport=12345 packets=[0-9]+ bytes=([0-9]+) .*/\1/' <<<"$line")
	repl=$(sed -E 's/.*sport=12345 dport=[0-9]+ packets=[0-9]+ bytes=([0-9]+).*/\1/' <<<"$line")
	rx2=$(ip netns exec "$ns2" nft list chain inet c in | sed -nE 's/.*counter packets [0-9]+ bytes ([0-9]+).*/\1/p')
	rx1=$(ip netns exec "$ns1" nft list chain inet c in | sed -nE 's/.*counter packets [0-9]+ bytes ([0-9]+).*/\1/p')
	echo "conntrack original $orig bytes, ns2 received $rx2; reply $repl, ns1 received $rx1"
	[ -n "$orig" ] && [ "$orig" -eq "$rx2" ] || fail "original direction: conntrack $orig, moved $rx2"
	[ -n "$repl" ] && [ "$repl" -eq "$rx1" ] || fail "reply direction: conntrack $repl, moved $rx1"
}

# A flow keeps the timeout it was created with; a sysctl change applies to new flows.
# Prints the `expires` (seconds left) the router lists for the flow to port $1.
flow_expires() {
	ip netns exec "$nsr" cat /proc/net/rflow | grep ":$1 " | head -n 1 |
		sed -n 's/.* expires \(-\{0,1\}[0-9]*\).*/\1/p'
}

sysctl_new_flows() {
	fresh_topology || return 1
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=2
	UDP_PORT=5000 udp_transfer 10.0.2.99 50000 || return 1
	local short long
	short=$(flow_expires 5000)
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=60
	UDP_PORT=5001 udp_transfer 10.0.2.99 50000 || return 1
	long=$(flow_expires 5001)
	# The kernel's own account of each flow's time left, read right after its transfer.
	echo "flow created with a 2 s timeout: expires $short; with 60 s: expires $long"
	[ -n "$short" ] && [ "$short" -le 2 ] || fail "flow created with a 2 s timeout lists expires '$short'"
	[ -n "$long" ] && [ "$long" -gt 2 ] && [ "$long" -le 60 ] ||
		fail "flow created with a 60 s timeout lists expires '$long'"
	# The 2 s flow kept its own timeout after the sysctl changed: it goes, the other stays.
	wait_for 5 sh -c "! ip netns exec $nsr cat /proc/net/rflow | grep -q ':5000 '" ||
		fail "flow created with a 2 s timeout still present"
	show_flows
	grep -q ':5001 ' "$work/proc" || fail "flow created with a 60 s timeout gone"
	cat "$work/proc"
}

# Succeeds when the router's flowtable counter $1 is above $2.
stat_grew() {
	[ "$(rflow_stat "$nsr" "$1")" -gt "$2" ]
}

# A route change makes the flow's cached route stale: the next packet tears the flow down
# (dst_check() on the packet path), goes the classic way, and the connection is offloaded again
# with the new route. The data arrives intact throughout.
route_change() {
	fresh_topology || return 1
	# A paced flow that lasts 15 s whatever the machine's speed (a file transfer could end
	# before the flow is offloaded again, and the check then failed on a fast run), every
	# datagram's echo verified.
	ip netns exec "$ns2" python3 "$SELFTESTS/udp_pinger.py" server 10.0.2.99 7000 >/dev/null 2>&1 &
	local server=$!
	wait_for 20 udp_bound "$ns2" 7000 || fail "echo server did not start"
	ip netns exec "$ns1" python3 "$SELFTESTS/udp_pinger.py" client 10.0.2.99 7000 40020 150 0.1 \
		>"$work/pinger" 2>&1 &
	local client=$!
	wait_for 10 sh -c "ip netns exec $nsr cat /proc/net/rflow | grep -q ' udp '" ||
		fail "traffic never offloaded"
	local created removed
	created=$(rflow_stat "$nsr" created)
	removed=$(rflow_stat "$nsr" removed)
	# A more specific route through the same device: a FIB change, so every cached IPv4 route
	# of the namespace is stale.
	ip -net "$nsr" route add 10.0.2.96/28 dev veth1
	wait_for 10 stat_grew removed "$removed" ||
		fail "flow not torn down after the route change: $(ip netns exec "$nsr" cat /proc/net/rflow)"
	wait_for 10 stat_grew created "$created" ||
		fail "connection not offloaded again: $(ip netns exec "$nsr" cat /proc/net/rflow)"
	wait "$client" || fail "echoes lost or corrupted: $(cat "$work/pinger")"
	kill "$server" 2>/dev/null
	echo "$(cat "$work/pinger"); created $created -> $(rflow_stat "$nsr" created), removed $removed -> $(rflow_stat "$nsr" removed)"
}

# Prints the TCP and UDP checksum errors (IPv4 and IPv6) namespace $1 counted on receive.
csum_errors() {
	ip netns exec "$1" cat /proc/net/snmp /proc/net/snmp6 | awk '
		$1 == "Tcp:" || $1 == "Udp:" {
			if (!seen[$1]++) { for (i = 2; i <= NF; i++) col[$1, $i] = i; next }
			errors += $(col[$1, "InCsumErrors"])
		}
		$1 == "Udp6InCsumErrors" { errors += $2 }
		END { print errors + 0 }'
}

# NATed TCP and UDP over IPv4 and IPv6, and IPv4 UDP without a checksum, through the fast path.
# The receivers verify every checksum: counted in csum_errors, and TCP data would not arrive.
nat_transfers() {
	local size=$((SIZE / 4))
	fastpath_begin
	TCP_DPORT=1666 tcp_transfer 10.0.6.6 "$size" || return 1
	UDP_DPORT=1666 UDP_BIND=10.0.2.99 udp_transfer 10.0.6.6 "$size" || return 1
	RFLOW_UDP_NO_CHECK=1 UDP_PORT=5001 UDP_DPORT=1667 UDP_BIND=10.0.2.99 \
		udp_transfer 10.0.6.6 "$size" || return 1
	TCP_DPORT=1666 tcp_transfer dead:6::6 "$size" || return 1
	UDP_DPORT=1666 UDP_BIND=dead:2::99 udp_transfer dead:6::6 "$size" || return 1
	fastpath_check $((10 * size))
	local e1 e2
	e1=$(csum_errors "$ns1")
	e2=$(csum_errors "$ns2")
	echo "checksum errors: ns1 $e1, ns2 $e2"
	[ "$e1" -eq 0 ] && [ "$e2" -eq 0 ] || fail "receivers dropped packets with bad checksums"
}

# Never a wrong checksum on the wire. Veth trusts CHECKSUM_PARTIAL packets, so checksums are
# made to be computed and verified in software: first the senders compute full checksums that
# rflow updates incrementally; then the senders leave CHECKSUM_PARTIAL packets and the router's
# egress completes them from the pseudo-header seed rflow updated (skb_checksum_help()).
wire_checksums() {
	fresh_topology || return 1
	load_nat
	echo "full checksums from the senders"
	ip netns exec "$ns1" ethtool -K eth0 tx off >/dev/null || { fail "ethtool"; return 1; }
	ip netns exec "$ns2" ethtool -K eth0 tx off >/dev/null || { fail "ethtool"; return 1; }
	nat_transfers || return 1
	echo "CHECKSUM_PARTIAL from the senders, completed by the router's egress"
	ip netns exec "$ns1" ethtool -K eth0 tx on >/dev/null
	ip netns exec "$ns2" ethtool -K eth0 tx on >/dev/null
	ip netns exec "$nsr" ethtool -K veth0 tx off >/dev/null
	ip netns exec "$nsr" ethtool -K veth1 tx off >/dev/null
	nat_transfers
}

# Checks that $1 bytes went through the classic path since fastpath_begin: the forward chain saw
# them all and rflow forwarded nothing, listing no flow of protocol $2 (in $work/proc).
slowpath_check() {
	local moved=$1 proto=$2 fwd ft before
	fwd=$(forward_bytes)
	before=$(cat "$work/ft_before" 2>/dev/null)
	ft=$(rflow_stat "$nsr" bytes)
	ft=$((${ft:-0} - ${before:-0}))
	echo "moved $moved bytes: forward chain saw $fwd, rflow forwarded $ft"
	[ "$fwd" -ge "$moved" ] || fail "forward chain saw only $fwd of $moved bytes"
	[ "$ft" -eq 0 ] || fail "rflow forwarded $ft bytes"
	! grep " $proto " "$work/proc" || fail "a $proto flow was created"
}

# What 6.12's nft_flow_offload_eval() refuses, rflow refuses, and the data still arrives.
admission() {
	# GRE with NAT: the fast path has no GRE NAT.
	fresh_topology || return 1
	ip netns exec "$nsr" nft insert rule inet filter forward meta l4proto gre ct mark set 1 flow add @f
	ip netns exec "$nsr" nft add table ip nat
	ip netns exec "$nsr" nft add chain ip nat post '{ type nat hook postrouting priority 100; }'
	ip netns exec "$nsr" nft add rule ip nat post oifname veth1 masquerade
	gre_tunnels 10.0.2.1
	fastpath_begin
	tcp_transfer 192.168.77.2 "$SIZE" 2 show_flows || return 1
	ip netns exec "$nsr" conntrack -L -p gre 2>/dev/null | grep -q 'src=10.0.2.99 dst=10.0.2.1 ' ||
		fail "GRE not masqueraded: $(ip netns exec "$nsr" conntrack -L -p gre 2>&1)"
	slowpath_check $((2 * SIZE)) gre

	# A conntrack helper on the connection (PPTP's: the kernel config has no FTP helper).
	fresh_topology || return 1
	modprobe nf_conntrack_pptp || { fail "no PPTP conntrack helper"; return 1; }
	ip netns exec "$nsr" nft -f - <<-EOT
	table ip helpers {
		ct helper pptp { type "pptp" protocol tcp; }
		chain pre {
			type filter hook prerouting priority 0;
			tcp dport 1723 ct helper set "pptp"
		}
	}
	EOT
	fastpath_begin
	TCP_PORT=1723 tcp_transfer 10.0.2.99 "$SIZE" 2 show_flows || return 1
	ip netns exec "$nsr" conntrack -L -p tcp --dport 1723 2>/dev/null | grep -q 'helper=pptp' ||
		fail "no helper on the connection: $(ip netns exec "$nsr" conntrack -L -p tcp 2>&1)"
	slowpath_check $((2 * SIZE)) tcp

	# IPv4 options, in both directions.
	fastpath_begin
	RFLOW_IP_OPTIONS=1 udp_transfer 10.0.2.99 "$SIZE" || return 1
	show_flows
	slowpath_check $((2 * SIZE)) udp
}

tap_check "ipv6 nat: dnat and masquerade, tcp and udp, fast path" ipv6_nat
tap_check "802.1ad + 802.1q double tags, ipv4 and ipv6, fast path" double_tags
tap_check "pppoe session, fast path" pppoe
tap_check "gre version 0 tunnel, fast path" gre
tap_check "counter flag: conntrack bytes equal the bytes moved" counter_accuracy
tap_check "sysctl timeout changes apply to new flows" sysctl_new_flows
tap_check "route change: flow torn down on the packet path, offloaded again, data intact" route_change
tap_check "nat checksums on the wire: full, partial, udp without checksum" wire_checksums
tap_check "admission: gre with nat, a ct helper, ipv4 options stay on the classic path" admission
tap_check "rflow is still the flowtable" rflow_is_the_flowtable

tap_done
