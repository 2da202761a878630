#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Flows by UFID over rflow's generic netlink family, through rflowctl (tools/rflowctl) and,
# for what rflowctl never sends, raw requests (rflow_genl.py); the family's YAML spec is
# checked by talking to the module through the kernel's own tools/net/ynl/cli.py when the
# VM has it. The checks:
#   - list/get/count: flows created by real traffic (TCP over IPv4 with masquerade, UDP over
#     IPv6) are listed once each with both directions, their UFIDs, devices, NAT flags and
#     counters that match what was sent; JSON output parses; `get` of each UFID returns it;
#     terse dumps carry UFIDs and counters only and are smaller;
#   - del: deleting a live TCP flow hands the connection back to conntrack (no [OFFLOAD]);
#     deleting a UDP flow that keeps sending: its next packets offload it again under a new
#     UFID, the old one is gone; del by filter; del without a UFID or filter is refused;
#   - flush: of one flowtable, then of all; counts what it tore down;
#   - events: `watch` sees NEW, then DESTROY with reason user, for the same UFID, in order;
#     expiry and flush reasons;
#   - stats: per flowtable, flows created and removed by reason, and what removed flows
#     forwarded, kept after they go (Prometheus counters only grow); empty flowtables listed;
#   - namespaces: another namespace sees none of the router's flows, nor its UFIDs, nor its
#     flowtables' stats;
#   - bad input: UFIDs of 0, 15 and 17 bytes, unknown attributes, malformed nests, unknown
#     flags, event commands: each refused with an errno and an extack message, the live flow
#     untouched; an unprivileged user gets EPERM with a message, for every command;
#   - a dump while flows come and go, with GETs beside it: every stable flow (by UFID) in
#     every dump, none twice unless the dump is marked interrupted; every GET finds its flow;
#   - a netlink fuzzer: random and mutated requests to the family; the kernel's verdict (no
#     splat, no kmemleak report) decides.

source "$(dirname "$0")/lib.sh"

RFLOWCTL=${RFLOWCTL:-$RFLOW_ROOT/tools/rflowctl/target/release/rflowctl}
FUZZ_REQUESTS=${FUZZ_REQUESTS:-100000}
CHURN_FLOWS=${CHURN_FLOWS:-4096}
DUMP_ROUNDS=${DUMP_ROUNDS:-5}

tap_header 15
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }

ctl() { "$RFLOWCTL" -n "$nsr" "$@"; }

fresh_topology() {
	cleanup_topology
	setup_topology && load_ruleset || return 1
	ip netns exec "$nsr" nft -f - <<-EOF
	table ip nat {
		chain postrouting {
			type nat hook postrouting priority srcnat;
			ip daddr 10.0.2.0/24 oifname veth1 masquerade
		}
	}
	EOF
}

pinger_server() {
	ip netns exec "$ns2" python3 "$SELFTESTS/udp_pinger.py" server "$1" 7000 >/dev/null 2>&1 &
	echo $! >"$work/pinger.pid"
	wait_for 10 udp_bound "$ns2" 7000 || fail "pinger server did not start"
}

pinger_stop() {
	kill "$(cat "$work/pinger.pid" 2>/dev/null)" 2>/dev/null
}

ping_flow() {
	timeout 300 ip netns exec "$ns1" python3 "$SELFTESTS/udp_pinger.py" client "$@"
}

# The UFID of the flow whose line in `rflowctl list` matches regex $1.
ufid_of() {
	ctl list | grep -E -- "$1" | grep -oE 'ufid:[0-9a-f-]{36}' | head -n 1
}

