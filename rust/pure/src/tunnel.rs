// SPDX-License-Identifier: GPL-2.0

//! Outer headers of IPIP (IPv4 in IPv4) and IP6IP6 (IPv6 in IPv6) tunnel packets.
//!
//! Mainline's flowtable (6.19 and 7.0, `nf_flow_ip4_tunnel_proto()` and
//! `nf_flow_ip6_tunnel_proto()`) steps over such an outer header and looks the inner packet up;
//! see `Documentation/tunnels.md`. These functions decide whether a packet is one and what its
//! outer header says. The checks are mainline's (no IPv4 options or fragments, no IPv6
//! extension headers, TTL or hop limit above 1), plus rflow's usual ones before `ip_rcv()`:
//! the IPv4 header checksum and length fields that agree with the packet. A packet these
//! functions reject takes the classic path, which decapsulates it through the tunnel device.

use super::parse::{be16, ipv4_header, Reject, IPV4_HLEN, IPV6_HLEN};
use super::tuple::Addr;

/// `IPPROTO_IPIP`: an IPv4 packet inside an IPv4 header.
pub const IPPROTO_IPIP: u8 = 4;
/// `IPPROTO_IPV6`: an IPv6 packet inside an IPv6 header (the next header value of IP6IP6).
pub const IPPROTO_IPV6: u8 = 41;

/// A validated outer header. The inner packet has the outer header's family.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Outer {
    /// [`IPPROTO_IPIP`] or [`IPPROTO_IPV6`].
    pub proto: u8,
    /// Length of the outer header: where the inner packet starts.
    pub hdr_len: usize,
    /// Number of bytes of the inner packet, as the outer header counts them.
    pub inner_len: usize,
    /// Outer source address (the remote tunnel endpoint), network order; IPv4 in the first
    /// four bytes.
    pub src: Addr,
    /// Outer destination address (the local tunnel endpoint).
    pub dst: Addr,
}

/// Examines an IPv4 header: `Ok(None)` if it is not an IPIP packet (parse it as a plain one),
/// the outer header if it is one the fast path can take, or why not.
///
/// `net` holds at least the linear bytes from the network header on; `pkt_len` is the number of
/// bytes from the network header to the end of the packet (linear or not).
#[inline]
pub fn outer_ipv4(net: &[u8], pkt_len: usize) -> Result<Option<Outer>, Reject> {
    let Some(h) = net.first_chunk::<IPV4_HLEN>() else {
        return Err(Reject::Truncated);
    };
    if h[9] != IPPROTO_IPIP {
        return Ok(None);
    }
    // The inner packet needs at least its own IPv4 header.
    let tot_len = ipv4_header(h, pkt_len, 2 * IPV4_HLEN)?;
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src[..4].copy_from_slice(&h[12..16]);
    dst[..4].copy_from_slice(&h[16..20]);
    Ok(Some(Outer {
        proto: IPPROTO_IPIP,
        hdr_len: IPV4_HLEN,
        inner_len: tot_len - IPV4_HLEN,
        src,
        dst,
    }))
}

