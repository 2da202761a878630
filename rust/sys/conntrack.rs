// SPDX-License-Identifier: GPL-2.0

//! Conntrack entries.

use super::net::Net;
use crate::bindings;
use crate::pure::tuple::{Dir, Tuple, IPPROTO_GRE, IPPROTO_TCP, IPPROTO_UDP, NFPROTO_IPV6};
use core::{
    ptr::NonNull,
    sync::atomic::{AtomicU32, AtomicUsize, Ordering},
};
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// A conntrack entry (`struct nf_conn`).
///
/// # Invariants
///
/// A `&Conn` is backed by a reference (counted, or the one of the skb being processed) that
/// keeps the entry alive for the borrow. Conntrack entries live in a `SLAB_TYPESAFE_BY_RCU`
/// cache: the fields read here stay readable, as C relies on too.
#[repr(transparent)]
pub(crate) struct Conn(Opaque<bindings::nf_conn>);

/// Conntrack's status bits rflow reads or writes (`enum ip_conntrack_status`).
#[derive(Clone, Copy)]
#[repr(u32)]
pub(crate) enum Status {
    SeenReply = bindings::IPS_SEEN_REPLY_BIT,
    Assured = bindings::IPS_ASSURED_BIT,
    Confirmed = bindings::IPS_CONFIRMED_BIT,
    SrcNat = bindings::IPS_SRC_NAT_BIT,
    DstNat = bindings::IPS_DST_NAT_BIT,
    SeqAdjust = bindings::IPS_SEQ_ADJUST_BIT,
    Dying = bindings::IPS_DYING_BIT,
    Offload = bindings::IPS_OFFLOAD_BIT,
    HwOffload = bindings::IPS_HW_OFFLOAD_BIT,
    NatClash = bindings::IPS_NAT_CLASH_BIT,
}

impl Status {
    fn mask(self) -> usize {
        1 << (self as u32)
    }
}

// SAFETY: Conntrack entries are shared between CPUs by design; the methods here use atomics,
// the entry's lock, or fields that do not change once the entry is confirmed.
unsafe impl Send for Conn {}
// SAFETY: As above.
unsafe impl Sync for Conn {}

