// SPDX-License-Identifier: GPL-2.0

//! The generic netlink family `rflow` (include/rflow_genl.c): registration, the requests it
//! hands to rflow ([`Handlers`]), and the messages rflow puts into replies, dumps and events
//! ([`FlowMsg`]).

use super::{conntrack::Conn, net::Net};
use crate::bindings;
use crate::pure::ufid::{Ufid, UFID_LEN};
use core::{ffi::CStr, marker::PhantomData};
use kernel::{error::to_result, prelude::*};

/// A flow's statistics, all a terse message holds: its UFID, the packets and bytes forwarded
/// in software and in hardware per direction, and the jiffies since its last refresh.
pub(crate) struct Counters(bindings::rflow_nl_counters);

/// Packets and bytes of the original and reply directions.
pub(crate) type DirCounters = [(u64, u64); 2];

impl Counters {
    /// The statistics of flow `ufid`: software and hardware counters, idle jiffies.
    pub(crate) fn new(ufid: &Ufid, sw: DirCounters, hw: DirCounters, idle: u32) -> Self {
        Counters(bindings::rflow_nl_counters {
            ufid: ufid.0,
            sw: stats(sw),
            hw: stats(hw),
            idle_jiffies: idle,
        })
    }
}

/// A flow as the family describes it: plain values, plus the flowtable's names and the
/// conntrack entry, borrowed for `'a` (the message is built before they can go away).
///
/// # Invariants
///
/// `raw.ft_table` and `raw.ft_name` point to NUL-terminated strings and `raw.ct` to a
/// conntrack entry, all valid for `'a`; only [`FlowMsg::new`] sets them.
pub(crate) struct FlowMsg<'a> {
    raw: bindings::rflow_nl_flow,
    _borrows: PhantomData<&'a Conn>,
}

impl<'a> FlowMsg<'a> {
    /// Starts the description of the flow of `counters`, of flowtable `table` `name` (family
    /// `family`), whose connection is `ct`.
    pub(crate) fn new(counters: Counters, names: (u8, &'a CStr, &'a CStr), ct: &'a Conn) -> Self {
        let (family, table, name) = names;
        // INVARIANT: the pointers come from borrows of `'a`.
        let raw = bindings::rflow_nl_flow {
            counters: counters.0,
            ft_family: family,
            ft_table: table.as_ptr().cast(),
            ft_name: name.as_ptr().cast(),
            ct: ct.as_ptr(),
            ..Default::default()
        };
        FlowMsg {
            raw,
            _borrows: PhantomData,
        }
    }

    /// Returns the plain values to fill in (the borrowed pointers stay out of reach).
    pub(crate) fn values(&mut self) -> Values<'_> {
        Values(&mut self.raw)
    }
}

/// The plain fields of a [`FlowMsg`].
pub(crate) struct Values<'m>(&'m mut bindings::rflow_nl_flow);

impl Values<'_> {
    /// The direction `slot` (0: original, 1: reply).
    pub(crate) fn dir(&mut self, slot: usize) -> &mut bindings::rflow_nl_dir {
        &mut self.0.dir[slot]
    }

    /// Sets the `RFLOW_F_*` flags, the `rflow_hw_state`, the `rflow_reason` and the jiffies
    /// until expiry (negative once expired).
    pub(crate) fn set_state(&mut self, flags: u32, hw_state: u8, reason: u8, expires: i32) {
        self.0.flags = flags;
        self.0.hw_state = hw_state;
        self.0.reason = reason;
        self.0.expires_jiffies = expires;
    }
}

/// A flowtable's counters as `RFLOW_CMD_STATS` reports them, borrowing its names for `'a`.
///
/// # Invariants
///
/// `raw.table` and `raw.name` point to NUL-terminated strings valid for `'a`; only
/// [`FtStatsMsg::new`] sets them.
pub(crate) struct FtStatsMsg<'a> {
    raw: bindings::rflow_nl_ft_stats,
    _borrows: PhantomData<&'a CStr>,
}

/// Flows removed from a flowtable, by `enum rflow_reason`.
pub(crate) type RemovedByReason = [u64; bindings::__RFLOW_REASON_MAX as usize];

/// A flowtable's counters, plain values.
pub(crate) struct FtCounters {
    /// Flows in it now.
    pub(crate) flows: u64,
    /// Flows ever added.
    pub(crate) created: u64,
    /// Flows removed, by reason.
    pub(crate) removed: RemovedByReason,
    /// What it forwarded in software since it was created, per direction.
    pub(crate) sw: DirCounters,
    /// And in hardware.
    pub(crate) hw: DirCounters,
    /// Flows a driver holds now.
    pub(crate) hw_flows: u64,
    /// Size of its hash table.
    pub(crate) buckets: u32,
    /// Times the table grew.
    pub(crate) grown: u64,
    /// Times it shrank.
    pub(crate) shrunk: u64,
    /// Resizes that could not allocate.
    pub(crate) resize_failed: u64,
}

