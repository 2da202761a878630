// SPDX-License-Identifier: GPL-2.0

//! A flow as the kernel describes it (include/rflow_genl.c, rflow_fill_flow()), decoded from
//! its attributes, and the filters `list`, `count`, `del` and `watch` apply to flows.
//!
//! What a message holds depends on the request's RFLOW_A_UFID_FLAGS: a terse flow
//! (RFLOW_UFID_F_TERSE) carries only the UFID, RFLOW_A_STATS (the counters of both directions,
//! a `struct rflow_stats`) and IDLE_MS. Every flow has RFLOW_A_STATS; RFLOW_A_HW_STATS, the
//! hardware counters, is left out while they are 0. Everything that may be missing is an
//! `Option` (or, for the counters, 0).
//!
//! Also the messages of an RFLOW_CMD_STATS dump (rflow_nl_put_ft_stats()): a flowtable and its
//! counters since it was created, `FtStats`.

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

/// One direction of a flow (RFLOW_A_ORIG or RFLOW_A_REPLY), and its counters (its half of
/// RFLOW_A_STATS and RFLOW_A_HW_STATS).
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
    /// missing or malformed UFID, is an error. Missing counters are 0.
    pub fn decode(payload: &[u8]) -> Result<Flow, String> {
        let mut ufid = None;
        let (mut sw, mut hw) = (uapi::RflowStats::default(), uapi::RflowStats::default());
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
                uapi::RFLOW_A_STATS => sw = a.stats("RFLOW_A_STATS")?,
                uapi::RFLOW_A_HW_STATS => hw = a.stats("RFLOW_A_HW_STATS")?,
                _ => {} // RFLOW_A_PAD, and what newer kernels add
            }
        }
        flow.ufid = ufid.ok_or("no RFLOW_A_UFID")?;
        // After the loop: the kernel puts the counters before the directions' nests.
        (flow.orig.packets, flow.orig.bytes) = (sw.orig_packets, sw.orig_bytes);
        (flow.reply.packets, flow.reply.bytes) = (sw.reply_packets, sw.reply_bytes);
        (flow.orig.hw_packets, flow.orig.hw_bytes) = (hw.orig_packets, hw.orig_bytes);
        (flow.reply.hw_packets, flow.reply.hw_bytes) = (hw.reply_packets, hw.reply_bytes);
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

/// The reasons RFLOW_A_FT_STATS counts removed flows by, in the order of `enum rflow_reason`:
/// their attribute, the reason and its name (`reason_name()`'s).
pub const REMOVED_BY: [(u16, u8, &str); 6] = [
    (
        uapi::RFLOW_FTS_A_EXPIRED,
        uapi::RFLOW_REASON_EXPIRED,
        "expired",
    ),
    (
        uapi::RFLOW_FTS_A_CLOSED,
        uapi::RFLOW_REASON_CLOSED,
        "closed",
    ),
    (uapi::RFLOW_FTS_A_ROUTE, uapi::RFLOW_REASON_ROUTE, "route"),
    (
        uapi::RFLOW_FTS_A_DEVICE,
        uapi::RFLOW_REASON_DEVICE,
        "device",
    ),
    (uapi::RFLOW_FTS_A_USER, uapi::RFLOW_REASON_USER, "user"),
    (uapi::RFLOW_FTS_A_FLUSH, uapi::RFLOW_REASON_FLUSH, "flush"),
];

/// A flowtable's counters since it was created (RFLOW_A_FT_STATS). What is missing is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FtStats {
    /// Flows in the flowtable now.
    pub flows: u64,
    pub created: u64,
    /// Flows removed, whatever the reason: at least the sum of `removed_by`.
    pub removed: u64,
    /// Flows removed for each reason of `REMOVED_BY`.
    pub removed_by: [u64; REMOVED_BY.len()],
    /// What the flowtable's flows forwarded in software since it was created, the removed
    /// ones and those in it now (RFLOW_FTS_A_STATS), and in hardware (RFLOW_FTS_A_HW_STATS):
    /// one snapshot, so they only grow.
    pub sw: uapi::RflowStats,
    pub hw: uapi::RflowStats,
    /// Flows a driver holds now (RFLOW_FTS_A_HW_FLOWS).
    pub hw_flows: u64,
    /// The size of the flow hash table, and its resizes.
    pub buckets: u32,
    pub grown: u64,
    pub shrunk: u64,
    pub resize_failed: u64,
}

