// SPDX-License-Identifier: GPL-2.0

//! A flow as the kernel describes it (include/rflow_genl.c, rflow_fill_flow()), decoded from
//! its attributes, and the filters `list`, `count`, `del` and `watch` apply to flows.
//!
//! What a message holds depends on the request's RFLOW_A_UFID_FLAGS: a terse flow
//! (RFLOW_UFID_F_TERSE) carries only the UFID, the counters of each direction and IDLE_MS; the
//! hardware counters are left out while they are 0. Everything that may be missing is an
//! `Option` (or, for the hardware counters, 0).

use std::fmt;
use std::net::IpAddr;

use rflow_pure::fmt::{Ipv4, Ipv6};
use rflow_pure::ufid::Ufid;

use crate::attr::{self, Attr, ReqAttr};
use crate::uapi;

/// An address of a tuple, in network order as packets carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::V4(a) => fmt::Display::fmt(&Ipv4(*a), f),
            Addr::V6(a) => fmt::Display::fmt(&Ipv6(*a), f),
        }
    }
}

impl Addr {
    fn from_attr(a: &Attr<'_>, what: &str) -> Result<Self, String> {
        match a.value.len() {
            4 => Ok(Addr::V4(a.value.try_into().map_err(|_| "address")?)),
            16 => Ok(Addr::V6(a.value.try_into().map_err(|_| "address")?)),
            n => Err(format!("{what} has {n} bytes, expected 4 or 16")),
        }
    }

    /// Whether this is the address `ip` (an IPv4 address never equals an IPv6 one).
    pub fn is(&self, ip: &IpAddr) -> bool {
        match (self, ip) {
            (Addr::V4(a), IpAddr::V4(b)) => *a == b.octets(),
            (Addr::V6(a), IpAddr::V6(b)) => *a == b.octets(),
            _ => false,
        }
    }
}

/// One encapsulation of a direction (an RFLOW_T_ENCAP): a VLAN tag or a PPPoE session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encap {
    pub proto: u16,
    pub id: u16,
}

/// One direction of a flow (RFLOW_A_ORIG or RFLOW_A_REPLY).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dir {
    pub l3proto: Option<u8>,
    pub l4proto: Option<u8>,
    pub src: Option<Addr>,
    pub dst: Option<Addr>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub iif: Option<u32>,
    /// Outermost first.
    pub encap: Vec<Encap>,
    pub xmit: Option<u8>,
    pub oif: Option<u32>,
    pub mtu: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    pub hw_packets: u64,
    pub hw_bytes: u64,
}

/// The flowtable a flow belongs to (RFLOW_A_FLOWTABLE).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowtableId {
    pub family: u8,
    pub table: String,
    pub name: String,
}

/// A decoded flow message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub ufid: Ufid,
    pub flowtable: Option<FlowtableId>,
    pub flags: Option<u32>,
    pub hw_state: Option<u8>,
    pub ct_id: Option<u32>,
    pub zone: Option<u16>,
    pub orig: Dir,
    pub reply: Dir,
    pub expires_ms: Option<u32>,
    pub idle_ms: Option<u32>,
    /// Why the flow left its flowtable: DEL events and DEL replies.
    pub reason: Option<u8>,
}

