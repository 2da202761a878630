// SPDX-License-Identifier: GPL-2.0

//! rflow_sim: a simulated switch ASIC that offloads flows through `TC_SETUP_FT` and really
//! forwards them, so that rflow's hardware offload can be tested end to end.
//!
//! The netdevs, the flow block binding and the reading of `flow_rule`s are C
//! (`include/rflow_sim.c`, Rust-for-Linux 6.12 has no netdev abstraction). This crate is the
//! ASIC: its exact-match flow table, filled by the driver's REPLACE/DESTROY and read by STATS,
//! and the per-frame lookup and rewrite of [`pure::sim_engine`] (host-tested and fuzzed).
//!
//! The table is an open-addressing array of entry pointers: lookups run under RCU in the data
//! path (the wire end's transmit, BH off); REPLACE and DESTROY run under the glue's mutex, so
//! there is one writer at a time. A removed entry's slot becomes a tombstone and the entry is
//! freed after a grace period.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::{error::to_result, ffi::c_int, prelude::*, types::Opaque};

mod bindings;

mod pure;

use pure::offload_rule::{Action, MangleHeader, Match, VlanMatch};
use pure::sim_engine::{self, Entry, HwKey, Miss, Unsupported};

module! {
    type: RflowSim,
    name: "rflow_sim",
    author: "rflow developers",
    description: "simulated switch ASIC with flowtable hardware offload (TC_SETUP_FT)",
    license: "GPL",
}

/// Slots of the flow table; at most half are used (`max_entries` is capped at that).
const SLOTS: usize = 16384;
const ENTRIES_MAX: u32 = (SLOTS / 2) as u32;
/// A slot whose entry was removed: lookups go past it, inserts may reuse it.
const TOMBSTONE: usize = 1;

/// A flow entry of the ASIC.
///
/// # Invariants
///
/// Allocated by [`KBox`]; once published in [`TABLE`], owned by the table and freed only by
/// [`free_entry`] a grace period after its slot was cleared.
#[repr(C)]
struct SimEntry {
    /// First: the RCU callback finds the entry from it.
    rcu: Opaque<bindings::callback_head>,
    port: u32,
    cookie: usize,
    ufid: Option<[u8; 16]>,
    entry: Entry,
    egress_port: u32,
    packets: AtomicU64,
    bytes: AtomicU64,
    /// Jiffies of the last hit, 0 for none.
    lastused: AtomicU64,
    /// What STATS reported so far (it reports deltas). Control path only.
    reported_packets: AtomicU64,
    reported_bytes: AtomicU64,
}

/// The flow table.
///
/// # Invariants
///
/// Each slot is null (never used since the last flush), [`TOMBSTONE`], or a published
/// [`SimEntry`]. Slots are written only by the control path, one writer at a time (the glue's
/// mutex); `live` counts the published entries. `by_cookie` indexes every published entry by
/// its port and cookie (the slot's index plus one; 0 never used, [`COOKIE_TOMBSTONE`] removed),
/// so that REPLACE, DESTROY and STATS find their entry without walking the table; only the
/// writer uses it.
struct Table {
    slots: [AtomicPtr<SimEntry>; SLOTS],
    live: AtomicU32,
    by_cookie: [AtomicU32; SLOTS],
}

const COOKIE_TOMBSTONE: u32 = u32::MAX;

static TABLE: Table = Table {
    slots: [const { AtomicPtr::new(core::ptr::null_mut()) }; SLOTS],
    live: AtomicU32::new(0),
    by_cookie: [const { AtomicU32::new(0) }; SLOTS],
};

/// Where the probe for a (port, cookie) starts in the cookie index.
fn cookie_hash(port: u32, cookie: usize) -> usize {
    let h = (cookie as u64 ^ (u64::from(port) << 56)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 40) as usize & (SLOTS - 1)
}

