// SPDX-License-Identifier: GPL-2.0

//! The fast path: the ingress hook that forwards packets of known flows.
//!
//! Rust counterpart of [`net/netfilter/nf_flow_table_ip.c`](srctree/net/netfilter/nf_flow_table_ip.c).
//! Anything the fast path does not handle (unknown flow, malformed or unusual packet, packet
//! over the path MTU, stale route) gets `NF_ACCEPT` and continues on the classic forwarding
//! path, which is always correct, only slower.

use crate::bindings;
use crate::flowtable::{teardown, FlowDir, FlowTable};
use crate::path::Xmit;
use crate::pure::{
    csum,
    flow_state::Reason,
    l2path::{
        pppoe_header, vlan_header, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, ETH_P_PPP_SES,
        PPPOE_SES_HLEN, VLAN_HLEN,
    },
    parse::{self, TCP_FIN, TCP_RST, TCP_SYN},
    tuple::{Encap, ENCAP_MAX, IPPROTO_TCP, NFPROTO_IPV4, NFPROTO_IPV6},
};
pub(crate) use crate::sys::nft::{flowtable::Family, Verdict};
use crate::sys::{
    nft::{HookState, NfFlowtable},
    rcu::ReadSection,
    skb::{HookSkb, NeighTable, CHECKSUM_COMPLETE, CHECKSUM_NONE, CHECKSUM_PARTIAL},
};

/// Benchmarks only (bench/stages.sh): built with `--cfg rflow_stage_twice="<stage>"`, the
/// fast path runs that stage a second time and discards the result, so that the difference in
/// guest instructions per packet is the stage's cost. Normal builds contain nothing of it.
macro_rules! stage_twice {
    ($stage:literal, $body:block) => {
        #[cfg(rflow_stage_twice = $stage)]
        {
            core::hint::black_box($body);
        }
    };
}

/// What comes before the IP header of an ingress packet.
struct Link {
    /// The encapsulations, outermost first: the out-of-band VLAN tag, then an in-band 802.1Q
    /// header or PPPoE session (`nf_flow_tuple_encap()`).
    encap: [Encap; ENCAP_MAX],
    /// Bytes of in-band encapsulation before the IP header.
    offset: usize,
    /// `NFPROTO_IPV4` or `NFPROTO_IPV6`.
    l3proto: u8,
    /// The IP header's ethertype: `ETH_P_IP` or `ETH_P_IPV6`.
    ethertype: u16,
}

/// Finds the IP header behind the link layer encapsulations the fast path understands
/// (`nf_flow_offload_inet_hook()`, `nf_flow_skb_encap_protocol()`).
#[inline(always)]
fn link(skb: &mut HookSkb<'_>, family: Family) -> Option<Link> {
    let mut encap = [Encap::default(); ENCAP_MAX];
    let mut n = 0;
    if let Some((id, proto)) = skb.vlan_tag() {
        encap[0] = Encap { id, proto };
        n = 1;
    }
    let (ethertype, offset) = match skb.protocol() {
        p @ (ETH_P_IP | ETH_P_IPV6) => (p, 0),
        ETH_P_8021Q => {
            if !skb.may_pull(VLAN_HLEN) {
                return None;
            }
            let (id, inner) = vlan_header(skb.data())?;
            encap[n] = Encap {
                id,
                proto: ETH_P_8021Q,
            };
            (inner, VLAN_HLEN)
        }
        ETH_P_PPP_SES => {
            if !skb.may_pull(PPPOE_SES_HLEN) {
                return None;
            }
            let (id, inner) = pppoe_header(skb.data())?;
            encap[n] = Encap {
                id,
                proto: ETH_P_PPP_SES,
            };
            (inner, PPPOE_SES_HLEN)
        }
        _ => return None,
    };
    let l3proto = match (ethertype, family) {
        (ETH_P_IP, Family::Ipv4 | Family::Inet) => NFPROTO_IPV4,
        (ETH_P_IPV6, Family::Ipv6 | Family::Inet) => NFPROTO_IPV6,
        _ => return None,
    };
    Some(Link {
        encap,
        offset,
        l3proto,
        ethertype,
    })
}

/// Runs the fast path on one packet.
#[inline(always)]
pub(crate) fn hook(
    ft: &FlowTable,
    rcu: &ReadSection,
    nf: &NfFlowtable,
    mut skb: HookSkb<'_>,
    state: &HookState,
    family: Family,
) -> Verdict {
    stage_twice!("link", { link(&mut skb, family).map(|l| l.offset) });
    match link(&mut skb, family) {
        Some(link) => forward(ft, rcu, nf, skb, state, &link),
        None => Verdict::Accept,
    }
}

