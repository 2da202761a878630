#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# TCP and UDP forwarding over IPv4 and IPv6 through a flowtable. For each case, three subtests:
#
#   data:   the data arrives intact in both directions;
#   bypass: conntrack marks the connection [OFFLOAD] and the forward chain's counters saw under
#           5% of the bytes (true of any working flowtable, the C one included);
#   rflow:  rflow lists the flow in /proc/net/rflow and its own counters account for at least
#           90% of the bytes (true only when rflow forwards).
#
# The control run (control.sh) runs this script with the C flowtable: data and bypass must pass
# there and every rflow subtest must fail, which shows that the rflow checks can tell.

source "$(dirname "$0")/lib.sh"

SIZE=${SIZE:-4000000}

tap_header 14
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }
setup_topology && load_ruleset || { tap_fail "topology"; tap_done; }

tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable

# Saves what conntrack and rflow show while the connection to port $2 is open.
capture_live() {
	local fam=$1 port=$2 proto=$3
	ip netns exec "$nsr" conntrack -L -f "$fam" -p "$proto" --dport "$port" >"$work/ct" 2>&1
	ip netns exec "$nsr" cat /proc/net/rflow >"$work/proc" 2>&1
	return 0
}

check_bypass() {
	local moved=$1 fwd
	fwd=$(forward_bytes)
	echo "moved $moved bytes, the forward chain saw $fwd"
	grep -q OFFLOAD "$work/ct" || fail "conntrack shows no [OFFLOAD]: $(cat "$work/ct")"
	[ "$fwd" -lt $((moved / 20)) ] || fail "forward chain saw $fwd of $moved bytes"
}

check_rflow() {
	local moved=$1 proto=$2 port=$3 ft
	ft=$(rflow_stat "$nsr" bytes)
	ft=$((${ft:-0} - ft_before))
	echo "moved $moved bytes, rflow's fast path forwarded $ft"
	grep -q " $proto .*:$port " "$work/proc" || fail "/proc/net/rflow did not list the flow: $(cat "$work/proc")"
	[ "$ft" -ge $((moved * 9 / 10)) ] || fail "rflow forwarded only $ft of $moved bytes"
}

# The checks of each case, in order (named once: a skipped case reports the same names).
CHECK_DATA="data intact both ways"
CHECK_BYPASS="[OFFLOAD], forward chain saw under 5% of the bytes"
CHECK_RFLOW="rflow listed the flow and forwarded at least 90% of the bytes"

run_case() {
	local name=$1 dst=$2 fam=$3 proto=$4 port out rc c
	if ! tap_selected "$name"; then
		for c in "$CHECK_DATA" "$CHECK_BYPASS" "$CHECK_RFLOW"; do
			tap_skip "$name: $c" "not selected by CASES_rflow_forward on this run"
		done
		return 0
	fi
	ip netns exec "$nsr" nft reset counters table inet filter >/dev/null
	ft_before=$(rflow_stat "$nsr" bytes)
	ft_before=${ft_before:-0}
	rm -f "$work/ct" "$work/proc"
	if [ "$proto" = tcp ]; then
		port=12345
		out=$(tcp_transfer "$dst" "$SIZE" 3 "capture_live $fam $port tcp" 2>&1)
		rc=$?
	else
		port=5000
		out=$(udp_transfer "$dst" "$SIZE" 2>&1)
		rc=$?
		capture_live "$fam" "$port" udp
	fi
	if [ "$rc" -eq 0 ]; then
		tap_ok "$name: $CHECK_DATA"
	else
		tap_fail "$name: $CHECK_DATA" "$out"
	fi
	tap_check "$name: $CHECK_BYPASS" check_bypass $((2 * SIZE))
	tap_check "$name: $CHECK_RFLOW" check_rflow $((2 * SIZE)) "$proto" "$port"
}

run_case "tcp ipv4" 10.0.2.99 ipv4 tcp
run_case "tcp ipv6" dead:2::99 ipv6 tcp
run_case "udp ipv4" 10.0.2.99 ipv4 udp
run_case "udp ipv6" dead:2::99 ipv6 udp
tap_check "rflow is still the flowtable after the traffic" rflow_is_the_flowtable

tap_done