impl Flow {
    /// Decodes the attributes of a GET reply, a DEL reply or an event. Attributes of unknown
    /// types (pads, newer kernels) are skipped; a known attribute of the wrong size, or a
    /// missing or malformed UFID, is an error.
    pub fn decode(payload: &[u8]) -> Result<Flow, String> {
        let mut ufid = None;
        let mut flow = Flow {
            ufid: Ufid::default(),
            flowtable: None,
            flags: None,
            hw_state: None,
            ct_id: None,
            zone: None,
            orig: Dir::default(),
            reply: Dir::default(),
            expires_ms: None,
            idle_ms: None,
            reason: None,
        };
        for a in attr::walk(payload) {
            let a = a?;
            match a.kind {
                uapi::RFLOW_A_UFID => {
                    ufid = Some(Ufid::from_slice(a.value).ok_or_else(|| {
                        format!("RFLOW_A_UFID has {} bytes, expected 16", a.value.len())
                    })?)
                }
                uapi::RFLOW_A_FLOWTABLE => flow.flowtable = Some(decode_flowtable(a.value)?),
                uapi::RFLOW_A_ORIG => flow.orig = decode_dir(a.value, "RFLOW_A_ORIG")?,
                uapi::RFLOW_A_REPLY => flow.reply = decode_dir(a.value, "RFLOW_A_REPLY")?,
                uapi::RFLOW_A_FLAGS => flow.flags = Some(a.u32("RFLOW_A_FLAGS")?),
                uapi::RFLOW_A_HW_STATE => flow.hw_state = Some(a.u8("RFLOW_A_HW_STATE")?),
                uapi::RFLOW_A_EXPIRES_MS => flow.expires_ms = Some(a.u32("RFLOW_A_EXPIRES_MS")?),
                uapi::RFLOW_A_IDLE_MS => flow.idle_ms = Some(a.u32("RFLOW_A_IDLE_MS")?),
                uapi::RFLOW_A_CT_ID => flow.ct_id = Some(a.u32("RFLOW_A_CT_ID")?),
                uapi::RFLOW_A_ZONE => flow.zone = Some(a.u16("RFLOW_A_ZONE")?),
                uapi::RFLOW_A_REASON => flow.reason = Some(a.u8("RFLOW_A_REASON")?),
                _ => {} // RFLOW_A_PAD, and what newer kernels add
            }
        }
        flow.ufid = ufid.ok_or("no RFLOW_A_UFID")?;
        Ok(flow)
    }

    /// The layer 4 protocol (both directions have the same).
    pub fn l4proto(&self) -> Option<u8> {
        self.orig.l4proto.or(self.reply.l4proto)
    }

    /// The layer 3 protocol, NFPROTO_IPV4 or NFPROTO_IPV6.
    pub fn l3proto(&self) -> Option<u8> {
        self.orig.l3proto.or(self.reply.l3proto)
    }

    /// Whether the message has the key (tuples, flowtable, flags): it is not terse.
    pub fn has_key(&self) -> bool {
        self.flowtable.is_some() || self.orig.src.is_some()
    }

    fn dirs(&self) -> [&Dir; 2] {
        [&self.orig, &self.reply]
    }
}

fn decode_flowtable(buf: &[u8]) -> Result<FlowtableId, String> {
    let mut ft = FlowtableId::default();
    for a in attr::walk(buf) {
        let a = a?;
        match a.kind {
            uapi::RFLOW_FT_A_FAMILY => ft.family = a.u8("RFLOW_FT_A_FAMILY")?,
            uapi::RFLOW_FT_A_TABLE => ft.table = a.string(),
            uapi::RFLOW_FT_A_NAME => ft.name = a.string(),
            _ => {}
        }
    }
    Ok(ft)
}