/// FNV-1a over the key's fields: the hardware's hash.
fn hash(k: &HwKey) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&k.ingress.to_ne_bytes());
    eat(&k.vlans[0].to_ne_bytes());
    eat(&k.vlans[1].to_ne_bytes());
    eat(&k.n_proto.to_ne_bytes());
    eat(&[k.ip_proto]);
    eat(&k.src);
    eat(&k.dst);
    eat(&k.ports.0.to_ne_bytes());
    eat(&k.ports.1.to_ne_bytes());
    (h as usize) & (SLOTS - 1)
}

fn is_entry(p: *mut SimEntry) -> bool {
    !p.is_null() && p as usize != TOMBSTONE
}

impl Table {
    /// Looks `key` up. The caller is in an RCU read-side section (the data path) or is the
    /// writer; the entry stays valid until the section ends or the writer removes it.
    fn find(&self, key: &HwKey) -> Option<&SimEntry> {
        let mut i = hash(key);
        for _ in 0..SLOTS {
            let p = self.slots[i].load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            if is_entry(p) {
                // SAFETY: A published entry is freed only a grace period after its slot is
                // cleared (type invariant), and the caller holds RCU or is the only writer.
                let e = unsafe { &*p };
                if e.entry.key == *key {
                    return Some(e);
                }
            }
            i = (i + 1) & (SLOTS - 1);
        }
        None
    }

    /// Calls `f` on each entry with its slot. Writer only.
    fn for_each(&self, mut f: impl FnMut(usize, &SimEntry)) {
        for (i, slot) in self.slots.iter().enumerate() {
            let p = slot.load(Ordering::Acquire);
            if is_entry(p) {
                // SAFETY: The writer (the caller) is the only one who frees entries.
                f(i, unsafe { &*p });
            }
        }
    }

    /// Returns the entry in slot `i`. Writer only.
    fn at(&self, i: usize) -> Option<&SimEntry> {
        let p = self.slots.get(i)?.load(Ordering::Acquire);
        // SAFETY: The writer (the caller) is the only one who frees entries.
        is_entry(p).then(|| unsafe { &*p })
    }

    /// Returns the slot of the entry of `port` with `cookie`, and its place in the cookie
    /// index. Writer only.
    fn find_cookie_at(&self, port: u32, cookie: usize) -> Option<(usize, usize)> {
        let mut j = cookie_hash(port, cookie);
        for _ in 0..SLOTS {
            match self.by_cookie[j].load(Ordering::Relaxed) {
                0 => return None,
                COOKIE_TOMBSTONE => {}
                v => {
                    let i = v as usize - 1;
                    if self
                        .at(i)
                        .is_some_and(|e| e.port == port && e.cookie == cookie)
                    {
                        return Some((i, j));
                    }
                }
            }
            j = (j + 1) & (SLOTS - 1);
        }
        None
    }

    fn find_cookie(&self, port: u32, cookie: usize) -> Option<usize> {
        self.find_cookie_at(port, cookie).map(|(i, _)| i)
    }

    /// Indexes the entry of `port` with `cookie`, published in slot `i`. Writer only; the
    /// index has as many places as the table has slots, more than entries can be live.
    fn index_cookie(&self, port: u32, cookie: usize, i: usize) {
        let mut j = cookie_hash(port, cookie);
        for _ in 0..SLOTS {
            let v = self.by_cookie[j].load(Ordering::Relaxed);
            if v == 0 || v == COOKIE_TOMBSTONE {
                self.by_cookie[j].store(i as u32 + 1, Ordering::Relaxed);
                return;
            }
            j = (j + 1) & (SLOTS - 1);
        }
    }

