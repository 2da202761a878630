// SPDX-License-Identifier: GPL-2.0

//! rflowctl's output: flows and events as text (conntrack -L style) or JSON, and statistics
//! as text, JSON or Prometheus text exposition (node_exporter's textfile collector).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::flow::{Dir, Encap, Flow, FlowtableId, FtStats, FtStatsMsg, REMOVED_BY};
use crate::json::{Obj, Value};
use crate::uapi;

/// The name of layer 4 protocol `p`, as `--proto` takes it.
pub fn proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        uapi::IPPROTO_TCP => "tcp",
        uapi::IPPROTO_UDP => "udp",
        uapi::IPPROTO_GRE => "gre",
        uapi::IPPROTO_ICMP => "icmp",
        uapi::IPPROTO_ICMPV6 => "icmpv6",
        uapi::IPPROTO_SCTP => "sctp",
        uapi::IPPROTO_UDPLITE => "udplite",
        uapi::IPPROTO_DCCP => "dccp",
        _ => return None,
    })
}

fn proto_text(p: Option<u8>) -> String {
    match p {
        Some(p) => proto_name(p).map_or_else(|| p.to_string(), str::to_string),
        None => "unknown".to_string(),
    }
}

/// Whether protocol `p` has ports (the others show them only if non-zero).
fn has_ports(p: Option<u8>) -> bool {
    matches!(
        p,
        Some(
            uapi::IPPROTO_TCP
                | uapi::IPPROTO_UDP
                | uapi::IPPROTO_UDPLITE
                | uapi::IPPROTO_SCTP
                | uapi::IPPROTO_DCCP
        )
    )
}

/// The nft name of a netfilter family (`--family`).
pub fn family_name(f: u8) -> String {
    match f {
        uapi::NFPROTO_INET => "inet".into(),
        uapi::NFPROTO_IPV4 => "ip".into(),
        uapi::NFPROTO_IPV6 => "ip6".into(),
        uapi::NFPROTO_ARP => "arp".into(),
        uapi::NFPROTO_BRIDGE => "bridge".into(),
        uapi::NFPROTO_NETDEV => "netdev".into(),
        other => other.to_string(),
    }
}

fn l3_name(f: u8) -> String {
    match f {
        uapi::NFPROTO_IPV4 => "ipv4".into(),
        uapi::NFPROTO_IPV6 => "ipv6".into(),
        other => other.to_string(),
    }
}

/// The name of a hardware state: `none`, `pending`, `offloaded`, `dying`, `dead` (from the
/// header's enum), or its number.
pub fn hw_state_name(s: u8) -> String {
    uapi::member_name(uapi::ENUM_RFLOW_HW_STATE, "RFLOW_HW_", s).unwrap_or_else(|| s.to_string())
}

/// The name of a reason a flow left its flowtable: `expired`, `closed`, `route`, `device`,
/// `user`, `flush` (from the header's enum), or its number.
pub fn reason_name(r: u8) -> String {
    uapi::member_name(uapi::ENUM_RFLOW_REASON, "RFLOW_REASON_", r).unwrap_or_else(|| r.to_string())
}

fn xmit_name(x: u8) -> String {
    uapi::member_name(uapi::ENUM_RFLOW_XMIT, "RFLOW_XMIT_", x).unwrap_or_else(|| x.to_string())
}

/// RFLOW_F_* and their names; text shows them upper case in brackets.
const FLAG_NAMES: &[(u32, &str)] = &[
    (uapi::RFLOW_F_SNAT, "snat"),
    (uapi::RFLOW_F_DNAT, "dnat"),
    (uapi::RFLOW_F_CLOSING, "closing"),
    (uapi::RFLOW_F_TEARDOWN, "teardown"),
];

fn flag_names(flags: u32) -> Vec<String> {
    let mut out: Vec<String> = FLAG_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let known = FLAG_NAMES.iter().fold(0, |acc, (bit, _)| acc | bit);
    if flags & !known != 0 {
        out.push(format!("0x{:x}", flags & !known));
    }
    out
}

/// The key of an encapsulation: `vlan` (802.1Q), `svlan` (802.1ad), `pppoe`, or the hex
/// ethertype.
fn encap_name(e: &Encap) -> String {
    match e.proto {
        uapi::ETH_P_8021Q => "vlan".into(),
        uapi::ETH_P_8021AD => "svlan".into(),
        uapi::ETH_P_PPP_SES => "pppoe".into(),
        p => format!("encap_0x{p:04x}"),
    }
}

fn ft_text(ft: &FlowtableId) -> String {
    format!("{}/{}/{}", family_name(ft.family), ft.table, ft.name)
}

fn counters_text(out: &mut String, d: &Dir) {
    let _ = write!(out, " packets={} bytes={}", d.packets, d.bytes);
    if d.hw_packets != 0 || d.hw_bytes != 0 {
        let _ = write!(out, " hw_packets={} hw_bytes={}", d.hw_packets, d.hw_bytes);
    }
}

