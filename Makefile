# SPDX-License-Identifier: GPL-2.0
#
# make            build rflow.ko against the cached VM kernel (built first if missing)
# make check      run every test (host unit tests + VM selftests): what CI runs
# make run        the main job: kernel, module, VM, traffic through a flowtable
# make bench      the benchmark (bench/README.md)
# make stress     the full-size stress tests on the debug kernel (1M flows, 100k churn, 50
#                 reloads, 1M hostile frames): too long for CI, which runs smaller sizes
# make host-test  only the host unit tests of the pure logic (rust/pure)
# make install    the modules (into /lib/modules/KREL/updates, then depmod), the modprobe.d
#                 file that makes nft load rflow instead of the C flowtable, rflowctl and its
#                 man page; DESTDIR= stages it elsewhere, BUILD_DIR= installs a module built
#                 in another tree (scripts/build-module.sh's), RFLOWCTL_TARGET= a cargo target
#                 directory where rflowctl is already built
# make clean

# scripts/lib.sh is bash ($(shell) uses this too).
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
KDIR ?= $(shell $(ROOT)/scripts/build-kernel.sh)
KMAKE_ARGS := $(shell . $(ROOT)/scripts/lib.sh && kernel_make_args)

.PHONY: default modules check run bench bench-tcp stress host-test clean rustfmt rustfmtcheck install rflowctl

default: modules

# Where the module is built: the source tree itself unless told otherwise.
BUILD_DIR ?= $(ROOT)
RFLOWCTL_TARGET ?= $(ROOT)/tools/rflowctl/target

modules:
	@test -n "$(KDIR)" || { echo "no kernel build directory"; exit 1; }
	$(MAKE) -C $(KDIR) M=$(BUILD_DIR) $(KMAKE_ARGS) modules

PREFIX ?= /usr/local
KREL = $(shell $(MAKE) -s -C $(KDIR) kernelrelease 2>/dev/null)

rflowctl:
	cd $(ROOT)/tools/rflowctl && cargo build --release --quiet --target-dir $(RFLOWCTL_TARGET)

install: modules rflowctl
	$(MAKE) -C $(KDIR) M=$(BUILD_DIR) $(KMAKE_ARGS) INSTALL_MOD_PATH=$(DESTDIR) modules_install
	depmod $(if $(DESTDIR),-b $(DESTDIR)) -a $(KREL)
	install -D -m 0644 $(ROOT)/scripts/modprobe.d/rflow.conf $(DESTDIR)/usr/lib/modprobe.d/rflow.conf
	install -D -m 0755 $(RFLOWCTL_TARGET)/release/rflowctl $(DESTDIR)$(PREFIX)/sbin/rflowctl
	install -D -m 0644 $(ROOT)/tools/rflowctl/rflowctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/rflowctl.8

check:
	$(ROOT)/scripts/check.sh

run:
	$(ROOT)/scripts/run.sh

bench:
	$(ROOT)/bench/run.sh

bench-tcp:
	$(ROOT)/bench/tcp.sh

stress:
	$(ROOT)/scripts/stress.sh

host-test:
	cd $(ROOT)/rust/pure && cargo test --quiet

rustfmt:
	rustfmt --edition 2021 --config-path $(KDIR)/.rustfmt.toml $(ROOT)/rust/rflow_main.rs $(ROOT)/rust/rflow_sim.rs $(ROOT)/rust/pure/src/lib.rs

rustfmtcheck:
	rustfmt --check --edition 2021 --config-path $(KDIR)/.rustfmt.toml $(ROOT)/rust/rflow_main.rs $(ROOT)/rust/rflow_sim.rs $(ROOT)/rust/pure/src/lib.rs

clean:
	$(MAKE) -C $(KDIR) M=$(ROOT) $(KMAKE_ARGS) clean
	rm -rf $(ROOT)/rust/bindings $(ROOT)/rust/pure/target