fn decode_dir(buf: &[u8], what: &str) -> Result<Dir, String> {
    let mut d = Dir::default();
    let name = |n: &str| format!("{what}/{n}");
    for a in attr::walk(buf) {
        let a = a?;
        match a.kind {
            uapi::RFLOW_T_L3PROTO => d.l3proto = Some(a.u8(&name("RFLOW_T_L3PROTO"))?),
            uapi::RFLOW_T_L4PROTO => d.l4proto = Some(a.u8(&name("RFLOW_T_L4PROTO"))?),
            uapi::RFLOW_T_SRC => d.src = Some(Addr::from_attr(&a, &name("RFLOW_T_SRC"))?),
            uapi::RFLOW_T_DST => d.dst = Some(Addr::from_attr(&a, &name("RFLOW_T_DST"))?),
            uapi::RFLOW_T_SPORT => d.sport = Some(a.be16(&name("RFLOW_T_SPORT"))?),
            uapi::RFLOW_T_DPORT => d.dport = Some(a.be16(&name("RFLOW_T_DPORT"))?),
            uapi::RFLOW_T_IIF => d.iif = Some(a.u32(&name("RFLOW_T_IIF"))?),
            uapi::RFLOW_T_ENCAP => d.encap.push(decode_encap(a.value, &name("RFLOW_T_ENCAP"))?),
            uapi::RFLOW_T_XMIT => d.xmit = Some(a.u8(&name("RFLOW_T_XMIT"))?),
            uapi::RFLOW_T_OIF => d.oif = Some(a.u32(&name("RFLOW_T_OIF"))?),
            uapi::RFLOW_T_MTU => d.mtu = Some(a.u32(&name("RFLOW_T_MTU"))?),
            uapi::RFLOW_T_PACKETS => d.packets = a.u64(&name("RFLOW_T_PACKETS"))?,
            uapi::RFLOW_T_BYTES => d.bytes = a.u64(&name("RFLOW_T_BYTES"))?,
            uapi::RFLOW_T_HW_PACKETS => d.hw_packets = a.u64(&name("RFLOW_T_HW_PACKETS"))?,
            uapi::RFLOW_T_HW_BYTES => d.hw_bytes = a.u64(&name("RFLOW_T_HW_BYTES"))?,
            _ => {} // RFLOW_T_PAD, and what newer kernels add
        }
    }
    Ok(d)
}

/// One RFLOW_T_ENCAP: the kernel sends one per encapsulation, outermost first.
fn decode_encap(buf: &[u8], what: &str) -> Result<Encap, String> {
    let (mut proto, mut id) = (None, None);
    for e in attr::walk(buf) {
        let e = e?;
        match e.kind {
            uapi::RFLOW_ENCAP_A_PROTO => proto = Some(e.u16(&format!("{what}/PROTO"))?),
            uapi::RFLOW_ENCAP_A_ID => id = Some(e.u16(&format!("{what}/ID"))?),
            _ => {}
        }
    }
    match (proto, id) {
        (Some(proto), Some(id)) => Ok(Encap { proto, id }),
        _ => Err(format!(
            "{what}: an encapsulation without RFLOW_ENCAP_A_PROTO or _ID"
        )),
    }
}

/// The flowtables a request names (RFLOW_A_FLOWTABLE); `None` matches any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FtFilter {
    pub family: Option<u8>,
    pub table: Option<String>,
    pub name: Option<String>,
}

impl FtFilter {
    pub fn is_empty(&self) -> bool {
        self.family.is_none() && self.table.is_none() && self.name.is_none()
    }

    /// The RFLOW_A_FLOWTABLE nest for the kernel, if the filter names anything.
    pub fn to_attr(&self) -> Option<ReqAttr> {
        if self.is_empty() {
            return None;
        }
        let mut nest = Vec::new();
        if let Some(f) = self.family {
            nest.push(ReqAttr::FtFamily(f));
        }
        if let Some(t) = &self.table {
            nest.push(ReqAttr::FtTable(t.clone()));
        }
        if let Some(n) = &self.name {
            nest.push(ReqAttr::FtName(n.clone()));
        }
        Some(ReqAttr::Flowtable(nest))
    }

    /// Whether flowtable `ft` is one of those named, as the kernel decides for dumps; a flow
    /// without its flowtable (terse) matches only an empty filter.
    pub fn matches(&self, ft: Option<&FlowtableId>) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(ft) = ft else { return false };
        self.family.is_none_or(|f| f == ft.family)
            && self.table.as_ref().is_none_or(|t| *t == ft.table)
            && self.name.as_ref().is_none_or(|n| *n == ft.name)
    }
}

/// The filters the kernel cannot apply, checked on each flow of a dump or event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub proto: Option<u8>,
    pub addr: Option<IpAddr>,
    pub port: Option<u16>,
    /// An ifindex (names are resolved in the target namespace first).
    pub dev: Option<u32>,
    pub hw_state: Option<u8>,
}

