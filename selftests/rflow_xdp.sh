#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# XDP programs that look flows up in the flowtable through the kfunc bpf_xdp_flow_lookup()
# (the C flowtable's nf_flow_table_bpf.c; rflow's include/rflow_xdp.c), attached to the
# router's veth0 (towards ns1):
#   - the kernel tree's own tools/testing/selftests/bpf/progs/xdp_flowtable.c, unchanged,
#     loads, and counts hits for offloaded IPv4 and IPv6 UDP flows and none for a flow the
#     ruleset keeps out of the flowtable;
#   - selftests/xdp/flow_lookup.bpf.c reads the tuple a hit returns (addresses, ports, input
#     device, protocols, MTU), and the errors of misses (-ENOENT) and of a wrong options size
#     (-EINVAL); a second lookup, of the reply direction, leaves the first result intact;
#   - with that program dropping the packets it found a flow for, the flowtable sees none of
#     them: only the kfunc's refresh keeps the flow alive past three times its timeout; once
#     the traffic stops, the flow expires.
# With XDP_COMPARE=1 (the control VM) the same checks run against the C flowtable, then rflow
# is loaded back for the next script. The programs are built by scripts/build-xdp.sh
# (RFLOW_XDP is its output directory).

source "$(dirname "$0")/lib.sh"

XDP=${RFLOW_XDP:?RFLOW_XDP: the directory scripts/build-xdp.sh built}
CHECKS=3
if [ "${XDP_COMPARE:-0}" = 1 ]; then
	IMPLS=c
else
	IMPLS=rflow
fi
tap_header $((CHECKS + 1))

# No dot in the path: libbpf turns dots of pin paths into underscores.
bpffs=/tmp/rflow_xdp_bpffs_$$

impl_load() {
	cleanup_topology
	switch_impl "$1"
}

# The router: flowtable f on veth0 and veth1; UDP to port 7999 stays out of it.
topology() {
	cleanup_topology
	setup_topology || return 1
	ip netns exec "$nsr" nft -f - <<-EOF
	table inet filter {
		flowtable f {
			hook ingress priority 0
			devices = { veth0, veth1 }
		}
		chain forward {
			type filter hook forward priority 0; policy accept;
			udp dport 7999 accept
			udp sport 7999 accept
			meta l4proto { tcp, udp } flow add @f
		}
	}
	EOF
}

pinger_server() {
	ip netns exec "$ns2" python3 "$SELFTESTS/udp_pinger.py" server "$1" "$2" >/dev/null 2>&1 &
	wait_for 10 udp_bound "$ns2" "$2" || fail "pinger server on port $2 did not start"
}

ping_flow() {
	timeout 300 ip netns exec "$ns1" python3 "$SELFTESTS/udp_pinger.py" client "$@"
}

# Loads program $1 (an object file of $XDP) and attaches it to the router's veth0; its maps
# are pinned under $bpffs/maps.
xdp_attach() {
	mkdir -p "$bpffs"
	mountpoint -q "$bpffs" || mount -t bpf bpf "$bpffs" || return 1
	rm -rf "$bpffs/prog" "$bpffs/maps"
	bpftool prog load "$XDP/$1" "$bpffs/prog" type xdp pinmaps "$bpffs/maps" ||
		fail "bpftool cannot load $1"
	ip -net "$nsr" link set dev veth0 xdpdrv pinned "$bpffs/prog" || fail "cannot attach $1 to veth0"
}

xdp_detach() {
	ip -net "$nsr" link set dev veth0 xdpdrv off 2>/dev/null
	rm -rf "$bpffs/prog" "$bpffs/maps"
}

# Sets the program's config: drop mode $1 (0 or 1), reply-direction lookups as if from
# interface index $2 (0: none).
set_config() {
	# shellcheck disable=SC2046
	bpftool map update pinned "$bpffs/maps/config" key 0 0 0 0 value \
		$(python3 -c "import struct, sys; print(*struct.pack('<II', $1, $2))")
}

