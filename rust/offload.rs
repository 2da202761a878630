// SPDX-License-Identifier: GPL-2.0

//! Hardware offload (`flags offload`): flows go to the drivers bound to their flowtable as two
//! `flow_rule`s, are kept alive from the hardware's counters, and leave the hardware before
//! they are freed.
//!
//! Rust counterpart of [`net/netfilter/nf_flow_table_offload.c`](srctree/net/netfilter/nf_flow_table_offload.c).
//! The rules are decided by [`crate::pure::offload_rule`] (host-tested against C's output); the
//! work items run on three queues of their own, as in C, one item per flow at a time (the
//! `HW_WORK` slot of [`crate::pure::flow_state`]); device binding is in
//! [`crate::sys::flow_block`].
//!
//! Where C is known to be wrong, rflow differs: hardware DESTROYs reach the drivers before
//! their callbacks are unbound (see [`crate::flowtable`]'s `setup`), the keep-alive from the
//! hardware's last use is wrap-safe, and conntrack accounting gets the hardware's 64-bit deltas
//! whole.

use crate::bindings;
use crate::flowtable::Flow;
use crate::netlink::{self, Event};
use crate::path::Xmit;
use crate::pure::{
    flow_state::{self, HwEvent, HwState, HwWork},
    offload_rule::{self, Action, DirSpec, Egress, FlowSpec, MangleHeader, Rule},
    tuple::{Dir, ENCAP_MAX},
    ufid::Ufid,
};
use crate::sys::{
    flow_block::{self, Command, FlowRule},
    global::Global,
    netdev,
    nft::NfFlowtable,
    rcu_index::Indexed,
    work::Workqueue,
};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    new_work,
    prelude::*,
    workqueue::{impl_has_work, Work, WorkItem},
};

// The rule builder's plain values are the kernel's: checked against this kernel's headers at
// build time, as host tests cannot (a wrong checksum flag once passed every host test and
// rflow_sim, and only the C flowtable's control run showed it).
const _: () = {
    assert!(offload_rule::CSUM_IPV4HDR == bindings::TCA_CSUM_UPDATE_FLAG_IPV4HDR);
    assert!(offload_rule::CSUM_TCP == bindings::TCA_CSUM_UPDATE_FLAG_TCP);
    assert!(offload_rule::CSUM_UDP == bindings::TCA_CSUM_UPDATE_FLAG_UDP);
    assert!(offload_rule::ACTIONS_MAX == bindings::RFLOW_HW_ACTIONS_MAX as usize);
    assert!(MangleHeader::Eth.raw() == bindings::FLOW_ACT_MANGLE_HDR_TYPE_ETH);
    assert!(MangleHeader::Ip4.raw() == bindings::FLOW_ACT_MANGLE_HDR_TYPE_IP4);
    assert!(MangleHeader::Ip6.raw() == bindings::FLOW_ACT_MANGLE_HDR_TYPE_IP6);
    assert!(MangleHeader::Tcp.raw() == bindings::FLOW_ACT_MANGLE_HDR_TYPE_TCP);
    assert!(MangleHeader::Udp.raw() == bindings::FLOW_ACT_MANGLE_HDR_TYPE_UDP);
};

/// The queues of hardware work (`nf_flow_offload_{add,del,stats}_wq`): a slow REPLACE does not
/// hold up DESTROYs or the counters that keep hardware flows alive.
pub(crate) struct Queues {
    add: Workqueue,
    del: Workqueue,
    stats: Workqueue,
}

impl Queues {
    /// Allocates the three queues.
    pub(crate) fn new() -> Result<KBox<Queues>> {
        Ok(KBox::new(
            Queues {
                add: Workqueue::new(c"rflow_offload_add")?,
                del: Workqueue::new(c"rflow_offload_del")?,
                stats: Workqueue::new(c"rflow_offload_stats")?,
            },
            GFP_KERNEL,
        )?)
    }

    fn of(&self, work: HwWork) -> &Workqueue {
        match work {
            HwWork::Add | HwWork::Reoffer => &self.add,
            HwWork::Del => &self.del,
            HwWork::Stats => &self.stats,
        }
    }
}

/// The queues, published while the module is loaded.
pub(crate) static QUEUES: Global<Queues> = Global::new();

