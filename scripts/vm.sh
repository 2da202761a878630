#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs a command in a virtme-ng VM booted on rflow's kernel (TCG: nested KVM does not work on
# these machines). The guest sees the host's root filesystem; the repository is writable.
#
# usage: scripts/vm.sh [--allow-c-flowtable] [--icount] -- command...
#
# By default the C flowtable modules are blocked on the kernel command line
# (module_blacklist=...), so nothing can load them next to rflow. --allow-c-flowtable boots
# without the block, for control runs and benchmarks that compare both.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

block=1
icount=0
while [ $# -gt 0 ]; do
	case "$1" in
	--allow-c-flowtable) block=0 ;;
	--icount) icount=1 ;;
	--) shift; break ;;
	*) break ;;
	esac
	shift
done
[ $# -gt 0 ] || die "usage: $0 [--allow-c-flowtable] [--icount] -- command..."

KDIR=$(scripts_dir=$(dirname "$0"); "$scripts_dir/build-kernel.sh")
# Without the block layer the kernel mounts the 9p root through its nodev path, which needs
# the 9p tag as root device name (vng passes none and relies on the block fallback).
append="root=/dev/root panic_on_warn=1 oops=panic panic=-1"
if [ "$block" -eq 1 ]; then
	append="$append module_blacklist=nf_flow_table,nf_flow_table_inet,nft_flow_offload"
fi
qemu_opts=()
if [ "$icount" -eq 1 ]; then
	# One guest nanosecond per instruction: times measured in the guest count instructions.
	qemu_opts=(--qemu-opts "-icount shift=0,sleep=off")
fi

exec vng --run "$KDIR" --disable-kvm --force-9p --cpus "${VM_CPUS:-2}" \
	--memory "${VM_MEMORY:-2G}" --append "$append" "${qemu_opts[@]}" \
	--rwdir "$RFLOW_ROOT" --cwd "$RFLOW_ROOT" --exec "$(printf '%q ' "$@")"
