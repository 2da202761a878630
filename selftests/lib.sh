# SPDX-License-Identifier: GPL-2.0
#
# Helpers shared by rflow's selftests: TAP output (kselftest style), module checks, and the
# router topology of the kernel's nft_flowtable.sh:
#
#   ns1 eth0 ---- veth0 [nsr: flowtable f on veth0, veth1] veth1 ---- eth0 ns2
#   10.0.1.99     10.0.1.1                          10.0.2.1          10.0.2.99
#   dead:1::99    dead:1::1                         dead:2::1         dead:2::99
#
# Tests run as root inside the VM (scripts/vm.sh), one network namespace set per test.

RFLOW_ROOT=${RFLOW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SELFTESTS=$RFLOW_ROOT/selftests
# The module built for the running kernel (scripts/vm.sh passes it; a plain build is in the tree).
RFLOW_KO=${RFLOW_KO:-$RFLOW_ROOT/rflow.ko}
# Slow kernels (the debug kernel: KASAN, lockdep) stretch wall-clock bounds by this factor;
# scripts/check.sh sets it from the kernel variant.
TIME_SCALE=${TIME_SCALE:-1}
# RFLOW_IMPL=c runs the same checks with the C flowtable loaded instead (control runs).
RFLOW_IMPL=${RFLOW_IMPL:-rflow}
C_MODULES="nf_flow_table nf_flow_table_inet nft_flow_offload"

__tap_n=0
__tap_failed=0
__tap_script=$(basename "$0" .sh)
# CASES_<script> (a bash regex) runs only the checks of that script whose names match; the others
# are reported as skipped. scripts/check.sh uses it to fit the debug kernel's run into CI.
__tap_cases_var=CASES_$__tap_script
__tap_cases=${!__tap_cases_var:-}
# Every `fail` appends here, so a check fails even when a later command of the same check
# succeeds (and from subshells, where a variable would be lost).
__fail_flag=$(mktemp)
# Scratch directory of the script, removed on exit with the namespaces.
work=$(mktemp -d)
__lib_exit() {
	cleanup_topology
	rm -rf "$work" "$__fail_flag"
}
trap __lib_exit EXIT

tap_header() {
	echo "TAP version 13"
	echo "1..$1"
}

tap_ok() {
	__tap_n=$((__tap_n + 1))
	echo "ok $__tap_n $__tap_script: $1"
}

tap_fail() {
	__tap_n=$((__tap_n + 1))
	__tap_failed=$((__tap_failed + 1))
	echo "not ok $__tap_n $__tap_script: $1"
	shift
	local line
	for line in "$@"; do echo "# $line"; done
}

tap_skip() {
	__tap_n=$((__tap_n + 1))
	echo "ok $__tap_n $__tap_script: $1 # SKIP $2"
}

# Succeeds when check $1 is selected to run (see CASES_<script>).
tap_selected() {
	[ -z "$__tap_cases" ] || [[ $1 =~ $__tap_cases ]]
}

# Reports a subtest: it passes when the command that follows succeeds and called no `fail`.
tap_check() {
	local name=$1
	shift
	local out rc
	if ! tap_selected "$name"; then
		tap_skip "$name" "not selected by CASES_$__tap_script on this run"
		return 0
	fi
	: >"$__fail_flag"
	local start=$SECONDS
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && [ ! -s "$__fail_flag" ]; then
		tap_ok "$name"
		[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
	else
		tap_fail "$name" "$(printf '%s' "$out" | tail -n 20)"
	fi
	# What each check costs, for CI's time budget.
	echo "# ($((SECONDS - start)) s)"
	return 0
}

tap_done() {
	exit $((__tap_failed > 0))
}

note() { echo "$*"; }

# Reports a failed check (see tap_check) and returns false.
fail() {
	echo "FAIL: $*" >&2
	echo x >>"$__fail_flag"
	return 1
}

# --- module ------------------------------------------------------------------

# Makes $1 the flowtable: rflow, or c (the C modules), unloading the other. A module whose last
# users (namespaces, flowtables) are still going away is given 30 s to become unloadable.
switch_impl() {
	local m
	modprobe nf_tables && modprobe nf_conntrack || return 1
	if [ "$1" = c ]; then
		if lsmod | grep -q '^rflow '; then
			wait_for 30 rmmod rflow 2>/dev/null || return 1
		fi
		modprobe nf_flow_table_inet && modprobe nft_flow_offload
	else
		for m in nft_flow_offload nf_flow_table_inet nf_flow_table; do
			if lsmod | grep -q "^$m "; then
				wait_for 30 rmmod "$m" 2>/dev/null || return 1
			fi
		done
		lsmod | grep -q '^rflow ' || insmod "$RFLOW_KO"
	fi
}

# Loads the implementation under test: rflow (default) or, for control runs, the C modules.
load_impl() {
	switch_impl "$RFLOW_IMPL"
}

# Succeeds when rflow is loaded and none of the C flowtable modules is.
rflow_is_the_flowtable() {
	local m
	lsmod | grep -q '^rflow ' || fail "rflow is not loaded"
	for m in $C_MODULES; do
		if lsmod | grep -q "^$m "; then
			fail "C module $m is loaded"
			return 1
		fi
	done
}

# Prints counter $2 of the flowtables of namespace $1, summed over its flowtables:
#   flows, created, removed, buckets: from the flowtable lines;
#   packets, bytes: what the fast path forwarded, removed flows (packets_removed,
#   bytes_removed of the flowtable lines) plus live ones (the counters of the flow lines).
# A listing that cannot be read, or lists no flowtable, fails the check (see `fail`).
rflow_stat() {
	local ns=$1 field=$2 out
	if ! out=$(ip netns exec "$ns" cat /proc/net/rflow 2>&1); then
		fail "cannot read /proc/net/rflow in $ns: $out"
		return 1
	fi
	if ! grep -q '^flowtable ' <<<"$out"; then
		fail "/proc/net/rflow of $ns lists no flowtable"
		return 1
	fi
	awk -v f="$field" '
	$1 == "flowtable" {
		for (i = 5; i < NF; i += 2) {
			if ($i == f) sum += $(i + 1)
			if (f == "packets" && $i == "packets_removed") sum += $(i + 1)
			if (f == "bytes" && $i == "bytes_removed") sum += $(i + 1)
		}
	}
	$1 != "flowtable" && $1 != "rflow" && (f == "packets" || f == "bytes") {
		for (i = 1; i < NF; i++) if ($i == f) sum += $(i + 1)
	}
	END { print sum + 0 }' <<<"$out"
}

# Prints field $1 of rflow's module-wide line in /proc/net/rflow (initial namespace):
# flows_allocated, flows_created, packets_{neigh,direct,xfrm}, bytes_{neigh,direct,xfrm},
# hw_{accepted,refused,deleted,destroy_failed,work_alloc_failed}.
rflow_total() {
	awk -v f="$1" '$1 == "rflow" { for (i = 2; i < NF; i += 2) if ($i == f) { print $(i + 1); exit } }' \
		/proc/net/rflow 2>/dev/null
}

# Prints the number of flows allocated in all namespaces.
rflow_allocated() {
	rflow_total flows_allocated
}

# Waits up to $1 seconds (times TIME_SCALE) for "$2..." to succeed.
wait_for() {
	local secs=$(($1 * TIME_SCALE))
	shift
	local i
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# Succeeds when namespace $1 has a TCP listener on port $2.
listening() {
	ip netns exec "$1" ss -lnt | grep -q ":$2 "
}

# Succeeds when namespace $1 has a UDP socket bound to port $2.
udp_bound() {
	ip netns exec "$1" ss -lnu | grep -q ":$2 "
}

# --- topology ----------------------------------------------------------------

setup_topology() {
	topology_namespaces || return 1
	ip -net "$nsr" -batch - <<-EOF || return 1
	link add veth0 type veth peer name eth0 netns $ns1
	link add veth1 type veth peer name eth0 netns $ns2
	EOF
	topology_addresses veth0 veth1
}

# Creates the three namespaces, named after the script's PID (see cleanup_topology).
topology_namespaces() {
	local id=$$.$RANDOM
	ns1=rflow-ns1-$id
	nsr=rflow-nsr-$id
	ns2=rflow-ns2-$id
	# One `ip -batch` per namespace: a process costs most of a second on the debug kernel
	# under TCG, and this runs before every check.
	ip -batch - <<-EOF
	netns add $ns1
	netns add $nsr
	netns add $ns2
	EOF
}

# Addresses and routes the topology, once the router has devices $1 (towards ns1) and $2
# (towards ns2) and each host its eth0; enables forwarding and accounting on the router.
topology_addresses() {
	ip -net "$nsr" -batch - <<-EOF || return 1
	link set lo up
	link set $1 up
	link set $2 up
	addr add 10.0.1.1/24 dev $1
	addr add dead:1::1/64 dev $1 nodad
	addr add 10.0.2.1/24 dev $2
	addr add dead:2::1/64 dev $2 nodad
	EOF
	local ns n
	for n in 1 2; do
		ns=$ns1
		[ $n = 2 ] && ns=$ns2
		ip -net "$ns" -batch - <<-EOF || return 1
		link set lo up
		link set eth0 up
		addr add 10.0.$n.99/24 dev eth0
		addr add dead:$n::99/64 dev eth0 nodad
		route add default via 10.0.$n.1
		route add default via dead:$n::1
		EOF
	done
	ip netns exec "$nsr" sysctl -q net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.netfilter.nf_conntrack_acct=1
}

# The router's ruleset, in the style of nft_flowtable.sh: every packet the forward chain still
# sees for an offload candidate is counted per direction, so the counters measure what the fast
# path did not take. Extra flowtable options come in $1, the devices in
# $FT_DEVICES (veth0 and veth1 by default).
load_ruleset() {
	local ft_extra=${1:-}
	ip netns exec "$nsr" nft -f - <<-EOF
	table inet filter {
		flowtable f {
			hook ingress priority 0
			devices = { ${FT_DEVICES:-veth0, veth1} }
			$ft_extra
		}
		counter routed_orig { }
		counter routed_repl { }
		chain forward {
			type filter hook forward priority 0; policy drop;
			meta l4proto { tcp, udp } ct mark set 1 flow add @f
			ct mark 1 counter name ct direction map { original : routed_orig, reply : routed_repl } accept
			ct state established,related accept
			meta nfproto ipv4 meta l4proto icmp accept
			meta nfproto ipv6 meta l4proto ipv6-icmp accept
		}
	}
	EOF
}

# Prints the bytes counter $1 of table inet filter in the router counted; a counter that cannot
# be read fails the check (see `fail`) instead of reading as zero.
counter_bytes() {
	local out b
	out=$(ip netns exec "$nsr" nft list counter inet filter "$1" 2>&1)
	b=$(awk '$1 == "packets" && $3 == "bytes" { print $4 }' <<<"$out")
	if ! [[ $b =~ ^[0-9]+$ ]]; then
		fail "cannot read counter $1: $out"
		return 1
	fi
	echo "$b"
}

# Prints the bytes the forward chain counted in both directions.
forward_bytes() {
	local o r
	o=$(counter_bytes routed_orig) && r=$(counter_bytes routed_repl) || return 1
	echo $((o + r))
}

# Deletes every namespace this script created. Checks run in subshells (tap_check), so the
# names set by setup_topology may never reach the caller: match them by the script's PID ($$
# is the same in subshells) instead.
# Succeeds when no IPv6 address of the topology is tentative (DAD in progress).
ipv6_settled() {
	local ns
	for ns in "$ns1" "$nsr" "$ns2"; do
		[ -z "$(ip -n "$ns" -6 addr show tentative 2>/dev/null)" ] || return 1
	done
}

# Starts measuring the fast path: resets the router's forward counters and remembers rflow's
# byte count.
fastpath_begin() {
	# IPv6 duplicate address detection of the link-local addresses ends a second or two after
	# the links come up; its route insertion invalidates every cached IPv6 route of the
	# namespace, which tears the flows down (as in C) and sends packets to the forward chain
	# until the GC frees them and they are offloaded again: measure once it is over.
	wait_for 10 ipv6_settled || fail "IPv6 addresses still tentative"
	ip netns exec "$nsr" nft reset counters table inet filter >/dev/null
	echo "$(rflow_stat "$nsr" bytes)" >"$work/ft_before"
}

# Checks that the fast path moved $1 bytes since fastpath_begin: the forward chain saw under
# 5% of them and rflow's counters at least 90%.
fastpath_check() {
	local moved=$1 fwd ft before
	fwd=$(forward_bytes) || return 1
	before=$(cat "$work/ft_before" 2>/dev/null)
	ft=$(rflow_stat "$nsr" bytes)
	ft=$((${ft:-0} - ${before:-0}))
	echo "moved $moved bytes: forward chain saw $fwd, rflow forwarded $ft;" \
		"flows created $(rflow_stat "$nsr" created), removed $(rflow_stat "$nsr" removed)"
	[ "$fwd" -lt $((moved / 20)) ] || fail "forward chain saw $fwd of $moved bytes"
	[ "$ft" -ge $((moved * 9 / 10)) ] || fail "rflow forwarded only $ft of $moved bytes"
}

cleanup_topology() {
	local ns
	for ns in $(ip netns list | awk '{ print $1 }' | grep -E "^rflow-(ns1|nsr|ns2)-$$\."); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# The router reaches ns2 through a PPPoE session on its device $1: pppd with the kernel PPPoE
# plugin in the router (what path discovery walks), pppoe-server (user space) on ns2's eth0,
# 10.99.0.1 <-> 10.99.0.2, routed both ways.
pppoe_session() {
	modprobe ppp_generic && modprobe pppoe || { fail "no PPPoE support"; return 1; }
	printf 'noauth\nlcp-echo-interval 0\n' >"$work/server-options"
	ip netns exec "$ns2" pppoe-server -I eth0 -L 10.99.0.2 -R 10.99.0.1 -N 2 \
		-O "$work/server-options" || { fail "pppoe-server did not start"; return 1; }
	ip netns exec "$nsr" pppd plugin pppoe.so "nic-$1" noauth noipdefault nodefaultroute \
		lcp-echo-interval 0 unit 0 persist maxfail 1 || { fail "pppd did not start"; return 1; }
	wait_for 20 sh -c "ip -net $nsr -4 addr show dev ppp0 2>/dev/null | grep -q 10.99.0.1" ||
		{ fail "PPPoE session not up: $(ip -net "$nsr" addr)"; return 1; }
	ip -net "$nsr" route replace 10.99.0.2 dev ppp0
	local ppp
	ppp=$(ip -net "$ns2" -br link | awk '/^ppp/ { print $1 }' | cut -d@ -f1 | head -n 1)
	ip -net "$ns2" route add 10.0.1.0/24 dev "$ppp"
}

# --- traffic -----------------------------------------------------------------

make_file() {
	head -c "$2" </dev/urandom >"$1"
}

# TCP transfer between ns1 (client) and ns2 (server) in both directions at once, like
# nft_flowtable.sh, verified with cmp. The connection stays open $hold seconds after the data,
# so callers can look at the live flow; $hook runs during that time. The server listens on
# $TCP_PORT (12345); the client connects to $TCP_DPORT (the same unless NAT is in the way).
#   tcp_transfer <dst ip> <size> [hold seconds] [hook command]
tcp_transfer() {
	local dst=$1 size=$2 hold=${3:-0} hook=${4:-true}
	local lport=${TCP_PORT:-12345} dport=${TCP_DPORT:-${TCP_PORT:-12345}}
	local dir fam=-4
	dir=$(mktemp -d)
	[[ $dst == *:* ]] && fam=-6
	make_file "$dir/a" "$size"
	make_file "$dir/b" "$size"
	( cat "$dir/b"; sleep "$hold" ) |
		timeout 120 ip netns exec "$ns2" socat $fam TCP-LISTEN:"$lport",reuseaddr STDIO >"$dir/b.out" 2>"$dir/server.err" &
	local spid=$!
	wait_for 10 listening "$ns2" "$lport" || { fail "server did not start"; return 1; }
	[[ $dst == *:* ]] && dst="[$dst]"
	( cat "$dir/a"; sleep "$hold" ) |
		timeout 120 ip netns exec "$ns1" socat $fam TCP:"$dst":"$dport" STDIO >"$dir/a.out" 2>"$dir/client.err" &
	local cpid=$!
	# Both directions delivered: the connection is still open for $hold seconds.
	wait_for 100 sh -c "[ \$(stat -c %s $dir/a.out) -ge $size ] && [ \$(stat -c %s $dir/b.out) -ge $size ]"
	$hook
	local hook_rc=$?
	wait "$cpid"; local crc=$?
	wait "$spid"; local src=$?
	local rc=0
	cmp -s "$dir/a" "$dir/b.out" || { fail "client->server data differs (socat rc $crc/$src): $(cat "$dir"/*.err)"; rc=1; }
	cmp -s "$dir/b" "$dir/a.out" || { fail "server->client data differs (socat rc $crc/$src)"; rc=1; }
	[ "$hook_rc" -eq 0 ] || rc=1
	rm -rf "$dir"
	return $rc
}

# Starts a UDP transfer of file $1 from ns1 to 10.0.2.99 port 5000 in the background, for
# checks that act while traffic flows: the server's PID goes to $udp_server, the client's to
# $udp_client; both exit 0 only if the file arrived intact both ways.
udp_transfer_background() {
	timeout 120 ip netns exec "$ns2" python3 "$SELFTESTS/udp_xfer.py" server 10.0.2.99 5000 &
	udp_server=$!
	wait_for 20 udp_bound "$ns2" 5000 || fail "udp server did not start"
	timeout 120 ip netns exec "$ns1" python3 "$SELFTESTS/udp_xfer.py" client 10.0.2.99 5000 "$1" &
	udp_client=$!
}

# UDP transfer through selftests/udp_xfer.py: every datagram is echoed back, both directions are
# verified against SHA-256. The server binds $UDP_BIND ($dst) port $UDP_PORT (5000); the client
# sends to $dst port $UDP_DPORT (the same unless NAT is in the way).
#   udp_transfer <dst ip> <size>
udp_transfer() {
	local dst=$1 size=$2 dir
	local lport=${UDP_PORT:-5000} dport=${UDP_DPORT:-${UDP_PORT:-5000}} bind=${UDP_BIND:-$1}
	dir=$(mktemp -d)
	make_file "$dir/a" "$size"
	timeout 120 ip netns exec "$ns2" python3 "$SELFTESTS/udp_xfer.py" server "$bind" "$lport" &
	local spid=$!
	wait_for 20 udp_bound "$ns2" "$lport" || { fail "udp server did not start"; return 1; }
	timeout 120 ip netns exec "$ns1" python3 "$SELFTESTS/udp_xfer.py" client "$dst" "$dport" "$dir/a"
	local rc=$?
	wait "$spid" || rc=1
	rm -rf "$dir"
	return $rc
}

# --- many flows from pktgen -----------------------------------------------------------------
#
# pktgen in ns1 sends 64-byte UDP packets to 10.0.2.99 port 9 from sources 10.1.x.y, ports
# 1000-1015: the source address and port both advance by one per packet, so with an odd number
# of addresses A the stream cycles through A * 16 distinct tuples. ns2 drops them at ingress.

# Number of distinct tuples many_flows_prepare set up.
MANY_FLOWS=0

# Prepares the topology and conntrack for at least $1 concurrent flows.
many_flows_prepare() {
	local want=$1 addrs
	addrs=$(( (want + 15) / 16 ))
	[ $((addrs % 2)) -eq 1 ] || addrs=$((addrs + 1))
	MANY_FLOWS=$((addrs * 16))
	modprobe pktgen || { fail "no pktgen"; return 1; }
	sysctl -q -w net.netfilter.nf_conntrack_max=$((MANY_FLOWS * 2 + 10000))
	echo $((MANY_FLOWS / 2)) >/sys/module/nf_conntrack/parameters/hashsize
	ip netns exec "$nsr" sysctl -q net.netfilter.nf_conntrack_udp_timeout=600
	ip -net "$nsr" route add 10.1.0.0/16 via 10.0.1.99
	ip netns exec "$ns2" nft -f - <<-EOF2 || { fail "sink ruleset"; return 1; }
	table netdev sink {
		chain in {
			type filter hook ingress device eth0 priority 0;
			udp dport 9 counter drop
		}
	}
	EOF2
	local first=$((10 << 24 | 1 << 16 | 1)) last
	last=$((first + addrs - 1))
	local mac
	mac=$(ip -net "$nsr" -br link show veth0 | awk '{ print $3 }')
	pg() { ip netns exec "$ns1" sh -c "echo '$1' > /proc/net/pktgen/$2" || fail "pktgen: $1"; }
	pg "rem_device_all" kpktgend_0
	pg "add_device eth0" kpktgend_0
	pg "clone_skb 0" eth0
	pg "pkt_size 64" eth0
	pg "delay 0" eth0
	pg "dst 10.0.2.99" eth0
	pg "dst_mac $mac" eth0
	pg "src_min $((first >> 24)).$((first >> 16 & 255)).$((first >> 8 & 255)).$((first & 255))" eth0
	pg "src_max $((last >> 24)).$((last >> 16 & 255)).$((last >> 8 & 255)).$((last & 255))" eth0
	pg "udp_src_min 1000" eth0
	# pktgen's source port range excludes its maximum.
	pg "udp_src_max 1016" eth0
	pg "udp_dst_min 9" eth0
	pg "udp_dst_max 9" eth0
	echo "pktgen: $MANY_FLOWS tuples ($addrs addresses x 16 ports)"
}

# Sends $1 packets (blocks until done); prints the packets per second pktgen reports.
many_flows_send() {
	ip netns exec "$ns1" sh -c "echo 'count $1' > /proc/net/pktgen/eth0 && echo start > /proc/net/pktgen/pgctrl" ||
		{ fail "pktgen run"; return 1; }
	ip netns exec "$ns1" sed -n 's/.* \([0-9]*\)pps .*/\1/p' /proc/net/pktgen/eth0
}

# Starts a background loop listing the router's flows until $work/readers.stop exists; each
# listing appends "flows buckets duplicates" to $work/readers.log. The loop writes nothing to
# its inherited stdout: a check's output capture (tap_check) would wait for it to exit.
listing_readers_start() {
	rm -f "$work/readers.stop" "$work/readers.log" "$work/readers.done"
	: >"$work/readers.log"
	(
		while [ ! -e "$work/readers.stop" ]; do
			ip netns exec "$nsr" cat /proc/net/rflow >"$work/readers.cur" 2>/dev/null || break
			awk '$1 == "flowtable" { for (i = 5; i < NF; i += 2) if ($i == "buckets") b = $(i + 1) }
			     $1 == "udp" || $1 == "tcp" || $1 == "gre" { n++; k = $2 " " $4; if (seen[k]++) d++ }
			     END { print n + 0, b + 0, d + 0 }' "$work/readers.cur" >>"$work/readers.log"
			# Keep the evidence of a listing that showed a flow twice.
			if [ "$(tail -n 1 "$work/readers.log" | awk '{ print $3 }')" != 0 ]; then
				awk '$1 == "udp" || $1 == "tcp" || $1 == "gre" { k = $2 " " $4; c[k]++; l[k] = l[k] "\n" $0 }
				     END { for (k in c) if (c[k] > 1) print l[k] }' "$work/readers.cur" >>"$work/readers.dups"
			fi
		done
		touch "$work/readers.done"
	) >/dev/null 2>&1 &
}

# Stops the loop (from any subshell: checks run in their own).
listing_readers_stop() {
	touch "$work/readers.stop"
	wait_for 60 test -e "$work/readers.done" || fail "listing loop did not stop"
}
