#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the XDP programs of selftests/rflow_xdp.sh for kernel build $1: ours
# (selftests/xdp/flow_lookup.bpf.c) and, unchanged, the kernel tree's own
# tools/testing/selftests/bpf/progs/xdp_flowtable.c, both against a vmlinux.h
# that bpftool dumps from that kernel's BTF. Prints the output directory.
#
# usage: scripts/build-xdp.sh KDIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KDIR=${1:?usage: build-xdp.sh KDIR}
[ -r "$KDIR/vmlinux" ] || die "$KDIR/vmlinux missing"
command -v bpftool >/dev/null || die "bpftool missing: run scripts/setup.sh"
UPSTREAM=$KDIR/tools/testing/selftests/bpf/progs/xdp_flowtable.c
key=$({
	echo "$KDIR"
	cat "$RFLOW_ROOT/selftests/xdp/flow_lookup.bpf.c" "$UPSTREAM"
	clang --version | head -n 1
} | sha256sum | cut -c1-12)
OUT=$RFLOW_CACHE/xdp/$key
if [ -e "$OUT/.complete" ]; then
	echo "$OUT"
	exit 0
fi
rm -rf "$OUT"
mkdir -p "$OUT"
bpftool btf dump file "$KDIR/vmlinux" format c >"$OUT/vmlinux.h"
flags=(-O2 -g -Wall -Werror -target bpf -D__TARGET_ARCH_x86 -I"$OUT")
clang "${flags[@]}" -c "$RFLOW_ROOT/selftests/xdp/flow_lookup.bpf.c" -o "$OUT/flow_lookup.bpf.o"
# As the kernel's tools/testing/selftests/bpf/Makefile builds it.
clang "${flags[@]}" -Wno-compare-distinct-pointer-types -c "$UPSTREAM" -o "$OUT/xdp_flowtable.bpf.o"
touch "$OUT/.complete"
log "XDP programs built in $OUT"
echo "$OUT"
