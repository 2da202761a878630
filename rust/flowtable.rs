// SPDX-License-Identifier: GPL-2.0

//! Flow tables (the flowtable core): per-flowtable state, the flow lifecycle, teardown and garbage collection.
//!
//! Rust counterpart of [`net/netfilter/nf_flow_table_core.c`](srctree/net/netfilter/nf_flow_table_core.c).
//! A [`FlowTable`] is rflow's state for one nft flowtable: it is created by the flowtable type's
//! `init` callback, found from the C `struct nf_flowtable` through a private slot, and destroyed
//! by `free`.

mod flow;
mod table;

pub(crate) use flow::{allocated, Flow, FlowDir};

use crate::bindings;
use crate::path::Xmit;
use crate::pure::tuple::{IPPROTO_TCP, IPPROTO_UDP};
use crate::sys::{
    conntrack::{Conn, Status},
    net,
    netdev::NetDevice,
    nft::NfFlowtable,
    rcu::ReadSection,
    time,
    work::DelayedWork,
};
use core::{
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, AtomicU64, Ordering},
};
use kernel::{new_mutex, prelude::*, sync::Mutex};
use table::Table;

/// Totals over all flow tables and namespaces since the module was loaded: flows created, and
/// the fast-path packets and bytes of removed flows by transmit method. They are folded in when
/// a flow is removed, so the packet path pays nothing for them; they show which code forwarded
/// what even after the namespaces of a test are gone.
pub(crate) struct Totals {
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

/// Counters of a flow table, as procfs shows them.
#[derive(Clone, Copy, Default)]
pub(crate) struct Stats {
    /// Flows in the table now.
    pub(crate) flows: u64,
    /// Flows ever added.
    pub(crate) created: u64,
    /// Flows removed (expired, torn down or flushed).
    pub(crate) removed: u64,
    /// Packets forwarded by the fast path, live and removed flows.
    pub(crate) packets: u64,
    /// Bytes forwarded by the fast path, live and removed flows.
    pub(crate) bytes: u64,
    /// Size of the bucket array.
    pub(crate) buckets: u64,
}

/// rflow's state for one nft flowtable.
///
/// # Invariants
///
/// `nf` is the flowtable this state belongs to; the state is created in its `init` and
/// destroyed in its `free`, so `nf` is valid for the whole life of the value. The flowtable's
/// GC work item is initialised and runs [`gc_work`].
#[pin_data]
pub(crate) struct FlowTable {
    nf: NonNull<bindings::nf_flowtable>,
    #[pin]
    table: Table,
    created: AtomicU64,
    removed: AtomicU64,
    /// Fast-path counters of removed flows.
    retired_packets: AtomicU64,
    retired_bytes: AtomicU64,
}

// SAFETY: `nf` is only used through `NfFlowtable`, whose methods are safe from any context; the
// rest is atomics and the internally synchronised table.
unsafe impl Send for FlowTable {}
// SAFETY: As above.
unsafe impl Sync for FlowTable {}

impl FlowTable {
    /// Creates rflow's state for a new flowtable (`nf_flow_table_init()`).
    pub(crate) fn init(nf: &NfFlowtable) -> Result {
        let ft = KBox::pin_init(
            try_pin_init!(FlowTable {
                nf: NonNull::from(nf).cast(),
                table <- Table::new(),
                created: AtomicU64::new(0),
                removed: AtomicU64::new(0),
                retired_packets: AtomicU64::new(0),
                retired_bytes: AtomicU64::new(0),
            }? Error),
            GFP_KERNEL,
        )?;
        // SAFETY: The state is never moved out of its allocation: only pointers to it are used
        // until `free` rebuilds the box to drop it.
        let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(ft) });
        if let Err(e) = Registry::get().add(raw) {
            // SAFETY: `raw` came from `KBox::into_raw` just above and was published nowhere.
            drop(unsafe { KBox::from_raw(raw) });
            return Err(e);
        }
        // SAFETY: nf_tables calls `init` before any hook or expression can see the flowtable.
        unsafe { nf.set_private(raw.cast()) };
        // SAFETY: The work item is idle (the flowtable is new) and lives until `free`.
        let gc = unsafe { DelayedWork::init(nf.gc_work(), gc_work) };
        gc.queue(time::HZ);
        Ok(())
    }

    /// Returns rflow's state of a flowtable.
    ///
    /// # Safety
    ///
    /// `nf` must be a flowtable of one of rflow's types, between its `init` and `free`.
    #[inline(always)]
    pub(crate) unsafe fn from_nf(nf: &NfFlowtable) -> &FlowTable {
        // SAFETY: `init` stored a valid `FlowTable` that lives until `free` (function contract).
        unsafe { &*nf.private().cast::<FlowTable>() }
    }

    /// Destroys rflow's state of a flowtable, tearing down every flow (`nf_flow_table_free()`).
    ///
    /// # Safety
    ///
    /// `nf` must be a flowtable of one of rflow's types whose `init` succeeded, with no hook or
    /// expression able to reach it any more (nf_tables guarantees that before `free`).
    pub(crate) unsafe fn free(nf: &NfFlowtable) {
        let raw = nf.private().cast::<FlowTable>();
        if raw.is_null() {
            return;
        }
        Registry::get().remove(raw);
        // SAFETY: Valid until dropped below (function contract).
        let ft = unsafe { &*raw };
        ft.gc().cancel_sync();
        ft.table.for_each(teardown);
        ft.gc_run();
        // SAFETY: Nothing can reach the flowtable any more (function contract).
        unsafe { nf.set_private(ptr::null_mut()) };
        // SAFETY: `raw` came from `KBox::into_raw` in `init`; all references are gone.
        drop(unsafe { KBox::from_raw(raw) });
    }

    /// Returns the C flowtable.
    #[inline(always)]
    pub(crate) fn nf(&self) -> &NfFlowtable {
        // SAFETY: Valid for the whole life of `self` (type invariant).
        unsafe { NfFlowtable::from_raw(self.nf.as_ptr()) }
    }

    fn gc(&self) -> DelayedWork {
        // SAFETY: Initialised in `init`, alive as long as the flowtable (type invariant).
        unsafe { DelayedWork::from_raw(self.nf().gc_work()) }
    }

    /// Looks up the flow direction a packet with key `key` belongs to (`flow_offload_lookup()`).
    ///
    /// Flows being torn down, or whose conntrack entry is dying, are not returned.
    #[inline(always)]
    pub(crate) fn lookup<'a>(
        &'a self,
        rcu: &'a ReadSection,
        key: &crate::pure::tuple::FlowKey,
    ) -> Option<&'a FlowDir> {
        let d = self.table.lookup(rcu, key)?;
        let flow = d.flow();
        if flow.is_teardown() || flow.ct().is_dying() {
            return None;
        }
        Some(d)
    }

    /// Returns the hash secret new flows must be built with.
    pub(crate) fn secret(&self) -> &crate::pure::hash::SipKey {
        self.table.secret()
    }

    /// Adds a flow to the table (`flow_offload_add()`); fails if one of its keys is taken.
    pub(crate) fn add(&self, rcu: &ReadSection, flow: KBox<Flow>) -> Result {
        let raw = KBox::into_raw(flow);
        // SAFETY: `raw` is a fresh allocation, linked nowhere; once linked it stays allocated
        // until `remove` frees it after a grace period.
        if unsafe { self.table.insert(&*raw) }.is_err() {
            // SAFETY: Not linked, so never visible to anyone else: free it at once.
            drop(unsafe { KBox::from_raw(raw) });
            return Err(EEXIST);
        }
        self.created.fetch_add(1, Ordering::Relaxed);
        TOTALS.created.fetch_add(1, Ordering::Relaxed);
        // SAFETY: Linked above; only the GC frees it, and not before this read-side section
        // (the caller's) ends.
        let flow = unsafe { &*raw };
        // Conntrack no longer sees the packets: keep the entry alive while the flow lives.
        flow.ct().refresh(time::CT_DAY);
        if self.table.overloaded(rcu) {
            self.gc().kick(0);
        }
        Ok(())
    }

    /// Unlinks a flow and frees it after a grace period (`flow_offload_del()`).
    fn remove(&self, flow: &Flow) {
        self.table.remove(flow);
        self.removed.fetch_add(1, Ordering::Relaxed);
        for d in flow.dirs() {
            let (packets, bytes) = (
                d.packets.load(Ordering::Relaxed),
                d.bytes.load(Ordering::Relaxed),
            );
            self.retired_packets.fetch_add(packets, Ordering::Relaxed);
            self.retired_bytes.fetch_add(bytes, Ordering::Relaxed);
            let i = xmit_index(&d.route.xmit);
            TOTALS.packets[i].fetch_add(packets, Ordering::Relaxed);
            TOTALS.bytes[i].fetch_add(bytes, Ordering::Relaxed);
        }
        // SAFETY: Every flow in the table came from `KBox::into_raw` in `add`; it was just
        // unlinked, so new readers cannot find it, and the table is the only owner.
        unsafe { Flow::free_rcu(ptr::from_ref(flow).cast_mut()) };
    }

    /// One GC pass (`nf_flow_table_gc_run()`), then a resize if the load calls for one.
    fn gc_run(&self) {
        self.table.for_each(|flow| self.gc_step(flow));
        self.table.resize();
    }

    /// GC of one flow (`nf_flow_offload_gc_step()` without hardware offload).
    fn gc_step(&self, flow: &Flow) {
        let mut torn_down = flow.is_teardown();
        if flow.expires_in() <= 0 || flow.ct().is_dying() {
            teardown(flow);
            torn_down = true;
        } else if !torn_down {
            extend_ct_timeout(flow.ct());
        }
        if torn_down {
            self.remove(flow);
        }
    }

    /// Calls `f` on every flow.
    pub(crate) fn for_each_flow(&self, f: impl FnMut(&Flow)) {
        self.table.for_each(f);
    }

    /// Returns the table's counters.
    pub(crate) fn stats(&self) -> Stats {
        let mut s = Stats {
            flows: self.table.flows() as u64,
            created: self.created.load(Ordering::Relaxed),
            removed: self.removed.load(Ordering::Relaxed),
            packets: self.retired_packets.load(Ordering::Relaxed),
            bytes: self.retired_bytes.load(Ordering::Relaxed),
            buckets: self.table.buckets() as u64,
        };
        self.table.for_each(|flow| {
            for d in flow.dirs() {
                s.packets = s.packets.wrapping_add(d.packets.load(Ordering::Relaxed));
                s.bytes = s.bytes.wrapping_add(d.bytes.load(Ordering::Relaxed));
            }
        });
        s
    }
}

