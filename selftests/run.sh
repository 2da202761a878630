#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs selftest scripts inside the VM and prints their TAP output, then one summary line per
# script: "# <script>: <passed> passed, <failed> failed, <skipped> skipped". A script that dies
# before reporting all of its planned subtests counts the missing ones as failed.
#
# Then the kernel's own verdict on the run, as the pseudo-script "kernel": the kernel log must
# hold no splat (the console is scanned on the host as well, for what ends the VM), and on a
# kernel with kmemleak a final scan must find no unreferenced object.
#
# usage: run.sh [VAR=value...] script...

cd "$(dirname "$0")" || exit 1
while [[ ${1:-} == *=* ]]; do
	export "${1?}"
	shift
done

KMEMLEAK=/sys/kernel/debug/kmemleak
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null
# What boot left behind is not ours to report.
dmesg -C
if [ -w "$KMEMLEAK" ]; then
	echo scan >"$KMEMLEAK"
	echo clear >"$KMEMLEAK"
fi

for t in "$@"; do
	echo "# === $t"
	start=$(date +%s)
	out=$(timeout "${TEST_TIMEOUT:-900}" bash "./$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	plan=$(printf '%s\n' "$out" | sed -n 's/^1\.\.\([0-9]*\)$/\1/p' | head -n 1)
	pass=$(printf '%s\n' "$out" | grep -E '^ok [0-9]+ ' | grep -vc '# SKIP')
	skip=$(printf '%s\n' "$out" | grep -E '^ok [0-9]+ ' | grep -c '# SKIP')
	failed=$(printf '%s\n' "$out" | grep -cE '^not ok [0-9]+ ')
	missing=$(( ${plan:-1} - pass - skip - failed ))
	if [ "$missing" -gt 0 ]; then
		echo "not ok - $t: $missing planned subtests never reported (exit status $rc)"
		failed=$((failed + missing))
	elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		echo "not ok - $t: exit status $rc without a failing subtest"
		failed=$((failed + 1))
	fi
	echo "# $t: $pass passed, $failed failed, $skip skipped ($(( $(date +%s) - start )) s)"
done

# --- the kernel's verdict ---------------------------------------------------------------------
kpass=0
kfail=0
kcheck() {
	if [ "$1" -eq 0 ]; then
		kpass=$((kpass + 1))
		echo "ok - kernel: $2"
	else
		kfail=$((kfail + 1))
		echo "not ok - kernel: $2"
	fi
}

splat='BUG: |WARNING: |KASAN|UBSAN|general protection|Oops|kernel BUG|'
splat+='possible circular locking|possible recursive locking|inconsistent lock state|'
splat+='lock held when returning|suspicious RCU usage|INFO: task .* blocked|rcu_.*stall|'
splat+='soft lockup|ODEBUG:|refcount_t:|unregister_netdevice: waiting|Objects remaining|'
splat+='leaked reference|use-after-free|double-free|BUG rflow|Call Trace:|still indexed'
log=$(dmesg)
if grep -qE "$splat" <<<"$log"; then
	grep -nE -B 2 -A 30 "$splat" <<<"$log" | head -n 150 | sed 's/^/#   /'
	kcheck 1 "dmesg has a splat"
else
	kcheck 0 "dmesg has no splat"
fi
if [ -w "$KMEMLEAK" ]; then
	# Objects younger than 5 s are never reported, and RCU frees must have run.
	sleep 6
	echo scan >"$KMEMLEAK"
	echo scan >"$KMEMLEAK"
	leaks=$(cat "$KMEMLEAK")
	if [ -n "$leaks" ]; then
		printf '%s\n' "$leaks" | head -n 120 | sed 's/^/#   /'
		kcheck 1 "kmemleak reports $(grep -c 'unreferenced object' <<<"$leaks") unreferenced objects"
	else
		kcheck 0 "kmemleak finds nothing unreferenced after the run"
	fi
fi
echo "# kernel: $kpass passed, $kfail failed, 0 skipped"
