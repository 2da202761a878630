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
#   cflow-hw the C flowtable with `flags offload` on the ports of rflow_sim, the simulated
#            offload NIC: the flows are in the simulated hardware, the router never sees them
#   rflow-hw rflow, same
#
# The hardware modes run on their own topology, built around each of them and torn down after:
# rflow_sim is loaded afresh (ports rsim0p0/rsim0p1 in the router, wire end rsim0w0 in the root
# namespace for pktgen, rsim0w1 in the sink), on 10.2.0.0/16 so that no route of the veth
# topology is involved. A frame pktgen sends on rsim0w0 enters the ASIC; a hit goes straight to
# rsim0w1 through the same netif_rx delivery as veth's, in softirq inside the pktgen thread, so
# pktgen's time covers it as it does for veth. They run only up to $HW_MAX_FLOWS flows
# (rflow_sim's table takes at most 8192 entries, two per flow).
#
# Output: one "sample <mode> <flows> <rep> <instructions per packet> offloaded=<flows>" line per
# measurement; "error ..." when the sink did not receive every packet. For the flowtable modes
# also, per measurement: "setup <mode> <flows> <rep> <guest ns per packet>" (the pass that
# creates the flows, every packet of it offloading its connection), "memory <mode> <flows> <rep>
# <bytes per flow>" (slab and vmalloc growth over that pass, divided by the flows created), and
# for rflow "resize <flows> <rep> <longest microseconds a resize held the writer lock>".
# For the hardware modes, "hwsetup <mode> <flows> <rep> <flows per guest second> ns=<guest ns>
# polls=<n>": from the start of the pass that creates the flows (pktgen's own start time) until
# the ASIC holds both directions of every flow, seen by a poll every $HW_POLL s (each poll runs
# on the only vCPU, inside the measured time, and costs what "config hw_poll" says; <n> counts
# also the polls before pktgen started, so it bounds those inside); "error ..."
# if that takes over $HW_TIMEOUT s, or if a measured packet missed the ASIC.
#
# Then the listings (bench/dump_cost.py), with rflow holding each of $DUMP_FLOWS flows: "dump
# <kind> <flows> <ns per flow> <bytes per flow> <messages> <dumps>" for rflow's terse and full
# dumps, conntrack's dump of the same connections and the whole `conntrack -L`; "get <flows>
# <ns per request> <requests>" for GETs by UFID.
#
# Up to 16384 flows differ by source port; beyond, by source address (10.3.x.y, an odd count of
# them) and one of 16 source ports, both advancing with every packet.
set -u
REPS=${REPS:-5}
FLOWS=${FLOWS-"1 1024 16384 1000000"}
COUNT=${COUNT:-40000}
MODES=${MODES:-"drop route classic cflow rflow"}
DUMP_FLOWS=${DUMP_FLOWS-"1 1024 100000 1000000"}
# Table sizes above 16384 flows take minutes per mode to warm up: fewer modes and repetitions.
BIG_MODES=${BIG_MODES:-"drop cflow rflow"}
BIG_REPS=${BIG_REPS:-2}
# Hardware modes only up to this many flows.
HW_MAX_FLOWS=${HW_MAX_FLOWS:-4096}
HW_POLL=${HW_POLL:-0.002}
HW_TIMEOUT=${HW_TIMEOUT:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG=/proc/net/pktgen
SIM_KO=${RFLOW_SIM_KO:-$(dirname "${RFLOW_KO:-$ROOT/rflow.ko}")/rflow_sim.ko}
SIM=/sys/kernel/debug/rflow_sim/asic0

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

case " $MODES " in
*-hw\ *)
	[ -e "$SIM_KO" ] || die "no $SIM_KO"
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug || die "debugfs"
	# A file descriptor nothing is ever written to: `read -t` on it sleeps without a fork.
	exec {never}<> <(:)
	;;
esac

# The sink table of the current mode: sink (vsink) or sinkhw (rsim0w1).
sink_table=sink
sink_packets() {
	ip netns exec sink nft list chain netdev $sink_table in | awk '/counter/ { print $3 }'
}