fn dir_text(out: &mut String, d: &Dir, proto: Option<u8>) {
    if let Some(a) = d.src {
        let _ = write!(out, " src={a}");
    }
    if let Some(a) = d.dst {
        let _ = write!(out, " dst={a}");
    }
    let ports = has_ports(proto) || d.sport.unwrap_or(0) != 0 || d.dport.unwrap_or(0) != 0;
    if ports {
        if let Some(p) = d.sport {
            let _ = write!(out, " sport={p}");
        }
        if let Some(p) = d.dport {
            let _ = write!(out, " dport={p}");
        }
    }
    for e in &d.encap {
        let _ = write!(out, " {}={}", encap_name(e), e.id);
    }
    if let Some(i) = d.iif {
        let _ = write!(out, " iif={i}");
    }
    if let Some(o) = d.oif {
        let _ = write!(out, " oif={o}");
    }
    counters_text(out, d);
}

/// One flow on one line, conntrack -L style; a terse flow (or `terse`) shows the UFID, the
/// counters and the seconds since the flow was last used only. No trailing newline.
pub fn flow_text(f: &Flow, terse: bool) -> String {
    let mut out = String::new();
    if terse || !f.has_key() {
        let _ = write!(out, "{}", f.ufid);
        counters_text(&mut out, &f.orig);
        counters_text(&mut out, &f.reply);
        if let Some(ms) = f.idle_ms {
            let _ = write!(out, " idle={}", ms / 1000);
        }
        return out;
    }
    let proto = f.l4proto();
    let _ = write!(out, "{:<8} {}", proto_text(proto), f.ufid);
    dir_text(&mut out, &f.orig, proto);
    dir_text(&mut out, &f.reply, proto);
    // In the flowtable, hence offloaded from the stack's point of view.
    out.push_str(" [OFFLOAD]");
    match f.hw_state {
        Some(uapi::RFLOW_HW_OFFLOADED) => out.push_str(" [HW_OFFLOAD]"),
        Some(uapi::RFLOW_HW_NONE) | None => {}
        Some(s) => {
            let _ = write!(out, " hw_state={}", hw_state_name(s));
        }
    }
    for name in flag_names(f.flags.unwrap_or(0)) {
        let _ = write!(out, " [{}]", name.to_ascii_uppercase());
    }
    if let Some(ms) = f.expires_ms {
        let _ = write!(out, " expires={}", ms / 1000);
    }
    if let Some(ft) = &f.flowtable {
        let _ = write!(out, " flowtable={}", ft_text(ft));
    }
    if let Some(z) = f.zone.filter(|z| *z != 0) {
        let _ = write!(out, " zone={z}");
    }
    if let Some(id) = f.ct_id {
        let _ = write!(out, " ct_id={id}");
    }
    out
}

fn counters_json(o: &mut Obj, d: &Dir) {
    o.set("packets", d.packets)
        .set("bytes", d.bytes)
        .set("hw_packets", d.hw_packets)
        .set("hw_bytes", d.hw_bytes);
}

fn dir_json(d: &Dir, terse: bool) -> Value {
    let mut o = Obj::new();
    if !terse {
        o.opt("src", d.src.map(|a| a.to_string()))
            .opt("dst", d.dst.map(|a| a.to_string()))
            .opt("sport", d.sport)
            .opt("dport", d.dport)
            .opt("iif", d.iif);
        if d.src.is_some() {
            let encap = d
                .encap
                .iter()
                .map(|e| {
                    Obj::new()
                        .set("proto", encap_name(e))
                        .set("id", e.id)
                        .build()
                })
                .collect();
            o.set("encap", Value::Arr(encap));
        }
        o.opt("xmit", d.xmit.map(xmit_name))
            .opt("oif", d.oif)
            .opt("mtu", d.mtu);
    }
    counters_json(&mut o, d);
    o.build()
}

/// One flow as a JSON object; terse, the UFID, the counters and the idle time only.
pub fn flow_json(f: &Flow, terse: bool) -> Value {
    let terse = terse || !f.has_key();
    let mut o = Obj::new();
    o.set("ufid", f.ufid.to_string());
    if !terse {
        o.opt("family", f.l3proto().map(l3_name))
            .opt("proto", f.l4proto().map(|p| proto_text(Some(p))));
        if let Some(ft) = &f.flowtable {
            o.set(
                "flowtable",
                Obj::new()
                    .set("family", family_name(ft.family))
                    .set("table", ft.table.as_str())
                    .set("name", ft.name.as_str())
                    .build(),
            );
        }
    }
    o.set("orig", dir_json(&f.orig, terse))
        .set("reply", dir_json(&f.reply, terse));
    if !terse {
        if let Some(flags) = f.flags {
            let names = flag_names(flags).into_iter().map(Value::Str).collect();
            o.set("flags", Value::Arr(names));
        }
        o.opt("hw_state", f.hw_state.map(hw_state_name));
    }
    if !terse {
        o.opt("expires_ms", f.expires_ms);
    }
    o.opt("idle_ms", f.idle_ms);
    if !terse {
        o.opt("zone", f.zone).opt("ct_id", f.ct_id);
    }
    o.opt("reason", f.reason.map(reason_name));
    o.build()
}

/// The tag of an event command: `new`, `destroy`, `hw`; `None` for a command rflowctl does
/// not know (a newer kernel's).
pub fn event_name(cmd: u8) -> Option<&'static str> {
    match cmd {
        uapi::RFLOW_CMD_NEW => Some("new"),
        uapi::RFLOW_CMD_DEL => Some("destroy"),
        uapi::RFLOW_CMD_HW => Some("hw"),
        _ => None,
    }
}

