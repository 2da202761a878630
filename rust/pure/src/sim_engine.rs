// SPDX-License-Identifier: GPL-2.0

//! The forwarding engine of `rflow_sim`, the simulated offload NIC: what its "ASIC" does with a
//! frame, given the flow rules drivers receive through `TC_SETUP_FT`.
//!
//! A rule ([`Match`] and [`Action`]s, as [`super::offload_rule`] builds them and as a driver
//! reads them back from a `flow_rule`) is compiled into an [`Entry`] once, when the driver
//! accepts it; frames are then looked up by their [`HwKey`] and rewritten by [`Entry::apply`].
//! The engine behaves like the hardware drivers such as MediaTek's PPE program, not like the
//! software path: it parses PPPoE and strips it on ingress by itself (rules have no PPPoE pop),
//! decrements the TTL (rules have no TTL action), fixes the IPv4 header checksum, and updates
//! the TCP/UDP checksum only where the rule asks for it (`CSUM` with the TCP/UDP flag) or for
//! IPv6, where C emits no checksum action and leaves it to the hardware. A rule that forgets
//! its checksum action therefore produces frames with wrong checksums, as real pedit hardware
//! would, and the tests that send real traffic through the simulated NIC notice.
//!
//! Frames the hardware cannot handle miss and go to the router's software path: anything the
//! software fast path's parser rejects (options, fragments, bad checksums, TTL about to expire,
//! wrong lengths), TCP FIN or RST (the rule masks them), and encapsulations a rule does not
//! describe.

use super::csum;
use super::l2path::{
    pppoe_header, vlan_header, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, ETH_P_PPP_SES, PPPOE_SES_HLEN,
    VLAN_HLEN,
};
use super::offload_rule::{
    Action, MangleHeader, Match, CSUM_IPV4HDR, CSUM_TCP, CSUM_UDP, TCP_FLAGS_MASK,
};
use super::parse::{self, Reject};
use super::tuple::{Addr, Encap, ENCAP_MAX, IPPROTO_GRE, IPPROTO_TCP, IPPROTO_UDP, NFPROTO_IPV6};

/// Length of an Ethernet header.
pub const ETH_HLEN: usize = 14;
/// Longest layer 2 header the engine writes: Ethernet, then two encapsulations (a PPPoE session
/// header with its PPP protocol field is the longest).
pub const L2_MAX: usize = ETH_HLEN + 2 * PPPOE_SES_HLEN;

/// What the hardware looks a frame up by: the fields of [`Match`] a frame carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct HwKey {
    /// The port the frame came in on (an interface index).
    pub ingress: u32,
    /// The outer and inner 802.1Q VLAN ids (0: none).
    pub vlans: [u16; 2],
    /// The layer 3 ethertype.
    pub n_proto: u16,
    /// The layer 4 protocol.
    pub ip_proto: u8,
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source and destination ports (0 for GRE).
    pub ports: (u16, u16),
}

/// Why a frame is not forwarded by the hardware.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Miss {
    /// Not an IPv4 or IPv6 frame the engine can parse (layer 2).
    Layer2,
    /// The IP or layer 4 headers are not ones the fast path handles.
    Parse(Reject),
    /// TCP FIN or RST: the software path must see them.
    TcpFlags,
    /// No entry for the frame's key.
    NoEntry,
    /// The frame's encapsulations do not fit the entry's pops.
    Encap,
}

/// Why a rule cannot be put in the simulated hardware (the driver answers `-EOPNOTSUPP`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unsupported {
    /// A match the engine does not implement (an 802.1AD tag, a protocol other than TCP, UDP
    /// or GRE).
    Match,
    /// An action, or an action argument, the engine does not implement.
    Action,
    /// No `REDIRECT`: the hardware would not know where to send the frame.
    NoRedirect,
}

/// What an entry does to a frame, compiled from a rule's actions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Entry {
    /// The key frames of this entry carry.
    pub key: HwKey,
    /// Whether TCP FIN/RST must miss.
    tcp_flags: bool,
    /// Ethernet destination and source after the mangles, as masks and values on the 12
    /// address bytes (so that a rule rewriting only some bytes keeps the others).
    eth_mask: [u8; 12],
    eth_val: [u8; 12],
    /// Ingress 802.1Q tags removed.
    vlan_pops: usize,
    /// Encapsulations pushed, outermost first.
    pushes: [Encap; ENCAP_MAX],
    num_pushes: usize,
    /// Network header mangles (masks and values over the first 40 bytes).
    l3_mask: [u8; 40],
    l3_val: [u8; 40],
    /// Layer 4 header mangles (masks and values over the first 4 bytes: the ports).
    l4_mask: [u8; 4],
    l4_val: [u8; 4],
    /// `TCA_CSUM_UPDATE_FLAG_*` of the rule's checksum action.
    csum: u32,
    /// The port the frame leaves by.
    pub egress: u32,
}

