// SPDX-License-Identifier: GPL-2.0

//! rflow: the nftables flowtable fast path, in Rust.
//!
//! rflow registers the nf_tables flowtable types `ip`, `ip6` and `inet` and the `flow_offload`
//! expression, so unchanged nft rulesets (`flowtable f { hook ingress priority 0; devices = {
//! ... } }` and `flow add @f`) use it instead of the C modules `nf_flow_table`,
//! `nf_flow_table_inet` and `nft_flow_offload`, which must not be loaded at the same time.
//!
//! The layout mirrors the C implementation:
//!
//! - [`flowtable`]: flow tables, flows, teardown, GC (`nf_flow_table_core.c`);
//! - [`ip`]: the forwarding fast path (`nf_flow_table_ip.c`);
//! - [`inet`]: the flowtable types (`nf_flow_table_inet.c`);
//! - [`path`]: route discovery for new flows (`nft_flow_route()`);
//! - [`expr`]: the `flow add` expression (`nft_flow_offload.c`);
//! - [`procfs`]: `/proc/net/rflow`, the list of flows C cannot show;
//! - [`pure`]: parsing, keys, hashing, checksums and NAT, shared with host tests;
//! - [`sys`]: the thin wrappers around kernel objects where the `unsafe` code lives.

use kernel::prelude::*;

mod bindings;
mod expr;
mod flowtable;
mod inet;
mod ip;
mod path;
mod procfs;
mod sys;

/// The host-testable logic of `rust/pure`, compiled into the module from the same files.
#[path = "pure/src"]
#[expect(
    unreachable_pub,
    reason = "the same files are a public library on the host"
)]
#[allow(
    dead_code,
    reason = "the host library's API serves its tests and fuzzers too"
)]
mod pure {
    pub(crate) mod csum;
    pub(crate) mod hash;
    pub(crate) mod l2path;
    pub(crate) mod parse;
    pub(crate) mod tuple;
}

module! {
    type: Rflow,
    name: "rflow",
    author: "rflow developers",
    description: "nftables flowtable fast path in Rust",
    license: "GPL",
    alias: [
        "nf-flowtable-1",
        "nf-flowtable-2",
        "nf-flowtable-10",
        "nft-expr-flow_offload",
    ],
}

/// The module: its registrations, dropped in reverse order of creation on unload.
struct Rflow {
    // Fields drop in declaration order: the expression and the types go first, so that no new
    // flowtable can appear while the rest is torn down.
    _expr: Pin<KBox<expr::ExprType>>,
    _types: Pin<KBox<inet::Types>>,
    _notifier: Pin<KBox<sys::netdev::Notifier>>,
    _procfs: Pin<KBox<procfs::Procfs>>,
    _registry: Pin<KBox<flowtable::Registry>>,
    _barrier: RcuBarrier,
}

/// Waits, when dropped last on unload, for the flows freed with `call_rcu()`: their callback is
/// module code.
struct RcuBarrier;

impl Drop for RcuBarrier {
    fn drop(&mut self) {
        sys::rcu::barrier();
    }
}

impl kernel::Module for Rflow {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let registry = flowtable::Registry::publish()?;
        let procfs = procfs::Procfs::register()?;
        let notifier = sys::netdev::Notifier::register(Some(netdev_event))?;
        let types = inet::Types::register(module)?;
        let expr = expr::ExprType::register(module)?;
        pr_info!("flowtable types ip, ip6, inet and expression flow_offload registered\n");
        Ok(Rflow {
            _expr: expr,
            _types: types,
            _notifier: notifier,
            _procfs: procfs,
            _registry: registry,
            _barrier: RcuBarrier,
        })
    }
}

/// Tears down the flows of a device that goes down or away (the netdevice notifier of
/// `nft_flow_offload.c`, which handles `NETDEV_DOWN`; unregistration is handled too).
///
/// # Safety
///
/// Called by the netdevice notifier chain, under RTNL, with a `netdev_notifier_info`.
unsafe extern "C" fn netdev_event(
    _nb: *mut bindings::notifier_block,
    event: kernel::ffi::c_ulong,
    ptr: *mut kernel::ffi::c_void,
) -> kernel::ffi::c_int {
    let event = event as u32;
    if event == bindings::NETDEV_DOWN || event == bindings::NETDEV_UNREGISTER {
        // SAFETY: `ptr` is this notifier call's argument.
        let dev = unsafe { sys::netdev::notifier_dev(ptr) };
        flowtable::cleanup_device(dev);
    }
    bindings::NOTIFY_DONE as kernel::ffi::c_int
}
