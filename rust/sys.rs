// SPDX-License-Identifier: GPL-2.0

//! Thin wrappers around the kernel objects rflow touches.
//!
//! This is where rflow's `unsafe` code lives: each C object is wrapped in a
//! `#[repr(transparent)]` type over [`Opaque`](kernel::types::Opaque) with a `from_raw`
//! constructor (the pattern of `rust/kernel/net/phy.rs`), counted references have owning types
//! that drop their reference, and the flow logic in the rest of the crate is written in safe Rust
//! on top of these types.

pub(crate) mod alloc;
pub(crate) mod conntrack;
pub(crate) mod dst;
pub(crate) mod fault;
pub(crate) mod flow_block;
pub(crate) mod genl;
pub(crate) mod global;
pub(crate) mod lock;
pub(crate) mod net;
pub(crate) mod netdev;
pub(crate) mod nft;
pub(crate) mod pernet;
pub(crate) mod procfs;
pub(crate) mod random;
pub(crate) mod rcu;
pub(crate) mod rcu_index;
pub(crate) mod skb;
pub(crate) mod slab;
pub(crate) mod time;
pub(crate) mod work;
pub(crate) mod xdp;

/// Error codes the kernel crate of 6.12 does not name.
pub(crate) mod errno {
    use crate::bindings;
    use kernel::error::Error;

    /// `EOPNOTSUPP`: operation not supported.
    pub(crate) fn eopnotsupp() -> Error {
        Error::from_errno(-(bindings::EOPNOTSUPP as i32))
    }

    /// `EMSGSIZE`: message too long.
    pub(crate) fn emsgsize() -> Error {
        Error::from_errno(-(bindings::EMSGSIZE as i32))
    }
}
