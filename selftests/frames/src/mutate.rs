// SPDX-License-Identifier: GPL-2.0

//! The mutation classes, and the generator of the deterministic frame stream.
//!
//! Frame `id` of the stream of a seed depends only on the seed, the id and the options: a
//! per-frame PRNG chooses the class (`valid` with the configured share, otherwise uniformly
//! among the classes that apply to at least one flow), a flow the class applies to, the payload
//! length and the details of the mutation. Checksums are recomputed after a mutation unless the
//! class is about a checksum, so that each class damages one thing.

use crate::csum;
use crate::frame::{self, get16, put16, Flow, Layout, Macs, Proto};
use crate::frame::{ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, ETH_P_PPP_SES};
use crate::frame::{IPPROTO_FRAGMENT, IPPROTO_UDP, IPV4_HLEN, IPV6_HLEN};
use crate::frame::{MARKER_LEN, MAX_EXTRA, PPP_IP, PPP_IPV6, TCP_HLEN, UDP_HLEN};
use crate::prng::Rng;

/// A mutation class.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Class {
    /// No mutation: a positive control.
    Valid,
    /// Frame cut inside the IP header, the layer 4 header or the payload.
    Truncate,
    /// IPv4 total length / IPv6 payload length beyond the frame.
    IpTotlenLong,
    /// IPv4 total length / IPv6 payload length shorter than the packet.
    IpTotlenShort,
    /// IPv4 IHL below 5.
    IhlSmall,
    /// IPv4 IHL beyond the bytes present.
    IhlLarge,
    /// Well-formed IPv4 options.
    IpOptions,
    /// IPv4 fragment, or an IPv6 fragment extension header.
    Fragment,
    /// TTL / hop limit 0 or 1.
    Ttl,
    /// Wrong IPv4 header checksum.
    BadIpCsum,
    /// Wrong UDP/TCP checksum.
    BadL4Csum,
    /// Wrong UDP length.
    UdpLen,
    /// TCP data offset below 5 or beyond the packet.
    TcpDoff,
    /// Unusual TCP flags.
    TcpFlags,
    /// IP version not matching the ethertype.
    Version,
    /// Broken 802.1Q/802.1AD encapsulation.
    VlanBogus,
    /// A correct 802.1Q tag.
    VlanValid,
    /// Broken PPPoE session header.
    PppoeBogus,
    /// A random ethertype.
    Ethertype,
    /// Frames shorter than an Ethernet header, or headers without payload.
    Runt,
    /// Random bit flips after the Ethernet addresses.
    Bitflip,
}

/// All classes, in the order of the statistics.
pub const ALL: [Class; 21] = [
    Class::Valid,
    Class::Truncate,
    Class::IpTotlenLong,
    Class::IpTotlenShort,
    Class::IhlSmall,
    Class::IhlLarge,
    Class::IpOptions,
    Class::Fragment,
    Class::Ttl,
    Class::BadIpCsum,
    Class::BadL4Csum,
    Class::UdpLen,
    Class::TcpDoff,
    Class::TcpFlags,
    Class::Version,
    Class::VlanBogus,
    Class::VlanValid,
    Class::PppoeBogus,
    Class::Ethertype,
    Class::Runt,
    Class::Bitflip,
];

impl Class {
    /// The name used on the command line and in the statistics.
    pub fn name(self) -> &'static str {
        match self {
            Class::Valid => "valid",
            Class::Truncate => "truncate",
            Class::IpTotlenLong => "ip_totlen_long",
            Class::IpTotlenShort => "ip_totlen_short",
            Class::IhlSmall => "ihl_small",
            Class::IhlLarge => "ihl_large",
            Class::IpOptions => "ip_options",
            Class::Fragment => "fragment",
            Class::Ttl => "ttl",
            Class::BadIpCsum => "bad_ip_csum",
            Class::BadL4Csum => "bad_l4_csum",
            Class::UdpLen => "udp_len",
            Class::TcpDoff => "tcp_doff",
            Class::TcpFlags => "tcp_flags",
            Class::Version => "version",
            Class::VlanBogus => "vlan_bogus",
            Class::VlanValid => "vlan_valid",
            Class::PppoeBogus => "pppoe_bogus",
            Class::Ethertype => "ethertype",
            Class::Runt => "runt",
            Class::Bitflip => "bitflip",
        }
    }

    /// Index in [`ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the class can be applied to frames of `flow`.
    pub fn applies(self, flow: &Flow) -> bool {
        match self {
            Class::IhlSmall | Class::IhlLarge | Class::IpOptions | Class::BadIpCsum => {
                !flow.is_v6()
            }
            Class::TcpDoff | Class::TcpFlags => flow.proto == Proto::Tcp,
            Class::UdpLen => flow.proto == Proto::Udp,
            _ => true,
        }
    }
}

