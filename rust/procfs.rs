// SPDX-License-Identifier: GPL-2.0

//! `/proc/net/rflow`: the flowtables of a namespace, their counters and their flows.
//!
//! No C flowtable can list its flows; this file is the first view of them (the UFID netlink
//! interface will be the scalable one). It is readable by root only (mode 0440, as conntrack's
//! listing): it shows every NAT mapping. In the initial namespace a first line counts the flows
//! allocated in all namespaces, and gives totals since the module was loaded: flows created,
//! and packets and bytes of removed flows by transmit method. Then comes one line per
//! flowtable, newest first, each followed by one line per flow:
//!
//! ```text
//! rflow flows_allocated 1 flows_created 7 packets_neigh 1200 bytes_neigh 1560000 packets_direct 0 bytes_direct 0 packets_xfrm 0 bytes_xfrm 0
//! flowtable inet filter f1 flows 1 created 3 removed 2 packets_removed 1200 bytes_removed 1560000 buckets 64 grown 0 shrunk 0 resize_failed 0 resize_max_locked_us 0
//!  tcp 10.0.1.99:40000 > 10.0.2.99:12345 iif 3 packets 600 bytes 780000 xmit neigh | 10.0.2.99:12345 > 10.0.1.99:40000 iif 4 packets 600 bytes 31200 xmit direct encap 8100/10 | expires 29 nat closing
//! ```
//!
//! A table line costs nothing (its counters are kept, not summed), so the fast-path totals of a
//! table are its `*_removed` counters plus the counters of its flow lines. Reads resume from a
//! cursor (see [`crate::sys::procfs`]): a listing of a million flows is walked once, one
//! `read()` at a time under RCU, holding no lock the control plane needs.

use crate::flowtable::{allocated, totals, Flow, FlowDir, FlowTable, NetState};
use crate::path::Xmit;
use crate::pure::{
    flow_state::HwState,
    fmt::{Ipv4, Ipv6},
    tuple::{FlowKey, Tuple, IPPROTO_GRE, IPPROTO_TCP, IPPROTO_UDP, NFPROTO_IPV6},
};
use crate::sys::pernet::PernetData;
use crate::sys::{
    net::{self, Net},
    nft::flowtable::Member,
    procfs::{Listing, SeqFile, SeqOps},
    rcu::ReadSection,
    rcu_index::{IndexCursor, Indexed},
    time,
};
use core::{ffi::CStr, fmt, fmt::Write, ops::ControlFlow, sync::atomic::Ordering};
use kernel::prelude::*;

const NAME: &CStr = c"rflow";

static OPS: SeqOps<FlowListing> = SeqOps::new();

/// Creates `/proc/net/rflow` in a namespace being set up.
pub(crate) fn create(net: &Net) -> Result {
    OPS.create(net, NAME)
}

/// Removes it from a namespace going away.
pub(crate) fn remove(net: &Net) {
    OPS.remove(net, NAME);
}

/// The listing.
pub(crate) struct FlowListing;

/// The record a listing stands on.
#[derive(Clone, Copy, Default)]
enum At {
    /// Not positioned yet.
    #[default]
    Start,
    /// The module-wide line (initial namespace only).
    Header,
    /// The line of the flowtable with this id.
    Table(u64),
    /// The flow at this position (hash and key of its original direction) in the flowtable with
    /// this id. Identifying the record by its own position, not by the one before it, keeps a
    /// flow inserted in between from making the listing show the next flow twice.
    Flow(u64, (u64, FlowKey)),
    /// Past the last record.
    End,
}

/// Where a listing stands: the record, and its position in the file.
#[derive(Clone, Copy, Default)]
pub(crate) struct Cursor {
    pos: u64,
    at: At,
}

/// Returns the position of the first flow after `from`, if any.
fn flow_after(
    ft: &FlowTable,
    rcu: &ReadSection,
    from: IndexCursor<Flow>,
) -> Option<(u64, FlowKey)> {
    let mut found = None;
    let mut cursor = from;
    ft.index().walk(rcu, &mut cursor, usize::MAX, |flow| {
        found = Some(flow.position());
        ControlFlow::Break(())
    });
    found
}

/// Returns the flow at position `pos`, if it is still there.
fn flow_at<'a>(
    ft: &'a FlowTable,
    rcu: &'a ReadSection,
    pos: &(u64, FlowKey),
) -> Option<&'a Indexed<Flow>> {
    ft.index()
        .lookup(rcu, pos.0, &pos.1)
        .filter(|(_, slot)| *slot == 0)
        .map(|(flow, _)| flow)
}

