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
#     hit counter grows by exactly the packets sent), the router's forward chain, the ASIC
#     port's receive counter and rflow's software counters stay still, and every echo comes
#     back intact;
#   - a flow through a VLAN: the rule matches the tag (6.12's C flowtable fails this: it does
#     not mark the VLAN key used, so a driver reading the match never sees the tag);
#   - keep-alive and expiry: a flow forwarded only in hardware for three times its timeout
#     stays (the hardware's counters keep it alive, no second REPLACE); once idle it expires
#     and its entries leave the ASIC;
#   - table full: a flow the hardware refuses (-ENOSPC) stays in software and is offered again
#     once a second; when room appears it goes to hardware;
#   - TCP with masquerade through the ASIC, data intact; closed, the flow leaves the hardware;
#   - with `counter`, conntrack's byte counters grow by exactly what the hardware forwarded; after
#     a hardware reset (the ASIC's table flushed) the flow comes back to hardware;
#   - hw-tc-offload off on a port empties its entries, traffic goes on in software; on again,
#     the flow returns to hardware;
#   - injected REPLACE and STATS failures keep the flow in software with its data intact until
#     it reaches hardware;
#   - a driver failing to bind fails the flowtable and leaves nothing bound;
#   - IPv6 UDP with masquerade through the ASIC (no checksum action: the hardware fixes it);
#   - DNAT and masquerade: UDP over IPv4 (the echoes must come back from the address they went
#     to) and TCP over IPv6, through the ASIC;
#   - a PPPoE session on the ASIC's port towards ns2: the rule pushes the session header, the
#     ASIC strips it from the replies; TCP intact;
#   - injected DESTROY failures: rflow tries the DESTROY again until the driver takes it
#     (6.12's C flowtable ignores the error: the driver keeps the entry), and gives up after
#     a few tries so that the flow is still freed;
#   - a slow driver (every REPLACE takes 1.5 s): the flow is forwarded in software meanwhile,
#     then in hardware; rflow: deleting the flowtable during a slow REPLACE leaves nothing;
#   - a driver that binds through flow_indr_dev_register() (rflow_sim's indirect mode): flows
#     reach its hardware; unloading it with flows in hardware goes through the flowtable's
#     cleanup callback, which destroys them first;
#   - 30 s of loading and deleting offload rulesets with random bind failures: every load either
#     works or fails cleanly, nothing stays bound, nothing leaks (the debug VM's kmemleak);
#   - rflow only: rflowctl shows a flow in hardware ([HW_OFFLOAD], hardware counters that grow
#     with what the ASIC forwards, its UFID equal to the cookie of both of the ASIC's entries),
#     and `watch` sees NEW, then HW offloaded, then on a DEL the HW events down to dead and
#     DESTROY with reason user, all for that UFID and in that order; the DEL empties the ASIC;
#   - rflow only: with net.rflow.hw_offload_best_effort=1, a flowtable with a device no driver
#     offloads for loads, the device stays in software and is listed in /proc/net/rflow;
#   - deleting the flowtable with flows in hardware: their DESTROYs reach the driver before
#     it is unbound (6.12's C flowtable sends them to an empty callback list: the driver keeps
#     stale entries until its unbind flushes them, which rflow_sim reports in the log).
#
# With HW_COMPARE=1 (the control VM) the same checks run against the C flowtable instead (rflow's
# run is the normal VM's): C must pass every check but those that see 6.12's bugs (VLAN match,
# failed DESTROYs, DESTROY after unbind), whose failure shows that the checks can see them.

source "$(dirname "$0")/lib.sh"

SIM_KO=${RFLOW_SIM_KO:-$(dirname "$RFLOW_KO")/rflow_sim.ko}
SIM=/sys/kernel/debug/rflow_sim/asic0
# Per-check UDP source ports, so that no check sees another's flow.
PORT_BYPASS=40001
PORT_KEEP=40002
PORT_FULL_A=40003
PORT_FULL_B=40004

# Checks both implementations run, and rflow's own (best-effort mode, which C lacks).
CHECKS=19
RFLOW_ONLY=2
RFLOWCTL=${RFLOWCTL:-$RFLOW_ROOT/tools/rflowctl/target/release/rflowctl}
PORT_CTL=40020
if [ "${HW_COMPARE:-0}" = 1 ]; then
	IMPLS=c
	tap_header $((CHECKS + 1))
