#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install everything rflow needs from the package registries (Debian, crates.io,
# PyPI). Idempotent: when everything is present it only checks and returns.
set -euo pipefail

BINDGEN_VERSION=${BINDGEN_VERSION:-0.72.1}
VIRTME_NG_VERSION=${VIRTME_NG_VERSION:-1.42}
CARGO_FUZZ_VERSION=${CARGO_FUZZ_VERSION:-0.13.2}

log() { printf '[setup] %s\n' "$*" >&2; }

SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

APT_PACKAGES=(
	# Rust toolchain whose sources match the compiler (the kernel needs core's source).
	rustc-web rust-web-src rust-web-clippy
	# Kernel build.
	clang lld llvm libclang-dev flex bison bc libelf-dev libssl-dev cpio kmod dwarves
	make gcc rsync linux-source-6.12 xz-utils
	# VM.
	qemu-system-x86
	# Test and benchmark tools used inside the VM (the guest sees the host's root fs).
	nftables iproute2 socat iperf3 conntrack iputils-ping procps psmisc ethtool
	ppp pppoe tcpdump util-linux
	# XDP programs calling bpf_xdp_flow_lookup(): built with clang against libbpf's
	# headers, loaded and read in the VM with bpftool (selftests/rflow_xdp.sh).
	bpftool libbpf-dev
	# The kernel's YNL netlink client and the spec check (tools/net/ynl, rflow.yaml).
	python3-yaml python3-jsonschema python3-docutils
	# virtme-ng-init runs the host's udevd in the guest to create /dev/virtio-ports/*.
	udev
)

missing_apt() {
	local p
	for p in "${APT_PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
			echo "$p"
		fi
	done
}

ensure_backports() {
	# QEMU must come from bookworm-backports: the machine's qemu-utils is the
	# backports build and conflicts with bookworm's qemu-system-x86.
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		log "adding bookworm-backports to apt sources"
		$SUDO tee /etc/apt/sources.list.d/backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
		APT_UPDATED=0
	fi
}

APT_UPDATED=0
install_apt() {
	ensure_backports
	local miss
	miss=$(missing_apt | tr '\n' ' ')
	if [ -z "${miss// /}" ]; then
		log "apt packages present"
		return
	fi
	log "installing apt packages: $miss"
	$SUDO apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
		-t bookworm-backports qemu-system-x86 >/dev/null
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
		$miss >/dev/null
	miss=$(missing_apt | tr '\n' ' ')
	if [ -n "${miss// /}" ]; then
		log "ERROR: still missing after apt-get install: $miss"
		exit 1
	fi
}

install_bindgen() {
	local have=
	if [ -x "$HOME/.cargo/bin/bindgen" ]; then
		have=$("$HOME/.cargo/bin/bindgen" --version 2>/dev/null | awk '{print $2}' || true)
	fi
	if [ "$have" = "$BINDGEN_VERSION" ]; then
		log "bindgen $have present"
		return
	fi
	log "installing bindgen-cli $BINDGEN_VERSION (takes a few minutes)"
	cargo install --locked --quiet --version "$BINDGEN_VERSION" bindgen-cli
}

install_cargo_fuzz() {
	local have=
	have=$(cargo fuzz --version 2>/dev/null | awk '{ print $2 }' || true)
	if [ "$have" = "$CARGO_FUZZ_VERSION" ]; then
		log "cargo-fuzz $have present"
		return
	fi
	log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
	cargo install --locked --quiet --version "$CARGO_FUZZ_VERSION" cargo-fuzz
}

install_virtme_ng() {
	local have=
	have=$(python3 -m pip show virtme-ng 2>/dev/null | awk '/^Version:/{print $2}' || true)
	if [ "$have" = "$VIRTME_NG_VERSION" ] && command -v vng >/dev/null; then
		log "virtme-ng $have present"
		return
	fi
	log "installing virtme-ng $VIRTME_NG_VERSION"
	python3 -m pip install -q "virtme-ng==$VIRTME_NG_VERSION"
}

install_apt
install_bindgen
install_cargo_fuzz
install_virtme_ng
log "done"
