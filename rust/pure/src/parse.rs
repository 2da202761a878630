// SPDX-License-Identifier: GPL-2.0

//! Parsing of IPv4/IPv6 and TCP/UDP/GRE headers for the fast path.
//!
//! Rust counterpart of `nf_flow_tuple_ip()` and `nf_flow_tuple_ipv6()` in
//! `net/netfilter/nf_flow_table_ip.c`, with stricter validation: the flowtable hook runs at
//! netdev ingress, before `ip_rcv()` has checked anything, so every header field the fast path
//! relies on is checked here, and anything unusual is rejected. A rejected packet is not dropped:
//! it continues on the classic forwarding path, which validates it properly and decides.
//!
//! Parsing is split in two steps because the caller must make the bytes linear first
//! (`pskb_may_pull()`): [`ipv4`]/[`ipv6`] need the network header only and say how many bytes of
//! layer 4 header [`l4`] will need.

use super::tuple::{Encap, FlowKey, ENCAP_MAX, IPPROTO_GRE, IPPROTO_TCP, IPPROTO_UDP};
use super::tuple::{NFPROTO_IPV4, NFPROTO_IPV6};

/// Length of an IPv4 header without options.
pub const IPV4_HLEN: usize = 20;
/// Length of the fixed IPv6 header.
pub const IPV6_HLEN: usize = 40;
/// Length of a TCP header without options.
pub const TCP_HLEN: usize = 20;
/// Length of a UDP header.
pub const UDP_HLEN: usize = 8;
/// Length of the base GRE header.
pub const GRE_HLEN: usize = 4;

/// TCP FIN flag.
pub const TCP_FIN: u8 = 0x01;
/// TCP SYN flag.
pub const TCP_SYN: u8 = 0x02;
/// TCP RST flag.
pub const TCP_RST: u8 = 0x04;

/// Why a packet is left to the classic forwarding path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reject {
    /// Fewer bytes than the headers need.
    Truncated,
    /// The IP version field does not match the ethertype.
    Version,
    /// IPv4 options (or an IPv4 header length below the minimum).
    Options,
    /// An IPv4 fragment.
    Fragment,
    /// The IP length fields disagree with the packet, or it is an IPv6 jumbogram.
    Length,
    /// The IPv4 header checksum is wrong.
    Checksum,
    /// TTL or hop limit would expire here: the stack must send the ICMP error.
    Ttl,
    /// Not TCP, UDP or GRE directly after the IP header (IPv6 extension headers included).
    Protocol,
    /// GRE other than version 0.
    GreVersion,
    /// A TCP header length below the minimum.
    TcpHeader,
}

/// What the network header says, once validated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ip {
    /// [`NFPROTO_IPV4`] or [`NFPROTO_IPV6`].
    pub l3proto: u8,
    /// Layer 4 protocol.
    pub l4proto: u8,
    /// Offset of the layer 4 header from the start of the network header.
    pub thoff: usize,
    /// Number of layer 4 header bytes [`l4`] needs.
    pub l4_hlen: usize,
}

/// What the layer 4 header says.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct L4 {
    /// Source port, host order (0 for GRE).
    pub src_port: u16,
    /// Destination port, host order (0 for GRE).
    pub dst_port: u16,
    /// TCP flags byte (0 for UDP and GRE).
    pub tcp_flags: u8,
}

pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn l4_hlen(proto: u8) -> Result<usize, Reject> {
    match proto {
        IPPROTO_TCP => Ok(TCP_HLEN),
        IPPROTO_UDP => Ok(UDP_HLEN),
        IPPROTO_GRE => Ok(GRE_HLEN),
        _ => Err(Reject::Protocol),
    }
}

/// Validates an IPv4 header.
///
/// `net` holds at least the linear bytes from the network header on; `pkt_len` is the number of
/// bytes from the network header to the end of the packet (linear or not).
#[inline]
pub fn ipv4(net: &[u8], pkt_len: usize) -> Result<Ip, Reject> {
    let Some(h) = net.first_chunk::<IPV4_HLEN>() else {
        return Err(Reject::Truncated);
    };
    let l4proto = h[9];
    let l4_hlen = l4_hlen(l4proto)?;
    ipv4_header(h, pkt_len, IPV4_HLEN + l4_hlen)?;
    Ok(Ip {
        l3proto: NFPROTO_IPV4,
        l4proto,
        thoff: IPV4_HLEN,
        l4_hlen,
    })
}

