// SPDX-License-Identifier: GPL-2.0

//! rflowctl's output: flows and events as text (conntrack -L style) or JSON, and statistics
//! as text, JSON or Prometheus text exposition (node_exporter's textfile collector).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::flow::{Dir, Encap, Flow, FlowtableId};
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

/// The statistics of a set of flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub flows: u64,
    pub hw_flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub hw_packets: u64,
    pub hw_bytes: u64,
}

impl Counters {
    fn add(&mut self, f: &Flow) {
        self.flows += 1;
        if f.hw_state == Some(uapi::RFLOW_HW_OFFLOADED) {
            self.hw_flows += 1;
        }
        for d in [&f.orig, &f.reply] {
            self.packets = self.packets.wrapping_add(d.packets);
            self.bytes = self.bytes.wrapping_add(d.bytes);
            self.hw_packets = self.hw_packets.wrapping_add(d.hw_packets);
            self.hw_bytes = self.hw_bytes.wrapping_add(d.hw_bytes);
        }
    }

    fn text(&self) -> String {
        format!(
            "flows={} hw_flows={} packets={} bytes={} hw_packets={} hw_bytes={}",
            self.flows, self.hw_flows, self.packets, self.bytes, self.hw_packets, self.hw_bytes
        )
    }

    fn json(&self, o: &mut Obj) {
        o.set("flows", self.flows)
            .set("hw_flows", self.hw_flows)
            .set("packets", self.packets)
            .set("bytes", self.bytes)
            .set("hw_packets", self.hw_packets)
            .set("hw_bytes", self.hw_bytes);
    }
}

/// Statistics per flowtable and in total, from a full dump.
#[derive(Debug, Default)]
pub struct Stats {
    pub per_flowtable: BTreeMap<FlowtableId, Counters>,
    pub total: Counters,
}

impl Stats {
    pub fn add(&mut self, f: &Flow) {
        let ft = f.flowtable.clone().unwrap_or_default();
        self.per_flowtable.entry(ft).or_default().add(f);
        self.total.add(f);
    }

