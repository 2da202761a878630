// SPDX-License-Identifier: GPL-2.0

//! The host-testable logic of `rust/pure`, compiled into the modules (`rflow.ko` and
//! `rflow_sim.ko`) from the same files the host tests and fuzzers use.

#![expect(
    unreachable_pub,
    reason = "the same files are a public library on the host"
)]
#![allow(
    dead_code,
    reason = "the host library's API serves its tests and fuzzers, and two modules"
)]

#[path = "pure/src/admission.rs"]
pub(crate) mod admission;
#[path = "pure/src/csum.rs"]
pub(crate) mod csum;
#[path = "pure/src/flow_state.rs"]
pub(crate) mod flow_state;
#[path = "pure/src/fmt.rs"]
pub(crate) mod fmt;
#[path = "pure/src/hash.rs"]
pub(crate) mod hash;
#[path = "pure/src/l2path.rs"]
pub(crate) mod l2path;
#[path = "pure/src/offload_rule.rs"]
pub(crate) mod offload_rule;
#[path = "pure/src/parse.rs"]
pub(crate) mod parse;
#[path = "pure/src/rcu_table.rs"]
pub(crate) mod rcu_table;
#[path = "pure/src/sim_engine.rs"]
pub(crate) mod sim_engine;
#[path = "pure/src/timeout.rs"]
pub(crate) mod timeout;
#[path = "pure/src/tunnel.rs"]
pub(crate) mod tunnel;
#[path = "pure/src/tuple.rs"]
pub(crate) mod tuple;
#[path = "pure/src/ufid.rs"]
pub(crate) mod ufid;