impl Filter {
    /// Whether the filter looks at the key: then a terse dump cannot be used.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Whether `flow` passes every filter. A flow missing a field a filter needs (a terse
    /// flow) does not.
    pub fn matches(&self, flow: &Flow) -> bool {
        if let Some(p) = self.proto {
            if flow.l4proto() != Some(p) {
                return false;
            }
        }
        if let Some(ip) = &self.addr {
            let hit = flow
                .dirs()
                .iter()
                .any(|d| d.src.is_some_and(|a| a.is(ip)) || d.dst.is_some_and(|a| a.is(ip)));
            if !hit {
                return false;
            }
        }
        if let Some(port) = self.port {
            let hit = flow
                .dirs()
                .iter()
                .any(|d| d.sport == Some(port) || d.dport == Some(port));
            if !hit {
                return false;
            }
        }
        if let Some(dev) = self.dev {
            let hit = flow
                .dirs()
                .iter()
                .any(|d| d.iif == Some(dev) || d.oif == Some(dev));
            if !hit {
                return false;
            }
        }
        if let Some(s) = self.hw_state {
            if flow.hw_state != Some(s) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::attr::Builder;

    /// Offset of a genl message's attributes from the start of its skb: nlmsghdr + genlmsghdr.
    pub const ATTR_BASE: usize = 16 + 4;

    pub const UFID: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4e, 0xf0, 0x81, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
        0xef,
    ];

    /// One direction as rflow_put_dir() writes it.
    pub struct DirSpec<'a> {
        pub l3: u8,
        pub l4: u8,
        pub src: &'a [u8],
        pub dst: &'a [u8],
        pub sport: u16,
        pub dport: u16,
        pub iif: u32,
        pub encap: &'a [(u16, u16)],
        pub xmit: u8,
        pub oif: u32,
        pub mtu: u32,
        pub counters: [u64; 4],
    }

    fn put_dir(b: &mut Builder, kind: u16, d: &DirSpec<'_>, omit_key: bool, omit_actions: bool) {
        b.nest_start(kind);
        if !omit_key {
            b.u8(uapi::RFLOW_T_L3PROTO, d.l3)
                .u8(uapi::RFLOW_T_L4PROTO, d.l4)
                .put(uapi::RFLOW_T_SRC, d.src)
                .put(uapi::RFLOW_T_DST, d.dst)
                .be16(uapi::RFLOW_T_SPORT, d.sport)
                .be16(uapi::RFLOW_T_DPORT, d.dport)
                .u32(uapi::RFLOW_T_IIF, d.iif);
            for (proto, id) in d.encap {
                b.nest_start(uapi::RFLOW_T_ENCAP)
                    .u16(uapi::RFLOW_ENCAP_A_PROTO, *proto)
                    .u16(uapi::RFLOW_ENCAP_A_ID, *id)
                    .nest_end();
            }
        }
        if !omit_actions {
            b.u8(uapi::RFLOW_T_XMIT, d.xmit)
                .u32(uapi::RFLOW_T_OIF, d.oif)
                .u32(uapi::RFLOW_T_MTU, d.mtu);
        }
        let [p, by, hp, hb] = d.counters;
        b.u64_64bit(uapi::RFLOW_T_PACKETS, p, uapi::RFLOW_T_PAD)
            .u64_64bit(uapi::RFLOW_T_BYTES, by, uapi::RFLOW_T_PAD);
        if hp != 0 || hb != 0 {
            b.u64_64bit(uapi::RFLOW_T_HW_PACKETS, hp, uapi::RFLOW_T_PAD)
                .u64_64bit(uapi::RFLOW_T_HW_BYTES, hb, uapi::RFLOW_T_PAD);
        }
        b.nest_end();
    }

    /// A flow as rflow_fill_flow() writes it.
    pub struct FlowSpec<'a> {
        pub ft: (u8, &'a str, &'a str),
        pub flags: u32,
        pub hw_state: u8,
        pub ct_id: u32,
        pub zone: u16,
        pub dirs: [DirSpec<'a>; 2],
        pub expires_ms: u32,
        pub idle_ms: u32,
        pub reason: u8,
    }

