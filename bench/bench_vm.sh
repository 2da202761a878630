#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the benchmark VM (1 vCPU, QEMU -icount shift=0,sleep=off: one guest nanosecond
# per guest instruction). pktgen in the root namespace sends 64-byte UDP packets on a veth into
# a router namespace, which forwards them to a sink namespace that drops them at netdev ingress.
# pktgen's "Result: OK: N usec" covers only its busy loop, in which the whole forwarding path
# runs (veth delivers in softirq inside the pktgen thread), so N * 1000 / packets is the number
# of guest instructions per forwarded packet.
#
# Modes, all in the same boot, in a rotated order in every repetition:
#   drop     the router drops at netdev ingress (the floor: pktgen, veth, receive)
#   route    plain routing, no netfilter in the router
#   classic  conntrack + a forward chain accepting new/established
#   cflow    the in-tree C flowtable (nf_flow_table_inet + nft_flow_offload)
#   rflow    rflow, same ruleset
#
# Output: one "sample <mode> <flows> <rep> <instructions per packet> offloaded=<flows>" line per
# measurement; "error ..." when the sink did not receive every packet. For the flowtable modes
# also, per measurement: "setup <mode> <flows> <rep> <guest ns per packet>" (the pass that
# creates the flows, every packet of it offloading its connection), "memory <mode> <flows> <rep>
# <bytes per flow>" (slab and vmalloc growth over that pass, divided by the flows created), and
# for rflow "resize <flows> <rep> <longest microseconds a resize held the writer lock>".
#
# Up to 16384 flows differ by source port; beyond, by source address (10.3.x.y, an odd count of
# them) and one of 16 source ports, both advancing with every packet.
set -u
REPS=${REPS:-5}
FLOWS=${FLOWS:-"1 1024 16384 1000000"}
COUNT=${COUNT:-40000}
MODES=${MODES:-"drop route classic cflow rflow"}
# Table sizes above 16384 flows take minutes per mode to warm up: fewer modes and repetitions.
BIG_MODES=${BIG_MODES:-"drop cflow rflow"}
BIG_REPS=${BIG_REPS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG=/proc/net/pktgen

die() {
	echo "bench: $*" >&2
	exit 1
}

modprobe veth && modprobe pktgen && modprobe nf_tables && modprobe nf_conntrack || die "modprobe"
modprobe nf_conntrack_netlink

ip netns add rtr && ip netns add sink || die "netns"
# No IPv6 on the benchmark's links: router solicitations and MLD reports would reach the sink's
# counter and make a run look like it delivered more packets than pktgen sent.
no_ipv6="net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1"
sysctl -q $no_ipv6 && ip netns exec rtr sysctl -q $no_ipv6 && ip netns exec sink sysctl -q $no_ipv6 ||
	die "disable ipv6"
ip link add vsrc type veth peer name vrin netns rtr
ip -n rtr link add vrout type veth peer name vsink netns sink
ip link set vsrc up
ip -n rtr link set vrin up
ip -n rtr link set vrout up
ip -n sink link set vsink up
ip addr add 10.1.1.2/24 dev vsrc
ip -n rtr addr add 10.1.1.1/24 dev vrin
ip -n rtr addr add 10.1.2.1/24 dev vrout
ip -n sink addr add 10.1.2.2/24 dev vsink
ip netns exec rtr sysctl -q net.ipv4.ip_forward=1
ip -n rtr route add 10.3.0.0/16 via 10.1.1.2
# Room for a million connections; the flows outlive the longest warm-up.
sysctl -q -w net.netfilter.nf_conntrack_max=2500000
echo 1048576 >/sys/module/nf_conntrack/parameters/hashsize
ip netns exec rtr sysctl -q net.netfilter.nf_conntrack_udp_timeout=3600
ip netns exec rtr sysctl -q net.netfilter.nf_flowtable_udp_timeout=3600
# The sink drops everything at ingress, ARP included, so the router's neighbour is static.
ip -n rtr neigh add 10.1.2.2 lladdr "$(ip -n sink -br link show vsink | awk '{ print $3 }')" \
	dev vrout nud permanent
ip netns exec sink nft -f - <<-END
	table netdev sink {
		chain in {
			type filter hook ingress device vsink priority 0; policy drop;
			counter
		}
	}
END
rtr_mac=$(ip -n rtr -br link show vrin | awk '{ print $3 }')

sink_packets() {
	ip netns exec sink nft list chain netdev sink in | awk '/counter/ { print $3 }'
}

pgset() {
	echo "$1" >"$2" || die "pktgen: '$1' > $2"
}

pktgen_setup() {
	local flows=$1
	pgset "rem_device_all" $PG/kpktgend_0
	pgset "add_device vsrc" $PG/kpktgend_0
	pgset "clone_skb 0" $PG/vsrc
	pgset "pkt_size 64" $PG/vsrc
	pgset "delay 0" $PG/vsrc
	pgset "dst 10.1.2.2" $PG/vsrc
	pgset "src_min 10.1.1.2" $PG/vsrc
	pgset "src_max 10.1.1.2" $PG/vsrc
	pgset "dst_mac $rtr_mac" $PG/vsrc
	pgset "udp_dst_min 9" $PG/vsrc
	pgset "udp_dst_max 9" $PG/vsrc
	# Sequential source ports (pktgen's range excludes its maximum): every flow is visited once
	# per `flows` packets.
	pgset "udp_src_min 1024" $PG/vsrc
	if [ "$flows" -le 16384 ]; then
		pgset "udp_src_max $((1024 + flows))" $PG/vsrc
		return
	fi
	# Addresses x 16 ports, with an odd number of addresses: the two counters cycle through
	# every combination.
	local addrs=$(( (flows + 15) / 16 ))
	[ $((addrs % 2)) -eq 1 ] || addrs=$((addrs + 1))
	local last=$((addrs - 1))
	pgset "udp_src_max 1040" $PG/vsrc
	pgset "src_min 10.3.0.0" $PG/vsrc
	pgset "src_max 10.3.$((last >> 8)).$((last & 255))" $PG/vsrc
}

# Prints the kernel's slab plus vmalloc memory in bytes.
kernel_memory() {
	awk '$1 == "Slab:" || $1 == "VmallocUsed:" { s += $2 } END { print s * 1024 }' /proc/meminfo
}

# Sends $1 packets and prints pktgen's busy time in microseconds.
pktgen_run() {
	pgset "count $1" $PG/vsrc
	pgset "start" $PG/pgctrl
	sed -n 's/.*Result: OK: \([0-9]*\)(c.*/\1/p' $PG/vsrc
}

# Unloads module $1 if loaded. nf_tables frees flowtables and expressions in a work item after
# the ruleset is flushed, and they pin their module until then: retry for a while.
unload() {
	local i
	lsmod | grep -q "^$1 " || return 0
	for i in $(seq 50); do
		rmmod "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	die "rmmod $1: $(cat /sys/module/"$1"/refcnt) references"
}

use_c_flowtable() {
	unload rflow
	modprobe nf_flow_table_inet && modprobe nft_flow_offload || die "C flowtable modules"
}

use_rflow() {
	local m
	for m in nft_flow_offload nf_flow_table_inet nf_flow_table; do
		unload "$m"
	done
	lsmod | grep -q '^rflow ' || insmod "${RFLOW_KO:-$ROOT/rflow.ko}" || die "insmod rflow"
}

ruleset() {
	ip netns exec rtr nft flush ruleset
	ip netns exec rtr conntrack -F 2>/dev/null
	case "$1" in
	drop)
		ip netns exec rtr nft -f - <<-END
			table netdev floor {
				chain in { type filter hook ingress device vrin priority 0; policy drop; }
			}
		END
		;;
	route | none) ;;
	classic)
		ip netns exec rtr nft -f - <<-END
			table inet filter {
				chain forward {
					type filter hook forward priority 0; policy drop;
					ct state { new, established } accept
				}
			}
		END
		;;
	cflow | rflow)
		ip netns exec rtr nft -f - <<-END
			table inet filter {
				flowtable f { hook ingress priority 0; devices = { vrin, vrout }; }
				chain forward {
					type filter hook forward priority 0; policy drop;
					meta l4proto udp flow add @f
					ct state { new, established } accept
				}
			}
		END
		;;
	esac
}

