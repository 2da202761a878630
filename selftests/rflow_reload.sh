#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Reload: $CYCLES module unload/reload cycles (50 by default) under traffic. Each cycle loads a
# ruleset with a flowtable, waits until rflow offloads the running transfer, flushes the
# ruleset, unloads rflow (which must succeed once nf_tables has freed the flowtable) and loads
# it again. The transfers, verified end to end, must never break; the kernel log must stay
# clean (an object left in rflow's slab cache is reported when the cache is destroyed, and
# kmemleak scans after the run).

source "$(dirname "$0")/lib.sh"

CYCLES=${CYCLES:-50}

tap_header 4
load_impl || { tap_fail "load $RFLOW_IMPL"; tap_done; }
setup_topology || { tap_fail "topology"; tap_done; }

cycles() {
	# Transfers back to back in the background for the whole test; each one is verified.
	: >"$work/xfer.rc"
	(
		while [ ! -e "$work/xfer.stop" ]; do
			UDP_PORT=5000 udp_transfer 10.0.2.99 300000 >>"$work/xfer.log" 2>&1
			echo $? >>"$work/xfer.rc"
		done
	) &
	local xfer=$! i ok=0
	for ((i = 1; i <= CYCLES; i++)); do
		lsmod | grep -q '^rflow ' || insmod "$RFLOW_KO" || { fail "cycle $i: insmod"; break; }
		load_ruleset || { fail "cycle $i: ruleset"; break; }
		wait_for 20 sh -c "ip netns exec $nsr cat /proc/net/rflow | grep -q ' udp '" ||
			{ fail "cycle $i: transfer never offloaded"; break; }
		ip netns exec "$nsr" nft flush ruleset
		local j
		for j in $(seq 100); do rmmod rflow 2>/dev/null && break; sleep 0.1; done
		if lsmod | grep -q '^rflow '; then
			fail "cycle $i: rflow still loaded: refcnt $(cat /sys/module/rflow/refcnt)"
			break
		fi
		ok=$((ok + 1))
	done
	touch "$work/xfer.stop"
	wait "$xfer"
	lsmod | grep -q '^rflow ' || insmod "$RFLOW_KO"
	local n bad
	n=$(wc -l <"$work/xfer.rc")
	bad=$(grep -vc '^0$' "$work/xfer.rc")
	echo "$ok of $CYCLES cycles; $n transfers during them, $bad failed"
	[ "$ok" -eq "$CYCLES" ] || fail "$ok of $CYCLES cycles completed"
	[ "$n" -ge 1 ] && [ "$bad" -eq 0 ] || fail "transfers failed: $(tail -n 5 "$work/xfer.log")"
}

loads_cleanly() {
	load_ruleset || return 1
	tcp_transfer 10.0.2.99 500000 || return 1
	[ "$(rflow_stat "$nsr" created)" -ge 1 ] || fail "nothing offloaded after the reloads"
}

tap_check "rflow is the flowtable, the C modules are absent" rflow_is_the_flowtable
tap_check "$CYCLES unload/reload cycles under traffic, transfers intact" cycles
tap_check "the reloaded module offloads again" loads_cleanly
tap_check "rflow is still the flowtable" rflow_is_the_flowtable

tap_done