/// The checks of an IPv4 header the fast path forwards or decapsulates (see
/// [`crate::tunnel::outer_ipv4`]): no options, no fragment, a total length between `min_len`
/// and `pkt_len`, a TTL that does not expire here, a valid header checksum. Returns the total
/// length.
#[inline(always)]
pub(crate) fn ipv4_header(
    h: &[u8; IPV4_HLEN],
    pkt_len: usize,
    min_len: usize,
) -> Result<usize, Reject> {
    // Version 4 and a 20-byte header (no options) in one compare; the reason is worked out
    // only for a packet that fails it.
    if h[0] != 0x45 {
        return Err(if h[0] >> 4 != 4 {
            Reject::Version
        } else {
            Reject::Options
        });
    }
    // More-fragments flag or a fragment offset: only the reassembling stack can handle it.
    if be16(h, 6) & 0x3fff != 0 {
        return Err(Reject::Fragment);
    }
    let tot_len = usize::from(be16(h, 2));
    if tot_len > pkt_len || tot_len < min_len {
        return Err(Reject::Length);
    }
    if h[8] <= 1 {
        return Err(Reject::Ttl);
    }
    if !super::csum::ipv4_header_valid(h) {
        return Err(Reject::Checksum);
    }
    Ok(tot_len)
}

/// Validates a fixed IPv6 header; extension headers are left to the slow path.
///
/// Arguments as for [`ipv4`].
#[inline]
pub fn ipv6(net: &[u8], pkt_len: usize) -> Result<Ip, Reject> {
    if net.len() < IPV6_HLEN || pkt_len < IPV6_HLEN {
        return Err(Reject::Truncated);
    }
    if net[0] >> 4 != 6 {
        return Err(Reject::Version);
    }
    let l4proto = net[6];
    let l4_hlen = l4_hlen(l4proto)?;
    // A zero payload length means a jumbogram (hop-by-hop option), which has extension headers
    // anyway; otherwise the payload must fit in the packet and hold the layer 4 header.
    let payload = usize::from(be16(net, 4));
    if payload < l4_hlen || IPV6_HLEN + payload > pkt_len {
        return Err(Reject::Length);
    }
    if net[7] <= 1 {
        return Err(Reject::Ttl);
    }
    Ok(Ip {
        l3proto: NFPROTO_IPV6,
        l4proto,
        thoff: IPV6_HLEN,
        l4_hlen,
    })
}

/// Parses the layer 4 header that `l4` starts with.
#[inline]
pub fn l4(l4: &[u8], proto: u8) -> Result<L4, Reject> {
    if l4.len() < l4_hlen(proto)? {
        return Err(Reject::Truncated);
    }
    match proto {
        IPPROTO_TCP => {
            if usize::from(l4[12] >> 4) * 4 < TCP_HLEN {
                return Err(Reject::TcpHeader);
            }
            Ok(L4 {
                src_port: be16(l4, 0),
                dst_port: be16(l4, 2),
                tcp_flags: l4[13],
            })
        }
        IPPROTO_UDP => Ok(L4 {
            src_port: be16(l4, 0),
            dst_port: be16(l4, 2),
            tcp_flags: 0,
        }),
        // GRE_VERSION is the low three bits of the flags/version word.
        _ if l4[1] & 0x7 != 0 => Err(Reject::GreVersion),
        _ => Ok(L4::default()),
    }
}

/// Builds the lookup key of a parsed packet.
#[inline(always)]
pub fn flow_key(net: &[u8], ip: &Ip, l4: &L4, iif: u32, encap: &[Encap; ENCAP_MAX]) -> FlowKey {
    let (src, dst) = if ip.l3proto == NFPROTO_IPV6 {
        (&net[8..24], &net[24..40])
    } else {
        (&net[12..16], &net[16..20])
    };
    FlowKey::pack(
        ip.l3proto,
        ip.l4proto,
        src,
        dst,
        (l4.src_port, l4.dst_port),
        iif,
        encap,
    )
}