/// The options of a frame stream.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base flows (at least one).
    pub flows: Vec<Flow>,
    /// Ethernet addresses.
    pub macs: Macs,
    /// Stream seed.
    pub seed: u64,
    /// Marker magic.
    pub magic: u32,
    /// Share of `valid` frames, in percent.
    pub valid_percent: u64,
    /// Longest frame to generate (interface MTU + 14); longer ones are cut.
    pub max_len: usize,
}

/// One generated frame, besides its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Info {
    /// Its class.
    pub class: Class,
    /// Which kind of mutation of the class ("-" if the class has only one).
    pub variant: &'static str,
    /// Index of its flow in the configuration.
    pub flow: usize,
}

/// The frame stream.
#[derive(Clone, Debug)]
pub struct Generator {
    cfg: Config,
    /// Classes other than `valid` that apply to at least one flow.
    classes: Vec<Class>,
    /// Indexes of the flows each class applies to, by class index.
    flows_of: Vec<Vec<usize>>,
}

impl Generator {
    /// A generator; fails without flows.
    pub fn new(cfg: Config) -> Result<Self, String> {
        if cfg.flows.is_empty() {
            return Err("at least one --flow is needed".into());
        }
        let classes = ALL
            .iter()
            .copied()
            .filter(|c| *c != Class::Valid && cfg.flows.iter().any(|f| c.applies(f)))
            .collect();
        let flows_of = ALL
            .iter()
            .map(|c| {
                (0..cfg.flows.len())
                    .filter(|i| c.applies(&cfg.flows[*i]))
                    .collect()
            })
            .collect();
        Ok(Generator {
            cfg,
            classes,
            flows_of,
        })
    }

    /// Builds frame `id` into `buf`.
    pub fn frame(&self, id: u32, buf: &mut Vec<u8>) -> Info {
        let mut rng = Rng::for_frame(self.cfg.seed, id);
        let class = if rng.percent(self.cfg.valid_percent) {
            Class::Valid
        } else {
            rng.pick(&self.classes)
        };
        let fi = rng.pick(&self.flows_of[class.index()]);
        let flow = &self.cfg.flows[fi];
        let extra = rng.range(0, MAX_EXTRA);
        let mut lay = frame::build(
            buf,
            flow,
            &self.cfg.macs,
            self.cfg.magic,
            id,
            extra,
            &mut rng,
        );
        let variant = mutate(class, &mut rng, buf, &mut lay);
        buf.truncate(self.cfg.max_len);
        Info {
            class,
            variant,
            flow: fi,
        }
    }
}

/// A value for a checksum field holding `good` that is wrong for every receiver: a different
/// ones'-complement number, and not 0 (no checksum) for UDP.
fn bad_csum(rng: &mut Rng, good: u16, udp: bool) -> u16 {
    loop {
        let bad = good ^ rng.u16();
        let no_checksum = udp && bad == 0;
        if !(csum::same_value(bad, good) || no_checksum) {
            return bad;
        }
    }
}

/// An ethertype different from `not`.
fn other_ethertype(rng: &mut Rng, not: u16) -> u16 {
    loop {
        let e = rng.u16();
        if e != not {
            return e;
        }
    }
}

fn ethertype_of(lay: &Layout) -> u16 {
    if lay.v6 {
        ETH_P_IPV6
    } else {
        ETH_P_IP
    }
}

/// Inserts `bytes` at `at` and moves the layout along.
fn insert(buf: &mut Vec<u8>, lay: &mut Layout, at: usize, bytes: &[u8]) {
    buf.splice(at..at, bytes.iter().copied());
    lay.shift(at, bytes.len());
}

