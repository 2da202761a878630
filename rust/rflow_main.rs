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
//! - [`offload`]: hardware offload, the work that hands flows to drivers
//!   (`nf_flow_table_offload.c`);
//! - [`netlink`]: the flows by UFID over generic netlink (get, delete, flush, dump, events);
//! - [`procfs`]: `/proc/net/rflow`, the list of flows C cannot show;
//! - [`pure`]: parsing, keys, hashing, checksums and NAT, shared with host tests;
//! - [`sys`]: the thin wrappers around kernel objects where the `unsafe` code lives.

use kernel::prelude::*;

mod bindings;
mod expr;
mod flowtable;
mod inet;
mod ip;
mod netlink;
mod offload;
mod path;
mod procfs;
mod sys;
mod xdp;

mod pure;

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
        // MODULE_ALIAS_GENL_FAMILY("rflow"): a request to the family loads the module.
        "net-pf-16-proto-16-family-rflow",
    ],
}

/// The module: its registrations, dropped in reverse order of creation on unload.
struct Rflow {
    // First: no request reaches the flowtables once it is gone (it waits for running ones).
    _genl: sys::genl::Family,
    // Fields drop in declaration order: the expression and the types go first, so that no new
    // flowtable can appear while the rest is torn down; the flow cache goes last, after waiting
    // for the flows still queued for freeing after a grace period.
    _expr: Pin<KBox<sys::nft::expr::ExprType<expr::FlowOffload>>>,
    _types: Pin<KBox<inet::Types>>,
    _notifier: Pin<KBox<sys::netdev::Notifier<flowtable::DeviceEvents>>>,
    _pernet: Pin<KBox<sys::pernet::Pernet<flowtable::NetState>>>,
    // After the flowtable types, whose `setup` reads it.
    _best_effort: sys::flow_block::BestEffortSysctl,
    // After the flowtables (whose flows its work items refer to), before the flows' cache.
    _offload_queues: sys::global::Published<offload::Queues>,
    _flows: sys::global::Published<sys::slab::Cache<sys::rcu_index::Indexed<flowtable::Flow>>>,
    // Last: the allocations it can fail stop with the flows.
    _faults: sys::fault::FaultAttrs,
}

impl kernel::Module for Rflow {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Module init runs once per load, and the previous load's `Rflow` (which owns the
        // only other `FaultAttrs`) was dropped when that module unloaded.
        let faults = unsafe { sys::fault::FaultAttrs::register() };
        let flows = flowtable::FLOWS.publish(KBox::new(
            sys::slab::Cache::new(c"rflow_flow")?,
            GFP_KERNEL,
        )?)?;
        let offload_queues = offload::QUEUES.publish(offload::Queues::new()?)?;
        let pernet = sys::pernet::Pernet::register()?;
        let best_effort = sys::flow_block::BestEffortSysctl::register()?;
        let notifier = sys::netdev::Notifier::register()?;
        sys::flow_block::set_indirect_cleanup::<flowtable::FlowTable>();
        let types = inet::register(module)?;
        let expr = sys::nft::expr::ExprType::register(module)?;
        let genl = sys::genl::Family::register::<netlink::Netlink>()?;
        // Last: the kfunc cannot be unregistered, so nothing after it may fail.
        sys::xdp::register()?;
        pr_info!("flowtable types ip, ip6, inet and expression flow_offload registered\n");
        Ok(Rflow {
            _genl: genl,
            _expr: expr,
            _types: types,
            _notifier: notifier,
            _pernet: pernet,
            _best_effort: best_effort,
            _flows: flows,
            _offload_queues: offload_queues,
            _faults: faults,
        })
    }
}