/// A forwarded frame: strip `strip` bytes of layer 2 header, put `l2[..l2_len]` in their place,
/// keep `ip_len` bytes after it (dropping Ethernet padding), send it out of `egress`. The
/// network and layer 4 headers were rewritten in place.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Forward {
    /// Bytes of ingress layer 2 header to remove.
    pub strip: usize,
    /// The egress layer 2 header.
    pub l2: [u8; L2_MAX],
    /// Its length.
    pub l2_len: usize,
    /// Length of the IP packet (network header on).
    pub ip_len: usize,
    /// The port to send on.
    pub egress: u32,
}

/// The layer 2 framing of a frame.
struct L2 {
    /// 802.1Q tags, outermost first.
    vlans: [u16; 2],
    num_vlans: usize,
    /// Offset of the network header.
    l3_offset: usize,
    /// The layer 3 ethertype.
    n_proto: u16,
}

fn parse_l2(frame: &[u8]) -> Result<L2, Miss> {
    let ethertype = frame.get(12..ETH_HLEN).ok_or(Miss::Layer2)?;
    let mut proto = u16::from_be_bytes([ethertype[0], ethertype[1]]);
    let mut at = ETH_HLEN;
    let mut l2 = L2 {
        vlans: [0; 2],
        num_vlans: 0,
        l3_offset: 0,
        n_proto: 0,
    };
    let mut pppoe = false;
    loop {
        match proto {
            ETH_P_8021Q if !pppoe && l2.num_vlans < 2 => {
                let (vid, next) =
                    vlan_header(frame.get(at..).ok_or(Miss::Layer2)?).ok_or(Miss::Layer2)?;
                l2.vlans[l2.num_vlans] = vid;
                l2.num_vlans += 1;
                proto = next;
                at += VLAN_HLEN;
            }
            ETH_P_PPP_SES if !pppoe => {
                let (_, next) =
                    pppoe_header(frame.get(at..).ok_or(Miss::Layer2)?).ok_or(Miss::Layer2)?;
                pppoe = true;
                proto = next;
                at += PPPOE_SES_HLEN;
            }
            ETH_P_IP | ETH_P_IPV6 => {
                l2.l3_offset = at;
                l2.n_proto = proto;
                return Ok(l2);
            }
            // Anything else, 802.1AD outer tags included, is for the software path.
            _ => return Err(Miss::Layer2),
        }
    }
}

/// A frame parsed for lookup.
pub struct Parsed {
    /// Its key.
    pub key: HwKey,
    l2: L2,
    ip: parse::Ip,
    tcp_flags: u8,
}

impl Parsed {
    /// Returns the length of the IP packet (network header on) as its header says; the
    /// parser checked that the frame holds that many bytes.
    pub fn ip_len(&self, frame: &[u8]) -> usize {
        let l3 = self.l2.l3_offset;
        let at = |i: usize| frame.get(l3 + i).copied().unwrap_or(0);
        if self.ip.l3proto == NFPROTO_IPV6 {
            parse::IPV6_HLEN + usize::from(u16::from_be_bytes([at(4), at(5)]))
        } else {
            usize::from(u16::from_be_bytes([at(2), at(3)]))
        }
    }
}

/// Parses a frame that came in on port `ingress`, as the hardware's parser would, and validates
/// its headers as the software fast path does.
pub fn parse(frame: &[u8], ingress: u32) -> Result<Parsed, Miss> {
    let l2 = parse_l2(frame)?;
    let net = &frame[l2.l3_offset..];
    let ip = if l2.n_proto == ETH_P_IP {
        parse::ipv4(net, net.len())
    } else {
        parse::ipv6(net, net.len())
    }
    .map_err(Miss::Parse)?;
    let l4 =
        parse::l4(net.get(ip.thoff..).ok_or(Miss::Layer2)?, ip.l4proto).map_err(Miss::Parse)?;
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    if ip.l3proto == NFPROTO_IPV6 {
        src.copy_from_slice(&net[8..24]);
        dst.copy_from_slice(&net[24..40]);
    } else {
        src[..4].copy_from_slice(&net[12..16]);
        dst[..4].copy_from_slice(&net[16..20]);
    }
    Ok(Parsed {
        key: HwKey {
            ingress,
            vlans: l2.vlans,
            n_proto: l2.n_proto,
            ip_proto: ip.l4proto,
            src,
            dst,
            ports: (l4.src_port, l4.dst_port),
        },
        l2,
        ip,
        tcp_flags: l4.tcp_flags,
    })
}

