#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs the kernel's own tools/testing/selftests/net/netfilter/nft_flowtable.sh, unchanged, from
# the tree the VM kernel was built from ($KDIR), with the flowtable under test loaded. Every
# PASS/FAIL line of the script (both of its passes: fixed MTUs, then random MTUs and file size)
# becomes a subtest, and so does its exit status. Around it: rflow, not the C modules, must be
# loaded, and rflow's module-wide totals must show that it created the flows and forwarded
# packets through all three transmit paths the script exercises: neighbour (routing, NAT),
# direct (bridge, bridge + VLAN) and xfrm (IPsec).
#
# The cases the script reports are pinned in nft_flowtable_upstream.cases (the 34 PASS lines of
# 6.12's script, which the C flowtable passes in the control run): a case that stops running,
# or runs twice, fails the check instead of quietly lowering the count.

source "$(dirname "$0")/lib.sh"

script=${KDIR:?KDIR must point at the kernel tree}/tools/testing/selftests/net/netfilter/nft_flowtable.sh
[ -x "$script" ] || { echo "1..1"; tap_fail "no $script"; tap_done; }

load_impl || { echo "1..1"; tap_fail "load $RFLOW_IMPL"; tap_done; }
tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable

before=()
for f in flows_created packets_neigh packets_direct packets_xfrm; do
	before+=("$(rflow_total "$f")")
done

script_out=$(cd "$(dirname "$script")" && timeout 1800 ./nft_flowtable.sh 2>&1)
rc=$?
printf '%s\n' "$script_out" | grep -vE '^(PASS|FAIL): ' | sed 's/^/# /'
pass=1
while IFS= read -r line; do
	case "$line" in
	"re-run with random mtus"*) pass=2 ;;
	"PASS: "*) tap_ok "pass $pass: ${line#PASS: }" ;;
	"FAIL: "*) tap_fail "pass $pass: ${line#FAIL: }" ;;
	esac
done <<<"$script_out"
# tap_check declares its own local "out": the script's output must not be called that, or
# bash's dynamic scoping hands pinned() the empty local instead.
pinned() {
	local got
	got=$(awk '/^re-run with random mtus/ { p = 2; next } /^(PASS|FAIL): / { sub(/^(PASS|FAIL): /, ""); print "pass " (p ? p : 1) ": " $0 }' <<<"$script_out")
	if ! diff <(sort "$SELFTESTS/nft_flowtable_upstream.cases") <(sort <<<"$got") >"$work/cases.diff"; then
		fail "cases differ from nft_flowtable_upstream.cases (< pinned, > this run): $(cat "$work/cases.diff")"
	fi
	echo "$(wc -l <<<"$got") cases, the pinned set"
}
tap_check "nft_flowtable.sh reported exactly the pinned set of cases" pinned
if [ "$rc" -eq 0 ]; then
	tap_ok "nft_flowtable.sh exit status 0"
else
	tap_fail "nft_flowtable.sh exit status $rc"
fi

attribution() {
	local i=0 f delta
	for f in flows_created packets_neigh packets_direct packets_xfrm; do
		delta=$(( $(rflow_total "$f") - ${before[$i]:-0} ))
		echo "rflow $f: +$delta"
		[ "$delta" -gt 0 ] || fail "rflow $f did not grow"
		i=$((i + 1))
	done
}
tap_check "rflow created the flows and forwarded via neigh, direct and xfrm" attribution
tap_check "rflow is still the flowtable after the script" rflow_is_the_flowtable

echo "1..$__tap_n"
tap_done
