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
# Variants ($VARIANTS), orthogonal to the modes: the same comparison on other traffic and router
# set-ups, each with its own drop floor. Each is set up around its runs by variant_up() and
# removed by variant_down(), so the others run on the plain topology:
#   ipv4     64-byte IPv4 UDP, no NAT (the default, and the only variant of earlier runs)
#   ipv6     78-byte IPv6 UDP (pktgen's smallest IPv6 frame): fd00:1:1::/64 on vrin,
#            fd00:1:2::/64 on vrout, the sink's neighbour static; IPv6 is enabled on the router's
#            two links only while the variant runs, and the sink counts only UDP (the router's
#            own ICMPv6, neighbour discovery and MLD, must not look like delivered packets)
#   nat      ipv4, masqueraded by the router on vrout (table ip nat); pktgen computes a full UDP
#            checksum (tx checksum offload off on vsrc) so that NAT rewrites it, as for real
#            traffic
#   counter  ipv4, the flowtable with `counter` (conntrack accounting on in the router: the
#            flowtables add every fast-path packet to conntrack's counters); checked per sample:
#            conntrack counted every packet sent through the router
#   vlan     ipv4 in 802.1Q frames (VLAN 10): the router's ingress is vrin.10 (10.1.3.1/24) on
#            vrin, whose neighbour 10.1.3.2 is static so that both flowtables learn the tag of
#            the path; the flowtable and the drop floor stay on vrin, where tagged frames arrive
# Variants other than ipv4 run $VARIANT_MODES (drop and the two flowtables by default) and only
# up to $VARIANT_MAX_FLOWS flows (nat up to 16384: one masquerading address).
#
# Output: one "sample <mode> <flows> <rep> <instructions per packet> offloaded=<flows>
# variant=<variant>" line per measurement (files from before the variants have no variant=: they
# are ipv4); "error <mode> <flows> <rep> variant=<variant>: ..." when the sink did not receive
# every packet, or, for the variant counter, conntrack did not count every packet. For the
# flowtable modes also, per measurement: "setup <mode> <flows> <rep> <guest ns per packet>
# offloaded=<flows> variant=<variant>" (the pass that creates the flows, every packet of it
# offloading its connection), "memory <mode> <flows> <rep> <bytes per flow> variant=<variant>"
# (slab and vmalloc growth over that pass, divided by the flows created), and for rflow "resize
# <flows> <rep> <longest microseconds a resize held the writer lock> variant=<variant>".
# For the hardware modes (variant ipv4 only), "hwsetup <mode> <flows> <rep> <flows per guest
# second> ns=<guest ns> polls=<n> variant=ipv4": from the start of the pass that creates the
# flows (pktgen's own start time) until the ASIC holds both directions of every flow, seen by a
# poll every $HW_POLL s (each poll runs on the only vCPU, inside the measured time, and costs
# what "config hw_poll" says; <n> counts also the polls before pktgen started, so it bounds
# those inside); "error ..." if that takes over $HW_TIMEOUT s, or if a measured packet missed
# the ASIC.
#
# Then the listings (bench/dump_cost.py), with rflow holding each of $DUMP_FLOWS flows: "dump
# <kind> <flows> <ns per flow> <bytes per flow> <messages> <dumps>" for rflow's terse and full
# dumps, conntrack's dump of the same connections and the whole `conntrack -L`; "get <flows>
# <ns per request> <requests>" for GETs by UFID.
#
# Up to 16384 flows differ by source port; beyond, by source address (10.3.x.y, 10.4.x.y for the
# variant vlan, an odd count of them) and one of 16 source ports, both advancing with every
# packet. pktgen cannot step through IPv6 addresses (its IPv6 address ranges are random), so
# beyond 16384 IPv6 flows differ by source port (an odd count of them) and one of 16
# destination ports (9 to 24).
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
# Variants (see above); ipv4 alone is the benchmark of earlier runs.
VARIANTS=${VARIANTS:-ipv4}
# The modes of every variant but ipv4 (ipv4 runs $MODES, or $BIG_MODES above 16384 flows).
VARIANT_MODES=${VARIANT_MODES:-"drop cflow rflow"}
# Variants other than ipv4 only up to this many flows.
VARIANT_MAX_FLOWS=${VARIANT_MAX_FLOWS:-16384}
# Masquerading to the router's one address leaves the source port as the only difference
# between flows: nat runs up to the source port scheme's 16384 flows.
NAT_MAX_FLOWS=16384
VLAN_ID=10
V6_SRC=fd00:1:1::2
V6_DST=fd00:1:2::2
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

