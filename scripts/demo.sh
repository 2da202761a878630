#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the VM for scripts/run.sh: a router namespace with an rflow flowtable between two
# hosts, a TCP and a UDP transfer through it, and what rflow shows about them.
set -uo pipefail
source "$(dirname "$0")/../selftests/lib.sh"

step() { printf '\n=== %s\n' "$*"; }

# rflowctl, built on the host by scripts/run.sh (its path is the first argument).
RFLOWCTL=${1:-$RFLOW_ROOT/tools/rflowctl/target/release/rflowctl}
ctl() { "$RFLOWCTL" -n "$nsr" "$@"; }

load_impl || exit 1
step "modules: rflow loaded, the C flowtable modules blocked"
lsmod | grep -E '^(rflow|nf_flow_table|nf_flow_table_inet|nft_flow_offload|nf_tables|nf_conntrack) '
rflow_is_the_flowtable || exit 1

trap cleanup_topology EXIT
setup_topology && load_ruleset || exit 1
step "router ruleset (unchanged nft syntax)"
ip netns exec "$nsr" nft list ruleset

show_live() {
	step "while the connections are open: rflowctl list (flows by UFID, both directions)"
	ctl list
	step "rflowctl -j -p list --proto tcp (JSON, as ip -j)"
	ctl -j -p list --proto tcp
	step "conntrack -L in the router"
	ip netns exec "$nsr" conntrack -L 2>/dev/null
}

step "rflowctl watch: flow events, in the background until the end"
ctl watch --timeout 120 >"$work/events" 2>&1 &
watcher=$!
sleep 1

step "TCP transfer 10.0.1.99 -> 10.0.2.99:12345 (4 MB each way) and UDP echo to 10.0.2.99:5000 (1 MB)"
udp_transfer 10.0.2.99 1000000 && echo "udp: data intact both ways"
tcp_transfer 10.0.2.99 4000000 3 show_live && echo "tcp: data intact both ways"

step "rflowctl del of the UDP flow: conntrack takes the connection back"
u=$(ctl list --proto udp | grep -oE 'ufid:[0-9a-f-]{36}' | head -n 1)
ctl del "$u"
ip netns exec "$nsr" conntrack -L -p udp 2>/dev/null
step "rflowctl stats"
ctl stats

step "forward chain counters (packets the fast path did not take)"
ip netns exec "$nsr" nft list counters table inet filter
step "after the TCP connection closed (FIN tears its flow down; the UDP flow expires in 30 s)"
sleep 2
ctl list
step "what rflowctl watch saw"
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
cat "$work/events"
