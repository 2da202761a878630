#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The life of a flow: it expires after net.netfilter.nf_flowtable_{udp,tcp}_timeout with the
# conntrack timeout restored; FIN and RST mark a TCP flow closing (6.14+ semantics): it keeps
# forwarding until it expires and then hands conntrack a CLOSE state, and a SYN on the same tuple
# tears it down so conntrack reopens the connection; a device going down takes its flows with
# it; deleting the flowtable or the namespace frees every flow; and the module unloads cleanly
# while flows exist and traffic runs, without disturbing the traffic.

source "$(dirname "$0")/lib.sh"

tap_header 11
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }

fresh_topology() {
	cleanup_topology
	setup_topology && load_ruleset
}

flows() {
	local n
	n=$(rflow_stat "$nsr" flows)
	echo "${n:-0}"
}

no_flows() { [ "$(flows)" -eq 0 ]; }
has_flows() { [ "$(flows)" -ge 1 ]; }
none_allocated() { [ "$(rflow_allocated)" -eq 0 ]; }

ct_list() {
	ip netns exec "$nsr" conntrack -L "$@" 2>/dev/null
}

# Watches the flow listed with ` $1 ` in the router until it goes, every 0.2 s, and checks it
# expired on time by the kernel's own account: the `expires` it showed last (whole seconds
# left) must not have run out before it went, and it must go within $2 seconds (the timeout,
# scaled for slow kernels, plus the GC period). Wall-clock bounds alone fail on a debug kernel
# ten times slower than this one.
watch_expiry() {
	local pattern=$1 limit=$2 line now last_exp= last_t= gone_t= first_exp= i
	for ((i = 0; i < limit * 5; i++)); do
		line=$(ip netns exec "$nsr" cat /proc/net/rflow | grep -- "$pattern")
		now=$(date +%s%N)
		if [ -z "$line" ]; then
			gone_t=$now
			break
		fi
		last_exp=$(sed -n 's/.* expires \(-\{0,1\}[0-9]*\).*/\1/p' <<<"$line" | head -n 1)
		first_exp=${first_exp:-$last_exp}
		last_t=$now
		sleep 0.2
	done
	[ -n "$last_t" ] || { fail "no flow matching '$pattern' to watch"; return 1; }
	[ -n "$gone_t" ] || { fail "flow still listed after $limit s, last expires $last_exp"; return 1; }
	local early_ms=$(( (last_t + last_exp * 1000000000 - gone_t) / 1000000 ))
	echo "first expires $first_exp s; went $(( (gone_t - last_t) / 1000000 )) ms after last seen with expires $last_exp s"
	# `expires` is truncated to whole seconds: the flow may legitimately go up to 1 s early.
	[ "$early_ms" -le 1000 ] || fail "flow went $early_ms ms before its expiry (last expires $last_exp)"
}

udp_expires() {
	fresh_topology || return 1
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_udp_timeout=4
	udp_transfer 10.0.2.99 100000 || return 1
	ct_list -p udp | grep -q OFFLOAD || fail "conntrack entry not [OFFLOAD]: $(ct_list)"
	local first
	first=$(ip netns exec "$nsr" cat /proc/net/rflow | grep ' udp ' | sed -n 's/.* expires \([0-9]*\).*/\1/p')
	[ -n "$first" ] && [ "$first" -le 4 ] ||
		fail "flow not listed with at most the 4 s timeout left: '$first'"
	watch_expiry ' udp ' $((4 * TIME_SCALE + 5)) || return 1
	local line
	line=$(ct_list -p udp --dport 5000)
	echo "$line"
	[[ $line != *OFFLOAD* ]] || fail "conntrack entry still [OFFLOAD] after expiry"
	# Restored: the replied-UDP timeout (120 s) minus the flow timeout, not the offload day.
	local timeout
	timeout=$(awk '{ print $3 }' <<<"$line")
	[ -n "$timeout" ] && [ "$timeout" -le 120 ] && [ "$timeout" -ge 60 ] ||
		fail "conntrack timeout $timeout not restored to about 116 s (120 - 4)"
}

