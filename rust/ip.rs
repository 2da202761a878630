// SPDX-License-Identifier: GPL-2.0

//! The fast path: the ingress hook that forwards packets of known flows.
//!
//! Rust counterpart of [`net/netfilter/nf_flow_table_ip.c`](srctree/net/netfilter/nf_flow_table_ip.c).
//! Anything the fast path does not handle (unknown flow, malformed or unusual packet, packet
//! over the path MTU, FIN/RST, stale route) gets `NF_ACCEPT` and continues on the classic
//! forwarding path, which is always correct, only slower.

use crate::bindings;
use crate::flowtable::{teardown, FlowDir, FlowTable};
use crate::path::Xmit;
use crate::pure::{
    csum,
    parse::{self, TCP_FIN, TCP_RST},
    tuple::{Encap, ENCAP_MAX, IPPROTO_TCP, NFPROTO_IPV4, NFPROTO_IPV6},
};
use crate::sys::{
    nft::HookState,
    rcu::ReadSection,
    skb::{HookSkb, NeighTable, CHECKSUM_COMPLETE, CHECKSUM_NONE, CHECKSUM_PARTIAL},
};

/// A netfilter verdict.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Verdict {
    /// Continue on the classic path.
    Accept,
    /// Drop the packet (only when it cannot be made writable: memory pressure).
    Drop,
    /// The fast path transmitted the packet.
    Stolen,
}

impl Verdict {
    /// Returns the `NF_*` value netfilter expects.
    pub(crate) fn to_nf(self) -> u32 {
        match self {
            Verdict::Accept => bindings::NF_ACCEPT,
            Verdict::Drop => bindings::NF_DROP,
            Verdict::Stolen => bindings::NF_STOLEN,
        }
    }
}

/// Which packets a flowtable type's hook looks at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Family {
    /// IPv4 only (`nf_flow_offload_ip_hook()`).
    Ipv4,
    /// IPv6 only (`nf_flow_offload_ipv6_hook()`).
    Ipv6,
    /// Both (`nf_flow_offload_inet_hook()`).
    Inet,
}

const NO_ENCAP: [Encap; ENCAP_MAX] = [Encap { id: 0, proto: 0 }; ENCAP_MAX];

/// Runs the fast path on one packet.
#[inline(always)]
pub(crate) fn hook(ft: &FlowTable, skb: HookSkb<'_>, state: &HookState, family: Family) -> Verdict {
    // VLAN tags and PPPoE sessions are not handled yet: such packets must never match a flow
    // created for untagged traffic, so they all take the slow path.
    if skb.vlan_tag_present() {
        return Verdict::Accept;
    }
    let l3proto = match (skb.protocol(), family) {
        (p, Family::Ipv4 | Family::Inet) if p == bindings::ETH_P_IP as u16 => NFPROTO_IPV4,
        (p, Family::Ipv6 | Family::Inet) if p == bindings::ETH_P_IPV6 as u16 => NFPROTO_IPV6,
        _ => return Verdict::Accept,
    };
    forward(ft, skb, state, l3proto)
}

#[inline(always)]
fn forward(ft: &FlowTable, mut skb: HookSkb<'_>, state: &HookState, l3proto: u8) -> Verdict {
    // Validate the headers, pulling exactly what each step needs into the linear area.
    let l3_hlen = if l3proto == NFPROTO_IPV4 {
        parse::IPV4_HLEN
    } else {
        parse::IPV6_HLEN
    };
    if !skb.may_pull(l3_hlen) {
        return Verdict::Accept;
    }
    let len = skb.len() as usize;
    let ip = match l3proto {
        NFPROTO_IPV4 => parse::ipv4(skb.data(), len),
        _ => parse::ipv6(skb.data(), len),
    };
    let Ok(ip) = ip else {
        return Verdict::Accept;
    };
    let hdr_len = ip.thoff + ip.l4_hlen;
    if !skb.may_pull(hdr_len) {
        return Verdict::Accept;
    }
    let data = skb.data();
    let Ok(l4) = parse::l4(&data[ip.thoff..], ip.l4proto) else {
        return Verdict::Accept;
    };
    let iif = state.in_dev().ifindex() as u32;
    let key = parse::flow_key(data, &ip, &l4, iif, &NO_ENCAP);

    // SAFETY: Netfilter runs hooks inside an RCU read-side critical section
    // (`nf_hook_slow()` under `rcu_read_lock()`), for the whole call.
    let rcu = unsafe { ReadSection::assume() };
    let Some(fdir) = ft.lookup(rcu, &key) else {
        return Verdict::Accept;
    };
    let flow = fdir.flow();
    let route = &fdir.route;

    // Too big for the path: the stack fragments it or sends "packet too big".
    if skb.len() > route.mtu && !skb.gso_fits_mtu(route.mtu) {
        return Verdict::Accept;
    }
    // FIN or RST: conntrack must see the end of the connection (`nf_flow_state_check()`).
    if ip.l4proto == IPPROTO_TCP && l4.tcp_flags & (TCP_FIN | TCP_RST) != 0 {
        teardown(flow);
        return Verdict::Accept;
    }
    // The cached route went stale (route change, PMTU update): back to the slow path for good.
    if !route.dst.check(route.dst_cookie) {
        teardown(flow);
        return Verdict::Accept;
    }

    // `skb_forward_csum()`: after rewriting, a receive-side full checksum no longer matches.
    let summed = skb.ip_summed();
    if summed == CHECKSUM_COMPLETE {
        skb.set_ip_summed(CHECKSUM_NONE);
    }
    let partial = summed == CHECKSUM_PARTIAL;
    let Some(hdr) = skb.writable(hdr_len) else {
        return Verdict::Drop;
    };
    if csum::forward(hdr, &ip, &fdir.rewrite, partial).is_err() {
        // Unreachable: `hdr` holds the `hdr_len` bytes `ip` describes.
        return Verdict::Accept;
    }

    flow.refresh();
    skb.clear_tstamp();
    let pkt_len = skb.len();
    if ft.nf().flags() & bindings::NFT_FLOWTABLE_COUNTER != 0 {
        flow.ct().account(fdir.dir(), pkt_len);
    }
    fdir.account(pkt_len);
    transmit(skb, fdir, state, l3proto)
}

/// Sends a rewritten packet on its way.
#[inline(always)]
fn transmit(mut skb: HookSkb<'_>, fdir: &FlowDir, state: &HookState, l3proto: u8) -> Verdict {
    let route = &fdir.route;
    match route.xmit {
        Xmit::Neigh => {
            let dev = route.dst.dev();
            skb.set_dev(dev);
            skb.drop_dst();
            skb.set_dst_noref(&route.dst);
            let table = if l3proto == NFPROTO_IPV4 {
                NeighTable::Arp
            } else {
                NeighTable::Nd
            };
            skb.neigh_xmit(table, dev, &route.nexthop);
        }
        Xmit::Xfrm => {
            // The IPsec output path reads the forwarding metadata of the IP control block.
            if l3proto == NFPROTO_IPV4 {
                skb.set_ipv4_forwarded();
            } else {
                skb.set_ipv6_forwarded();
            }
            skb.drop_dst();
            skb.set_dst_noref(&route.dst);
            skb.dst_output(state.net());
        }
    }
    Verdict::Stolen
}
