#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs a command in a virtme-ng VM booted on rflow's kernel (TCG: nested KVM does not work on
# these machines). The guest sees the host's root filesystem; the repository is writable.
#
# usage: scripts/vm.sh [--debug] [--allow-c-flowtable] [--icount] -- command...
#
#   --debug              boot the debug kernel (KASAN, lockdep, kmemleak, fault injection)
#   --allow-c-flowtable  boot without the block on the C flowtable modules (control runs,
#                        benchmarks); by default module_blacklist= keeps them from loading
#   --icount             one guest nanosecond per instruction: guest times count instructions
#
# The kernel's console (warnings and worse) is kept in $VM_CONSOLE (a temporary file unless
# set) and scanned after the run: any splat (BUG, WARNING, KASAN, lockdep, RCU, refcount,
# kmemleak, a panic) is printed and fails the run. Exit status: the command's, unless
#   86  the kernel log has a splat (the VM panics on WARN, so a WARN also ends the run)
#   87  QEMU itself crashed (an infrastructure failure, not a test result)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

block=1
icount=0
while [ $# -gt 0 ]; do
	case "$1" in
	--allow-c-flowtable) block=0 ;;
	--icount) icount=1 ;;
	--debug) RFLOW_KERNEL=debug ;;
	--) shift; break ;;
	*) break ;;
	esac
	shift
done
[ $# -gt 0 ] || die "usage: $0 [--debug] [--allow-c-flowtable] [--icount] -- command..."

export RFLOW_KERNEL
KDIR=$("$RFLOW_ROOT/scripts/build-kernel.sh") || exit 1
# Without the block layer the kernel mounts the 9p root through its nodev path, which needs
# the 9p tag as root device name (vng passes none and relies on the block fallback). Console
# messages of warning level and above reach the host (vng's --verbose sends the console to
# stderr); the rest stays in the guest's dmesg. The root (the host's, read-only) is mounted with
# the page cache on (9p cache=loose; the later rootflags= wins over vng's): without it every
# exec reads its binary and libraries over 9p again, and a fork and exec of `ip` took 2.2 s on
# the debug kernel instead of 0.9 s.
append="root=/dev/root rootflags=version=9p2000.L,trans=virtio,access=any,msize=524288,cache=loose panic_on_warn=1 oops=panic panic=-1 loglevel=5"
if [ "$block" -eq 1 ]; then
	append="$append module_blacklist=nf_flow_table,nf_flow_table_inet,nft_flow_offload"
fi
# No MSI-X: QEMU 10.0.2 (TCG, 2 vCPUs) once aborted in msix_table_mmio_write() on the
# virtio-pci MSI-X table ("addr + size <= dev->msix_entries_nr * PCI_MSIX_ENTRY_SIZE"). The
# kernel is built without PCI_MSI, so the table is never needed: without vectors, virtio-pci
# devices have no MSI-X capability and no table region, and use INTx (see
# Documentation/testing.md).
qemu_opts="-global virtio-pci.vectors=0"
if [ "$icount" -eq 1 ]; then
	# One guest nanosecond per instruction: times measured in the guest count instructions.
	qemu_opts="$qemu_opts -icount shift=0,sleep=off"
fi
# bench/profile.sh: its instruction-counting plugin.
qemu_opts="$qemu_opts ${VM_QEMU_OPTS:-}"

# The command goes to the guest in a file, not on the kernel command line: vng base64-encodes
# --exec into it, and x86's command line holds 2048 bytes. A longer one is cut silently, init=
# (vng's last argument) with it, and the kernel panics with "No working init found" (the debug
# run's selection of cases once did exactly that). The guest reads the host's root filesystem.
mkdir -p "$RFLOW_CACHE/vm"
command_file=$(mktemp "$RFLOW_CACHE/vm/command.XXXXXX")
printf '%q ' "$@" >"$command_file"

console=${VM_CONSOLE:-$(mktemp --tmpdir rflow-console.XXXXXX)}
: >"$console"
# QEMU opens its stdout chardev with O_TRUNC: writing through a pipe keeps whatever the caller
# redirected stdout to (`make run > file`) from being truncated.
vng --run "$KDIR" --disable-kvm --force-9p --verbose --cpus "${VM_CPUS:-2}" \
	--memory "${VM_MEMORY:-2G}" --append "$append" --qemu-opts="$qemu_opts" \
	--rwdir "$RFLOW_ROOT" --cwd "$RFLOW_ROOT" --exec "bash $(printf %q "$command_file")" \
	2>"$console" | cat
rc=${PIPESTATUS[0]}
rm -f "$command_file"

# What a kernel in trouble prints, and what QEMU prints when it dies.
splat='BUG: |WARNING: |KASAN|UBSAN|general protection|Oops|Kernel panic|kernel BUG|'
splat+='possible circular locking|possible recursive locking|inconsistent lock state|'
splat+='lock held when returning|suspicious RCU usage|INFO: task .* blocked|rcu_.*stall|'
splat+='RCU Stall|soft lockup|hard LOCKUP|unreferenced object|ODEBUG:|refcount_t:|'
splat+='unregister_netdevice: waiting|Objects remaining|leaked reference|use-after-free|'
splat+='double-free|BUG kmalloc|BUG rflow|Call Trace:|rflow: .*still indexed'
qemu_dead='qemu-system-x86_64: .*(Assertion|Aborted|terminating)|core dumped'

if grep -qE "$qemu_dead" "$console"; then
	echo "# VM: QEMU CRASHED (exit status $rc): an infrastructure failure, not a test result:"
	grep -E "$qemu_dead" "$console" | head -n 5 | sed 's/^/#   /'
	exit 87
fi
if grep -qE "$splat" "$console"; then
	echo "# VM: KERNEL SPLAT in the console log ($RFLOW_KERNEL kernel):"
	grep -nE -B 2 -A 40 "$splat" "$console" | head -n 200 | sed 's/^/#   /'
	exit 86
fi
[ -n "${VM_CONSOLE:-}" ] || rm -f "$console"
exit "$rc"