/// A message of an RFLOW_CMD_STATS dump: a flowtable and its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FtStatsMsg {
    pub flowtable: FlowtableId,
    pub stats: FtStats,
}

impl FtStatsMsg {
    /// Decodes the attributes of an RFLOW_CMD_STATS message. Both RFLOW_A_FLOWTABLE and
    /// RFLOW_A_FT_STATS are needed; attributes of unknown types, outside the nest or in it
    /// (pads, newer kernels), are skipped; a known attribute of the wrong size is an error.
    pub fn decode(payload: &[u8]) -> Result<FtStatsMsg, String> {
        let (mut flowtable, mut stats) = (None, None);
        for a in attr::walk(payload) {
            let a = a?;
            match a.kind {
                uapi::RFLOW_A_FLOWTABLE => flowtable = Some(decode_flowtable(a.value)?),
                uapi::RFLOW_A_FT_STATS => stats = Some(decode_ft_stats(a.value)?),
                _ => {}
            }
        }
        Ok(FtStatsMsg {
            flowtable: flowtable.ok_or("no RFLOW_A_FLOWTABLE")?,
            stats: stats.ok_or("no RFLOW_A_FT_STATS")?,
        })
    }
}

fn decode_ft_stats(buf: &[u8]) -> Result<FtStats, String> {
    let mut s = FtStats::default();
    let name = |n: &str| format!("RFLOW_A_FT_STATS/{n}");
    for a in attr::walk(buf) {
        let a = a?;
        if let Some(i) = REMOVED_BY.iter().position(|(kind, ..)| *kind == a.kind) {
            let what = format!("RFLOW_FTS_A_{}", REMOVED_BY[i].2.to_ascii_uppercase());
            s.removed_by[i] = a.u64(&name(&what))?;
            continue;
        }
        match a.kind {
            uapi::RFLOW_FTS_A_FLOWS => s.flows = a.u64(&name("RFLOW_FTS_A_FLOWS"))?,
            uapi::RFLOW_FTS_A_CREATED => s.created = a.u64(&name("RFLOW_FTS_A_CREATED"))?,
            uapi::RFLOW_FTS_A_REMOVED => s.removed = a.u64(&name("RFLOW_FTS_A_REMOVED"))?,
            uapi::RFLOW_FTS_A_STATS => s.sw = a.stats(&name("RFLOW_FTS_A_STATS"))?,
            uapi::RFLOW_FTS_A_HW_STATS => s.hw = a.stats(&name("RFLOW_FTS_A_HW_STATS"))?,
            uapi::RFLOW_FTS_A_HW_FLOWS => s.hw_flows = a.u64(&name("RFLOW_FTS_A_HW_FLOWS"))?,
            uapi::RFLOW_FTS_A_BUCKETS => s.buckets = a.u32(&name("RFLOW_FTS_A_BUCKETS"))?,
            uapi::RFLOW_FTS_A_GROWN => s.grown = a.u64(&name("RFLOW_FTS_A_GROWN"))?,
            uapi::RFLOW_FTS_A_SHRUNK => s.shrunk = a.u64(&name("RFLOW_FTS_A_SHRUNK"))?,
            uapi::RFLOW_FTS_A_RESIZE_FAILED => {
                s.resize_failed = a.u64(&name("RFLOW_FTS_A_RESIZE_FAILED"))?
            }
            _ => {} // RFLOW_FTS_A_PAD, and what newer kernels add
        }
    }
    Ok(s)
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
            _ => {} // what newer kernels add
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

    pub const UFID: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4e, 0xf0, 0x81, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
        0xef,
    ];

    /// One direction as rflow_put_dir() writes it, and its counters.
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
        /// Packets, bytes, hardware packets, hardware bytes.
        pub counters: [u64; 4],
    }

    fn put_dir(b: &mut Builder, kind: u16, d: &DirSpec<'_>, omit_key: bool, omit_actions: bool) {
        if omit_key && omit_actions {
            return; // the counters are not in the nest
        }
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
        b.nest_end();
    }

    /// The `struct rflow_stats` of both directions' software (`hw` false) or hardware counters.
    fn stats(dirs: &[DirSpec<'_>; 2], hw: bool) -> uapi::RflowStats {
        let i = if hw { 2 } else { 0 };
        let [o, r] = [&dirs[0].counters, &dirs[1].counters];
        uapi::RflowStats {
            orig_packets: o[i],
            orig_bytes: o[i + 1],
            reply_packets: r[i],
            reply_bytes: r[i + 1],
        }
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

    /// The attributes of rflow_fill_flow() for `f` with RFLOW_A_UFID_FLAGS `ufid_flags`: first
    /// rflow_put_head()'s (the counters, the UFID, the idle time), then the key and actions.
    pub fn fill_flow(f: &FlowSpec<'_>, ufid_flags: u32) -> Vec<u8> {
        let omit_key = ufid_flags & uapi::RFLOW_UFID_F_OMIT_KEY != 0;
        let omit_actions = ufid_flags & uapi::RFLOW_UFID_F_OMIT_ACTIONS != 0;
        let mut b = Builder::default();
        b.put(uapi::RFLOW_A_STATS, &stats(&f.dirs, false).to_ne_bytes());
        let hw = stats(&f.dirs, true);
        if hw != uapi::RflowStats::default() {
            b.put(uapi::RFLOW_A_HW_STATS, &hw.to_ne_bytes());
        }
        b.put(uapi::RFLOW_A_UFID, &UFID)
            .u32(uapi::RFLOW_A_IDLE_MS, f.idle_ms);
        if !omit_key {
            b.nest_start(uapi::RFLOW_A_FLOWTABLE)
                .u8(uapi::RFLOW_FT_A_FAMILY, f.ft.0)
                .string(uapi::RFLOW_FT_A_TABLE, f.ft.1)
                .string(uapi::RFLOW_FT_A_NAME, f.ft.2)
                .nest_end();
            b.u32(uapi::RFLOW_A_FLAGS, f.flags)
                .u8(uapi::RFLOW_A_HW_STATE, f.hw_state)
                .u32(uapi::RFLOW_A_CT_ID, f.ct_id)
                .u16(uapi::RFLOW_A_ZONE, f.zone)
                .u32(uapi::RFLOW_A_EXPIRES_MS, f.expires_ms);
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

    /// Where a generic netlink message's attributes start, from the (8-byte aligned) start of
    /// the skb: after its netlink (16 bytes) and genetlink (4 bytes) headers.
    pub const GENL_ATTRS: usize = 20;

    /// The attributes of rflow_nl_put_ft_stats() for flowtable `ft` and counters `s`, in its
    /// order (the reasons first), written by `b`: `Builder::padded(GENL_ATTRS)` adds the pads
    /// of an architecture without efficient unaligned access.
    pub fn fill_ft_stats_with(mut b: Builder, ft: (u8, &str, &str), s: &FtStats) -> Vec<u8> {
        let pad = uapi::RFLOW_FTS_A_PAD;
        b.nest_start(uapi::RFLOW_A_FLOWTABLE)
            .u8(uapi::RFLOW_FT_A_FAMILY, ft.0)
            .string(uapi::RFLOW_FT_A_TABLE, ft.1)
            .string(uapi::RFLOW_FT_A_NAME, ft.2)
            .nest_end()
            .nest_start(uapi::RFLOW_A_FT_STATS);
        for ((kind, ..), n) in REMOVED_BY.iter().zip(s.removed_by) {
            b.u64_64bit(*kind, n, pad);
        }
        b.u64_64bit(uapi::RFLOW_FTS_A_FLOWS, s.flows, pad)
            .u64_64bit(uapi::RFLOW_FTS_A_CREATED, s.created, pad)
            .u64_64bit(uapi::RFLOW_FTS_A_REMOVED, s.removed, pad)
            .put(uapi::RFLOW_FTS_A_STATS, &s.sw.to_ne_bytes())
            .put(uapi::RFLOW_FTS_A_HW_STATS, &s.hw.to_ne_bytes())
            .u64_64bit(uapi::RFLOW_FTS_A_HW_FLOWS, s.hw_flows, pad)
            .u32(uapi::RFLOW_FTS_A_BUCKETS, s.buckets)
            .u64_64bit(uapi::RFLOW_FTS_A_GROWN, s.grown, pad)
            .u64_64bit(uapi::RFLOW_FTS_A_SHRUNK, s.shrunk, pad)
            .u64_64bit(uapi::RFLOW_FTS_A_RESIZE_FAILED, s.resize_failed, pad)
            .nest_end();
        b.buf
    }

    /// `fill_ft_stats_with()`, pads included.
    pub fn fill_ft_stats(ft: (u8, &str, &str), s: &FtStats) -> Vec<u8> {
        fill_ft_stats_with(Builder::padded(GENL_ATTRS), ft, s)
    }

    /// Counters of flowtable inet/filter/f1 with a history: two flows as tcp4() now, one of
    /// them offloaded, and 3 removed, one of them without a reason, which forwarded 100 + 90
    /// packets (150000 + 5000 bytes) in software and 1000 (1500000 bytes) in hardware; one
    /// resize of each kind.
    pub fn f1_stats() -> FtStats {
        FtStats {
            flows: 2,
            created: 5,
            removed: 3,
            removed_by: [1, 0, 0, 0, 0, 1],
            sw: uapi::RflowStats {
                orig_packets: 100 + 2 * 600,
                orig_bytes: 150_000 + 2 * 780_000,
                reply_packets: 90 + 2 * 600,
                reply_bytes: 5_000 + 2 * 31_200,
            },
            hw: uapi::RflowStats {
                orig_packets: 1000,
                orig_bytes: 1_500_000,
                reply_packets: 0,
                reply_bytes: 0,
            },
            hw_flows: 1,
            buckets: 1024,
            grown: 1,
            shrunk: 1,
            resize_failed: 1,
        }
    }

    #[test]
    fn ft_stats_message() {
        // Every attribute a distinct value.
        let s = FtStats {
            flows: 1,
            created: 2,
            removed: 3 + (1 << 40),
            removed_by: [4, 5, 6, 7, 8, 9],
            sw: uapi::RflowStats {
                orig_packets: 10,
                orig_bytes: 11,
                reply_packets: 12,
                reply_bytes: 13,
            },
            hw: uapi::RflowStats {
                orig_packets: 14,
                orig_bytes: 15,
                reply_packets: 16,
                reply_bytes: u64::MAX,
            },
            hw_flows: 17 + (1 << 33),
            buckets: 18,
            grown: 19,
            shrunk: 20,
            resize_failed: 21,
        };
        let want = FtStatsMsg {
            flowtable: FlowtableId {
                family: uapi::NFPROTO_IPV6,
                table: "nat6".into(),
                name: "ft".into(),
            },
            stats: s,
        };
        let ft = (uapi::NFPROTO_IPV6, "nat6", "ft");
        let padded = fill_ft_stats(ft, &s);
        let unpadded = fill_ft_stats_with(Builder::default(), ft, &s);
        assert!(padded.len() > unpadded.len(), "no pad attribute");
        assert_eq!(FtStatsMsg::decode(&padded).unwrap(), want);
        assert_eq!(FtStatsMsg::decode(&unpadded).unwrap(), want);
        // An empty flowtable: all 0 but the size of its table.
        let empty = FtStats {
            buckets: 64,
            ..Default::default()
        };
        let got = FtStatsMsg::decode(&fill_ft_stats(ft, &empty)).unwrap();
        assert_eq!(got.stats, empty);
        let names: Vec<String> = REMOVED_BY
            .iter()
            .map(|(_, r, _)| crate::output::reason_name(*r))
            .collect();
        assert_eq!(names, REMOVED_BY.map(|(.., n)| n));
    }

    #[test]
    fn ft_stats_unknown_attributes_are_skipped() {
        let mut b = Builder::default();
        b.put(200, b"from the future")
            .nest_start(uapi::RFLOW_A_FLOWTABLE)
            .string(uapi::RFLOW_FT_A_NAME, "f1")
            .nest_end()
            .nest_start(uapi::RFLOW_A_FT_STATS)
            .put(uapi::RFLOW_FTS_A_PAD, &[])
            .u64_64bit(uapi::RFLOW_FTS_A_CREATED, 7, uapi::RFLOW_FTS_A_PAD)
            .put(uapi::RFLOW_FTS_A_MAX + 1, &[1, 2, 3])
            .u32(200, 9)
            .u64_64bit(uapi::RFLOW_FTS_A_FLOWS, 2, uapi::RFLOW_FTS_A_PAD)
            .nest_end()
            .put(uapi::RFLOW_A_PAD, &[]);
        let got = FtStatsMsg::decode(&b.buf).unwrap();
        assert_eq!(got.flowtable.name, "f1");
        assert_eq!(
            got.stats,
            FtStats {
                flows: 2,
                created: 7,
                ..Default::default()
            }
        );
    }

    #[test]
    fn malformed_ft_stats_are_errors() {
        let ft = (uapi::NFPROTO_INET, "filter", "f1");
        let s = f1_stats();
        let with_nest = |build: &dyn Fn(&mut Builder)| {
            let mut b = Builder::default();
            b.nest_start(uapi::RFLOW_A_FLOWTABLE)
                .string(uapi::RFLOW_FT_A_NAME, "f1")
                .nest_end()
                .nest_start(uapi::RFLOW_A_FT_STATS);
            build(&mut b);
            b.nest_end();
            FtStatsMsg::decode(&b.buf)
        };
        // struct rflow_stats a member short, a member too many, empty.
        for (kind, what) in [
            (uapi::RFLOW_FTS_A_STATS, "STATS"),
            (uapi::RFLOW_FTS_A_HW_STATS, "HW_STATS"),
        ] {
            for len in [24, 40, 0] {
                let mut value = s.sw.to_ne_bytes();
                value.resize(len, 0);
                let err = with_nest(&|b| {
                    b.put(kind, &value);
                })
                .unwrap_err();
                let want = format!(
                    "RFLOW_A_FT_STATS/RFLOW_FTS_A_{what} (type {kind}) has {len} bytes, \
                     expected 32"
                );
                assert_eq!(err, want);
            }
        }
        // u64s as u32s, a u32 as a u64, a reason's counter as a u32.
        for (kind, what) in [
            (uapi::RFLOW_FTS_A_CREATED, "CREATED"),
            (uapi::RFLOW_FTS_A_HW_FLOWS, "HW_FLOWS"),
        ] {
            let err = with_nest(&|b| {
                b.u32(kind, 5);
            })
            .unwrap_err();
            assert!(err.ends_with(&format!("_{what} (type {kind}) has 4 bytes, expected 8")));
        }
        let err = with_nest(&|b| {
            b.put(uapi::RFLOW_FTS_A_BUCKETS, &64u64.to_ne_bytes());
        })
        .unwrap_err();
        let kind = uapi::RFLOW_FTS_A_BUCKETS;
        assert!(err.ends_with(&format!("_BUCKETS (type {kind}) has 8 bytes, expected 4")));
        let err = with_nest(&|b| {
            b.u32(uapi::RFLOW_FTS_A_FLUSH, 1);
        })
        .unwrap_err();
        let kind = uapi::RFLOW_FTS_A_FLUSH;
        assert!(
            err.ends_with(&format!(
                "RFLOW_A_FT_STATS/RFLOW_FTS_A_FLUSH (type {kind}) has 4 bytes, expected 8"
            )),
            "{err}"
        );
        // Either half missing.
        let full = fill_ft_stats(ft, &s);
        let mut halves = attr::walk(&full).map(|a| a.unwrap());
        let (ft_attr, stats_attr) = (halves.next().unwrap(), halves.next().unwrap());
        let mut b = Builder::default();
        b.put(ft_attr.kind | 0x8000, ft_attr.value);
        assert_eq!(
            FtStatsMsg::decode(&b.buf).unwrap_err(),
            "no RFLOW_A_FT_STATS"
        );
        let mut b = Builder::default();
        b.put(stats_attr.kind | 0x8000, stats_attr.value);
        assert_eq!(
            FtStatsMsg::decode(&b.buf).unwrap_err(),
            "no RFLOW_A_FLOWTABLE"
        );
        // A truncated attribute inside the nest.
        let mut b = Builder::default();
        b.nest_start(uapi::RFLOW_A_FT_STATS)
            .put(uapi::RFLOW_FTS_A_FLOWS, &[0; 8])
            .nest_end();
        b.buf[4..6].copy_from_slice(&40u16.to_ne_bytes());
        assert!(FtStatsMsg::decode(&b.buf).is_err());
    }

    #[test]
    fn full_ipv4_flow() {
        let buf = fill_flow(&tcp4(), 0);
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

    #[test]
    fn counters_are_in_the_stats_structs() {
        // udp6_nat() has hardware counters in the original direction only.
        let buf = fill_flow(&udp6_nat(), uapi::RFLOW_UFID_F_TERSE);
        let f = Flow::decode(&buf).unwrap();
        assert_eq!((f.orig.packets, f.orig.bytes), (10, 1000));
        assert_eq!((f.reply.packets, f.reply.bytes), (9, 900));
        assert_eq!((f.orig.hw_packets, f.orig.hw_bytes), (5, 500));
        assert_eq!((f.reply.hw_packets, f.reply.hw_bytes), (0, 0));
        // RFLOW_A_STATS, RFLOW_A_HW_STATS, RFLOW_A_UFID, RFLOW_A_IDLE_MS: nothing else.
        let kinds: Vec<u16> = attr::walk(&buf).map(|a| a.unwrap().kind).collect();
        assert_eq!(
            kinds,
            [
                uapi::RFLOW_A_STATS,
                uapi::RFLOW_A_HW_STATS,
                uapi::RFLOW_A_UFID,
                uapi::RFLOW_A_IDLE_MS
            ]
        );
    }

    #[test]
    fn hw_stats_absent_means_zeros() {
        let buf = fill_flow(&tcp4(), 0);
        assert!(attr::walk(&buf).all(|a| a.unwrap().kind != uapi::RFLOW_A_HW_STATS));
        let f = Flow::decode(&buf).unwrap();
        assert_eq!((f.orig.packets, f.reply.bytes), (600, 31_200));
        assert_eq!((f.orig.hw_packets, f.orig.hw_bytes), (0, 0));
        assert_eq!((f.reply.hw_packets, f.reply.hw_bytes), (0, 0));
    }

    #[test]
    fn stats_of_the_wrong_length_are_errors() {
        let stats = uapi::RflowStats {
            orig_packets: 1,
            orig_bytes: 2,
            reply_packets: 3,
            reply_bytes: 4,
        }
        .to_ne_bytes();
        for (kind, what) in [
            (uapi::RFLOW_A_STATS, "RFLOW_A_STATS"),
            (uapi::RFLOW_A_HW_STATS, "RFLOW_A_HW_STATS"),
        ] {
            // A member short, a member too many, empty.
            for len in [24, 40, 0] {
                let mut value = stats.clone();
                value.resize(len, 0);
                let mut b = Builder::default();
                b.put(uapi::RFLOW_A_UFID, &UFID).put(kind, &value);
                let err = Flow::decode(&b.buf).unwrap_err();
                assert!(
                    err.contains(&format!(
                        "{what} (type {kind}) has {len} bytes, expected 32"
                    )),
                    "{err}"
                );
            }
            let mut b = Builder::default();
            b.put(uapi::RFLOW_A_UFID, &UFID).put(kind, &stats);
            let f = Flow::decode(&b.buf).unwrap();
            let got = if kind == uapi::RFLOW_A_STATS {
                [f.orig.packets, f.orig.bytes, f.reply.packets, f.reply.bytes]
            } else {
                [
                    f.orig.hw_packets,
                    f.orig.hw_bytes,
                    f.reply.hw_packets,
                    f.reply.hw_bytes,
                ]
            };
            assert_eq!(got, [1, 2, 3, 4]);
        }
    }

    #[test]
    fn ipv6_with_nat_flags_and_encap() {
        let f = Flow::decode(&fill_flow(&udp6_nat(), 0)).unwrap();
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
        let buf = fill_flow(&tcp4(), uapi::RFLOW_UFID_F_TERSE);
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
        let f = Flow::decode(&fill_flow(&tcp4(), uapi::RFLOW_UFID_F_OMIT_ACTIONS)).unwrap();
        assert!(f.has_key());
        assert_eq!((f.orig.oif, f.orig.xmit, f.orig.mtu), (None, None, None));
    }

    #[test]
    fn del_event_with_reason() {
        let mut spec = tcp4();
        spec.reason = uapi::RFLOW_REASON_EXPIRED;
        spec.flags = uapi::RFLOW_F_TEARDOWN;
        let f = Flow::decode(&fill_flow(&spec, 0)).unwrap();
        assert_eq!(f.reason, Some(uapi::RFLOW_REASON_EXPIRED));
        assert_eq!(f.flags, Some(uapi::RFLOW_F_TEARDOWN));
    }

    #[test]
    fn unknown_attributes_are_skipped() {
        let mut b = Builder::default();
        let stats = uapi::RflowStats {
            orig_packets: 5,
            ..Default::default()
        };
        b.put(200, b"from the future")
            .put(uapi::RFLOW_A_UFID, &UFID)
            .put(uapi::RFLOW_A_STATS, &stats.to_ne_bytes())
            .nest_start(uapi::RFLOW_A_ORIG)
            .put(99, &[1, 2, 3])
            .u8(uapi::RFLOW_T_L4PROTO, uapi::IPPROTO_UDP)
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
        assert_eq!(f.l4proto(), Some(uapi::IPPROTO_UDP));
        assert_eq!(f.flowtable.unwrap().name, "f1");
        assert_eq!(f.expires_ms, Some(1));
        // The attribute type's flag bits are ignored too.
        buf[2..4].copy_from_slice(&(200u16 | 0x4000).to_ne_bytes());
        assert!(Flow::decode(&buf).is_ok());
    }

    #[test]
    fn malformed_flows_are_errors() {
        let mut b = Builder::default();
        b.u32(uapi::RFLOW_A_EXPIRES_MS, 1);
        assert_eq!(Flow::decode(&b.buf).unwrap_err(), "no RFLOW_A_UFID");
        let mut b = Builder::default();
        b.put(uapi::RFLOW_A_UFID, &UFID[..15]);
        assert!(Flow::decode(&b.buf).unwrap_err().contains("15 bytes"));
        let mut b = Builder::default();
        b.put(uapi::RFLOW_A_UFID, &UFID).u16(uapi::RFLOW_A_FLAGS, 1);
        assert!(Flow::decode(&b.buf).unwrap_err().contains("RFLOW_A_FLAGS"));
        let mut b = Builder::default();
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
        let f4 = Flow::decode(&fill_flow(&tcp4(), 0)).unwrap();
        let f6 = Flow::decode(&fill_flow(&udp6_nat(), 0)).unwrap();
        let terse = Flow::decode(&fill_flow(&tcp4(), uapi::RFLOW_UFID_F_TERSE)).unwrap();
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