fn apply_mangle(mask: &mut [u8], val: &mut [u8], offset: u32, m: [u8; 4], v: [u8; 4]) -> bool {
    let at = offset as usize;
    let (Some(mask), Some(val)) = (mask.get_mut(at..at + 4), val.get_mut(at..at + 4)) else {
        return false;
    };
    // Composes with the mangles already there: byte = ((byte & m0) ^ v0) & m ^ v.
    for i in 0..4 {
        mask[i] &= m[i];
        val[i] = (val[i] & m[i]) ^ v[i];
    }
    true
}

impl Entry {
    /// Compiles a rule into an entry.
    pub fn compile(matched: &Match, actions: &[Action]) -> Result<Entry, Unsupported> {
        if !matches!(matched.ip_proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_GRE) {
            return Err(Unsupported::Match);
        }
        let v6 = match matched.n_proto {
            ETH_P_IP => false,
            ETH_P_IPV6 => true,
            _ => return Err(Unsupported::Match),
        };
        let mut vlans = [0u16; 2];
        for (slot, tag) in vlans.iter_mut().zip([matched.vlan, matched.cvlan]) {
            if let Some(tag) = tag {
                if tag.tpid != ETH_P_8021Q || tag.vid == 0 {
                    return Err(Unsupported::Match);
                }
                *slot = tag.vid;
            }
        }
        if vlans[0] == 0 && vlans[1] != 0 {
            return Err(Unsupported::Match);
        }
        let mut e = Entry {
            key: HwKey {
                ingress: matched.ingress_ifindex,
                vlans,
                n_proto: matched.n_proto,
                ip_proto: matched.ip_proto,
                src: matched.src,
                dst: matched.dst,
                ports: matched.ports.unwrap_or((0, 0)),
            },
            tcp_flags: matched.tcp_flags,
            eth_mask: [0xff; 12],
            eth_val: [0; 12],
            vlan_pops: 0,
            pushes: [Encap::default(); ENCAP_MAX],
            num_pushes: 0,
            l3_mask: [0xff; 40],
            l3_val: [0; 40],
            l4_mask: [0xff; 4],
            l4_val: [0; 4],
            csum: 0,
            egress: 0,
        };
        let mut redirect = None;
        for a in actions {
            let ok = match *a {
                Action::Mangle {
                    header,
                    offset,
                    mask,
                    val,
                } => match header {
                    MangleHeader::Eth => {
                        apply_mangle(&mut e.eth_mask, &mut e.eth_val, offset, mask, val)
                    }
                    MangleHeader::Ip4 if !v6 => {
                        // Only the addresses: the length, TTL and checksum are the hardware's.
                        (12..20).contains(&offset)
                            && apply_mangle(&mut e.l3_mask, &mut e.l3_val, offset, mask, val)
                    }
                    MangleHeader::Ip6 if v6 => {
                        (8..40).contains(&offset)
                            && apply_mangle(&mut e.l3_mask, &mut e.l3_val, offset, mask, val)
                    }
                    MangleHeader::Tcp if matched.ip_proto == IPPROTO_TCP => {
                        apply_mangle(&mut e.l4_mask, &mut e.l4_val, offset, mask, val)
                    }
                    MangleHeader::Udp if matched.ip_proto == IPPROTO_UDP => {
                        apply_mangle(&mut e.l4_mask, &mut e.l4_val, offset, mask, val)
                    }
                    _ => false,
                },
                Action::VlanPop => {
                    e.vlan_pops += 1;
                    e.vlan_pops <= ENCAP_MAX
                }
                Action::VlanPush { vid, proto } => {
                    let ok = proto == ETH_P_8021Q && e.num_pushes < ENCAP_MAX && vid != 0;
                    if ok {
                        e.pushes[e.num_pushes] = Encap { id: vid, proto };
                        e.num_pushes += 1;
                    }
                    ok
                }
                Action::PppoePush { sid } => {
                    let ok = e.num_pushes < ENCAP_MAX;
                    if ok {
                        e.pushes[e.num_pushes] = Encap {
                            id: sid,
                            proto: ETH_P_PPP_SES,
                        };
                        e.num_pushes += 1;
                    }
                    ok
                }
                Action::Csum(flags) => {
                    e.csum |= flags;
                    flags & !(CSUM_IPV4HDR | CSUM_TCP | CSUM_UDP) == 0
                }
                Action::Redirect(ifindex) => {
                    let first = redirect.is_none();
                    redirect = Some(ifindex);
                    first
                }
                Action::TunnelDecap => false,
            };
            if !ok {
                return Err(Unsupported::Action);
            }
        }
        // PPPoE is the innermost encapsulation: nothing can follow it.
        if e.pushes[..e.num_pushes.saturating_sub(1)]
            .iter()
            .any(|p| p.proto == ETH_P_PPP_SES)
        {
            return Err(Unsupported::Action);
        }
        // Matched tags must all be popped: the engine does not keep ingress tags.
        let matched_tags = vlans.iter().filter(|v| **v != 0).count();
        if e.vlan_pops != matched_tags {
            return Err(Unsupported::Action);
        }
        e.egress = redirect.ok_or(Unsupported::NoRedirect)?;
        Ok(e)
    }