/// The GC work function, run every second on each flowtable (`nf_flow_offload_work_gc()`).
///
/// # Safety
///
/// Only called by the workqueue for the `gc_work` that [`FlowTable::init`] set up.
unsafe extern "C" fn gc_work(work: *mut bindings::work_struct) {
    // SAFETY: Only `FlowTable::init` sets this function on the `gc_work` of one of rflow's
    // flowtables, and `free` cancels it before the flowtable goes.
    let nf = unsafe { NfFlowtable::from_gc_work(work) };
    // SAFETY: As above: the flowtable is between `init` and `free`.
    let ft = unsafe { FlowTable::from_nf(nf) };
    ft.gc_run();
    ft.gc().queue(time::HZ);
}

/// Stops fast-path forwarding of a flow and gives the connection back to conntrack
/// (`flow_offload_teardown()`). The GC removes the flow on its next pass.
pub(crate) fn teardown(flow: &Flow) {
    flow.ct().clear_offload();
    if !flow.set_teardown() {
        fixup_ct(flow);
    }
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
    let (timeout, offload, closing) = match ct.l4proto() {
        IPPROTO_TCP if flow.is_closing() => {
            ct.reset_tcp_window(Some(bindings::TCP_CONNTRACK_CLOSE as u8));
            let close = net.tcp_timeout(bindings::TCP_CONNTRACK_CLOSE as u8);
            (close, 0, true)
        }
        IPPROTO_TCP => {
            ct.reset_tcp_window(None);
            (
                net.tcp_timeout(ct.tcp_state()),
                net.tcp_offload_timeout(),
                false,
            )
        }
        IPPROTO_UDP => (
            net.udp_timeout(ct.test(Status::SeenReply)),
            net.udp_offload_timeout(),
            false,
        ),
        _ => return,
    };
    let mut timeout = i64::from(timeout);
    if expired {
        timeout -= i64::from(offload);
    }
    let timeout = timeout.max(0);
    if closing || i64::from(time::until(ct.timeout().load(Ordering::Relaxed))) > timeout {
        // `timeout` is within the u32 it came from.
        ct.refresh(timeout as u32);
    }
}