pgset() {
	echo "$1" >"$2" || die "pktgen: '$1' > $2"
}

# pktgen_setup <flows> [<device> <source address> <destination address> <router's MAC>]: the
# veth topology by default. Sets $pgdev, the device's pktgen file.
pktgen_setup() {
	local flows=$1 dev=${2:-vsrc} src=${3:-10.1.1.2} dst=${4:-10.1.2.2} mac=${5:-$rtr_mac}
	pgset "rem_device_all" $PG/kpktgend_0
	pgset "add_device $dev" $PG/kpktgend_0
	pgdev=$PG/$dev
	pgset "clone_skb 0" $pgdev
	pgset "pkt_size 64" $pgdev
	pgset "delay 0" $pgdev
	pgset "dst $dst" $pgdev
	pgset "src_min $src" $pgdev
	pgset "src_max $src" $pgdev
	pgset "dst_mac $mac" $pgdev
	pgset "udp_dst_min 9" $pgdev
	pgset "udp_dst_max 9" $pgdev
	# Sequential source ports (pktgen's range excludes its maximum): every flow is visited once
	# per `flows` packets.
	pgset "udp_src_min 1024" $pgdev
	if [ "$flows" -le 16384 ]; then
		pgset "udp_src_max $((1024 + flows))" $pgdev
		return
	fi
	# Addresses x 16 ports, with an odd number of addresses: the two counters cycle through
	# every combination.
	local addrs=$(( (flows + 15) / 16 ))
	[ $((addrs % 2)) -eq 1 ] || addrs=$((addrs + 1))
	local last=$((addrs - 1))
	pgset "udp_src_max 1040" $pgdev
	pgset "src_min 10.3.0.0" $pgdev
	pgset "src_max 10.3.$((last >> 8)).$((last & 255))" $pgdev
}

# Prints the kernel's slab plus vmalloc memory in bytes.
kernel_memory() {
	awk '$1 == "Slab:" || $1 == "VmallocUsed:" { s += $2 } END { print s * 1024 }' /proc/meminfo
}

