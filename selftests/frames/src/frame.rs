// SPDX-License-Identifier: GPL-2.0

//! Flows, and the valid base frames built from them: Ethernet, IPv4 or IPv6, UDP or TCP, and a
//! payload that starts with the marker (magic and frame id, both big-endian).

use crate::csum;
use crate::prng::Rng;
use std::net::IpAddr;

/// Length of the Ethernet header.
pub const ETH_HLEN: usize = 14;
/// Ethertypes.
pub const ETH_P_IP: u16 = 0x0800;
/// IPv6 ethertype.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// 802.1Q VLAN tag.
pub const ETH_P_8021Q: u16 = 0x8100;
/// 802.1AD service tag.
pub const ETH_P_8021AD: u16 = 0x88a8;
/// PPPoE session stage.
pub const ETH_P_PPP_SES: u16 = 0x8864;
/// PPP protocol numbers of IPv4 and IPv6.
pub const PPP_IP: u16 = 0x0021;
/// PPP protocol number of IPv6.
pub const PPP_IPV6: u16 = 0x0057;
/// IP protocol numbers.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IPv6 fragment extension header.
pub const IPPROTO_FRAGMENT: u8 = 44;
/// Header lengths.
pub const IPV4_HLEN: usize = 20;
/// Fixed IPv6 header.
pub const IPV6_HLEN: usize = 40;
/// TCP header without options.
pub const TCP_HLEN: usize = 20;
/// UDP header.
pub const UDP_HLEN: usize = 8;
/// Magic and frame id.
pub const MARKER_LEN: usize = 8;
/// Most filler bytes after the marker.
pub const MAX_EXTRA: usize = 200;
/// TCP flags of the valid base frame: ACK|PSH.
pub const TCP_ACK_PSH: u8 = 0x18;

/// Layer 4 protocol of a flow.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Proto {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

/// A base flow the frames are derived from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Flow {
    /// Layer 4 protocol.
    pub proto: Proto,
    /// Source address.
    pub src: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination address (same family as `src`).
    pub dst: IpAddr,
    /// Destination port.
    pub dport: u16,
    /// TCP sequence number.
    pub seq: u32,
    /// TCP acknowledgement number.
    pub ack: u32,
}

impl Flow {
    /// Parses `udp,SRC,SPORT,DST,DPORT` or `tcp,SRC,SPORT,DST,DPORT[,SEQ,ACK]`.
    pub fn parse(spec: &str) -> Result<Flow, String> {
        let f: Vec<&str> = spec.split(',').map(str::trim).collect();
        let bad = |what: &str| format!("--flow {spec:?}: {what}");
        let proto = match f.first().copied() {
            Some("udp") => Proto::Udp,
            Some("tcp") => Proto::Tcp,
            _ => return Err(bad("must start with udp or tcp")),
        };
        let max_fields = if proto == Proto::Tcp { 7 } else { 5 };
        if f.len() != 5 && f.len() != max_fields {
            return Err(bad(
                "expected PROTO,SRC,SPORT,DST,DPORT (and SEQ,ACK for tcp)",
            ));
        }
        let addr = |s: &str| {
            s.parse::<IpAddr>()
                .map_err(|_| bad(&format!("bad address {s:?}")))
        };
        let port = |s: &str| {
            s.parse::<u16>()
                .map_err(|_| bad(&format!("bad port {s:?}")))
        };
        let num = |s: &str| crate::parse_u32(s).map_err(|e| bad(&e));
        let (src, dst) = (addr(f[1])?, addr(f[3])?);
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(bad("source and destination are of different families"));
        }
        let (seq, ack) = if f.len() == 7 {
            (num(f[5])?, num(f[6])?)
        } else {
            (1, 1)
        };
        Ok(Flow {
            proto,
            src,
            sport: port(f[2])?,
            dst,
            dport: port(f[4])?,
            seq,
            ack,
        })
    }

    /// Whether the flow is IPv6.
    pub fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// IP protocol number.
    pub fn ipproto(&self) -> u8 {
        match self.proto {
            Proto::Udp => IPPROTO_UDP,
            Proto::Tcp => IPPROTO_TCP,
        }
    }
}