/// Sets the IPv4 total length or IPv6 payload length from an IP packet length.
fn set_ip_len(buf: &mut [u8], lay: &Layout, ip_len: usize) {
    if lay.v6 {
        put16(
            buf,
            lay.l3 + 4,
            ip_len.saturating_sub(IPV6_HLEN).min(0xffff) as u16,
        );
    } else {
        put16(buf, lay.l3 + 2, ip_len.min(0xffff) as u16);
    }
}

fn vlan_tag(rng: &mut Rng, tpid: u16) -> [u8; 4] {
    let tci = (rng.below(8) as u16) << 13 | rng.range(1, 4094) as u16;
    let [a, b] = tpid.to_be_bytes();
    let [c, d] = tci.to_be_bytes();
    [a, b, c, d]
}

/// Applies `class` to the valid frame in `buf`; returns the variant.
pub fn mutate(class: Class, rng: &mut Rng, buf: &mut Vec<u8>, lay: &mut Layout) -> &'static str {
    let ip_len = buf.len() - lay.l3;
    match class {
        Class::Valid => "-",
        Class::Truncate => {
            let regions = [
                ("l3", lay.l3, lay.l4),
                ("l4", lay.l4, lay.payload),
                ("payload", lay.payload, buf.len()),
            ];
            let (name, start, end) = rng.pick(&regions);
            buf.truncate(rng.range(start, end - 1));
            name
        }
        Class::IpTotlenLong => {
            set_ip_len(buf, lay, ip_len + rng.range(1, 1000));
            frame::fix_ip_csum(buf, lay);
            "-"
        }
        Class::IpTotlenShort => {
            let min = if lay.v6 { IPV6_HLEN } else { 0 };
            set_ip_len(buf, lay, rng.range(min, ip_len - 1));
            frame::fix_ip_csum(buf, lay);
            "-"
        }
        Class::IhlSmall => {
            buf[lay.l3] = 0x40 | rng.range(0, 4) as u8;
            frame::fix_ip_csum(buf, lay);
            "-"
        }
        Class::IhlLarge => {
            // The header claims more than the packet holds: cut the packet below the claimed
            // header length and make the total length agree with what is left.
            let ihl = rng.range(6, 15);
            let len = rng.range(IPV4_HLEN, ihl * 4 - 1).min(ip_len);
            buf.truncate(lay.l3 + len);
            buf[lay.l3] = 0x40 | ihl as u8;
            set_ip_len(buf, lay, len);
            frame::fix_ipv4_csum_over(buf, lay.l3, ihl * 4);
            "-"
        }
        Class::IpOptions => {
            let len = 4 * rng.range(1, 10);
            let mut opts = vec![1u8; len]; // NOP
            let variant = if rng.percent(50) {
                opts[..4].copy_from_slice(&[0x94, 4, 0, 0]); // router alert
                "router_alert"
            } else {
                "nop"
            };
            if len > 4 || variant == "nop" {
                opts[len - 1] = 0; // end of options list
            }
            insert(buf, lay, lay.l3 + IPV4_HLEN, &opts);
            lay.ip_hlen += len;
            buf[lay.l3] = 0x40 | (lay.ip_hlen / 4) as u8;
            set_ip_len(buf, lay, ip_len + len);
            frame::fix_ip_csum(buf, lay);
            variant
        }
        Class::Fragment if lay.v6 => {
            let (variant, offset, more) = match rng.below(3) {
                0 => ("atomic", 0, 0),
                1 => ("first", 0, 1),
                _ => ("later", rng.range(1, 0x1fff) as u16, rng.below(2) as u16),
            };
            let mut hdr = [0u8; 8];
            hdr[0] = lay.proto;
            hdr[2..4].copy_from_slice(&(offset << 3 | more).to_be_bytes());
            hdr[4..8].copy_from_slice(&(rng.next_u64() as u32).to_be_bytes());
            insert(buf, lay, lay.l3 + IPV6_HLEN, &hdr);
            buf[lay.l3 + 6] = IPPROTO_FRAGMENT;
            set_ip_len(buf, lay, ip_len + 8);
            variant
        }
        Class::Fragment => {
            let (variant, field) = match rng.below(3) {
                0 => ("mf", 0x2000),
                1 => ("offset", rng.range(1, 0x1fff) as u16),
                _ => ("mf_offset", 0x2000 | rng.range(1, 0x1fff) as u16),
            };
            put16(buf, lay.l3 + 6, field);
            frame::fix_ip_csum(buf, lay);
            variant
        }
        Class::Ttl => {
            let at = lay.l3 + if lay.v6 { 7 } else { 8 };
            buf[at] = rng.below(2) as u8;
            frame::fix_ip_csum(buf, lay);
            if buf[at] == 0 {
                "0"
            } else {
                "1"
            }
        }
        Class::BadIpCsum => {
            let good = get16(buf, lay.l3 + 10);
            let bad = bad_csum(rng, good, false);
            put16(buf, lay.l3 + 10, bad);
            "-"
        }
        Class::BadL4Csum => {
            let at = lay.l4_csum();
            let good = get16(buf, at);
            let bad = bad_csum(rng, good, lay.proto == IPPROTO_UDP);
            put16(buf, at, bad);
            "-"
        }
        Class::UdpLen => {
            let real = buf.len() - lay.l4;
            let (variant, v) = match rng.below(4) {
                0 => ("zero", 0),
                1 => ("below_header", rng.range(1, UDP_HLEN - 1)),
                2 => ("short", rng.range(UDP_HLEN, real - 1)),
                _ => ("long", rng.range(real + 1, real + 500)),
            };
            put16(buf, lay.l4 + 4, v as u16);
            frame::fix_l4_csum(buf, lay);
            variant
        }
        Class::TcpDoff => {
            let variant = if rng.percent(50) {
                buf[lay.l4 + 12] = (rng.range(0, 4) as u8) << 4;
                "small"
            } else {
                // A header longer than the segment; the marker stays in.
                let doff = rng.range(8, 15);
                let real = buf.len() - lay.l4;
                let len = rng.range(TCP_HLEN + MARKER_LEN, doff * 4 - 1).min(real);
                buf.truncate(lay.l4 + len);
                buf[lay.l4 + 12] = (doff as u8) << 4;
                frame::fix_lengths(buf, lay);
                frame::fix_ip_csum(buf, lay);
                "beyond"
            };
            frame::fix_l4_csum(buf, lay);
            variant
        }
        Class::TcpFlags => {
            let (variant, flags) = rng.pick(&[
                ("fin", 0x01),
                ("fin_ack", 0x11),
                ("rst", 0x04),
                ("rst_ack", 0x14),
                ("syn", 0x02),
                ("syn_fin", 0x03),
                ("none", 0x00),
                ("all", 0xff),
            ]);
            buf[lay.l4 + 13] = flags;
            frame::fix_l4_csum(buf, lay);
            variant
        }
        Class::Version => {
            let own = if lay.v6 { 6 } else { 4 };
            let mut v = rng.range(0, 14) as u8;
            if v >= own {
                v += 1;
            }
            buf[lay.l3] = v << 4 | (buf[lay.l3] & 0xf);
            frame::fix_ip_csum(buf, lay);
            "-"
        }
        Class::VlanValid => {
            let tag = vlan_tag(rng, ETH_P_8021Q);
            insert(buf, lay, 12, &tag);
            "-"
        }
        Class::VlanBogus => {
            let inner = ethertype_of(lay);
            let wrong = |rng: &mut Rng| {
                if rng.percent(50) {
                    inner ^ ETH_P_IP ^ ETH_P_IPV6 // the other IP version
                } else {
                    other_ethertype(rng, inner)
                }
            };
            match rng.below(4) {
                0 => {
                    let tag = vlan_tag(rng, ETH_P_8021Q);
                    insert(buf, lay, 12, &tag);
                    let e = wrong(rng);
                    put16(buf, 16, e);
                    "inner_wrong"
                }
                1 => {
                    let tag = vlan_tag(rng, ETH_P_8021Q);
                    buf.truncate(12);
                    buf.extend_from_slice(&tag);
                    "inner_missing"
                }
                2 => {
                    let tag = vlan_tag(rng, ETH_P_8021Q);
                    insert(buf, lay, 12, &tag);
                    buf.truncate(rng.range(ETH_HLEN + 4, lay.l3 + lay.ip_hlen - 1));
                    "truncated"
                }
                _ => {
                    let mut tags = vlan_tag(rng, ETH_P_8021AD).to_vec();
                    tags.extend_from_slice(&vlan_tag(rng, ETH_P_8021Q));
                    insert(buf, lay, 12, &tags);
                    let e = wrong(rng);
                    put16(buf, 20, e);
                    "double_bad"
                }
            }
        }
        Class::PppoeBogus => {
            let ppp = if lay.v6 { PPP_IPV6 } else { PPP_IP };
            let mut hdr = [0x11, 0, 0, 0, 0, 0, 0, 0];
            hdr[2..4].copy_from_slice(&(rng.range(1, 0xfffe) as u16).to_be_bytes());
            hdr[4..6].copy_from_slice(&((2 + ip_len) as u16).to_be_bytes());
            hdr[6..8].copy_from_slice(&ppp.to_be_bytes());
            put16(buf, 12, ETH_P_PPP_SES);
            insert(buf, lay, ETH_HLEN, &hdr);
            match rng.below(5) {
                0 => {
                    let mut v = rng.u8();
                    if v == 0x11 {
                        v = 0x12;
                    }
                    buf[ETH_HLEN] = v;
                    "ver_type"
                }
                1 => {
                    buf[ETH_HLEN + 1] = rng.range(1, 255) as u8;
                    "code"
                }
                2 => {
                    let good = 2 + ip_len;
                    let v = match rng.below(3) {
                        0 => 0,
                        1 => rng.range(1, good - 1),
                        _ => rng.range(good + 1, 0xffff),
                    };
                    put16(buf, ETH_HLEN + 4, v as u16);
                    "length"
                }
                3 => {
                    let p = match rng.below(4) {
                        0 => 0xc021, // LCP
                        1 => 0x8021, // IPCP
                        2 => 0x8057, // IPV6CP
                        _ => loop {
                            let p = rng.u16();
                            if p != PPP_IP && p != PPP_IPV6 {
                                break p;
                            }
                        },
                    };
                    put16(buf, ETH_HLEN + 6, p);
                    "ppp_proto"
                }
                _ => {
                    buf.truncate(rng.range(ETH_HLEN, ETH_HLEN + 7));
                    "truncated"
                }
            }
        }
        Class::Ethertype => {
            let e = other_ethertype(rng, ethertype_of(lay));
            put16(buf, 12, e);
            "-"
        }
        Class::Runt => match rng.below(3) {
            0 => {
                buf.truncate(rng.range(0, ETH_HLEN - 1));
                "short"
            }
            1 => {
                buf.truncate(ETH_HLEN);
                "eth_only"
            }
            _ => {
                buf.truncate(lay.payload);
                frame::fix_lengths(buf, lay);
                frame::fix_ip_csum(buf, lay);
                frame::fix_l4_csum(buf, lay);
                "headers_only"
            }
        },
        Class::Bitflip => {
            for _ in 0..rng.range(1, 8) {
                let bit = rng.range(12 * 8, buf.len() * 8 - 1);
                buf[bit / 8] ^= 1 << (bit % 8);
            }
            // Checksums are made right again where the frame was built to have them: the flips
            // test the fields, not the checksums.
            frame::fix_ip_csum(buf, lay);
            frame::fix_l4_csum(buf, lay);
            "-"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::tests::{flows, MACS};
    use crate::frame::IPPROTO_TCP;
    use crate::marker;
    use std::collections::HashMap;

    const MAGIC: u32 = 0x5246_4c57;

    /// What [`check`] found in a frame it accepts.
    #[derive(Clone, Copy, Debug)]
    struct Parsed {
        vlan: bool,
        tcp_flags: Option<u8>,
        payload_len: usize,
    }

    /// A validator written from the RFCs and rflow's parser rules (`rust/pure/src/parse.rs`),
    /// plus what the classic path checks later (UDP length, TCP header within the segment,
    /// layer 4 checksum). The error names the first problem.
    fn check(f: &[u8]) -> Result<Parsed, &'static str> {
        if f.len() < ETH_HLEN {
            return Err("runt");
        }
        let mut et = get16(f, 12);
        let mut off = ETH_HLEN;
        let mut vlan = false;
        if et == ETH_P_8021Q || et == ETH_P_8021AD {
            if f.len() < off + 4 {
                return Err("truncated");
            }
            et = get16(f, off + 2);
            off += 4;
            vlan = true;
            if et == ETH_P_8021Q || et == ETH_P_8021AD {
                return Err("double_tag");
            }
        }
        if et == ETH_P_PPP_SES {
            if f.len() < off + 8 {
                return Err("pppoe");
            }
            if f[off] != 0x11
                || f[off + 1] != 0
                || usize::from(get16(f, off + 4)) != f.len() - off - 6
            {
                return Err("pppoe");
            }
            et = match get16(f, off + 6) {
                PPP_IP => ETH_P_IP,
                PPP_IPV6 => ETH_P_IPV6,
                _ => return Err("pppoe"),
            };
            off += 8;
        }
        let net = &f[off..];
        let (proto, thoff, ip_len, src, dst) = match et {
            ETH_P_IP => {
                if net.len() < IPV4_HLEN {
                    return Err("truncated");
                }
                if net[0] >> 4 != 4 {
                    return Err("version");
                }
                if net[0] & 0xf != 5 {
                    return Err("options");
                }
                if get16(net, 6) & 0x3fff != 0 {
                    return Err("fragment");
                }
                let proto = net[9];
                let hl = match proto {
                    IPPROTO_TCP => TCP_HLEN,
                    IPPROTO_UDP => UDP_HLEN,
                    _ => return Err("protocol"),
                };
                let tot = usize::from(get16(net, 2));
                if tot > net.len() || tot < IPV4_HLEN + hl {
                    return Err("length");
                }
                if net[8] <= 1 {
                    return Err("ttl");
                }
                if csum::checksum(&net[..IPV4_HLEN]) != 0 {
                    return Err("checksum");
                }
                (proto, IPV4_HLEN, tot, &net[12..16], &net[16..20])
            }
            ETH_P_IPV6 => {
                if net.len() < IPV6_HLEN {
                    return Err("truncated");
                }
                if net[0] >> 4 != 6 {
                    return Err("version");
                }
                let proto = net[6];
                let hl = match proto {
                    IPPROTO_TCP => TCP_HLEN,
                    IPPROTO_UDP => UDP_HLEN,
                    _ => return Err("protocol"),
                };
                let pl = usize::from(get16(net, 4));
                if pl < hl || IPV6_HLEN + pl > net.len() {
                    return Err("length");
                }
                if net[7] <= 1 {
                    return Err("ttl");
                }
                (proto, IPV6_HLEN, IPV6_HLEN + pl, &net[8..24], &net[24..40])
            }
            _ => return Err("ethertype"),
        };
        let l4 = &net[thoff..ip_len];
        let mut tcp_flags = None;
        let hlen = if proto == IPPROTO_TCP {
            let doff = usize::from(l4[12] >> 4) * 4;
            if doff < TCP_HLEN {
                return Err("tcp_header");
            }
            if doff > l4.len() {
                return Err("tcp_doff");
            }
            tcp_flags = Some(l4[13]);
            doff
        } else {
            if usize::from(get16(l4, 4)) != l4.len() {
                return Err("udp_len");
            }
            UDP_HLEN
        };
        let sum = csum::add(csum::pseudo(src, dst, proto, l4.len()), l4);
        if csum::finish(sum) != 0 {
            return Err("l4_csum");
        }
        Ok(Parsed {
            vlan,
            tcp_flags,
            payload_len: l4.len() - hlen,
        })
    }

    fn config(flows: Vec<Flow>, seed: u64, valid_percent: u64) -> Config {
        Config {
            flows,
            macs: MACS,
            seed,
            magic: MAGIC,
            valid_percent,
            max_len: 1514,
        }
    }

    #[test]
    fn class_table() {
        for (i, c) in ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
        let names: std::collections::HashSet<_> = ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn deterministic() {
        let g = Generator::new(config(flows(), 42, 5)).expect("generator");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut differ = 0;
        for id in 0..2000 {
            let ia = g.frame(id, &mut a);
            let ib = g.frame(id, &mut b);
            assert_eq!((ia, &a), (ib, &b));
            let g2 = Generator::new(config(flows(), 43, 5)).expect("generator");
            g2.frame(id, &mut b);
            differ += usize::from(a != b);
        }
        assert!(differ > 1900);
    }

    #[test]
    fn every_class_does_what_it_says() {
        let g = Generator::new(config(flows(), 1, 5)).expect("generator");
        let mut buf = Vec::new();
        let mut seen: HashMap<(Class, &'static str), usize> = HashMap::new();
        let n = 40_000u32;
        for id in 0..n {
            let info = g.frame(id, &mut buf);
            *seen.entry((info.class, info.variant)).or_default() += 1;
            let flow = &flows()[info.flow];
            assert!(info.class.applies(flow));
            assert!(buf.len() <= 1514);
            let res = check(&buf);
            let mark = marker::find(&buf, MAGIC);
            let ctx = format!("id {id} {info:?} {res:?} {buf:02x?}");
            match info.class {
                Class::Valid => {
                    let p = res.expect(&ctx);
                    assert!(!p.vlan && p.tcp_flags.is_none_or(|f| f == 0x18), "{ctx}");
                    assert!(p.payload_len >= MARKER_LEN, "{ctx}");
                }
                Class::Truncate => {
                    assert!(matches!(res, Err("truncated" | "length")), "{ctx}")
                }
                Class::IpTotlenLong => assert_eq!(res.err(), Some("length"), "{ctx}"),
                Class::IpTotlenShort => {
                    assert!(
                        matches!(res, Err("length" | "udp_len" | "l4_csum")),
                        "{ctx}"
                    )
                }
                Class::IhlSmall | Class::IhlLarge => {
                    assert_eq!(res.err(), Some("options"), "{ctx}")
                }
                Class::IpOptions => {
                    assert_eq!(res.err(), Some("options"), "{ctx}");
                    let hl = usize::from(buf[ETH_HLEN] & 0xf) * 4;
                    assert!(hl > IPV4_HLEN, "{ctx}");
                    assert_eq!(csum::checksum(&buf[ETH_HLEN..ETH_HLEN + hl]), 0, "{ctx}");
                    assert_eq!(usize::from(get16(&buf, ETH_HLEN + 2)), buf.len() - ETH_HLEN);
                }
                Class::Fragment if flow.is_v6() => {
                    assert_eq!(res.err(), Some("protocol"), "{ctx}")
                }
                Class::Fragment => {
                    assert_eq!(res.err(), Some("fragment"), "{ctx}");
                    assert_eq!(csum::checksum(&buf[ETH_HLEN..ETH_HLEN + 20]), 0, "{ctx}");
                }
                Class::Ttl => assert_eq!(res.err(), Some("ttl"), "{ctx}"),
                Class::BadIpCsum => assert_eq!(res.err(), Some("checksum"), "{ctx}"),
                Class::BadL4Csum => assert_eq!(res.err(), Some("l4_csum"), "{ctx}"),
                Class::UdpLen => assert_eq!(res.err(), Some("udp_len"), "{ctx}"),
                Class::TcpDoff => {
                    let want = if info.variant == "small" {
                        "tcp_header"
                    } else {
                        "tcp_doff"
                    };
                    assert_eq!(res.err(), Some(want), "{ctx}");
                }
                Class::TcpFlags => {
                    let p = res.expect(&ctx);
                    assert_ne!(p.tcp_flags, Some(0x18), "{ctx}");
                }
                Class::Version => assert_eq!(res.err(), Some("version"), "{ctx}"),
                Class::VlanValid => assert!(res.expect(&ctx).vlan, "{ctx}"),
                Class::VlanBogus | Class::PppoeBogus | Class::Ethertype => {
                    assert!(res.is_err(), "{ctx}")
                }
                Class::Runt => match info.variant {
                    "short" => assert!(buf.len() < ETH_HLEN, "{ctx}"),
                    "eth_only" => assert_eq!(buf.len(), ETH_HLEN, "{ctx}"),
                    _ => assert_eq!(res.expect(&ctx).payload_len, 0, "{ctx}"),
                },
                Class::Bitflip => {}
            }
            // The marker survives every mutation that does not cut or flip bytes.
            let keeps_marker = match info.class {
                Class::Truncate | Class::IhlLarge | Class::Runt | Class::Bitflip => false,
                Class::VlanBogus | Class::PppoeBogus => {
                    info.variant != "truncated" && info.variant != "inner_missing"
                }
                _ => true,
            };
            if keeps_marker {
                assert_eq!(mark, Some(id), "{ctx}");
            }
            if res.is_ok() && !matches!(info.class, Class::Runt | Class::Bitflip) {
                assert_eq!(mark, Some(id), "{ctx}");
            }
        }
        let classes: std::collections::HashSet<Class> = seen.keys().map(|k| k.0).collect();
        assert_eq!(classes.len(), ALL.len(), "{seen:?}");
        let valid = seen[&(Class::Valid, "-")] as f64 / f64::from(n);
        assert!((0.04..0.06).contains(&valid), "{valid}");
        for (class, variants) in [
            (Class::Truncate, &["l3", "l4", "payload"][..]),
            (
                Class::Fragment,
                &["mf", "offset", "mf_offset", "atomic", "first", "later"],
            ),
            (Class::UdpLen, &["zero", "below_header", "short", "long"]),
            (Class::TcpDoff, &["small", "beyond"]),
            (
                Class::VlanBogus,
                &["inner_wrong", "inner_missing", "truncated", "double_bad"],
            ),
            (
                Class::PppoeBogus,
                &["ver_type", "code", "length", "ppp_proto", "truncated"],
            ),
            (Class::Runt, &["short", "eth_only", "headers_only"]),
            (Class::IpOptions, &["nop", "router_alert"]),
            (
                Class::TcpFlags,
                &[
                    "fin", "fin_ack", "rst", "rst_ack", "syn", "syn_fin", "none", "all",
                ],
            ),
        ] {
            for v in variants {
                assert!(seen.contains_key(&(class, *v)), "{class:?} {v}");
            }
        }
    }

    #[test]
    fn bitflips_stay_after_the_addresses() {
        let flow = flows()[1];
        let mut base = Vec::new();
        for seed in 0..500 {
            let lay = frame::build(
                &mut base,
                &flow,
                &MACS,
                MAGIC,
                seed as u32,
                50,
                &mut Rng::new(0),
            );
            let mut buf = base.clone();
            let mut l = lay;
            mutate(Class::Bitflip, &mut Rng::new(seed), &mut buf, &mut l);
            assert_eq!(buf.len(), base.len());
            assert_eq!(buf[..12], base[..12]);
            let csum_fields = [lay.l3 + 10, lay.l3 + 11, lay.l4_csum(), lay.l4_csum() + 1];
            let flipped: u32 = buf
                .iter()
                .zip(&base)
                .enumerate()
                .filter(|(i, _)| !csum_fields.contains(i))
                .map(|(_, (a, b))| (a ^ b).count_ones())
                .sum();
            assert!(flipped <= 8, "{flipped}");
        }
    }

    #[test]
    fn class_choice_follows_the_flows() {
        let udp4 = vec![flows()[0]];
        let g = Generator::new(config(udp4, 9, 0)).expect("generator");
        let mut buf = Vec::new();
        for id in 0..3000 {
            let c = g.frame(id, &mut buf).class;
            assert!(
                !matches!(c, Class::TcpDoff | Class::TcpFlags | Class::Valid),
                "{c:?}"
            );
        }
        let tcp6 = vec![flows()[3]];
        let g = Generator::new(config(tcp6, 9, 100)).expect("generator");
        for id in 0..300 {
            assert_eq!(g.frame(id, &mut buf).class, Class::Valid);
        }
        let g = Generator::new(config(vec![flows()[3]], 9, 0)).expect("generator");
        for id in 0..3000 {
            let c = g.frame(id, &mut buf).class;
            assert!(
                !matches!(
                    c,
                    Class::UdpLen
                        | Class::IhlSmall
                        | Class::IhlLarge
                        | Class::IpOptions
                        | Class::BadIpCsum
                ),
                "{c:?}"
            );
        }
        assert!(Generator::new(config(vec![], 1, 5)).is_err());
    }

    #[test]
    fn frames_fit_the_mtu() {
        let mut cfg = config(flows(), 5, 5);
        cfg.max_len = 60;
        let g = Generator::new(cfg).expect("generator");
        let mut buf = Vec::new();
        for id in 0..2000 {
            g.frame(id, &mut buf);
            assert!(buf.len() <= 60);
        }
    }
}
