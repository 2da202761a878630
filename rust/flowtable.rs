// SPDX-License-Identifier: GPL-2.0

//! Flow tables (the flowtable core): per-flowtable state, the flow lifecycle, teardown, garbage
//! collection, and the per-namespace registry of flowtables.
//!
//! Rust counterpart of [`net/netfilter/nf_flow_table_core.c`](srctree/net/netfilter/nf_flow_table_core.c).
//! A [`FlowTable`] is rflow's state for one nft flowtable: built by the flowtable type's `init`
//! (see [`crate::sys::nft::flowtable`], which owns it), listed in its namespace's [`NetState`],
//! and torn down by `free`.

mod flow;

pub(crate) use flow::{allocated, Flow, FlowDir, FLOWS};

use crate::ip;
use crate::netlink::{self, Event};
use crate::offload;
use crate::path::Xmit;
use crate::pure::{
    flow_state::{gc_step, GcAction, GcView, HwState, HwWork, Reason, HW_WORK, REASONS},
    hash::SipKey,
    rcu_table::Sizing,
    timeout::{self, tcp},
    tuple::{FlowKey, IPPROTO_TCP, IPPROTO_UDP},
    ufid::Ufid,
};
use crate::sys::{
    conntrack::{Conn, Status},
    flow_block,
    genl::DirCounters,
    net::Net,
    netdev::{NetDevice, NetdevEvent, NetdevNotify},
    nft::{
        flowtable::{BlockCommand, Family, FlowtableOps, Registry},
        HookState, NfFlowtable, Verdict,
    },
    pernet::{PernetData, PernetId},
    rcu::ReadSection,
    rcu_index::{Index, Indexed},
    skb::HookSkb,
    slab::Owned,
    time,
};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use kernel::{c_str, new_mutex, prelude::*, sync::Mutex};

/// Totals over all flow tables and namespaces since the module was loaded: flows created, and
/// the fast-path packets and bytes of removed flows by transmit method. They are folded in when
/// a flow is removed, so the packet path pays nothing for them; they show which code forwarded
/// what even after the namespaces of a test are gone.
struct Totals {
    created: AtomicU64,
    packets: [AtomicU64; 3],
    bytes: [AtomicU64; 3],
}

static TOTALS: Totals = Totals {
    created: AtomicU64::new(0),
    packets: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
    bytes: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
};

/// Index of a transmit method in [`Totals`].
fn xmit_index(xmit: &Xmit) -> usize {
    match xmit {
        Xmit::Neigh => 0,
        Xmit::Direct(_) => 1,
        Xmit::Xfrm => 2,
    }
}

/// Module-wide totals: flows created, then packets and bytes for neigh, direct and xfrm.
pub(crate) fn totals() -> (u64, [u64; 3], [u64; 3]) {
    let load = |a: &[AtomicU64; 3]| a.each_ref().map(|v| v.load(Ordering::Relaxed));
    (
        TOTALS.created.load(Ordering::Relaxed),
        load(&TOTALS.packets),
        load(&TOTALS.bytes),
    )
}

/// Counters of a flow table that cost nothing to read (no walk of its flows).
#[derive(Clone, Copy, Default)]
pub(crate) struct Stats {
    /// Flows in the table now.
    pub(crate) flows: u64,
    /// Flows ever added.
    pub(crate) created: u64,
    /// Flows removed (expired, torn down or flushed).
    pub(crate) removed: u64,
    /// The same by [`Reason`] (index: its value).
    pub(crate) removed_by_reason: [u64; REASONS],
    /// Packets and bytes forwarded by the fast path for flows since removed, per direction.
    pub(crate) removed_sw: DirCounters,
    /// Size of the bucket array.
    pub(crate) buckets: u64,
    /// Times the bucket array grew.
    pub(crate) grown: u64,
    /// Times it shrank.
    pub(crate) shrunk: u64,
    /// Resizes that could not allocate the new array (the table kept the old one).
    pub(crate) resize_failed: u64,
    /// Longest time a resize blocked inserts, in microseconds.
    pub(crate) resize_max_locked_us: u64,
}

/// What a flowtable forwarded since it was created ([`FlowTable::forwarded`]).
pub(crate) struct Forwarded {
    /// Packets and bytes per direction, in software.
    pub(crate) sw: DirCounters,
    /// And in hardware.
    pub(crate) hw: DirCounters,
    /// Flows a driver holds now.
    pub(crate) hw_flows: u64,
}

