#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The main job: installs what is missing, builds (or reuses) the kernel and rflow.ko, boots a
# VM, forwards TCP and UDP traffic through an rflow flowtable between two namespaces, and shows
# the flows (rflowctl: list, JSON, a del, stats, the events), conntrack's view and the counters
# that prove the bypass.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$RFLOW_ROOT/scripts/setup.sh"
KDIR=$("$RFLOW_ROOT/scripts/build-kernel.sh")
mapfile -t MAKE_ARGS < <(kernel_make_args)
make -C "$KDIR" M="$RFLOW_ROOT" "${MAKE_ARGS[@]}" modules
RFLOWCTL_TARGET=$RFLOW_CACHE/rflowctl-target
(cd "$RFLOW_ROOT/tools/rflowctl" && CARGO_TARGET_DIR=$RFLOWCTL_TARGET cargo build --quiet --release)
exec "$RFLOW_ROOT/scripts/vm.sh" -- scripts/demo.sh "$RFLOWCTL_TARGET/release/rflowctl"