/// The table a record belongs to, if it still exists.
fn table<'a>(net: &'a Net, rcu: &'a ReadSection, id: u64) -> Option<Member<'a, FlowTable>> {
    NetState::of(net)?.tables().find_rcu(rcu, id)
}

/// The line of the newest table older than `before`, or the end.
fn next_table(net: &Net, rcu: &ReadSection, before: Option<u64>) -> At {
    NetState::of(net)
        .and_then(|s| s.tables().next_rcu(rcu, before))
        .map_or(At::End, |m| At::Table(m.id))
}

/// Moves `at` onto a record that exists now: a vanished table or flow gives way to the next.
fn settle(net: &Net, rcu: &ReadSection, at: At) -> At {
    match at {
        At::Start => {
            if net::is_init_net(net) {
                At::Header
            } else {
                next_table(net, rcu, None)
            }
        }
        At::Header | At::End => at,
        At::Table(id) => match table(net, rcu, id) {
            Some(_) => at,
            None => next_table(net, rcu, Some(id)),
        },
        // A flow gone meanwhile shows as an empty record; `advance` moves on from its position.
        At::Flow(id, _) => match table(net, rcu, id) {
            Some(_) => at,
            None => next_table(net, rcu, Some(id)),
        },
    }
}

/// The first flow of table `id` after `from`, or the next table's line.
fn first_flow(net: &Net, rcu: &ReadSection, id: u64, from: IndexCursor<Flow>) -> At {
    match table(net, rcu, id).and_then(|m| flow_after(m.state, rcu, from)) {
        Some(pos) => At::Flow(id, pos),
        None => next_table(net, rcu, Some(id)),
    }
}

/// The record after `at`.
fn advance(net: &Net, rcu: &ReadSection, at: At) -> At {
    let next = match at {
        At::Start => At::Start,
        At::Header => next_table(net, rcu, None),
        At::Table(id) => first_flow(net, rcu, id, IndexCursor::<Flow>::START),
        At::Flow(id, (hash, key)) => {
            first_flow(net, rcu, id, IndexCursor::<Flow>::After(hash, key))
        }
        At::End => At::End,
    };
    settle(net, rcu, next)
}

impl Listing for FlowListing {
    type Cursor = Cursor;

    fn start(net: &Net, rcu: &ReadSection, c: &mut Cursor, pos: u64) -> bool {
        if pos == 0 || pos != c.pos || matches!(c.at, At::Start) {
            // A new read from the top, or a seek: walk to `pos` from the start.
            *c = Cursor {
                pos: 0,
                at: settle(net, rcu, At::Start),
            };
            while c.pos < pos && !matches!(c.at, At::End) {
                c.at = advance(net, rcu, c.at);
                c.pos += 1;
            }
        } else {
            // The next read: resume where the last one stopped.
            c.at = settle(net, rcu, c.at);
        }
        !matches!(c.at, At::End)
    }

    fn next(net: &Net, rcu: &ReadSection, c: &mut Cursor) -> bool {
        c.at = advance(net, rcu, c.at);
        c.pos += 1;
        !matches!(c.at, At::End)
    }