/// What became of a flowtable's removed flows: why they went, what they forwarded.
#[derive(Default)]
struct Removed {
    by_reason: [AtomicU64; REASONS],
    /// Per direction (original, reply).
    packets: [AtomicU64; 2],
    bytes: [AtomicU64; 2],
    hw_packets: [AtomicU64; 2],
    hw_bytes: [AtomicU64; 2],
}

impl Removed {
    fn read(&self) -> ([u64; REASONS], DirCounters, DirCounters) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let pairs = |p: &[AtomicU64; 2], b: &[AtomicU64; 2]| {
            [(load(&p[0]), load(&b[0])), (load(&p[1]), load(&b[1]))]
        };
        (
            self.by_reason.each_ref().map(load),
            pairs(&self.packets, &self.bytes),
            pairs(&self.hw_packets, &self.hw_bytes),
        )
    }
}

/// Bucket array sizes: 64 buckets at first, at most 2^20 (8 MiB of heads), beyond which chains
/// just get longer.
const SIZING: Sizing = Sizing {
    min: 64,
    max: 1 << 20,
};

/// rflow's state for one nft flowtable.
///
/// Lock order: `gc` serialises GC passes (the worker, the netdevice notifier, shutdown) and
/// the reads of [`FlowTable::forwarded`] (`RFLOW_CMD_STATS`); the notifier takes it inside the
/// registry's lock, STATS with the flowtable pinned and the registry unlocked, and nothing takes
/// the registry's lock inside it. The index's own locks nest inside `gc`.
#[pin_data]
pub(crate) struct FlowTable {
    #[pin]
    index: Index<Flow>,
    secret: SipKey,
    #[pin]
    gc: Mutex<()>,
    created: AtomicU64,
    removed: Removed,
    grown: AtomicU64,
    shrunk: AtomicU64,
    resize_failed: AtomicU64,
    /// Longest time a resize held the writer lock (inserts waited), in nanoseconds.
    resize_max_locked_ns: AtomicU64,
    /// Devices bound to hardware offload through the indirect drivers.
    indirect_binds: AtomicU32,
    /// With `flags offload` in best-effort mode: the devices no driver could bind, which stay
    /// in software (interface indexes, 0 for a free slot; more than fit are not listed).
    software_only: [AtomicI32; SOFTWARE_ONLY_LISTED],
}

/// How many software-only devices of a flowtable `/proc/net/rflow` can list.
const SOFTWARE_ONLY_LISTED: usize = 16;

