// SPDX-License-Identifier: GPL-2.0

//! Flow lookups for XDP programs (`nf_flow_table_bpf.c`): the kfunc `bpf_xdp_flow_lookup()`
//! (include/rflow_xdp.c) asks for the flow of a tuple in the flowtable of the device the packet
//! arrived on, and a hit refreshes the flow as a fast-path packet does, so traffic that XDP
//! handles alone keeps its flow alive.

use crate::{
    bindings,
    flowtable::{FlowDir, FlowTable},
    path::Xmit,
    pure::tuple::Tuple,
    sys::{netdev::NetDevice, nft::flowtable::ingress_software_flowtable, rcu::ReadSection},
};

/// Calls `f` on the direction of the flow `tuple` belongs to, if any, and refreshes the flow.
///
/// The flowtable is the first software flowtable among `dev`'s ingress hooks
/// ([`ingress_software_flowtable`]), as the C flowtable's `nf_flowtable_by_dev()` finds one
/// flowtable per device; `flags offload` flowtables are not searched, as in C.
pub(crate) fn lookup<R>(
    rcu: &ReadSection,
    dev: &NetDevice,
    tuple: &Tuple,
    f: impl FnOnce(&FlowDir) -> R,
) -> Option<R> {
    let m = ingress_software_flowtable::<FlowTable>(rcu, dev)?;
    let (flow, slot) = m.state.lookup(rcu, &tuple.key())?;
    // `flow_offload_refresh(flow_table, flow, false)`: at most once a second, and no hardware
    // work (a software flowtable).
    flow.refresh();
    Some(f(flow.dir(slot)))
}

/// The tuple an XDP program asks for, as rflow keys flows (no encapsulation, as in C).
pub(crate) fn tuple_of(key: &bindings::rflow_xdp_key) -> Tuple {
    Tuple {
        src: key.src,
        dst: key.dst,
        src_port: u16::from_be(key.src_port),
        dst_port: u16::from_be(key.dst_port),
        iif: key.iifidx,
        l3proto: key.l3proto,
        l4proto: key.l4proto,
        encap: Default::default(),
    }
}

/// Describes a flow direction as the C flowtable's `struct flow_offload_tuple` has it.
pub(crate) fn describe(d: &FlowDir) -> bindings::rflow_xdp_tuple {
    let t = &d.tuple;
    let mut out = bindings::rflow_xdp_tuple {
        src: t.src,
        dst: t.dst,
        src_port: t.src_port.to_be(),
        dst_port: t.dst_port.to_be(),
        iifidx: t.iif,
        l3proto: t.l3proto,
        l4proto: t.l4proto,
        dir: d.dir() as u8,
        in_vlan_ingress: d.in_vlan_ingress,
        // The C tuple's MTU is 16 bits wide.
        mtu: d.route.mtu.min(u16::MAX.into()) as u16,
        ..Default::default()
    };
    for (i, e) in t.encap.iter().enumerate() {
        if e.proto != 0 {
            out.encap_id[i] = e.id;
            out.encap_proto[i] = e.proto.to_be();
            out.encap_num += 1;
        }
    }
    let mut via_route = |xmit_type: u32| {
        out.xmit_type = xmit_type as u8;
        out.dst_cache = d.route.dst.as_ptr();
        out.dst_cookie = d.route.dst_cookie;
    };
    match &d.route.xmit {
        Xmit::Neigh => via_route(bindings::FLOW_OFFLOAD_XMIT_NEIGH),
        Xmit::Xfrm => via_route(bindings::FLOW_OFFLOAD_XMIT_XFRM),
        Xmit::Direct(direct) => {
            out.xmit_type = bindings::FLOW_OFFLOAD_XMIT_DIRECT as u8;
            // rflow keeps the device it transmits on, not the lowest one of its path: both
            // indexes name it.
            let ifindex = direct.dev.ifindex() as u32;
            out.out_ifidx = ifindex;
            out.out_hw_ifidx = ifindex;
            out.h_source = direct.h_source;
            out.h_dest = direct.h_dest;
        }
    }
    out
}