    /// The attributes of rflow_fill_flow() for `f` with RFLOW_A_UFID_FLAGS `ufid_flags`.
    pub fn fill_flow(f: &FlowSpec<'_>, ufid_flags: u32, pad64: bool) -> Vec<u8> {
        let omit_key = ufid_flags & uapi::RFLOW_UFID_F_OMIT_KEY != 0;
        let omit_actions = ufid_flags & uapi::RFLOW_UFID_F_OMIT_ACTIONS != 0;
        let mut b = Builder::new(ATTR_BASE);
        b.pad64 = pad64;
        b.put(uapi::RFLOW_A_UFID, &UFID);
        if !omit_key {
            b.nest_start(uapi::RFLOW_A_FLOWTABLE)
                .u8(uapi::RFLOW_FT_A_FAMILY, f.ft.0)
                .string(uapi::RFLOW_FT_A_TABLE, f.ft.1)
                .string(uapi::RFLOW_FT_A_NAME, f.ft.2)
                .nest_end();
            b.u32(uapi::RFLOW_A_FLAGS, f.flags)
                .u8(uapi::RFLOW_A_HW_STATE, f.hw_state)
                .u32(uapi::RFLOW_A_CT_ID, f.ct_id)
                .u16(uapi::RFLOW_A_ZONE, f.zone);
        }
        put_dir(
            &mut b,
            uapi::RFLOW_A_ORIG,
            &f.dirs[0],
            omit_key,
            omit_actions,
        );
        put_dir(
            &mut b,
            uapi::RFLOW_A_REPLY,
            &f.dirs[1],
            omit_key,
            omit_actions,
        );
        if !omit_key {
            b.u32(uapi::RFLOW_A_EXPIRES_MS, f.expires_ms);
        }
        b.u32(uapi::RFLOW_A_IDLE_MS, f.idle_ms);
        if f.reason != 0 {
            b.u8(uapi::RFLOW_A_REASON, f.reason);
        }
        b.buf
    }