else
	IMPLS=rflow
	tap_header $((CHECKS + RFLOW_ONLY + 1))
fi

# Makes $1 (rflow or c) the flowtable, on a clean slate.
impl_load() {
	cleanup_topology
	switch_impl "$1"
}

# A fresh ASIC with $1 table entries, and the topology around it; $SIM_ARGS are more module
# parameters.
sim_setup() {
	local entries=${1:-1024}
	cleanup_topology
	if lsmod | grep -q '^rflow_sim '; then
		rmmod rflow_sim || { fail "cannot unload rflow_sim"; return 1; }
	fi
	# shellcheck disable=SC2086
	insmod "$SIM_KO" nports=2 max_entries="$entries" ${SIM_ARGS:-} ||
		{ fail "cannot load rflow_sim"; return 1; }
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
	local family=
	case "${1:-}" in
	nat) family=ip ;;
	nat6) family=ip6 ;;
	dnat)
		ip netns exec "$nsr" nft -f - <<-EOF || return 1
		table inet nat {
			chain pre {
				type nat hook prerouting priority dstnat
				iifname "rsim0p0" ip daddr 10.0.6.6 udp dport 1666 dnat ip to 10.0.2.99:7000
				iifname "rsim0p0" ip6 daddr dead:6::6 tcp dport 1666 dnat ip6 to [dead:2::99]:12345
			}
			chain post {
				type nat hook postrouting priority srcnat
				oifname "rsim0p1" masquerade
			}
		}
		EOF
		;;
	esac
	if [ -n "$family" ]; then
		ip netns exec "$nsr" nft -f - <<-EOF || return 1
		table $family nat {
			chain post {
				type nat hook postrouting priority 100
				oifname "rsim0p1" masquerade
			}
		}
		EOF
	fi
	FT_DEVICES="rsim0p0, rsim0p1" load_ruleset "${2:-flags offload}"
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
	# Not on the check's output: a server left running would keep its capture open.
	ip netns exec "$ns2" python3 "$SELFTESTS/udp_pinger.py" server 10.0.2.99 7000 >/dev/null 2>&1 &
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
	local hits0 rx0 sw0 out hits fwd rx
	hits0=$(sim_counter hit_packets)
	rx0=$(rx_packets rsim0p0)
	[ "$impl" = rflow ] && sw0=$(rflow_stat "$nsr" packets)
	out=$(ping_flow $PORT_BYPASS 200 0.005) || fail "echoes lost through the ASIC: $out"
	if [ "$impl" = rflow ]; then
		local sw=$(( $(rflow_stat "$nsr" packets) - sw0 ))
		echo "rflow's software path forwarded $sw packets meanwhile"
		[ "$sw" = 0 ] || fail "rflow's software path forwarded $sw packets of the flow"
	fi
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

# The C flowtable's control run of a check 6.12 fails by a known bug ($1): the check must fail.
sees_c_bug() {
	local own=$__fail_flag
	__fail_flag=$(mktemp)
	"$1"
	local failed=0
	[ -s "$__fail_flag" ] && failed=1
	rm -f "$__fail_flag"
	__fail_flag=$own
	[ $failed = 1 ] || fail "the C flowtable passed: the check cannot tell"
	echo "as expected, the C flowtable failed it"
}

# ns1 reaches the router through VLAN 10 on port 0's wire: the rule matches the tag and pops
# it, the other direction's pushes it.
check_vlan() {
	sim_setup || return 1
	ip -net "$ns1" -batch - <<-EOF || return 1
	addr flush dev eth0
	link add link eth0 name eth0.10 type vlan id 10
	link set eth0.10 up
	addr add 10.0.1.99/24 dev eth0.10
	route add default via 10.0.1.1
	EOF
	ip -net "$nsr" -batch - <<-EOF || return 1
	addr flush dev rsim0p0
	link add link rsim0p0 name rsim0p0.10 type vlan id 10
	link set rsim0p0.10 up
	addr add 10.0.1.1/24 dev rsim0p0.10
	EOF
	sim_ruleset && pinger_server || return 1
	ping_flow 40012 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 ||
		fail "not in hardware: $(sim_counter entries) entries; last refusal: $(cat "$SIM/last_refusal")"
	local hits0 out
	hits0=$(sim_counter hit_packets)
	out=$(ping_flow 40012 100 0.01) || fail "echoes lost through the ASIC: $out"
	echo "$out; ASIC hits $(( $(sim_counter hit_packets) - hits0 ))"
	[ $(( $(sim_counter hit_packets) - hits0 )) -eq 200 ] || fail "not all through the ASIC"
	kill "$pinger" 2>/dev/null
}