for v in $VARIANTS; do
	case "$v" in
	ipv4 | ipv6 | nat | counter | vlan) ;;
	*) die "unknown variant '$v' (ipv4 ipv6 nat counter vlan)" ;;
	esac
done

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
sink_mac=$(ip -n sink -br link show vsink | awk '{ print $3 }')
src_mac=$(ip -br link show vsrc | awk '{ print $3 }')
ip -n rtr neigh add 10.1.2.2 lladdr "$sink_mac" dev vrout nud permanent
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
	ip netns exec sink nft list chain netdev $sink_table in |
		sed -n 's/.*counter packets \([0-9]*\) .*/\1/p'
}

# Makes the sink's chain on vsink count only the frames matching $1 (an nft match; empty: every
# frame, as set up above). It drops everything either way.
sink_rule() {
	ip netns exec sink nft -f - <<-END || die "sink rule '$1'"
		flush chain netdev sink in
		add rule netdev sink in $1 counter
	END
}

pgset() {
	echo "$1" >"$2" || die "pktgen: '$1' > $2"
}

# Prints how many source ports IPv6 flows beyond 16384 use (an odd count, times 16 destination
# ports), or nothing when $1 flows do not fit in the ports above 1023.
v6_ports() {
	local ports=$(( ($1 + 15) / 16 ))
	[ $((ports % 2)) -eq 1 ] || ports=$((ports + 1))
	[ $((1024 + ports)) -le 65535 ] && echo "$ports"
}

# pktgen_setup <flows> [<device> <source address> <destination address> <router's MAC>]: the
# veth topology of the current variant by default. Sets $pgdev, the device's pktgen file.
pktgen_setup() {
	local flows=$1 dev=${2:-vsrc} src=${3:-$v_src} dst=${4:-10.1.2.2} mac=${5:-$rtr_mac}
	pgset "rem_device_all" $PG/kpktgend_0
	pgset "add_device $dev" $PG/kpktgend_0
	pgdev=$PG/$dev
	pgset "clone_skb 0" $pgdev
	pgset "delay 0" $pgdev
	if [ "$variant" = ipv6 ]; then
		# 14 + 40 + 8 + pktgen's 16-byte header: a smaller size is raised to this, with a kernel
		# message from inside the measured loop.
		pgset "pkt_size 78" $pgdev
		pgset "dst6 $V6_DST" $pgdev
		pgset "src6 $V6_SRC" $pgdev
	else
		pgset "pkt_size 64" $pgdev
		pgset "dst $dst" $pgdev
		pgset "src_min $src" $pgdev
		pgset "src_max $src" $pgdev
	fi
	pgset "dst_mac $mac" $pgdev
	if [ "$variant" = vlan ]; then
		pgset "vlan_id $VLAN_ID" $pgdev
	fi
	if [ "$variant" = nat ]; then
		# A full UDP checksum (vsrc has no checksum offload in this variant), which NAT updates.
		pgset "flag UDPCSUM" $pgdev
	fi
	pgset "udp_dst_min 9" $pgdev
	pgset "udp_dst_max 9" $pgdev
	# Sequential source ports (pktgen's range excludes its maximum): every flow is visited once
	# per `flows` packets.
	pgset "udp_src_min 1024" $pgdev
	if [ "$flows" -le 16384 ]; then
		pgset "udp_src_max $((1024 + flows))" $pgdev
		return
	fi
	if [ "$variant" = ipv6 ]; then
		# Source ports x 16 destination ports, with an odd number of source ports: the two
		# counters cycle through every combination.
		local ports
		ports=$(v6_ports "$flows") || die "$flows IPv6 flows do not fit in the port scheme"
		pgset "udp_src_max $((1024 + ports))" $pgdev
		pgset "udp_dst_max 25" $pgdev
		return
	fi
	# Addresses x 16 ports, with an odd number of addresses: the two counters cycle through
	# every combination.
	local addrs=$(( (flows + 15) / 16 ))
	[ $((addrs % 2)) -eq 1 ] || addrs=$((addrs + 1))
	local last=$((addrs - 1))
	pgset "udp_src_max 1040" $pgdev
	pgset "src_min $v_big.0.0" $pgdev
	pgset "src_max $v_big.$((last >> 8)).$((last & 255))" $pgdev
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
	# bench/stages.sh: its own build of nf_flow_table.ko, loaded before modprobe looks for one.
	if [ -n "${C_FLOW_KO:-}" ] && ! lsmod | grep -q '^nf_flow_table '; then
		insmod "$C_FLOW_KO" || die "insmod $C_FLOW_KO"
	fi
	modprobe nf_flow_table_inet && modprobe nft_flow_offload || die "C flowtable modules"
}