impl Conn {
    /// Wraps a raw conntrack pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to an entry kept alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::nf_conn) -> &'a Conn {
        // SAFETY: `Conn` is a transparent wrapper; validity by the function contract.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::nf_conn {
        self.0.get()
    }

    fn status_word(&self) -> &AtomicUsize {
        // SAFETY: `status` is an aligned `unsigned long` that C only changes with atomic bitops,
        // and the entry outlives the borrow (type invariant).
        unsafe { AtomicUsize::from_ptr(&raw mut (*self.as_ptr()).status) }
    }

    /// Returns whether a status bit is set (`test_bit()`).
    #[inline(always)]
    pub(crate) fn test(&self, bit: Status) -> bool {
        self.status_word().load(Ordering::Relaxed) & bit.mask() != 0
    }

    /// Returns whether the entry is being destroyed (`nf_ct_is_dying()`).
    #[inline(always)]
    pub(crate) fn is_dying(&self) -> bool {
        self.test(Status::Dying)
    }

    /// Sets `IPS_OFFLOAD`, returning whether it was already set (`test_and_set_bit()`).
    pub(crate) fn test_and_set_offload(&self) -> bool {
        let mask = Status::Offload.mask();
        self.status_word().fetch_or(mask, Ordering::SeqCst) & mask != 0
    }

    /// Clears `IPS_OFFLOAD` (`clear_bit()`).
    pub(crate) fn clear_offload(&self) {
        self.status_word()
            .fetch_and(!Status::Offload.mask(), Ordering::SeqCst);
    }

    /// Sets or clears `IPS_HW_OFFLOAD` (conntrack's `[HW_OFFLOAD]`): a driver holds the flow.
    pub(crate) fn set_hw_offload(&self, on: bool) {
        let mask = Status::HwOffload.mask();
        if on {
            self.status_word().fetch_or(mask, Ordering::SeqCst);
        } else {
            self.status_word().fetch_and(!mask, Ordering::SeqCst);
        }
    }

    /// Returns the tuple of direction `dir`, with `iif` and encapsulation left empty.
    pub(crate) fn tuple(&self, dir: Dir) -> Tuple {
        // SAFETY: The tuples of a confirmed entry never change; entry alive (type invariant).
        let t = unsafe { &(*self.as_ptr()).tuplehash[dir.index()].tuple };
        let mut out = Tuple {
            // Truncation intended: `l3num` holds an NFPROTO value.
            l3proto: t.src.l3num as u8,
            l4proto: t.dst.protonum,
            ..Default::default()
        };
        // SAFETY: `nf_inet_addr` is plain data; every view of it is valid.
        let (src, dst) = unsafe { (t.src.u3.all, t.dst.u3.all) };
        for i in 0..4 {
            out.src[i * 4..i * 4 + 4].copy_from_slice(&src[i].to_ne_bytes());
            out.dst[i * 4..i * 4 + 4].copy_from_slice(&dst[i].to_ne_bytes());
        }
        if out.l3proto != NFPROTO_IPV6 {
            out.src[4..].fill(0);
            out.dst[4..].fill(0);
        }
        if matches!(out.l4proto, IPPROTO_TCP | IPPROTO_UDP) {
            // SAFETY: The port views of the protocol unions are plain `__be16`s.
            let (sport, dport) = unsafe { (t.src.u.all, t.dst.u.all) };
            out.src_port = u16::from_be(sport);
            out.dst_port = u16::from_be(dport);
        }
        out
    }

    /// Returns the layer 4 protocol of the entry.
    pub(crate) fn l4proto(&self) -> u8 {
        // SAFETY: Immutable after creation; entry alive (type invariant).
        unsafe { (*self.as_ptr()).tuplehash[0].tuple.dst.protonum }
    }

    /// Returns whether a GRE entry carries keys (PPTP, GRE version 1).
    pub(crate) fn gre_has_keys(&self) -> bool {
        if self.l4proto() != IPPROTO_GRE {
            return false;
        }
        // SAFETY: Immutable after creation; the `gre` view of a GRE tuple's union is plain data.
        let t = unsafe { &(*self.as_ptr()).tuplehash[0].tuple };
        // SAFETY: As above.
        unsafe { t.src.u.gre.key != 0 || t.dst.u.gre.key != 0 }
    }

    /// Returns whether a conntrack helper is attached (`nf_ct_ext_exist(ct, NF_CT_EXT_HELPER)`).
    pub(crate) fn has_helper(&self) -> bool {
        // SAFETY: Entry alive (type invariant).
        unsafe { bindings::rflow_ct_has_helper(self.as_ptr()) }
    }

    /// Returns the TCP state of a TCP entry.
    pub(crate) fn tcp_state(&self) -> u8 {
        // SAFETY: Entry alive (type invariant); `READ_ONCE()` of a byte conntrack updates.
        unsafe { core::ptr::read_volatile(&raw const (*self.as_ptr()).proto.tcp.state) }
    }

    /// Returns whether a TCP entry is established and assured (`nf_conntrack_tcp_established()`).
    pub(crate) fn tcp_established(&self) -> bool {
        self.tcp_state() == bindings::TCP_CONNTRACK_ESTABLISHED as u8 && self.test(Status::Assured)
    }

    /// Runs `f` on the TCP tracking state under the entry's lock.
    fn with_tcp_locked(&self, f: impl FnOnce(&mut bindings::ip_ct_tcp)) {
        // SAFETY: Entry alive (type invariant); `ct->lock` protects `proto.tcp`.
        unsafe {
            let ct = self.as_ptr();
            bindings::rflow_spin_lock_bh(&raw mut (*ct).lock);
            f(&mut (*ct).proto.tcp);
            bindings::rflow_spin_unlock_bh(&raw mut (*ct).lock);
        }
    }

    /// Disables TCP window checks: conntrack will not see every packet any more.
    pub(crate) fn set_tcp_be_liberal(&self) {
        self.with_tcp_locked(|tcp| {
            for seen in &mut tcp.seen {
                seen.flags |= bindings::IP_CT_TCP_FLAG_BE_LIBERAL as u8;
            }
        });
    }

    /// Makes conntrack re-learn the TCP windows it could not follow while the connection was
    /// offloaded, optionally moving it to TCP state `state` (`flow_offload_fixup_tcp()`).
    ///
    /// Besides the window sizes (6.12), this clears `IP_CT_TCP_FLAG_MAXACK_SET`, as later kernels
    /// do: with the stale maximum ACK kept, conntrack rejects the connection's RST as out of
    /// window and keeps the entry established. A connection moved to CLOSE gets
    /// `IP_CT_TCP_FLAG_CLOSE_INIT`, so that a SYN on the same tuple reopens it.
    pub(crate) fn reset_tcp_window(&self, state: Option<u8>) {
        self.with_tcp_locked(|tcp| {
            if let Some(state) = state {
                tcp.state = state;
            }
            if tcp.state == bindings::TCP_CONNTRACK_CLOSE as u8 {
                tcp.seen[0].flags |= bindings::IP_CT_TCP_FLAG_CLOSE_INIT as u8;
            }
            for seen in &mut tcp.seen {
                seen.td_maxwin = 0;
                seen.flags &= !(bindings::IP_CT_TCP_FLAG_MAXACK_SET as u8);
            }
        });
    }

    /// Returns the expiry stamp of the entry (`ct->timeout`), which conntrack updates locklessly.
    pub(crate) fn timeout(&self) -> &AtomicU32 {
        // SAFETY: Aligned `u32` accessed with `READ_ONCE`/`WRITE_ONCE`/`cmpxchg` by C; entry alive
        // (type invariant).
        unsafe { AtomicU32::from_ptr(&raw mut (*self.as_ptr()).timeout) }
    }

    /// Extends the timeout by `extra` jiffies from now (`nf_ct_refresh()`).
    pub(crate) fn refresh(&self, extra: u32) {
        // SAFETY: Entry alive (type invariant).
        unsafe { bindings::__nf_ct_refresh_acct(self.as_ptr(), 0, extra, 0) };
    }

    /// Adds one packet of `bytes` to the accounting of direction `dir` (`nf_ct_acct_update()`).
    pub(crate) fn account(&self, dir: Dir, bytes: u32) {
        // SAFETY: Entry alive (type invariant); lockless atomic counters.
        unsafe { bindings::nf_ct_acct_add(self.as_ptr(), dir as u32, 1, bytes) };
    }

    /// Adds `packets` and `bytes` that the hardware forwarded to the accounting of direction
    /// `dir`. `nf_ct_acct_add()` takes `unsigned int`s (C's flowtable truncates 64-bit hardware
    /// deltas to them); larger deltas are added in pieces.
    pub(crate) fn account_bulk(&self, dir: Dir, mut packets: u64, mut bytes: u64) {
        while packets != 0 || bytes != 0 {
            let p = packets.min(u64::from(u32::MAX));
            let b = bytes.min(u64::from(u32::MAX));
            // SAFETY: Entry alive (type invariant); lockless atomic counters.
            unsafe { bindings::nf_ct_acct_add(self.as_ptr(), dir as u32, p as u32, b as u32) };
            packets -= p;
            bytes -= b;
        }
    }

    /// Returns the entry's namespace.
    pub(crate) fn net(&self) -> &Net {
        // SAFETY: An entry holds its namespace alive.
        unsafe { Net::from_raw((*self.as_ptr()).ct_net.net) }
    }

    /// Takes a reference unless the entry is being freed (`refcount_inc_not_zero()`).
    pub(crate) fn try_get(&self) -> Option<ARef<Conn>> {
        // SAFETY: The memory stays a conntrack entry (type invariant), whose count may be zero.
        if unsafe { bindings::rflow_ct_get_not_zero(self.as_ptr()) } {
            // SAFETY: The reference was just taken and is handed to the `ARef`.
            Some(unsafe { ARef::from_raw(NonNull::from(self)) })
        } else {
            None
        }
    }
}

// SAFETY: Conntrack entries are counted by `ct_general.use`: `nf_conntrack_get()` and
// `nf_ct_put()` increment and decrement it atomically, from any context, and the entry is freed
// only when it drops to zero.
unsafe impl AlwaysRefCounted for Conn {
    fn inc_ref(&self) {
        // SAFETY: The entry is alive (type invariant), so its count is not zero.
        unsafe { bindings::rflow_ct_get(self.as_ptr()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference it gives up (trait contract).
        unsafe { bindings::rflow_ct_put(obj.as_ref().as_ptr()) };
    }
}
