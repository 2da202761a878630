// SPDX-License-Identifier: GPL-2.0

//! Route discovery for a new flow.
//!
//! Rust counterpart of `nft_flow_route()` and `nft_default_forward_path()` (in
//! `net/netfilter/nft_flow_offload.c` in 6.12, `nf_flow_table_path.c` in later kernels): the
//! packet that creates a flow carries the route of its own direction; the route of the other
//! direction is looked up with the addresses swapped.

use crate::bindings;
use crate::pure::{
    l2path::{path_info, Hop, Mac, PathEntry, ETH_P_PPP_SES},
    tuple::{Dir, Encap, ENCAP_MAX, NFPROTO_IPV4, NFPROTO_IPV6},
};
use crate::sys::{
    alloc::Gfp,
    conntrack::Conn,
    dst::{Dst, RouteFamily, RouteQuery},
    netdev::NetDeviceRef,
    nft::{NfFlowtable, PktInfo},
    rcu::ReadSection,
};
use kernel::{prelude::*, types::ARef};

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
    /// The device to transmit on (a tracked reference held for the life of the flow; the
    /// netdevice notifier tears the flow down when the device goes down or away).
    pub(crate) dev: NetDeviceRef,
    /// Source MAC address.
    pub(crate) h_source: Mac,
    /// Destination MAC address.
    pub(crate) h_dest: Mac,
}

/// The route of one flow direction, as found at flow creation.
pub(crate) struct DirRoute {
    /// The route packets of this direction leave by.
    pub(crate) dst: ARef<Dst>,
    /// How they are transmitted.
    pub(crate) xmit: Xmit,
    /// The device packets of this direction arrive on: the output device of the other
    /// direction, or the device below it that layer 2 path discovery found.
    pub(crate) in_ifindex: i32,
    /// The encapsulations packets of this direction arrive with, outermost first.
    pub(crate) in_encap: [Encap; ENCAP_MAX],
    /// Bitmap of the `in_encap` entries a bridge port's hardware strips on ingress
    /// (`in_vlan_ingress`): hardware rules neither match nor pop them.
    pub(crate) in_vlan_ingress: u8,
    /// For a direction that leaves through a PPPoE session: the peer's MAC address (zero
    /// otherwise). Software sends through the session device, which knows it; a hardware rule
    /// must carry it. 6.12 asks the session device's neighbour instead, which has no
    /// link-layer address: its rules send to 00:00:00:00:00:00.
    pub(crate) pppoe_peer: Mac,
}

/// Looks up the routes of both directions of `ct`, for a packet of direction `dir`, and the
/// layer 2 paths below them (`nft_flow_route()`). Returns them indexed by direction.
pub(crate) fn route(
    rcu: &ReadSection,
    nf: &NfFlowtable,
    pkt: &PktInfo,
    ct: &Conn,
    dir: Dir,
) -> Result<[DirRoute; 2]> {
    let skb = pkt.skb();
    let state = pkt.state();
    let this_dst = skb.dst().ok_or(ENOENT)?;
    let this_tuple = ct.tuple(dir);
    let other_tuple = ct.tuple(dir.other());

    let pf = state.pf();
    let data = skb.data();
    let query = RouteQuery {
        daddr: this_tuple.src,
        saddr: other_tuple.src,
        oif: state.in_dev().ifindex(),
        iif: this_dst.dev().ifindex(),
        mark: skb.mark(),
        family: match pf {
            NFPROTO_IPV4 => RouteFamily::Ipv4 {
                tos: *data.get(1).ok_or(EINVAL)? & bindings::INET_DSCP_MASK as u8,
            },
            NFPROTO_IPV6 => {
                let word = data.get(..4).ok_or(EINVAL)?;
                // `ip6_flowinfo()`: traffic class and flow label, network order.
                let flowinfo = u32::from_ne_bytes([word[0], word[1], word[2], word[3]]);
                RouteFamily::Ipv6 {
                    flowlabel: flowinfo & 0x0fff_ffffu32.to_be(),
                }
            }
            _ => return Err(EINVAL),
        },
    };
    let this_ref = this_dst.hold().ok_or(ENOENT)?;
    let other_ref = query.lookup(state.net()).ok_or(ENOENT)?;

    let this = default_path(this_ref, &other_ref);
    let that = default_path(other_ref, &this.dst);
    let mut routes = if dir == Dir::Original {
        [this, that]
    } else {
        [that, this]
    };
    if routes.iter().all(|r| matches!(r.xmit, Xmit::Neigh)) {
        l2_path(rcu, nf, ct, &mut routes, dir);
        l2_path(rcu, nf, ct, &mut routes, dir.other());
    }
    Ok(routes)
}

/// The default forward path of one direction (`nft_default_forward_path()`): it leaves by
/// `dst`, and arrives on the output device of the other direction's route.
fn default_path(dst: ARef<Dst>, other: &Dst) -> DirRoute {
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
        in_vlan_ingress: 0,
        pppoe_peer: [0; 6],
    }
}

/// Refines the routes with the layer 2 path below the route of direction `dir`
/// (`nft_dev_forward_path()`): the device and encapsulations packets of the other direction
/// arrive with, and direct transmission when a bridge is on the path.
fn l2_path(rcu: &ReadSection, nf: &NfFlowtable, ct: &Conn, routes: &mut [DirRoute; 2], dir: Dir) {
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
            devs[n] = Some(d.hold(Gfp::Atomic));
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
    if !nf.has_device(rcu, indev as i32) {
        return;
    }
    let other = &mut routes[dir.other().index()];
    other.in_ifindex = indev as i32;
    // The path lists encapsulations from the route's device down; packets carry them
    // outermost first (`flow_offload_fill_route()`).
    for (j, (i, e)) in info.encap[..info.num_encaps]
        .iter()
        .enumerate()
        .rev()
        .enumerate()
    {
        other.in_encap[j] = *e;
        if info.ingress_vlans & (1 << i) != 0 {
            other.in_vlan_ingress |= 1 << j;
        }
    }
    if info.encap[..info.num_encaps]
        .iter()
        .any(|e| e.proto == ETH_P_PPP_SES)
    {
        routes[dir.index()].pppoe_peer = info.h_dest;
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
