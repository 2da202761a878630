// SPDX-License-Identifier: GPL-2.0

//! Route discovery for a new flow.
//!
//! Rust counterpart of `nft_flow_route()` and `nft_default_forward_path()` (in
//! `net/netfilter/nft_flow_offload.c` in 6.12, `nf_flow_table_path.c` in later kernels): the
//! packet that creates a flow carries the route of its own direction; the route of the other
//! direction is looked up with the addresses swapped.

use crate::bindings;
use crate::pure::{
    l2path::{path_info, Hop, Mac, PathEntry},
    tuple::{Dir, Encap, ENCAP_MAX, NFPROTO_IPV4, NFPROTO_IPV6},
};
use crate::sys::{
    conntrack::Conn,
    dst::{Dst, DstRef},
    netdev::NetDeviceRef,
    nft::{NfFlowtable, PktInfo},
};
use core::ptr::NonNull;
use kernel::prelude::*;

/// How packets of a flow direction are transmitted (`enum flow_offload_xmit_type`).
pub(crate) enum Xmit {
    /// Through the neighbour layer to the route's next hop (`FLOW_OFFLOAD_XMIT_NEIGH`).
    Neigh,
    /// Down the route's output path, which applies the IPsec policy (`FLOW_OFFLOAD_XMIT_XFRM`).
    Xfrm,
    /// Straight to a device below the route's, with cached MAC addresses, bypassing a bridge
    /// (`FLOW_OFFLOAD_XMIT_DIRECT`).
    Direct(Direct),
}

/// Where a directly transmitted flow direction goes.
pub(crate) struct Direct {
    /// The device to transmit on (a reference held for the life of the flow).
    pub(crate) dev: NetDeviceRef,
    /// Source MAC address.
    pub(crate) h_source: Mac,
    /// Destination MAC address.
    pub(crate) h_dest: Mac,
}

/// The route of one flow direction, as found at flow creation.
pub(crate) struct DirRoute {
    /// The route packets of this direction leave by.
    pub(crate) dst: DstRef,
    /// How they are transmitted.
    pub(crate) xmit: Xmit,
    /// The device packets of this direction arrive on: the output device of the other
    /// direction, or the device below it that layer 2 path discovery found.
    pub(crate) in_ifindex: i32,
    /// The encapsulations packets of this direction arrive with, outermost first.
    pub(crate) in_encap: [Encap; ENCAP_MAX],
}

/// Looks up the routes of both directions of `ct`, for a packet of direction `dir`, and the
/// layer 2 paths below them (`nft_flow_route()`). Returns them indexed by direction.
pub(crate) fn route(nf: &NfFlowtable, pkt: &PktInfo, ct: &Conn, dir: Dir) -> Result<[DirRoute; 2]> {
    let skb = pkt.skb();
    let state = pkt.state();
    let this_dst = skb.dst().ok_or(ENOENT)?;
    let this_tuple = ct.tuple(dir);
    let other_tuple = ct.tuple(dir.other());

    let mut fl = bindings::flowi::default();
    let pf = state.pf();
    let data = skb.data();
    match pf {
        NFPROTO_IPV4 => {
            let tos = *data.get(1).ok_or(EINVAL)?;
            let mut d = [0u8; 4];
            let mut s = [0u8; 4];
            d.copy_from_slice(&this_tuple.src[..4]);
            s.copy_from_slice(&other_tuple.src[..4]);
            // SAFETY: `flowi` is a plain-data union; the `ip4` view is the one IPv4 routing reads.
            let ip4 = unsafe { &mut fl.u.ip4 };
            ip4.daddr = u32::from_ne_bytes(d);
            ip4.saddr = u32::from_ne_bytes(s);
            ip4.__fl_common.flowic_oif = state.in_dev().ifindex();
            ip4.__fl_common.flowic_iif = this_dst.dev().ifindex();
            ip4.__fl_common.flowic_tos = tos & bindings::INET_DSCP_MASK as u8;
            ip4.__fl_common.flowic_mark = skb.mark();
            ip4.__fl_common.flowic_flags = bindings::FLOWI_FLAG_ANYSRC as u8;
        }
        NFPROTO_IPV6 => {
            let word = data.get(..4).ok_or(EINVAL)?;
            let flowinfo = u32::from_ne_bytes([word[0], word[1], word[2], word[3]]);
            // SAFETY: `flowi` is a plain-data union; the `ip6` view is the one IPv6 routing reads.
            let ip6 = unsafe { &mut fl.u.ip6 };
            ip6.daddr.in6_u.u6_addr8 = this_tuple.src;
            ip6.saddr.in6_u.u6_addr8 = other_tuple.src;
            ip6.__fl_common.flowic_oif = state.in_dev().ifindex();
            ip6.__fl_common.flowic_iif = this_dst.dev().ifindex();
            // `ip6_flowinfo()`: traffic class and flow label, network order.
            ip6.flowlabel = flowinfo & 0x0fff_ffffu32.to_be();
            ip6.__fl_common.flowic_mark = skb.mark();
            ip6.__fl_common.flowic_flags = bindings::FLOWI_FLAG_ANYSRC as u8;
        }
        _ => return Err(EINVAL),
    }

    let this_ref = this_dst.hold().ok_or(ENOENT)?;
    let mut other: *mut bindings::dst_entry = core::ptr::null_mut();
    // SAFETY: `fl` and `other` are valid locals; `nf_route` stores a counted reference in
    // `other` on success.
    unsafe { bindings::nf_route(state.net().as_ptr(), &mut other, &mut fl, false, pf.into()) };
    let other = NonNull::new(other).ok_or(ENOENT)?;
    // SAFETY: `nf_route` gave us a reference on `other`.
    let other_ref = unsafe { DstRef::from_owned(other) };

    let this = default_path(this_ref, &other_ref);
    let that = default_path(other_ref, &this.dst);
    let mut routes = if dir == Dir::Original {
        [this, that]
    } else {
        [that, this]
    };
    if routes.iter().all(|r| matches!(r.xmit, Xmit::Neigh)) {
        l2_path(nf, ct, &mut routes, dir);
        l2_path(nf, ct, &mut routes, dir.other());
    }
    Ok(routes)
}