# After FIN (or RST) the flow is closing but alive, then expires into conntrack's CLOSE.
check_closing_then_close() {
	local port=$1
	ip netns exec "$nsr" cat /proc/net/rflow | grep ":$port " | grep -q closing ||
		fail "flow not closing after the connection ended: $(ip netns exec "$nsr" cat /proc/net/rflow)"
	ct_list -p tcp --dport "$port" | grep -q OFFLOAD ||
		fail "conntrack entry left [OFFLOAD] before the flow expired"
	wait_for 6 no_flows || fail "closing flow still present long after its last packet"
	local line
	line=$(ct_list -p tcp --dport "$port")
	echo "$line"
	[[ $line != *OFFLOAD* ]] || fail "conntrack entry still [OFFLOAD] after expiry"
	[[ $line == *" CLOSE "* ]] || fail "conntrack not in CLOSE after the closing flow expired: $line"
}

tcp_fin_closing() {
	fresh_topology || return 1
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_tcp_timeout=3
	tcp_transfer 10.0.2.99 500000 1 "wait_for 2 has_flows" || return 1
	check_closing_then_close 12345
}

tcp_rst_closing() {
	fresh_topology || return 1
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_tcp_timeout=3
	timeout 30 ip netns exec "$ns2" socat -u TCP-LISTEN:12346,reuseaddr - >/dev/null 2>&1 &
	wait_for 10 listening "$ns2" 12346 || fail "server did not start"
	timeout 30 ip netns exec "$ns1" python3 "$SELFTESTS/tcp_rst.py" 10.0.2.99 12346 300000 2 &
	local cpid=$!
	wait_for 10 has_flows || fail "connection never offloaded"
	ct_list -p tcp --dport 12346 | grep -q OFFLOAD || fail "not [OFFLOAD] before the reset"
	wait "$cpid" || fail "client failed"
	check_closing_then_close 12346
}

tcp_reopen() {
	fresh_topology || return 1
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_flowtable_tcp_timeout=300
	timeout 60 ip netns exec "$ns2" python3 "$SELFTESTS/tcp_reopen.py" server 10.0.2.99 12347 400000 &
	local spid=$!
	wait_for 10 listening "$ns2" 12347 || fail "server did not start"
	timeout 60 ip netns exec "$ns1" python3 "$SELFTESTS/tcp_reopen.py" client 10.0.2.99 12347 40123 \
		400000 "$work/first_done" 4 &
	local cpid=$!
	wait_for 20 test -e "$work/first_done" || fail "first connection did not complete"
	ip netns exec "$nsr" cat /proc/net/rflow | grep ":40123 " | grep -q closing ||
		fail "first connection's flow not closing: $(ip netns exec "$nsr" cat /proc/net/rflow)"
	local created
	created=$(rflow_stat "$nsr" created)
	wait "$cpid" || fail "client failed (second connection on the same tuple)"
	wait "$spid" || fail "server received wrong data"
	# The SYN of the second connection tore the closing flow down; conntrack reopened the
	# connection and it was offloaded again.
	[ "$(rflow_stat "$nsr" created)" -gt "$created" ] ||
		fail "second connection not offloaded: $(ip netns exec "$nsr" cat /proc/net/rflow)"
	local line
	line=$(ct_list -p tcp --dport 12347)
	echo "$line"
	[ "$(grep -c 'sport=40123' <<<"$line")" -eq 1 ] || fail "expected one conntrack entry: $line"
}

device_down() {
	fresh_topology || return 1
	udp_transfer 10.0.2.99 100000 || return 1
	[ "$(flows)" -ge 1 ] || fail "no flow before the device goes down"
	ip -net "$nsr" link set veth1 down
	wait_for 3 no_flows || fail "flows left after veth1 went down"
	ct_list -p udp | grep -q OFFLOAD && fail "conntrack entry still [OFFLOAD]"
	ip -net "$nsr" link set veth1 up
}

flowtable_delete_frees() {
	fresh_topology || return 1
	udp_transfer 10.0.2.99 100000 && udp_transfer dead:2::99 100000 || return 1
	[ "$(rflow_allocated)" -ge 2 ] || fail "expected 2 allocated flows, got $(rflow_allocated)"
	ip netns exec "$nsr" nft delete table inet filter
	wait_for 5 none_allocated ||
		fail "$(rflow_allocated) flows still allocated after deleting the flowtable"
	ct_list | grep -q OFFLOAD && fail "conntrack entries still [OFFLOAD]: $(ct_list)"
	return 0
}