fn addr_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Where the headers of a frame are, as built (mutations move them along when they insert
/// bytes, but do not re-parse what they damaged).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Layout {
    /// Offset of the IP header.
    pub l3: usize,
    /// IPv6 rather than IPv4.
    pub v6: bool,
    /// Length of the IPv4 header with options, 40 for IPv6.
    pub ip_hlen: usize,
    /// Offset of the layer 4 header (after IPv6 extension headers).
    pub l4: usize,
    /// Layer 4 protocol number.
    pub proto: u8,
    /// Offset of the payload, which starts with the marker.
    pub payload: usize,
}

impl Layout {
    /// Accounts for `n` bytes inserted at offset `at`.
    pub fn shift(&mut self, at: usize, n: usize) {
        for off in [&mut self.l3, &mut self.l4, &mut self.payload] {
            if *off >= at {
                *off += n;
            }
        }
    }

    /// Offset of the layer 4 checksum field.
    pub fn l4_csum(&self) -> usize {
        self.l4 + if self.proto == IPPROTO_TCP { 16 } else { 6 }
    }

    fn addrs<'a>(&self, buf: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        let (at, n) = if self.v6 { (8, 16) } else { (12, 4) };
        let s = buf.get(self.l3 + at..self.l3 + at + n)?;
        let d = buf.get(self.l3 + at + n..self.l3 + at + 2 * n)?;
        Some((s, d))
    }
}

pub(crate) fn put16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

pub(crate) fn get16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Recomputes the IPv4 header checksum over `hlen` bytes (or what the frame holds of them).
pub fn fix_ipv4_csum_over(buf: &mut [u8], l3: usize, hlen: usize) {
    if buf.len() < l3 + 12 {
        return;
    }
    let end = (l3 + hlen).min(buf.len());
    put16(buf, l3 + 10, 0);
    let c = csum::checksum(&buf[l3..end]);
    put16(buf, l3 + 10, c);
}

/// Recomputes the IPv4 header checksum (nothing for IPv6).
pub fn fix_ip_csum(buf: &mut [u8], lay: &Layout) {
    if !lay.v6 {
        fix_ipv4_csum_over(buf, lay.l3, lay.ip_hlen);
    }
}

/// The layer 4 checksum of the bytes from the layer 4 header to the end of the frame, with the
/// checksum field taken as zero.
pub fn l4_csum_value(buf: &[u8], lay: &Layout) -> Option<u16> {
    let at = lay.l4_csum();
    if buf.len() < at + 2 {
        return None;
    }
    let (s, d) = lay.addrs(buf)?;
    let len = buf.len() - lay.l4;
    let mut sum = csum::pseudo(s, d, lay.proto, len);
    sum = csum::add(sum, &buf[lay.l4..at]);
    sum = csum::add(sum, &buf[at + 2..]);
    // The field is at an even offset from the layer 4 header: the words after it keep their
    // alignment when it is skipped.
    let c = csum::finish(sum);
    Some(if c == 0 && lay.proto == IPPROTO_UDP {
        0xffff
    } else {
        c
    })
}

/// Recomputes the UDP/TCP checksum over the bytes present.
pub fn fix_l4_csum(buf: &mut [u8], lay: &Layout) {
    if let Some(c) = l4_csum_value(buf, lay) {
        let at = lay.l4_csum();
        put16(buf, at, c);
    }
}

/// Sets the IP and UDP length fields to what the frame holds.
pub fn fix_lengths(buf: &mut [u8], lay: &Layout) {
    let len = buf.len();
    if lay.v6 {
        if len >= lay.l3 + 6 {
            put16(
                buf,
                lay.l3 + 4,
                len.saturating_sub(lay.l3 + IPV6_HLEN) as u16,
            );
        }
    } else if len >= lay.l3 + 4 {
        put16(buf, lay.l3 + 2, (len - lay.l3) as u16);
    }
    if lay.proto == IPPROTO_UDP && len >= lay.l4 + 6 {
        put16(buf, lay.l4 + 4, (len - lay.l4) as u16);
    }
}

/// Addresses of the frames.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Macs {
    /// Destination MAC address.
    pub dst: [u8; 6],
    /// Source MAC address.
    pub src: [u8; 6],
}

