// SPDX-License-Identifier: GPL-2.0

//! Packet logic of rflow that touches no kernel object.
//!
//! The kernel module compiles these files into its own crate (see `rust/rflow_main.rs`), so the
//! code tested here with `cargo test` is the code that runs in the kernel, not a copy of it. The
//! files therefore use only `core`, refer to each other through `super::`, and never allocate.

#![no_std]

#[cfg(test)]
extern crate std;

pub mod admission;
pub mod csum;
pub mod flow_state;
pub mod fmt;
pub mod hash;
pub mod l2path;
pub mod offload_rule;
pub mod parse;
pub mod rcu_table;
pub mod sim_engine;
pub mod timeout;
pub mod tunnel;
pub mod tuple;
pub mod ufid;