# Sends $1 packets and prints pktgen's busy time in microseconds.
pktgen_run() {
	pgset "count $1" $pgdev
	pgset "start" $PG/pgctrl
	sed -n 's/.*Result: OK: \([0-9]*\)(c.*/\1/p' $pgdev
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

# Prints rflow_sim's counter $1.
sim_counter() {
	awk -v k="$1" '$1 == k { print $2 }' $SIM/counters
}

# Removes the hardware modes' topology: pktgen's hold on rsim0w0, the flowtable on the ports
# (the caller flushed the router's ruleset), the sink's chain on rsim0w1, and rflow_sim with
# its devices, so that the next mode starts from nothing.
sim_down() {
	lsmod | grep -q '^rflow_sim ' || return 0
	pgset "rem_device_all" $PG/kpktgend_0
	ip netns exec sink nft delete table netdev sinkhw 2>/dev/null
	unload rflow_sim
}

# A fresh rflow_sim and the hardware modes' topology around it:
#   root: rsim0w0 (pktgen, 10.2.1.2) ==ASIC== rtr: rsim0p0 10.2.1.1, rsim0p1 10.2.2.1
#   ==ASIC== sink: rsim0w1 10.2.2.2 (drops and counts at ingress)
# Both neighbours are static: the sink answers nothing, and the flowtables need a valid
# neighbour for each direction's rule.
sim_up() {
	sim_down
	insmod "$SIM_KO" nports=2 max_entries=16384 || die "insmod $SIM_KO"
	ip link set rsim0p0 netns rtr && ip link set rsim0p1 netns rtr &&
		ip link set rsim0w1 netns sink || die "rflow_sim devices"
	ip link set rsim0w0 up
	ip -n rtr link set rsim0p0 up
	ip -n rtr link set rsim0p1 up
	ip -n sink link set rsim0w1 up
	ip -n rtr addr add 10.2.1.1/24 dev rsim0p0
	ip -n rtr addr add 10.2.2.1/24 dev rsim0p1
	ip -n sink addr add 10.2.2.2/24 dev rsim0w1
	ip -n rtr neigh add 10.2.2.2 lladdr "$(ip -n sink -br link show rsim0w1 | awk '{ print $3 }')" \
		dev rsim0p1 nud permanent || die "neighbour"
	ip -n rtr neigh add 10.2.1.2 lladdr "$(ip -br link show rsim0w0 | awk '{ print $3 }')" \
		dev rsim0p0 nud permanent || die "neighbour"
	ip netns exec sink nft -f - <<-END || die "sink table"
		table netdev sinkhw {
			chain in {
				type filter hook ingress device rsim0w1 priority 0; policy drop;
				counter
			}
		}
	END
	hw_rtr_mac=$(ip -n rtr -br link show rsim0p0 | awk '{ print $3 }')
	if [ -z "${poll_cost_done:-}" ]; then
		# What one poll of the ASIC's entries costs (guest ns = instructions), to judge how much
		# polling takes from the hardware setup it measures.
		local i k v t0=${EPOCHREALTIME/./}
		for ((i = 0; i < 1000; i++)); do
			read -r k v <$SIM/counters
		done
		echo "config hw_poll period=${HW_POLL}s cost=$(( (${EPOCHREALTIME/./} - t0) ))ns per poll"
		poll_cost_done=1
	fi
}

# Prints "ok <monotonic ns> <entries> <polls>" as soon as the ASIC holds $1 entries, polling
# every $HW_POLL s with shell builtins only (no fork); "timeout ..." after $HW_TIMEOUT s.
hw_poll() {
	local target=$1 k v now deadline=$((SECONDS + HW_TIMEOUT)) status=ok polls=0
	while :; do
		read -r k v <$SIM/counters
		polls=$((polls + 1))
		[ "$k" = entries ] && [ "$v" -ge "$target" ] && break
		if [ $SECONDS -ge $deadline ]; then
			status=timeout
			break
		fi
		read -r -t "$HW_POLL" -u "$never" k
	done
	# CLOCK_MONOTONIC, as pktgen's start time.
	{ read -r; read -r; read -r _ _ now _; } </proc/timer_list
	echo "$status $now $v $polls"
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
	cflow-hw | rflow-hw)
		ip netns exec rtr nft -f - <<-END || die "offload ruleset"
			table inet filter {
				flowtable f {
					hook ingress priority 0; devices = { rsim0p0, rsim0p1 }; flags offload;
				}
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
	*-hw) echo $(( $(sim_counter entries) / 2 )) ;;
	*) echo 0 ;;
	esac
}