# Prints how many flows the router has offloaded in this mode.
offloaded() {
	case "$1" in
	rflow) ip netns exec rtr awk '$1 == "flowtable" { print $6 }' /proc/net/rflow ;;
	cflow) (ip netns exec rtr conntrack -L 2>/dev/null | grep -c OFFLOAD) ;;
	*) echo 0 ;;
	esac
}

echo "config count=$COUNT reps=$REPS flows='$FLOWS' modes='$MODES'"
echo "kernel $(uname -r), $(nproc) cpu"
for flows in $FLOWS; do
	pktgen_setup "$flows"
	modes=$MODES
	reps=$REPS
	if [ "$flows" -gt 16384 ]; then
		modes=$BIG_MODES
		reps=$BIG_REPS
	fi
	for rep in $(seq "$reps"); do
		# A different mode order in every repetition (rotated), so slow drifts cancel out.
		set -- $modes
		order=()
		for ((i = 0; i < $#; i++)); do
			idx=$(((i + rep) % $# + 1))
			order+=("${!idx}")
		done
		for mode in "${order[@]}"; do
			ruleset none
			case "$mode" in
			cflow) use_c_flowtable ;;
			rflow) use_rflow ;;
			esac
			ruleset "$mode"
			# Warm up: the first pass creates the conntrack entries, the second offloads every
			# flow (conntrack confirmed the first packet) and is measured as the setup cost, the
			# third runs on the fast path; then let the GC worker run (rflow resizes there).
			pktgen_run "$flows" >/dev/null
			mem0=$(kernel_memory)
			usec=$(pktgen_run "$flows")
			sleep 2
			mem1=$(kernel_memory)
			pktgen_run $((flows + 100)) >/dev/null
			sleep 2
			off=$(offloaded "$mode")
			case "$mode" in
			cflow | rflow)
				echo "setup $mode $flows $rep $((usec * 1000 / flows)) offloaded=$off"
				[ "$off" -gt 0 ] && echo "memory $mode $flows $rep $(( (mem1 - mem0) / off ))"
				;;
			esac
			if [ "$mode" = rflow ]; then
				echo "resize $flows $rep $(ip netns exec rtr awk '$1 == "flowtable" { for (i = 5; i < NF; i += 2) if ($i == "resize_max_locked_us") print $(i + 1) }' /proc/net/rflow)"
			fi
			before=$(sink_packets)
			usec=$(pktgen_run "$COUNT")
			after=$(sink_packets)
			delivered=$((after - before))
			[ "$mode" = drop ] || [ -n "${NOSINK:-}" ] && delivered=$COUNT
			if [ "$delivered" -ne "$COUNT" ]; then
				echo "error $mode $flows $rep: sink got $delivered of $COUNT packets"
				continue
			fi
			echo "sample $mode $flows $rep $((usec * 1000 / COUNT)) offloaded=$off"
		done
	done
done
