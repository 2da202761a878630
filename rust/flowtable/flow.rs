// SPDX-License-Identifier: GPL-2.0

//! Flows: one offloaded connection, with one hashed entry per direction.
//!
//! Counterpart of `struct flow_offload` and of `flow_offload_alloc()`, `flow_offload_route_init()`
//! and `flow_offload_free()` in `net/netfilter/nf_flow_table_core.c`.

use super::table::Node;
use crate::bindings;
use crate::path::{DirRoute, Xmit};
use crate::pure::{
    csum::Rewrite,
    hash::SipKey,
    tuple::{Addr, Dir, Tuple, IPPROTO_TCP, IPPROTO_UDP, NFPROTO_IPV6},
};
use crate::sys::{
    conntrack::{Conn, ConnRef, Status},
    dst::DstRef,
    time,
};
use core::{
    mem::offset_of,
    sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering},
};
use kernel::{prelude::*, types::Opaque};

/// Where and how packets of one flow direction leave (the route half of `flow_offload_tuple`).
pub(crate) struct Route {
    /// Transmit method.
    pub(crate) xmit: Xmit,
    /// Path MTU; longer packets take the slow path so the stack can fragment or send PTB.
    pub(crate) mtu: u32,
    /// The cached route (a counted reference).
    pub(crate) dst: DstRef,
    /// Validity cookie for [`Dst::check`](crate::sys::dst::Dst::check).
    pub(crate) dst_cookie: u32,
    /// Next hop for the neighbour layer, computed once from the route and the final destination.
    pub(crate) nexthop: Addr,
}

/// One direction of a flow: its table entry and what forwarding a packet of it needs.
///
/// # Invariants
///
/// Lives in [`Flow::dirs`] at index `dir` (so [`FlowDir::flow`] can find its flow), and is
/// immutable once the flow is in a table, apart from the atomic counters.
pub(crate) struct FlowDir {
    pub(super) node: Node,
    dir: Dir,
    /// The tuple packets of this direction carry when they arrive.
    pub(crate) tuple: Tuple,
    /// The NAT rewrite applied to them.
    pub(crate) rewrite: Rewrite,
    /// How they leave.
    pub(crate) route: Route,
    /// Packets forwarded by the fast path.
    pub(crate) packets: AtomicU64,
    /// Bytes forwarded by the fast path (network header on).
    pub(crate) bytes: AtomicU64,
}

/// Flows allocated and not yet freed, in all namespaces: what unload and namespace exit must
/// bring back to zero.
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// Returns the number of flows allocated and not yet freed.
pub(crate) fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// `NF_FLOW_SNAT`.
const SNAT: usize = 1 << 0;
/// `NF_FLOW_DNAT`.
const DNAT: usize = 1 << 1;
/// `NF_FLOW_TEARDOWN`: no more fast-path packets; the GC removes the flow.
const TEARDOWN: usize = 1 << 2;
/// `NF_FLOW_CLOSING`: a FIN or RST went through; a SYN now means a new connection.
const CLOSING: usize = 1 << 3;

/// An offloaded connection.
///
/// # Invariants
///
/// Allocated by [`Flow::new`] in a [`KBox`]; once inserted in a table it is owned by that table,
/// and freed by [`Flow::free_rcu`] only after removal from it.
pub(crate) struct Flow {
    dirs: [FlowDir; 2],
    ct: ConnRef,
    flags: AtomicUsize,
    /// Expiry stamp in jiffies, pushed forward by fast-path packets.
    timeout: AtomicU32,
    /// The flow's timeout setting, read from the sysctls when the flow was created.
    offload_timeout: u32,
    rcu: Opaque<bindings::callback_head>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        ALLOCATED.fetch_sub(1, Ordering::Relaxed);
    }
}

impl FlowDir {
    fn new(ct: &Conn, dir: Dir, snat: bool, dnat: bool, route: DirRoute, key: &SipKey) -> Self {
        let orig = ct.tuple(Dir::Original);
        let reply = ct.tuple(Dir::Reply);
        let mut tuple = if dir == Dir::Original { orig } else { reply };
        tuple.iif = route.in_ifindex as u32;
        tuple.encap = route.in_encap;
        let rewrite = Rewrite::for_dir(dir, &orig, &reply, snat, dnat);
        // Packets of this direction end up at the source of the other direction's tuple.
        let final_dst = if dir == Dir::Original {
            reply.src
        } else {
            orig.src
        };
        let dst = route.dst;
        let (mtu, dst_cookie, nexthop) = if tuple.l3proto == NFPROTO_IPV6 {
            (dst.mtu_v6(), dst.rt6_cookie(), dst.nexthop_v6(final_dst))
        } else {
            let mut nh = [0u8; 16];
            let mut d4 = [0u8; 4];
            d4.copy_from_slice(&final_dst[..4]);
            nh[..4].copy_from_slice(&dst.nexthop_v4(d4));
            (dst.mtu_v4(), 0, nh)
        };
        FlowDir {
            node: Node::new(&tuple.key(), key),
            dir,
            tuple,
            rewrite,
            route: Route {
                xmit: route.xmit,
                mtu,
                dst,
                dst_cookie,
                nexthop,
            },
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Returns the direction.
    #[inline(always)]
    pub(crate) fn dir(&self) -> Dir {
        self.dir
    }

    /// Returns the flow this direction belongs to.
    #[inline(always)]
    pub(crate) fn flow(&self) -> &Flow {
        let this: *const FlowDir = self;
        // SAFETY: `self` is `dirs[self.dir]` of a `Flow` (type invariant), so stepping back
        // `dir` elements and then to the start of the `Flow` stays inside that allocation.
        unsafe {
            let dirs = this.sub(self.dir.index());
            &*dirs.cast::<u8>().sub(offset_of!(Flow, dirs)).cast::<Flow>()
        }
    }

    /// Counts one fast-path packet of `len` bytes.
    #[inline(always)]
    pub(crate) fn account(&self, len: u32) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len.into(), Ordering::Relaxed);
    }
}

