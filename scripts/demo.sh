#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the VM for scripts/run.sh: a router namespace with an rflow flowtable between two
# hosts, a TCP and a UDP transfer through it, and what rflow shows about them.
set -uo pipefail
source "$(dirname "$0")/../selftests/lib.sh"

step() { printf '\n=== %s\n' "$*"; }

load_impl || exit 1
step "modules: rflow loaded, the C flowtable modules blocked"
lsmod | grep -E '^(rflow|nf_flow_table|nf_flow_table_inet|nft_flow_offload|nf_tables|nf_conntrack) '
rflow_is_the_flowtable || exit 1

trap cleanup_topology EXIT
setup_topology && load_ruleset || exit 1
step "router ruleset (unchanged nft syntax)"
ip netns exec "$nsr" nft list ruleset

show_live() {
	step "while the connections are open: /proc/net/rflow in the router"
	ip netns exec "$nsr" cat /proc/net/rflow
	step "conntrack -L in the router"
	ip netns exec "$nsr" conntrack -L 2>/dev/null
}

step "TCP transfer 10.0.1.99 -> 10.0.2.99:12345 (4 MB each way) and UDP echo to 10.0.2.99:5000 (1 MB)"
udp_transfer 10.0.2.99 1000000 && echo "udp: data intact both ways"
tcp_transfer 10.0.2.99 4000000 3 show_live && echo "tcp: data intact both ways"

step "forward chain counters (packets the fast path did not take)"
ip netns exec "$nsr" nft list counters table inet filter
step "after the TCP connection closed (FIN tears its flow down; the UDP flow expires in 30 s)"
sleep 2
ip netns exec "$nsr" cat /proc/net/rflow