impl<'a> FtStatsMsg<'a> {
    /// The counters `c` of the flowtable of `names` (family, table, name).
    pub(crate) fn new(names: (u8, &'a CStr, &'a CStr), c: &FtCounters) -> Self {
        let (family, table, name) = names;
        // INVARIANT: the names are borrowed for `'a`.
        FtStatsMsg {
            raw: bindings::rflow_nl_ft_stats {
                family,
                table: table.as_ptr().cast(),
                name: name.as_ptr().cast(),
                flows: c.flows,
                created: c.created,
                removed: c.removed,
                sw: stats(c.sw),
                hw: stats(c.hw),
                hw_flows: c.hw_flows,
                buckets: c.buckets,
                grown: c.grown,
                shrunk: c.shrunk,
                resize_failed: c.resize_failed,
            },
            _borrows: PhantomData,
        }
    }
}

/// `struct rflow_stats` of per-direction (packets, bytes).
fn stats(c: DirCounters) -> bindings::rflow_stats {
    bindings::rflow_stats {
        orig_packets: c[0].0,
        orig_bytes: c[0].1,
        reply_packets: c[1].0,
        reply_bytes: c[1].1,
    }
}

/// A message being filled: a GET or DEL reply, or a part of a dump.
pub(crate) struct Reply<'a>(&'a mut bindings::rflow_nl_reply);

impl Reply<'_> {
    /// Dumps: sets the generation of what is dumped. When it differs from the previous part's,
    /// the kernel marks the next message `NLM_F_DUMP_INTR`.
    pub(crate) fn set_generation(&mut self, generation: u32) {
        // SAFETY: `self.0` is the reply C handed to this request.
        unsafe { bindings::rflow_nl_reply_set_generation(self.0, generation) };
    }

    /// Returns whether the request asked for terse messages (UFID and statistics only): the
    /// rest of a [`FlowMsg`] need not be filled in.
    pub(crate) fn terse(&self) -> bool {
        self.0.ufid_flags & bindings::RFLOW_UFID_F_TERSE == bindings::RFLOW_UFID_F_TERSE
    }

    /// Appends a message about `flow`; `EMSGSIZE` when it is full (nothing of it is left).
    pub(crate) fn put(&mut self, flow: &FlowMsg<'_>) -> Result {
        // SAFETY: `self.0` is the reply C handed to this request, whose skb is ours for the
        // call; the message's pointers are valid for its borrows (`FlowMsg` invariant).
        let err = unsafe { bindings::rflow_nl_put_flow(self.0, &flow.raw) };
        to_result(err)
    }

    /// Appends a flowtable's counters (`RFLOW_CMD_STATS`); `EMSGSIZE` as [`Self::put`].
    pub(crate) fn put_ft_stats(&mut self, msg: &FtStatsMsg<'_>) -> Result {
        // SAFETY: `self.0` is the reply C handed to this request, whose skb is ours for the
        // call; the names are valid for the message's borrows (`FtStatsMsg` invariant).
        let err = unsafe { bindings::rflow_nl_put_ft_stats(self.0, &msg.raw) };
        to_result(err)
    }

    /// Appends a terse message (see [`Self::terse`]) about a flow; `EMSGSIZE` as [`Self::put`].
    pub(crate) fn put_terse(&mut self, counters: &Counters) -> Result {
        // SAFETY: `self.0` is the reply C handed to this request, whose skb is ours for the
        // call; `counters` holds plain values only.
        let err = unsafe { bindings::rflow_nl_put_terse(self.0, &counters.0) };
        to_result(err)
    }
}

/// The flowtable a request names; unnamed fields match any.
pub(crate) struct FlowtableFilter<'a>(&'a bindings::rflow_nl_ft_filter);

impl FlowtableFilter<'_> {
    /// Returns whether the request named no flowtable (all match).
    pub(crate) fn is_any(&self) -> bool {
        self.0.family == 0 && !self.0.has_table && !self.0.has_name
    }

    /// Returns whether the flowtable of `names` (family, table, name) matches.
    pub(crate) fn matches(&self, names: (u8, &CStr, &CStr)) -> bool {
        let (family, table, name) = names;
        let f = self.0;
        // C filled the arrays from NUL-terminated attributes with `nla_strscpy()`.
        fn text(a: &[u8]) -> Option<&CStr> {
            CStr::from_bytes_until_nul(a).ok()
        }
        (f.family == 0 || f.family == family)
            && (!f.has_table || text(&f.table) == Some(table))
            && (!f.has_name || text(&f.name) == Some(name))
    }
}

