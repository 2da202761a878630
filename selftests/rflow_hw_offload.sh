#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Hardware offload end to end on rflow_sim, the simulated offload NIC of this repository:
#
#   ns1 eth0 ==== rsim0p0 [nsr: flowtable f, flags offload] rsim0p1 ==== eth0 ns2
#   (wire end rsim0w0)     ASIC port          ASIC port        (wire end rsim0w1)
#
# A frame ns1 sends enters the simulated ASIC at port 0; if a flow entry matches, the ASIC
# rewrites and forwards it to ns2 itself and the router never sees it. The checks:
#   - binding: `flags offload` binds each port's driver callback; a device no driver can
#     offload for (a veth) makes the flowtable fail with EOPNOTSUPP;
#   - bypass: once a UDP flow shows [HW_OFFLOAD], its packets are forwarded by the ASIC (its
#     hit counter grows by exactly the packets sent), the router's forward chain and the ASIC
#     port's receive counter stay still, and every echo comes back intact;
#   - keep-alive and expiry: a flow forwarded only in hardware for three times its timeout
#     stays (the hardware's counters keep it alive, no second REPLACE); once idle it expires
#     and its entries leave the ASIC;
#   - table full: a flow the hardware refuses (-ENOSPC) stays in software and is offered again
#     once a second; when room appears it goes to hardware;
#   - TCP with masquerade through the ASIC, data intact; closed, the flow leaves the hardware;
#   - deleting the flowtable with flows in hardware: their DESTROYs reach the driver before
#     it is unbound (6.12's C flowtable sends them to an empty callback list: the driver keeps
#     stale entries until its unbind flushes them, which rflow_sim reports in the log).
#
# With HW_COMPARE=1 (the control VM) everything runs against the C flowtable first: it must pass
# every check but the last, whose failure shows that the check can see the C bug.

source "$(dirname "$0")/lib.sh"

SIM_KO=${RFLOW_SIM_KO:-$(dirname "$RFLOW_KO")/rflow_sim.ko}
SIM=/sys/kernel/debug/rflow_sim/asic0
# Per-check UDP source ports, so that no check sees another's flow.
PORT_BYPASS=40001
PORT_KEEP=40002
PORT_FULL_A=40003
PORT_FULL_B=40004

CHECKS=7
if [ "${HW_COMPARE:-0}" = 1 ]; then
	IMPLS="c rflow"
	tap_header $((2 * CHECKS + 1))
else
	IMPLS=rflow
	tap_header $((CHECKS + 1))
fi

# Unloads module $1 if loaded; namespaces being destroyed may hold it for a while.
unload() {
	lsmod | grep -q "^$1 " || return 0
	wait_for 30 rmmod "$1" 2>/dev/null
}

impl_load() {
	cleanup_topology
	modprobe nf_tables && modprobe nf_conntrack || return 1
	if [ "$1" = c ]; then
		unload rflow || return 1
		modprobe nf_flow_table_inet && modprobe nft_flow_offload
	else
		local m
		for m in nft_flow_offload nf_flow_table_inet nf_flow_table; do
			unload "$m" || return 1
		done
		lsmod | grep -q '^rflow ' || insmod "$RFLOW_KO"
	fi
}

# A fresh ASIC with $1 table entries, and the topology around it.
sim_setup() {
	local entries=${1:-1024}
	cleanup_topology
	if lsmod | grep -q '^rflow_sim '; then
		rmmod rflow_sim || { fail "cannot unload rflow_sim"; return 1; }
	fi
	insmod "$SIM_KO" nports=2 max_entries="$entries" || { fail "cannot load rflow_sim"; return 1; }
	topology_namespaces || return 1
	ip -batch - <<-EOF || return 1
	link set rsim0p0 netns $nsr
	link set rsim0p1 netns $nsr
	link set rsim0w0 netns $ns1 name eth0
	link set rsim0w1 netns $ns2 name eth0
	EOF
	topology_addresses rsim0p0 rsim0p1
}