/// One event on one line, conntrack -E style: `[NEW]`, `[DESTROY] reason=...` or
/// `[HW] state=...`, then the flow.
pub fn event_text(cmd: u8, f: &Flow, terse: bool) -> Option<String> {
    let name = event_name(cmd)?;
    let tag = format!("[{}]", name.to_ascii_uppercase());
    let mut out = format!("{tag:>9} ");
    match cmd {
        uapi::RFLOW_CMD_DEL => {
            if let Some(r) = f.reason {
                let _ = write!(out, "reason={} ", reason_name(r));
            }
        }
        uapi::RFLOW_CMD_HW => {
            if let Some(s) = f.hw_state {
                let _ = write!(out, "state={} ", hw_state_name(s));
            }
        }
        _ => {}
    }
    out.push_str(&flow_text(f, terse));
    Some(out)
}

/// One event as a JSON object: `"event"` first, then the flow's fields.
pub fn event_json(cmd: u8, f: &Flow, terse: bool) -> Option<Value> {
    let name = event_name(cmd)?;
    let mut fields = match flow_json(f, terse) {
        Value::Obj(fields) => fields,
        _ => Vec::new(),
    };
    fields.insert(0, ("event", Value::Str(name.to_string())));
    // The hardware state is what a HW event is about, even terse.
    if cmd == uapi::RFLOW_CMD_HW && !fields.iter().any(|(k, _)| *k == "hw_state") {
        if let Some(s) = f.hw_state {
            fields.push(("hw_state", Value::Str(hw_state_name(s))));
        }
    }
    Some(Value::Obj(fields))
}

/// The sum of both directions' packets and bytes of a `struct rflow_stats`.
fn both_dirs(s: &uapi::RflowStats) -> (u64, u64) {
    (
        s.orig_packets.wrapping_add(s.reply_packets),
        s.orig_bytes.wrapping_add(s.reply_bytes),
    )
}

/// A row of `stats`: a flowtable's counters since it was created (RFLOW_CMD_STATS), or the
/// sum of the rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Flows in the flowtable (RFLOW_FTS_A_FLOWS).
    pub flows: u64,
    /// Flows a driver holds (RFLOW_FTS_A_HW_FLOWS).
    pub hw_flows: u64,
    /// Forwarded since the flowtable was created: by the removed flows, and by the live ones
    /// so far (RFLOW_FTS_A_STATS, RFLOW_FTS_A_HW_STATS). Both directions added up.
    pub packets: u64,
    pub bytes: u64,
    pub hw_packets: u64,
    pub hw_bytes: u64,
    pub created: u64,
    pub removed: u64,
    /// By the reasons of `REMOVED_BY`.
    pub removed_by: [u64; REMOVED_BY.len()],
    pub buckets: u64,
    pub grown: u64,
    pub shrunk: u64,
    pub resize_failed: u64,
}

impl Counters {
    fn new(s: &FtStats) -> Self {
        let (packets, bytes) = both_dirs(&s.sw);
        let (hw_packets, hw_bytes) = both_dirs(&s.hw);
        Counters {
            flows: s.flows,
            hw_flows: s.hw_flows,
            packets,
            bytes,
            hw_packets,
            hw_bytes,
            created: s.created,
            removed: s.removed,
            removed_by: s.removed_by,
            buckets: s.buckets.into(),
            grown: s.grown,
            shrunk: s.shrunk,
            resize_failed: s.resize_failed,
        }
    }

    /// Adds `o` to a total: what the total shows. The hash table's state (buckets, resizes)
    /// is a flowtable's own: a total leaves it 0.
    fn add_to_total(&mut self, o: &Counters) {
        let pairs = [
            (&mut self.flows, o.flows),
            (&mut self.hw_flows, o.hw_flows),
            (&mut self.packets, o.packets),
            (&mut self.bytes, o.bytes),
            (&mut self.hw_packets, o.hw_packets),
            (&mut self.hw_bytes, o.hw_bytes),
            (&mut self.created, o.created),
            (&mut self.removed, o.removed),
        ];
        for (v, n) in pairs
            .into_iter()
            .chain(self.removed_by.iter_mut().zip(o.removed_by))
        {
            *v = v.wrapping_add(n);
        }
    }

    /// The flows removed for none of the reasons of `REMOVED_BY`.
    fn removed_other(&self) -> u64 {
        let by_reason = self.removed_by.iter().fold(0u64, |a, n| a.wrapping_add(*n));
        self.removed.saturating_sub(by_reason)
    }

    fn text(&self) -> String {
        let mut out = format!(
            "flows={} hw_flows={} packets={} bytes={} hw_packets={} hw_bytes={} created={} \
             removed={}",
            self.flows,
            self.hw_flows,
            self.packets,
            self.bytes,
            self.hw_packets,
            self.hw_bytes,
            self.created,
            self.removed
        );
        for ((.., name), n) in REMOVED_BY.iter().zip(self.removed_by) {
            let _ = write!(out, " {name}={n}");
        }
        out
    }

    /// The fields of both a flowtable's object and the total's.
    fn json(&self, o: &mut Obj) {
        let mut by = Obj::new();
        for ((.., name), n) in REMOVED_BY.iter().zip(self.removed_by) {
            by.set(name, n);
        }
        o.set("flows", self.flows)
            .set("hw_flows", self.hw_flows)
            .set("packets", self.packets)
            .set("bytes", self.bytes)
            .set("hw_packets", self.hw_packets)
            .set("hw_bytes", self.hw_bytes)
            .set("created", self.created)
            .set("removed", self.removed)
            .set("removed_by", by.build());
    }
}

