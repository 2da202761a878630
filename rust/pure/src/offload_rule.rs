// SPDX-License-Identifier: GPL-2.0

//! The hardware rule of one flow direction: what `TC_SETUP_FT` drivers receive as a
//! `flow_rule` (an exact match and a list of actions), built as 6.12's
//! `net/netfilter/nf_flow_table_offload.c` builds it (`nf_flow_rule_match()` and
//! `nf_flow_rule_route_ipv4/ipv6()`).
//!
//! Everything a driver sees is decided here, from plain values; the kernel side resolves what
//! needs kernel objects first (the MAC address of a device, a neighbour entry, whether a device
//! exists) and copies the result into the `flow_rule` it allocates.
//!
//! Mangles are kept as bytes in memory order. tc pedit semantics are defined on 32-bit words as
//! loaded from the header (`word = (word & mask) ^ val`), and C fills `mask` and `val` with
//! `memcpy()` from CPU-order integers, which yields the right bytes only on little-endian hosts.
//! Stored as bytes, the kernel side's `u32::from_ne_bytes()` gives the words drivers expect on
//! either byte order, and byte-for-byte the same as C on little-endian.

use super::flow_state::{DNAT, SNAT};
use super::l2path::{Mac, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, ETH_P_PPP_SES, VLAN_VID_MASK};
use super::tuple::{
    Addr, Dir, Encap, Tuple, ENCAP_MAX, IPPROTO_GRE, IPPROTO_TCP, IPPROTO_UDP, NFPROTO_IPV4,
    NFPROTO_IPV6,
};

/// Most actions one rule holds (`NF_FLOW_RULE_ACTION_MAX`).
pub const ACTIONS_MAX: usize = 24;

/// `TCA_CSUM_UPDATE_FLAG_IPV4HDR` (`include/uapi/linux/tc_act/tc_csum.h`; the kernel build
/// checks these values against the header, see `rust/offload.rs`).
pub const CSUM_IPV4HDR: u32 = 1;
/// `TCA_CSUM_UPDATE_FLAG_TCP`.
pub const CSUM_TCP: u32 = 8;
/// `TCA_CSUM_UPDATE_FLAG_UDP`.
pub const CSUM_UDP: u32 = 16;

/// The TCP flags a hardware flow must not match: FIN and RST go to the software path, which
/// tears the flow down (`TCP_FLAG_FIN | TCP_FLAG_RST` in the 16 bits of the TCP header that
/// hold them, network order).
pub const TCP_FLAGS_MASK: [u8; 2] = [0x00, 0x05];

/// Offsets of the IPv4 and IPv6 source and destination addresses in their headers.
const IPV4_SADDR: u32 = 12;
const IPV4_DADDR: u32 = 16;
const IPV6_SADDR: u32 = 8;
const IPV6_DADDR: u32 = 24;

/// Which header a mangle applies to (`enum flow_action_mangle_base`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MangleHeader {
    /// `FLOW_ACT_MANGLE_HDR_TYPE_ETH`.
    Eth,
    /// `FLOW_ACT_MANGLE_HDR_TYPE_IP4`.
    Ip4,
    /// `FLOW_ACT_MANGLE_HDR_TYPE_IP6`.
    Ip6,
    /// `FLOW_ACT_MANGLE_HDR_TYPE_TCP`.
    Tcp,
    /// `FLOW_ACT_MANGLE_HDR_TYPE_UDP`.
    Udp,
}

impl MangleHeader {
    /// The kernel's value of the header type.
    pub const fn raw(self) -> u32 {
        match self {
            MangleHeader::Eth => 1,
            MangleHeader::Ip4 => 2,
            MangleHeader::Ip6 => 3,
            MangleHeader::Tcp => 4,
            MangleHeader::Udp => 5,
        }
    }

    /// The header type the kernel's value `v` names, if it is one of these.
    pub const fn from_raw(v: u32) -> Option<MangleHeader> {
        Some(match v {
            1 => MangleHeader::Eth,
            2 => MangleHeader::Ip4,
            3 => MangleHeader::Ip6,
            4 => MangleHeader::Tcp,
            5 => MangleHeader::Udp,
            _ => return None,
        })
    }
}