# The router's ruleset: lib.sh's, on the ASIC ports, with `flags offload`; masquerade towards
# ns2 with $1 = nat.
sim_ruleset() {
	if [ "${1:-}" = nat ]; then
		ip netns exec "$nsr" nft -f - <<-EOF || return 1
		table ip nat {
			chain post {
				type nat hook postrouting priority 100
				oifname "rsim0p1" masquerade
			}
		}
		EOF
	fi
	FT_DEVICES="rsim0p0, rsim0p1" load_ruleset "flags offload"
}

sim_counter() {
	local v
	v=$(awk -v k="$1" '$1 == k { print $2 }' "$SIM/counters" 2>/dev/null)
	if ! [[ $v =~ ^[0-9]+$ ]]; then
		fail "cannot read rflow_sim counter $1"
		return 1
	fi
	echo "$v"
}

# Succeeds when the ASIC holds exactly $1 entries.
sim_entries_are() {
	[ "$(sim_counter entries)" = "$1" ]
}

# Prints how many conntrack entries of the router show [HW_OFFLOAD] for UDP source port $1 (any
# port for "").
hw_offloaded() {
	ip netns exec "$nsr" conntrack -L 2>/dev/null | grep "${1:+sport=$1 }" | grep -c 'HW_OFFLOAD'
}

# Echo server in ns2 on port 7000.
pinger_server() {
	ip netns exec "$ns2" python3 "$SELFTESTS/udp_pinger.py" server 10.0.2.99 7000 &
	pinger=$!
	wait_for 20 udp_bound "$ns2" 7000 || fail "echo server did not start"
}

# ping <source port> <count> <interval>
ping_flow() {
	timeout 300 ip netns exec "$ns1" python3 "$SELFTESTS/udp_pinger.py" client 10.0.2.99 7000 "$@"
}

rx_packets() {
	ip -net "$nsr" -s -j link show "$1" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'
}

check_binding() {
	sim_setup && sim_ruleset || { fail "ruleset with flags offload refused"; return 1; }
	local blocks
	blocks=$(cat "$SIM/blocks")
	echo "$blocks" | tr '\n' ' '
	[ "$blocks" = "$(printf 'rsim0p0 1\nrsim0p1 1')" ] || fail "blocks bound: $blocks"
	ip -net "$nsr" link add vethx type veth peer name vethy
	local out
	out=$(ip netns exec "$nsr" nft add flowtable inet filter g \
		'{ hook ingress priority 0; devices = { vethx }; flags offload; }' 2>&1) &&
		fail "a veth in a flags offload flowtable was accepted"
	grep -q 'Operation not supported' <<<"$out" || fail "unexpected error: $out"
	[ "$(cat "$SIM/blocks")" = "$blocks" ] || fail "the refused flowtable changed the bindings"
}

check_bypass() {
	sim_setup && sim_ruleset && pinger_server || return 1
	ping_flow $PORT_BYPASS 20 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sh -c "[ \$(awk '\$1 == \"entries\" { print \$2 }' $SIM/counters) = 2 ]" ||
		fail "the ASIC holds $(sim_counter entries) entries, not 2"
	# Conntrack's flag is set once the REPLACEs returned: it may trail the entries.
	wait_for 5 sh -c "[ \$(ip netns exec $nsr conntrack -L 2>/dev/null | grep 'sport=$PORT_BYPASS ' | grep -c HW_OFFLOAD) = 1 ]" ||
		fail "conntrack does not show [HW_OFFLOAD]"
	ip netns exec "$nsr" nft reset counters table inet filter >/dev/null
	local hits0 rx0 out hits fwd rx
	hits0=$(sim_counter hit_packets)
	rx0=$(rx_packets rsim0p0)
	out=$(ping_flow $PORT_BYPASS 200 0.005) || fail "echoes lost through the ASIC: $out"
	hits=$(( $(sim_counter hit_packets) - hits0 ))
	fwd=$(forward_bytes)
	rx=$(( $(rx_packets rsim0p0) - rx0 ))
	kill "$pinger" 2>/dev/null
	echo "$out; ASIC hits $hits, forward chain $fwd bytes, rsim0p0 received $rx packets"
	[ "$hits" -eq 400 ] || fail "the ASIC forwarded $hits packets, not 400"
	[ "$fwd" = 0 ] || fail "the forward chain saw $fwd bytes"
	# Neighbour traffic may reach the router meanwhile; the 200 datagrams must not.
	[ "$rx" -lt 10 ] || fail "the router received $rx packets on rsim0p0"
}

