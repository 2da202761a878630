// SPDX-License-Identifier: GPL-2.0

//! Internet checksum arithmetic and the header rewrites of a forwarded packet.
//!
//! The arithmetic mirrors the kernel's generic helpers (`csum_add()`, `csum_fold()`,
//! `csum_replace4()`, `inet_proto_csum_replace{2,4,16}()`, `ip_decrease_ttl()`): values are
//! 16/32-bit words read in memory order (`from_ne_bytes`), exactly as C treats `__be` values, so
//! the results are bit-identical to what the C flowtable writes.
//!
//! Two checksum states of the skb matter here (`skb->ip_summed`): `CHECKSUM_PARTIAL`, where the
//! layer 4 checksum field holds only the pseudo-header sum and the device finishes the job, and
//! everything else, where the field holds the full checksum. `CHECKSUM_COMPLETE` must be dropped
//! by the caller before rewriting (as `skb_forward_csum()` does on the classic path), because
//! `skb->csum` would not follow the rewrite.

use super::parse::{Ip, IPV4_HLEN, IPV6_HLEN};
use super::tuple::{Addr, Dir, Tuple, IPPROTO_TCP, IPPROTO_UDP, NFPROTO_IPV6};

/// Adds two 32-bit partial checksums with end-around carry (`csum_add()`).
#[inline(always)]
pub fn add(a: u32, b: u32) -> u32 {
    let (r, carry) = a.overflowing_add(b);
    r.wrapping_add(u32::from(carry))
}

/// Subtracts a 32-bit partial checksum (`csum_sub()`).
#[inline(always)]
pub fn sub(a: u32, b: u32) -> u32 {
    add(a, !b)
}

/// Folds a 32-bit partial checksum to 16 bits and inverts it (`csum_fold()`).
#[inline(always)]
pub fn fold(sum: u32) -> u16 {
    ((!sum).wrapping_sub(sum.rotate_right(16)) >> 16) as u16
}

/// Sums 32-bit words onto a partial checksum (`csum_partial()` over aligned words).
#[inline(always)]
pub fn partial_words(words: &[u32], init: u32) -> u32 {
    words.iter().fold(init, |s, w| add(s, *w))
}

#[inline(always)]
fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

#[inline(always)]
fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Computes the checksum field value of an IPv4 header whose checksum field is zero.
pub fn ipv4_header_checksum(hdr: &[u8]) -> u16 {
    let mut sum = 0u32;
    let mut i = 0;
    while i + 4 <= hdr.len() {
        sum = add(sum, get32(hdr, i));
        i += 4;
    }
    fold(sum)
}

/// Returns whether an IPv4 header (checksum field included) sums to zero, as `ip_rcv()` checks.
///
/// The fast path calls this on every IPv4 packet, always on a 20-byte header: that size takes
/// [`sum_ipv4_20`], five loads and adds without the general loop, whose index arithmetic and
/// bounds checks made it 186 instructions per packet in the kernel (bench/stages.sh).
#[inline(always)]
pub fn ipv4_header_valid(hdr: &[u8]) -> bool {
    match <&[u8; IPV4_HLEN]>::try_from(hdr) {
        Ok(h) => fold(sum_ipv4_20(h)) == 0,
        Err(_) => ipv4_header_checksum(hdr) == 0,
    }
}

/// The one's complement sum of a 20-byte IPv4 header as a 32-bit partial checksum, equal to
/// adding its five words with [`add`]: a 64-bit sum of the words, then its upper half folded
/// in twice with end-around carry (a non-zero multiple of 0xffffffff stays 0xffffffff, as with
/// [`add`]).
#[inline(always)]
fn sum_ipv4_20(h: &[u8; IPV4_HLEN]) -> u32 {
    let word = |at: usize| u64::from(u32::from_ne_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]));
    let sum = word(0)
        .wrapping_add(word(4))
        .wrapping_add(word(8))
        .wrapping_add(word(12))
        .wrapping_add(word(16));
    let sum = (sum & 0xffff_ffff).wrapping_add(sum >> 32);
    ((sum & 0xffff_ffff).wrapping_add(sum >> 32)) as u32
}

/// `csum_replace4()`: updates a full checksum for a 32-bit word changing from `from` to `to`.
#[inline(always)]
fn replace4(check: u16, from: u32, to: u32) -> u16 {
    fold(add(sub(!u32::from(check), from), to))
}

/// `inet_proto_csum_replace4()` on a layer 4 checksum, minus the `CHECKSUM_COMPLETE` part.
#[inline(always)]
fn proto_replace4(check: u16, from: u32, to: u32, pseudohdr: bool, partial: bool) -> u16 {
    if !partial {
        replace4(check, from, to)
    } else if pseudohdr {
        !fold(add(sub(u32::from(check), from), to))
    } else {
        check
    }
}

