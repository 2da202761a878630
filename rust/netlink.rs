// SPDX-License-Identifier: GPL-2.0

//! The flows by UFID over generic netlink: GET, DEL, FLUSH, dumps and events
//! (include/uapi/linux/rflow.h).
//!
//! A UFID is unique in its namespace; each flowtable indexes its flows by UFID beside their
//! tuples (see [`crate::sys::rcu_index`]), so a GET or DEL costs one lookup per flowtable of
//! the namespace, whatever the number of flows. Dumps walk each flowtable with the core's
//! cursor, which survives resizes and churn: every flow present for the whole dump is reported
//! exactly once. Only a flowtable created or deleted during a dump makes it incomplete, and
//! then the dump is marked interrupted (`NLM_F_DUMP_INTR`).

use crate::bindings;
use crate::flowtable::{teardown, Flow, FlowTable, NetState};
use crate::path::Xmit;
use crate::pure::{
    flow_state::{self, HwState, Reason},
    ufid::Ufid,
};
use crate::sys::{
    genl::{self, Counters, FlowMsg, FlowtableFilter, FtCounters, FtStatsMsg, Reply},
    net::Net,
    nft::{flowtable::Member, NfFlowtable},
    pernet::PernetData,
    rcu::{self, ReadSection},
    rcu_index::{IndexCursor, Indexed},
};
use core::{
    ops::ControlFlow,
    sync::atomic::{AtomicU64, Ordering},
};
use kernel::prelude::*;

/// Event commands (`enum rflow_cmd`).
#[derive(Clone, Copy)]
pub(crate) enum Event {
    /// A flow entered a flowtable.
    New,
    /// A flow left it (the reason is in the flow's state).
    Del,
    /// A flow's hardware state changed.
    Hw,
}

/// The family's answers.
pub(crate) struct Netlink;

/// The statistics of `flow`, `expires` jiffies from expiry: what a terse message holds, and
/// every message starts with.
fn counters(flow: &Indexed<Flow>, expires: i32) -> Counters {
    // The expiry moves forward by the timeout on each refresh: what is missing of the
    // timeout is how long ago the last one was.
    let idle = (flow.offload_timeout() as i64 - i64::from(expires)).clamp(0, u32::MAX.into());
    let [o, r] = flow.dirs();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Counters::new(
        Flow::ufid(flow),
        [
            (load(&o.packets), load(&o.bytes)),
            (load(&r.packets), load(&r.bytes)),
        ],
        [
            (load(&o.hw_packets), load(&o.hw_bytes)),
            (load(&r.hw_packets), load(&r.hw_bytes)),
        ],
        idle as u32,
    )
}

/// Describes `flow` of flowtable `nf` in full; `hw` overrides the hardware state (events sent
/// just before the state changes).
fn describe<'a>(nf: &'a NfFlowtable, flow: &'a Indexed<Flow>, hw: Option<HwState>) -> FlowMsg<'a> {
    // One reading for both: the idle time and the expiry add up to the timeout.
    let expires = flow.expires_in();
    let mut msg = FlowMsg::new(counters(flow, expires), nf.names(), flow.ct());
    let mut v = msg.values();
    for (slot, d) in flow.dirs().iter().enumerate() {
        let t = &d.tuple;
        let out = v.dir(slot);
        out.l3proto = t.l3proto;
        out.l4proto = t.l4proto;
        out.src = t.src;
        out.dst = t.dst;
        out.sport = t.src_port;
        out.dport = t.dst_port;
        out.iif = t.iif;
        let mut n = 0;
        for e in t
            .encap
            .iter()
            .filter(|e| e.proto != 0)
            .take(out.encap_proto.len())
        {
            out.encap_proto[n] = e.proto;
            out.encap_id[n] = e.id;
            n += 1;
        }
        out.num_encaps = n as u8;
        let (xmit, oif) = match &d.route.xmit {
            Xmit::Neigh => (bindings::RFLOW_XMIT_NEIGH, d.route.dst.dev().ifindex()),
            Xmit::Direct(x) => (bindings::RFLOW_XMIT_DIRECT, x.dev.ifindex()),
            Xmit::Xfrm => (bindings::RFLOW_XMIT_XFRM, d.route.dst.dev().ifindex()),
        };
        out.xmit = xmit as u8;
        out.oif = oif as u32;
        out.mtu = d.route.mtu;
    }
    let state = flow.state();
    let mut flags = 0;
    for (bit, uapi) in [
        (flow_state::SNAT, bindings::RFLOW_F_SNAT),
        (flow_state::DNAT, bindings::RFLOW_F_DNAT),
        (flow_state::CLOSING, bindings::RFLOW_F_CLOSING),
        (flow_state::TEARDOWN, bindings::RFLOW_F_TEARDOWN),
    ] {
        if state.has(bit) {
            flags |= uapi;
        }
    }
    let hw_state = match hw.unwrap_or(state.hw()) {
        HwState::Software => bindings::RFLOW_HW_NONE,
        HwState::AddPending => bindings::RFLOW_HW_PENDING,
        HwState::Offloaded => bindings::RFLOW_HW_OFFLOADED,
        HwState::DelPending => bindings::RFLOW_HW_DYING,
        HwState::Dead => bindings::RFLOW_HW_DEAD,
    };
    v.set_state(flags, hw_state as u8, state.reason() as u8, expires);
    msg
}

