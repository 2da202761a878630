#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The VM kernel runs ordinary firewall rulesets unchanged: one ruleset per family of nf_tables
# expressions and objects (each would fail to load with "No such file or directory" on a
# kernel without its module), then all of them at once next to an rflow flowtable, and the
# conntrack tools that read /proc/net/nf_conntrack.

source "$(dirname "$0")/lib.sh"

tap_header 16
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }
ns=rflow-feat-$$.$RANDOM
ip netns add "$ns" || { tap_fail "netns"; tap_done; }
trap 'ip netns del "$ns" 2>/dev/null; __lib_exit' EXIT
ip -net "$ns" link set lo up
for d in dummy0 dummy1; do
	ip -net "$ns" link add "$d" type dummy && ip -net "$ns" link set "$d" up
done
ip -net "$ns" link add br0 type bridge && ip -net "$ns" link set br0 up

# Loads ruleset $1 (nft syntax) into the test namespace, then removes it.
loads() {
	local out
	out=$(ip netns exec "$ns" nft -f - <<<"$1" 2>&1) || { fail "nft: $out"; return 1; }
	ip netns exec "$ns" nft flush ruleset
}

R_LOG='table inet t {
	chain c {
		type filter hook input priority 0;
		log prefix "in " level info
		log group 1
	}
}'
R_LIMIT_QUOTA='table inet t {
	limit l {
		rate 10/second
	}
	quota q {
		over 1000 mbytes
	}
	counter n {
	}
	chain c {
		type filter hook input priority 0;
		limit rate 100/second accept
		quota over 10 mbytes drop
		counter name "n"
		limit name "l" accept
	}
}'
R_NUMGEN_HASH='table inet t {
	chain c {
		type filter hook prerouting priority 0;
		numgen inc mod 2 vmap { 0 : accept, 1 : accept }
		jhash ip saddr mod 4 seed 0x1 0 accept
		symhash mod 2 1 accept
	}
}'
R_FIB='table inet t {
	chain c {
		type filter hook prerouting priority 0;
		fib daddr type local accept
		fib saddr . iif oif missing drop
	}
}'
R_REJECT='table inet t {
	chain c {
		type filter hook input priority 0;
		tcp dport 1 reject with tcp reset
		reject with icmpx type admin-prohibited
	}
}'
R_CT='table inet t {
	ct helper ftp-standard {
		type "ftp" protocol tcp
	}
	ct timeout udp-short {
		protocol udp
		l3proto ip
		policy = { unreplied : 10, replied : 20 }
	}
	ct expectation e {
		protocol tcp
		dport 21
		timeout 1m
		size 12
		l3proto ip
	}
	chain c {
		type filter hook prerouting priority 0;
		tcp dport 21 ct helper set "ftp-standard"
		udp dport 53 ct timeout set "udp-short"
		ct state established,related accept
		ct count over 100 drop
	}
}'
R_NAT='table inet t {
	chain pre {
		type nat hook prerouting priority dstnat;
		tcp dport 8080 redirect to :80
		tcp dport 81 dnat ip to 10.9.9.9
	}
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "dummy0" masquerade
		ip saddr 10.8.0.0/16 snat ip to 10.9.9.1
	}
}'
R_TPROXY_SOCKET='table inet t {
	chain c {
		type filter hook prerouting priority mangle;
		socket transparent 1 meta mark set 1 accept
		meta l4proto tcp tproxy ip to 127.0.0.1:9999 meta mark set 1 accept
	}
}'
R_SYNPROXY='table inet t {
	synproxy sp {
		mss 1460
		wscale 7
		timestamp sack-perm
	}
	chain c {
		type filter hook input priority 0;
		ct state invalid,untracked synproxy name "sp"
	}
}'
R_QUEUE_OSF_XFRM='table inet t {
	chain c {
		type filter hook input priority 0;
		osf name "Linux" accept
		meta secpath exists ipsec in reqid 1 accept
		udp dport 9 queue num 0 bypass
	}
}'
R_NETDEV='table netdev t {
	chain c {
		type filter hook ingress device "dummy0" priority 0;
		ip daddr 10.1.1.1 dup to "dummy1"
		ip daddr 10.1.1.2 fwd to "dummy1"
		fib daddr type local accept
		reject with icmpx type host-unreachable
	}
}'
R_BRIDGE_ARP='table bridge t {
	chain c {
		type filter hook forward priority 0;
		meta ibrname "br0" ether type arp accept
	}
	chain pre {
		type filter hook prerouting priority 0;
		meta l4proto tcp reject with tcp reset
	}
}
table arp a {
	chain c {
		type filter hook input priority 0;
		arp operation request accept
	}
}'
R_DYNSET='table inet t {
	set seen {
		type ipv4_addr
		flags dynamic, timeout
		timeout 1m
	}
	chain c {
		type filter hook input priority 0;
		update @seen { ip saddr limit rate 10/second } accept
	}
}'

all_together() {
	local all
	all=$(printf '%s\n' "$R_LOG" "$R_LIMIT_QUOTA" "$R_NUMGEN_HASH" "$R_FIB" "$R_REJECT" "$R_CT" "$R_TPROXY_SOCKET" \
		"$R_SYNPROXY" "$R_QUEUE_OSF_XFRM" "$R_NETDEV" "$R_BRIDGE_ARP" "$R_DYNSET" |
		sed 's/^table inet t /table inet t2 /')
	# Tables of the same name in one file merge: rename each inet table apart.
	all=$(awk '/^table inet t2 / { sub(/t2/, "t" ++n) } { print }' <<<"$all")
	loads "$all
table inet fw {
	flowtable f {
		hook ingress priority 0
		devices = { dummy0, dummy1 }
	}
	chain forward {
		type filter hook forward priority 0;
		meta l4proto { tcp, udp } flow add @f
	}
}
$R_NAT"
}

conntrack_tools() {
	local out
	out=$(ip netns exec "$ns" conntrack -L 2>&1) || { fail "conntrack -L: $out"; return 1; }
	[ -r /proc/net/nf_conntrack ] || fail "no /proc/net/nf_conntrack"
}

tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable
tap_check "log" loads "$R_LOG"
tap_check "limit, quota, counter objects" loads "$R_LIMIT_QUOTA"
tap_check "numgen, jhash, symhash" loads "$R_NUMGEN_HASH"
tap_check "fib" loads "$R_FIB"
tap_check "reject" loads "$R_REJECT"
tap_check "ct helper, timeout, expectation, count" loads "$R_CT"
tap_check "nat: dnat, snat, masquerade, redirect" loads "$R_NAT"
tap_check "tproxy, socket" loads "$R_TPROXY_SOCKET"
tap_check "synproxy" loads "$R_SYNPROXY"
tap_check "osf, xfrm, queue" loads "$R_QUEUE_OSF_XFRM"
tap_check "netdev: dup, fwd, fib, reject" loads "$R_NETDEV"
tap_check "bridge and arp families" loads "$R_BRIDGE_ARP"
tap_check "dynamic sets" loads "$R_DYNSET"
tap_check "all of them together, beside an rflow flowtable" all_together
tap_check "conntrack -L and /proc/net/nf_conntrack" conntrack_tools

tap_done