    /// One line per flowtable (`inet/filter/f1 flows=3 ...`), then `total flows=...`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (ft, c) in &self.per_flowtable {
            let _ = writeln!(out, "{} {}", ft_text(ft), c.text());
        }
        let _ = writeln!(out, "total {}", self.total.text());
        out
    }

    pub fn json(&self) -> Value {
        let fts = self
            .per_flowtable
            .iter()
            .map(|(ft, c)| {
                let mut o = Obj::new();
                o.set("family", family_name(ft.family))
                    .set("table", ft.table.as_str())
                    .set("name", ft.name.as_str());
                c.json(&mut o);
                o.build()
            })
            .collect();
        let mut total = Obj::new();
        self.total.json(&mut total);
        Obj::new()
            .set("flowtables", Value::Arr(fts))
            .set("total", total.build())
            .build()
    }

    /// The Prometheus text exposition format, for node_exporter's textfile collector. One
    /// series per flowtable (the total is `sum()` of them). The packet and byte "totals" add
    /// up the counters of the flows present now: they drop when flows leave the flowtable,
    /// which Prometheus' rate() takes for a counter reset.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let labels = |ft: &FlowtableId| {
            format!(
                "family=\"{}\",table=\"{}\",flowtable=\"{}\"",
                prom_escape(&family_name(ft.family)),
                prom_escape(&ft.table),
                prom_escape(&ft.name)
            )
        };
        type Get = fn(&Counters) -> u64;
        let gauges: [(&str, &str, Get); 2] = [
            ("rflow_flows", "Flows in the flowtable.", |c| c.flows),
            (
                "rflow_hw_flows",
                "Flows of the flowtable offloaded to hardware.",
                |c| c.hw_flows,
            ),
        ];
        for (name, help, get) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            for (ft, c) in &self.per_flowtable {
                let _ = writeln!(out, "{name}{{{}}} {}", labels(ft), get(c));
            }
        }
        let counters: [(&str, &str, Get, Get); 2] = [
            (
                "rflow_packets_total",
                "Packets forwarded by the flows now in the flowtable, by path.",
                |c| c.packets,
                |c| c.hw_packets,
            ),
            (
                "rflow_bytes_total",
                "Bytes forwarded by the flows now in the flowtable, by path.",
                |c| c.bytes,
                |c| c.hw_bytes,
            ),
        ];
        for (name, help, sw, hw) in counters {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (ft, c) in &self.per_flowtable {
                let l = labels(ft);
                let _ = writeln!(out, "{name}{{{l},path=\"software\"}} {}", sw(c));
                let _ = writeln!(out, "{name}{{{l},path=\"hardware\"}} {}", hw(c));
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
    use crate::flow::tests::{fill_flow, tcp4, udp6_nat};

    const U: &str = "ufid:12345678-9abc-4ef0-8123-456789abcdef";

    fn decode(spec: &crate::flow::tests::FlowSpec<'_>, flags: u32) -> Flow {
        Flow::decode(&fill_flow(spec, flags, true)).unwrap()
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

    fn sample_stats() -> Stats {
        let mut s = Stats::default();
        s.add(&decode(&tcp4(), 0));
        let mut second = tcp4();
        second.hw_state = uapi::RFLOW_HW_NONE;
        s.add(&decode(&second, 0));
        s.add(&decode(&udp6_nat(), 0));
        s
    }

    #[test]
    fn stats_text_and_json() {
        let s = sample_stats();
        assert_eq!(
            s.text(),
            "inet/filter/f1 flows=2 hw_flows=1 packets=2400 bytes=1622400 hw_packets=0 hw_bytes=0\n\
             ip6/nat6/ft flows=1 hw_flows=0 packets=19 bytes=1900 hw_packets=5 hw_bytes=500\n\
             total flows=3 hw_flows=1 packets=2419 bytes=1624300 hw_packets=5 hw_bytes=500\n"
        );
        assert_eq!(
            s.json().to_json(false),
            concat!(
                r#"{"flowtables":[{"family":"inet","table":"filter","name":"f1","flows":2,"hw_flows":1,"packets":2400,"bytes":1622400,"hw_packets":0,"hw_bytes":0},"#,
                r#"{"family":"ip6","table":"nat6","name":"ft","flows":1,"hw_flows":0,"packets":19,"bytes":1900,"hw_packets":5,"hw_bytes":500}],"#,
                r#""total":{"flows":3,"hw_flows":1,"packets":2419,"bytes":1624300,"hw_packets":5,"hw_bytes":500}}"#
            )
        );
        assert_eq!(
            Stats::default().text(),
            "total flows=0 hw_flows=0 packets=0 bytes=0 hw_packets=0 hw_bytes=0\n"
        );
    }

    #[test]
    fn prometheus() {
        let want = r#"# HELP rflow_flows Flows in the flowtable.
# TYPE rflow_flows gauge
rflow_flows{family="inet",table="filter",flowtable="f1"} 2
rflow_flows{family="ip6",table="nat6",flowtable="ft"} 1
# HELP rflow_hw_flows Flows of the flowtable offloaded to hardware.
# TYPE rflow_hw_flows gauge
rflow_hw_flows{family="inet",table="filter",flowtable="f1"} 1
rflow_hw_flows{family="ip6",table="nat6",flowtable="ft"} 0
# HELP rflow_packets_total Packets forwarded by the flows now in the flowtable, by path.
# TYPE rflow_packets_total counter
rflow_packets_total{family="inet",table="filter",flowtable="f1",path="software"} 2400
rflow_packets_total{family="inet",table="filter",flowtable="f1",path="hardware"} 0
rflow_packets_total{family="ip6",table="nat6",flowtable="ft",path="software"} 19
rflow_packets_total{family="ip6",table="nat6",flowtable="ft",path="hardware"} 5
# HELP rflow_bytes_total Bytes forwarded by the flows now in the flowtable, by path.
# TYPE rflow_bytes_total counter
rflow_bytes_total{family="inet",table="filter",flowtable="f1",path="software"} 1622400
rflow_bytes_total{family="inet",table="filter",flowtable="f1",path="hardware"} 0
rflow_bytes_total{family="ip6",table="nat6",flowtable="ft",path="software"} 1900
rflow_bytes_total{family="ip6",table="nat6",flowtable="ft",path="hardware"} 500
"#;
        assert_eq!(sample_stats().prometheus(), want);
        assert_eq!(prom_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        // No flows: the metadata alone.
        let empty = Stats::default().prometheus();
        assert_eq!(empty.lines().count(), 8);
        assert!(empty.lines().all(|l| l.starts_with('#')));
    }
}