/// Counters of the work items since the module was loaded, for `/proc/net/rflow`.
pub(crate) struct Counters {
    /// Flows a driver accepted.
    pub(crate) accepted: AtomicU64,
    /// REPLACEs no driver accepted, or whose rules could not be built.
    pub(crate) refused: AtomicU64,
    /// Flows removed from the hardware.
    pub(crate) deleted: AtomicU64,
    /// DESTROYs a driver failed (each is tried again, up to `flow_state::DESTROY_TRIES`).
    pub(crate) destroy_failed: AtomicU64,
    /// Work items that could not be allocated (the flow stays as it is; retried later).
    pub(crate) alloc_failed: AtomicU64,
}

/// See [`Counters`].
pub(crate) static COUNTERS: Counters = Counters {
    accepted: AtomicU64::new(0),
    refused: AtomicU64::new(0),
    deleted: AtomicU64::new(0),
    destroy_failed: AtomicU64::new(0),
    alloc_failed: AtomicU64::new(0),
};

/// Waits for every queued work item (`nf_flow_table_offload_flush()`). Process context.
pub(crate) fn flush() {
    let q = QUEUES.get();
    q.add.flush();
    q.del.flush();
    q.stats.flush();
}

/// A queued hardware work item for one flow.
///
/// # Invariants
///
/// `flow` holds the `HW_WORK` slot this item took, so the GC keeps it allocated (and its
/// flowtable `nf` alive: a flowtable is freed only once its flows are) until [`Flow::end_hw_work`]
/// releases the slot, the item's last access to either.
#[pin_data]
struct HwJob {
    #[pin]
    work: Work<HwJob>,
    kind: HwWork,
    nf: NonNull<bindings::nf_flowtable>,
    flow: NonNull<Indexed<Flow>>,
}

// SAFETY: The pointers are used from the worker only, under the type invariant; the flow and
// flowtable are `Sync` objects shared by design.
unsafe impl Send for HwJob {}

impl_has_work! {
    impl HasWork<Self> for HwJob { self.work }
}

/// Queues `kind` for `flow` of `nf` if the flow's state allows it (one item per flow); returns
/// whether it did. Any context.
pub(crate) fn queue(nf: &NfFlowtable, flow: &Indexed<Flow>, kind: HwWork) -> bool {
    let Some(before) = flow.begin_hw_work(kind) else {
        return false;
    };
    let job = KBox::pin_init(
        pin_init!(HwJob {
            work <- new_work!("rflow_offload"),
            kind,
            nf: NonNull::from(nf).cast(),
            flow: NonNull::from(flow),
        }),
        GFP_ATOMIC,
    );
    match job {
        Ok(job) => {
            // INVARIANT: The slot was taken above for this item.
            QUEUES.get().of(kind).queue().enqueue(job);
            true
        }
        Err(_) => {
            COUNTERS.alloc_failed.fetch_add(1, Ordering::Relaxed);
            flow.abort_hw_work(before);
            false
        }
    }
}

/// The software path refreshed `flow` (at most once a second): offer it to the drivers if it is
/// not in hardware, again if it is (`flow_offload_refresh()` → `nf_flow_offload_add()`).
pub(crate) fn refreshed(nf: &NfFlowtable, flow: &Indexed<Flow>) {
    let kind = match flow.state().hw() {
        HwState::Software => HwWork::Add,
        HwState::Offloaded => HwWork::Reoffer,
        _ => return,
    };
    queue(nf, flow, kind);
}

impl WorkItem for HwJob {
    type Pointer = Pin<KBox<HwJob>>;

    fn run(this: Pin<KBox<HwJob>>) {
        // SAFETY: The flowtable outlives the item's hold on the flow (type invariant).
        let nf = unsafe { NfFlowtable::from_raw(this.nf.as_ptr()) };
        // SAFETY: Allocated until `end_hw_work` below (type invariant).
        let flow = unsafe { this.flow.as_ref() };
        let event = run(nf, flow, this.kind);
        // INVARIANT: The last access to the flow and the flowtable.
        flow.end_hw_work(event);
    }
}

/// Does `kind` for `flow`, returning the event that ends it.
fn run(nf: &NfFlowtable, flow: &Indexed<Flow>, kind: HwWork) -> Option<HwEvent> {
    match kind {
        HwWork::Add => Some(add(nf, flow)),
        HwWork::Reoffer => {
            add(nf, flow);
            None
        }
        HwWork::Del => Some(del(nf, flow)),
        HwWork::Stats => {
            stats(nf, flow);
            None
        }
    }
}