/// Conntrack timeout of an offloaded TCP connection in state `state`, in jiffies
/// (`nf_flow_table_tcp_timeout()`); 0 leaves the timeout alone.
fn offloaded_tcp_timeout(state: u8) -> u32 {
    match u32::from(state) {
        bindings::TCP_CONNTRACK_ESTABLISHED => time::CT_DAY,
        bindings::TCP_CONNTRACK_FIN_WAIT
        | bindings::TCP_CONNTRACK_CLOSE_WAIT
        | bindings::TCP_CONNTRACK_LAST_ACK
        | bindings::TCP_CONNTRACK_TIME_WAIT => 5 * 60 * time::HZ,
        _ => 0,
    }
}

/// Keeps the conntrack entry of a live flow from expiring (`nf_flow_table_extend_ct_timeout()`):
/// conntrack sees no packets of it, so its timeout would run out while the flow is busy.
fn extend_ct_timeout(ct: &Conn) {
    let min: i32 = 5 * 60 * time::HZ as i32;
    let stamp = ct.timeout();
    let old = stamp.load(Ordering::Relaxed);
    let expires = time::until(old);
    if expires <= 0 || expires >= min {
        return;
    }
    // Without a reference the entry could be freed and reused under us.
    let Some(ct) = ct.try_get() else {
        return;
    };
    if ct.test(Status::Confirmed) && ct.test(Status::Offload) {
        let extra = match ct.l4proto() {
            IPPROTO_TCP => offloaded_tcp_timeout(ct.tcp_state()),
            // UDP, and GRE, which 6.12.117's C code forgets (it warns and sets one jiffy).
            _ => time::CT_DAY,
        };
        if extra != 0 {
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

/// Tears down the flows that enter or leave through `dev` and flushes them out
/// (`nf_flow_table_cleanup()`), when the device goes down or away.
pub(crate) fn cleanup_device(dev: &NetDevice) {
    let ifindex = dev.ifindex() as u32;
    Registry::get().for_each(|ft| {
        ft.table.for_each(|flow| {
            let uses_dev = flow.dirs().iter().any(|d| d.tuple.iif == ifindex);
            if uses_dev && net::same(flow.ct().net(), dev.net()) {
                teardown(flow);
            }
        });
        ft.gc().flush();
    });
}

/// A flow table pointer held in the registry.
struct TablePtr(NonNull<FlowTable>);

// SAFETY: The registry only hands out `&FlowTable`, which is `Sync`.
unsafe impl Send for TablePtr {}

/// All flow tables, for the netdev notifier and procfs (`flowtables` in the C core).
///
/// # Invariants
///
/// Every pointer in `tables` is a live [`FlowTable`]: `FlowTable::init` adds it and
/// `FlowTable::free` removes it before destroying the table.
#[pin_data(PinnedDrop)]
pub(crate) struct Registry {
    #[pin]
    tables: Mutex<KVec<TablePtr>>,
}

/// The registry, published by [`Registry::publish`] while the module is loaded.
static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(ptr::null_mut());

impl Registry {
    /// Creates the registry and makes it the one [`Registry::get`] returns until dropped.
    pub(crate) fn publish() -> Result<Pin<KBox<Registry>>> {
        let reg = KBox::pin_init(
            pin_init!(Registry {
                tables <- new_mutex!(KVec::new()),
            }),
            GFP_KERNEL,
        )?;
        REGISTRY.store(ptr::from_ref(&*reg).cast_mut(), Ordering::Release);
        Ok(reg)
    }

    /// Returns the registry.
    fn get() -> &'static Registry {
        // SAFETY: Published before any flowtable type is registered and unpublished after they
        // are all unregistered (module init and exit), so every caller (a type callback, the
        // notifier, procfs) runs while it is published.
        unsafe { &*REGISTRY.load(Ordering::Acquire) }
    }

    fn add(&self, ft: *mut FlowTable) -> Result {
        let ft = NonNull::new(ft).ok_or(EINVAL)?;
        self.tables.lock().push(TablePtr(ft), GFP_KERNEL)?;
        Ok(())
    }

    fn remove(&self, ft: *mut FlowTable) {
        let mut tables = self.tables.lock();
        if let Some(i) = tables.iter().position(|t| t.0.as_ptr() == ft) {
            let last = tables.len() - 1;
            tables.as_mut_slice().swap(i, last);
            // SAFETY: `last` is in bounds, and the element there is now the one removed.
            unsafe { tables.set_len(last) };
        }
    }

    /// Calls `f` on every flow table, with the registry locked.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&FlowTable)) {
        let tables = self.tables.lock();
        for t in tables.iter() {
            // SAFETY: Registered tables are live while in the registry (type invariant), and
            // removal waits for the lock we hold.
            f(unsafe { t.0.as_ref() });
        }
    }

    /// Calls `f` on every flow table (see [`Registry::for_each`]).
    pub(crate) fn each(f: impl FnMut(&FlowTable)) {
        Self::get().for_each(f);
    }
}

#[pinned_drop]
impl PinnedDrop for Registry {
    fn drop(self: Pin<&mut Self>) {
        REGISTRY.store(ptr::null_mut(), Ordering::Release);
    }
}