/// One action of a rule (`struct flow_action_entry`, the fields the flowtable sets).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    /// `FLOW_ACTION_TUNNEL_DECAP`.
    TunnelDecap,
    /// `FLOW_ACTION_MANGLE`: at `offset` of the header, each byte becomes
    /// `(byte & mask) ^ val` (bytes in memory order).
    Mangle {
        /// The header.
        header: MangleHeader,
        /// Byte offset of the 32-bit word in the header.
        offset: u32,
        /// Bits kept, in memory order.
        mask: [u8; 4],
        /// Bits set, in memory order.
        val: [u8; 4],
    },
    /// `FLOW_ACTION_VLAN_POP`.
    VlanPop,
    /// `FLOW_ACTION_VLAN_PUSH`, ethertype in host order.
    VlanPush {
        /// VLAN id.
        vid: u16,
        /// Tag protocol (802.1Q).
        proto: u16,
    },
    /// `FLOW_ACTION_PPPOE_PUSH`.
    PppoePush {
        /// Session id.
        sid: u16,
    },
    /// `FLOW_ACTION_CSUM` with `TCA_CSUM_UPDATE_FLAG_*` bits.
    Csum(u32),
    /// `FLOW_ACTION_REDIRECT` to the device with this index.
    Redirect(u32),
}

/// A VLAN tag to match (`struct flow_dissector_key_vlan`, the fields the flowtable sets; the
/// masks are always the full VLAN id and the full TPID).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VlanMatch {
    /// VLAN id (under `VLAN_VID_MASK`).
    pub vid: u16,
    /// Tag protocol, host order.
    pub tpid: u16,
}

/// The exact match of a rule (`struct nf_flow_key` with its mask; only exact matches are used,
/// so a field present here is matched with an all-ones mask, except the TCP flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Match {
    /// `META.ingress_ifindex`.
    pub ingress_ifindex: u32,
    /// `BASIC.n_proto`, host order (`ETH_P_IP` or `ETH_P_IPV6`); it also selects
    /// `CONTROL.addr_type` (IPv4 or IPv6 addresses).
    pub n_proto: u16,
    /// `BASIC.ip_proto`.
    pub ip_proto: u8,
    /// Source address (the first four bytes for IPv4).
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// `PORTS`, host order: TCP and UDP only.
    pub ports: Option<(u16, u16)>,
    /// `TCP.flags` (key 0, mask [`TCP_FLAGS_MASK`]): TCP only.
    pub tcp_flags: bool,
    /// `VLAN`: the outer tag matched, if any.
    pub vlan: Option<VlanMatch>,
    /// `CVLAN`: the inner tag, only with an outer one.
    pub cvlan: Option<VlanMatch>,
}

/// A rule: its match and its actions, in order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rule {
    /// What the hardware matches.
    pub matched: Match,
    actions: [Option<Action>; ACTIONS_MAX],
    len: usize,
}

impl Rule {
    /// Returns the actions, in the order drivers must apply them.
    pub fn actions(&self) -> impl Iterator<Item = Action> + '_ {
        self.actions[..self.len].iter().filter_map(|a| *a)
    }

    /// Returns the number of actions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns whether the rule has no action (never true for a built rule).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, action: Action) -> Result<(), RuleError> {
        let slot = self
            .actions
            .get_mut(self.len)
            .ok_or(RuleError::TooManyActions)?;
        *slot = Some(action);
        self.len += 1;
        Ok(())
    }
}

/// Why a direction cannot be put in hardware.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RuleError {
    /// A layer 3 or 4 protocol, or a transmit method, hardware rules cannot express
    /// (`-EOPNOTSUPP`).
    Unsupported,
    /// More than [`ACTIONS_MAX`] actions (`-E2BIG`).
    TooManyActions,
}

/// How one direction leaves the router, resolved to what the hardware needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Egress {
    /// Through the neighbour layer (`FLOW_OFFLOAD_XMIT_NEIGH`): the source MAC is that of the
    /// device the other direction arrives on (this direction's output device), the destination
    /// the neighbour's address, valid at the time of the build, and the packets go out of that
    /// device.
    Neigh {
        /// The output device's MAC address.
        h_source: Mac,
        /// The next hop's MAC address (a `NUD_VALID` neighbour).
        h_dest: Mac,
        /// The output device: the other direction's input device.
        ifindex: u32,
    },
    /// Directly to a lower device with cached addresses (`FLOW_OFFLOAD_XMIT_DIRECT`).
    Direct {
        /// Source MAC address.
        h_source: Mac,
        /// Destination MAC address.
        h_dest: Mac,
        /// The hardware device to send on (`out.hw_ifidx`).
        hw_ifindex: u32,
    },
    /// Through an IPsec policy (`FLOW_OFFLOAD_XMIT_XFRM`): never in hardware.
    Xfrm,
}