    /// Forwards a parsed frame that hit this entry (`frame` is the one `p` was parsed from):
    /// rewrites its network and layer 4 headers in place and returns its new layer 2 header.
    pub fn apply(&self, frame: &mut [u8], p: &Parsed) -> Result<Forward, Miss> {
        if self.tcp_flags && p.tcp_flags & TCP_FLAGS_MASK[1] != 0 {
            return Err(Miss::TcpFlags);
        }
        if p.l2.num_vlans != self.vlan_pops {
            return Err(Miss::Encap);
        }
        let l3 = p.l2.l3_offset;
        let v6 = p.ip.l3proto == NFPROTO_IPV6;
        let thoff = l3 + p.ip.thoff;

        // The layer 4 checksum follows the pseudo-header addresses and the ports only where the
        // rule asks for it, or for IPv6 (C leaves that to the hardware).
        let l4_csum = v6
            || (p.ip.l4proto == IPPROTO_TCP && self.csum & CSUM_TCP != 0)
            || (p.ip.l4proto == IPPROTO_UDP && self.csum & CSUM_UDP != 0);
        let check_at = match p.ip.l4proto {
            IPPROTO_TCP => Some(thoff + 16),
            IPPROTO_UDP => Some(thoff + 6),
            _ => None,
        };
        let mut check = check_at.map(|at| get16(frame, at));
        let (addr_from, addr_to) = if v6 { (8, 40) } else { (12, 20) };
        for w in (addr_from..addr_to).step_by(4) {
            let at = l3 + w;
            let old = get32(frame, at);
            for i in 0..4 {
                frame[at + i] = (frame[at + i] & self.l3_mask[w + i]) ^ self.l3_val[w + i];
            }
            check = check.map(|c| replace4(c, old, get32(frame, at)));
        }
        if p.ip.l4proto != IPPROTO_GRE {
            let old = get32(frame, thoff);
            for i in 0..4 {
                frame[thoff + i] = (frame[thoff + i] & self.l4_mask[i]) ^ self.l4_val[i];
            }
            check = check.map(|c| replace4(c, old, get32(frame, thoff)));
        }
        if let (Some(at), Some(new), true) = (check_at, check, l4_csum) {
            // UDP over IPv4 without a checksum keeps none; a computed zero is sent as all ones.
            let udp_none = p.ip.l4proto == IPPROTO_UDP && !v6 && get16(frame, at) == 0;
            if !udp_none {
                put16(
                    frame,
                    at,
                    if new == 0 && p.ip.l4proto == IPPROTO_UDP {
                        0xffff
                    } else {
                        new
                    },
                );
            }
        }
        if v6 {
            frame[l3 + 7] -= 1;
        } else {
            frame[l3 + 8] -= 1;
            put16(frame, l3 + 10, 0);
            let sum = csum::ipv4_header_checksum(&frame[l3..l3 + parse::IPV4_HLEN]);
            put16(frame, l3 + 10, sum);
        }
        let ip_len = p.ip_len(frame);
        Ok(self.egress_l2(frame, p, ip_len))
    }

    /// Returns the bytes the entry's encapsulations add inside the egress device's MTU: a
    /// PPPoE session header counts, VLAN tags do not (802.1Q frames may exceed the MTU by
    /// their tags).
    pub fn mtu_overhead(&self) -> usize {
        self.pushes[..self.num_pushes]
            .iter()
            .filter(|e| e.proto == ETH_P_PPP_SES)
            .count()
            * PPPOE_SES_HLEN
    }

    /// Returns whether a frame parsed as `p` is too long for an egress MTU of `mtu` once this
    /// entry encapsulates it (the router's stack must fragment it or send an ICMP error).
    pub fn exceeds_mtu(&self, frame: &[u8], p: &Parsed, mtu: usize) -> bool {
        p.ip_len(frame) + self.mtu_overhead() > mtu
    }