/// `inet_proto_csum_replace16()`.
#[inline(always)]
fn proto_replace16(check: u16, from: &[u8], to: &[u8], partial: bool) -> u16 {
    let mut diff = [0u32; 8];
    for i in 0..4 {
        diff[i] = !get32(from, i * 4);
        diff[i + 4] = get32(to, i * 4);
    }
    if !partial {
        fold(partial_words(&diff, !u32::from(check)))
    } else {
        !fold(partial_words(&diff, u32::from(check)))
    }
}

/// The new source and destination a NAT'ed flow direction writes into its packets.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Rewrite {
    /// New source address and port (host order), if the source changes.
    pub src: Option<(Addr, u16)>,
    /// New destination address and port (host order), if the destination changes.
    pub dst: Option<(Addr, u16)>,
}

impl Rewrite {
    /// Derives the rewrite of direction `dir` from the conntrack tuples of both directions.
    ///
    /// Same values as `nf_flow_snat_ip()`, `nf_flow_dnat_ip()`, `nf_flow_snat_port()` and
    /// `nf_flow_dnat_port()` take from the opposite direction's tuple.
    pub fn for_dir(dir: Dir, orig: &Tuple, reply: &Tuple, snat: bool, dnat: bool) -> Rewrite {
        let mut rw = Rewrite::default();
        match dir {
            Dir::Original => {
                if snat {
                    rw.src = Some((reply.dst, reply.dst_port));
                }
                if dnat {
                    rw.dst = Some((reply.src, reply.src_port));
                }
            }
            Dir::Reply => {
                if snat {
                    rw.dst = Some((orig.src, orig.src_port));
                }
                if dnat {
                    rw.src = Some((orig.dst, orig.dst_port));
                }
            }
        }
        rw
    }

    /// Returns whether the rewrite changes nothing.
    pub fn is_empty(&self) -> bool {
        self.src.is_none() && self.dst.is_none()
    }
}

/// Where the layer 4 checksum lives, if the protocol has one this module maintains.
fn l4_check_offset(l4proto: u8) -> Option<usize> {
    match l4proto {
        IPPROTO_TCP => Some(16),
        IPPROTO_UDP => Some(6),
        _ => None,
    }
}

/// Updates the layer 4 checksum at `at` with `update`, honouring UDP's "zero means none".
#[inline(always)]
fn update_l4_check(
    net: &mut [u8],
    l4proto: u8,
    at: usize,
    partial: bool,
    update: impl FnOnce(u16) -> u16,
) {
    let check = get16(net, at);
    if l4proto == IPPROTO_UDP {
        if check == 0 && !partial {
            return;
        }
        let new = update(check);
        // `CSUM_MANGLED_0`: a computed zero must not read as "no checksum".
        put16(net, at, if new == 0 { 0xffff } else { new });
    } else {
        put16(net, at, update(check));
    }
}

/// Rewrites one port (at `port_at`) and fixes the layer 4 checksum.
#[inline(always)]
fn rewrite_port(net: &mut [u8], ip: &Ip, port_at: usize, port: u16, partial: bool) {
    let Some(check_off) = l4_check_offset(ip.l4proto) else {
        return;
    };
    let old = get16(net, port_at);
    let new = port.to_be();
    if old == new {
        return;
    }
    put16(net, port_at, new);
    update_l4_check(net, ip.l4proto, ip.thoff + check_off, partial, |c| {
        proto_replace4(c, u32::from(old), u32::from(new), false, partial)
    });
}

/// Rewrites one IPv4 address (at `addr_at`) and fixes both checksums.
#[inline(always)]
fn rewrite_v4_addr(net: &mut [u8], ip: &Ip, addr_at: usize, addr: &Addr, partial: bool) {
    let old = get32(net, addr_at);
    let new = u32::from_ne_bytes([addr[0], addr[1], addr[2], addr[3]]);
    if old == new {
        return;
    }
    net[addr_at..addr_at + 4].copy_from_slice(&addr[..4]);
    put16(net, 10, replace4(get16(net, 10), old, new));
    if let Some(check_off) = l4_check_offset(ip.l4proto) {
        update_l4_check(net, ip.l4proto, ip.thoff + check_off, partial, |c| {
            proto_replace4(c, old, new, true, partial)
        });
    }
}