# Prints field $2 (a Python expression over `v`) of entry 0 of pinned map $1.
map_value() {
	bpftool -j map dump pinned "$bpffs/maps/$1" |
		python3 -c "import json, sys; v = json.load(sys.stdin)[0]['formatted']['value']; print($2)"
}

# The kernel tree's program counts the lookups that found a flow in map "stats".
upstream_hits() {
	map_value stats v
}

check_upstream_program() {
	topology || return 1
	xdp_attach xdp_flowtable.bpf.o || return 1
	pinger_server 10.0.2.99 7000 || return 1
	pinger_server 10.0.2.99 7999 || return 1
	pinger_server dead:2::99 7000 || return 1
	local hits0 hits1 hits2 hits3
	hits0=$(upstream_hits)
	ping_flow 10.0.2.99 7000 41000 30 0.05 >/dev/null || fail "IPv4 echoes lost"
	hits1=$(upstream_hits)
	ping_flow 10.0.2.99 7999 41001 30 0.05 >/dev/null || fail "echoes of the flow kept out lost"
	hits2=$(upstream_hits)
	ping_flow dead:2::99 7000 41002 30 0.05 >/dev/null || fail "IPv6 echoes lost"
	hits3=$(upstream_hits)
	echo "hits: offloaded IPv4 flow $((hits1 - hits0)), flow kept out $((hits2 - hits1)), offloaded IPv6 flow $((hits3 - hits2)) (30 datagrams each way)"
	# The flow is offloaded once the reply has gone through: the first datagram or two miss.
	[ $((hits1 - hits0)) -ge 25 ] && [ $((hits1 - hits0)) -le 30 ] || fail "IPv4 hits $((hits1 - hits0)), not 25-30"
	[ "$hits2" = "$hits1" ] || fail "the flow kept out of the flowtable was found $((hits2 - hits1)) times"
	[ $((hits3 - hits2)) -ge 25 ] && [ $((hits3 - hits2)) -le 30 ] || fail "IPv6 hits $((hits3 - hits2)), not 25-30"
	xdp_detach
}

check_tuple() {
	topology || return 1
	xdp_attach flow_lookup.bpf.o || return 1
	pinger_server 10.0.2.99 7000 || return 1
	pinger_server 10.0.2.99 7999 || return 1
	ping_flow 10.0.2.99 7999 41010 5 0.05 >/dev/null || fail "echoes of the flow kept out lost"
	local misses hits
	misses=$(map_value lookups "v['misses']")
	hits=$(map_value lookups "v['hits']")
	echo "flow kept out: $hits hits, $misses misses, error $(map_value lookups "v['miss_error']")"
	[ "$hits" = 0 ] || fail "the flow kept out of the flowtable was found"
	[ "$(map_value lookups "v['miss_error']")" = -2 ] || fail "a miss does not say -ENOENT"
	[ "$(map_value lookups "v['bad_len_error']")" = -22 ] || fail "a wrong options size does not say -EINVAL"
	local ifindex reply_ifindex got want
	ifindex=$(ip netns exec "$nsr" cat /sys/class/net/veth0/ifindex)
	reply_ifindex=$(ip netns exec "$nsr" cat /sys/class/net/veth1/ifindex)
	# After each hit, the reply direction too, as if from veth1.
	set_config 0 "$reply_ifindex" || fail "config"
	ping_flow 10.0.2.99 7000 41011 20 0.05 >/dev/null || fail "echoes lost"
	got=$(map_value lookups "v['reply_src_port'], v['first_src_port_after']")
	echo "after the reply direction's lookup: its source port and the first hit's: $got"
	[ "$got" = "7000 41011" ] || fail "two lookups in one program did not return two distinct tuples"
	got=$(map_value lookups "' '.join(str(x) for x in (v['hits'] > 15, v['src_v4'], v['dst_v4'], v['iifidx'], v['src_port'], v['dst_port'], v['l3proto'], v['l4proto'], v['mtu']))")
	# Addresses as the map holds them: network order read as a little-endian u32.
	want="True $((99 << 24 | 1 << 16 | 10)) $((99 << 24 | 2 << 16 | 10)) $ifindex 41011 7000 2 17 1500"
	echo "last hit: $got (hits > 15, src, dst, iif, ports, l3proto, l4proto, mtu)"
	[ "$got" = "$want" ] || fail "the tuple of a hit is not the flow's: want $want"
	xdp_detach
}