/// `flow_offload_work_add()`: builds both directions' rules and offers them; the flow is in
/// hardware if a driver accepted either direction.
fn add(nf: &NfFlowtable, flow: &Indexed<Flow>) -> HwEvent {
    let accepted = match rules(nf, flow) {
        Ok(rules) => rules
            .iter()
            .enumerate()
            .map(|(slot, r)| {
                flow_block::call(nf, flow.hw_cookie(slot), Command::Replace(r)).accepted
            })
            .sum::<u32>(),
        // No neighbour yet, a device gone, a flow hardware cannot express: the software path
        // offers it again on its next refresh.
        Err(_) => 0,
    };
    if accepted == 0 {
        COUNTERS.refused.fetch_add(1, Ordering::Relaxed);
        return HwEvent::Refused;
    }
    flow.ct().set_hw_offload(true);
    COUNTERS.accepted.fetch_add(1, Ordering::Relaxed);
    netlink::notify(nf, flow, Event::Hw, Some(HwState::Offloaded));
    HwEvent::Accepted
}

static GAVE_UP_WARNED: AtomicBool = AtomicBool::new(false);

/// `flow_offload_work_del()`. Unlike 6.12, a DESTROY a driver failed is tried again from the
/// GC's next pass (`flow_state::DESTROY_TRIES` in all): the driver may still forward the flow.
/// Drivers that answer "not mine" (`-ENOENT`) to a retried direction they did destroy are
/// fine.
fn del(nf: &NfFlowtable, flow: &Indexed<Flow>) -> HwEvent {
    let failed: u32 = (0..2)
        .map(|slot| flow_block::call(nf, flow.hw_cookie(slot), Command::Destroy).failed)
        .sum();
    if failed != 0 {
        COUNTERS.destroy_failed.fetch_add(1, Ordering::Relaxed);
        if flow.state().destroy_failures() + 1 < flow_state::DESTROY_TRIES {
            return HwEvent::DeleteFailed;
        }
        // Once: a failing driver fails every flow; the count is in /proc/net/rflow.
        if !GAVE_UP_WARNED.swap(true, Ordering::Relaxed) {
            pr_warn!(
                "rflow: a driver failed to destroy a flow {} times; its hardware may keep a stale entry (hw_destroy_failed counts them)\n",
                flow_state::DESTROY_TRIES
            );
        }
    }
    flow.ct().set_hw_offload(false);
    COUNTERS.deleted.fetch_add(1, Ordering::Relaxed);
    netlink::notify(nf, flow, Event::Hw, Some(HwState::Dead));
    HwEvent::Deleted
}

/// `flow_offload_work_stats()`: the hardware's last use keeps the flow alive; with `counter`,
/// its packets and bytes go into conntrack's accounting.
fn stats(nf: &NfFlowtable, flow: &Flow) {
    let counter = nf.flags() & bindings::NFT_FLOWTABLE_COUNTER != 0;
    let mut lastused = 0u64;
    for (slot, d) in flow.dirs().iter().enumerate() {
        let s = flow_block::call(nf, flow.hw_cookie(slot), Command::Stats).stats;
        lastused = lastused.max(s.lastused);
        d.hw_packets.fetch_add(s.packets, Ordering::Relaxed);
        d.hw_bytes.fetch_add(s.bytes, Ordering::Relaxed);
        if counter && s.packets != 0 {
            flow.ct().account_bulk(d.dir(), s.packets, s.bytes);
        }
    }
    flow.refresh_from_hw(lastused);
}

/// The rules of both directions, as the drivers get them.
fn rules(nf: &NfFlowtable, flow: &Indexed<Flow>) -> Result<[FlowRule; 2]> {
    let spec = FlowSpec {
        dirs: [dir_spec(nf, flow, 0)?, dir_spec(nf, flow, 1)?],
        flags: flow.state().0 & (flow_state::SNAT | flow_state::DNAT),
    };
    let build = |dir| -> Result<FlowRule> {
        let rule = offload_rule::build(&spec, dir).map_err(|e| match e {
            offload_rule::RuleError::Unsupported => crate::sys::errno::eopnotsupp(),
            offload_rule::RuleError::TooManyActions => E2BIG,
        })?;
        FlowRule::build(nf.net(), &raw_rule(&rule, Flow::ufid(flow)))
    };
    Ok([build(Dir::Original)?, build(Dir::Reply)?])
}