/// `stats`: one row per flowtable, in the order the RFLOW_CMD_STATS dump gave them, and the
/// total.
#[derive(Debug, Default)]
pub struct Stats {
    rows: Vec<(FlowtableId, FtStats)>,
    index: HashMap<FlowtableId, usize>,
}

impl Stats {
    /// A message of the RFLOW_CMD_STATS dump. A flowtable a dump interrupted by a change
    /// shows twice keeps its row and the later counters.
    pub fn add_flowtable(&mut self, m: &FtStatsMsg) {
        if let Some(&i) = self.index.get(&m.flowtable) {
            self.rows[i].1 = m.stats;
            return;
        }
        self.index.insert(m.flowtable.clone(), self.rows.len());
        self.rows.push((m.flowtable.clone(), m.stats));
    }

    /// The rows, in order, with their counters as shown.
    pub fn rows(&self) -> impl Iterator<Item = (&FlowtableId, Counters)> {
        self.rows.iter().map(|(ft, s)| (ft, Counters::new(s)))
    }

    /// The sum of the rows (but their hash tables' state).
    pub fn total(&self) -> Counters {
        self.rows().fold(Counters::default(), |mut t, (_, c)| {
            t.add_to_total(&c);
            t
        })
    }

    /// One line per flowtable (`inet/filter/f1 flows=3 ...`), then `total flows=...`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (ft, c) in self.rows() {
            let _ = writeln!(out, "{} {}", ft_text(ft), c.text());
        }
        let _ = writeln!(out, "total {}", self.total().text());
        out
    }

    /// The flowtables' objects add the hash table's size and resizes to the total's fields.
    pub fn json(&self) -> Value {
        let fts = self
            .rows()
            .map(|(ft, c)| {
                let mut o = Obj::new();
                o.set("family", family_name(ft.family))
                    .set("table", ft.table.as_str())
                    .set("name", ft.name.as_str());
                c.json(&mut o);
                o.set("buckets", c.buckets)
                    .set("grown", c.grown)
                    .set("shrunk", c.shrunk)
                    .set("resize_failed", c.resize_failed);
                o.build()
            })
            .collect();
        let mut total = Obj::new();
        self.total().json(&mut total);
        Obj::new()
            .set("flowtables", Value::Arr(fts))
            .set("total", total.build())
            .build()
    }

    /// The Prometheus text exposition format, for node_exporter's textfile collector. One
    /// series per flowtable (and path or reason; the total is `sum()` of them). The packet,
    /// byte and flow counters count since the flowtable was created, removed flows included:
    /// they only grow, but start from 0 again when the flowtable is deleted and created again
    /// (an nft ruleset reload), which rate() takes for a counter reset, as it should.
    pub fn prometheus(&self) -> String {
        /// The series of a metric of one row: the labels added to the flowtable's, the value.
        type Series = fn(&Counters) -> Vec<(String, u64)>;
        fn one(v: u64) -> Vec<(String, u64)> {
            vec![(String::new(), v)]
        }
        fn paths(sw: u64, hw: u64) -> Vec<(String, u64)> {
            vec![
                (",path=\"software\"".into(), sw),
                (",path=\"hardware\"".into(), hw),
            ]
        }
        fn reasons(c: &Counters) -> Vec<(String, u64)> {
            let by = REMOVED_BY.iter().zip(c.removed_by);
            by.map(|((.., name), n)| (format!(",reason=\"{name}\""), n))
                .chain([(",reason=\"other\"".into(), c.removed_other())])
                .collect()
        }
        #[rustfmt::skip]
        let metrics: [(&str, &str, &str, Series); 7] = [
            ("rflow_flows", "gauge", "Flows in the flowtable.", |c| one(c.flows)),
            ("rflow_hw_flows", "gauge", "Flows of the flowtable offloaded to hardware.",
             |c| one(c.hw_flows)),
            ("rflow_packets_total", "counter",
             "Packets forwarded by the flowtable's flows since the flowtable was created, by path.",
             |c| paths(c.packets, c.hw_packets)),
            ("rflow_bytes_total", "counter",
             "Bytes forwarded by the flowtable's flows since the flowtable was created, by path.",
             |c| paths(c.bytes, c.hw_bytes)),
            ("rflow_flows_created_total", "counter",
             "Flows added to the flowtable since the flowtable was created.",
             |c| one(c.created)),
            ("rflow_flows_removed_total", "counter",
             "Flows removed from the flowtable since the flowtable was created, by reason.",
             reasons),
            ("rflow_table_buckets", "gauge", "Buckets of the flowtable's flow hash table.",
             |c| one(c.buckets)),
        ];
        let labels = |ft: &FlowtableId| {
            format!(
                "family=\"{}\",table=\"{}\",flowtable=\"{}\"",
                prom_escape(&family_name(ft.family)),
                prom_escape(&ft.table),
                prom_escape(&ft.name)
            )
        };
        let rows: Vec<(String, Counters)> = self.rows().map(|(ft, c)| (labels(ft), c)).collect();
        let mut out = String::new();
        for (name, kind, help, series) in metrics {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (l, c) in &rows {
                for (extra, v) in series(c) {
                    let _ = writeln!(out, "{name}{{{l}{extra}}} {v}");
                }
            }
        }
        out
    }
}