# One datagram every 0.2 s from ns1 to ns2 port 7000 from port $1, for $2 seconds, no reply
# expected.
udp_trickle() {
	ip netns exec "$ns1" python3 - "$1" "$2" <<-'PY'
	import socket, sys, time
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.bind(("0.0.0.0", int(sys.argv[1])))
	end = time.monotonic() + float(sys.argv[2])
	while time.monotonic() < end:
	    s.sendto(b"x" * 100, ("10.0.2.99", 7000))
	    time.sleep(0.2)
	PY
}

# The router's IPv4 ForwDatagrams (the classic path; the flowtable's fast path does not count).
forwarded_v4() {
	ip netns exec "$nsr" awk '/^Ip:/ { n++ } n == 2 { print $7; exit }' /proc/net/snmp
}

offloaded() {
	ip netns exec "$nsr" conntrack -L -p udp --sport "$1" 2>/dev/null | grep -q '\[OFFLOAD\]'
}

check_keepalive() {
	topology || return 1
	local timeout=$((4 * TIME_SCALE))
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=$timeout
	pinger_server 10.0.2.99 7000 || return 1
	ping_flow 10.0.2.99 7000 41020 5 0.05 >/dev/null || fail "echoes lost"
	offloaded 41020 || fail "the flow is not offloaded"
	xdp_attach flow_lookup.bpf.o || return 1
	set_config 1 0 || fail "drop mode"
	local routed0 routed1 hits misses
	routed0=$(forwarded_v4)
	udp_trickle 41020 $((3 * timeout)) || fail "sender"
	routed1=$(forwarded_v4)
	hits=$(map_value lookups "v['hits']")
	misses=$(map_value lookups "v['misses']")
	echo "$((3 * timeout)) s of datagrams only XDP saw: $hits hits (dropped), $misses misses; the router forwarded $((routed1 - routed0))"
	# A flow that expired meanwhile shows as misses: the datagram after its expiry went up
	# the stack and was forwarded (and offloaded again).
	[ "$misses" = 0 ] || fail "$misses datagrams did not find their flow: it expired while XDP found it"
	[ "$routed1" = "$routed0" ] || fail "the router forwarded $((routed1 - routed0)) of them"
	[ "$hits" -ge $((3 * timeout * 4)) ] || fail "only $hits hits"
	offloaded 41020 || fail "the flow is gone"
	wait_for $((timeout + 5 * TIME_SCALE)) sh -c "! ip netns exec $nsr conntrack -L -p udp --sport 41020 2>/dev/null | grep -q OFFLOAD" ||
		fail "the flow outlived the traffic"
	echo "idle: the flow left the flowtable"
	xdp_detach
}

for impl in $IMPLS; do
	label=$impl
	[ "$impl" = c ] && label="C flowtable"
	if ! impl_load "$impl"; then
		for i in $(seq $CHECKS); do tap_fail "$label: cannot load $impl"; done
		continue
	fi
	tap_check "$label: the kernel tree's xdp_flowtable.c loads and finds offloaded IPv4 and IPv6 flows, not others" check_upstream_program
	tap_check "$label: a hit returns the flow's tuple, a second lookup another; a miss says -ENOENT, a bad options size -EINVAL" check_tuple
	tap_check "$label: XDP alone keeps a flow alive through the kfunc's refresh; idle, it expires" check_keepalive
done
[ "$IMPLS" = c ] && impl_load rflow
cleanup_topology
mountpoint -q "$bpffs" && umount "$bpffs"
rmdir "$bpffs" 2>/dev/null
tap_check "rflow is still the flowtable" rflow_is_the_flowtable
tap_done