/// One direction as the rule builder sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DirSpec {
    /// The tuple packets of this direction arrive with (input device and encapsulations).
    pub tuple: Tuple,
    /// Number of valid entries in `tuple.encap`.
    pub encap_num: usize,
    /// Bitmap of the encapsulations the hardware strips on ingress (`in_vlan_ingress`): neither
    /// matched nor popped, nor pushed in the other direction.
    pub in_vlan_ingress: u8,
    /// How packets of this direction leave.
    pub egress: Egress,
}

/// A flow as the rule builder sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FlowSpec {
    /// The original and reply directions.
    pub dirs: [DirSpec; 2],
    /// The flow's [`SNAT`] and [`DNAT`] flags.
    pub flags: u32,
}

fn encaps(d: &DirSpec) -> impl Iterator<Item = (usize, Encap)> + '_ {
    d.tuple.encap[..d.encap_num.min(ENCAP_MAX)]
        .iter()
        .copied()
        .enumerate()
        .filter(move |(i, _)| d.in_vlan_ingress & (1 << i) == 0)
}

/// Builds the match of one direction (`nf_flow_rule_match()`).
pub fn build_match(d: &DirSpec) -> Result<Match, RuleError> {
    let t = &d.tuple;
    let n_proto = match t.l3proto {
        NFPROTO_IPV4 => ETH_P_IP,
        NFPROTO_IPV6 => ETH_P_IPV6,
        _ => return Err(RuleError::Unsupported),
    };
    let (ports, tcp_flags) = match t.l4proto {
        IPPROTO_TCP => (Some((t.src_port, t.dst_port)), true),
        IPPROTO_UDP => (Some((t.src_port, t.dst_port)), false),
        IPPROTO_GRE => (None, false),
        _ => return Err(RuleError::Unsupported),
    };
    // Only 802.1Q tags are matched; the first becomes VLAN, a second CVLAN (or VLAN when the
    // first is not a matched 802.1Q tag).
    let mut vlan = None;
    let mut cvlan = None;
    for (_, e) in encaps(d).filter(|(_, e)| e.proto == ETH_P_8021Q) {
        let tag = Some(VlanMatch {
            vid: e.id & VLAN_VID_MASK,
            tpid: e.proto,
        });
        if vlan.is_none() {
            vlan = tag;
        } else {
            cvlan = tag;
        }
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    let len = if t.l3proto == NFPROTO_IPV4 { 4 } else { 16 };
    src[..len].copy_from_slice(&t.src[..len]);
    dst[..len].copy_from_slice(&t.dst[..len]);
    Ok(Match {
        ingress_ifindex: t.iif,
        n_proto,
        ip_proto: t.l4proto,
        src,
        dst,
        ports,
        tcp_flags,
        vlan,
        cvlan,
    })
}

fn mangle(header: MangleHeader, offset: u32, mask: [u8; 4], val: [u8; 4]) -> Action {
    Action::Mangle {
        header,
        offset,
        mask,
        val,
    }
}

fn word(b: &[u8]) -> [u8; 4] {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    w
}

/// Rewrites the Ethernet source (bytes 6..12) and destination (bytes 0..6) addresses, as four
/// mangles of 32-bit words, in C's order: source, then destination.
fn push_eth(rule: &mut Rule, h_source: &Mac, h_dest: &Mac) -> Result<(), RuleError> {
    let eth = MangleHeader::Eth;
    // Word 4..8 holds the end of the destination and the start of the source.
    rule.push(mangle(
        eth,
        4,
        [0xff, 0xff, 0, 0],
        [0, 0, h_source[0], h_source[1]],
    ))?;
    rule.push(mangle(eth, 8, [0; 4], word(&h_source[2..])))?;
    rule.push(mangle(eth, 0, [0; 4], word(h_dest)))?;
    rule.push(mangle(
        eth,
        4,
        [0, 0, 0xff, 0xff],
        [h_dest[4], h_dest[5], 0, 0],
    ))
}

/// Rewrites an address of the network header: one word for IPv4, four for IPv6.
fn push_addr(rule: &mut Rule, v6: bool, offset: u32, addr: &Addr) -> Result<(), RuleError> {
    if v6 {
        for (i, chunk) in addr.chunks_exact(4).enumerate() {
            rule.push(mangle(
                MangleHeader::Ip6,
                offset + 4 * i as u32,
                [0; 4],
                word(chunk),
            ))?;
        }
        Ok(())
    } else {
        rule.push(mangle(MangleHeader::Ip4, offset, [0; 4], word(addr)))
    }
}

/// Rewrites the source (`source` true) or destination port, in the first word of the TCP or
/// UDP header. GRE flows have no ports, but C emits the mangle anyway, with header type 0
/// (nothing a driver accepts): such flows are refused here instead.
fn push_port(rule: &mut Rule, l4proto: u8, source: bool, port: u16) -> Result<(), RuleError> {
    let header = match l4proto {
        IPPROTO_TCP => MangleHeader::Tcp,
        IPPROTO_UDP => MangleHeader::Udp,
        _ => return Err(RuleError::Unsupported),
    };
    let [hi, lo] = port.to_be_bytes();
    let (mask, val) = if source {
        ([0, 0, 0xff, 0xff], [hi, lo, 0, 0])
    } else {
        ([0xff, 0xff, 0, 0], [0, 0, hi, lo])
    };
    rule.push(mangle(header, 0, mask, val))
}

/// Builds the rule of direction `dir` of `flow` (`nf_flow_offload_rule_alloc()` with
/// `nf_flow_rule_route_ipv4/ipv6()`): the match, then the actions in C's order (tunnel, Ethernet
/// addresses, VLAN pops, encapsulation pushes, source NAT, destination NAT, IPv4 checksum,
/// redirect).
pub fn build(flow: &FlowSpec, dir: Dir) -> Result<Rule, RuleError> {
    let this = &flow.dirs[dir.index()];
    let other = &flow.dirs[dir.other().index()];
    let mut rule = Rule {
        matched: build_match(this)?,
        actions: [None; ACTIONS_MAX],
        len: 0,
    };
    let (h_source, h_dest, out) = match this.egress {
        Egress::Neigh {
            h_source,
            h_dest,
            ifindex,
        } => (h_source, h_dest, ifindex),
        Egress::Direct {
            h_source,
            h_dest,
            hw_ifindex,
        } => (h_source, h_dest, hw_ifindex),
        Egress::Xfrm => return Err(RuleError::Unsupported),
    };
    push_eth(&mut rule, &h_source, &h_dest)?;
    for (_, e) in encaps(this) {
        if e.proto == ETH_P_8021Q {
            rule.push(Action::VlanPop)?;
        }
    }
    // The other direction's encapsulations are this one's on the way out, outermost first.
    for (_, e) in encaps(other) {
        match e.proto {
            ETH_P_PPP_SES => rule.push(Action::PppoePush { sid: e.id })?,
            ETH_P_8021Q => rule.push(Action::VlanPush {
                vid: e.id,
                proto: e.proto,
            })?,
            // C leaves an entry with id 0 (FLOW_ACTION_ACCEPT) for an 802.1AD tag, which
            // forwards the packet untagged: refuse it.
            _ => return Err(RuleError::Unsupported),
        }
    }
    let t = &this.tuple;
    let v6 = t.l3proto == NFPROTO_IPV6;
    let (orig, reply) = (&flow.dirs[0].tuple, &flow.dirs[1].tuple);
    let snat = flow.flags & SNAT != 0;
    let dnat = flow.flags & DNAT != 0;
    let (saddr_off, daddr_off) = if v6 {
        (IPV6_SADDR, IPV6_DADDR)
    } else {
        (IPV4_SADDR, IPV4_DADDR)
    };
    if snat {
        match dir {
            Dir::Original => {
                push_addr(&mut rule, v6, saddr_off, &reply.dst)?;
                push_port(&mut rule, t.l4proto, true, reply.dst_port)?;
            }
            Dir::Reply => {
                push_addr(&mut rule, v6, daddr_off, &orig.src)?;
                push_port(&mut rule, t.l4proto, false, orig.src_port)?;
            }
        }
    }
    if dnat {
        match dir {
            Dir::Original => {
                push_addr(&mut rule, v6, daddr_off, &reply.src)?;
                push_port(&mut rule, t.l4proto, false, reply.src_port)?;
            }
            Dir::Reply => {
                push_addr(&mut rule, v6, saddr_off, &orig.dst)?;
                push_port(&mut rule, t.l4proto, true, orig.dst_port)?;
            }
        }
    }
    // IPv6 has no header checksum and C asks for no L4 fix-up: the hardware must do it.
    if (snat || dnat) && !v6 {
        let l4 = match orig.l4proto {
            IPPROTO_TCP => CSUM_TCP,
            IPPROTO_UDP => CSUM_UDP,
            _ => 0,
        };
        rule.push(Action::Csum(CSUM_IPV4HDR | l4))?;
    }
    rule.push(Action::Redirect(out))?;
    Ok(rule)
}

/// Test fixtures shared with the simulated NIC's engine: a router between a LAN and a WAN.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tuple::addr_v4;
    use std::vec::Vec;

    pub(crate) const CLIENT_MAC: Mac = [0x02, 0, 0, 0, 0x01, 0x99];
    pub(crate) const SERVER_MAC: Mac = [0x02, 0, 0, 0, 0x02, 0x99];
    pub(crate) const LAN_MAC: Mac = [0x02, 0, 0, 0, 0x01, 0x01];
    pub(crate) const WAN_MAC: Mac = [0x02, 0, 0, 0, 0x02, 0x01];
    pub(crate) const LAN: u32 = 3;
    pub(crate) const WAN: u32 = 4;

    fn tuple(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, iif: u32, l4: u8) -> Tuple {
        Tuple {
            src: addr_v4(src),
            dst: addr_v4(dst),
            src_port: sport,
            dst_port: dport,
            iif,
            l3proto: NFPROTO_IPV4,
            l4proto: l4,
            encap: [Encap::default(); ENCAP_MAX],
        }
    }

    fn neigh(h_source: Mac, h_dest: Mac, ifindex: u32) -> Egress {
        Egress::Neigh {
            h_source,
            h_dest,
            ifindex,
        }
    }

    /// Client 10.0.1.99:40000 -> server 10.0.2.99:80 over TCP, masqueraded to 10.0.2.1:61000.
    fn masquerade() -> FlowSpec {
        masquerade_l4(IPPROTO_TCP)
    }

    /// The same flow over layer 4 protocol `l4`.
    pub(crate) fn masquerade_l4(l4: u8) -> FlowSpec {
        FlowSpec {
            dirs: [
                DirSpec {
                    tuple: tuple([10, 0, 1, 99], [10, 0, 2, 99], 40000, 80, LAN, l4),
                    encap_num: 0,
                    in_vlan_ingress: 0,
                    egress: neigh(WAN_MAC, SERVER_MAC, WAN),
                },
                DirSpec {
                    tuple: tuple([10, 0, 2, 99], [10, 0, 2, 1], 80, 61000, WAN, l4),
                    encap_num: 0,
                    in_vlan_ingress: 0,
                    egress: neigh(LAN_MAC, CLIENT_MAC, LAN),
                },
            ],
            flags: SNAT,
        }
    }

    fn m(header: MangleHeader, offset: u32, mask: [u8; 4], val: [u8; 4]) -> Action {
        mangle(header, offset, mask, val)
    }

    /// The Ethernet mangles C emits for these addresses, derived from flow_offload_eth_src()
    /// and flow_offload_eth_dst() on a little-endian host: source `mask = ~0xffff0000`,
    /// `val = (u16 from src[0..2]) << 16` at 4, `mask = 0`, `val = src[2..6]` at 8; destination
    /// `mask = 0`, `val = dst[0..4]` at 0, `mask = ~0x0000ffff`, `val = u16 from dst[4..6]` at 4.
    fn c_eth(src: Mac, dst: Mac) -> [Action; 4] {
        let le = |v: u32| v.to_le_bytes();
        let src01 = u32::from(u16::from_le_bytes([src[0], src[1]]));
        let dst45 = u32::from(u16::from_le_bytes([dst[4], dst[5]]));
        [
            m(MangleHeader::Eth, 4, le(!0xffff0000), le(src01 << 16)),
            m(MangleHeader::Eth, 8, le(0), word(&src[2..])),
            m(MangleHeader::Eth, 0, le(0), word(&dst)),
            m(MangleHeader::Eth, 4, le(!0x0000ffff), le(dst45)),
        ]
    }

    /// C's port mangles: `htonl(port << 16)` under `~htonl(0xffff0000)` for a source port,
    /// `htonl(port)` under `~htonl(0xffff)` for a destination port.
    fn c_port(header: MangleHeader, source: bool, port: u16) -> Action {
        let be = |v: u32| v.to_be_bytes();
        if source {
            m(header, 0, be(!0xffff0000), be(u32::from(port) << 16))
        } else {
            m(header, 0, be(!0x0000ffff), be(u32::from(port)))
        }
    }

    fn actions(r: &Rule) -> Vec<Action> {
        r.actions().collect()
    }

    #[test]
    fn mangle_header_types_round_trip() {
        for h in [
            MangleHeader::Eth,
            MangleHeader::Ip4,
            MangleHeader::Ip6,
            MangleHeader::Tcp,
            MangleHeader::Udp,
        ] {
            assert_eq!(MangleHeader::from_raw(h.raw()), Some(h));
        }
        assert_eq!(MangleHeader::from_raw(0), None);
        assert_eq!(MangleHeader::from_raw(6), None);
    }

    #[test]
    fn masquerade_original_matches_c() {
        let r = build(&masquerade(), Dir::Original).expect("rule");
        assert_eq!(
            r.matched,
            Match {
                ingress_ifindex: LAN,
                n_proto: ETH_P_IP,
                ip_proto: IPPROTO_TCP,
                src: addr_v4([10, 0, 1, 99]),
                dst: addr_v4([10, 0, 2, 99]),
                ports: Some((40000, 80)),
                tcp_flags: true,
                vlan: None,
                cvlan: None,
            }
        );
        let mut want = c_eth(WAN_MAC, SERVER_MAC).to_vec();
        want.push(m(MangleHeader::Ip4, 12, [0; 4], [10, 0, 2, 1]));
        want.push(c_port(MangleHeader::Tcp, true, 61000));
        want.push(Action::Csum(CSUM_IPV4HDR | CSUM_TCP));
        want.push(Action::Redirect(WAN));
        assert_eq!(actions(&r), want);
        // The count the reference gives for IPv4 SNAT with neighbour transmit.
        assert_eq!(r.len(), 8);
    }

    #[test]
    fn masquerade_reply_matches_c() {
        let r = build(&masquerade(), Dir::Reply).expect("rule");
        assert_eq!(r.matched.ingress_ifindex, WAN);
        assert_eq!(r.matched.ports, Some((80, 61000)));
        let mut want = c_eth(LAN_MAC, CLIENT_MAC).to_vec();
        want.push(m(MangleHeader::Ip4, 16, [0; 4], [10, 0, 1, 99]));
        want.push(c_port(MangleHeader::Tcp, false, 40000));
        want.push(Action::Csum(CSUM_IPV4HDR | CSUM_TCP));
        want.push(Action::Redirect(LAN));
        assert_eq!(actions(&r), want);
    }

    #[test]
    fn dnat_udp_both_directions_match_c() {
        // 10.0.1.99:5000 -> 192.0.2.1:53, DNAT to 10.0.2.99:5353.
        let mut f = masquerade();
        f.dirs[0].tuple = tuple([10, 0, 1, 99], [192, 0, 2, 1], 5000, 53, LAN, IPPROTO_UDP);
        f.dirs[1].tuple = tuple([10, 0, 2, 99], [10, 0, 1, 99], 5353, 5000, WAN, IPPROTO_UDP);
        f.flags = DNAT;
        let o = build(&f, Dir::Original).expect("original");
        let mut want = c_eth(WAN_MAC, SERVER_MAC).to_vec();
        want.push(m(MangleHeader::Ip4, 16, [0; 4], [10, 0, 2, 99]));
        want.push(c_port(MangleHeader::Udp, false, 5353));
        want.push(Action::Csum(CSUM_IPV4HDR | CSUM_UDP));
        want.push(Action::Redirect(WAN));
        assert_eq!(actions(&o), want);
        assert!(!o.matched.tcp_flags);
        let r = build(&f, Dir::Reply).expect("reply");
        let mut want = c_eth(LAN_MAC, CLIENT_MAC).to_vec();
        want.push(m(MangleHeader::Ip4, 12, [0; 4], [192, 0, 2, 1]));
        want.push(c_port(MangleHeader::Udp, true, 53));
        want.push(Action::Csum(CSUM_IPV4HDR | CSUM_UDP));
        want.push(Action::Redirect(LAN));
        assert_eq!(actions(&r), want);
    }

    #[test]
    fn snat_and_dnat_give_ten_actions() {
        let mut f = masquerade();
        f.flags = SNAT | DNAT;
        assert_eq!(build(&f, Dir::Original).expect("rule").len(), 10);
    }

    #[test]
    fn no_nat_no_checksum() {
        let mut f = masquerade();
        f.flags = 0;
        let r = build(&f, Dir::Original).expect("rule");
        let mut want = c_eth(WAN_MAC, SERVER_MAC).to_vec();
        want.push(Action::Redirect(WAN));
        assert_eq!(actions(&r), want);
    }

    /// 2001:db8::<last>.
    pub(crate) fn v6(last: u8) -> Addr {
        let mut x = [0u8; 16];
        x[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        x[15] = last;
        x
    }

    /// [`masquerade_l4`] over IPv6: 2001:db8::99 -> 2001:db8::42, masqueraded to 2001:db8::1.
    pub(crate) fn masquerade_v6(l4: u8) -> FlowSpec {
        let mut f = masquerade_l4(l4);
        for d in &mut f.dirs {
            d.tuple.l3proto = NFPROTO_IPV6;
        }
        f.dirs[0].tuple.src = v6(0x99);
        f.dirs[0].tuple.dst = v6(0x42);
        f.dirs[1].tuple.src = v6(0x42);
        f.dirs[1].tuple.dst = v6(0x01);
        f
    }

    #[test]
    fn ipv6_nat_four_words_and_no_checksum() {
        let a = v6;
        let f = masquerade_v6(IPPROTO_TCP);
        let r = build(&f, Dir::Original).expect("rule");
        assert_eq!(r.matched.n_proto, ETH_P_IPV6);
        assert_eq!(r.matched.src, a(0x99));
        let mut want = c_eth(WAN_MAC, SERVER_MAC).to_vec();
        for i in 0..4u32 {
            let at = 4 * i as usize;
            want.push(m(
                MangleHeader::Ip6,
                8 + 4 * i,
                [0; 4],
                word(&a(0x01)[at..]),
            ));
        }
        want.push(c_port(MangleHeader::Tcp, true, 61000));
        want.push(Action::Redirect(WAN));
        assert_eq!(actions(&r), want);
    }

    /// A client behind a VLAN (outer 802.1Q 10) and PPPoE on the WAN side, direct transmit.
    #[test]
    fn encapsulations_pop_and_push_outermost_first() {
        let mut f = masquerade();
        f.flags = 0;
        f.dirs[0].tuple.encap[0] = Encap {
            id: 10,
            proto: ETH_P_8021Q,
        };
        f.dirs[0].encap_num = 1;
        f.dirs[1].tuple.encap = [
            Encap {
                id: 20,
                proto: ETH_P_8021Q,
            },
            Encap {
                id: 0x1234,
                proto: ETH_P_PPP_SES,
            },
        ];
        f.dirs[1].encap_num = 2;
        f.dirs[0].egress = Egress::Direct {
            h_source: WAN_MAC,
            h_dest: SERVER_MAC,
            hw_ifindex: 7,
        };
        let o = build(&f, Dir::Original).expect("original");
        assert_eq!(
            o.matched.vlan,
            Some(VlanMatch {
                vid: 10,
                tpid: ETH_P_8021Q
            })
        );
        assert_eq!(o.matched.cvlan, None);
        let mut want = c_eth(WAN_MAC, SERVER_MAC).to_vec();
        want.push(Action::VlanPop);
        want.push(Action::VlanPush {
            vid: 20,
            proto: ETH_P_8021Q,
        });
        want.push(Action::PppoePush { sid: 0x1234 });
        want.push(Action::Redirect(7));
        assert_eq!(actions(&o), want);
        // Reply: matches both tags as VLAN and CVLAN, pops the VLAN tag only (PPPoE has no pop
        // action; the hardware strips it), pushes the client's tag.
        let r = build(&f, Dir::Reply).expect("reply");
        assert_eq!(r.matched.vlan.map(|v| v.vid), Some(20));
        assert_eq!(r.matched.cvlan, None);
        let mut want = c_eth(LAN_MAC, CLIENT_MAC).to_vec();
        want.push(Action::VlanPop);
        want.push(Action::VlanPush {
            vid: 10,
            proto: ETH_P_8021Q,
        });
        want.push(Action::Redirect(LAN));
        assert_eq!(actions(&r), want);
    }

    #[test]
    fn qinq_matches_vlan_and_cvlan() {
        let mut f = masquerade();
        f.dirs[0].tuple.encap = [
            Encap {
                id: 100,
                proto: ETH_P_8021Q,
            },
            Encap {
                id: 200,
                proto: ETH_P_8021Q,
            },
        ];
        f.dirs[0].encap_num = 2;
        let r = build(&f, Dir::Original).expect("rule");
        assert_eq!(r.matched.vlan.map(|v| v.vid), Some(100));
        assert_eq!(r.matched.cvlan.map(|v| v.vid), Some(200));
        assert_eq!(
            actions(&r)
                .iter()
                .filter(|a| **a == Action::VlanPop)
                .count(),
            2
        );
    }

    #[test]
    fn tags_stripped_on_ingress_are_neither_matched_nor_popped_nor_pushed() {
        let mut f = masquerade();
        f.dirs[0].tuple.encap[0] = Encap {
            id: 10,
            proto: ETH_P_8021Q,
        };
        f.dirs[0].encap_num = 1;
        f.dirs[0].in_vlan_ingress = 1;
        let o = build(&f, Dir::Original).expect("original");
        assert_eq!(o.matched.vlan, None);
        assert!(!actions(&o).contains(&Action::VlanPop));
        let r = build(&f, Dir::Reply).expect("reply");
        assert!(!actions(&r)
            .iter()
            .any(|a| matches!(a, Action::VlanPush { .. })));
    }

    #[test]
    fn refused_what_hardware_cannot_do() {
        let mut f = masquerade();
        f.dirs[0].egress = Egress::Xfrm;
        assert_eq!(build(&f, Dir::Original), Err(RuleError::Unsupported));
        let mut f = masquerade();
        f.dirs[0].tuple.l4proto = 1;
        assert_eq!(build(&f, Dir::Original), Err(RuleError::Unsupported));
        // A GRE flow with NAT: C would emit a port mangle of header type 0.
        let mut f = masquerade();
        for d in &mut f.dirs {
            d.tuple.l4proto = IPPROTO_GRE;
        }
        assert_eq!(build(&f, Dir::Original), Err(RuleError::Unsupported));
        f.flags = 0;
        let r = build(&f, Dir::Original).expect("GRE without NAT");
        assert_eq!(r.matched.ports, None);
        // An 802.1AD tag to push.
        let mut f = masquerade();
        f.dirs[1].tuple.encap[0] = Encap {
            id: 5,
            proto: 0x88a8,
        };
        f.dirs[1].encap_num = 1;
        assert_eq!(build(&f, Dir::Original), Err(RuleError::Unsupported));
    }

    /// Applying the mangles to real headers gives what the software path writes: the bytes
    /// are right whatever the host's byte order.
    #[test]
    fn mangles_applied_to_headers_rewrite_them() {
        let r = build(&masquerade(), Dir::Original).expect("rule");
        let mut eth = [0xaau8; 14];
        let mut ip = [0u8; 20];
        ip[12..16].copy_from_slice(&[10, 0, 1, 99]);
        let mut tcp = [0u8; 20];
        tcp[..4].copy_from_slice(&[0x9c, 0x40, 0, 80]);
        for a in r.actions() {
            if let Action::Mangle {
                header,
                offset,
                mask,
                val,
            } = a
            {
                let hdr: &mut [u8] = match header {
                    MangleHeader::Eth => &mut eth,
                    MangleHeader::Ip4 => &mut ip,
                    _ => &mut tcp,
                };
                let at = offset as usize;
                for i in 0..4 {
                    hdr[at + i] = (hdr[at + i] & mask[i]) ^ val[i];
                }
            }
        }
        assert_eq!(&eth[..6], &SERVER_MAC);
        assert_eq!(&eth[6..12], &WAN_MAC);
        assert_eq!(&eth[12..], &[0xaa, 0xaa]);
        assert_eq!(&ip[12..16], &[10, 0, 2, 1]);
        assert_eq!(&tcp[..4], &[0xee, 0x48, 0, 80]);
    }

    #[test]
    fn more_than_the_maximum_is_too_big() {
        let mut rule = Rule {
            matched: build_match(&masquerade().dirs[0]).expect("match"),
            actions: [None; ACTIONS_MAX],
            len: 0,
        };
        for _ in 0..ACTIONS_MAX {
            rule.push(Action::VlanPop).expect("room");
        }
        assert_eq!(rule.push(Action::VlanPop), Err(RuleError::TooManyActions));
    }
}
