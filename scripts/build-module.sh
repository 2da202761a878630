#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds rflow.ko for one kernel variant (normal or debug, see scripts/lib.sh) out of the source
# tree, in $RFLOW_CACHE/module/<variant>, so that both variants can be built from one checkout.
# Prints the path of the module on stdout. Extra arguments go to the kernel's make (CLIPPY=1
# KRUSTFLAGS=-Dwarnings for check builds); RFLOW_MODULE_DIR builds elsewhere (bench/stages.sh:
# one directory per build with other flags).
#
# usage: scripts/build-module.sh [--debug] [make arguments...]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [ "${1:-}" = --debug ]; then
	RFLOW_KERNEL=debug
	shift
fi
export RFLOW_KERNEL
KDIR=$("$RFLOW_ROOT/scripts/build-kernel.sh")
OUT=${RFLOW_MODULE_DIR:-$(module_build_dir)}/src
mkdir -p "$OUT"
# Sources only: the host crate's build output and the generated bindings stay out.
rsync -a --delete --exclude target --exclude 'rust/bindings/' --exclude '*.o' --exclude '*.ko' \
	--exclude '.*.cmd' --exclude 'fuzz/' \
	"$RFLOW_ROOT/Kbuild" "$RFLOW_ROOT/include" "$RFLOW_ROOT/rust" "$OUT/" >&2
mapfile -t MAKE_ARGS < <(kernel_make_args)
log "building rflow.ko for the $RFLOW_KERNEL kernel"
make -C "$KDIR" M="$OUT" "${MAKE_ARGS[@]}" "$@" modules >&2
echo "$OUT/rflow.ko"