/// What the family asks of rflow. Every request runs in process context.
pub(crate) trait Handlers: 'static {
    /// Where a dump stands between its parts.
    type Cursor: Send;

    /// Describes flow `ufid` of `net` into `out`; `ENOENT` if there is none.
    fn get(net: &Net, ufid: &Ufid, out: &mut Reply<'_>) -> Result;
    /// Describes flow `ufid` into `out` and tears it down; `ENOENT` if there is no live one.
    fn del(net: &Net, ufid: &Ufid, out: &mut Reply<'_>) -> Result;
    /// Tears down the flows of the flowtables `ft` matches; returns how many (`ENOENT` if no
    /// flowtable matches).
    fn flush(net: &Net, ft: &FlowtableFilter<'_>) -> Result<u64>;
    /// Starts a dump.
    fn dump_start() -> Result<KBox<Self::Cursor>>;
    /// Puts the flows after `cursor` of the flowtables `ft` matches into `out` until it is full
    /// or none is left (then `out` stays empty), moving `cursor` past them, with the generation
    /// of what it dumps set first ([`Reply::set_generation`]). `ENOENT` if no flowtable
    /// matches `ft`.
    fn dump(
        net: &Net,
        cursor: &mut Self::Cursor,
        ft: &FlowtableFilter<'_>,
        out: &mut Reply<'_>,
    ) -> Result;
    /// Puts the counters of the flowtables `ft` matches, from the newest one older than
    /// flowtable id `before` (all for `None`), into `out` until it is full, setting `before` to
    /// the last one put. `ENOENT` if no flowtable matches `ft`.
    fn stats(
        net: &Net,
        before: &mut Option<u64>,
        ft: &FlowtableFilter<'_>,
        out: &mut Reply<'_>,
    ) -> Result;
}

struct Adapter<H>(PhantomData<H>);

impl<H: Handlers> Adapter<H> {
    const VTABLE: bindings::rflow_genl_handlers = bindings::rflow_genl_handlers {
        get: Some(Self::get),
        del: Some(Self::del),
        flush: Some(Self::flush),
        dump_start: Some(Self::dump_start),
        dump: Some(Self::dump),
        dump_done: Some(Self::dump_done),
        stats: Some(Self::stats),
    };

    /// # Safety
    ///
    /// `net` is the requester's namespace, `ufid` points to [`UFID_LEN`] bytes (the policy
    /// checked the length) and `r` to the request's reply; all valid for the call.
    unsafe extern "C" fn get(
        net: *mut bindings::net,
        ufid: *const u8,
        r: *mut bindings::rflow_nl_reply,
    ) -> kernel::ffi::c_int {
        // SAFETY: The same contract as this function's.
        unsafe { by_ufid(net, ufid, r, H::get) }
    }

    /// # Safety
    ///
    /// As for [`Self::get`].
    unsafe extern "C" fn del(
        net: *mut bindings::net,
        ufid: *const u8,
        r: *mut bindings::rflow_nl_reply,
    ) -> kernel::ffi::c_int {
        // SAFETY: The same contract as this function's.
        unsafe { by_ufid(net, ufid, r, H::del) }
    }

    /// # Safety
    ///
    /// `net` is the requester's namespace and `ft` a filter C parsed; both valid for the call.
    unsafe extern "C" fn flush(
        net: *mut bindings::net,
        ft: *const bindings::rflow_nl_ft_filter,
    ) -> kernel::ffi::c_long {
        // SAFETY: See the function's contract.
        let (net, ft) = unsafe { (Net::from_raw(net), &*ft) };
        match H::flush(net, &FlowtableFilter(ft)) {
            Ok(n) => n.min(kernel::ffi::c_long::MAX as u64) as kernel::ffi::c_long,
            Err(e) => e.to_errno() as kernel::ffi::c_long,
        }
    }

    extern "C" fn dump_start() -> *mut kernel::ffi::c_void {
        match H::dump_start() {
            Ok(c) => KBox::into_raw(c).cast(),
            Err(_) => core::ptr::null_mut(),
        }
    }

    /// # Safety
    ///
    /// `cursor` came from [`Self::dump_start`] and is not yet given to [`Self::dump_done`];
    /// C calls the parts of one dump one at a time. The other pointers are valid for the call.
    unsafe extern "C" fn dump(
        net: *mut bindings::net,
        cursor: *mut kernel::ffi::c_void,
        ft: *const bindings::rflow_nl_ft_filter,
        r: *mut bindings::rflow_nl_reply,
    ) -> kernel::ffi::c_int {
        // SAFETY: See the function's contract: the cursor is an `H::Cursor` only this call uses.
        let (net, cursor, ft, r) = unsafe {
            (
                Net::from_raw(net),
                &mut *cursor.cast::<H::Cursor>(),
                &*ft,
                &mut *r,
            )
        };
        errno(H::dump(net, cursor, &FlowtableFilter(ft), &mut Reply(r)))
    }

    /// # Safety
    ///
    /// `cursor` came from [`Self::dump_start`] and is given back once.
    unsafe extern "C" fn dump_done(cursor: *mut kernel::ffi::c_void) {
        // SAFETY: Made by `KBox::into_raw` in `dump_start`, freed once (function contract).
        drop(unsafe { KBox::from_raw(cursor.cast::<H::Cursor>()) });
    }

    /// # Safety
    ///
    /// `net` is the requester's namespace, `before` the dump's position (0 before the first
    /// part; flowtable ids start at 1), `ft` a filter C parsed and `r` the part's reply; all
    /// valid for the call, and `before` and `r` used by nothing else meanwhile.
    unsafe extern "C" fn stats(
        net: *mut bindings::net,
        before: *mut u64,
        ft: *const bindings::rflow_nl_ft_filter,
        r: *mut bindings::rflow_nl_reply,
    ) -> kernel::ffi::c_int {
        // SAFETY: See the function's contract.
        let (net, before, ft, r) = unsafe { (Net::from_raw(net), &mut *before, &*ft, &mut *r) };
        let mut pos = (*before != 0).then_some(*before);
        let res = H::stats(net, &mut pos, &FlowtableFilter(ft), &mut Reply(r));
        *before = pos.unwrap_or(0);
        errno(res)
    }
}

/// Answers a request about one flow (GET or DEL) with `handler`.
///
/// # Safety
///
/// `net` is the requester's namespace, `ufid` points to [`UFID_LEN`] bytes and `r` to the
/// request's reply; all valid for the call.
unsafe fn by_ufid(
    net: *mut bindings::net,
    ufid: *const u8,
    r: *mut bindings::rflow_nl_reply,
    handler: fn(&Net, &Ufid, &mut Reply<'_>) -> Result,
) -> kernel::ffi::c_int {
    // SAFETY: See the function's contract: `net` and `r` are valid and `r` is ours for the
    // call, `ufid` has `UFID_LEN` bytes.
    let (net, ufid, r) = unsafe { (Net::from_raw(net), read_ufid(ufid), &mut *r) };
    errno(handler(net, &ufid, &mut Reply(r)))
}

/// # Safety
///
/// `p` points to [`UFID_LEN`] readable bytes.
unsafe fn read_ufid(p: *const u8) -> Ufid {
    let mut b = [0u8; UFID_LEN];
    // SAFETY: `p` has `UFID_LEN` readable bytes (function contract); `b` is a local.
    unsafe { core::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), UFID_LEN) };
    Ufid(b)
}

fn errno(r: Result) -> kernel::ffi::c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The registered family; unregistered when dropped (which waits for running requests).
pub(crate) struct Family(());

impl Family {
    /// Registers the family with `H` answering its requests.
    pub(crate) fn register<H: Handlers>() -> Result<Family> {
        // SAFETY: The handlers are code and a constant of this module, valid until `drop`
        // unregisters the family (a dump in progress holds the module).
        let err = unsafe { bindings::rflow_genl_register(&Adapter::<H>::VTABLE) };
        if err != 0 {
            return Err(Error::from_errno(err));
        }
        Ok(Family(()))
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        // SAFETY: Registered in `register`.
        unsafe { bindings::rflow_genl_unregister() };
    }
}

/// Returns whether anyone in `net` listens to flow events (events cost nothing otherwise).
pub(crate) fn listening(net: &Net) -> bool {
    // SAFETY: `net` is alive (borrowed).
    unsafe { bindings::rflow_nl_listening(net.as_ptr()) }
}

/// Sends event `cmd` (`RFLOW_CMD_NEW`, `_DEL` or `_HW`) about `flow` to `net`'s listeners;
/// any context. A message that cannot be allocated tells them they lost one (`ENOBUFS`).
pub(crate) fn event(net: &Net, cmd: u8, flow: &FlowMsg<'_>) {
    // SAFETY: `net` is alive; the message's pointers are valid for its borrows.
    unsafe { bindings::rflow_nl_event(net.as_ptr(), cmd, &flow.raw) };
}