/// What the rule builder needs of direction `slot`: its arriving tuple and how it leaves,
/// resolved now (the neighbour's address must be valid, `flow_offload_eth_dst()`).
fn dir_spec(nf: &NfFlowtable, flow: &Flow, slot: usize) -> Result<DirSpec> {
    let d = flow.dir(slot);
    let other = flow.dir(1 - slot);
    let egress = match &d.route.xmit {
        Xmit::Neigh => {
            // Packets of this direction leave by the device the other direction arrives on.
            let ifindex = other.tuple.iif;
            let h_source = netdev::mac_by_index(nf.net(), ifindex).ok_or(ENODEV)?;
            let h_dest = if d.route.pppoe_peer != [0; 6] {
                d.route.pppoe_peer
            } else {
                d.route.dst.neighbour_mac(&other.tuple.src).ok_or(ENOENT)?
            };
            Egress::Neigh {
                h_source,
                h_dest,
                ifindex,
            }
        }
        Xmit::Direct(x) => Egress::Direct {
            h_source: x.h_source,
            h_dest: x.h_dest,
            hw_ifindex: x.dev.ifindex() as u32,
        },
        Xmit::Xfrm => Egress::Xfrm,
    };
    Ok(DirSpec {
        tuple: d.tuple,
        encap_num: d
            .tuple
            .encap
            .iter()
            .take_while(|e| e.proto != 0)
            .count()
            .min(ENCAP_MAX),
        in_vlan_ingress: d.in_vlan_ingress,
        egress,
    })
}

/// The plain-value form of `rule` that `rflow_flow_rule_build()` turns into a `flow_rule`.
fn raw_rule(rule: &Rule, ufid: &Ufid) -> bindings::rflow_hw_rule {
    let m = &rule.matched;
    // Every action carries the flow's UFID as its user cookie, as tc does with OVS's: a
    // driver's entries can be matched to `rflowctl get`.
    let mut raw = bindings::rflow_hw_rule {
        has_cookie: 1,
        cookie: ufid.0,
        ..Default::default()
    };
    let rm = &mut raw.match_;
    rm.ingress_ifindex = m.ingress_ifindex;
    rm.n_proto = m.n_proto;
    rm.ip_proto = m.ip_proto;
    rm.src = m.src;
    rm.dst = m.dst;
    if let Some((sport, dport)) = m.ports {
        rm.has_ports = 1;
        rm.sport = sport;
        rm.dport = dport;
    }
    rm.tcp_flags = u8::from(m.tcp_flags);
    for (i, v) in [m.vlan, m.cvlan].into_iter().flatten().enumerate() {
        rm.vlan_id[i] = v.vid;
        rm.vlan_tpid[i] = v.tpid;
        rm.num_vlans = i as u8 + 1;
    }
    for (slot, action) in raw.actions.iter_mut().zip(rule.actions()) {
        *slot = raw_action(action);
        raw.num_actions += 1;
    }
    raw
}

fn raw_action(action: Action) -> bindings::rflow_hw_action {
    let mut a = bindings::rflow_hw_action::default();
    match action {
        // Tunnels are not built yet (issue 11); the C side refuses the id.
        Action::TunnelDecap => a.id = bindings::FLOW_ACTION_TUNNEL_DECAP,
        Action::Mangle {
            header,
            offset,
            mask,
            val,
        } => {
            a.id = bindings::FLOW_ACTION_MANGLE;
            a.htype = header.raw();
            a.offset = offset;
            a.mask = mask;
            a.val = val;
        }
        Action::VlanPop => a.id = bindings::FLOW_ACTION_VLAN_POP,
        Action::VlanPush { vid, proto } => {
            a.id = bindings::FLOW_ACTION_VLAN_PUSH;
            a.vlan_id = vid;
            a.vlan_proto = proto;
        }
        Action::PppoePush { sid } => {
            a.id = bindings::FLOW_ACTION_PPPOE_PUSH;
            a.pppoe_sid = sid;
        }
        Action::Csum(flags) => {
            a.id = bindings::FLOW_ACTION_CSUM;
            a.csum_flags = flags;
        }
        Action::Redirect(ifindex) => {
            a.id = bindings::FLOW_ACTION_REDIRECT;
            a.ifindex = ifindex;
        }
    }
    a
}