check_keepalive() {
	sim_setup && ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=4 &&
		sim_ruleset && pinger_server || return 1
	ping_flow $PORT_KEEP 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sh -c "[ \$(awk '\$1 == \"entries\" { print \$2 }' $SIM/counters) = 2 ]" ||
		fail "not offloaded: $(sim_counter entries) entries"
	local ok0 hits0 out
	ok0=$(sim_counter replace_ok)
	hits0=$(sim_counter hit_packets)
	# 12 s of traffic that only the ASIC sees: three flow timeouts.
	out=$(ping_flow $PORT_KEEP 60 0.2) || fail "echoes lost: $out"
	echo "$out; ASIC hits $(( $(sim_counter hit_packets) - hits0 ))"
	[ "$(sim_counter replace_ok)" = "$ok0" ] ||
		fail "the flow was offloaded again (REPLACEs $ok0 -> $(sim_counter replace_ok)): it expired while the hardware forwarded it"
	sim_entries_are 2 || fail "the ASIC holds $(sim_counter entries) entries"
	[ "$(hw_offloaded $PORT_KEEP)" = 1 ] || fail "conntrack lost [HW_OFFLOAD]"
	kill "$pinger" 2>/dev/null
	# Idle: the flow expires and leaves the hardware.
	wait_for 20 sim_entries_are 0 || fail "idle flow still in the ASIC: $(cat "$SIM/entries")"
	[ "$(hw_offloaded $PORT_KEEP)" = 0 ] || fail "conntrack still shows [HW_OFFLOAD]"
}

check_table_full() {
	sim_setup 2 && sim_ruleset && pinger_server || return 1
	ping_flow $PORT_FULL_A 10 0.05 >/dev/null || fail "echoes of flow A lost"
	wait_for 10 sim_entries_are 2 || fail "flow A not offloaded"
	ping_flow $PORT_FULL_B 10 0.05 >/dev/null || fail "echoes of flow B lost"
	sleep 1
	[ "$(hw_offloaded $PORT_FULL_B)" = 0 ] || fail "flow B in hardware in a full table"
	local full
	full=$(sim_counter replace_enospc)
	[ "$full" -ge 1 ] || fail "no REPLACE was refused for want of room"
	echo "table full: flow B refused ($full REPLACEs got -ENOSPC)"
	echo 10 >"$SIM/max_entries"
	# Flow B keeps going in software: it is offered again, and now accepted.
	ping_flow $PORT_FULL_B 25 0.2 >/dev/null || fail "echoes of flow B lost"
	[ "$(hw_offloaded $PORT_FULL_B)" = 1 ] || fail "flow B not offloaded once room appeared"
	sim_entries_are 4 || fail "the ASIC holds $(sim_counter entries) entries, not 4"
	kill "$pinger" 2>/dev/null
}