# Conntrack bytes of the flow with source port $1 in direction $2 (1: original, 2: reply).
ct_bytes() {
	ip netns exec "$nsr" conntrack -L -p udp --sport "$1" 2>/dev/null |
		grep -o 'bytes=[0-9]*' | sed -n "${2}p" | cut -d= -f2
}

# With `counter`, the hardware's packets reach conntrack's accounting exactly; after a hardware
# reset the flow comes back to hardware from the software path.
check_counter_reset() {
	sim_setup && sim_ruleset "" "flags offload; counter" && pinger_server || return 1
	ping_flow 40007 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 || fail "not offloaded"
	local hits0 o r want=$((110 * 432))
	hits0=$(sim_counter hit_packets)
	ping_flow 40007 100 0.01 >/dev/null || fail "echoes lost"
	[ $(( $(sim_counter hit_packets) - hits0 )) -eq 200 ] || fail "not all through the ASIC"
	# Every datagram (110 each way, 432 bytes with the IP header) was counted once: by the
	# forward chain, the software fast path or the hardware's polled deltas, whichever carried
	# it. The hardware's part arrives within a polling interval.
	wait_for 20 sh -c "[ \"\$(ip netns exec $nsr conntrack -L -p udp --sport 40007 2>/dev/null | grep -o 'bytes=[0-9]*' | tr '\n' ' ')\" = 'bytes=$want bytes=$want ' ]"
	o=$(ct_bytes 40007 1)
	r=$(ct_bytes 40007 2)
	echo "conntrack after 110 datagrams each way, 100 of them through the ASIC: original $o, reply $r bytes"
	[ "$o" = $want ] && [ "$r" = $want ] || fail "conntrack accounted $o and $r bytes, not $want each"
	# A hardware reset: the table is empty, the flow is forwarded in software meanwhile.
	echo 1 >"$SIM/flush"
	sim_entries_are 0 || fail "flush left entries"
	ping_flow 40007 25 0.2 >/dev/null || fail "echoes lost after the reset"
	sim_entries_are 2 || fail "the flow did not come back to hardware: $(sim_counter entries) entries"
	kill "$pinger" 2>/dev/null
}

# `ethtool -K <port> hw-tc-offload off` empties that port's part of the table (rflow_sim's
# documented choice); traffic goes on in software; switched back on, the flow returns.
check_hw_tc_toggle() {
	sim_setup && sim_ruleset && pinger_server || return 1
	ping_flow 40010 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 || fail "not offloaded"
	ip netns exec "$nsr" ethtool -K rsim0p0 hw-tc-offload off || fail "ethtool refused"
	sim_entries_are 1 || fail "$(sim_counter entries) entries with rsim0p0's offload off, not 1"
	ping_flow 40010 20 0.1 >/dev/null || fail "echoes lost with offload off"
	sim_entries_are 1 || fail "rsim0p0 took a rule with its offload off"
	ip netns exec "$nsr" ethtool -K rsim0p0 hw-tc-offload on || fail "ethtool refused"
	ping_flow 40010 25 0.2 >/dev/null || fail "echoes lost"
	sim_entries_are 2 || fail "the flow did not return to rsim0p0's hardware"
	kill "$pinger" 2>/dev/null
}

# Injected REPLACE and STATS failures: the flow stays in software meanwhile, the data intact,
# and ends up in hardware.
check_injected_failures() {
	sim_setup && sim_ruleset && pinger_server || return 1
	# Every REPLACE of the first round fails (each direction is offered to both ports).
	echo "5 4" >"$SIM/fail_replace"
	ping_flow 40011 30 0.1 >/dev/null || fail "echoes lost while REPLACE failed"
	wait_for 10 sim_entries_are 2 || fail "not in hardware after the failures: $(sim_counter entries) entries"
	echo "REPLACE errors: $(sim_counter replace_err)"
	[ "$(sim_counter replace_err)" -ge 1 ] || fail "no REPLACE failure was injected"
	echo "5 6" >"$SIM/fail_stats"
	ping_flow 40011 40 0.2 >/dev/null || fail "echoes lost while STATS failed"
	echo "STATS errors: $(sim_counter stats_err)"
	[ "$(sim_counter stats_err)" -ge 1 ] || fail "no STATS failure was injected"
	wait_for 10 sim_entries_are 2 || fail "not in hardware after STATS failures"
	kill "$pinger" 2>/dev/null
}

