// SPDX-License-Identifier: GPL-2.0

//! Allocation flags for the C allocators rflow calls directly (the kernel crate's `Flags` keeps
//! its raw value private).

use crate::bindings;

/// Where an allocation happens, which decides whether it may sleep.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Gfp {
    /// Packet path, softirq, under spinlocks: must not sleep (`GFP_ATOMIC`).
    Atomic,
}

impl Gfp {
    /// Returns the `gfp_t` value.
    pub(crate) fn raw(self) -> bindings::gfp_t {
        match self {
            Gfp::Atomic => bindings::RFLOW_GFP_ATOMIC,
        }
    }
}
