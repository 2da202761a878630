#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs selftest scripts inside the VM and prints their TAP output, then one summary line per
# script: "# <script>: <passed> passed, <failed> failed, <skipped> skipped". A script that dies
# before reporting all of its planned subtests counts the missing ones as failed.
#
# usage: run.sh [VAR=value...] script...

cd "$(dirname "$0")" || exit 1
while [[ ${1:-} == *=* ]]; do
	export "${1?}"
	shift
done

for t in "$@"; do
	echo "# === $t"
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
	echo "# $t: $pass passed, $failed failed, $skip skipped"
done