impl FlowTable {
    /// Looks up the flow a packet with key `key` belongs to, and the direction it matched
    /// (`flow_offload_lookup()`). Flows being torn down, or whose conntrack entry is dying, are
    /// not returned.
    #[inline(always)]
    pub(crate) fn lookup<'a>(
        &'a self,
        rcu: &'a ReadSection,
        key: &FlowKey,
    ) -> Option<(&'a Indexed<Flow>, usize)> {
        let hash = crate::pure::hash::hash_key(&self.secret, key);
        let (flow, slot) = self.index.lookup(rcu, hash, key)?;
        if flow.is_teardown() || flow.ct().is_dying() {
            return None;
        }
        Some((flow, slot))
    }

    /// Looks up the flow with UFID `ufid`, torn down or not (control plane).
    pub(crate) fn lookup_ufid<'a>(
        &'a self,
        rcu: &'a ReadSection,
        ufid: &Ufid,
    ) -> Option<&'a Indexed<Flow>> {
        self.index.lookup_alt(rcu, ufid.hash(&self.secret), ufid)
    }

    /// Returns the hash secret new flows must be built with.
    pub(crate) fn secret(&self) -> &SipKey {
        &self.secret
    }

    /// Adds a flow to the table (`flow_offload_add()`); fails if one of its keys is taken.
    pub(crate) fn add(
        &self,
        rcu: &ReadSection,
        nf: &NfFlowtable,
        flow: Owned<Indexed<Flow>>,
    ) -> Result {
        // Conntrack no longer sees the packets: keep the entry alive while the flow lives. Done
        // before publishing, while the flow is still ours alone.
        let ct = flow.ct();
        ct.refresh(time::CT_DAY);
        let flow = self.index.insert(rcu, flow).map_err(|_| EEXIST)?;
        self.created.fetch_add(1, Ordering::Relaxed);
        TOTALS.created.fetch_add(1, Ordering::Relaxed);
        netlink::notify(nf, flow, Event::New, None);
        if nf.hw_offload() {
            offload::queue(nf, flow, HwWork::Add);
        }
        if self.index.overloaded(rcu) {
            nf.gc().kick(0);
        }
        Ok(())
    }

    /// Unlinks a flow and frees it after a grace period (`flow_offload_del()`).
    fn remove(&self, nf: &NfFlowtable, flow: &Indexed<Flow>) {
        netlink::notify(nf, flow, Event::Del, None);
        let r = &self.removed;
        for (slot, d) in flow.dirs().into_iter().enumerate() {
            let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let (packets, bytes) = (load(&d.packets), load(&d.bytes));
            r.packets[slot].fetch_add(packets, Ordering::Relaxed);
            r.bytes[slot].fetch_add(bytes, Ordering::Relaxed);
            r.hw_packets[slot].fetch_add(load(&d.hw_packets), Ordering::Relaxed);
            r.hw_bytes[slot].fetch_add(load(&d.hw_bytes), Ordering::Relaxed);
            let i = xmit_index(&d.route.xmit);
            TOTALS.packets[i].fetch_add(packets, Ordering::Relaxed);
            TOTALS.bytes[i].fetch_add(bytes, Ordering::Relaxed);
        }
        r.by_reason[flow.state().reason() as usize].fetch_add(1, Ordering::Relaxed);
        self.index.remove(flow);
    }

    /// One GC pass (`nf_flow_table_gc_run()`), then a resize if the load calls for one.
    fn gc_pass(&self, nf: &NfFlowtable) {
        let _serial = self.gc.lock();
        self.index.for_each(|flow| self.gc_step(nf, flow));
        match self.index.resize() {
            Ok(Some(r)) => {
                let counter = if r.to > r.from {
                    &self.grown
                } else {
                    &self.shrunk
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.resize_max_locked_ns
                    .fetch_max(r.locked_ns, Ordering::Relaxed);
            }
            Ok(None) => {}
            // The current array stays; the next pass tries again.
            Err(_) => {
                self.resize_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// GC of one flow (`nf_flow_offload_gc_step()`).
    fn gc_step(&self, nf: &NfFlowtable, flow: &Indexed<Flow>) {
        let ct = flow.ct();
        let view = |state| GcView {
            state,
            expired: flow.expires_in() <= 0,
            ct_dying: ct.is_dying(),
            tcp_established: ct.l4proto() == IPPROTO_TCP && ct.tcp_state() == tcp::ESTABLISHED,
        };
        let mut step = gc_step(view(flow.state()));
        if step.teardown {
            let reason = if flow.expires_in() <= 0 {
                Reason::Expired
            } else {
                Reason::Closed
            };
            teardown(flow, reason);
            // Decide again from the state after TEARDOWN: the packet path may have queued a
            // hardware item just before it (afterwards it cannot), and a flow whose item is
            // pending must not be freed. Both are read-modify-writes of the same word, so this
            // load sees any item queued before the teardown.
            let torn = gc_step(view(flow.state_acquire()));
            step.action = torn.action;
        }
        if step.extend_ct {
            extend_ct_timeout(ct);
        }
        match step.action {
            GcAction::Remove => self.remove(nf, flow),
            // A work item still pending (its allocation failed) is retried on the next pass.
            GcAction::HwDelete => {
                offload::queue(nf, flow, HwWork::Del);
            }
            GcAction::HwStats => {
                if flow.wants_hw_stats() {
                    offload::queue(nf, flow, HwWork::Stats);
                }
            }
            GcAction::Keep | GcAction::WaitHw => {}
        }
    }

    /// Tears down the flows that enter or leave through `dev` and frees them at once
    /// (`nf_flow_table_cleanup()`), so that a device being unregistered gets its references back.
    /// Flows in hardware are destroyed there first, while the device's driver is still bound
    /// (C queues those DESTROYs and, when the device is unbound, sends them to no one).
    fn cleanup_device(&self, nf: &NfFlowtable, dev: &NetDevice) {
        let ifindex = dev.ifindex();
        let mut torn_down = 0usize;
        self.index.for_each(|flow| {
            if flow.uses_device(ifindex) {
                teardown(flow, Reason::Device);
                torn_down += 1;
            }
        });
        // Another walk only when there is something to free: a device that no flow uses (most
        // devices going down in a namespace) costs one walk, as in C.
        if torn_down == 0 {
            return;
        }
        if nf.hw_offload() {
            self.leave_hardware(nf, |flow| flow.uses_device(ifindex));
        }
        self.gc_pass(nf);
    }

    /// Takes the flows `which` selects out of the hardware, and waits until they are: queues
    /// their DESTROYs and flushes the queues until none of them is in hardware or has a work
    /// item pending. Process context; the selected flows must be torn down (so that nothing
    /// queues a REPLACE for them meanwhile).
    fn leave_hardware(&self, nf: &NfFlowtable, which: impl Fn(&Flow) -> bool) {
        // Not the GC's lock: the GC's own DESTROYs are flushed here too, and it may run.
        for round in 0.. {
            offload::flush();
            let mut busy = 0usize;
            self.index.for_each(|flow| {
                if !which(flow) {
                    return;
                }
                let state = flow.state_acquire();
                let in_hw = matches!(
                    state.hw(),
                    HwState::AddPending | HwState::Offloaded | HwState::DelPending
                );
                if state.has(HW_WORK) || in_hw {
                    busy += 1;
                    // An allocation failure leaves it for the next round.
                    offload::queue(nf, flow, HwWork::Del);
                }
            });
            if busy == 0 {
                return;
            }
            if round == 1000 {
                // Only failing allocations can keep a flow here: give up on the hardware (its
                // driver keeps a stale entry) rather than hang a device's removal.
                pr_warn!("rflow: {busy} flows could not leave the hardware\n");
                return;
            }
            crate::sys::time::sleep_ms(if round < 10 { 1 } else { 10 });
        }
    }

    /// Records that device `ifindex` stays in software (best-effort mode).
    fn note_software_only(&self, ifindex: i32) {
        for slot in &self.software_only {
            if slot
                .compare_exchange(0, ifindex, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Forgets software-only device `ifindex`; returns whether it was one.
    fn forget_software_only(&self, ifindex: i32) -> bool {
        self.software_only.iter().any(|slot| {
            slot.compare_exchange(ifindex, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        })
    }

    /// Calls `f` on each device that stays in software in best-effort mode.
    pub(crate) fn for_each_software_only(&self, mut f: impl FnMut(i32)) {
        for slot in &self.software_only {
            let ifindex = slot.load(Ordering::Relaxed);
            if ifindex != 0 {
                f(ifindex);
            }
        }
    }

    /// Returns what the flowtable forwarded since it was created, in software and in hardware,
    /// and how many of its flows a driver holds now. Walks the flows, with the GC's lock held:
    /// flows are removed (their counters folded into [`Removed`], then unlinked) only under it,
    /// so each flow is counted exactly once, live or removed, and the totals only grow.
    pub(crate) fn forwarded(&self) -> Forwarded {
        let _serial = self.gc.lock();
        let (_, mut sw, mut hw) = self.removed.read();
        let mut hw_flows = 0;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        self.index.for_each(|flow| {
            // Wrapping, as the counters themselves are: the hardware's come from drivers, and a
            // sum that overflowed must not panic with the registry and GC locks held.
            for (slot, d) in flow.dirs().into_iter().enumerate() {
                sw[slot].0 = sw[slot].0.wrapping_add(load(&d.packets));
                sw[slot].1 = sw[slot].1.wrapping_add(load(&d.bytes));
                hw[slot].0 = hw[slot].0.wrapping_add(load(&d.hw_packets));
                hw[slot].1 = hw[slot].1.wrapping_add(load(&d.hw_bytes));
            }
            if flow.state().hw() == HwState::Offloaded {
                hw_flows += 1;
            }
        });
        Forwarded { sw, hw, hw_flows }
    }

    /// Returns the flow index, for listings.
    pub(crate) fn index(&self) -> &Index<Flow> {
        &self.index
    }

    /// Returns the table's counters.
    pub(crate) fn stats(&self, rcu: &ReadSection) -> Stats {
        let (by_reason, removed_sw, _) = self.removed.read();
        Stats {
            flows: self.index.objects() as u64,
            created: self.created.load(Ordering::Relaxed),
            removed: by_reason.iter().fold(0, |a: u64, &n| a.wrapping_add(n)),
            removed_by_reason: by_reason,
            removed_sw,
            buckets: self.index.buckets(rcu) as u64,
            grown: self.grown.load(Ordering::Relaxed),
            shrunk: self.shrunk.load(Ordering::Relaxed),
            resize_failed: self.resize_failed.load(Ordering::Relaxed),
            resize_max_locked_us: self.resize_max_locked_ns.load(Ordering::Relaxed) / 1000,
        }
    }
}

impl FlowtableOps for FlowTable {
    /// `nf_flow_table_init()`.
    fn new(_nf: &NfFlowtable) -> impl PinInit<Self, Error> {
        try_pin_init!(FlowTable {
            index <- Index::new(SIZING),
            secret: crate::sys::random::sip_key(),
            gc <- new_mutex!(()),
            created: AtomicU64::new(0),
            removed: Removed::default(),
            grown: AtomicU64::new(0),
            shrunk: AtomicU64::new(0),
            resize_failed: AtomicU64::new(0),
            resize_max_locked_ns: AtomicU64::new(0),
            indirect_binds: AtomicU32::new(0),
            software_only: [const { AtomicI32::new(0) }; SOFTWARE_ONLY_LISTED],
        }? Error)
    }

    fn registry(net: &Net) -> Option<&Registry<Self>> {
        NetState::of(net).map(|s| &s.tables)
    }

    /// `nf_flow_table_offload_setup()`: with `flags offload`, each device's driver binds its
    /// callbacks to the flowtable; a device no driver can offload for makes the flowtable (or
    /// the device's addition) fail, as in C.
    fn setup(&self, nf: &NfFlowtable, dev: &NetDevice, cmd: BlockCommand) -> Result {
        if !nf.hw_offload() {
            return Ok(());
        }
        let bind = cmd == BlockCommand::Bind;
        if !bind {
            // The device's flows leave the hardware while its driver can still hear it.
            self.cleanup_device(nf, dev);
            if self.forget_software_only(dev.ifindex()) {
                // Never bound: nothing to unbind.
                return Ok(());
            }
        }
        // nf_tables serialises `setup` calls (commit mutex): the count needs no more.
        let first_indirect = self.indirect_binds.load(Ordering::Relaxed) == 0;
        let binding = match flow_block::setup(nf, dev, bind, first_indirect) {
            Ok(binding) => binding,
            Err(e) => {
                let best_effort = bind && flow_block::best_effort(nf.net());
                // nf_tables' `setup` has no extack: the driver's reason goes to the log.
                pr_info!(
                    "rflow: hardware offload: {} device {}: error {}{}{}{}\n",
                    if bind { "cannot bind" } else { "cannot unbind" },
                    dev.name(),
                    e.error.to_errno(),
                    if e.message.is_some() { ": " } else { "" },
                    e.message.unwrap_or(c_str!("")),
                    if best_effort {
                        "; it stays in software (net.rflow.hw_offload_best_effort)"
                    } else {
                        ""
                    },
                );
                if best_effort {
                    self.note_software_only(dev.ifindex());
                    return Ok(());
                }
                return Err(e.error);
            }
        };
        if binding == flow_block::Binding::Indirect {
            if bind {
                self.indirect_binds.fetch_add(1, Ordering::Relaxed);
            } else {
                let _ =
                    self.indirect_binds
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn hook(
        &self,
        rcu: &ReadSection,
        nf: &NfFlowtable,
        skb: HookSkb<'_>,
        state: &HookState,
        family: Family,
    ) -> Verdict {
        ip::hook(self, rcu, nf, skb, state, family)
    }

    /// `nf_flow_offload_work_gc()`: every second.
    fn gc(&self, nf: &NfFlowtable) -> u32 {
        self.gc_pass(nf);
        time::HZ
    }

    /// `nf_flow_table_free()`: tears every flow down, hands the connections back and frees
    /// the flows.
    fn shutdown(&self, nf: &NfFlowtable) {
        self.index.for_each(|flow| {
            teardown(flow, Reason::Flush);
        });
        // No hook, expression or GC reaches the flowtable any more: after the flush, nothing
        // queues work for its flows but this.
        if nf.hw_offload() {
            self.leave_hardware(nf, |_| true);
        }
        self.gc_pass(nf);
    }
}

impl flow_block::IndirectCleanup for FlowTable {
    /// `nf_flow_table_indr_cleanup()`'s flow part: an indirect driver bound for `dev` goes
    /// away, so the flows through `dev` leave the fast path now.
    fn indirect_cleanup(nf: &NfFlowtable, dev: &NetDevice) {
        if let Some(table) = crate::inet::Types::state_of(nf) {
            table.cleanup_device(nf, dev);
        }
    }
}

/// Stops fast-path forwarding of a flow and gives the connection back to conntrack
/// (`flow_offload_teardown()`); returns whether this call tore it down (not an earlier one).
/// The GC removes the flow on its next pass.
pub(crate) fn teardown(flow: &Flow, reason: Reason) -> bool {
    flow.ct().clear_offload();
    if flow.set_teardown(reason) {
        return false;
    }
    fixup_ct(flow);
    true
}

/// Restores the conntrack state conntrack needs to take over a connection again
/// (`flow_offload_fixup_ct()` of 6.14+):
///
/// - TCP window tracking is re-learnt, since conntrack missed the offloaded segments;
/// - a closing TCP connection (FIN or RST went through the fast path) enters CLOSE, flagged so
///   that a SYN reopens it, with the CLOSE timeout;
/// - otherwise the timeout, which the flowtable kept at a day, goes back to the state's normal
///   timeout, minus the time the flow waited without traffic if it expired.
fn fixup_ct(flow: &Flow) {
    let ct = flow.ct();
    let net = ct.net();
    let expired = flow.expires_in() <= 0;
    let (state_timeout, flow_timeout, closing) = match ct.l4proto() {
        IPPROTO_TCP if flow.is_closing() => {
            ct.reset_tcp_window(Some(tcp::CLOSE));
            (net.tcp_timeout(tcp::CLOSE), 0, true)
        }
        IPPROTO_TCP => {
            ct.reset_tcp_window(None);
            (
                net.tcp_timeout(ct.tcp_state()),
                flow.offload_timeout(),
                false,
            )
        }
        IPPROTO_UDP => (
            net.udp_timeout(ct.test(Status::SeenReply)),
            flow.offload_timeout(),
            false,
        ),
        _ => return,
    };
    let ct_left = timeout::until(ct.timeout().load(Ordering::Relaxed), time::now());
    if let Some(t) =
        timeout::restored_ct_timeout(state_timeout, flow_timeout, expired, ct_left, closing)
    {
        ct.refresh(t);
    }
}

/// Keeps the conntrack entry of a live flow from expiring (`nf_flow_table_extend_ct_timeout()`):
/// conntrack sees no packets of it, so its timeout would run out while the flow is busy.
fn extend_ct_timeout(ct: &Conn) {
    let stamp = ct.timeout();
    let old = stamp.load(Ordering::Relaxed);
    if !timeout::ct_needs_extension(old, time::now(), time::HZ) {
        return;
    }
    // Without a reference the entry could be freed and reused under us.
    let Some(ct) = ct.try_get() else {
        return;
    };
    if ct.test(Status::Confirmed) && ct.test(Status::Offload) {
        let extra = match ct.l4proto() {
            IPPROTO_TCP => {
                timeout::offloaded_tcp_ct_timeout(ct.tcp_state(), time::HZ, time::CT_DAY)
            }
            // UDP, and GRE, which 6.12.117's C code forgets (it warns and sets one jiffy).
            _ => Some(time::CT_DAY),
        };
        if let Some(extra) = extra {
            // Conntrack's own updates are authoritative: only replace the value we read.
            let _ = stamp.compare_exchange(
                old,
                time::now().wrapping_add(extra),
                Ordering::SeqCst,
                Ordering::Relaxed,
            );
        }
    }
}

/// rflow's state in each network namespace: its flowtables.
#[pin_data]
pub(crate) struct NetState {
    #[pin]
    tables: Registry<FlowTable>,
}

static NET_STATE_ID: PernetId = PernetId::new();

impl NetState {
    /// Returns the flowtables of the namespace.
    pub(crate) fn tables(&self) -> &Registry<FlowTable> {
        &self.tables
    }
}

impl PernetData for NetState {
    fn id() -> &'static PernetId {
        &NET_STATE_ID
    }

    fn init(net: &Net) -> impl PinInit<Self, Error> {
        try_pin_init!(NetState {
            tables <- Registry::new(),
        }? Error)
        .pin_chain(move |_| crate::procfs::create(net))
    }

    fn exit(&self, net: &Net) {
        crate::procfs::remove(net);
    }
}

/// The netdevice notifier of `nft_flow_offload.c`: tears down the flows of a device that goes
/// down or away.
pub(crate) struct DeviceEvents;

impl NetdevNotify for DeviceEvents {
    fn event(_event: NetdevEvent, dev: &NetDevice) {
        // Only this namespace's flowtables can hold flows through the device.
        let Some(state) = NetState::of(dev.net()) else {
            return;
        };
        state
            .tables
            .for_each_locked(|m| m.state.cleanup_device(m.nf, dev));
    }
}