/// Examines an IPv6 header as [`outer_ipv4`] does an IPv4 one: an IP6IP6 packet has next
/// header 41 directly after the fixed header (no extension headers, hence no encapsulation
/// limit option: mainline offloads only ip6tnl tunnels created with `encaplimit none`).
#[inline]
pub fn outer_ipv6(net: &[u8], pkt_len: usize) -> Result<Option<Outer>, Reject> {
    let Some(h) = net.first_chunk::<IPV6_HLEN>() else {
        return Err(Reject::Truncated);
    };
    if h[6] != IPPROTO_IPV6 {
        return Ok(None);
    }
    if h[0] >> 4 != 6 {
        return Err(Reject::Version);
    }
    let payload = usize::from(be16(h, 4));
    // A zero payload length is a jumbogram, which has a hop-by-hop header; the inner packet
    // needs at least its own fixed header.
    if payload < IPV6_HLEN || IPV6_HLEN + payload > pkt_len {
        return Err(Reject::Length);
    }
    if h[7] <= 1 {
        return Err(Reject::Ttl);
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&h[8..24]);
    dst.copy_from_slice(&h[24..40]);
    Ok(Some(Outer {
        proto: IPPROTO_IPV6,
        hdr_len: IPV6_HLEN,
        inner_len: payload,
        src,
        dst,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csum::ipv4_header_checksum;
    use crate::parse::tests::{v4_packet, v6_packet};
    use crate::parse::{ipv4, ipv6};
    use crate::tuple::{IPPROTO_TCP, IPPROTO_UDP};
    use std::vec::Vec;

    /// `inner` wrapped in an outer IPv4 header from 192.0.2.1 to 192.0.2.2.
    fn ipip(inner: &[u8]) -> Vec<u8> {
        let mut p = std::vec![0u8; IPV4_HLEN];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((IPV4_HLEN + inner.len()) as u16).to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = IPPROTO_IPIP;
        p[12..16].copy_from_slice(&[192, 0, 2, 1]);
        p[16..20].copy_from_slice(&[192, 0, 2, 2]);
        let c = ipv4_header_checksum(&p);
        p[10..12].copy_from_slice(&c.to_ne_bytes());
        p.extend_from_slice(inner);
        p
    }

    /// `inner` wrapped in an outer IPv6 header from 2001:db8::1 to 2001:db8::2.
    fn ip6ip6(inner: &[u8]) -> Vec<u8> {
        let mut p = std::vec![0u8; IPV6_HLEN];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(inner.len() as u16).to_be_bytes());
        p[6] = IPPROTO_IPV6;
        p[7] = 64;
        p[8..12].copy_from_slice(&[0x20, 1, 0xd, 0xb8]);
        p[23] = 1;
        p[24..28].copy_from_slice(&[0x20, 1, 0xd, 0xb8]);
        p[39] = 2;
        p.extend_from_slice(inner);
        p
    }

    /// A change to a packet and the rejection it must cause.
    type Case = (fn(&mut Vec<u8>), Reject);

    fn fix_csum(p: &mut [u8]) {
        p[10] = 0;
        p[11] = 0;
        let c = ipv4_header_checksum(&p[..IPV4_HLEN]);
        p[10..12].copy_from_slice(&c.to_ne_bytes());
    }

    #[test]
    fn ipip_outer_and_inner() {
        let inner = v4_packet(IPPROTO_UDP, 1000, 53, 10);
        let p = ipip(&inner);
        let o = outer_ipv4(&p, p.len())
            .expect("valid")
            .expect("a tunnel packet");
        assert_eq!(
            (o.proto, o.hdr_len, o.inner_len),
            (IPPROTO_IPIP, 20, inner.len())
        );
        assert_eq!(
            (&o.src[..4], &o.dst[..4]),
            (&[192, 0, 2, 1][..], &[192, 0, 2, 2][..])
        );
        assert!(o.src[4..].iter().chain(&o.dst[4..]).all(|b| *b == 0));
        // The inner packet parses where the outer header says it starts.
        assert!(ipv4(&p[o.hdr_len..], o.inner_len).is_ok());
    }

    #[test]
    fn ip6ip6_outer_and_inner() {
        let inner = v6_packet(IPPROTO_TCP, 1000, 80, 0);
        let p = ip6ip6(&inner);
        let o = outer_ipv6(&p, p.len())
            .expect("valid")
            .expect("a tunnel packet");
        assert_eq!(
            (o.proto, o.hdr_len, o.inner_len),
            (IPPROTO_IPV6, 40, inner.len())
        );
        assert_eq!((o.src[15], o.dst[15]), (1, 2));
        assert!(ipv6(&p[o.hdr_len..], o.inner_len).is_ok());
    }

    #[test]
    fn plain_packets_are_not_tunnel_packets() {
        let v4 = v4_packet(IPPROTO_UDP, 1, 2, 0);
        assert_eq!(outer_ipv4(&v4, v4.len()), Ok(None));
        let v6 = v6_packet(IPPROTO_UDP, 1, 2, 0);
        assert_eq!(outer_ipv6(&v6, v6.len()), Ok(None));
        assert_eq!(outer_ipv4(&v4[..19], 19), Err(Reject::Truncated));
        assert_eq!(outer_ipv6(&v6[..39], 39), Err(Reject::Truncated));
    }

    #[test]
    fn bad_ipip_outer_headers_are_rejected() {
        let good = ipip(&v4_packet(IPPROTO_UDP, 1000, 53, 10));
        let cases: [Case; 8] = [
            (|p| p[0] = 0x65, Reject::Version),
            (|p| p[0] = 0x46, Reject::Options),
            (|p| p[6] = 0x20, Reject::Fragment),
            (|p| p[7] = 1, Reject::Fragment),
            (|p| p[8] = 1, Reject::Ttl),
            (|p| p[3] = p[3].wrapping_add(1), Reject::Length),
            (
                |p| p[2..4].copy_from_slice(&39u16.to_be_bytes()),
                Reject::Length,
            ),
            (|p| p[10] ^= 1, Reject::Checksum),
        ];
        for (i, (spoil, want)) in cases.iter().enumerate() {
            let mut p = good.clone();
            spoil(&mut p);
            if *want != Reject::Checksum {
                fix_csum(&mut p);
            }
            assert_eq!(outer_ipv4(&p, p.len()), Err(*want), "case {i}");
        }
        // Shorter than its length field says.
        assert_eq!(outer_ipv4(&good, good.len() - 1), Err(Reject::Length));
    }

    #[test]
    fn bad_ip6ip6_outer_headers_are_rejected() {
        let good = ip6ip6(&v6_packet(IPPROTO_UDP, 1000, 53, 10));
        let cases: [Case; 4] = [
            (|p| p[0] = 0x40, Reject::Version),
            (|p| p[7] = 1, Reject::Ttl),
            (
                |p| p[4..6].copy_from_slice(&0u16.to_be_bytes()),
                Reject::Length,
            ),
            (
                |p| p[4..6].copy_from_slice(&39u16.to_be_bytes()),
                Reject::Length,
            ),
        ];
        for (i, (spoil, want)) in cases.iter().enumerate() {
            let mut p = good.clone();
            spoil(&mut p);
            assert_eq!(outer_ipv6(&p, p.len()), Err(*want), "case {i}");
        }
        assert_eq!(outer_ipv6(&good, good.len() - 1), Err(Reject::Length));
        // An extension header before the inner packet: not IP6IP6 as the fast path takes it.
        let mut ext = good.clone();
        ext[6] = 60;
        assert_eq!(outer_ipv6(&ext, ext.len()), Ok(None));
    }

    proptest::proptest! {
        /// Any bytes: no panic, and an accepted outer header describes bytes that exist.
        #[test]
        fn any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            for o in [outer_ipv4(&bytes, bytes.len()), outer_ipv6(&bytes, bytes.len())]
                .into_iter()
                .flatten()
                .flatten()
            {
                proptest::prop_assert!(o.hdr_len + o.inner_len <= bytes.len());
            }
        }
    }
}
