# SPDX-License-Identifier: GPL-2.0
# Shared settings for rflow's scripts. Source it, do not run it.

RFLOW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RFLOW_CACHE=${RFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rflow}

# The kernel build uses Debian's rustc-web, whose library sources match it
# exactly; rustup's toolchain has no rust-src. Host-side cargo keeps rustup.
KERNEL_RUSTC=${KERNEL_RUSTC:-/usr/bin/rustc}
KERNEL_CLIPPY=${KERNEL_CLIPPY:-/usr/bin/clippy-driver}
KERNEL_BINDGEN=${KERNEL_BINDGEN:-$HOME/.cargo/bin/bindgen}
KERNEL_SOURCE_PKG=linux-source-6.12
KERNEL_TARBALL=/usr/src/linux-source-6.12.tar.xz

# Everything the kernel's make needs to use that toolchain.
kernel_make_args() {
	printf '%s\n' LLVM=1 "RUSTC=$KERNEL_RUSTC" "HOSTRUSTC=$KERNEL_RUSTC" \
		"CLIPPY_DRIVER=$KERNEL_CLIPPY" \
		"BINDGEN=$KERNEL_BINDGEN"
}

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Kernel variant: "normal" (benchmarks, the kernel's own nft_flowtable.sh) or "debug" (the
# normal config plus scripts/kconfig/rflow-debug.config: KASAN, lockdep, kmemleak, fault
# injection). Both are cached side by side.
RFLOW_KERNEL=${RFLOW_KERNEL:-normal}

# The config fragments of variant $1, in merge order.
kernel_fragments() {
	echo "$RFLOW_ROOT/scripts/kconfig/rflow.config"
	if [ "${1:-$RFLOW_KERNEL}" = debug ]; then
		echo "$RFLOW_ROOT/scripts/kconfig/rflow-debug.config"
	fi
}

# Cache key of variant $1: kernel source version, config inputs, toolchain versions.
kernel_cache_key() {
	local variant=${1:-$RFLOW_KERNEL}
	{
		dpkg-query -W -f='${Version}\n' "$KERNEL_SOURCE_PKG"
		# shellcheck disable=SC2046
		cat $(kernel_fragments "$variant")
		"$KERNEL_RUSTC" --version
		clang --version | head -n 1
		"$KERNEL_BINDGEN" --version
		# The build recipe itself is part of the key.
		sed -n '/^# BEGIN-KEYED/,/^# END-KEYED/p' "$RFLOW_ROOT/scripts/build-kernel.sh"
	} | sha256sum | cut -c1-12
}

kernel_build_dir() {
	local variant=${1:-$RFLOW_KERNEL} suffix=
	[ "$variant" = debug ] && suffix=-debug
	echo "$RFLOW_CACHE/kernel/linux-6.12$suffix-$(kernel_cache_key "$variant")"
}

# Where rflow's modules are built for variant $1 (out of the source tree, so that both
# variants can be built from one checkout): prints the directory holding rflow.ko.
module_build_dir() {
	echo "$RFLOW_CACHE/module/${1:-$RFLOW_KERNEL}"
}