impl Flow {
    /// Allocates a flow for `ct` with the routes of both directions (`flow_offload_alloc()` and
    /// `flow_offload_route_init()`). Called from the packet path.
    pub(crate) fn new(ct: &Conn, routes: [DirRoute; 2], key: &SipKey) -> Result<KBox<Flow>> {
        if ct.is_dying() {
            return Err(ENOENT);
        }
        let snat = ct.test(Status::SrcNat);
        let dnat = ct.test(Status::DstNat);
        let offload_timeout = match ct.l4proto() {
            IPPROTO_TCP => ct.net().tcp_offload_timeout(),
            IPPROTO_UDP => ct.net().udp_offload_timeout(),
            _ => 30 * time::HZ,
        };
        let [orig, reply] = routes;
        let mut flags = 0;
        if snat {
            flags |= SNAT;
        }
        if dnat {
            flags |= DNAT;
        }
        let flow = Flow {
            dirs: [
                FlowDir::new(ct, Dir::Original, snat, dnat, orig, key),
                FlowDir::new(ct, Dir::Reply, snat, dnat, reply, key),
            ],
            ct: ct.get(),
            flags: AtomicUsize::new(flags),
            timeout: AtomicU32::new(time::now().wrapping_add(offload_timeout)),
            offload_timeout,
            rcu: Opaque::uninit(),
        };
        let flow = KBox::new(flow, GFP_ATOMIC)?;
        ALLOCATED.fetch_add(1, Ordering::Relaxed);
        Ok(flow)
    }

    /// Returns both entries.
    pub(crate) fn dirs(&self) -> &[FlowDir; 2] {
        &self.dirs
    }

    /// Returns the conntrack entry.
    #[inline(always)]
    pub(crate) fn ct(&self) -> &Conn {
        &self.ct
    }

    /// Returns whether the flow is being torn down.
    #[inline(always)]
    pub(crate) fn is_teardown(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & TEARDOWN != 0
    }

    /// Marks the flow torn down, returning whether it already was.
    pub(crate) fn set_teardown(&self) -> bool {
        self.flags.fetch_or(TEARDOWN, Ordering::SeqCst) & TEARDOWN != 0
    }

    /// Returns whether a FIN or RST of the connection went through the fast path.
    #[inline(always)]
    pub(crate) fn is_closing(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & CLOSING != 0
    }

    /// Marks the flow closing (FIN or RST seen).
    #[inline(always)]
    pub(crate) fn set_closing(&self) {
        // Test first: most packets of a closing flow find the bit set, and a plain load does
        // not take the cache line exclusive.
        if !self.is_closing() {
            self.flags.fetch_or(CLOSING, Ordering::Relaxed);
        }
    }

    /// Returns whether the flow rewrites addresses or ports.
    pub(crate) fn is_nat(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & (SNAT | DNAT) != 0
    }

    /// Returns how many jiffies are left before the flow expires (negative once expired).
    pub(crate) fn expires_in(&self) -> i32 {
        time::until(self.timeout.load(Ordering::Relaxed))
    }

    /// Pushes the expiry forward after a fast-path packet (`flow_offload_refresh()`).
    ///
    /// Writes only when the stamp moves by more than a second, to keep the cache line clean.
    #[inline(always)]
    pub(crate) fn refresh(&self) {
        let timeout = time::now().wrapping_add(self.offload_timeout);
        if timeout.wrapping_sub(self.timeout.load(Ordering::Relaxed)) > time::HZ {
            self.timeout.store(timeout, Ordering::Relaxed);
        }
    }

    /// Frees the flow after an RCU grace period (`flow_offload_free()`).
    ///
    /// # Safety
    ///
    /// `flow` must come from [`KBox::into_raw`] of a [`Flow::new`] result, be unreachable for
    /// new readers (removed from its table, or never inserted), and not be freed twice.
    pub(crate) unsafe fn free_rcu(flow: *mut Flow) {
        // SAFETY: `flow` is valid (function contract); the callback frees it once readers that
        // may still see it are done.
        unsafe { bindings::call_rcu((*flow).rcu.get(), Some(Self::free_callback)) };
    }

    /// Frees a flow once its grace period has elapsed.
    ///
    /// # Safety
    ///
    /// Only called by RCU for a flow queued by [`Flow::free_rcu`].
    unsafe extern "C" fn free_callback(head: *mut bindings::callback_head) {
        // SAFETY: `head` is the `rcu` member of a flow queued by `free_rcu`, which owned it.
        unsafe {
            let flow = head.cast::<u8>().sub(offset_of!(Flow, rcu)).cast::<Flow>();
            // Drops the conntrack reference (`nf_ct_put()`, as 6.12's `flow_offload_free_rcu()`
            // does) and both route references.
            drop(KBox::from_raw(flow));
        }
    }
}
