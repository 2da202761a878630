#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the throughput VM (2 vCPUs, TCG, no instruction counting): iperf3 with $STREAMS
# parallel TCP streams from ns1 through the router to ns2, over veth pairs with GRO, GSO and
# TSO on (the router receives and forwards aggregated segments, as a real router with offloads
# does), for $SECONDS_PER_RUN seconds per run, in four modes:
#   route    plain routing, no netfilter in the router
#   classic  conntrack and a forward chain accepting the connections (no flowtable)
#   cflow    the in-tree C flowtable (nf_flow_table_inet + nft_flow_offload)
#   rflow    rflow, same ruleset
# $ROUNDS rounds, the order of the modes rotated in each, all in one boot; the C and rflow
# modules are swapped between their runs. Under TCG the absolute rates mean little: compare
# the modes.
#
# Output: "tcp <mode> <round> <bits per second received> fwd=<packets the router's classic
# path forwarded> offloaded=<connections conntrack showed offloaded halfway through>" per run;
# "error ..." when a run failed, or when a flowtable mode's connections were not all offloaded.
set -u
ROUNDS=${ROUNDS:-5}
STREAMS=${STREAMS:-4}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
MODES=${MODES:-"route classic cflow rflow"}

ns1=tcp-ns1
nsr=tcp-nsr
ns2=tcp-ns2

modprobe nf_tables
modprobe nf_conntrack
for ns in $ns1 $nsr $ns2; do ip netns add $ns; done
ip -net $nsr link add veth0 type veth peer name eth0 netns $ns1
ip -net $nsr link add veth1 type veth peer name eth0 netns $ns2
ip -net $nsr addr add 10.0.1.1/24 dev veth0
ip -net $nsr addr add 10.0.2.1/24 dev veth1
ip -net $ns1 addr add 10.0.1.99/24 dev eth0
ip -net $ns2 addr add 10.0.2.99/24 dev eth0
for ns in $ns1 $nsr $ns2; do ip -net $ns link set lo up; done
for dev in veth0 veth1; do
	ip -net $nsr link set $dev up
	ip netns exec $nsr ethtool -K $dev gro on gso on tso on >/dev/null
done
for ns in $ns1 $ns2; do
	ip -net $ns link set eth0 up
	ip netns exec $ns ethtool -K eth0 gro on gso on tso on >/dev/null
done
ip -net $ns1 route add default via 10.0.1.1
ip -net $ns2 route add default via 10.0.2.1
ip netns exec $nsr sysctl -q net.ipv4.ip_forward=1
echo "config streams=$STREAMS seconds=$SECONDS_PER_RUN rounds=$ROUNDS cpus=$(nproc)"
echo "config router offloads: $(ip netns exec $nsr ethtool -k veth0 | grep -E '^(generic-receive-offload|generic-segmentation-offload|tcp-segmentation-offload):' | tr -s ' \n' ' ')"

impl() {
	if [ "$1" = c ]; then
		lsmod | grep -q '^rflow ' && rmmod rflow
		modprobe nf_flow_table_inet && modprobe nft_flow_offload
	else
		local m
		for m in nft_flow_offload nf_flow_table_inet nf_flow_table; do
			lsmod | grep -q "^$m " && rmmod $m
		done
		lsmod | grep -q '^rflow ' || insmod "$RFLOW_KO"
	fi
}

ruleset() {
	ip netns exec $nsr nft flush ruleset
	case $1 in
	route) return 0 ;;
	classic)
		ip netns exec $nsr nft -f - <<-EOF
		table inet filter {
			chain forward {
				type filter hook forward priority 0; policy drop;
				ct state new,established,related accept
			}
		}
		EOF
		;;
	cflow | rflow)
		ip netns exec $nsr nft -f - <<-EOF
		table inet filter {
			flowtable f { hook ingress priority 0; devices = { veth0, veth1 }; }
			chain forward {
				type filter hook forward priority 0; policy drop;
				meta l4proto tcp flow add @f
				ct state new,established,related accept
			}
		}
		EOF
		;;
	esac
}

forwarded() {
	ip netns exec $nsr awk '/^Ip:/ { n++ } n == 2 { print $7; exit }' /proc/net/snmp
}

run() {
	local mode=$1 round=$2 out fwd0 fwd1 bps offloaded
	case $mode in
	cflow) impl c ;;
	rflow) impl rflow ;;
	esac
	ruleset "$mode" || { echo "error $mode $round: ruleset"; return; }
	ip netns exec $nsr conntrack -F 2>/dev/null
	ip netns exec $ns2 iperf3 -s -D -1 >/dev/null 2>&1
	sleep 0.5
	fwd0=$(forwarded)
	# Offloaded connections are counted halfway through: at the end they are closing.
	(sleep $((SECONDS_PER_RUN / 2)); ip netns exec $nsr conntrack -L -p tcp 2>/dev/null |
		grep -c OFFLOAD >/tmp/tcp-offloaded) &
	local counter=$!
	out=$(ip netns exec $ns1 timeout $((SECONDS_PER_RUN + 30)) iperf3 -c 10.0.2.99 -J \
		-P "$STREAMS" -t "$SECONDS_PER_RUN" 2>&1)
	wait $counter
	offloaded=$(cat /tmp/tcp-offloaded)
	fwd1=$(forwarded)
	bps=$(python3 -c 'import json, sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))' <<<"$out" 2>/dev/null)
	if [ -z "$bps" ]; then
		echo "error $mode $round: iperf3 failed: $(tail -c 300 <<<"$out")"
		return
	fi
	echo "tcp $mode $round $bps fwd=$((fwd1 - fwd0)) offloaded=$offloaded"
	case $mode in
	cflow | rflow)
		# The data connections and iperf3's control connection.
		[ "$offloaded" -ge "$STREAMS" ] ||
			echo "error $mode $round: only $offloaded of $((STREAMS + 1)) connections offloaded"
		;;
	esac
}

for round in $(seq "$ROUNDS"); do
	set -- $MODES
	# Rotate by the round number, so that no mode always runs first or after the same one.
	for _ in $(seq $(((round - 1) % $#))); do set -- "${@:2}" "$1"; done
	for mode in "$@"; do run "$mode" "$round"; done
done
