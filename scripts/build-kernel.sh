#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the Rust-enabled VM kernel from Debian's linux-source-6.12 with the
# config fragment in scripts/kconfig/. The build lives in $RFLOW_CACHE, keyed
# by source version, config and toolchain, and is reused when nothing changed.
# Prints the build directory on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# --config-only: generate and check the config in a scratch directory, build nothing.
# --debug: the debug variant (RFLOW_KERNEL=debug does the same).
config_only=0
for arg in "$@"; do
	case "$arg" in
	--config-only) config_only=1 ;;
	--debug) RFLOW_KERNEL=debug ;;
	*) die "unknown argument $arg" ;;
	esac
done
mapfile -t FRAGMENTS < <(kernel_fragments)

[ -r "$KERNEL_TARBALL" ] || die "$KERNEL_TARBALL missing: run scripts/setup.sh"
[ -x "$KERNEL_RUSTC" ] || die "$KERNEL_RUSTC missing: run scripts/setup.sh"
[ -x "$KERNEL_BINDGEN" ] || die "$KERNEL_BINDGEN missing: run scripts/setup.sh"

KDIR=$(kernel_build_dir)
if [ "$config_only" -eq 1 ]; then
	KDIR=$RFLOW_CACHE/kernel/config-check-$RFLOW_KERNEL
	rm -rf "$KDIR"
fi
if [ "$config_only" -eq 0 ] && [ -e "$KDIR/.rflow-complete" ]; then
	log "cached $RFLOW_KERNEL kernel: $KDIR"
	echo "$KDIR"
	exit 0
fi

mapfile -t MAKE_ARGS < <(kernel_make_args)
JOBS=${JOBS:-$(($(nproc) + 1))}
start=$(date +%s)

# BEGIN-KEYED: changes between these markers invalidate cached kernels.
if [ ! -e "$KDIR/Makefile" ]; then
	log "unpacking $KERNEL_TARBALL into $KDIR"
	mkdir -p "$KDIR.tmp"
	tar -xf "$KERNEL_TARBALL" -C "$KDIR.tmp" --strip-components=1
	mv "$KDIR.tmp" "$KDIR"
fi

cd "$KDIR"
# The selftests' own netfilter config first, then ours on top (later wins).
cat tools/testing/selftests/net/netfilter/config "${FRAGMENTS[@]}" >rflow.allconfig
# Both files set some symbols; later-wins overrides are intended.
KCONFIG_ALLCONFIG=rflow.allconfig make "${MAKE_ARGS[@]}" allnoconfig 2>&1 |
	grep -v -e "override: reassigning" -e "^#" >&2 || true

# Every symbol we asked for must have landed as asked: a silently dropped
# option (unmet dependency) is a build bug, not something to find in the VM.
# Later fragments override earlier ones, so only the last word on a symbol counts.
bad=0
declare -A wanted=()
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) wanted[${line%%=*}]=$line ;;
	"# CONFIG_"*" is not set") sym=${line#\# }; wanted[${sym%% *}]=$line ;;
	esac
done < <(cat "${FRAGMENTS[@]}")
for line in "${wanted[@]}"; do
	case "$line" in
	CONFIG_*=*)
		sym=${line%%=*}
		want=${line#*=}
		got=$(grep -E "^$sym=" .config | cut -d= -f2- || true)
		# A module request satisfied as built-in is fine.
		if [ "$got" != "$want" ] && ! { [ "$want" = m ] && [ "$got" = y ]; }; then
			log "config mismatch: $sym wanted $want, got ${got:-unset}"
			bad=1
		fi
		;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }
		sym=${sym%% *}
		if grep -qE "^$sym=" .config; then
			log "config mismatch: $sym wanted unset, got $(grep -E "^$sym=" .config)"
			bad=1
		fi
		;;
	esac
done
[ "$bad" -eq 0 ] || die "kernel config does not match ${FRAGMENTS[*]}"
if [ "$config_only" -eq 1 ]; then
	cp .config "$RFLOW_CACHE/kernel/config-check-$RFLOW_KERNEL.config"
	cd / && rm -rf "$KDIR"
	log "config OK: $RFLOW_CACHE/kernel/config-check-$RFLOW_KERNEL.config"
	exit 0
fi

log "building the $RFLOW_KERNEL kernel in $KDIR with -j$JOBS"
make "${MAKE_ARGS[@]}" -j"$JOBS" -s bzImage modules
# END-KEYED

touch .rflow-complete
end=$(date +%s)
# Keep this build and the most recent other one of the same variant (switching branches back
# and forth).
pattern=linux-6.12-[0-9a-f]*
[ "$RFLOW_KERNEL" = debug ] && pattern=linux-6.12-debug-*
# shellcheck disable=SC2086
for old in $(ls -1dt "$RFLOW_CACHE"/kernel/$pattern | tail -n +3); do
	[ "$old" = "$KDIR" ] && continue
	log "removing old kernel build $old"
	rm -rf "$old"
done
log "$RFLOW_KERNEL kernel built in $(((end - start) / 60)) min $(((end - start) % 60)) s"
echo "$KDIR"