# A driver that fails to bind makes the flowtable fail, and nothing stays bound.
check_bind_failure() {
	sim_setup || return 1
	echo "12 1" >"$SIM/fail_bind"
	local out
	out=$(sim_ruleset 2>&1) && fail "the flowtable loaded although a driver failed to bind"
	echo "refused: $(echo "$out" | head -n 1)"
	local blocks
	blocks=$(cat "$SIM/blocks")
	[ "$blocks" = "$(printf 'rsim0p0 0\nrsim0p1 0')" ] || fail "blocks left bound: $blocks"
	# The failure was injected once: the next load binds.
	sim_ruleset || fail "the flowtable does not load after the failure"
	[ "$(cat "$SIM/blocks")" = "$(printf 'rsim0p0 1\nrsim0p1 1')" ] || fail "not bound after the failure"
}

# IPv6 with masquerade: 6.12 sends no checksum action for IPv6 NAT, the hardware fixes the
# UDP checksum itself; the echoes verify it end to end.
check_ipv6_nat() {
	sim_setup && sim_ruleset nat6 || return 1
	ip netns exec "$ns2" python3 "$SELFTESTS/udp_pinger.py" server dead:2::99 7000 >/dev/null 2>&1 &
	pinger=$!
	wait_for 20 udp_bound "$ns2" 7000 || fail "echo server did not start"
	timeout 300 ip netns exec "$ns1" python3 "$SELFTESTS/udp_pinger.py" client dead:2::99 7000 \
		40008 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 || fail "not offloaded: $(sim_counter entries) entries, $(cat "$SIM/last_refusal")"
	local hits0 out
	hits0=$(sim_counter hit_packets)
	out=$(timeout 300 ip netns exec "$ns1" python3 "$SELFTESTS/udp_pinger.py" client dead:2::99 7000 \
		40008 100 0.01) || fail "echoes lost or corrupted through the ASIC: $out"
	echo "$out; ASIC hits $(( $(sim_counter hit_packets) - hits0 ))"
	[ $(( $(sim_counter hit_packets) - hits0 )) -eq 200 ] || fail "not all through the ASIC"
	ip netns exec "$nsr" conntrack -L -f ipv6 2>/dev/null | grep 'sport=40008' | grep -q 'dst=dead:2::1' ||
		fail "no masquerade"
	kill "$pinger" 2>/dev/null
}