use_rflow() {
	local m
	for m in nft_flow_offload nf_flow_table_inet nf_flow_table; do
		unload "$m"
	done
	lsmod | grep -q '^rflow ' || insmod "${RFLOW_KO:-$ROOT/rflow.ko}" || die "insmod rflow"
}

# The variant's topology and router settings, see the top of this file. Sets $variant, $v_src
# (pktgen's IPv4 source up to 16384 flows), $v_big (the first two bytes of the sources beyond)
# and $ct_family (the family conntrack lists the flows under).
variant_up() {
	variant=$1 v_src=10.1.1.2 v_big=10.3 ct_family=ipv4
	case "$variant" in
	ipv6)
		ct_family=ipv6
		# Forwarding first: a router sends no router solicitations. No duplicate address
		# detection, on the link-local addresses either.
		ip netns exec rtr sysctl -q net.ipv6.conf.all.forwarding=1 || die "ipv6 forwarding"
		local d
		for d in vrin vrout; do
			ip netns exec rtr sysctl -q net.ipv6.conf.$d.accept_dad=0 \
				net.ipv6.conf.$d.disable_ipv6=0 || die "enable ipv6 on $d"
		done
		ip -n rtr addr replace fd00:1:1::1/64 dev vrin nodad &&
			ip -n rtr addr replace fd00:1:2::1/64 dev vrout nodad &&
			ip -n rtr neigh replace "$V6_DST" lladdr "$sink_mac" dev vrout nud permanent ||
			die "ipv6 addresses"
		sink_rule "meta l4proto udp"
		# Let the MLD reports of the groups the router just joined go out before any
		# measurement (guest time: idle time costs little host time under sleep=off).
		sleep 3
		;;
	nat)
		ethtool -K vsrc tx off >/dev/null || die "ethtool -K vsrc tx off"
		;;
	counter)
		# Conntrack's counters exist only for connections created with accounting on.
		ip netns exec rtr sysctl -q net.netfilter.nf_conntrack_acct=1 || die "nf_conntrack_acct"
		;;
	vlan)
		v_src=10.1.3.2 v_big=10.4
		modprobe 8021q || die "modprobe 8021q"
		ip -n rtr link add link vrin name vrin.$VLAN_ID type vlan id $VLAN_ID &&
			ip -n rtr link set vrin.$VLAN_ID up &&
			ip -n rtr addr add 10.1.3.1/24 dev vrin.$VLAN_ID &&
			ip -n rtr route add $v_big.0.0/16 via $v_src dev vrin.$VLAN_ID || die "vlan device"
		# The reply direction's neighbour must be valid for the flowtables to follow the route's
		# device down to vrin and record the VLAN tag the original direction arrives with
		# (nft_dev_fill_forward_path()); nothing ever resolves it otherwise.
		ip -n rtr neigh add $v_src lladdr "$src_mac" dev vrin.$VLAN_ID nud permanent ||
			die "vlan neighbour"
		;;
	esac
}

# Undoes variant_up (the caller flushed the router's ruleset) and goes back to ipv4.
variant_down() {
	case "$variant" in
	ipv6)
		local d
		for d in vrin vrout; do
			ip netns exec rtr sysctl -q net.ipv6.conf.$d.disable_ipv6=1
		done
		ip netns exec rtr sysctl -q net.ipv6.conf.all.forwarding=0
		# Whatever the router sent while leaving its groups reaches the sink now, not during
		# the next variant's measurements, which count every frame again.
		sleep 2
		sink_rule ""
		;;
	nat) ethtool -K vsrc tx on >/dev/null ;;
	counter) ip netns exec rtr sysctl -q net.netfilter.nf_conntrack_acct=0 ;;
	vlan) ip -n rtr link del vrin.$VLAN_ID ;;
	esac
	variant=ipv4 v_src=10.1.1.2 v_big=10.3 ct_family=ipv4
}
variant=ipv4 v_src=10.1.1.2 v_big=10.3 ct_family=ipv4

