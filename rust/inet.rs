// SPDX-License-Identifier: GPL-2.0

//! The nf_tables flowtable types rflow provides: `ip`, `ip6` and `inet`.
//!
//! Rust counterpart of [`net/netfilter/nf_flow_table_inet.c`](srctree/net/netfilter/nf_flow_table_inet.c).
//! Registering them makes `nft add flowtable` in those families create rflow flowtables. The
//! three types share one implementation, [`FlowTable`]; they differ in the packets their hook
//! looks at (see [`crate::ip::hook`]). The registration mechanics live in
//! [`crate::sys::nft::flowtable`].

use crate::flowtable::FlowTable;
use kernel::{prelude::*, ThisModule};

/// rflow's registered flowtable types.
pub(crate) type Types = crate::sys::nft::flowtable::Types<FlowTable>;

/// Registers the `ip`, `ip6` and `inet` flowtable types (`nft_register_flowtable_type()`).
pub(crate) fn register(module: &'static ThisModule) -> Result<Pin<KBox<Types>>> {
    Types::register(module)
}