#[inline(always)]
fn forward(
    ft: &FlowTable,
    rcu: &ReadSection,
    nf: &NfFlowtable,
    mut skb: HookSkb<'_>,
    state: &HookState,
    link: &Link,
) -> Verdict {
    // Validate the headers, pulling exactly what each step needs into the linear area.
    let off = link.offset;
    let l3_hlen = if link.l3proto == NFPROTO_IPV4 {
        parse::IPV4_HLEN
    } else {
        parse::IPV6_HLEN
    };
    if !skb.may_pull(off + l3_hlen) {
        return Verdict::Accept;
    }
    let len = (skb.len() as usize).saturating_sub(off);
    let ip = match link.l3proto {
        NFPROTO_IPV4 => parse::ipv4(&skb.data()[off..], len),
        _ => parse::ipv6(&skb.data()[off..], len),
    };
    let Ok(ip) = ip else {
        return Verdict::Accept;
    };
    let hdr_len = off + ip.thoff + ip.l4_hlen;
    if !skb.may_pull(hdr_len) {
        return Verdict::Accept;
    }
    let net = &skb.data()[off..];
    let Ok(l4) = parse::l4(&net[ip.thoff..], ip.l4proto) else {
        return Verdict::Accept;
    };
    let iif = state.in_dev().ifindex() as u32;
    let key = parse::flow_key(net, &ip, &l4, iif, &link.encap);
    stage_twice!("parse", {
        let again = match link.l3proto {
            NFPROTO_IPV4 => parse::ipv4(core::hint::black_box(&skb.data()[off..]), len),
            _ => parse::ipv6(core::hint::black_box(&skb.data()[off..]), len),
        };
        again.ok().and_then(|ip| {
            let l4 = parse::l4(&net[ip.thoff..], ip.l4proto).ok()?;
            Some(parse::flow_key(net, &ip, &l4, iif, &link.encap))
        })
    });

    // Part of "parse": the IPv4 header checksum, which rflow verifies and C does not.
    stage_twice!("csum", {
        link.l3proto == NFPROTO_IPV4
            && csum::ipv4_header_valid(core::hint::black_box(&net[..parse::IPV4_HLEN]))
    });
    stage_twice!("lookup", {
        ft.lookup(rcu, core::hint::black_box(&key))
            .map(|(_, slot)| slot)
    });
    let Some((flow, slot)) = ft.lookup(rcu, &key) else {
        return Verdict::Accept;
    };
    let fdir = flow.dir(slot);
    let route = &fdir.route;

    stage_twice!("checks", {
        let mtu = route.mtu.saturating_add(off as u32);
        let big = skb.len() > mtu && !skb.gso_fits_mtu(mtu);
        (
            big,
            flow.is_closing(),
            route.dst.check(core::hint::black_box(route.dst_cookie)),
        )
    });
    // Too big for the path: the stack fragments it or sends "packet too big".
    let mtu = route.mtu.saturating_add(off as u32);
    if skb.len() > mtu && !skb.gso_fits_mtu(mtu) {
        return Verdict::Accept;
    }
    // TCP state (`nf_flow_state_check()` of 6.14+): FIN or RST marks the flow closing and it
    // stays in the fast path until it expires; a SYN on a closing flow is a new connection on
    // the same tuple, which conntrack must see to reopen.
    if ip.l4proto == IPPROTO_TCP {
        if l4.tcp_flags & TCP_SYN != 0 && flow.is_closing() {
            teardown(flow, Reason::Closed);
            return Verdict::Accept;
        }
        if l4.tcp_flags & (TCP_FIN | TCP_RST) != 0 {
            flow.set_closing();
        }
    }
    // The cached route went stale (route change, PMTU update): back to the slow path for good.
    if !route.dst.check(route.dst_cookie) {
        teardown(flow, Reason::Route);
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
    // Twice for IPv4 without NAT: the TTL drops by two and the checksum follows, the packet
    // stays valid.
    stage_twice!("rewrite", {
        csum::forward(&mut hdr[off..], &ip, &fdir.rewrite, partial).is_ok()
    });
    if csum::forward(&mut hdr[off..], &ip, &fdir.rewrite, partial).is_err() {
        // Unreachable: `hdr` holds the `hdr_len` bytes `ip` describes.
        return Verdict::Accept;
    }
    if !pop_encap(&mut skb, link) {
        // Unreachable: the encapsulations were parsed from these linear bytes.
        return Verdict::Drop;
    }

    stage_twice!("account", {
        let moved = flow.refresh();
        if nf.flags() & bindings::NFT_FLOWTABLE_COUNTER != 0 {
            flow.ct().account(fdir.dir(), skb.len());
        }
        fdir.account(skb.len());
        moved
    });
    if flow.refresh() && nf.hw_offload() {
        // At most once a second per flow (`refresh` moved the stamp): software still sees its
        // packets, so offer it to the drivers (again).
        crate::offload::refreshed(nf, flow);
    }
    skb.clear_tstamp();
    let pkt_len = skb.len();
    if nf.flags() & bindings::NFT_FLOWTABLE_COUNTER != 0 {
        flow.ct().account(fdir.dir(), pkt_len);
    }
    fdir.account(pkt_len);
    transmit(skb, fdir, state, link)
}

/// Removes the encapsulations the packet arrived with (`nf_flow_encap_pop()`).
#[inline(always)]
fn pop_encap(skb: &mut HookSkb<'_>, link: &Link) -> bool {
    if skb.vlan_tag().is_some() {
        skb.clear_vlan_tag();
    }
    if link.offset == 0 {
        return true;
    }
    skb.set_protocol(link.ethertype);
    skb.pull_header(link.offset as u32)
}

/// Sends a rewritten packet on its way.
#[inline(always)]
fn transmit(mut skb: HookSkb<'_>, fdir: &FlowDir, state: &HookState, link: &Link) -> Verdict {
    let route = &fdir.route;
    match &route.xmit {
        Xmit::Neigh => {
            let dev = route.dst.dev();
            skb.set_dev(dev);
            skb.drop_dst();
            skb.set_dst_noref(&route.dst);
            let table = if link.l3proto == NFPROTO_IPV4 {
                NeighTable::Arp
            } else {
                NeighTable::Nd
            };
            skb.neigh_xmit(table, dev, &route.nexthop);
        }
        Xmit::Direct(out) => {
            skb.direct_xmit(&out.dev, link.ethertype, &out.h_dest, &out.h_source);
        }
        Xmit::Xfrm => {
            // The IPsec output path reads the forwarding metadata of the IP control block.
            if link.l3proto == NFPROTO_IPV4 {
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