/// Builds into `buf` the valid frame of `flow` carrying the marker of `id` and `extra` filler
/// bytes, with correct checksums.
pub fn build(
    buf: &mut Vec<u8>,
    flow: &Flow,
    macs: &Macs,
    magic: u32,
    id: u32,
    extra: usize,
    rng: &mut Rng,
) -> Layout {
    buf.clear();
    buf.extend_from_slice(&macs.dst);
    buf.extend_from_slice(&macs.src);
    let v6 = flow.is_v6();
    buf.extend_from_slice(&if v6 { ETH_P_IPV6 } else { ETH_P_IP }.to_be_bytes());
    let l3 = buf.len();
    let proto = flow.ipproto();
    let l4_hlen = if proto == IPPROTO_TCP {
        TCP_HLEN
    } else {
        UDP_HLEN
    };
    let l4_len = l4_hlen + MARKER_LEN + extra;
    let (src, dst) = (addr_bytes(&flow.src), addr_bytes(&flow.dst));
    let ip_hlen = if v6 {
        buf.extend_from_slice(&[0x60, 0, 0, 0]);
        buf.extend_from_slice(&(l4_len as u16).to_be_bytes());
        buf.extend_from_slice(&[proto, 64]);
        IPV6_HLEN
    } else {
        buf.extend_from_slice(&[0x45, 0]);
        buf.extend_from_slice(&((IPV4_HLEN + l4_len) as u16).to_be_bytes());
        buf.extend_from_slice(&(id as u16).to_be_bytes());
        buf.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]); // DF, TTL 64
        IPV4_HLEN
    };
    buf.extend_from_slice(&src);
    buf.extend_from_slice(&dst);
    let l4 = buf.len();
    buf.extend_from_slice(&flow.sport.to_be_bytes());
    buf.extend_from_slice(&flow.dport.to_be_bytes());
    if proto == IPPROTO_TCP {
        buf.extend_from_slice(&flow.seq.to_be_bytes());
        buf.extend_from_slice(&flow.ack.to_be_bytes());
        buf.extend_from_slice(&[5 << 4, TCP_ACK_PSH, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        buf.extend_from_slice(&(l4_len as u16).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
    }
    let payload = buf.len();
    buf.extend_from_slice(&magic.to_be_bytes());
    buf.extend_from_slice(&id.to_be_bytes());
    let start = buf.len();
    buf.resize(start + extra, 0);
    rng.fill(&mut buf[start..]);
    let lay = Layout {
        l3,
        v6,
        ip_hlen,
        l4,
        proto,
        payload,
    };
    fix_ip_csum(buf, &lay);
    fix_l4_csum(buf, &lay);
    lay
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const MACS: Macs = Macs {
        dst: [2, 0, 0, 0, 0, 1],
        src: [2, 0, 0, 0, 0, 2],
    };

    pub(crate) fn flows() -> Vec<Flow> {
        [
            "udp,10.0.1.99,7000,10.0.2.99,7000",
            "tcp,10.0.1.99,40000,10.0.2.99,7001,1000,2000",
            "udp,dead:1::99,7000,dead:2::99,7000",
            "tcp,dead:1::99,40000,dead:2::99,7001",
        ]
        .iter()
        .map(|s| Flow::parse(s).expect("flow"))
        .collect()
    }

    /// Verifies the L4 checksum by summing over everything, the checksum included.
    pub(crate) fn l4_ok(buf: &[u8], lay: &Layout) -> bool {
        let (s, d) = lay.addrs(buf).expect("addresses");
        let sum = csum::pseudo(s, d, lay.proto, buf.len() - lay.l4);
        csum::finish(csum::add(sum, &buf[lay.l4..])) == 0
    }

    #[test]
    fn flow_parsing() {
        let f = Flow::parse("tcp,10.0.1.99,40000,10.0.2.99,7001,5,0x10").expect("tcp");
        assert_eq!(
            (f.proto, f.sport, f.dport, f.seq, f.ack),
            (Proto::Tcp, 40000, 7001, 5, 16)
        );
        let f = Flow::parse("udp,dead:1::99,7000,dead:2::99,7001").expect("udp6");
        assert!(f.is_v6());
        assert_eq!(f.ipproto(), IPPROTO_UDP);
        for bad in [
            "",
            "icmp,1.2.3.4,1,1.2.3.5,2",
            "udp,1.2.3.4,1,1.2.3.5",
            "udp,1.2.3.4,1,1.2.3.5,2,3,4",
            "udp,1.2.3.4,70000,1.2.3.5,2",
            "udp,1.2.3.4,1,dead::1,2",
            "tcp,1.2.3.4,1,1.2.3.5,2,3",
            "tcp,1.2.3.4,1,1.2.3.5,2,x,4",
            "udp,1.2.3.999,1,1.2.3.5,2",
        ] {
            assert!(Flow::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base_frames_are_valid() {
        let mut buf = Vec::new();
        for (i, flow) in flows().iter().enumerate() {
            for extra in [0, 1, 7, MAX_EXTRA] {
                let mut rng = Rng::new(i as u64);
                let lay = build(
                    &mut buf,
                    flow,
                    &MACS,
                    0x5246_4c57,
                    0x0102_0304,
                    extra,
                    &mut rng,
                );
                assert_eq!(&buf[..6], &MACS.dst);
                assert_eq!(&buf[6..12], &MACS.src);
                assert_eq!(lay.l3, ETH_HLEN);
                let l4_hlen = if flow.proto == Proto::Tcp { 20 } else { 8 };
                assert_eq!(lay.payload, lay.l4 + l4_hlen);
                assert_eq!(buf.len(), lay.payload + MARKER_LEN + extra);
                assert_eq!(
                    &buf[lay.payload..lay.payload + 8],
                    &[0x52, 0x46, 0x4c, 0x57, 1, 2, 3, 4]
                );
                if flow.is_v6() {
                    assert_eq!(get16(&buf, 12), ETH_P_IPV6);
                    assert_eq!(buf[lay.l3] >> 4, 6);
                    assert_eq!(buf[lay.l3 + 7], 64);
                    assert_eq!(usize::from(get16(&buf, lay.l3 + 4)), buf.len() - lay.l4);
                } else {
                    assert_eq!(get16(&buf, 12), ETH_P_IP);
                    assert_eq!(buf[lay.l3], 0x45);
                    assert_eq!(buf[lay.l3 + 8], 64);
                    assert_eq!(usize::from(get16(&buf, lay.l3 + 2)), buf.len() - lay.l3);
                    assert_eq!(csum::checksum(&buf[lay.l3..lay.l4]), 0);
                }
                if flow.proto == Proto::Tcp {
                    assert_eq!(buf[lay.l4 + 12], 5 << 4);
                    assert_eq!(buf[lay.l4 + 13], TCP_ACK_PSH);
                } else {
                    assert_eq!(usize::from(get16(&buf, lay.l4 + 4)), buf.len() - lay.l4);
                }
                assert!(l4_ok(&buf, &lay));
            }
        }
        let f = flows()[1];
        build(&mut buf, &f, &MACS, 1, 2, 0, &mut Rng::new(0));
        assert_eq!(&buf[38..46], &[0, 0, 3, 0xe8, 0, 0, 7, 0xd0]);
    }

    #[test]
    fn fixers() {
        let f = flows()[0];
        let mut buf = Vec::new();
        let lay = build(&mut buf, &f, &MACS, 1, 2, 30, &mut Rng::new(0));
        buf.truncate(buf.len() - 5);
        fix_lengths(&mut buf, &lay);
        fix_ip_csum(&mut buf, &lay);
        fix_l4_csum(&mut buf, &lay);
        assert_eq!(usize::from(get16(&buf, lay.l3 + 2)), buf.len() - lay.l3);
        assert_eq!(usize::from(get16(&buf, lay.l4 + 4)), buf.len() - lay.l4);
        assert_eq!(csum::checksum(&buf[lay.l3..lay.l4]), 0);
        assert!(l4_ok(&buf, &lay));
        // Odd lengths: the checksum must still verify.
        buf.truncate(buf.len() - 1);
        fix_lengths(&mut buf, &lay);
        fix_l4_csum(&mut buf, &lay);
        assert!(l4_ok(&buf, &lay));
        let mut lay2 = lay;
        lay2.shift(12, 4);
        assert_eq!((lay2.l3, lay2.l4, lay2.payload), (18, 38, 46));
        lay2.shift(38, 8);
        assert_eq!((lay2.l3, lay2.l4, lay2.payload), (18, 46, 54));
    }
}
