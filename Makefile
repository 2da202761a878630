# SPDX-License-Identifier: GPL-2.0
#
# make            build rflow.ko against the cached VM kernel (built first if missing)
# make check      run every test (host unit tests + VM selftests): what CI runs
# make run        the main job: kernel, module, VM, traffic through a flowtable
# make bench      the benchmark (bench/README.md)
# make stress     the full-size stress tests on the debug kernel (1M flows, 100k churn, 50
#                 reloads, 1M hostile frames): too long for CI, which runs smaller sizes
# make host-test  only the host unit tests of the pure logic (rust/pure)
# make clean

# scripts/lib.sh is bash ($(shell) uses this too).
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
KDIR ?= $(shell $(ROOT)/scripts/build-kernel.sh)
KMAKE_ARGS := $(shell . $(ROOT)/scripts/lib.sh && kernel_make_args)

.PHONY: default modules check run bench stress host-test clean rustfmt rustfmtcheck

default: modules

modules:
	@test -n "$(KDIR)" || { echo "no kernel build directory"; exit 1; }
	$(MAKE) -C $(KDIR) M=$(ROOT) $(KMAKE_ARGS) modules

check:
	$(ROOT)/scripts/check.sh

run:
	$(ROOT)/scripts/run.sh

bench:
	$(ROOT)/bench/run.sh

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