/// Appends a message about `flow` of `nf` to `out`, terse if the request asked for it.
fn put(out: &mut Reply<'_>, nf: &NfFlowtable, flow: &Indexed<Flow>) -> Result {
    if out.terse() {
        // A terse dump of a million flows is the reason terse exists: nothing it leaves out
        // is looked at.
        out.put_terse(&counters(flow, flow.expires_in()))
    } else {
        out.put(&describe(nf, flow, None))
    }
}

/// Sends `event` about `flow` of `nf` if anyone listens; any context.
pub(crate) fn notify(nf: &NfFlowtable, flow: &Indexed<Flow>, event: Event, hw: Option<HwState>) {
    let net = nf.net();
    if !genl::listening(net) {
        return;
    }
    let cmd = match event {
        Event::New => bindings::RFLOW_CMD_NEW,
        Event::Del => bindings::RFLOW_CMD_DEL,
        Event::Hw => bindings::RFLOW_CMD_HW,
    };
    genl::event(net, cmd as u8, &describe(nf, flow, hw));
}

/// Finds flow `ufid` in the flowtables of `net`.
fn find<'a>(
    net: &'a Net,
    rcu: &'a ReadSection,
    ufid: &Ufid,
) -> Option<(Member<'a, FlowTable>, &'a Indexed<Flow>)> {
    NetState::of(net)?.tables().iter_rcu(rcu).find_map(|m| {
        let flow = m.state.lookup_ufid(rcu, ufid)?;
        Some((m, flow))
    })
}

// The removal counters are indexed by the reason's value, which the uAPI shares.
const _: () = {
    assert!(Reason::None as u32 == bindings::RFLOW_REASON_NONE);
    assert!(Reason::Expired as u32 == bindings::RFLOW_REASON_EXPIRED);
    assert!(Reason::Closed as u32 == bindings::RFLOW_REASON_CLOSED);
    assert!(Reason::Route as u32 == bindings::RFLOW_REASON_ROUTE);
    assert!(Reason::Device as u32 == bindings::RFLOW_REASON_DEVICE);
    assert!(Reason::User as u32 == bindings::RFLOW_REASON_USER);
    assert!(Reason::Flush as u32 == bindings::RFLOW_REASON_FLUSH);
    assert!(flow_state::REASONS == bindings::__RFLOW_REASON_MAX as usize);
};

/// Where a dump stands: the flowtable (by id; `None` before the first) and the position in it.
pub(crate) struct DumpCursor {
    table: Option<u64>,
    pos: IndexCursor<Flow>,
    done: bool,
}

/// Buckets walked per read-side section: a sparse table of a million buckets must not hold
/// the CPU in one section.
const DUMP_BUDGET: usize = 1024;

impl genl::Handlers for Netlink {
    type Cursor = DumpCursor;

    fn get(net: &Net, ufid: &Ufid, out: &mut Reply<'_>) -> Result {
        let rcu = rcu::read_lock();
        let (m, flow) = find(net, &rcu, ufid).ok_or(ENOENT)?;
        put(out, m.nf, flow)
    }

    fn del(net: &Net, ufid: &Ufid, out: &mut Reply<'_>) -> Result {
        let rcu = rcu::read_lock();
        let (m, flow) = find(net, &rcu, ufid).ok_or(ENOENT)?;
        // Racing with expiry or another DEL: whoever tears it down first owns the reason;
        // the loser finds no live flow.
        if !teardown(flow, Reason::User) {
            return Err(ENOENT);
        }
        let reply = put(out, m.nf, flow);
        // Freed (and destroyed in hardware) by the GC, now rather than within a second.
        m.nf.gc().kick(0);
        reply
    }