/// The default forward path of one direction (`nft_default_forward_path()`): it leaves by
/// `dst`, and arrives on the output device of the other direction's route.
fn default_path(dst: DstRef, other: &Dst) -> DirRoute {
    let xmit = if dst.has_xfrm() {
        Xmit::Xfrm
    } else {
        Xmit::Neigh
    };
    DirRoute {
        in_ifindex: other.dev().ifindex(),
        xmit,
        dst,
        in_encap: [Encap::default(); ENCAP_MAX],
    }
}

/// Refines the routes with the layer 2 path below the route of direction `dir`
/// (`nft_dev_forward_path()`): the device and encapsulations packets of the other direction
/// arrive with, and direct transmission when a bridge is on the path.
fn l2_path(nf: &NfFlowtable, ct: &Conn, routes: &mut [DirRoute; 2], dir: Dir) {
    const STACK: usize = bindings::NET_DEVICE_PATH_STACK_MAX as usize;
    let route = &routes[dir.index()];
    let dev = route.dst.dev();
    let mut ha = [0u8; 6];
    if dev.is_valid_ether() {
        // The next hop towards the final destination must be resolved.
        match route.dst.neighbour_mac(&ct.tuple(dir.other()).src) {
            Some(mac) => ha = mac,
            None => return,
        }
    }
    let mut path = [PathEntry {
        hop: Hop::Other,
        ifindex: 0,
        addr: [0; 6],
    }; STACK];
    let mut devs: [Option<NetDeviceRef>; STACK] = Default::default();
    let mut n = 0;
    let found = dev.forward_path(&ha, |entry, d| {
        if n < STACK {
            path[n] = entry;
            devs[n] = Some(d.hold());
            n += 1;
        }
    });
    if !found {
        return;
    }
    let info = path_info(&path[..n], ha);
    let Some(indev) = info.indev else {
        return;
    };
    // Only a device of the flowtable has the hook that would see the other direction.
    if !nf.has_device(indev as i32) {
        return;
    }
    let other = &mut routes[dir.other().index()];
    other.in_ifindex = indev as i32;
    // The path lists encapsulations from the route's device down; packets carry them
    // outermost first (`flow_offload_fill_route()`).
    for (j, e) in info.encap[..info.num_encaps].iter().rev().enumerate() {
        other.in_encap[j] = *e;
    }
    if info.direct {
        let out = info.outdev.and_then(|ifindex| {
            devs[..n]
                .iter_mut()
                .find(|d| d.as_ref().is_some_and(|d| d.ifindex() as u32 == ifindex))
                .and_then(Option::take)
        });
        if let Some(dev) = out {
            routes[dir.index()].xmit = Xmit::Direct(Direct {
                dev,
                h_source: info.h_source,
                h_dest: info.h_dest,
            });
        }
    }
}