# Prints the packets conntrack counted in the original direction of the router's UDP
# connections (the accounting extension's first packets= of every entry).
ct_packets() {
	ip netns exec rtr conntrack -L -f "$ct_family" -p udp 2>/dev/null | awk '
		{ for (i = 1; i <= NF; i++) if ($i ~ /^packets=/) { s += substr($i, 9); break } }
		END { print s + 0 }'
}

# Prints how many packets the router forwarded on the classic path: IP's forwarding counter
# (ip_forward(), ip6_forward()), which the flowtables' fast path never reaches.
classic_forwarded() {
	if [ "$ct_family" = ipv6 ]; then
		ip netns exec rtr awk '$1 == "Ip6OutForwDatagrams" { n = $2 } END { print n + 0 }' \
			/proc/net/snmp6
	else
		ip netns exec rtr awk '
			$1 == "Ip:" && !c { for (i = 2; i <= NF; i++) if ($i == "ForwDatagrams") c = i; next }
			$1 == "Ip:" && c { n = $c } END { print n + 0 }' /proc/net/snmp
	fi
}

ruleset() {
	ip netns exec rtr nft flush ruleset
	ip netns exec rtr conntrack -F 2>/dev/null
	if [ "$ct_family" = ipv6 ]; then
		# In case `conntrack -F` flushed only its default family, IPv4.
		ip netns exec rtr conntrack -D -f ipv6 >/dev/null 2>&1
	fi
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
		# The variant counter adds the flowtable's `counter` flag, on a line of its own as in
		# selftests/rflow_parity.sh.
		local ft_extra=
		[ "$variant" = counter ] && ft_extra=counter
		ip netns exec rtr nft -f - <<-END || die "ruleset $1, variant $variant"
			table inet filter {
				flowtable f {
					hook ingress priority 0; devices = { vrin, vrout };
					$ft_extra
				}
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
	case "$variant:$1" in
	nat:drop | nat:none | nat:*-hw) ;;
	nat:*)
		ip netns exec rtr nft -f - <<-END || die "nat ruleset"
			table ip nat {
				chain postrouting {
					type nat hook postrouting priority srcnat; policy accept;
					oifname "vrout" masquerade
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
	cflow) (ip netns exec rtr conntrack -L -f "$ct_family" 2>/dev/null | grep -c OFFLOAD) ;;
	*-hw) echo $(( $(sim_counter entries) / 2 )) ;;
	*) echo 0 ;;
	esac
}

echo "config count=$COUNT reps=$REPS flows='$FLOWS' modes='$MODES' hw_max_flows=$HW_MAX_FLOWS"
echo "config variants='$VARIANTS' variant_modes='$VARIANT_MODES'" \
	"variant_max_flows=$VARIANT_MAX_FLOWS"