netns_delete_frees() {
	fresh_topology || return 1
	udp_transfer 10.0.2.99 100000 || return 1
	[ "$(rflow_allocated)" -ge 1 ] || fail "no flow allocated"
	cleanup_topology
	wait_for 10 none_allocated ||
		fail "$(rflow_allocated) flows still allocated after deleting the namespaces"
}

unload_under_traffic() {
	fresh_topology || return 1
	local dir
	dir=$(mktemp -d)
	make_file "$dir/a" 3000000
	udp_transfer_background "$dir/a"
	wait_for 10 has_flows || fail "traffic never offloaded"
	dmesg -c >/dev/null
	ip netns exec "$nsr" nft flush ruleset
	# nf_tables frees the flowtable in a work item; until then it pins the module.
	local i
	for i in $(seq 50); do rmmod rflow 2>/dev/null && break; sleep 0.2; done
	if lsmod | grep -q '^rflow '; then
		fail "rflow still loaded after flushing the ruleset: refcnt $(cat /sys/module/rflow/refcnt)," \
			"namespaces: $(ip netns list | tr '\n' ' '), flows: $(rflow_allocated)," \
			"flowtables: $(for n in $(ip netns list | awk '{ print $1 }'); do
				ip netns exec "$n" cat /proc/net/rflow; done | grep -c '^flowtable')"
	fi
	wait "$udp_client" || fail "transfer broken by the unload"
	wait "$udp_server" || fail "server failed"
	rm -rf "$dir"
	if dmesg | grep -Ei 'bug|warning|oops|leak|refcount'; then
		fail "kernel complained during unload"
	fi
	insmod "$RFLOW_KO"
}

tap_check "udp flow expires after nf_flowtable_udp_timeout, conntrack timeout restored" udp_expires
tap_check "tcp FIN: flow closing until it expires, then conntrack CLOSE" tcp_fin_closing
tap_check "tcp RST: flow closing until it expires, then conntrack CLOSE" tcp_rst_closing
tap_check "tcp SYN on a closing flow: torn down, conntrack reopens, offloaded again" tcp_reopen
tap_check "device down tears its flows down" device_down
tap_check "deleting the flowtable frees every flow" flowtable_delete_frees
tap_check "deleting the namespaces frees every flow" netns_delete_frees
tap_check "module unloads with live flows and traffic, traffic intact" unload_under_traffic
# /proc/net/rflow shows every NAT mapping: root only, as conntrack's listing.
listing_root_only() {
	fresh_topology || return 1
	udp_transfer 10.0.2.99 100000 || return 1
	local mode out
	mode=$(ip netns exec "$nsr" stat -c %a /proc/net/rflow)
	echo "mode $mode"
	[ "$mode" = 440 ] || fail "/proc/net/rflow has mode $mode"
	if out=$(ip netns exec "$nsr" setpriv --reuid 65534 --regid 65534 --clear-groups \
		cat /proc/net/rflow 2>&1); then
		fail "uid 65534 read the listing: $(head -n 3 <<<"$out")"
	else
		echo "uid 65534: $out"
	fi
	ip netns exec "$nsr" cat /proc/net/rflow | grep -q ' udp ' || fail "root cannot list the flow"
}

# Flowtables created and deleted while a device of the namespace goes down and up: the
# netdevice notifier must never see a flowtable before it is fully set up, nor after it is torn
# down (a GC work item flushed before being initialised warns, and the VM panics on warnings).
create_delete_while_flapping() {
	fresh_topology || return 1
	ip netns exec "$nsr" nft flush ruleset
	local i flaps=${FLAPS:-30}
	(
		for ((i = 0; i < flaps; i++)); do
			ip -net "$nsr" link set veth1 down
			ip -net "$nsr" link set veth1 up
		done
	) >/dev/null 2>&1 &
	local flap=$!
	for ((i = 0; i < flaps; i++)); do
		ip netns exec "$nsr" nft -f - <<-EOF || { fail "iteration $i: nft"; break; }
		table inet t$i {
			flowtable f {
				hook ingress priority 0
				devices = { veth0, veth1 }
			}
		}
		EOF
		ip netns exec "$nsr" nft delete table inet "t$i" || { fail "iteration $i: delete"; break; }
	done
	wait "$flap"
	echo "$flaps flowtables created and deleted while veth1 flapped $flaps times"
}

tap_check "the flow listing is root only" listing_root_only
tap_check "flowtables created and deleted while a device flaps" create_delete_while_flapping
tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable

tap_done