/// Escapes a Prometheus label value.
fn prom_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::tests::{f1_stats, fill_flow, fill_ft_stats, tcp4, udp6_nat};

    const U: &str = "ufid:12345678-9abc-4ef0-8123-456789abcdef";

    fn decode(spec: &crate::flow::tests::FlowSpec<'_>, flags: u32) -> Flow {
        Flow::decode(&fill_flow(spec, flags)).unwrap()
    }

    #[test]
    fn text_ipv4() {
        let f = decode(&tcp4(), 0);
        assert_eq!(
            flow_text(&f, false),
            format!(
                "tcp      {U} src=10.0.1.99 dst=10.0.2.99 sport=40000 dport=12345 iif=3 oif=4 \
                 packets=600 bytes=780000 src=10.0.2.99 dst=10.0.1.99 sport=12345 dport=40000 \
                 iif=4 oif=3 packets=600 bytes=31200 [OFFLOAD] [HW_OFFLOAD] expires=29 \
                 flowtable=inet/filter/f1 ct_id=3735928559"
            )
        );
    }

    #[test]
    fn text_ipv6_nat_encap_hw_counters() {
        let f = decode(&udp6_nat(), 0);
        assert_eq!(
            flow_text(&f, false),
            format!(
                "udp      {U} src=2001:db8:1::99 dst=2001:db8:2::99 sport=5353 dport=53 vlan=10 \
                 pppoe=1 iif=5 oif=6 packets=10 bytes=1000 hw_packets=5 hw_bytes=500 \
                 src=2001:db8:2::99 dst=2001:db8:2::1 sport=53 dport=61000 iif=6 oif=5 \
                 packets=9 bytes=900 [OFFLOAD] [SNAT] [CLOSING] expires=0 \
                 flowtable=ip6/nat6/ft zone=2 ct_id=7"
            )
        );
    }

    #[test]
    fn text_other_states_and_protocols() {
        let mut spec = tcp4();
        spec.hw_state = uapi::RFLOW_HW_PENDING;
        spec.flags = uapi::RFLOW_F_DNAT | uapi::RFLOW_F_TEARDOWN | 0x100;
        for d in &mut spec.dirs {
            d.l4 = uapi::IPPROTO_GRE;
            d.sport = 0;
            d.dport = 0;
        }
        let line = flow_text(&decode(&spec, 0), false);
        assert!(line.starts_with(&format!("gre      {U} src=10.0.1.99 dst=10.0.2.99 iif=3")));
        assert!(line.contains(" [OFFLOAD] hw_state=pending [DNAT] [TEARDOWN] [0X100] expires=29"));
        spec.dirs[0].l4 = 200;
        spec.dirs[1].l4 = 200;
        assert!(flow_text(&decode(&spec, 0), false).starts_with("200      ufid:"));
    }

    #[test]
    fn text_terse() {
        let want = format!("{U} packets=600 bytes=780000 packets=600 bytes=31200 idle=0");
        assert_eq!(
            flow_text(&decode(&tcp4(), uapi::RFLOW_UFID_F_TERSE), false),
            want
        );
        // A full flow shown terse.
        assert_eq!(flow_text(&decode(&tcp4(), 0), true), want);
        assert_eq!(
            flow_text(&decode(&udp6_nat(), uapi::RFLOW_UFID_F_TERSE), false),
            format!(
                "{U} packets=10 bytes=1000 hw_packets=5 hw_bytes=500 packets=9 bytes=900 idle=29"
            )
        );
    }

    #[test]
    fn json_ipv4() {
        let f = decode(&tcp4(), 0);
        let want = format!(
            concat!(
                r#"{{"ufid":"{}","family":"ipv4","proto":"tcp","#,
                r#""flowtable":{{"family":"inet","table":"filter","name":"f1"}},"#,
                r#""orig":{{"src":"10.0.1.99","dst":"10.0.2.99","sport":40000,"dport":12345,"iif":3,"encap":[],"#,
                r#""xmit":"neigh","oif":4,"mtu":1500,"packets":600,"bytes":780000,"hw_packets":0,"hw_bytes":0}},"#,
                r#""reply":{{"src":"10.0.2.99","dst":"10.0.1.99","sport":12345,"dport":40000,"iif":4,"encap":[],"#,
                r#""xmit":"neigh","oif":3,"mtu":1500,"packets":600,"bytes":31200,"hw_packets":0,"hw_bytes":0}},"#,
                r#""flags":[],"hw_state":"offloaded","expires_ms":29500,"idle_ms":500,"zone":0,"ct_id":3735928559}}"#
            ),
            U
        );
        assert_eq!(flow_json(&f, false).to_json(false), want);
    }

    #[test]
    fn json_ipv6_nat() {
        let f = decode(&udp6_nat(), 0);
        let j = flow_json(&f, false).to_json(false);
        assert!(j.contains(r#""family":"ipv6","proto":"udp","flowtable":{"family":"ip6","table":"nat6","name":"ft"}"#), "{j}");
        assert!(j.contains(r#""encap":[{"proto":"vlan","id":10},{"proto":"pppoe","id":1}],"xmit":"direct","oif":6,"mtu":1492"#), "{j}");
        assert!(j.contains(r#""dst":"2001:db8:2::1""#));
        assert!(
            j.contains(r#""flags":["snat","closing"],"hw_state":"none""#),
            "{j}"
        );
    }

    #[test]
    fn json_terse_and_pretty() {
        let f = decode(&tcp4(), uapi::RFLOW_UFID_F_TERSE);
        let want = format!(
            concat!(
                r#"{{"ufid":"{}","orig":{{"packets":600,"bytes":780000,"hw_packets":0,"hw_bytes":0}},"#,
                r#""reply":{{"packets":600,"bytes":31200,"hw_packets":0,"hw_bytes":0}},"idle_ms":500}}"#
            ),
            U
        );
        assert_eq!(flow_json(&f, false).to_json(false), want);
        assert_eq!(flow_json(&decode(&tcp4(), 0), true).to_json(false), want);
        let pretty = flow_json(&f, false).to_json(true);
        assert!(pretty.starts_with(&format!(
            "{{\n  \"ufid\": \"{U}\",\n  \"orig\": {{\n    \"packets\": 600,"
        )));
    }

    #[test]
    fn events() {
        let mut spec = tcp4();
        let new = decode(&spec, 0);
        let line = event_text(uapi::RFLOW_CMD_NEW, &new, false).unwrap();
        assert_eq!(line, format!("    [NEW] {}", flow_text(&new, false)));
        spec.reason = uapi::RFLOW_REASON_EXPIRED;
        spec.hw_state = uapi::RFLOW_HW_DEAD;
        let del = decode(&spec, 0);
        let line = event_text(uapi::RFLOW_CMD_DEL, &del, false).unwrap();
        assert!(line.starts_with(&format!(
            "[DESTROY] reason=expired tcp      {U} src=10.0.1.99"
        )));
        assert!(line.contains("[OFFLOAD] hw_state=dead expires=29"));
        let line = event_text(uapi::RFLOW_CMD_HW, &del, false).unwrap();
        assert!(line.starts_with(&format!("     [HW] state=dead tcp      {U}")));
        assert_eq!(event_text(uapi::RFLOW_CMD_GET, &del, false), None);

        let j = event_json(uapi::RFLOW_CMD_DEL, &del, false)
            .unwrap()
            .to_json(false);
        assert!(j.starts_with(&format!(
            r#"{{"event":"destroy","ufid":"{U}","family":"ipv4""#
        )));
        assert!(
            j.ends_with(r#""ct_id":3735928559,"reason":"expired"}"#),
            "{j}"
        );
        let j = event_json(uapi::RFLOW_CMD_HW, &del, true)
            .unwrap()
            .to_json(false);
        assert!(j.starts_with(&format!(r#"{{"event":"hw","ufid":"{U}","orig":{{"#)));
        assert!(
            j.ends_with(r#""reason":"expired","hw_state":"dead"}"#),
            "{j}"
        );
        let reasons: Vec<_> = (1..=6).map(reason_name).collect();
        assert_eq!(
            reasons,
            ["expired", "closed", "route", "device", "user", "flush"]
        );
        assert_eq!(reason_name(77), "77");
    }

    /// An RFLOW_CMD_STATS message as the kernel writes it, decoded.
    fn ft_stats(ft: (u8, &str, &str), s: &FtStats) -> FtStatsMsg {
        FtStatsMsg::decode(&fill_ft_stats(ft, s)).unwrap()
    }

    const F1: (u8, &str, &str) = (uapi::NFPROTO_INET, "filter", "f1");

    /// The STATS dump gives ip/raw/empty (no flows, never had any), inet/filter/f1 (two live
    /// flows, one offloaded, three removed) and ip6/nat6/ft (one flow, as udp6_nat()).
    fn sample_stats() -> Stats {
        let mut s = Stats::default();
        let empty = FtStats {
            buckets: 64,
            ..Default::default()
        };
        let nat6 = FtStats {
            flows: 1,
            created: 1,
            sw: uapi::RflowStats {
                orig_packets: 10,
                orig_bytes: 1000,
                reply_packets: 9,
                reply_bytes: 900,
            },
            hw: uapi::RflowStats {
                orig_packets: 5,
                orig_bytes: 500,
                ..Default::default()
            },
            buckets: 256,
            ..Default::default()
        };
        s.add_flowtable(&ft_stats((uapi::NFPROTO_IPV4, "raw", "empty"), &empty));
        s.add_flowtable(&ft_stats(F1, &f1_stats()));
        s.add_flowtable(&ft_stats((uapi::NFPROTO_IPV6, "nat6", "ft"), &nat6));
        s
    }

    #[test]
    fn stats_text_and_json() {
        let s = sample_stats();
        assert_eq!(
            s.text(),
            "ip/raw/empty flows=0 hw_flows=0 packets=0 bytes=0 hw_packets=0 hw_bytes=0 \
             created=0 removed=0 expired=0 closed=0 route=0 device=0 user=0 flush=0\n\
             inet/filter/f1 flows=2 hw_flows=1 packets=2590 bytes=1777400 hw_packets=1000 \
             hw_bytes=1500000 created=5 removed=3 expired=1 closed=0 route=0 device=0 user=0 \
             flush=1\n\
             ip6/nat6/ft flows=1 hw_flows=0 packets=19 bytes=1900 hw_packets=5 hw_bytes=500 \
             created=1 removed=0 expired=0 closed=0 route=0 device=0 user=0 flush=0\n\
             total flows=3 hw_flows=1 packets=2609 bytes=1779300 hw_packets=1005 \
             hw_bytes=1500500 created=6 removed=3 expired=1 closed=0 route=0 device=0 user=0 \
             flush=1\n"
        );
        let zero_by = r#"{"expired":0,"closed":0,"route":0,"device":0,"user":0,"flush":0}"#;
        let want = [
            r#"{"flowtables":["#,
            r#"{"family":"ip","table":"raw","name":"empty","flows":0,"hw_flows":0,"packets":0,"bytes":0,"#,
            r#""hw_packets":0,"hw_bytes":0,"created":0,"removed":0,"removed_by":"#,
            zero_by,
            r#","buckets":64,"grown":0,"shrunk":0,"resize_failed":0},"#,
            r#"{"family":"inet","table":"filter","name":"f1","flows":2,"hw_flows":1,"packets":2590,"#,
            r#""bytes":1777400,"hw_packets":1000,"hw_bytes":1500000,"created":5,"removed":3,"#,
            r#""removed_by":{"expired":1,"closed":0,"route":0,"device":0,"user":0,"flush":1},"#,
            r#""buckets":1024,"grown":1,"shrunk":1,"resize_failed":1},"#,
            r#"{"family":"ip6","table":"nat6","name":"ft","flows":1,"hw_flows":0,"packets":19,"#,
            r#""bytes":1900,"hw_packets":5,"hw_bytes":500,"created":1,"removed":0,"removed_by":"#,
            zero_by,
            r#","buckets":256,"grown":0,"shrunk":0,"resize_failed":0}],"#,
            r#""total":{"flows":3,"hw_flows":1,"packets":2609,"bytes":1779300,"hw_packets":1005,"#,
            r#""hw_bytes":1500500,"created":6,"removed":3,"#,
            r#""removed_by":{"expired":1,"closed":0,"route":0,"device":0,"user":0,"flush":1}}}"#,
        ]
        .concat();
        assert_eq!(s.json().to_json(false), want);
        assert_eq!(
            Stats::default().text(),
            "total flows=0 hw_flows=0 packets=0 bytes=0 hw_packets=0 hw_bytes=0 created=0 \
             removed=0 expired=0 closed=0 route=0 device=0 user=0 flush=0\n"
        );
        assert_eq!(
            Stats::default().json().to_json(false),
            [
                r#"{"flowtables":[],"total":{"flows":0,"hw_flows":0,"packets":0,"bytes":0,"#,
                r#""hw_packets":0,"hw_bytes":0,"created":0,"removed":0,"removed_by":"#,
                zero_by,
                "}}"
            ]
            .concat()
        );
    }

    /// A flowtable without flows has its row, and a flowtable the STATS dump gave twice (an
    /// interrupted dump) one row, with the later counters.
    #[test]
    fn stats_rows_without_flows() {
        let mut s = Stats::default();
        let ft = (uapi::NFPROTO_IPV6, "t", "idle");
        let old = FtStats {
            created: 1,
            removed: 1,
            ..Default::default()
        };
        s.add_flowtable(&ft_stats(ft, &old));
        s.add_flowtable(&ft_stats(F1, &FtStats::default()));
        s.add_flowtable(&ft_stats(ft, &FtStats { created: 2, ..old }));
        let rows: Vec<_> = s.rows().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0.name, "idle");
        assert_eq!((rows[0].1.flows, rows[0].1.created), (0, 2));
        assert_eq!(rows[1].0.name, "f1");
        assert_eq!(rows[1].1, Counters::default());
        assert!(s
            .text()
            .starts_with("ip6/t/idle flows=0 hw_flows=0 packets=0 "));
    }

    /// A row is the kernel's counters: HW_FLOWS, both directions of STATS and HW_STATS added
    /// up; the total leaves the hash table's state out.
    #[test]
    fn stats_row_from_the_kernel_counters() {
        let mut s = Stats::default();
        s.add_flowtable(&ft_stats(F1, &f1_stats()));
        let (_, c) = s.rows().next().unwrap();
        let want = Counters {
            flows: 2,
            hw_flows: 1,
            packets: 1300 + 1290,
            bytes: 1_710_000 + 67_400,
            hw_packets: 1000,
            hw_bytes: 1_500_000,
            created: 5,
            removed: 3,
            removed_by: [1, 0, 0, 0, 0, 1],
            buckets: 1024,
            grown: 1,
            shrunk: 1,
            resize_failed: 1,
        };
        assert_eq!(c, want);
        let total = Counters {
            buckets: 0,
            grown: 0,
            shrunk: 0,
            resize_failed: 0,
            ..want
        };
        assert_eq!(s.total(), total);
    }

    #[test]
    fn prometheus() {
        let want = r#"# HELP rflow_flows Flows in the flowtable.
# TYPE rflow_flows gauge
rflow_flows{family="ip",table="raw",flowtable="empty"} 0
rflow_flows{family="inet",table="filter",flowtable="f1"} 2
rflow_flows{family="ip6",table="nat6",flowtable="ft"} 1
# HELP rflow_hw_flows Flows of the flowtable offloaded to hardware.
# TYPE rflow_hw_flows gauge
rflow_hw_flows{family="ip",table="raw",flowtable="empty"} 0
rflow_hw_flows{family="inet",table="filter",flowtable="f1"} 1
rflow_hw_flows{family="ip6",table="nat6",flowtable="ft"} 0
# HELP rflow_packets_total Packets forwarded by the flowtable's flows since the flowtable was created, by path.
# TYPE rflow_packets_total counter
rflow_packets_total{family="ip",table="raw",flowtable="empty",path="software"} 0
rflow_packets_total{family="ip",table="raw",flowtable="empty",path="hardware"} 0
rflow_packets_total{family="inet",table="filter",flowtable="f1",path="software"} 2590
rflow_packets_total{family="inet",table="filter",flowtable="f1",path="hardware"} 1000
rflow_packets_total{family="ip6",table="nat6",flowtable="ft",path="software"} 19
rflow_packets_total{family="ip6",table="nat6",flowtable="ft",path="hardware"} 5
# HELP rflow_bytes_total Bytes forwarded by the flowtable's flows since the flowtable was created, by path.
# TYPE rflow_bytes_total counter
rflow_bytes_total{family="ip",table="raw",flowtable="empty",path="software"} 0
rflow_bytes_total{family="ip",table="raw",flowtable="empty",path="hardware"} 0
rflow_bytes_total{family="inet",table="filter",flowtable="f1",path="software"} 1777400
rflow_bytes_total{family="inet",table="filter",flowtable="f1",path="hardware"} 1500000
rflow_bytes_total{family="ip6",table="nat6",flowtable="ft",path="software"} 1900
rflow_bytes_total{family="ip6",table="nat6",flowtable="ft",path="hardware"} 500
# HELP rflow_flows_created_total Flows added to the flowtable since the flowtable was created.
# TYPE rflow_flows_created_total counter
rflow_flows_created_total{family="ip",table="raw",flowtable="empty"} 0
rflow_flows_created_total{family="inet",table="filter",flowtable="f1"} 5
rflow_flows_created_total{family="ip6",table="nat6",flowtable="ft"} 1
# HELP rflow_flows_removed_total Flows removed from the flowtable since the flowtable was created, by reason.
# TYPE rflow_flows_removed_total counter
rflow_flows_removed_total{family="ip",table="raw",flowtable="empty",reason="expired"} 0
rflow_flows_removed_total{family="ip",table="raw",flowtable="empty",reason="closed"} 0
rflow_flows_removed_total{family="ip",table="raw",flowtable="empty",reason="route"} 0
rflow_flows_removed_total{family="ip",table="raw",flowtable="empty",reason="device"} 0
rflow_flows_removed_total{family="ip",table="raw",flowtable="empty",reason="user"} 0
rflow_flows_removed_total{family="ip",table="raw",flowtable="empty",reason="flush"} 0
rflow_flows_removed_total{family="ip",table="raw",flowtable="empty",reason="other"} 0
rflow_flows_removed_total{family="inet",table="filter",flowtable="f1",reason="expired"} 1
rflow_flows_removed_total{family="inet",table="filter",flowtable="f1",reason="closed"} 0
rflow_flows_removed_total{family="inet",table="filter",flowtable="f1",reason="route"} 0
rflow_flows_removed_total{family="inet",table="filter",flowtable="f1",reason="device"} 0
rflow_flows_removed_total{family="inet",table="filter",flowtable="f1",reason="user"} 0
rflow_flows_removed_total{family="inet",table="filter",flowtable="f1",reason="flush"} 1
rflow_flows_removed_total{family="inet",table="filter",flowtable="f1",reason="other"} 1
rflow_flows_removed_total{family="ip6",table="nat6",flowtable="ft",reason="expired"} 0
rflow_flows_removed_total{family="ip6",table="nat6",flowtable="ft",reason="closed"} 0
rflow_flows_removed_total{family="ip6",table="nat6",flowtable="ft",reason="route"} 0
rflow_flows_removed_total{family="ip6",table="nat6",flowtable="ft",reason="device"} 0
rflow_flows_removed_total{family="ip6",table="nat6",flowtable="ft",reason="user"} 0
rflow_flows_removed_total{family="ip6",table="nat6",flowtable="ft",reason="flush"} 0
rflow_flows_removed_total{family="ip6",table="nat6",flowtable="ft",reason="other"} 0
# HELP rflow_table_buckets Buckets of the flowtable's flow hash table.
# TYPE rflow_table_buckets gauge
rflow_table_buckets{family="ip",table="raw",flowtable="empty"} 64
rflow_table_buckets{family="inet",table="filter",flowtable="f1"} 1024
rflow_table_buckets{family="ip6",table="nat6",flowtable="ft"} 256
"#;
        assert_eq!(sample_stats().prometheus(), want);
        assert_eq!(prom_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut odd = Stats::default();
        odd.add_flowtable(&ft_stats(
            (uapi::NFPROTO_INET, "a\"b", "c\\d\ne"),
            &f1_stats(),
        ));
        assert!(odd.prometheus().contains(
            "rflow_flows{family=\"inet\",table=\"a\\\"b\",flowtable=\"c\\\\d\\ne\"} 2\n"
        ));
        // "other" is never negative, whatever the kernel says.
        let mut bad = f1_stats();
        bad.removed = 1;
        let mut s = Stats::default();
        s.add_flowtable(&ft_stats(F1, &bad));
        assert!(s.prometheus().contains(",reason=\"other\"} 0\n"));
        // No flowtable: the metadata alone.
        let empty = Stats::default().prometheus();
        assert_eq!(empty.lines().count(), 14);
        assert!(empty.lines().all(|l| l.starts_with('#')));
    }
}
