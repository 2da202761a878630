#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host smoke test of rflow-frames (needs root, no VM): sends COUNT frames over a veth pair
# between two network namespaces and checks that every frame sent with an intact marker was
# received. veth delivers everything, so nothing but marker damage may lose a frame.
#
#   ./veth-test.sh [COUNT] [SEED]      (KEEP=1 keeps the manifest and received ids)
set -eu

count=${1:-200000}
seed=${2:-1}
dir=$(cd "$(dirname "$0")" && pwd)
bin=$dir/target/release/rflow-frames
[ -x "$bin" ] || (cd "$dir" && cargo build --release --quiet)
tmp=$(mktemp -d)
a=rff-a-$$
b=rff-b-$$
recv_pid=

cleanup() {
	[ -n "$recv_pid" ] && kill "$recv_pid" 2>/dev/null || true
	ip netns del "$a" 2>/dev/null || true
	ip netns del "$b" 2>/dev/null || true
	if [ -n "${KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

ip netns add "$a"
ip netns add "$b"
ip link add va netns "$a" type veth peer name vb netns "$b"
ip -n "$a" link set va up
ip -n "$b" link set vb up
dst=$(ip netns exec "$b" cat /sys/class/net/vb/address)

ip netns exec "$b" "$bin" recv --ifname vb --out "$tmp/ids" >"$tmp/recv.out" 2>"$tmp/recv.err" &
recv_pid=$!
sleep 1

ip netns exec "$a" "$bin" send --ifname va --dst-mac "$dst" --seed "$seed" --count "$count" \
	--flow udp,10.0.1.99,7000,10.0.2.99,7000 \
	--flow tcp,10.0.1.99,40000,10.0.2.99,7001,1000,2000 \
	--flow udp,dead:1::99,7000,dead:2::99,7000 \
	--flow tcp,dead:1::99,40000,dead:2::99,7001 \
	--stats --manifest "$tmp/manifest" | tee "$tmp/stats"

sleep 1
kill -TERM "$recv_pid"
wait "$recv_pid"
recv_pid=
cat "$tmp/recv.out" "$tmp/recv.err"

# Manifest columns: id class variant flow len marker status.
awk '$7 == "sent" && $6 != "-" { print $6 }' "$tmp/manifest" | sort -n -u >"$tmp/expected"
missing=$(comm -23 "$tmp/expected" <(sort -n "$tmp/ids") | wc -l)
extra=$(comm -13 "$tmp/expected" <(sort -n "$tmp/ids") | wc -l)
echo "expected $(wc -l <"$tmp/expected") received $(wc -l <"$tmp/ids") missing $missing extra $extra"
printf '  %-16s %7s %7s %7s\n' class sent marked received
awk 'NR == FNR { got[$1] = 1; next }
     $7 == "sent" { sent[$2]++; if ($6 != "-") { marked[$2]++; if ($6 in got) recv[$2]++ } }
     END { for (c in sent) printf "  %-16s %7d %7d %7d\n", c, sent[c], marked[c], recv[c] }' \
	"$tmp/ids" "$tmp/manifest" | sort
[ "$missing" -eq 0 ]