    fn flush(net: &Net, ft: &FlowtableFilter<'_>) -> Result<u64> {
        let Some(state) = NetState::of(net) else {
            return Ok(0);
        };
        let (mut n, mut matched) = (0u64, false);
        state.tables().for_each_locked(|m| {
            if !ft.matches(m.nf.names()) {
                return;
            }
            matched = true;
            m.state.index().for_each(|flow| {
                if teardown(flow, Reason::Flush) {
                    n += 1;
                }
            });
            m.nf.gc().kick(0);
        });
        if !matched && !ft.is_any() {
            return Err(ENOENT);
        }
        Ok(n)
    }

    fn dump_start() -> Result<KBox<DumpCursor>> {
        Ok(KBox::new(
            DumpCursor {
                table: None,
                pos: IndexCursor::<Flow>::START,
                done: false,
            },
            GFP_KERNEL,
        )?)
    }

    fn dump(
        net: &Net,
        c: &mut DumpCursor,
        ft: &FlowtableFilter<'_>,
        out: &mut Reply<'_>,
    ) -> Result {
        let Some(state) = NetState::of(net) else {
            return Ok(());
        };
        let tables = state.tables();
        out.set_generation(tables.generation());
        if c.table.is_none() && !ft.is_any() {
            // A filter that names no flowtable is an error, not an empty dump.
            let rcu = rcu::read_lock();
            let any = tables.iter_rcu(&rcu).any(|m| ft.matches(m.nf.names()));
            if !any {
                return Err(ENOENT);
            }
        }
        while !c.done {
            let rcu = rcu::read_lock();
            // The flowtable the cursor is in, or the next older one if it went away.
            let current = match c.table {
                Some(id) => tables.find_rcu(&rcu, id),
                None => None,
            };
            let m = match current {
                Some(m) => m,
                None => {
                    c.pos = IndexCursor::<Flow>::START;
                    match tables.next_rcu(&rcu, c.table) {
                        Some(m) => {
                            c.table = Some(m.id);
                            m
                        }
                        None => {
                            c.done = true;
                            break;
                        }
                    }
                }
            };
            let mut full = false;
            let walked = if ft.matches(m.nf.names()) {
                m.state.index().walk(&rcu, &mut c.pos, DUMP_BUDGET, |flow| {
                    match put(out, m.nf, flow) {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => {
                            full = true;
                            ControlFlow::Break(())
                        }
                    }
                })
            } else {
                true
            };
            if full {
                // The cursor stays on the flow that did not fit: it starts the next part.
                break;
            }
            if walked {
                // On to the next older flowtable.
                match tables.next_rcu(&rcu, Some(m.id)) {
                    Some(next) => {
                        c.table = Some(next.id);
                        c.pos = IndexCursor::<Flow>::START;
                    }
                    None => c.done = true,
                }
            }
            drop(rcu);
            rcu::cond_resched();
        }
        Ok(())
    }

    fn stats(
        net: &Net,
        before: &mut Option<u64>,
        ft: &FlowtableFilter<'_>,
        out: &mut Reply<'_>,
    ) -> Result {
        let Some(state) = NetState::of(net) else {
            return if ft.is_any() { Ok(()) } else { Err(ENOENT) };
        };
        let tables = state.tables();
        out.set_generation(tables.generation());
        let first = before.is_none();
        let mut matched = false;
        // Pinned, not under RCU: reading a flowtable's totals takes its GC's lock and walks its
        // flows, which may sleep; the registry stays unlocked meanwhile, so RTNL's netdevice
        // notifier does not wait for a walk of a million flows. The list is in decreasing id
        // order.
        tables.for_each_pinned(*before, |m| {
            if !ft.matches(m.nf.names()) {
                return true;
            }
            matched = true;
            let rcu = rcu::read_lock();
            let s = m.state.stats(&rcu);
            drop(rcu);
            let f = m.state.forwarded();
            let c = FtCounters {
                flows: s.flows,
                created: s.created,
                removed: s.removed_by_reason,
                sw: f.sw,
                hw: f.hw,
                hw_flows: f.hw_flows,
                buckets: s.buckets.min(u32::MAX.into()) as u32,
                grown: s.grown,
                shrunk: s.shrunk,
                resize_failed: s.resize_failed,
            };
            if out
                .put_ft_stats(&FtStatsMsg::new(m.nf.names(), &c))
                .is_err()
            {
                // Full: this flowtable starts the next part.
                return false;
            }
            *before = Some(m.id);
            true
        });
        // A filter that names no flowtable is an error, not an empty dump (checked on the first
        // part only: flowtables may go away between parts).
        if !matched && !ft.is_any() && first {
            return Err(ENOENT);
        }
        Ok(())
    }
}