json_field() {
	python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

check_list_get() {
	fresh_topology || return 1
	# Link-local DAD ends a second or two after the links come up; an echo sent meanwhile
	# can be lost to neighbour discovery.
	wait_for 10 ipv6_settled || fail "IPv6 addresses still tentative"
	# The UDP flow must outlive the slower checks below (the kernel's YNL client takes seconds
	# per request on the debug kernel).
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=600
	pinger_server dead:2::99 || return 1
	ping_flow dead:2::99 7000 41000 20 0.05 >/dev/null || fail "IPv6 echoes lost"
	TCP_PORT=12345 tcp_transfer 10.0.2.99 300000 3 "ctl list" >"$work/list" || return 1
	pinger_stop
	cat "$work/list"
	[ "$(grep -c 'ufid:' "$work/list")" = 2 ] || fail "not 2 flows listed"
	grep -E '^tcp .*src=10\.0\.1\.99 dst=10\.0\.2\.99 .*dport=12345 .*src=10\.0\.2\.99 dst=10\.0\.2\.1 .*\[OFFLOAD\]' "$work/list" >/dev/null ||
		fail "the TCP flow with masquerade is not listed as expected"
	grep -E '^udp .*src=dead:1::99 dst=dead:2::99 sport=41000 dport=7000 ' "$work/list" >/dev/null ||
		fail "the IPv6 UDP flow is not listed as expected"
	grep "^tcp" "$work/list" | grep -q "\[SNAT\]" || fail "the TCP flow is not marked [SNAT]"
	local u
	for u in $(grep -oE 'ufid:[0-9a-f-]{36}' "$work/list"); do
		ctl get "$u" >"$work/get" 2>&1 || fail "get $u: $(cat "$work/get")"
		grep -q "$u" "$work/get" || fail "get $u returned another flow"
	done
	ctl -j list | json_field 'len(d)' >"$work/n" 2>&1 || fail "JSON output does not parse"
	[ "$(cat "$work/n")" = 2 ] || fail "JSON lists $(cat "$work/n") flows, not 2"
	echo "count: $(ctl count)"
	# The TCP connection has closed by now: its flow is gone or going.
	ctl list --proto udp >"$work/list.udp"
	[ "$(grep -c 'ufid:' "$work/list.udp")" = 1 ] || fail "the UDP flow is gone: $(cat "$work/list.udp")"
	# The spec's check is the same on every kernel; the debug run (CI's time budget) leaves it
	# to the normal one.
	if [ "${YNL_CHECK:-1}" = 1 ]; then
		ynl_cross_check "$work/list.udp"
	else
		echo "the YNL cross-check runs on the normal kernel (YNL_CHECK=0 here)"
	fi
}

# The family's YAML spec, through the kernel's own netlink client: a dump and a GET of each
# listed UFID must decode to the same flows rflowctl showed.
ynl_cross_check() {
	local cli=$KDIR/tools/net/ynl/cli.py
	[ -f "$cli" ] || { fail "no $cli in the kernel tree"; return 1; }
	local ynl=(python3 "$cli" --spec "$RFLOW_ROOT/Documentation/netlink/specs/rflow.yaml"
		--schema "$KDIR/Documentation/netlink/genetlink-legacy.yaml")
	local dump one u
	dump=$(ip netns exec "$nsr" "${ynl[@]}" --dump get 2>&1) || { fail "ynl dump: $dump"; return 1; }
	for u in $(grep -oE 'ufid:[0-9a-f-]{36}' "$1"); do
		grep -q "${u#ufid:}" <<<"$dump" || fail "ynl's dump lacks $u: $dump"
		one=$(ip netns exec "$nsr" "${ynl[@]}" --do get \
			--json "{\"ufid\": \"$(tr -d -- - <<<"${u#ufid:}")\"}" 2>&1) ||
			fail "ynl get $u: $one"
		grep -q "${u#ufid:}" <<<"$one" && grep -q "'l4proto'" <<<"$one" &&
			grep -q "'orig-packets'" <<<"$one" ||
			fail "ynl get $u did not decode the flow and its counters: $one"
	done
	one=$(ip netns exec "$nsr" "${ynl[@]}" --dump stats 2>&1) || fail "ynl stats: $one"
	grep -q "'created'" <<<"$one" || fail "ynl stats did not decode the counters: $one"
	echo "ynl (tools/net/ynl/cli.py with rflow.yaml): dump, get and stats agree with rflowctl"
}

check_counters() {
	fresh_topology || return 1
	pinger_server 10.0.2.99 || return 1
	ping_flow 10.0.2.99 7000 41001 50 0.02 >/dev/null || fail "echoes lost"
	local j
	j=$(ctl -j list --port 41001) || { fail "list failed"; return 1; }
	pinger_stop
	echo "$j"
	# 50 datagrams of 428 IP bytes each way; the first one or two took the slow path.
	local po pr
	po=$(json_field 'd[0]["orig"]["packets"]' <<<"$j")
	pr=$(json_field 'd[0]["reply"]["packets"]' <<<"$j")
	echo "fast path: $po packets out, $pr back"
	[ "$po" -ge 45 ] && [ "$po" -le 50 ] && [ "$pr" -ge 45 ] && [ "$pr" -le 50 ] ||
		fail "counters $po/$pr do not match the 50 datagrams each way"
	local full terse
	full=$(ip netns exec "$nsr" python3 "$SELFTESTS/rflow_genl.py" dump-ufids | head -n 1)
	terse=$(ip netns exec "$nsr" python3 "$SELFTESTS/rflow_genl.py" dump-ufids terse | head -n 1)
	[ -n "$full" ] && [ "$full" = "$terse" ] || fail "terse dump and full dump differ: $full / $terse"
	ctl list --terse | grep -q "packets=" || fail "terse list without counters"
	ctl list --terse | grep -q "src=" && fail "terse list shows tuples"
	return 0
}

check_del_tcp() {
	fresh_topology || return 1
	local hook="del_live_tcp"
	del_live_tcp() {
		local u
		u=$(ufid_of '^tcp ')
		[ -n "$u" ] || { fail "no TCP flow listed"; return 1; }
		ip netns exec "$nsr" conntrack -L -p tcp 2>/dev/null | grep -q OFFLOAD ||
			fail "conntrack entry not [OFFLOAD] before del"
		ctl del "$u" >"$work/del" || fail "del $u failed: $(cat "$work/del")"
		echo "deleted: $(cat "$work/del")"
		local ct
		ct=$(ip netns exec "$nsr" conntrack -L -p tcp --dport 12345 2>/dev/null)
		echo "conntrack: $ct"
		[[ $ct == *ESTABLISHED* ]] || fail "conntrack lost the connection"
		[[ $ct != *OFFLOAD* ]] || fail "conntrack entry still [OFFLOAD] after del"
		# Torn down at once; listed (marked [TEARDOWN]) until the GC frees it.
		wait_for 5 sh -c "! $RFLOWCTL -n $nsr get $u >/dev/null 2>&1" ||
			fail "the deleted UFID is still there"
		wait_for 5 sh -c "! $RFLOWCTL -n $nsr list | grep -q $u" || fail "deleted flow still listed"
	}
	TCP_PORT=12345 tcp_transfer 10.0.2.99 300000 4 "$hook"
}

check_del_reoffload() {
	fresh_topology || return 1
	pinger_server 10.0.2.99 || return 1
	ping_flow 10.0.2.99 7000 41002 100 0.05 >"$work/pings" &
	local pid=$!
	wait_for 10 sh -c "$RFLOWCTL -n $nsr list --port 41002 | grep -q ufid:" || fail "not offloaded"
	local old new
	old=$(ufid_of 'sport=41002')
	ctl del "$old" >/dev/null || fail "del failed"
	wait_for 10 sh -c "$RFLOWCTL -n $nsr list --port 41002 | grep ufid: | grep -qv $old" ||
		fail "not offloaded again after del"
	new=$(ufid_of 'sport=41002')
	echo "UFID before del $old, after $new"
	[ -n "$new" ] && [ "$new" != "$old" ] || fail "re-offloaded flow kept UFID $old"
	local out rc
	out=$(ctl get "$old" 2>&1)
	rc=$?
	echo "get of the old UFID: exit $rc: $out"
	[ $rc = 1 ] || fail "get of a deleted UFID exited $rc"
	grep -q "no flow with this UFID" <<<"$out" || fail "no extack message: $out"
	wait "$pid" || fail "echoes lost around the del: $(cat "$work/pings")"
	# del by filter, then refusals.
	ctl del --port 41002 >/dev/null || fail "del by filter failed"
	out=$(ctl del 2>&1)
	rc=$?
	[ $rc = 2 ] || fail "del without UFID or filter exited $rc: $out"
	pinger_stop
}

# The topology, a second flowtable g on a dummy device (no flow ever reaches it), and the
# echo server.
topology_with_empty_flowtable() {
	fresh_topology || return 1
	ip -net "$nsr" link add dummy0 type dummy && ip -net "$nsr" link set dummy0 up
	ip netns exec "$nsr" nft add flowtable inet filter g '{ hook ingress priority 10; devices = { dummy0 }; }' ||
		{ fail "cannot add flowtable g"; return 1; }
	pinger_server 10.0.2.99
}

check_flush() {
	topology_with_empty_flowtable || return 1
	local p
	for p in 41010 41011 41012; do
		ping_flow 10.0.2.99 7000 $p 5 0.02 >/dev/null || fail "echoes lost"
	done
	pinger_stop
	[ "$(ctl count)" = 3 ] || fail "$(ctl count) flows before flush, not 3"
	local out
	out=$(ctl flush --flowtable g)
	echo "flush of the empty flowtable g: $out"
	[[ $out == "0 flows flushed" ]] || fail "flush of g: $out"
	[ "$(ctl count)" = 3 ] || fail "flush of g took flows of f"
	out=$(ctl flush)
	echo "flush: $out"
	[[ $out == "3 flows flushed" ]] || fail "flush: $out"
	wait_for 5 sh -c "[ \$($RFLOWCTL -n $nsr count) = 0 ]" || fail "flows left after flush"
	ip netns exec "$nsr" conntrack -L 2>/dev/null | grep -q OFFLOAD && fail "conntrack still [OFFLOAD]"
	return 0
}

check_events() {
	fresh_topology || return 1
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=2
	ctl -j watch --count 6 --timeout 60 >"$work/events" 2>"$work/events.err" &
	local watcher=$!
	sleep 1
	pinger_server 10.0.2.99 || return 1
	ping_flow 10.0.2.99 7000 41020 5 0.02 >/dev/null || fail "echoes lost"
	local u
	u=$(ufid_of 'sport=41020')
	ctl del "$u" >/dev/null || fail "del failed"
	ping_flow 10.0.2.99 7000 41021 5 0.02 >/dev/null || fail "echoes lost"
	# The second flow expires (2 s, then the GC's next pass), the third is flushed.
	sleep 4
	ping_flow 10.0.2.99 7000 41022 5 0.02 >/dev/null || fail "echoes lost"
	ctl flush >/dev/null
	wait "$watcher" || fail "watch did not see 6 events: $(cat "$work/events" "$work/events.err")"
	pinger_stop
	cat "$work/events"
	python3 - "$work/events" "$u" <<-'EOF' || fail "events do not match what happened"
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
	deleted = sys.argv[2]
	def port(e):
	    return e["orig"]["sport"]
	seq = [(e["event"], port(e), e.get("reason")) for e in ev]
	print(seq)
	assert seq[0][:2] == ("new", 41020), seq
	assert ev[0]["ufid"] == deleted and ev[1]["ufid"] == deleted, "UFIDs differ"
	assert seq[1] == ("destroy", 41020, "user"), seq
	assert seq[2:4] == [("new", 41021, None), ("destroy", 41021, "expired")], seq
	rest = sorted(seq[4:])
	assert [s[:2] for s in rest if s[0] == "new"] == [("new", 41022)], rest
	reasons = {s[1]: s[2] for s in rest if s[0] == "destroy"}
	assert reasons == {41022: "flush"}, reasons
	EOF
}

check_netns() {
	fresh_topology || return 1
	pinger_server 10.0.2.99 || return 1
	ping_flow 10.0.2.99 7000 41030 5 0.02 >/dev/null || fail "echoes lost"
	pinger_stop
	local u out rc
	u=$(ufid_of 'sport=41030')
	[ -n "$u" ] || { fail "no flow"; return 1; }
	[ "$("$RFLOWCTL" -n "$ns1" count)" = 0 ] || fail "ns1 sees the router's flows"
	out=$("$RFLOWCTL" -n "$ns1" stats)
	[ "$(wc -l <<<"$out")" = 1 ] && grep -q '^total flows=0 ' <<<"$out" ||
		fail "ns1's stats show the router's flowtables: $out"
	out=$("$RFLOWCTL" -n "$ns1" get "$u" 2>&1)
	rc=$?
	echo "get from ns1: exit $rc: $out"
	[ $rc = 1 ] || fail "ns1 got the router's flow"
	out=$("$RFLOWCTL" -n "$ns1" del "$u" 2>&1)
	[ $? = 1 ] || fail "ns1 deleted the router's flow"
	"$RFLOWCTL" -n "$ns1" flush >/dev/null
	ctl get "$u" >/dev/null || fail "the flow is gone after another namespace's del and flush"
}

check_bad_input() {
	fresh_topology || return 1
	pinger_server 10.0.2.99 || return 1
	ping_flow 10.0.2.99 7000 41040 5 0.02 >/dev/null || fail "echoes lost"
	pinger_stop
	local u hex
	u=$(ufid_of 'sport=41040')
	hex=$(tr -d -- '-' <<<"${u#ufid:}")
	ip netns exec "$nsr" python3 "$SELFTESTS/rflow_genl.py" bad-input "$hex" ||
		fail "a hostile request was not refused as it should be"
	local out rc
	for bad in "ufid:1234" "ufid:$(printf '%036d' 0)x" "1234567"; do
		out=$(ctl get "$bad" 2>&1)
		rc=$?
		[ $rc = 2 ] || fail "get $bad exited $rc: $out"
	done
	out=$(ctl frobnicate 2>&1)
	[ $? = 2 ] || fail "an unknown command did not exit 2"
	ctl get "$u" >/dev/null || fail "the flow is gone"
}

check_eperm() {
	fresh_topology || return 1
	local out rc
	out=$(ip netns exec "$nsr" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		python3 "$SELFTESTS/rflow_genl.py" eperm 2>&1)
	rc=$?
	echo "$out"
	[ $rc = 0 ] || fail "an unprivileged request was not refused with EPERM and a message"
	out=$(ip netns exec "$nsr" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$RFLOWCTL" list 2>&1)
	rc=$?
	echo "rflowctl list as nobody: exit $rc: $out"
	[ $rc = 1 ] || fail "rflowctl list as nobody exited $rc"
	out=$(ip netns exec "$nsr" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$RFLOWCTL" watch --count 1 --timeout 2 2>&1)
	[ $? = 1 ] || fail "an unprivileged watch was allowed: $out"
}

# rflowctl's filters and outputs on two live flows: UDP over IPv4 with masquerade from port
# 41060, UDP over IPv6 from port 41061.
check_tool_options() {
	fresh_topology || return 1
	wait_for 10 ipv6_settled || fail "IPv6 addresses still tentative"
	local s4 s6
	ip netns exec "$ns2" python3 "$SELFTESTS/udp_pinger.py" server 10.0.2.99 7000 >/dev/null 2>&1 &
	s4=$!
	ip netns exec "$ns2" python3 "$SELFTESTS/udp_pinger.py" server dead:2::99 7000 >/dev/null 2>&1 &
	s6=$!
	wait_for 10 udp_bound "$ns2" 7000 || fail "echo servers did not start"
	sleep 1
	ping_flow 10.0.2.99 7000 41060 5 0.02 >/dev/null || fail "IPv4 echoes lost"
	ping_flow dead:2::99 7000 41061 5 0.02 >/dev/null || fail "IPv6 echoes lost"
	kill "$s4" "$s6" 2>/dev/null
	# Each filter, with the number of flows it must list.
	local f n
	while read -r n f; do
		local got
		# shellcheck disable=SC2086
		got=$(ctl list $f | grep -c 'ufid:')
		echo "list $f: $got"
		[ "$got" = "$n" ] || fail "list $f: $got flows, not $n"
	done <<-EOF
	2 --flowtable f --table filter --family inet
	1 --proto udp --addr 10.0.1.99
	1 --addr dead:2::99
	1 --port 41061
	2 --dev veth0
	2 --dev veth1 --state sw
	0 --state hw
	0 --proto tcp
	EOF
	[ "$(ctl count --proto udp --addr dead:1::99)" = 1 ] || fail "count with filters"
	local out rc
	out=$(ctl list --flowtable nosuch 2>&1)
	rc=$?
	echo "list --flowtable nosuch: exit $rc: $out"
	[ $rc = 1 ] && grep -q "nosuch\|No such" <<<"$out" || fail "an unknown flowtable is not an error"
	local u
	u=$(ufid_of 'sport=41060')
	ctl -j get "$u" --terse | json_field 'sorted(d)' >"$work/terse" || fail "get --terse"
	echo "get --terse: $(cat "$work/terse")"
	[ "$(cat "$work/terse")" = "['idle_ms', 'orig', 'reply', 'ufid']" ] ||
		fail "get --terse has more than the UFID and counters"
	ctl -j -p list | json_field 'len(d)' >"$work/n" || fail "-j -p list does not parse"
	[ "$(cat "$work/n")" = 2 ] || fail "-j -p lists $(cat "$work/n") flows"
	out=$(ctl stats)
	echo "$out"
	grep -qE '^inet/filter/f flows=2 hw_flows=0 packets=[0-9]' <<<"$out" || fail "stats per flowtable"
	grep -qE '^total flows=2 ' <<<"$out" || fail "stats total"
	ctl -j stats | json_field 'd["total"]["flows"]' >"$work/n" || fail "-j stats does not parse"
	[ "$(cat "$work/n")" = 2 ] || fail "-j stats: $(cat "$work/n") flows"
	out=$(ctl stats --prometheus)
	grep -qx 'rflow_flows{family="inet",table="filter",flowtable="f"} 2' <<<"$out" ||
		fail "prometheus: $(head -n 5 <<<"$out")"
	grep -q '^# TYPE rflow_packets_total counter' <<<"$out" || fail "prometheus: no packet counter"
}

# The topology as rflow_scale.sh has it for pktgen's flows: no NAT (pktgen's sources are not
# routed back), and N flows through it (pass 1 makes the conntrack entries, pass 2 the flows).
pktgen_topology() {
	cleanup_topology
	setup_topology && load_ruleset || return 1
	many_flows_prepare "$1" || return 1
}

# DELs racing with expiry: flows that expire 3 s after they were made (times TIME_SCALE), DELs
# of all of them paced over 4 s (1 s more than the timeout). Each DEL tears its flow down or finds it gone (ENOENT with a message), each
# flow is destroyed once, with reason user (as many as DELs succeeded) or expired.
check_del_vs_expiry() {
	pktgen_topology 256 || return 1
	local timeout=$((3 * TIME_SCALE))
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=$timeout
	many_flows_send "$MANY_FLOWS" >/dev/null
	"$RFLOWCTL" -n "$nsr" -j watch --port 9 --timeout $((30 * TIME_SCALE)) >"$work/events" 2>"$work/events.err" &
	local watcher=$!
	sleep 1
	many_flows_send "$MANY_FLOWS" >/dev/null
	ip netns exec "$nsr" python3 "$SELFTESTS/rflow_genl.py" dump-ufids | grep -v '^#' >"$work/ufids"
	local n out
	n=$(wc -l <"$work/ufids")
	echo "$n flows"
	[ "$n" -ge $((MANY_FLOWS * 9 / 10)) ] || fail "only $n flows offloaded"
	out=$(ip netns exec "$nsr" python3 "$SELFTESTS/rflow_genl.py" del-ufids $(awk "BEGIN { print ($timeout + 1) / $n }") <"$work/ufids") ||
		fail "a DEL got neither its flow nor ENOENT with a message: $out"
	echo "$out"
	wait_for 10 sh -c "[ \$($RFLOWCTL -n $nsr count) = 0 ]" || fail "flows left"
	sleep 1
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	python3 - "$work/events" "$work/ufids" "$out" <<-'EOF' || fail "the events do not match the DELs and the expiry"
	import collections, json, re, sys
	ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
	ufids = {l.strip() for l in open(sys.argv[2]) if l.strip()}
	deleted = int(re.search(r"deleted (\d+)", sys.argv[3]).group(1))
	destroys = collections.Counter()
	reasons = collections.Counter()
	for e in ev:
	    u = e["ufid"].removeprefix("ufid:").replace("-", "")
	    if e["event"] == "destroy" and u in ufids:
	        destroys[u] += 1
	        reasons[e["reason"]] += 1
	print(f"destroy events: {dict(reasons)}; {deleted} DELs tore their flow down")
	assert all(destroys[u] == 1 for u in ufids), [u for u in ufids if destroys[u] != 1][:5]
	assert set(reasons) <= {"user", "expired"}, reasons
	assert reasons["user"] == deleted, (reasons, deleted)
	EOF
}

# The packets of flowtable $1 in `rflowctl -j stats`: since it was created, removed flows
# included.
ft_packets() {
	ctl -j stats | json_field "[t['packets'] for t in d['flowtables'] if t['name'] == '$1'][0]"
}

# RFLOW_CMD_STATS through rflowctl stats: counters kept since a flowtable was created (flows
# created, removed by reason, and what removed flows forwarded), empty flowtables listed.
check_stats() {
	topology_with_empty_flowtable || return 1
	local p
	for p in 41080 41081 41082; do
		ping_flow 10.0.2.99 7000 $p 10 0.02 >/dev/null || fail "echoes lost"
	done
	pinger_stop
	local before after out
	before=$(ft_packets f)
	[ "$before" -gt 0 ] || fail "no packets counted for f: $before"
	ctl del "$(ufid_of 'sport=41080')" >/dev/null || fail "del"
	wait_for 5 sh -c "[ \$($RFLOWCTL -n $nsr count) = 2 ]" || fail "the deleted flow stays"
	out=$(ctl stats)
	echo "$out"
	grep -qE '^inet/filter/f flows=2 .* created=3 removed=1 expired=0 closed=0 route=0 device=0 user=1 flush=0$' <<<"$out" ||
		fail "stats of f after one del"
	grep -qE '^inet/filter/g flows=0 hw_flows=0 packets=0 bytes=0 hw_packets=0 hw_bytes=0 created=0 removed=0 ' <<<"$out" ||
		fail "the empty flowtable g is not listed"
	after=$(ft_packets f)
	echo "packets of f: $before before the del, $after after"
	[ "$after" -ge "$before" ] || fail "packets went from $before to $after when a flow went: not a counter"
	ctl flush >/dev/null || fail "flush"
	wait_for 5 sh -c "[ \$($RFLOWCTL -n $nsr count) = 0 ]" || fail "flows left after flush"
	out=$(ctl stats --flowtable f)
	echo "$out"
	grep -qE '^inet/filter/f flows=0 .* created=3 removed=3 expired=0 closed=0 route=0 device=0 user=1 flush=2$' <<<"$out" ||
		fail "stats of f after the flush"
	grep -q '^inet/filter/g ' <<<"$out" && fail "stats --flowtable f lists g"
	after=$(ft_packets f)
	[ "$after" -ge "$before" ] || fail "packets went from $before to $after with no flow left"
	out=$(ctl stats --prometheus)
	grep -E '^rflow_flows_(created|removed)_total\{.*flowtable="f"' <<<"$out"
	grep -qE '^rflow_flows_created_total\{.*flowtable="f".*\} 3$' <<<"$out" ||
		fail "prometheus: flows created"
	grep -qE '^rflow_flows_removed_total\{.*flowtable="f".*reason="flush".*\} 2$' <<<"$out" ||
		fail "prometheus: flows flushed"
	grep -qE "^rflow_packets_total\\{.*flowtable=\"f\".*path=\"software\".*\\} $after\$" <<<"$out" ||
		fail "prometheus: software packets of f are not $after"
}

# pktgen keeps $CHURN_FLOWS UDP flows alive; short UDP pings come and go meanwhile (each ends
# with a DEL), and GETs of stable flows run beside them; dumps in a loop must list every pktgen
# flow exactly once (unless marked interrupted), and every GET of a stable flow must find it.
check_dump_churn() {
	pktgen_topology "$CHURN_FLOWS" || return 1
	# Long enough for the stable flows to outlive the dumps: a run at 1M flows takes over
	# 600 s, and then the "stable" flows expired under it.
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=7200
	many_flows_send "$MANY_FLOWS" >/dev/null
	# A listener that stops reading while the flows come learns that it lost events.
	"$RFLOWCTL" -n "$nsr" watch >/dev/null 2>"$work/watch.err" &
	local watcher=$!
	sleep 0.5
	kill -STOP "$watcher"
	many_flows_send "$MANY_FLOWS" >/dev/null
	kill -CONT "$watcher"
	sleep 1
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	echo "a stopped listener, after $MANY_FLOWS new flows: $(sort -u "$work/watch.err" | tr '\n' ' ')"
	grep -q 'events lost (ENOBUFS)' "$work/watch.err" || fail "an overrun listener was not told it lost events"
	local stable
	# The stable flows' UFIDs (hex, no dashes), from a full dump (the terse dumps below build
	# their messages another way) before anything else runs, and as many as the table holds
	# by its own count (no walk).
	ip netns exec "$nsr" python3 "$SELFTESTS/rflow_genl.py" dump-ufids |
		grep -v '^#' | sort >"$work/stable.ufids"
	stable=$(wc -l <"$work/stable.ufids")
	local in_table
	in_table=$(ctl -j stats | json_field 'd["total"]["flows"]')
	echo "stable flows: $stable of $MANY_FLOWS tuples; the table holds $in_table"
	[ "$stable" -ge $((MANY_FLOWS * 9 / 10)) ] || fail "only $stable flows offloaded"
	[ "$stable" = "$in_table" ] || fail "a full dump lists $stable flows, the table holds $in_table"
	pinger_server 10.0.2.99 || return 1
	# Churn: flows come (a ping) and go (a del) while the dumps run.
	( for p in $(seq 42000 42100); do
		ping_flow 10.0.2.99 7000 "$p" 2 0.01 >/dev/null 2>&1
		"$RFLOWCTL" -n "$nsr" del --port "$p" >/dev/null 2>&1
	done ) &
	local churn=$!
	# GETs by UFID of 20 stable flows, round after round, until the dumps are done.
	ctl list --port 9 | grep -oE 'ufid:[0-9a-f-]{36}' | shuf -n 20 >"$work/get.ufids"
	: >"$work/get.log"
	( while [ ! -e "$work/get.stop" ]; do
		while read -r u; do
			if "$RFLOWCTL" -n "$nsr" get "$u" >/dev/null 2>&1; then
				echo ok >>"$work/get.log"
			else
				echo "lost $u" >>"$work/get.log"
			fi
		done <"$work/get.ufids"
	done ) &
	local getter=$!
	local i dumps=0 bad=0 intr=0
	for i in $(seq "$DUMP_ROUNDS"); do
		ip netns exec "$nsr" python3 "$SELFTESTS/rflow_genl.py" dump-ufids terse >"$work/d$i" || { bad=1; break; }
		dumps=$((dumps + 1))
		local dup
		dup=$(grep -v '^#' "$work/d$i" | sort | uniq -d | wc -l)
		grep -q 'interrupted 1' "$work/d$i" && intr=$((intr + 1))
		if [ "$dup" != 0 ] && ! grep -q 'interrupted 1' "$work/d$i"; then
			fail "dump $i reported $dup flows twice"
		fi
		local missed
		missed=$(grep -v '^#' "$work/d$i" | sort -u | comm -23 "$work/stable.ufids" - | wc -l)
		[ "$missed" -eq 0 ] || fail "dump $i missed $missed of the $stable stable flows"
	done
	kill "$churn" 2>/dev/null
	wait "$churn" 2>/dev/null
	# A flowtable that comes during a dump may have been missed: the dump says so.
	ip -net "$nsr" link add dummy9 type dummy && ip -net "$nsr" link set dummy9 up
	local out
	out=$(ip netns exec "$nsr" python3 "$SELFTESTS/rflow_genl.py" dump-intr \
		"nft add flowtable inet filter late '{ hook ingress priority 10; devices = { dummy9 }; }'") ||
		fail "dump with a flowtable added during it failed: $out"
	echo "a flowtable added after the dump's first message: $out"
	grep -qE '^messages [0-9]+ interrupted 1$' <<<"$out" || fail "the dump was not marked interrupted: $out"
	touch "$work/get.stop"
	wait "$getter"
	pinger_stop
	# STATS walks a flowtable's flows with the flowtable pinned and the registry unlocked:
	# RTNL's netdevice notifier does not wait for the walks, and deleting the flowtable waits
	# for the walk in progress (without that wait, a use after free on the debug kernel).
	rm -f "$work/stats.stop"
	ip netns exec "$nsr" python3 "$SELFTESTS/rflow_genl.py" stats-loop "$work/stats.stop" \
		>"$work/stats.log" 2>&1 &
	local statser=$! t0 ms
	sleep 1
	t0=$(date +%s%N)
	for i in $(seq 10); do
		ip -net "$nsr" link add dummy8 type dummy && ip -net "$nsr" link del dummy8
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	ip netns exec "$nsr" nft delete table inet filter || fail "deleting the table under STATS dumps"
	wait_for 10 sh -c "[ \$($RFLOWCTL -n $nsr count) = 0 ]" || fail "flows left after the table went"
	# Empty flowtables come and go: their walks and their teardowns are short, so a STATS
	# message may still be built while one is freed.
	for i in $(seq 10); do
		ip netns exec "$nsr" nft add table inet churn \
			"{ flowtable c { hook ingress priority 0; devices = { dummy9 }; }; }" &&
			ip netns exec "$nsr" nft delete table inet churn || fail "flowtable $i"
	done
	sleep 1
	touch "$work/stats.stop"
	wait "$statser" || fail "STATS dumps beside the deletion: $(tail -n 3 "$work/stats.log")"
	echo "beside the deletion of a flowtable of $stable flows: $(cat "$work/stats.log"); 10 device adds and deletes meanwhile took $ms ms"
	local gets lost
	gets=$(grep -c '^ok' "$work/get.log")
	lost=$(grep -c '^lost' "$work/get.log")
	echo "$dumps dumps during churn, $intr marked interrupted; $gets GETs of stable flows beside them"
	[ "$gets" -ge 1 ] || fail "no GET ran during the dumps"
	[ "$lost" -eq 0 ] || fail "$lost GETs did not find a stable flow: $(grep -m 3 lost "$work/get.log")"
	[ $bad = 0 ] || fail "a dump failed"
}

check_fuzz() {
	fresh_topology || return 1
	pinger_server 10.0.2.99 || return 1
	ping_flow 10.0.2.99 7000 41050 5 0.02 >/dev/null || fail "echoes lost"
	pinger_stop
	local hex
	hex=$(ufid_of 'sport=41050' | sed 's/ufid://; s/-//g')
	ip netns exec "$nsr" timeout 1500 python3 "$SELFTESTS/rflow_genl.py" fuzz "$FUZZ_REQUESTS" "$RANDOM" "$hex" ||
		fail "the fuzzer stopped"
	# The family still answers.
	ctl count >/dev/null || fail "the family does not answer after the fuzzer"
}

tap_check "list, get, count, JSON: TCP/IPv4 with masquerade and UDP/IPv6 flows by UFID" check_list_get
tap_check "per-direction counters match the traffic; terse dumps carry UFIDs and counters only" check_counters
tap_check "del of a live TCP flow hands it back to conntrack" check_del_tcp
tap_check "del of a busy UDP flow: offloaded again under a new UFID; del by filter; no del without UFID" check_del_reoffload
tap_check "flush of one flowtable, then of all" check_flush
tap_check "watch: NEW and DESTROY events in order, with reasons user, expired, flush" check_events
tap_check "another namespace sees, deletes and flushes none of the router's flows" check_netns
tap_check "hostile requests: an errno and an extack message each, nothing changes" check_bad_input
tap_check "without CAP_NET_ADMIN: EPERM with a message for every command and the events" check_eperm
tap_check "rflowctl's filters (flowtable, proto, addr, port, dev, state), get --terse, -j -p, stats, Prometheus" check_tool_options
tap_check "DELs racing with expiry: each flow destroyed once, by the DEL or by its timeout" check_del_vs_expiry
tap_check "stats: flows created and removed by reason, removed flows' packets kept, empty flowtables" check_stats
tap_check "dumps during churn: every stable flow exactly once ($CHURN_FLOWS flows)" check_dump_churn
tap_check "netlink fuzzer: $FUZZ_REQUESTS random and mutated requests" check_fuzz
tap_check "rflow is still the flowtable" rflow_is_the_flowtable
tap_done