    fn show(out: &mut SeqFile, net: &Net, rcu: &ReadSection, c: &Cursor) -> fmt::Result {
        match c.at {
            At::Header => {
                let (created, packets, bytes) = totals();
                let hw = &crate::offload::COUNTERS;
                let load = |c: &core::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
                writeln!(
                    out,
                    "rflow flows_allocated {} flows_created {} packets_neigh {} bytes_neigh {} packets_direct {} bytes_direct {} packets_xfrm {} bytes_xfrm {} hw_accepted {} hw_refused {} hw_deleted {} hw_destroy_failed {} hw_work_alloc_failed {}",
                    allocated(),
                    created,
                    packets[0],
                    bytes[0],
                    packets[1],
                    bytes[1],
                    packets[2],
                    bytes[2],
                    load(&hw.accepted),
                    load(&hw.refused),
                    load(&hw.deleted),
                    load(&hw.destroy_failed),
                    load(&hw.alloc_failed)
                )
            }
            At::Table(id) => {
                let Some(m) = table(net, rcu, id) else {
                    return Ok(());
                };
                let (family, tname, name) = m.nf.names();
                let s = m.state.stats(rcu);
                write!(
                    out,
                    "flowtable {} {} {} flows {} created {} removed {} packets_removed {} bytes_removed {} buckets {} grown {} shrunk {} resize_failed {} resize_max_locked_us {}",
                    family_name(family),
                    tname.to_str().unwrap_or("?"),
                    name.to_str().unwrap_or("?"),
                    s.flows,
                    s.created,
                    s.removed,
                    s.removed_sw[0].0.wrapping_add(s.removed_sw[1].0),
                    s.removed_sw[0].1.wrapping_add(s.removed_sw[1].1),
                    s.buckets,
                    s.grown,
                    s.shrunk,
                    s.resize_failed,
                    s.resize_max_locked_us
                )?;
                // The devices that stay in software in best-effort hardware offload: one
                // token, for the key-value parsers of this line.
                out.write_str(" software_only_devices ")?;
                let mut any = false;
                let mut result = Ok(());
                m.state.for_each_software_only(|ifindex| {
                    let sep = if any { "," } else { "" };
                    any = true;
                    result = result.and_then(|()| write!(out, "{sep}{ifindex}"));
                });
                result?;
                writeln!(out, "{}", if any { "" } else { "-" })
            }
            At::Flow(id, pos) => {
                match table(net, rcu, id).and_then(|m| flow_at(m.state, rcu, &pos)) {
                    Some(flow) => show_flow(out, flow),
                    None => Ok(()),
                }
            }
            At::Start | At::End => Ok(()),
        }
    }
}

fn family_name(family: u8) -> &'static str {
    match u32::from(family) {
        crate::bindings::NFPROTO_IPV4 => "ip",
        crate::bindings::NFPROTO_IPV6 => "ip6",
        crate::bindings::NFPROTO_INET => "inet",
        _ => "?",
    }
}

fn proto_name(l4proto: u8) -> &'static str {
    match l4proto {
        IPPROTO_TCP => "tcp",
        IPPROTO_UDP => "udp",
        IPPROTO_GRE => "gre",
        _ => "?",
    }
}

/// Writes `addr:port` (`[addr]:port` for IPv6) of a tuple's source or destination.
fn endpoint(out: &mut SeqFile, t: &Tuple, addr: &[u8; 16], port: u16) -> fmt::Result {
    if t.l3proto == NFPROTO_IPV6 {
        write!(out, "[{}]:{}", Ipv6(*addr), port)
    } else {
        write!(
            out,
            "{}:{}",
            Ipv4([addr[0], addr[1], addr[2], addr[3]]),
            port
        )
    }
}

fn show_dir(out: &mut SeqFile, d: &FlowDir) -> fmt::Result {
    let t = &d.tuple;
    endpoint(out, t, &t.src, t.src_port)?;
    out.write_str(" > ")?;
    endpoint(out, t, &t.dst, t.dst_port)?;
    let xmit = match d.route.xmit {
        Xmit::Neigh => "neigh",
        Xmit::Xfrm => "xfrm",
        Xmit::Direct(_) => "direct",
    };
    write!(
        out,
        " iif {} packets {} bytes {} xmit {}",
        t.iif,
        d.packets.load(Ordering::Relaxed),
        d.bytes.load(Ordering::Relaxed),
        xmit
    )?;
    for e in t.encap.iter().filter(|e| e.proto != 0) {
        write!(out, " encap {:04x}/{}", e.proto, e.id)?;
    }
    Ok(())
}

fn show_flow(out: &mut SeqFile, flow: &Flow) -> fmt::Result {
    let [orig, reply] = flow.dirs();
    write!(out, " {} ", proto_name(orig.tuple.l4proto))?;
    show_dir(out, orig)?;
    out.write_str(" | ")?;
    show_dir(out, reply)?;
    writeln!(
        out,
        " | expires {}{}{}{}{}",
        flow.expires_in() / time::HZ as i32,
        if flow.is_nat() { " nat" } else { "" },
        if flow.is_closing() { " closing" } else { "" },
        if flow.is_teardown() { " teardown" } else { "" },
        match flow.state().hw() {
            HwState::Software => "",
            HwState::AddPending => " hw_pending",
            HwState::Offloaded => " hw_offloaded",
            HwState::DelPending => " hw_dying",
            HwState::Dead => " hw_dead",
        }
    )
}