/// Rewrites one IPv6 address (at `addr_at`) and fixes the layer 4 checksum.
#[inline(always)]
fn rewrite_v6_addr(net: &mut [u8], ip: &Ip, addr_at: usize, addr: &Addr, partial: bool) {
    let mut old = [0u8; 16];
    old.copy_from_slice(&net[addr_at..addr_at + 16]);
    if old == *addr {
        return;
    }
    net[addr_at..addr_at + 16].copy_from_slice(addr);
    if let Some(check_off) = l4_check_offset(ip.l4proto) {
        update_l4_check(net, ip.l4proto, ip.thoff + check_off, partial, |c| {
            proto_replace16(c, &old, addr, partial)
        });
    }
}

/// Decrements the IPv4 TTL and patches the header checksum (`ip_decrease_ttl()`).
#[inline(always)]
pub fn ipv4_decrease_ttl(net: &mut [u8]) {
    let check = u32::from(get16(net, 10)) + u32::from(0x0100u16.to_be());
    put16(net, 10, (check + u32::from(check >= 0xffff)) as u16);
    net[8] = net[8].wrapping_sub(1);
}

/// Error of [`forward`]: the buffer does not hold the headers `ip` describes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Truncated;

/// Applies what forwarding a packet of a flow direction does to its headers: NAT (`rw`) with
/// incremental checksum updates, then the TTL or hop limit decrement.
///
/// `net` starts at the network header and holds at least the IP and layer 4 headers that the
/// parser validated into `ip`; `partial` is whether the skb is `CHECKSUM_PARTIAL`.
#[inline(always)]
pub fn forward(net: &mut [u8], ip: &Ip, rw: &Rewrite, partial: bool) -> Result<(), Truncated> {
    let v6 = ip.l3proto == NFPROTO_IPV6;
    let min_thoff = if v6 { IPV6_HLEN } else { IPV4_HLEN };
    if ip.thoff < min_thoff || net.len() < ip.thoff + ip.l4_hlen {
        return Err(Truncated);
    }
    let ports = l4_check_offset(ip.l4proto).is_some();
    if let Some((addr, port)) = rw.src {
        if ports {
            rewrite_port(net, ip, ip.thoff, port, partial);
        }
        if v6 {
            rewrite_v6_addr(net, ip, 8, &addr, partial);
        } else {
            rewrite_v4_addr(net, ip, 12, &addr, partial);
        }
    }
    if let Some((addr, port)) = rw.dst {
        if ports {
            rewrite_port(net, ip, ip.thoff + 2, port, partial);
        }
        if v6 {
            rewrite_v6_addr(net, ip, 24, &addr, partial);
        } else {
            rewrite_v4_addr(net, ip, 16, &addr, partial);
        }
    }
    if v6 {
        net[7] = net[7].wrapping_sub(1);
    } else {
        ipv4_decrease_ttl(net);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The 20-byte fast case agrees with the general loop, on edge cases (all zeros, all ones,
    /// sums that are multiples of 0xffffffff) and on pseudo-random headers, with and without
    /// their checksum filled in.
    #[test]
    fn ipv4_header_sum_20_matches_general_sum() {
        let mut valid = 0;
        let mut check = |h: &[u8; IPV4_HLEN]| {
            let general = (0..5).fold(0u32, |s, i| add(s, get32(&h[..], i * 4)));
            assert_eq!(sum_ipv4_20(h), general, "{h:02x?}");
            let fast = ipv4_header_valid(&h[..]);
            assert_eq!(fast, ipv4_header_checksum(&h[..]) == 0, "{h:02x?}");
            valid += usize::from(fast);
        };
        check(&[0; IPV4_HLEN]);
        check(&[0xff; IPV4_HLEN]);
        let mut one_word = [0u8; IPV4_HLEN];
        one_word[..4].copy_from_slice(&[0xff; 4]);
        check(&one_word);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..100_000 {
            let mut h = [0u8; IPV4_HLEN];
            for b in h.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = (x >> 24) as u8;
            }
            check(&h);
            h[10] = 0;
            h[11] = 0;
            let c = ipv4_header_checksum(&h).to_ne_bytes();
            h[10] = c[0];
            h[11] = c[1];
            check(&h);
        }
        assert!(valid >= 100_000, "{valid} valid headers");
    }

    use super::*;
    use crate::parse;
    use crate::parse::tests::{v4_packet, v6_packet};
    use crate::tuple::{addr_v4, NFPROTO_IPV4, NFPROTO_IPV6};
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Straightforward one's complement sum of 16-bit big-endian words (RFC 1071).
    fn ones_sum(data: &[u8], mut acc: u64) -> u64 {
        for chunk in data.chunks(2) {
            let w = if chunk.len() == 2 {
                u16::from_be_bytes([chunk[0], chunk[1]])
            } else {
                u16::from_be_bytes([chunk[0], 0])
            };
            acc += u64::from(w);
        }
        acc
    }

    fn fold64(mut s: u64) -> u16 {
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    fn pseudo_sum(net: &[u8], v6: bool, proto: u8, l4len: usize) -> u64 {
        let mut acc = 0u64;
        if v6 {
            acc = ones_sum(&net[8..40], acc);
        } else {
            acc = ones_sum(&net[12..20], acc);
        }
        acc + u64::from(proto) + l4len as u64
    }

    /// Whether a receiver verifying the layer 4 checksum from scratch accepts the packet.
    fn l4_valid(net: &[u8], v6: bool, proto: u8, thoff: usize) -> bool {
        let l4 = &net[thoff..];
        fold64(ones_sum(l4, pseudo_sum(net, v6, proto, l4.len()))) == 0xffff
    }

    /// Writes a correct full checksum into the layer 4 header.
    fn set_full_l4(net: &mut [u8], v6: bool, proto: u8, thoff: usize) {
        let at = thoff + l4_check_offset(proto).unwrap();
        net[at] = 0;
        net[at + 1] = 0;
        let s = !fold64(ones_sum(
            &net[thoff..],
            pseudo_sum(net, v6, proto, net.len() - thoff),
        ));
        let s = if s == 0 && proto == IPPROTO_UDP {
            0xffff
        } else {
            s
        };
        net[at..at + 2].copy_from_slice(&s.to_be_bytes());
    }

    /// Writes the `CHECKSUM_PARTIAL` pseudo-header seed into the layer 4 header.
    fn set_partial_l4(net: &mut [u8], v6: bool, proto: u8, thoff: usize) {
        let at = thoff + l4_check_offset(proto).unwrap();
        let s = fold64(pseudo_sum(net, v6, proto, net.len() - thoff));
        net[at..at + 2].copy_from_slice(&s.to_be_bytes());
    }

    fn same_ones_complement(a: u16, b: u16) -> bool {
        a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0)
    }

    #[test]
    fn fold_and_add_match_the_kernel_formulas() {
        assert_eq!(add(0xffff_ffff, 1), 1);
        assert_eq!(fold(0), 0xffff);
        assert_eq!(fold(0xffff), 0);
        // ip_fast_csum of a well-known header (RFC 1071 style example).
        let hdr = [
            0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8,
            0, 0xc7,
        ];
        assert!(ipv4_header_valid(&hdr));
    }

    #[test]
    fn ttl_decrement_keeps_header_valid() {
        let mut p = v4_packet(IPPROTO_UDP, 1, 2, 0);
        for _ in 0..63 {
            ipv4_decrease_ttl(&mut p);
            assert!(ipv4_header_valid(&p[..IPV4_HLEN]));
        }
        assert_eq!(p[8], 1);
    }

    #[test]
    fn nat_rewrite_directions_mirror_conntrack() {
        // ns1 10.0.1.99:40000 -> 10.6.6.6:1666, DNAT to 10.0.2.99:12345, masquerade to
        // 192.168.10.1:40000: the reply tuple is 10.0.2.99:12345 -> 192.168.10.1:40000.
        let orig = Tuple {
            src: addr_v4([10, 0, 1, 99]),
            dst: addr_v4([10, 6, 6, 6]),
            src_port: 40000,
            dst_port: 1666,
            ..Default::default()
        };
        let reply = Tuple {
            src: addr_v4([10, 0, 2, 99]),
            dst: addr_v4([192, 168, 10, 1]),
            src_port: 12345,
            dst_port: 40000,
            ..Default::default()
        };
        let o = Rewrite::for_dir(Dir::Original, &orig, &reply, true, true);
        assert_eq!(o.src, Some((addr_v4([192, 168, 10, 1]), 40000)));
        assert_eq!(o.dst, Some((addr_v4([10, 0, 2, 99]), 12345)));
        let r = Rewrite::for_dir(Dir::Reply, &orig, &reply, true, true);
        assert_eq!(r.src, Some((addr_v4([10, 6, 6, 6]), 1666)));
        assert_eq!(r.dst, Some((addr_v4([10, 0, 1, 99]), 40000)));
        assert!(Rewrite::for_dir(Dir::Reply, &orig, &reply, false, false).is_empty());
    }

    #[test]
    fn udp_checksum_computed_as_zero_is_sent_as_ffff() {
        let mut p = v4_packet(IPPROTO_UDP, 1000, 53, 4);
        set_full_l4(&mut p, false, IPPROTO_UDP, 20);
        let check = get16(&p, 26);
        let old = get16(&p, 20);
        // The one source port that makes the incrementally updated checksum exactly zero.
        let port = (0..=u16::MAX)
            .find(|port| replace4(check, u32::from(old), u32::from(port.to_be())) == 0)
            .unwrap();
        let ip = parse::packet(&p, NFPROTO_IPV4, 1).unwrap().ip;
        let rw = Rewrite {
            src: Some((addr_v4([10, 0, 1, 99]), port)),
            dst: None,
        };
        forward(&mut p, &ip, &rw, false).unwrap();
        assert_eq!(get16(&p, 26), 0xffff);
        assert!(l4_valid(&p, false, IPPROTO_UDP, 20));
    }

    fn rewrite_strategy() -> impl Strategy<Value = Rewrite> {
        let ep = proptest::option::of((any::<[u8; 16]>(), any::<u16>()));
        (ep.clone(), ep).prop_map(|(src, dst)| Rewrite { src, dst })
    }

    fn check_rewrite(mut p: Vec<u8>, v6: bool, proto: u8, rw: Rewrite, partial: bool, udp0: bool) {
        let l3 = if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 };
        let thoff = if v6 { 40 } else { 20 };
        let check_at = thoff + l4_check_offset(proto).unwrap();
        if partial {
            set_partial_l4(&mut p, v6, proto, thoff);
        } else if udp0 {
            p[check_at] = 0;
            p[check_at + 1] = 0;
        } else {
            set_full_l4(&mut p, v6, proto, thoff);
        }
        let ip = parse::packet(&p, l3, 1).unwrap().ip;
        let ttl_at = if v6 { 7 } else { 8 };
        let ttl = p[ttl_at];
        forward(&mut p, &ip, &rw, partial).unwrap();

        assert_eq!(p[ttl_at], ttl - 1);
        let n = if v6 { 16 } else { 4 };
        let (sa, da) = if v6 { (8, 24) } else { (12, 16) };
        if let Some((a, port)) = rw.src {
            assert_eq!(&p[sa..sa + n], &a[..n]);
            assert_eq!(&p[thoff..thoff + 2], &port.to_be_bytes());
        }
        if let Some((a, port)) = rw.dst {
            assert_eq!(&p[da..da + n], &a[..n]);
            assert_eq!(&p[thoff + 2..thoff + 4], &port.to_be_bytes());
        }
        if !v6 {
            assert!(ipv4_header_valid(&p[..20]), "IPv4 header checksum");
        }
        let check = u16::from_be_bytes([p[check_at], p[check_at + 1]]);
        if partial {
            let want = fold64(pseudo_sum(&p, v6, proto, p.len() - thoff));
            assert!(
                same_ones_complement(check, want),
                "partial {check:#x} {want:#x}"
            );
        } else if udp0 {
            assert_eq!(check, 0, "UDP without checksum stays without");
        } else {
            assert!(l4_valid(&p, v6, proto, thoff), "layer 4 checksum");
            if proto == IPPROTO_UDP {
                assert_ne!(check, 0);
            }
        }
    }

    proptest! {
        #[test]
        fn v4_rewrites_match_full_recomputation(
            rw in rewrite_strategy(), tcp: bool, partial: bool, udp0: bool,
            sport: u16, dport: u16, payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let proto = if tcp { IPPROTO_TCP } else { IPPROTO_UDP };
            let mut p = v4_packet(proto, sport, dport, payload.len());
            let start = p.len() - payload.len();
            p[start..].copy_from_slice(&payload);
            check_rewrite(p, false, proto, rw, partial, udp0 && !tcp && !partial);
        }

        #[test]
        fn v6_rewrites_match_full_recomputation(
            rw in rewrite_strategy(), tcp: bool, partial: bool, udp0: bool,
            sport: u16, dport: u16, payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let proto = if tcp { IPPROTO_TCP } else { IPPROTO_UDP };
            let mut p = v6_packet(proto, sport, dport, payload.len());
            let start = p.len() - payload.len();
            p[start..].copy_from_slice(&payload);
            check_rewrite(p, true, proto, rw, partial, udp0 && !tcp && !partial);
        }

        #[test]
        fn forward_never_panics_on_short_buffers(len in 0usize..80, v6: bool) {
            let ip = parse::Ip {
                l3proto: if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 },
                l4proto: IPPROTO_TCP,
                thoff: if v6 { 40 } else { 20 },
                l4_hlen: 20,
            };
            let mut buf = std::vec![0x45u8; len];
            let rw = Rewrite { src: Some(([1; 16], 1)), dst: Some(([2; 16], 2)) };
            let _ = forward(&mut buf, &ip, &rw, false);
        }
    }
}