    fn egress_l2(&self, frame: &[u8], p: &Parsed, ip_len: usize) -> Forward {
        let mut l2 = [0u8; L2_MAX];
        for i in 0..12 {
            l2[i] = (frame[i] & self.eth_mask[i]) ^ self.eth_val[i];
        }
        let mut at = 12;
        for push in &self.pushes[..self.num_pushes] {
            l2[at..at + 2].copy_from_slice(&push.proto.to_be_bytes());
            at += 2;
            if push.proto == ETH_P_PPP_SES {
                let ppp = if p.l2.n_proto == ETH_P_IP {
                    0x0021u16
                } else {
                    0x0057
                };
                // ver/type 1/1, code 0, session, length (PPP protocol field plus IP packet).
                l2[at] = 0x11;
                l2[at + 2..at + 4].copy_from_slice(&push.id.to_be_bytes());
                l2[at + 4..at + 6].copy_from_slice(&((ip_len + 2) as u16).to_be_bytes());
                l2[at + 6..at + 8].copy_from_slice(&ppp.to_be_bytes());
                at += PPPOE_SES_HLEN;
                // Innermost (checked at compile time): no ethertype follows.
                return Forward {
                    strip: p.l2.l3_offset,
                    l2,
                    l2_len: at,
                    ip_len,
                    egress: self.egress,
                };
            }
            l2[at..at + 2].copy_from_slice(&push.id.to_be_bytes());
            at += 2;
        }
        l2[at..at + 2].copy_from_slice(&p.l2.n_proto.to_be_bytes());
        Forward {
            strip: p.l2.l3_offset,
            l2,
            l2_len: at + 2,
            ip_len,
            egress: self.egress,
        }
    }
}

fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `csum_replace4()`.
fn replace4(check: u16, from: u32, to: u32) -> u16 {
    csum::fold(csum::add(csum::sub(!u32::from(check), from), to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csum::Rewrite;
    use crate::flow_state::{DNAT, SNAT};
    use crate::l2path::Mac;
    use crate::offload_rule::tests::{
        masquerade_l4 as masquerade, masquerade_v6, CLIENT_MAC, LAN, LAN_MAC, SERVER_MAC, WAN,
        WAN_MAC,
    };
    use crate::offload_rule::{build, FlowSpec};
    use crate::tuple::{addr_v4, Dir, Tuple};
    use std::vec::Vec;

    /// RFC 1071 sum of big-endian 16-bit words.
    fn ones_sum(data: &[u8], mut acc: u64) -> u64 {
        for c in data.chunks(2) {
            let hi = u64::from(c[0]) << 8;
            acc += hi | c.get(1).map_or(0, |b| u64::from(*b));
        }
        acc
    }

    fn fold64(mut s: u64) -> u16 {
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// Whether the layer 4 checksum of the IP packet `net` verifies.
    fn l4_valid(net: &[u8]) -> bool {
        let v6 = net[0] >> 4 == 6;
        let (thoff, proto, addrs) = if v6 {
            (40, net[6], &net[8..40])
        } else {
            (20, net[9], &net[12..20])
        };
        let l4 = &net[thoff..];
        let pseudo = ones_sum(addrs, u64::from(proto) + l4.len() as u64);
        fold64(ones_sum(l4, pseudo)) == 0xffff
    }

    /// An Ethernet frame from `src_mac` to `dst_mac` carrying an IP packet of `tuple` with
    /// `payload` bytes, valid checksums, TTL 64, after the given 802.1Q tags.
    fn frame(t: &Tuple, dst_mac: Mac, src_mac: Mac, vlans: &[u16], tcp_flags: u8) -> Vec<u8> {
        let payload = 100;
        let v6 = t.l3proto == NFPROTO_IPV6;
        let l4len = if t.l4proto == IPPROTO_TCP { 20 } else { 8 } + payload;
        let mut f = Vec::new();
        f.extend_from_slice(&dst_mac);
        f.extend_from_slice(&src_mac);
        for vid in vlans {
            f.extend_from_slice(&ETH_P_8021Q.to_be_bytes());
            f.extend_from_slice(&vid.to_be_bytes());
        }
        let l3 = f.len() + 2;
        let mut net = Vec::new();
        if v6 {
            f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
            net.extend_from_slice(&[0x60, 0, 0, 0]);
            net.extend_from_slice(&(l4len as u16).to_be_bytes());
            net.extend_from_slice(&[t.l4proto, 64]);
            net.extend_from_slice(&t.src);
            net.extend_from_slice(&t.dst);
        } else {
            f.extend_from_slice(&ETH_P_IP.to_be_bytes());
            net.extend_from_slice(&[0x45, 0]);
            net.extend_from_slice(&((20 + l4len) as u16).to_be_bytes());
            net.extend_from_slice(&[0, 0, 0x40, 0, 64, t.l4proto, 0, 0]);
            net.extend_from_slice(&t.src[..4]);
            net.extend_from_slice(&t.dst[..4]);
            let c = !fold64(ones_sum(&net, 0));
            net[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let thoff = net.len();
        net.extend_from_slice(&t.src_port.to_be_bytes());
        net.extend_from_slice(&t.dst_port.to_be_bytes());
        if t.l4proto == IPPROTO_TCP {
            net.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10 | tcp_flags, 0xff, 0xff]);
            net.extend_from_slice(&[0; 4]);
        } else {
            net.extend_from_slice(&(l4len as u16).to_be_bytes());
            net.extend_from_slice(&[0, 0]);
        }
        net.extend((0..payload).map(|i| i as u8));
        let check_at = thoff + if t.l4proto == IPPROTO_TCP { 16 } else { 6 };
        let addrs = if v6 { &net[8..40] } else { &net[12..20] };
        let pseudo = ones_sum(addrs, u64::from(t.l4proto) + l4len as u64);
        let c = !fold64(ones_sum(&net[thoff..], pseudo));
        net[check_at..check_at + 2].copy_from_slice(&c.to_be_bytes());
        assert!(l4_valid(&net));
        f.extend_from_slice(&net);
        assert_eq!(l3, f.len() - net.len());
        f
    }

    fn entry(f: &FlowSpec, dir: Dir) -> Entry {
        let rule = build(f, dir).expect("rule");
        let actions: Vec<Action> = rule.actions().collect();
        Entry::compile(&rule.matched, &actions).expect("compile")
    }

    /// Runs `frame` through `e`; returns the frame as it leaves.
    fn forward(e: &Entry, mut f: Vec<u8>, ingress: u32) -> Result<Vec<u8>, Miss> {
        let p = parse(&f, ingress)?;
        if p.key != e.key {
            return Err(Miss::NoEntry);
        }
        let out = e.apply(&mut f, &p)?;
        let mut sent = out.l2[..out.l2_len].to_vec();
        sent.extend_from_slice(&f[out.strip..out.strip + out.ip_len]);
        Ok(sent)
    }

    /// What rflow's software fast path writes into the same packet.
    fn software(f: &FlowSpec, dir: Dir, frame: &[u8], l3: usize) -> Vec<u8> {
        let mut net = frame[l3..].to_vec();
        let ip = crate::parse::packet(&net, f.dirs[dir.index()].tuple.l3proto, 0)
            .expect("parse")
            .ip;
        let rw = Rewrite::for_dir(
            dir,
            &f.dirs[0].tuple,
            &f.dirs[1].tuple,
            f.flags & SNAT != 0,
            f.flags & DNAT != 0,
        );
        csum::forward(&mut net, &ip, &rw, false).expect("forward");
        net
    }

    #[test]
    fn masquerade_both_directions_like_the_software_path() {
        for l4 in [IPPROTO_TCP, IPPROTO_UDP] {
            let f = masquerade(l4);
            for (dir, ingress, dmac, smac, out_dst, out_src, egress) in [
                (
                    Dir::Original,
                    LAN,
                    LAN_MAC,
                    CLIENT_MAC,
                    SERVER_MAC,
                    WAN_MAC,
                    WAN,
                ),
                (
                    Dir::Reply,
                    WAN,
                    WAN_MAC,
                    SERVER_MAC,
                    CLIENT_MAC,
                    LAN_MAC,
                    LAN,
                ),
            ] {
                let e = entry(&f, dir);
                assert_eq!(e.egress, egress);
                let input = frame(&f.dirs[dir.index()].tuple, dmac, smac, &[], 0);
                let sent = forward(&e, input.clone(), ingress).expect("hit");
                assert_eq!(&sent[..6], &out_dst);
                assert_eq!(&sent[6..12], &out_src);
                assert_eq!(&sent[12..14], &ETH_P_IP.to_be_bytes());
                assert_eq!(
                    sent[14..],
                    software(&f, dir, &input, 14)[..],
                    "{l4} {dir:?}"
                );
                assert!(l4_valid(&sent[14..]));
                assert!(csum::ipv4_header_valid(&sent[14..34]));
                assert_eq!(sent[14 + 8], 63);
            }
        }
    }

    #[test]
    fn mtu_counts_the_ip_packet_and_pppoe_not_vlan_tags() {
        let f = masquerade(IPPROTO_UDP);
        let e = entry(&f, Dir::Original);
        let input = frame(&f.dirs[0].tuple, LAN_MAC, CLIENT_MAC, &[], 0);
        let p = parse(&input, LAN).expect("parse");
        // 20 + 8 + 100 bytes of IP packet.
        assert_eq!(p.ip_len(&input), 128);
        assert_eq!(e.mtu_overhead(), 0);
        assert!(!e.exceeds_mtu(&input, &p, 128));
        assert!(e.exceeds_mtu(&input, &p, 127));
        let mut pppoe = f;
        pppoe.dirs[1].tuple.encap[0] = Encap {
            id: 7,
            proto: ETH_P_PPP_SES,
        };
        pppoe.dirs[1].encap_num = 1;
        let e = entry(&pppoe, Dir::Original);
        assert_eq!(e.mtu_overhead(), PPPOE_SES_HLEN);
        assert!(e.exceeds_mtu(&input, &p, 135));
        assert!(!e.exceeds_mtu(&input, &p, 136));
        let mut vlan = f;
        vlan.dirs[1].tuple.encap[0] = Encap {
            id: 7,
            proto: ETH_P_8021Q,
        };
        vlan.dirs[1].encap_num = 1;
        assert_eq!(entry(&vlan, Dir::Original).mtu_overhead(), 0);
    }

    #[test]
    fn dnat_udp_like_the_software_path() {
        let mut f = masquerade(IPPROTO_UDP);
        f.dirs[0].tuple.dst = addr_v4([192, 0, 2, 1]);
        f.dirs[0].tuple.dst_port = 53;
        f.dirs[1].tuple.src_port = 5353;
        f.dirs[1].tuple.dst = addr_v4([10, 0, 1, 99]);
        f.dirs[1].tuple.dst_port = 40000;
        f.flags = DNAT;
        let e = entry(&f, Dir::Original);
        let input = frame(&f.dirs[0].tuple, LAN_MAC, CLIENT_MAC, &[], 0);
        let sent = forward(&e, input.clone(), LAN).expect("hit");
        assert_eq!(sent[14..], software(&f, Dir::Original, &input, 14)[..]);
        assert_eq!(&sent[14 + 16..14 + 20], &[10, 0, 2, 99]);
        assert!(l4_valid(&sent[14..]));
    }

    #[test]
    fn udp_without_checksum_keeps_none() {
        let f = masquerade(IPPROTO_UDP);
        let e = entry(&f, Dir::Original);
        let mut input = frame(&f.dirs[0].tuple, LAN_MAC, CLIENT_MAC, &[], 0);
        input[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
        let sent = forward(&e, input, LAN).expect("hit");
        assert_eq!(&sent[14 + 20 + 6..14 + 20 + 8], &[0, 0]);
    }

    #[test]
    fn a_rule_without_its_checksum_action_corrupts_the_checksum() {
        let f = masquerade(IPPROTO_TCP);
        let rule = build(&f, Dir::Original).expect("rule");
        let actions: Vec<Action> = rule
            .actions()
            .filter(|a| !matches!(a, Action::Csum(_)))
            .collect();
        let e = Entry::compile(&rule.matched, &actions).expect("compile");
        let input = frame(&f.dirs[0].tuple, LAN_MAC, CLIENT_MAC, &[], 0);
        let sent = forward(&e, input, LAN).expect("hit");
        assert!(!l4_valid(&sent[14..]));
        assert!(csum::ipv4_header_valid(&sent[14..34]));
    }

    #[test]
    fn ipv6_nat_fixes_the_checksum_without_an_action() {
        let f = masquerade_v6(IPPROTO_TCP);
        let e = entry(&f, Dir::Original);
        let input = frame(&f.dirs[0].tuple, LAN_MAC, CLIENT_MAC, &[], 0);
        let sent = forward(&e, input.clone(), LAN).expect("hit");
        assert_eq!(sent[14..], software(&f, Dir::Original, &input, 14)[..]);
        assert!(l4_valid(&sent[14..]));
        assert_eq!(sent[14 + 7], 63);
    }

    #[test]
    fn vlan_in_pppoe_out() {
        let mut f = masquerade(IPPROTO_TCP);
        f.flags = 0;
        f.dirs[0].tuple.encap[0] = Encap {
            id: 10,
            proto: ETH_P_8021Q,
        };
        f.dirs[0].encap_num = 1;
        f.dirs[1].tuple.encap[0] = Encap {
            id: 0x1234,
            proto: ETH_P_PPP_SES,
        };
        f.dirs[1].encap_num = 1;
        let e = entry(&f, Dir::Original);
        let input = frame(&f.dirs[0].tuple, LAN_MAC, CLIENT_MAC, &[10], 0);
        let ip_len = input.len() - 18;
        let sent = forward(&e, input.clone(), LAN).expect("hit");
        assert_eq!(&sent[12..14], &ETH_P_PPP_SES.to_be_bytes());
        assert_eq!(&sent[14..18], &[0x11, 0, 0x12, 0x34]);
        assert_eq!(&sent[18..20], &((ip_len + 2) as u16).to_be_bytes());
        assert_eq!(&sent[20..22], &[0x00, 0x21]);
        assert_eq!(sent[22..], software(&f, Dir::Original, &input, 18)[..]);
        // Untagged frames of the same tuple do not carry the entry's key.
        let untagged = frame(&f.dirs[0].tuple, LAN_MAC, CLIENT_MAC, &[], 0);
        assert_eq!(forward(&e, untagged, LAN), Err(Miss::NoEntry));
        // The reply arrives in PPPoE, which the hardware strips, and leaves tagged.
        let r = entry(&f, Dir::Reply);
        let mut reply = frame(&f.dirs[1].tuple, WAN_MAC, SERVER_MAC, &[], 0);
        let ip = reply.split_off(14);
        reply[12..14].copy_from_slice(&ETH_P_PPP_SES.to_be_bytes());
        reply.extend_from_slice(&[0x11, 0, 0x12, 0x34]);
        reply.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
        reply.extend_from_slice(&[0x00, 0x21]);
        reply.extend_from_slice(&ip);
        let sent = forward(&r, reply, WAN).expect("hit");
        assert_eq!(&sent[12..16], &[0x81, 0x00, 0, 10]);
        assert_eq!(&sent[16..18], &ETH_P_IP.to_be_bytes());
    }

    #[test]
    fn misses() {
        let f = masquerade(IPPROTO_TCP);
        let e = entry(&f, Dir::Original);
        let t = &f.dirs[0].tuple;
        for flag in [crate::parse::TCP_FIN, crate::parse::TCP_RST] {
            let fin = frame(t, LAN_MAC, CLIENT_MAC, &[], flag);
            assert_eq!(forward(&e, fin, LAN), Err(Miss::TcpFlags));
        }
        let mut ttl = frame(t, LAN_MAC, CLIENT_MAC, &[], 0);
        ttl[14 + 8] = 1;
        assert_eq!(forward(&e, ttl, LAN), Err(Miss::Parse(Reject::Ttl)));
        let mut frag = frame(t, LAN_MAC, CLIENT_MAC, &[], 0);
        frag[14 + 6] = 0x20;
        assert_eq!(forward(&e, frag, LAN), Err(Miss::Parse(Reject::Fragment)));
        let mut qinq = frame(t, LAN_MAC, CLIENT_MAC, &[10], 0);
        qinq[12..14].copy_from_slice(&0x88a8u16.to_be_bytes());
        assert_eq!(forward(&e, qinq, LAN), Err(Miss::Layer2));
        let other_port = frame(t, LAN_MAC, CLIENT_MAC, &[], 0);
        assert_eq!(forward(&e, other_port, WAN), Err(Miss::NoEntry));
        for n in 0..20 {
            assert!(parse(&frame(t, LAN_MAC, CLIENT_MAC, &[], 0)[..n], LAN).is_err());
        }
    }

    #[test]
    fn padding_is_dropped() {
        let f = masquerade(IPPROTO_UDP);
        let e = entry(&f, Dir::Original);
        let mut input = frame(&f.dirs[0].tuple, LAN_MAC, CLIENT_MAC, &[], 0);
        let len = input.len();
        input.extend_from_slice(&[0xee; 10]);
        assert_eq!(forward(&e, input, LAN).expect("hit").len(), len);
    }

    proptest::proptest! {
        /// Any corruption of a frame of the flow is forwarded or missed, never a panic, and
        /// what is forwarded still carries valid IPv4 and layer 4 checksums.
        #[test]
        fn corrupted_frames_never_panic(
            flips in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 1..4),
            cut in 0usize..200,
            tcp in proptest::prelude::any::<bool>(),
        ) {
            let f = masquerade(if tcp { IPPROTO_TCP } else { IPPROTO_UDP });
            let e = entry(&f, Dir::Original);
            let mut input = frame(&f.dirs[0].tuple, LAN_MAC, CLIENT_MAC, &[], 0);
            for (at, x) in flips {
                if let Some(b) = input.get_mut(at) {
                    *b ^= x;
                }
            }
            input.truncate(input.len().min(14 + cut.max(1)));
            if let Ok(sent) = forward(&e, input, LAN) {
                proptest::prop_assert!(csum::ipv4_header_valid(&sent[14..34]));
            }
        }
    }

    #[test]
    fn rules_the_engine_refuses() {
        let f = masquerade(IPPROTO_TCP);
        let rule = build(&f, Dir::Original).expect("rule");
        let all: Vec<Action> = rule.actions().collect();
        let no_redirect: Vec<Action> = all
            .iter()
            .copied()
            .filter(|a| !matches!(a, Action::Redirect(_)))
            .collect();
        assert_eq!(
            Entry::compile(&rule.matched, &no_redirect),
            Err(Unsupported::NoRedirect)
        );
        let mut pppoe_first = all.clone();
        pppoe_first.insert(0, Action::PppoePush { sid: 1 });
        pppoe_first.insert(
            1,
            Action::VlanPush {
                vid: 5,
                proto: ETH_P_8021Q,
            },
        );
        assert_eq!(
            Entry::compile(&rule.matched, &pppoe_first),
            Err(Unsupported::Action)
        );
        let mut tagged = rule.matched;
        tagged.vlan = Some(crate::offload_rule::VlanMatch {
            vid: 10,
            tpid: ETH_P_8021Q,
        });
        assert_eq!(Entry::compile(&tagged, &all), Err(Unsupported::Action));
        let mut ttl = all.clone();
        ttl.push(Action::Mangle {
            header: MangleHeader::Ip4,
            offset: 8,
            mask: [0; 4],
            val: [0; 4],
        });
        assert_eq!(
            Entry::compile(&rule.matched, &ttl),
            Err(Unsupported::Action)
        );
    }
}