echo "config count=$COUNT reps=$REPS flows='$FLOWS' modes='$MODES' hw_max_flows=$HW_MAX_FLOWS"
echo "kernel $(uname -r), $(nproc) cpu"
for flows in $FLOWS; do
	modes=$MODES
	reps=$REPS
	if [ "$flows" -gt 16384 ]; then
		modes=$BIG_MODES
		reps=$BIG_REPS
	fi
	if [ "$flows" -gt "$HW_MAX_FLOWS" ]; then
		kept= skipped=
		for mode in $modes; do
			case "$mode" in
			*-hw) skipped+=" $mode" ;;
			*) kept+=" $mode" ;;
			esac
		done
		[ -z "$skipped" ] || echo "note: skipping$skipped at $flows flows: hardware modes run up to" \
			"HW_MAX_FLOWS=$HW_MAX_FLOWS flows (rflow_sim's table takes 8192 entries, two per flow)"
		modes=$kept
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
			# Nothing of a hardware mode outlives it: rflow_sim is unloaded before every mode.
			sim_down
			case "$mode" in
			cflow | cflow-hw) use_c_flowtable ;;
			rflow | rflow-hw) use_rflow ;;
			esac
			case "$mode" in
			*-hw)
				sim_up
				sink_table=sinkhw
				pktgen_setup "$flows" rsim0w0 10.2.1.2 10.2.2.2 "$hw_rtr_mac"
				;;
			*)
				sink_table=sink
				pktgen_setup "$flows"
				;;
			esac
			ruleset "$mode"
			case "$mode" in
			*-hw)
				# Warm up: the first pass creates the conntrack entries; the second creates the
				# flows, each of which the flowtable offers to the driver (a work item). It is
				# timed, from pktgen's start to the poll that sees both directions of every flow
				# in the ASIC; the poller starts before the pass and runs beside it.
				pktgen_run "$flows" >/dev/null
				exec {pollfd}< <(hw_poll $((2 * flows)))
				pktgen_run "$flows" >/dev/null
				started=$(sed -n 's/.*started: \([0-9]*\)us.*/\1/p' $pgdev)
				read -r status end entries polls <&$pollfd
				exec {pollfd}<&-
				if [ "$status" != ok ]; then
					echo "error $mode $flows $rep: the ASIC holds $entries entries, not" \
						"$((2 * flows)), ${HW_TIMEOUT}s after the flows were created"
					continue
				fi
				ns=$((end - started * 1000))
				echo "hwsetup $mode $flows $rep $((flows * 1000000000 / ns)) ns=$ns polls=$polls"
				sleep 2
				pktgen_run $((flows + 100)) >/dev/null
				sleep 2
				off=$(offloaded "$mode")
				;;
			*)
				# Warm up: the first pass creates the conntrack entries, the second offloads
				# every flow (conntrack confirmed the first packet) and is measured as the setup
				# cost, the third runs on the fast path; then let the GC worker run (rflow
				# resizes there).
				pktgen_run "$flows" >/dev/null
				mem0=$(kernel_memory)
				usec=$(pktgen_run "$flows")
				sleep 2
				mem1=$(kernel_memory)
				pktgen_run $((flows + 100)) >/dev/null
				sleep 2
				off=$(offloaded "$mode")
				;;
			esac
			case "$mode" in
			cflow | rflow)
				echo "setup $mode $flows $rep $((usec * 1000 / flows)) offloaded=$off"
				[ "$off" -gt 0 ] && echo "memory $mode $flows $rep $(( (mem1 - mem0) / off ))"
				;;
			esac
			if [ "$mode" = rflow ]; then
				echo "resize $flows $rep $(ip netns exec rtr awk '$1 == "flowtable" { for (i = 5; i < NF; i += 2) if ($i == "resize_max_locked_us") print $(i + 1) }' /proc/net/rflow)"
			fi
			case "$mode" in *-hw) hits0=$(sim_counter hit_packets) ;; esac
			before=$(sink_packets)
			usec=$(pktgen_run "$COUNT")
			after=$(sink_packets)
			delivered=$((after - before))
			[ "$mode" = drop ] || [ -n "${NOSINK:-}" ] && delivered=$COUNT
			if [ "$delivered" -ne "$COUNT" ]; then
				echo "error $mode $flows $rep: sink got $delivered of $COUNT packets"
				continue
			fi
			case "$mode" in
			*-hw)
				# Every measured packet must have been forwarded by the ASIC.
				hits=$(( $(sim_counter hit_packets) - hits0 ))
				if [ "$hits" -ne "$COUNT" ]; then
					echo "error $mode $flows $rep: the ASIC forwarded $hits of $COUNT packets"
					continue
				fi
				;;
			esac
			echo "sample $mode $flows $rep $((usec * 1000 / COUNT)) offloaded=$off"
		done
	done
done
ruleset none
sim_down

for flows in $DUMP_FLOWS; do
	use_rflow
	sink_table=sink
	pktgen_setup "$flows"
	ruleset rflow
	# The first pass creates the conntrack entries, the second the flows.
	pktgen_run "$flows" >/dev/null
	pktgen_run "$flows" >/dev/null
	off=$(offloaded rflow)
	if [ "$off" -ne "$flows" ]; then
		echo "error dump $flows: $off flows offloaded, not $flows"
		continue
	fi
	ip netns exec rtr python3 "$ROOT/bench/dump_cost.py" "$flows" ||
		echo "error dump $flows: dump_cost.py failed"
done
ruleset none
