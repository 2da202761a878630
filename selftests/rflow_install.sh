#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Installation: what `make install` put into $INSTALL_ROOT (staged on the host by
# scripts/check.sh over the kernel's own `modules_install`, as a distribution installs its
# kernel) is made the guest's module tree and modprobe configuration. Then, with nothing of
# the flowtable loaded: plain `modprobe rflow` pulls in its dependencies; nft's autoloading of
# a ruleset with a flowtable and `flow add` loads rflow and none of the C modules, and the
# installed rflowctl lists the flows; the C modules cannot be loaded beside rflow, not even
# by name; rflowctl alone loads rflow through the generic netlink family's alias.
#
# Runs in a VM booted without the block on the C modules (the control run): the modprobe.d
# file must keep them out by itself. The guest's module tree and modprobe.d are put back at
# the end, and rflow is loaded from $RFLOW_KO again for the scripts that follow.

source "$(dirname "$0")/lib.sh"

INSTALL_ROOT=${INSTALL_ROOT:?INSTALL_ROOT: the DESTDIR of make install}
release=$(uname -r)
moddir=/lib/modules/$release
conf=/usr/lib/modprobe.d/rflow.conf
rflowctl=$INSTALL_ROOT/usr/local/sbin/rflowctl

restore() {
	# The kernel's tree (vng's symlink to the build's modules) is never a mount point itself.
	mountpoint -q "$moddir" && umount "$moddir"
	rm -f "$conf"
	unload_all
	modprobe nf_tables && modprobe nf_conntrack
	lsmod | grep -q '^rflow ' || insmod "$RFLOW_KO"
}
trap 'restore; rm -rf "$work" "$__fail_flag"' EXIT

# Unloads rflow and the C flowtable modules (nf_tables stays: other users may hold it). The
# namespaces go first: nf_tables frees a deleted flowtable, and with it its hold on rflow, in a
# work item.
unload_all() {
	local m i
	cleanup_topology
	for m in rflow nft_flow_offload nf_flow_table_inet nf_flow_table; do
		for i in $(seq 300); do
			lsmod | grep -q "^$m " || break
			rmmod "$m" 2>/dev/null && break
			sleep 0.1
		done
	done
	for m in rflow $C_MODULES; do
		lsmod | grep -q "^$m " && fail "$m still loaded"
	done
	return 0
}

staged() {
	local ko dep
	ko=$(find "$INSTALL_ROOT$moddir" -name rflow.ko | head -n 1)
	[ -n "$ko" ] || { fail "no rflow.ko under $INSTALL_ROOT$moddir"; return 1; }
	echo "module: ${ko#"$INSTALL_ROOT"}"
	# depmod resolved rflow's symbols against the kernel's modules installed beside it.
	dep=$(grep -E '(^|/)rflow\.ko:' "$INSTALL_ROOT$moddir/modules.dep")
	echo "modules.dep: ${dep#*:}"
	for m in nf_tables nf_conntrack; do
		grep -q "/$m\.ko" <<<"$dep" || fail "modules.dep: rflow does not depend on $m"
	done
	[ -x "$rflowctl" ] || fail "no rflowctl in $INSTALL_ROOT/usr/local/sbin"
	[ -r "$INSTALL_ROOT/usr/local/share/man/man8/rflowctl.8" ] || fail "no man page"
	[ -r "$INSTALL_ROOT$conf" ] || fail "no $conf"
	# The staged tree becomes the guest's: the module tree over the kernel's, the
	# configuration where packages put theirs.
	mount --bind "$INSTALL_ROOT$moddir" "$moddir" || { fail "bind mount"; return 1; }
	install -D -m 0644 "$INSTALL_ROOT$conf" "$conf"
	unload_all
}

plain_modprobe() {
	modprobe rflow || { fail "modprobe rflow"; return 1; }
	lsmod | grep -q '^rflow ' || fail "rflow not loaded"
	local holders
	holders=$(lsmod | awk '$1 == "nf_tables" || $1 == "nf_conntrack" { print $1 ": " $4 }')
	echo "$holders"
	grep -q 'nf_tables: .*rflow' <<<"$holders" || fail "rflow does not use nf_tables"
	grep -q 'nf_conntrack: .*rflow' <<<"$holders" || fail "rflow does not use nf_conntrack"
	modprobe -r rflow || fail "modprobe -r rflow"
	unload_all
}

nft_autoloads() {
	# The topology sets conntrack's sysctls: conntrack must be there (`modprobe -r rflow`
	# took it away with rflow).
	modprobe nf_conntrack || { fail "modprobe nf_conntrack"; return 1; }
	setup_topology || { fail "topology"; return 1; }
	if ! load_ruleset; then
		fail "ruleset refused; loaded: $(lsmod | grep -E '^(rflow|nf_flow_table|nft_flow)' | awk '{ print $1 }' | tr '\n' ' ')"
		return 1
	fi
	rflow_is_the_flowtable || return 1
	# The connection stays open 5 s after its data for the listing.
	tcp_transfer 10.0.2.99 300000 5 list_with_installed_rflowctl
}

list_with_installed_rflowctl() {
	wait_for 20 sh -c "$rflowctl -n $nsr list --port $TCP_PORT | grep -q ufid:" ||
		fail "the installed rflowctl lists no flow of the connection"
	"$rflowctl" -n "$nsr" list --port "$TCP_PORT"
}

# The C modules that register nf_tables' flowtable types and expression are refused by name.
# modprobe loads a refused module's dependencies before it runs the `install` command:
# nf_flow_table, the C library (which tc's act_ct uses too, so rflow.conf leaves it alone), may
# load, and registers nothing nf_tables would pick instead of rflow.
c_modules_kept_out() {
	local m
	for m in nf_flow_table_inet nft_flow_offload; do
		if modprobe "$m" 2>/dev/null; then
			fail "modprobe $m succeeded beside rflow"
		else
			echo "modprobe $m: refused"
		fi
		lsmod | grep -q "^$m " && fail "$m is loaded"
	done
	lsmod | grep -q '^nf_flow_table ' && echo "nf_flow_table (the C library) loaded as a dependency"
	lsmod | grep -q '^rflow ' || fail "rflow is not loaded"
	# nf_tables still takes rflow's flowtable type: a new flowtable's flows are rflow's.
	cleanup_topology
	setup_topology && load_ruleset || { fail "topology or ruleset refused"; return 1; }
	tcp_transfer 10.0.2.99 100000 3 list_with_installed_rflowctl
}

family_autoloads() {
	unload_all
	"$rflowctl" count || { fail "rflowctl count without rflow loaded"; return 1; }
	lsmod | grep -q '^rflow ' || fail "rflowctl did not load rflow"
	rflow_is_the_flowtable
}

TCP_PORT=${TCP_PORT:-12345}
tap_header 5
modprobe nf_tables && modprobe nf_conntrack
unload_all >/dev/null 2>&1
tap_check "the staged installation has the module, its dependencies, rflowctl, the man page and modprobe.d" staged
tap_check "plain modprobe rflow loads it and its dependencies" plain_modprobe
tap_check "nft autoloads rflow (no C module) for a flowtable, the installed rflowctl lists the flow" nft_autoloads
tap_check "the C flowtable modules cannot load beside rflow" c_modules_kept_out
tap_check "rflowctl alone loads rflow (generic netlink family alias)" family_autoloads
tap_done