# net.rflow.hw_offload_best_effort=1: a flowtable with a device no driver offloads for loads,
# that device stays in software (listed), flows between the ASIC's ports go to hardware.
# rflowctl on a flow in hardware: listing, counters, the UFID as the rules' cookie, events.
check_rflowctl_hw() {
	sim_setup && sim_ruleset && pinger_server || return 1
	local ctl=("$RFLOWCTL" -n "$nsr")
	"${ctl[@]}" -j watch --timeout 60 >"$work/hw.events" 2>"$work/hw.watch.err" &
	local watcher=$!
	sleep $((2 * TIME_SCALE))
	ping_flow $PORT_CTL 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 || fail "not offloaded: $(sim_counter entries) entries"
	wait_for 5 sh -c "${ctl[*]} list --port $PORT_CTL | grep -q HW_OFFLOAD" ||
		fail "rflowctl does not show [HW_OFFLOAD]"
	local line u
	line=$("${ctl[@]}" list --port $PORT_CTL)
	echo "$line"
	u=$(grep -oE 'ufid:[0-9a-f-]{36}' <<<"$line" | head -n 1)
	[ -n "$u" ] || { fail "no UFID listed"; return 1; }
	# Both of the ASIC's entries (one per direction) carry the flow's UFID as their cookie.
	local tagged
	tagged=$(grep -c -- " $u\( \|$\)" "$SIM/entries")
	[ "$tagged" = 2 ] || fail "$tagged ASIC entries carry $u: $(cat "$SIM/entries")"
	# The hardware counters follow what the ASIC forwards (read with the stats work, about once
	# a second).
	local hits0
	hits0=$(sim_counter hit_packets)
	ping_flow $PORT_CTL 100 0.01 >/dev/null || fail "echoes lost through the ASIC"
	local hits=$(( $(sim_counter hit_packets) - hits0 ))
	wait_for $((5 * TIME_SCALE)) sh -c "${ctl[*]} -j get $u | python3 -c '
import json, sys
f = json.load(sys.stdin)
sys.exit(0 if f[\"orig\"][\"hw_packets\"] + f[\"reply\"][\"hw_packets\"] >= $hits else 1)'" ||
		fail "hardware counters below the ASIC's $hits hits: $("${ctl[@]}" -j get "$u")"
	"${ctl[@]}" -j get "$u" | python3 -c '
import json, sys
f = json.load(sys.stdin)
print("get: hw_state", f["hw_state"], "hw_packets", f["orig"]["hw_packets"], "+",
      f["reply"]["hw_packets"], "software packets", f["orig"]["packets"], "+", f["reply"]["packets"])
sys.exit(0 if f["hw_state"] == "offloaded" else 1)' || fail "hw_state is not offloaded"
	"${ctl[@]}" del "$u" || fail "del $u"
	wait_for 10 sim_entries_are 0 || fail "the ASIC still holds $(sim_counter entries) entries after the del"
	sleep $((2 * TIME_SCALE))
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	kill "$pinger" 2>/dev/null
	# The events of this UFID, in order: new, hw offloaded, hw ... dead, destroy user.
	local seq
	seq=$(python3 - "$work/hw.events" "$u" <<-'PY'
	import json, sys
	out = []
	for line in open(sys.argv[1]):
	    e = json.loads(line)
	    if e.get("ufid") != sys.argv[2]:
	        continue
	    if e["event"] == "hw":
	        out.append("hw:" + e["hw_state"])
	    elif e["event"] == "destroy":
	        out.append("destroy:" + e.get("reason", "?"))
	    else:
	        out.append(e["event"])
	print(" ".join(out))
	PY
	)
	echo "events of $u: $seq"
	[[ $seq =~ ^new\ hw:offloaded\ .*destroy:user ]] ||
		fail "events out of order or missing: '$seq' ($(head -c 300 "$work/hw.watch.err"))"
	[[ $seq == *hw:dead* ]] || fail "no HW event for the flow leaving the hardware: '$seq'"
}

check_best_effort() {
	sim_setup || return 1
	ip -net "$nsr" link add vethx type veth peer name vethy
	local out
	out=$(FT_DEVICES="rsim0p0, rsim0p1, vethx" load_ruleset "flags offload" 2>&1) &&
		fail "loaded with a veth while best effort is off (the default)"
	ip netns exec "$nsr" sysctl -q net.rflow.hw_offload_best_effort=1 || fail "no sysctl"
	FT_DEVICES="rsim0p0, rsim0p1, vethx" load_ruleset "flags offload" ||
		fail "best effort: the flowtable did not load"
	local vethx listed
	vethx=$(ip -net "$nsr" -j link show vethx | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["ifindex"])')
	listed=$(ip netns exec "$nsr" cat /proc/net/rflow | awk '$1 == "flowtable" { for (i = 5; i < NF; i += 2) if ($i == "software_only_devices") print $(i + 1) }')
	echo "software-only devices: $listed (vethx is $vethx); ASIC blocks: $(cat "$SIM/blocks" | tr '\n' ' ')"
	[ "$listed" = "$vethx" ] || fail "listed software-only devices '$listed', not vethx ($vethx)"
	[ "$(cat "$SIM/blocks")" = "$(printf 'rsim0p0 1\nrsim0p1 1')" ] || fail "ASIC ports not bound"
	pinger_server
	ping_flow 40009 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 || fail "flow between ASIC ports not in hardware"
	kill "$pinger" 2>/dev/null
	# Deleting the flowtable unbinds the ASIC ports only; the veth never was.
	ip netns exec "$nsr" nft delete table inet filter || fail "cannot delete the table"
	[ "$(cat "$SIM/blocks")" = "$(printf 'rsim0p0 0\nrsim0p1 0')" ] || fail "blocks left bound"
}

# DNAT and masquerade through the ASIC: UDP over IPv4 (the pinger takes only echoes from the
# address and port it sent to, so the reply's reverse DNAT is checked), then TCP over IPv6.
check_dnat() {
	sim_setup && sim_ruleset dnat && pinger_server || return 1
	local hits0 out
	timeout 300 ip netns exec "$ns1" python3 "$SELFTESTS/udp_pinger.py" client 10.0.6.6 1666 \
		40013 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 ||
		fail "UDP not in hardware: $(sim_counter entries) entries, $(cat "$SIM/last_refusal")"
	hits0=$(sim_counter hit_packets)
	out=$(timeout 300 ip netns exec "$ns1" python3 "$SELFTESTS/udp_pinger.py" client 10.0.6.6 \
		1666 40013 100 0.01) || fail "echoes lost or from the wrong address: $out"
	echo "UDP to 10.0.6.6:1666 (DNAT to 10.0.2.99:7000, masquerade): $out; ASIC hits $(( $(sim_counter hit_packets) - hits0 ))"
	[ $(( $(sim_counter hit_packets) - hits0 )) -eq 200 ] || fail "not all through the ASIC"
	ip netns exec "$nsr" conntrack -L -p udp --sport 40013 2>/dev/null |
		grep -q 'dst=10.0.6.6 .*src=10.0.2.99 dst=10.0.2.1 sport=7000' || fail "no DNAT and masquerade"
	kill "$pinger" 2>/dev/null
	hits0=$(sim_counter hit_packets)
	TCP_DPORT=1666 tcp_transfer dead:6::6 2000000 2 || return 1
	local hits=$(( $(sim_counter hit_packets) - hits0 ))
	echo "TCP over IPv6 to [dead:6::6]:1666 (DNAT, masquerade): 2 MB each way intact, ASIC hits $hits"
	[ "$hits" -gt 500 ] || fail "the ASIC forwarded only $hits packets of the transfer"
}

# The router reaches ns2 through a PPPoE session on rsim0p1 (pppd and the kernel's PPPoE in the
# router, pppoe-server in ns2): the rule towards ns2 pushes the session header, the ASIC strips
# it from what ns2 sends back.
check_pppoe() {
	sim_setup && pppoe_session rsim0p1 || return 1
	sim_ruleset || return 1
	local hits0 hits
	hits0=$(sim_counter hit_packets)
	tcp_transfer 10.99.0.2 2000000 2 "cat $SIM/entries"
	local rc=$?
	hits=$(( $(sim_counter hit_packets) - hits0 ))
	echo "ASIC: $(grep -E '^(replace|miss)_' "$SIM/counters" | tr '\n' ' ')"
	[ $rc = 0 ] || return 1
	echo "TCP through PPPoE: 2 MB each way intact, ASIC hits $hits"
	[ "$hits" -gt 500 ] || fail "the ASIC forwarded only $hits packets: $(cat "$SIM/last_refusal")"
}

# rflow's count of failed DESTROY rounds, module-wide (0 for C, which has none).
hw_destroy_failed() {
	[ "$impl" = rflow ] || { echo 0; return; }
	local n
	n=$(rflow_total hw_destroy_failed)
	[[ $n =~ ^[0-9]+$ ]] || fail "no hw_destroy_failed in /proc/net/rflow"
	echo "${n:-0}"
}

# Injected DESTROY failures: the flow idles out, its DESTROY fails twice (EIO); rflow tries it
# again until it works, and the ASIC ends up empty. Then a driver that never takes the DESTROY:
# rflow gives up, the flow is freed all the same.
check_destroy_failure() {
	sim_setup && ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=3 &&
		sim_ruleset && pinger_server || return 1
	ping_flow 40014 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 || fail "not offloaded"
	local failed0
	failed0=$(hw_destroy_failed)
	echo "5 2" >"$SIM/fail_destroy"
	wait_for 20 sim_entries_are 0
	echo "after 2 failed DESTROYs: $(sim_counter entries) entries left; driver: destroy_ok $(sim_counter destroy_ok), destroy_err $(sim_counter destroy_err)"
	sim_entries_are 0 || fail "the ASIC keeps $(sim_counter entries) entries of an expired flow: $(cat "$SIM/entries")"
	[ "$(sim_counter destroy_err)" = 2 ] || fail "$(sim_counter destroy_err) DESTROYs failed, not 2"
	[ "$(hw_offloaded 40014)" = 0 ] || fail "conntrack still shows [HW_OFFLOAD]"
	# The pinger server holds the check's output open: it must go before any return.
	[ "$impl" = rflow ] || { kill "$pinger" 2>/dev/null; return 0; }
	echo "rflow counted $(( $(hw_destroy_failed) - failed0 )) failed DESTROY rounds"
	[ $(( $(hw_destroy_failed) - failed0 )) -ge 1 ] || fail "rflow did not count the failures"
	# A driver that fails every DESTROY: rflow gives up after a few tries and frees the flow.
	ping_flow 40015 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 || fail "not offloaded"
	echo "5 1000" >"$SIM/fail_destroy"
	wait_for 30 sh -c "[ \$(ip netns exec $nsr cat /proc/net/rflow | grep -c ':40015 ') = 0 ]" ||
		fail "the flow was not freed while its driver failed every DESTROY"
	echo "a driver failing every DESTROY: the flow was freed after $(( $(sim_counter destroy_err) - 2 )) failed calls; the ASIC keeps $(sim_counter entries) stale entries"
	kill "$pinger" 2>/dev/null
}

# A slow driver: every REPLACE takes 1.5 s. The flow is forwarded in software until the driver
# answers, data intact, then in hardware. rflow: deleting the flowtable while a slow REPLACE
# runs leaves the ASIC empty.
check_replace_delay() {
	sim_setup && sim_ruleset && pinger_server || return 1
	echo 1500 >"$SIM/replace_delay_ms"
	local out
	out=$(ping_flow 40016 30 0.1) || fail "echoes lost during a slow REPLACE: $out"
	echo "while the REPLACEs took 1.5 s each: $out"
	wait_for 15 sim_entries_are 2 || fail "not in hardware after the slow REPLACEs"
	[ "$impl" = rflow ] || { kill "$pinger" 2>/dev/null; return 0; }
	ping_flow 40017 1 0.05 >/dev/null || fail "echo lost"
	sleep 0.5
	ip netns exec "$nsr" nft delete table inet filter || fail "cannot delete the table"
	kill "$pinger" 2>/dev/null
	wait_for 15 sim_entries_are 0 || fail "entries left after the flowtable went away: $(cat "$SIM/entries")"
	[ "$(cat "$SIM/blocks")" = "$(printf 'rsim0p0 0\nrsim0p1 0')" ] || fail "blocks left bound"
}

# rflow_sim in indirect mode: no ndo_setup_tc, it binds through flow_indr_dev_register(). Flows
# go to its hardware; unloading it with flows in hardware goes through the flowtable's cleanup
# callback, which must destroy them before the callback leaves (no stale entry at unbind).
check_indirect() {
	SIM_ARGS="indirect=1" sim_setup && sim_ruleset && pinger_server || return 1
	local blocks
	blocks=$(cat "$SIM/blocks" | tr '\n' ' ')
	echo "indirect mode, blocks bound: $blocks"
	[ "$blocks" = "rsim0p0 1 rsim0p1 1 " ] || fail "blocks bound: $blocks"
	ping_flow 40018 10 0.05 >/dev/null || fail "warm-up echoes lost"
	wait_for 10 sim_entries_are 2 || fail "not in hardware: $(sim_counter entries) entries"
	local hits0 out
	hits0=$(sim_counter hit_packets)
	out=$(ping_flow 40018 50 0.01) || fail "echoes lost through the ASIC: $out"
	echo "$out; ASIC hits $(( $(sim_counter hit_packets) - hits0 ))"
	[ $(( $(sim_counter hit_packets) - hits0 )) -eq 100 ] || fail "not all through the ASIC"
	kill "$pinger" 2>/dev/null
	local mark="rflow_hw_offload: unloading the indirect driver ($$.$RANDOM)"
	echo "$mark" >/dev/kmsg
	timeout 60 rmmod rflow_sim || fail "rflow_sim did not unload"
	local stale
	stale=$(dmesg | sed -n "/$mark/,\$p" | grep 'flow entries left')
	[ -z "$stale" ] || fail "the driver was unbound with entries in its table: $stale"
	# The flowtable lives on without the ports.
	ip netns exec "$nsr" nft list flowtable inet filter f >/dev/null || fail "the flowtable is gone"
}

# $1 seconds of loading and deleting `flags offload` rulesets while bind failures are injected
# at random: each load either works with both ports bound or fails with none bound.
check_bind_loop() {
	sim_setup || return 1
	local end=$((SECONDS + $1)) loads=0 refused=0 blocks
	while [ $SECONDS -lt $end ]; do
		[ $((RANDOM % 3)) = 0 ] && echo "$((RANDOM % 2 ? 12 : 5)) $((RANDOM % 2 + 1))" >"$SIM/fail_bind"
		if sim_ruleset >/dev/null 2>&1; then
			loads=$((loads + 1))
			blocks=$(cat "$SIM/blocks" | tr '\n' ' ')
			[ "$blocks" = "rsim0p0 1 rsim0p1 1 " ] || { fail "loaded, but bound: $blocks"; break; }
			ip netns exec "$nsr" nft delete table inet filter || { fail "cannot delete"; break; }
		else
			refused=$((refused + 1))
			ip netns exec "$nsr" nft delete table inet filter 2>/dev/null
		fi
		blocks=$(cat "$SIM/blocks" | tr '\n' ' ')
		[ "$blocks" = "rsim0p0 0 rsim0p1 0 " ] || { fail "left bound: $blocks"; break; }
	done
	echo "5 0" >"$SIM/fail_bind"
	echo "$loads loads, $refused refused by an injected bind failure"
	[ "$refused" -ge 1 ] && [ "$loads" -ge 1 ] || fail "the loop did not exercise both outcomes"
	sim_ruleset || fail "no load after the loop"
	timeout 60 rmmod rflow_sim || fail "rflow_sim did not unload"
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
		tap_check "$label (control): deleting the flowtable unbinds the driver before its DESTROYs (6.12 bug)" sees_c_bug check_delete
		tap_check "$label (control): VLAN flows: 6.12 does not mark the VLAN key used, the driver refuses the rule" sees_c_bug check_vlan
	else
		tap_check "$label: deleting the flowtable destroys its flows in hardware before unbinding" check_delete
		tap_check "$label: UDP through a VLAN: the rule matches and pops the tag, pushes it back" check_vlan
	fi
	tap_check "$label: with counter, conntrack gets the hardware's bytes; after a reset the flow returns to hardware" check_counter_reset
	tap_check "$label: hw-tc-offload off empties a port's entries, traffic goes on; on again, the flow returns" check_hw_tc_toggle
	tap_check "$label: injected REPLACE and STATS failures: software meanwhile, data intact, then hardware" check_injected_failures
	tap_check "$label: a driver failing to bind fails the flowtable, nothing stays bound" check_bind_failure
	tap_check "$label: IPv6 UDP with masquerade through the ASIC, echoes intact" check_ipv6_nat
	tap_check "$label: DNAT and masquerade through the ASIC: UDP over IPv4, TCP over IPv6" check_dnat
	tap_check "$label: TCP through a PPPoE session: the ASIC pushes and strips the session header" check_pppoe
	if [ "$impl" = c ]; then
		tap_check "$label (control): failed DESTROYs are ignored, the driver keeps the entry (6.12)" sees_c_bug check_destroy_failure
	else
		tap_check "$label: failed DESTROYs are tried again until the ASIC is empty; given up, the flow is freed" check_destroy_failure
	fi
	tap_check "$label: a slow driver (1.5 s REPLACEs): software meanwhile, then hardware" check_replace_delay
	tap_check "$label: an indirect driver (flow_indr_dev_register): flows in hardware; its unload destroys them first" check_indirect
	loop=${BIND_LOOP_SECONDS:-30}
	[ "$impl" = c ] && loop=${BIND_LOOP_SECONDS:-10}
	tap_check "$label: ${loop} s of offload rulesets with random bind failures: clean loads and failures" check_bind_loop $loop
	if [ "$impl" = rflow ]; then
		tap_check "$label: rflowctl: [HW_OFFLOAD], hardware counters, the UFID as the rules' cookie, HW events in order" check_rflowctl_hw
		tap_check "$label: best-effort mode: a device no driver binds stays in software, listed" check_best_effort
	fi
	tap_check "$label: the NIC's module unloads with flows in hardware" check_unload
done
# The control run ends with rflow back in place of the C modules, as the next script expects.
[ "$IMPLS" = c ] && impl_load rflow
tap_check "rflow is still the flowtable" rflow_is_the_flowtable
tap_done