/// A packet parsed in one go, for callers that already have all header bytes (tests, fuzzing).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Packet {
    /// The network header.
    pub ip: Ip,
    /// The layer 4 header.
    pub l4: L4,
    /// The lookup key for a packet that came in on `iif` with no encapsulation.
    pub key: FlowKey,
}

/// Parses an IPv4 (`l3proto` [`NFPROTO_IPV4`]) or IPv6 packet whose bytes are all in `net`.
pub fn packet(net: &[u8], l3proto: u8, iif: u32) -> Result<Packet, Reject> {
    let ip = match l3proto {
        NFPROTO_IPV4 => ipv4(net, net.len())?,
        NFPROTO_IPV6 => ipv6(net, net.len())?,
        _ => return Err(Reject::Version),
    };
    let l4 = l4(net.get(ip.thoff..).ok_or(Reject::Truncated)?, ip.l4proto)?;
    let key = flow_key(net, &ip, &l4, iif, &[Encap::default(); ENCAP_MAX]);
    Ok(Packet { ip, l4, key })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::csum::ipv4_header_checksum;
    use crate::tuple::{addr_v4, Tuple};
    use std::vec::Vec;

    /// Builds an IPv4 packet with a valid header checksum and `payload` bytes after the
    /// layer 4 header.
    pub(crate) fn v4_packet(proto: u8, sport: u16, dport: u16, payload: usize) -> Vec<u8> {
        let l4len = match proto {
            IPPROTO_TCP => TCP_HLEN,
            IPPROTO_UDP => UDP_HLEN,
            _ => GRE_HLEN,
        };
        let tot = IPV4_HLEN + l4len + payload;
        let mut p = std::vec![0u8; tot];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(tot as u16).to_be_bytes());
        p[6] = 0x40; // DF
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&[10, 0, 1, 99]);
        p[16..20].copy_from_slice(&[10, 0, 2, 99]);
        let c = ipv4_header_checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_ne_bytes());
        if proto != IPPROTO_GRE {
            p[20..22].copy_from_slice(&sport.to_be_bytes());
            p[22..24].copy_from_slice(&dport.to_be_bytes());
        }
        if proto == IPPROTO_TCP {
            p[32] = 5 << 4;
            p[33] = 0x10; // ACK
        }
        if proto == IPPROTO_UDP {
            p[24..26].copy_from_slice(&((l4len + payload) as u16).to_be_bytes());
        }
        p
    }

    fn fix_v4_csum(p: &mut [u8]) {
        p[10] = 0;
        p[11] = 0;
        let c = ipv4_header_checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_ne_bytes());
    }

    pub(crate) fn v6_packet(proto: u8, sport: u16, dport: u16, payload: usize) -> Vec<u8> {
        let l4len = if proto == IPPROTO_TCP {
            TCP_HLEN
        } else {
            UDP_HLEN
        };
        let mut p = std::vec![0u8; IPV6_HLEN + l4len + payload];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((l4len + payload) as u16).to_be_bytes());
        p[6] = proto;
        p[7] = 64;
        p[8..24].copy_from_slice(&[0xde, 0xad, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99]);
        p[24..40].copy_from_slice(&[0xde, 0xad, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99]);
        p[40..42].copy_from_slice(&sport.to_be_bytes());
        p[42..44].copy_from_slice(&dport.to_be_bytes());
        if proto == IPPROTO_TCP {
            p[52] = 5 << 4;
        }
        p
    }

    #[test]
    fn ipv4_tcp_key_matches_tuple_key() {
        let p = v4_packet(IPPROTO_TCP, 40000, 12345, 100);
        let pk = packet(&p, NFPROTO_IPV4, 7).unwrap();
        let t = Tuple {
            src: addr_v4([10, 0, 1, 99]),
            dst: addr_v4([10, 0, 2, 99]),
            src_port: 40000,
            dst_port: 12345,
            iif: 7,
            l3proto: NFPROTO_IPV4,
            l4proto: IPPROTO_TCP,
            ..Default::default()
        };
        assert_eq!(pk.key, t.key());
        assert_eq!(pk.ip.thoff, 20);
        assert_eq!(pk.l4.tcp_flags, 0x10);
    }

    #[test]
    fn ipv6_udp_key_matches_tuple_key() {
        let p = v6_packet(IPPROTO_UDP, 5353, 53, 30);
        let pk = packet(&p, NFPROTO_IPV6, 4).unwrap();
        let mut t = Tuple {
            src_port: 5353,
            dst_port: 53,
            iif: 4,
            l3proto: NFPROTO_IPV6,
            l4proto: IPPROTO_UDP,
            ..Default::default()
        };
        t.src.copy_from_slice(&p[8..24]);
        t.dst.copy_from_slice(&p[24..40]);
        assert_eq!(pk.key, t.key());
    }

    /// Damages a good packet in one way.
    type Corrupt = fn(&mut Vec<u8>);

    #[test]
    fn ipv4_rejections() {
        let good = v4_packet(IPPROTO_UDP, 1, 2, 10);
        assert!(packet(&good, NFPROTO_IPV4, 1).is_ok());

        let cases: [(Corrupt, Reject); 9] = [
            (|p| p.truncate(19), Reject::Truncated),
            (|p| p[0] = 0x65, Reject::Version),
            (|p| p[0] = 0x46, Reject::Options),
            (|p| p[0] = 0x44, Reject::Options),
            (|p| p[6] = 0x20, Reject::Fragment),
            (|p| p[7] = 0x01, Reject::Fragment),
            (|p| p[9] = 1, Reject::Protocol),
            (|p| p[8] = 1, Reject::Ttl),
            (|p| p[3] = p[3].wrapping_add(1), Reject::Length),
        ];
        for (mutate, want) in cases {
            let mut p = good.clone();
            mutate(&mut p);
            if p.len() >= 20 {
                fix_v4_csum(&mut p);
            }
            assert_eq!(packet(&p, NFPROTO_IPV4, 1), Err(want), "{want:?}");
        }

        let mut p = good.clone();
        p[10] ^= 1;
        assert_eq!(packet(&p, NFPROTO_IPV4, 1), Err(Reject::Checksum));

        // Padding after tot_len (Ethernet minimum frame) is fine; a truncated packet is not.
        let mut p = good.clone();
        p.extend_from_slice(&[0; 6]);
        assert!(packet(&p, NFPROTO_IPV4, 1).is_ok());
        let mut p = good.clone();
        p.truncate(good.len() - 1);
        assert_eq!(packet(&p, NFPROTO_IPV4, 1), Err(Reject::Length));
    }

    #[test]
    fn ipv6_rejections() {
        let good = v6_packet(IPPROTO_TCP, 1, 2, 0);
        assert!(packet(&good, NFPROTO_IPV6, 1).is_ok());
        let cases: [(Corrupt, Reject); 6] = [
            (|p| p[0] = 0x40, Reject::Version),
            (|p| p[6] = 0, Reject::Protocol), // hop-by-hop extension header
            (|p| p[7] = 1, Reject::Ttl),
            (|p| p[4..6].copy_from_slice(&[0, 0]), Reject::Length),
            (|p| p[5] += 1, Reject::Length),
            (|p| p[52] = 4 << 4, Reject::TcpHeader),
        ];
        for (mutate, want) in cases {
            let mut p = good.clone();
            mutate(&mut p);
            assert_eq!(packet(&p, NFPROTO_IPV6, 1), Err(want), "{want:?}");
        }
    }

    #[test]
    fn gre_versions() {
        let mut p = v4_packet(IPPROTO_GRE, 0, 0, 8);
        assert_eq!(packet(&p, NFPROTO_IPV4, 1).unwrap().l4, L4::default());
        p[21] = 1; // GRE version 1 (PPTP)
        assert_eq!(packet(&p, NFPROTO_IPV4, 1), Err(Reject::GreVersion));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>, v6: bool) {
            let _ = packet(&bytes, if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 }, 1);
            let _ = ipv4(&bytes, bytes.len().saturating_mul(2));
            let _ = l4(&bytes, IPPROTO_TCP);
        }
    }
}