check_tcp_nat() {
	# 6.12's C flowtable ends a flow on FIN; rflow (as mainline since 6.14) keeps it closing
	# until it idles out: a short timeout keeps the wait short for both.
	sim_setup && ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_tcp_timeout=5 &&
		sim_ruleset nat || return 1
	local hits0 hits
	hits0=$(sim_counter hit_packets)
	tcp_transfer 10.0.2.99 2000000 2 "cat $SIM/entries" || return 1
	hits=$(( $(sim_counter hit_packets) - hits0 ))
	echo "TCP with masquerade: 2 MB each way intact, ASIC hits $hits"
	echo "ASIC: $(grep -E '^(replace|miss)_' "$SIM/counters" | tr '\n' ' ')"
	echo "ASIC's last refusal: $(cat "$SIM/last_refusal")"
	[ "$hits" -gt 500 ] || fail "the ASIC forwarded only $hits packets of the transfer"
	# The FIN missed the hardware (the rule masks it); once the connection is closed and idle,
	# the flow leaves the hardware.
	wait_for 20 sim_entries_are 0 || fail "closed connection still in the ASIC"
}

# Deletes the flowtable with a flow in hardware: the DESTROYs must come before the unbind.
check_delete() {
	sim_setup && sim_ruleset && pinger_server || return 1
	ping_flow 40005 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 || fail "not offloaded"
	kill "$pinger" 2>/dev/null
	local ok0 mark="rflow_hw_offload: deleting the flowtable ($$.$RANDOM)"
	ok0=$(sim_counter destroy_ok)
	echo "$mark" >/dev/kmsg
	ip netns exec "$nsr" nft delete table inet filter || fail "cannot delete the table"
	wait_for 10 sim_entries_are 0 || fail "entries left after the flowtable went away"
	echo "DESTROYs accepted by the driver: $(( $(sim_counter destroy_ok) - ok0 ))"
	[ $(( $(sim_counter destroy_ok) - ok0 )) -eq 2 ] || fail "the driver did not get both DESTROYs"
	local stale
	stale=$(dmesg | sed -n "/$mark/,\$p" | grep 'flow entries left')
	[ -z "$stale" ] || fail "the driver was unbound with the entries still in its table: $stale"
}

# The C flowtable's control run of check_delete: 6.12 unbinds first, so the check must fail.
check_delete_sees_c_bug() {
	local own=$__fail_flag
	__fail_flag=$(mktemp)
	check_delete
	local failed=0
	[ -s "$__fail_flag" ] && failed=1
	rm -f "$__fail_flag"
	__fail_flag=$own
	[ $failed = 1 ] || fail "the C flowtable passed: the check cannot tell"
	echo "as expected, the C flowtable left its entries to the driver's unbind"
}

# Unloading the NIC's module with flows in hardware unbinds it from the flowtable.
check_unload() {
	sim_setup && sim_ruleset && pinger_server || return 1
	ping_flow 40006 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 || fail "not offloaded"
	kill "$pinger" 2>/dev/null
	# Unregistering the ports unbinds them from the live flowtable.
	timeout 60 rmmod rflow_sim || fail "rflow_sim did not unload"
	lsmod | grep -q '^rflow_sim ' && fail "rflow_sim still loaded"
	return 0
}

for impl in $IMPLS; do
	label=$impl
	[ "$impl" = c ] && label="C flowtable"
	if ! impl_load "$impl"; then
		for i in $(seq $CHECKS); do tap_fail "$label: cannot load $impl"; done
		continue
	fi
	tap_check "$label: flags offload binds each port's driver; a device no driver offloads for is refused" check_binding
	tap_check "$label: a UDP flow in hardware bypasses the router, data intact" check_bypass
	tap_check "$label: hardware counters keep a flow alive; idle, it leaves the hardware" check_keepalive
	tap_check "$label: a flow refused by a full table stays in software and is offered again" check_table_full
	tap_check "$label: TCP with masquerade through the ASIC; closed, the flow leaves the hardware" check_tcp_nat
	if [ "$impl" = c ]; then
		tap_check "$label (control): deleting the flowtable unbinds the driver before its DESTROYs (6.12 bug)" check_delete_sees_c_bug
	else
		tap_check "$label: deleting the flowtable destroys its flows in hardware before unbinding" check_delete
	fi
	tap_check "$label: the NIC's module unloads with flows in hardware" check_unload
done
tap_check "rflow is still the flowtable" rflow_is_the_flowtable
tap_done