echo "kernel $(uname -r), $(nproc) cpu"
for flows in $FLOWS; do
	for v in $VARIANTS; do
		modes=$MODES
		reps=$REPS
		if [ "$flows" -gt 16384 ]; then
			modes=$BIG_MODES
			reps=$BIG_REPS
		fi
		if [ "$v" != ipv4 ]; then
			if [ "$flows" -gt "$VARIANT_MAX_FLOWS" ]; then
				echo "note: skipping variant $v at $flows flows: variants other than ipv4 run up to" \
					"VARIANT_MAX_FLOWS=$VARIANT_MAX_FLOWS flows"
				continue
			fi
			if [ "$v" = nat ] && [ "$flows" -gt "$NAT_MAX_FLOWS" ]; then
				echo "note: skipping variant nat at $flows flows: masquerading to one address runs" \
					"up to $NAT_MAX_FLOWS flows"
				continue
			fi
			if [ "$v" = ipv6 ] && [ "$flows" -gt 16384 ] && [ -z "$(v6_ports "$flows")" ]; then
				echo "note: skipping variant ipv6 at $flows flows: beyond 16384, IPv6 flows differ by" \
					"port only, up to $((16 * 64511)) flows"
				continue
			fi
			modes= skipped=
			for mode in $VARIANT_MODES; do
				case "$mode" in
				*-hw) skipped+=" $mode" ;;
				*) modes+=" $mode" ;;
				esac
			done
			[ -z "$skipped" ] || echo "note: skipping$skipped in variant $v: hardware modes run in" \
				"variant ipv4 only"
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
		[ -n "$modes" ] || continue
		variant_up "$v"
		vt="variant=$variant"
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
					# Warm up: the first pass creates the conntrack entries; the second creates
					# the flows, each of which the flowtable offers to the driver (a work item).
					# It is timed, from pktgen's start to the poll that sees both directions of
					# every flow in the ASIC; the poller starts before the pass and runs beside
					# it.
					pktgen_run "$flows" >/dev/null
					exec {pollfd}< <(hw_poll $((2 * flows)))
					pktgen_run "$flows" >/dev/null
					started=$(sed -n 's/.*started: \([0-9]*\)us.*/\1/p' $pgdev)
					read -r status end entries polls <&$pollfd
					exec {pollfd}<&-
					if [ "$status" != ok ]; then
						echo "error $mode $flows $rep $vt: the ASIC holds $entries entries, not" \
							"$((2 * flows)), ${HW_TIMEOUT}s after the flows were created"
						continue
					fi
					ns=$((end - started * 1000))
					echo "hwsetup $mode $flows $rep $((flows * 1000000000 / ns)) ns=$ns polls=$polls $vt"
					sleep 2
					pktgen_run $((flows + 100)) >/dev/null
					sleep 2
					off=$(offloaded "$mode")
					;;
				*)
					# Warm up: the first pass creates the conntrack entries, the second offloads
					# every flow (conntrack confirmed the first packet) and is measured as the
					# setup cost, the third runs on the fast path; then let the GC worker run
					# (rflow resizes there).
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
					echo "setup $mode $flows $rep $((usec * 1000 / flows)) offloaded=$off $vt"
					[ "$off" -gt 0 ] && echo "memory $mode $flows $rep $(( (mem1 - mem0) / off )) $vt"
					;;
				esac
				if [ "$mode" = rflow ]; then
					echo "resize $flows $rep $(ip netns exec rtr awk '$1 == "flowtable" { for (i = 5; i < NF; i += 2) if ($i == "resize_max_locked_us") print $(i + 1) }' /proc/net/rflow) $vt"
				fi
				case "$mode" in *-hw) hits0=$(sim_counter hit_packets) ;; esac
				fwd0=$(classic_forwarded)
				before=$(sink_packets)
				usec=$(pktgen_run "$COUNT")
				after=$(sink_packets)
				fwd=$(( $(classic_forwarded) - fwd0 ))
				delivered=$((after - before))
				[ "$mode" = drop ] || [ -n "${NOSINK:-}" ] && delivered=$COUNT
				if [ "$delivered" -ne "$COUNT" ]; then
					echo "error $mode $flows $rep $vt: sink got $delivered of $COUNT packets"
					continue
				fi
				case "$mode" in
				cflow | rflow)
					# Every measured packet must have taken the fast path: a flow the fast path
					# missed (say, a VLAN tag not learnt) still counts as offloaded.
					if [ "$fwd" -ne 0 ]; then
						echo "error $mode $flows $rep $vt: $fwd of $COUNT packets took the classic" \
							"forwarding path"
						continue
					fi
					;;
				esac
				case "$mode" in
				*-hw)
					# Every measured packet must have been forwarded by the ASIC.
					hits=$(( $(sim_counter hit_packets) - hits0 ))
					if [ "$hits" -ne "$COUNT" ]; then
						echo "error $mode $flows $rep $vt: the ASIC forwarded $hits of $COUNT packets"
						continue
					fi
					;;
				esac
				if [ "$variant" = counter ]; then
					case "$mode" in
					cflow | rflow)
						# Every packet that went through the router is in conntrack's counters
						# once: the warm-up's on the classic path (conntrack), the rest on the
						# fast path (the flowtable's counter flag).
						counted=$(ct_packets)
						want=$((3 * flows + 100 + COUNT))
						if [ "$counted" -ne "$want" ]; then
							echo "error $mode $flows $rep $vt: conntrack counted $counted packets," \
								"not $want"
							continue
						fi
						;;
					esac
				fi
				echo "sample $mode $flows $rep $((usec * 1000 / COUNT)) offloaded=$off $vt"
			done
		done
		ruleset none
		sim_down
		variant_down
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