    /// The brief's example: a TCP flow 10.0.1.99:40000 -> 10.0.2.99:12345, offloaded.
    pub fn tcp4() -> FlowSpec<'static> {
        FlowSpec {
            ft: (uapi::NFPROTO_INET, "filter", "f1"),
            flags: 0,
            hw_state: uapi::RFLOW_HW_OFFLOADED,
            ct_id: 3_735_928_559,
            zone: 0,
            dirs: [
                DirSpec {
                    l3: uapi::NFPROTO_IPV4,
                    l4: uapi::IPPROTO_TCP,
                    src: &[10, 0, 1, 99],
                    dst: &[10, 0, 2, 99],
                    sport: 40000,
                    dport: 12345,
                    iif: 3,
                    encap: &[],
                    xmit: uapi::RFLOW_XMIT_NEIGH,
                    oif: 4,
                    mtu: 1500,
                    counters: [600, 780_000, 0, 0],
                },
                DirSpec {
                    l3: uapi::NFPROTO_IPV4,
                    l4: uapi::IPPROTO_TCP,
                    src: &[10, 0, 2, 99],
                    dst: &[10, 0, 1, 99],
                    sport: 12345,
                    dport: 40000,
                    iif: 4,
                    encap: &[],
                    xmit: uapi::RFLOW_XMIT_NEIGH,
                    oif: 3,
                    mtu: 1500,
                    counters: [600, 31_200, 0, 0],
                },
            ],
            expires_ms: 29_500,
            idle_ms: 500,
            reason: 0,
        }
    }

    pub const V6_A: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99,
    ];
    pub const V6_B: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99,
    ];
    pub const V6_NAT: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

    /// A UDP IPv6 flow, source-NATed and closing, through a VLAN and a PPPoE session, with
    /// hardware counters, in software after its hardware rule died.
    pub fn udp6_nat() -> FlowSpec<'static> {
        FlowSpec {
            ft: (uapi::NFPROTO_IPV6, "nat6", "ft"),
            flags: uapi::RFLOW_F_SNAT | uapi::RFLOW_F_CLOSING,
            hw_state: uapi::RFLOW_HW_NONE,
            ct_id: 7,
            zone: 2,
            dirs: [
                DirSpec {
                    l3: uapi::NFPROTO_IPV6,
                    l4: uapi::IPPROTO_UDP,
                    src: &V6_A,
                    dst: &V6_B,
                    sport: 5353,
                    dport: 53,
                    iif: 5,
                    encap: &[(uapi::ETH_P_8021Q, 10), (uapi::ETH_P_PPP_SES, 1)],
                    xmit: uapi::RFLOW_XMIT_DIRECT,
                    oif: 6,
                    mtu: 1492,
                    counters: [10, 1000, 5, 500],
                },
                DirSpec {
                    l3: uapi::NFPROTO_IPV6,
                    l4: uapi::IPPROTO_UDP,
                    src: &V6_B,
                    dst: &V6_NAT,
                    sport: 53,
                    dport: 61000,
                    iif: 6,
                    encap: &[],
                    xmit: uapi::RFLOW_XMIT_NEIGH,
                    oif: 5,
                    mtu: 1500,
                    counters: [9, 900, 0, 0],
                },
            ],
            expires_ms: 999,
            idle_ms: 29_001,
            reason: 0,
        }
    }

    #[test]
    fn full_ipv4_flow() {
        for pad64 in [false, true] {
            let buf = fill_flow(&tcp4(), 0, pad64);
            let f = Flow::decode(&buf).unwrap();
            assert_eq!(f.ufid, Ufid(UFID));
            assert_eq!(
                f.flowtable,
                Some(FlowtableId {
                    family: uapi::NFPROTO_INET,
                    table: "filter".into(),
                    name: "f1".into()
                })
            );
            assert_eq!(f.flags, Some(0));
            assert_eq!(f.hw_state, Some(uapi::RFLOW_HW_OFFLOADED));
            assert_eq!(f.ct_id, Some(3_735_928_559));
            assert_eq!(f.zone, Some(0));
            assert_eq!(f.orig.src, Some(Addr::V4([10, 0, 1, 99])));
            assert_eq!(f.orig.dst, Some(Addr::V4([10, 0, 2, 99])));
            assert_eq!((f.orig.sport, f.orig.dport), (Some(40000), Some(12345)));
            assert_eq!((f.orig.iif, f.orig.oif), (Some(3), Some(4)));
            assert_eq!(f.orig.xmit, Some(uapi::RFLOW_XMIT_NEIGH));
            assert_eq!(f.orig.mtu, Some(1500));
            assert_eq!((f.orig.packets, f.orig.bytes), (600, 780_000));
            assert_eq!((f.reply.packets, f.reply.bytes), (600, 31_200));
            assert_eq!((f.reply.sport, f.reply.dport), (Some(12345), Some(40000)));
            assert_eq!(f.expires_ms, Some(29_500));
            assert_eq!(f.idle_ms, Some(500));
            assert_eq!(f.reason, None);
            assert_eq!(f.l4proto(), Some(uapi::IPPROTO_TCP));
            assert!(f.has_key());
        }
    }

    #[test]
    fn pad_attributes_are_where_the_kernel_puts_them() {
        let padded = fill_flow(&tcp4(), 0, true);
        let plain = fill_flow(&tcp4(), 0, false);
        assert!(padded.len() > plain.len(), "no RFLOW_T_PAD was generated");
        assert_eq!(
            Flow::decode(&padded).unwrap(),
            Flow::decode(&plain).unwrap()
        );
    }

    #[test]
    fn ipv6_with_nat_flags_and_encap() {
        let f = Flow::decode(&fill_flow(&udp6_nat(), 0, true)).unwrap();
        assert_eq!(f.orig.src, Some(Addr::V6(V6_A)));
        assert_eq!(f.reply.dst, Some(Addr::V6(V6_NAT)));
        assert_eq!(f.orig.src.unwrap().to_string(), "2001:db8:1::99");
        assert_eq!(f.flags, Some(uapi::RFLOW_F_SNAT | uapi::RFLOW_F_CLOSING));
        assert_eq!(
            f.orig.encap,
            vec![
                Encap {
                    proto: uapi::ETH_P_8021Q,
                    id: 10
                },
                Encap {
                    proto: uapi::ETH_P_PPP_SES,
                    id: 1
                }
            ]
        );
        assert!(f.reply.encap.is_empty());
        assert_eq!((f.orig.hw_packets, f.orig.hw_bytes), (5, 500));
        assert_eq!(f.zone, Some(2));
        assert_eq!(f.l3proto(), Some(uapi::NFPROTO_IPV6));
    }

    #[test]
    fn terse_flow() {
        let buf = fill_flow(&tcp4(), uapi::RFLOW_UFID_F_TERSE, false);
        let f = Flow::decode(&buf).unwrap();
        assert_eq!(f.ufid, Ufid(UFID));
        assert!(!f.has_key());
        assert_eq!(f.flowtable, None);
        assert_eq!(f.hw_state, None);
        assert_eq!(f.orig.src, None);
        assert_eq!(f.orig.oif, None);
        assert_eq!((f.orig.packets, f.reply.bytes), (600, 31_200));
        assert_eq!((f.orig.hw_packets, f.reply.hw_bytes), (0, 0));
        assert_eq!(f.expires_ms, None);
        assert_eq!(f.idle_ms, Some(500));
        // Omit actions only: tuples but no output.
        let f = Flow::decode(&fill_flow(&tcp4(), uapi::RFLOW_UFID_F_OMIT_ACTIONS, false)).unwrap();
        assert!(f.has_key());
        assert_eq!((f.orig.oif, f.orig.xmit, f.orig.mtu), (None, None, None));
    }

    #[test]
    fn del_event_with_reason() {
        let mut spec = tcp4();
        spec.reason = uapi::RFLOW_REASON_EXPIRED;
        spec.flags = uapi::RFLOW_F_TEARDOWN;
        let f = Flow::decode(&fill_flow(&spec, 0, false)).unwrap();
        assert_eq!(f.reason, Some(uapi::RFLOW_REASON_EXPIRED));
        assert_eq!(f.flags, Some(uapi::RFLOW_F_TEARDOWN));
    }

    #[test]
    fn unknown_attributes_are_skipped() {
        let mut b = Builder::new(ATTR_BASE);
        b.put(200, b"from the future")
            .put(uapi::RFLOW_A_UFID, &UFID)
            .nest_start(uapi::RFLOW_A_ORIG)
            .put(99, &[1, 2, 3])
            .u64_64bit(uapi::RFLOW_T_PACKETS, 5, uapi::RFLOW_T_PAD)
            .nest_end()
            .nest_start(uapi::RFLOW_A_FLOWTABLE)
            .u32(42, 0)
            .string(uapi::RFLOW_FT_A_NAME, "f1")
            .nest_end()
            .put(uapi::RFLOW_A_PAD, &[])
            .u32(uapi::RFLOW_A_EXPIRES_MS, 1);
        let mut buf = b.buf.clone();
        let f = Flow::decode(&buf).unwrap();
        assert_eq!(f.orig.packets, 5);
        assert_eq!(f.flowtable.unwrap().name, "f1");
        assert_eq!(f.expires_ms, Some(1));
        // The attribute type's flag bits are ignored too.
        buf[2..4].copy_from_slice(&(200u16 | 0x4000).to_ne_bytes());
        assert!(Flow::decode(&buf).is_ok());
    }

    #[test]
    fn malformed_flows_are_errors() {
        let mut b = Builder::new(ATTR_BASE);
        b.u32(uapi::RFLOW_A_EXPIRES_MS, 1);
        assert_eq!(Flow::decode(&b.buf).unwrap_err(), "no RFLOW_A_UFID");
        let mut b = Builder::new(ATTR_BASE);
        b.put(uapi::RFLOW_A_UFID, &UFID[..15]);
        assert!(Flow::decode(&b.buf).unwrap_err().contains("15 bytes"));
        let mut b = Builder::new(ATTR_BASE);
        b.put(uapi::RFLOW_A_UFID, &UFID).u16(uapi::RFLOW_A_FLAGS, 1);
        assert!(Flow::decode(&b.buf).unwrap_err().contains("RFLOW_A_FLAGS"));
        let mut b = Builder::new(ATTR_BASE);
        b.put(uapi::RFLOW_A_UFID, &UFID)
            .nest_start(uapi::RFLOW_A_ORIG)
            .put(uapi::RFLOW_T_SRC, &[1, 2, 3])
            .nest_end();
        assert!(Flow::decode(&b.buf)
            .unwrap_err()
            .contains("RFLOW_A_ORIG/RFLOW_T_SRC has 3 bytes"));
    }

    #[test]
    fn ft_filter() {
        let ft = FlowtableId {
            family: uapi::NFPROTO_INET,
            table: "filter".into(),
            name: "f1".into(),
        };
        assert!(FtFilter::default().matches(Some(&ft)));
        assert!(FtFilter::default().matches(None));
        let by_name = FtFilter {
            name: Some("f1".into()),
            ..Default::default()
        };
        assert!(by_name.matches(Some(&ft)));
        assert!(!by_name.matches(None));
        let other = FtFilter {
            family: Some(uapi::NFPROTO_IPV4),
            name: Some("f1".into()),
            ..Default::default()
        };
        assert!(!other.matches(Some(&ft)));
        assert_eq!(FtFilter::default().to_attr(), None);
        assert_eq!(
            other.to_attr(),
            Some(ReqAttr::Flowtable(vec![
                ReqAttr::FtFamily(uapi::NFPROTO_IPV4),
                ReqAttr::FtName("f1".into())
            ]))
        );
    }

    #[test]
    fn filter_matching() {
        let f4 = Flow::decode(&fill_flow(&tcp4(), 0, false)).unwrap();
        let f6 = Flow::decode(&fill_flow(&udp6_nat(), 0, false)).unwrap();
        let terse = Flow::decode(&fill_flow(&tcp4(), uapi::RFLOW_UFID_F_TERSE, false)).unwrap();
        let all = Filter::default();
        assert!(all.is_empty());
        assert!(all.matches(&f4) && all.matches(&f6) && all.matches(&terse));

        let tcp = Filter {
            proto: Some(uapi::IPPROTO_TCP),
            ..Default::default()
        };
        assert!(!tcp.is_empty());
        assert!(tcp.matches(&f4) && !tcp.matches(&f6) && !tcp.matches(&terse));

        let addr = |s: &str| Filter {
            addr: Some(s.parse().unwrap()),
            ..Default::default()
        };
        assert!(addr("10.0.2.99").matches(&f4));
        assert!(!addr("10.0.2.98").matches(&f4));
        // The NAT address appears only in the reply direction.
        assert!(addr("2001:db8:2::1").matches(&f6));
        assert!(!addr("2001:db8:2::1").matches(&f4));
        assert!(!addr("::ffff:10.0.1.99").matches(&f4));

        let port = |p| Filter {
            port: Some(p),
            ..Default::default()
        };
        assert!(port(40000).matches(&f4) && port(12345).matches(&f4));
        assert!(port(61000).matches(&f6) && !port(61000).matches(&f4));

        let dev = |d| Filter {
            dev: Some(d),
            ..Default::default()
        };
        assert!(dev(3).matches(&f4) && dev(4).matches(&f4) && !dev(5).matches(&f4));
        assert!(dev(6).matches(&f6));

        let state = |s| Filter {
            hw_state: Some(s),
            ..Default::default()
        };
        assert!(state(uapi::RFLOW_HW_OFFLOADED).matches(&f4));
        assert!(!state(uapi::RFLOW_HW_NONE).matches(&f4));
        assert!(state(uapi::RFLOW_HW_NONE).matches(&f6));
        assert!(!state(uapi::RFLOW_HW_NONE).matches(&terse));

        let both = Filter {
            proto: Some(uapi::IPPROTO_UDP),
            port: Some(53),
            ..Default::default()
        };
        assert!(both.matches(&f6) && !both.matches(&f4));
    }
}