    /// Publishes `e`. Writer only; the caller checked capacity and duplicates.
    fn insert(&self, e: KBox<SimEntry>) -> Result {
        let mut i = hash(&e.entry.key);
        for _ in 0..SLOTS {
            let p = self.slots[i].load(Ordering::Relaxed);
            if !is_entry(p) {
                self.index_cookie(e.port, e.cookie, i);
                // INVARIANT: Published; owned by the table from here on.
                self.slots[i].store(KBox::into_raw(e), Ordering::Release);
                self.live.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            i = (i + 1) & (SLOTS - 1);
        }
        Err(ENOSPC)
    }

    /// Unpublishes the entry in slot `i` and frees it after a grace period. Writer only.
    fn remove(&self, i: usize) {
        if let Some((port, cookie)) = self.at(i).map(|e| (e.port, e.cookie)) {
            if let Some((_, j)) = self.find_cookie_at(port, cookie) {
                self.by_cookie[j].store(COOKIE_TOMBSTONE, Ordering::Relaxed);
            }
        }
        let p = self.slots[i].swap(TOMBSTONE as *mut SimEntry, Ordering::AcqRel);
        if !is_entry(p) {
            return;
        }
        self.live.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: `p` was published, so it is a live `SimEntry` whose first field is its RCU
        // head; unpublished just now, readers that found it are covered by the grace period.
        unsafe { bindings::rsim_call_rcu((*p).rcu.get(), Some(free_entry)) };
        if self.live.load(Ordering::Relaxed) == 0 {
            // Empty: tombstones can go, so misses stop at once again. A reader still walking
            // may stop early, which only ever misses an entry that no longer exists.
            for slot in &self.slots {
                slot.store(core::ptr::null_mut(), Ordering::Relaxed);
            }
            for place in &self.by_cookie {
                place.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// Frees an entry a grace period after it was unpublished.
///
/// # Safety
///
/// `head` is the `rcu` field of a [`SimEntry`] allocated by [`KBox`] and given up by
/// [`Table::remove`].
unsafe extern "C" fn free_entry(head: *mut bindings::callback_head) {
    // SAFETY: `rcu` is the first field of the `#[repr(C)]` entry (function contract), so the
    // head's address is the entry's, which came from `KBox::into_raw`.
    drop(unsafe { KBox::from_raw(head.cast::<SimEntry>()) });
}

/// `EOPNOTSUPP`, which the kernel crate of 6.12 does not name: what the engine cannot do.
fn eopnotsupp() -> Error {
    Error::from_errno(-(bindings::EOPNOTSUPP as i32))
}

/// A refused REPLACE: the error, and for `EOPNOTSUPP` why (for the glue's `last_refusal`).
type Refusal = (Error, Option<&'static core::ffi::CStr>);

fn unsupported(why: &'static core::ffi::CStr) -> Refusal {
    (eopnotsupp(), Some(why))
}

/// Converts the plain-value rule the glue read into the engine's terms.
fn rule_of(raw: &bindings::rflow_hw_rule) -> Result<(Match, KVec<Action>), Refusal> {
    let m = &raw.match_;
    let vlan = |i: usize| {
        (usize::from(m.num_vlans) > i).then(|| VlanMatch {
            vid: m.vlan_id[i],
            tpid: m.vlan_tpid[i],
        })
    };
    let matched = Match {
        ingress_ifindex: m.ingress_ifindex,
        n_proto: m.n_proto,
        ip_proto: m.ip_proto,
        src: m.src,
        dst: m.dst,
        ports: (m.has_ports != 0).then_some((m.sport, m.dport)),
        tcp_flags: m.tcp_flags != 0,
        vlan: vlan(0),
        cvlan: vlan(1),
    };
    let n = (raw.num_actions as usize).min(raw.actions.len());
    let mut actions = KVec::with_capacity(n, GFP_KERNEL).map_err(|e| (e.into(), None))?;
    for a in &raw.actions[..n] {
        let action = match a.id {
            bindings::FLOW_ACTION_MANGLE => Action::Mangle {
                header: MangleHeader::from_raw(a.htype)
                    .ok_or_else(|| unsupported(c"mangle of a header the ASIC cannot rewrite"))?,
                offset: a.offset,
                mask: a.mask,
                val: a.val,
            },
            bindings::FLOW_ACTION_CSUM => Action::Csum(a.csum_flags),
            bindings::FLOW_ACTION_VLAN_POP => Action::VlanPop,
            bindings::FLOW_ACTION_VLAN_PUSH => Action::VlanPush {
                vid: a.vlan_id,
                proto: a.vlan_proto,
            },
            bindings::FLOW_ACTION_PPPOE_PUSH => Action::PppoePush { sid: a.pppoe_sid },
            bindings::FLOW_ACTION_REDIRECT => Action::Redirect(a.ifindex),
            _ => return Err(unsupported(c"action the ASIC cannot do")),
        };
        actions
            .push(action, GFP_KERNEL)
            .map_err(|e| (e.into(), None))?;
    }
    Ok((matched, actions))
}

/// `FLOW_CLS_REPLACE`: compiles the rule into an entry of `port`.
fn replace(
    port: u32,
    cookie: usize,
    raw: &bindings::rflow_hw_rule,
    egress_port: u32,
    max_entries: u32,
) -> Result<(), Refusal> {
    if TABLE.find_cookie(port, cookie).is_some() {
        return Err((EEXIST, None));
    }
    if TABLE.live.load(Ordering::Relaxed) >= max_entries.min(ENTRIES_MAX) {
        return Err((ENOSPC, None));
    }
    let (matched, actions) = rule_of(raw)?;
    let entry = Entry::compile(&matched, &actions).map_err(|e| {
        unsupported(match e {
            Unsupported::Match => c"engine: a match it cannot do",
            Unsupported::Action => c"engine: an action or argument it cannot do",
            Unsupported::NoRedirect => c"engine: no redirect",
        })
    })?;
    if TABLE.find(&entry.key).is_some() {
        return Err((EEXIST, None));
    }
    let e = KBox::new(
        SimEntry {
            rcu: Opaque::uninit(),
            port,
            cookie,
            ufid: (raw.has_cookie != 0).then_some(raw.cookie),
            entry,
            egress_port,
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            lastused: AtomicU64::new(0),
            reported_packets: AtomicU64::new(0),
            reported_bytes: AtomicU64::new(0),
        },
        GFP_KERNEL,
    )
    .map_err(|e| (e.into(), None))?;
    TABLE.insert(e).map_err(|e| (e, None))
}

/// `FLOW_CLS_REPLACE`; on `EOPNOTSUPP`, `*why` says why.
///
/// # Safety
///
/// `rule` points to a valid rule and `why` is valid for writes, for the call. Called by the glue
/// under its mutex.
#[no_mangle]
unsafe extern "C" fn rsim_rust_replace(
    port: u32,
    cookie: usize,
    rule: *const bindings::rflow_hw_rule,
    egress_port: u32,
    max_entries: u32,
    why: *mut *const kernel::ffi::c_char,
) -> c_int {
    // SAFETY: Valid for the call (function contract).
    let raw = unsafe { &*rule };
    match replace(port, cookie, raw, egress_port, max_entries) {
        Ok(()) => 0,
        Err((e, reason)) => {
            if let Some(r) = reason {
                // SAFETY: Valid for writes (function contract); the string is static.
                unsafe { *why = r.as_ptr().cast() };
            }
            e.to_errno()
        }
    }
}

/// `FLOW_CLS_DESTROY`. Called by the glue under its mutex.
#[no_mangle]
extern "C" fn rsim_rust_destroy(port: u32, cookie: usize) -> c_int {
    match TABLE.find_cookie(port, cookie) {
        Some(i) => {
            TABLE.remove(i);
            0
        }
        None => ENOENT.to_errno(),
    }
}

/// `FLOW_CLS_STATS`: packets and bytes since the last report, and the last hit.
///
/// # Safety
///
/// The out pointers are valid for writes. Called by the glue under its mutex.
#[no_mangle]
unsafe extern "C" fn rsim_rust_stats(
    port: u32,
    cookie: usize,
    packets: *mut u64,
    bytes: *mut u64,
    lastused: *mut u64,
) -> c_int {
    let Some(e) = TABLE.find_cookie(port, cookie).and_then(|i| TABLE.at(i)) else {
        return ENOENT.to_errno();
    };
    let p = e.packets.load(Ordering::Relaxed);
    let b = e.bytes.load(Ordering::Relaxed);
    let out = (
        p.wrapping_sub(e.reported_packets.swap(p, Ordering::Relaxed)),
        b.wrapping_sub(e.reported_bytes.swap(b, Ordering::Relaxed)),
        e.lastused.load(Ordering::Relaxed),
    );
    // SAFETY: Valid for writes (function contract).
    unsafe {
        *packets = out.0;
        *bytes = out.1;
        *lastused = out.2;
    }
    0
}

/// Removes the entries of `port`, or all for `RSIM_PORTS_MAX`; returns how many. Called by the
/// glue under its mutex.
#[no_mangle]
extern "C" fn rsim_rust_flush(port: u32) -> u32 {
    let mut gone = 0;
    for i in 0..SLOTS {
        if TABLE
            .at(i)
            .is_some_and(|e| port == bindings::RSIM_PORTS_MAX || e.port == port)
        {
            TABLE.remove(i);
            gone += 1;
        }
    }
    gone
}

/// Number of entries, for the data path's shortcut and debugfs.
#[no_mangle]
extern "C" fn rsim_rust_entries() -> u32 {
    TABLE.live.load(Ordering::Relaxed)
}

fn miss_code(m: Miss) -> c_int {
    let code = match m {
        Miss::Layer2 => bindings::RSIM_MISS_L2,
        Miss::Parse(_) => bindings::RSIM_MISS_PARSE,
        Miss::TcpFlags => bindings::RSIM_MISS_TCP_FLAGS,
        Miss::NoEntry => bindings::RSIM_MISS_NO_ENTRY,
        Miss::Encap => bindings::RSIM_MISS_ENCAP,
    };
    -(code as c_int)
}

/// The ASIC's data path for a frame that entered at `port`.
///
/// # Safety
///
/// `frame` points to `len` writable bytes and `fwd` is valid for writes, for the call. Called
/// from the wire end's transmit, in an RCU read-side section.
#[no_mangle]
unsafe extern "C" fn rsim_rust_forward(
    _port: u32,
    ingress_ifindex: u32,
    frame: *mut u8,
    len: u32,
    now: u64,
    fwd: *mut bindings::rsim_fwd,
) -> c_int {
    // SAFETY: Valid and writable for the call (function contract); nothing else touches the
    // frame meanwhile (the glue made it private with `skb_ensure_writable()`).
    let frame = unsafe { core::slice::from_raw_parts_mut(frame, len as usize) };
    let parsed = match sim_engine::parse(frame, ingress_ifindex) {
        Ok(p) => p,
        Err(m) => return miss_code(m),
    };
    let Some(e) = TABLE.find(&parsed.key) else {
        return miss_code(Miss::NoEntry);
    };
    // SAFETY: Plain reads of the glue's port array.
    if !unsafe { bindings::rsim_port_up(e.egress_port) } {
        return -(bindings::RSIM_MISS_EGRESS_DOWN as c_int);
    }
    // SAFETY: As above.
    let mtu = unsafe { bindings::rsim_port_mtu(e.egress_port) };
    if e.entry.exceeds_mtu(frame, &parsed, mtu as usize) {
        return -(bindings::RSIM_MISS_MTU as c_int);
    }
    let out = match e.entry.apply(frame, &parsed) {
        Ok(out) => out,
        Err(m) => return miss_code(m),
    };
    e.packets.fetch_add(1, Ordering::Relaxed);
    e.bytes.fetch_add(out.ip_len as u64, Ordering::Relaxed);
    e.lastused.store(now, Ordering::Relaxed);
    let mut l2 = [0u8; bindings::RSIM_L2_MAX as usize];
    let n = out.l2_len.min(l2.len());
    l2[..n].copy_from_slice(&out.l2[..n]);
    // SAFETY: Valid for writes (function contract).
    unsafe {
        *fwd = bindings::rsim_fwd {
            strip: out.strip as u32,
            l2_len: n as u32,
            l2,
            ip_len: out.ip_len as u32,
            egress_port: e.egress_port,
        };
    }
    0
}

/// A `core::fmt::Write` into a byte buffer, truncating.
struct Buf<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

fn format_entries(out: &mut Buf<'_>, now: u64) -> core::fmt::Result {
    use core::fmt::Write;
    let mut result = Ok(());
    TABLE.for_each(|_, e| {
        let k = &e.entry.key;
        let idle = match e.lastused.load(Ordering::Relaxed) {
            0 => -1,
            t => now.wrapping_sub(t) as i64,
        };
        result = result.and_then(|()| {
            write!(
                out,
                "port {} cookie {:#x} in {} proto {} l4 {} ports {} {} vlans {} {} -> port {} \
                 packets {} bytes {} idle_jiffies {} src ",
                e.port,
                e.cookie,
                k.ingress,
                k.n_proto,
                k.ip_proto,
                k.ports.0,
                k.ports.1,
                k.vlans[0],
                k.vlans[1],
                e.egress_port,
                e.packets.load(Ordering::Relaxed),
                e.bytes.load(Ordering::Relaxed),
                idle
            )?;
            let n = if k.n_proto == 0x86dd { 16 } else { 4 };
            for b in &k.src[..n] {
                write!(out, "{b:02x}")?;
            }
            out.write_str(" dst ")?;
            for b in &k.dst[..n] {
                write!(out, "{b:02x}")?;
            }
            // The rule's user cookie: rflow puts the flow's UFID there.
            match e.ufid {
                Some(u) => write!(out, " {}", crate::pure::ufid::Ufid(u))?,
                None => out.write_str(" ufid:-")?,
            }
            out.write_str("\n")
        });
    });
    result
}

/// debugfs `entries`.
///
/// # Safety
///
/// `buf` points to `size` writable bytes. Called by the glue under its mutex.
#[no_mangle]
unsafe extern "C" fn rsim_rust_format_entries(buf: *mut u8, size: usize, now: u64) -> usize {
    // SAFETY: Valid and writable for the call (function contract).
    let buf = unsafe { core::slice::from_raw_parts_mut(buf, size) };
    let mut out = Buf { buf, len: 0 };
    // Truncation is the only failure, and the buffer is sized for the table.
    let _ = format_entries(&mut out, now);
    out.len
}

/// The module: the ASIC's ports exist while it is loaded.
struct RflowSim;

impl kernel::Module for RflowSim {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Reads a module parameter.
        let n = unsafe { bindings::rsim_nports() };
        // SAFETY: Called once, at load, before anything can use the ports.
        to_result(unsafe { bindings::rsim_ports_create(n) })?;
        pr_info!("{n} ports (rsim0p<N> on the router, rsim0w<N> their wire ends)\n");
        Ok(RflowSim)
    }
}

impl Drop for RflowSim {
    fn drop(&mut self) {
        // SAFETY: Created in `init`. Unregistering the ports unbinds them from every flowtable
        // (which destroys or flushes their entries) and stops the data path.
        unsafe { bindings::rsim_ports_destroy() };
        // Entries no flowtable destroyed (none should be left).
        let _ = rsim_rust_flush(bindings::RSIM_PORTS_MAX);
        // SAFETY: Waits for the RCU callbacks that free entries, which are this module's code.
        unsafe { bindings::rsim_rcu_barrier() };
    }
}
