// SPDX-License-Identifier: GPL-2.0

//! Flows: one offloaded connection, hashed once per direction.
//!
//! Counterpart of `struct flow_offload` and of `flow_offload_alloc()`, `flow_offload_route_init()`
//! and `flow_offload_free()` in `net/netfilter/nf_flow_table_core.c`. A flow is an
//! [`Indexed<Flow>`]: the index's nodes (one key per direction) around this payload, allocated
//! from rflow's own slab cache and built in place.

use crate::path::{DirRoute, Xmit};
use crate::pure::{
    csum::Rewrite,
    flow_state::{self, FlowState, HwEvent, HwWork, Reason},
    hash::{hash_key, SipKey},
    l2path::Mac,
    timeout,
    tuple::{Addr, Dir, FlowKey, Tuple, IPPROTO_TCP, IPPROTO_UDP, NFPROTO_IPV6},
    ufid::Ufid,
};
use crate::sys::{
    alloc::Gfp,
    conntrack::{Conn, Status},
    dst::Dst,
    global::Global,
    rcu_index::{Indexed, Payload},
    slab::{Cache, Owned},
    time,
};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::{prelude::*, types::ARef};

/// The slab cache of flows, published while the module is loaded.
pub(crate) static FLOWS: Global<Cache<Indexed<Flow>>> = Global::new();

/// Returns the number of flows allocated and not yet freed, in all namespaces: what unload and
/// namespace exit must bring back to zero.
pub(crate) fn allocated() -> usize {
    FLOWS.get().live()
}

/// Where and how packets of one flow direction leave (the route half of `flow_offload_tuple`).
pub(crate) struct Route {
    /// Transmit method.
    pub(crate) xmit: Xmit,
    /// Path MTU; longer packets take the slow path so the stack can fragment or send PTB.
    pub(crate) mtu: u32,
    /// The cached route (a counted reference).
    pub(crate) dst: ARef<Dst>,
    /// Validity cookie for [`Dst::check`].
    pub(crate) dst_cookie: u32,
    /// Next hop for the neighbour layer, computed once from the route and the final destination.
    pub(crate) nexthop: Addr,
    /// See [`crate::path::DirRoute::pppoe_peer`] (hardware rules only).
    pub(crate) pppoe_peer: Mac,
}

/// One direction of a flow: what forwarding a packet of it needs.
pub(crate) struct FlowDir {
    dir: Dir,
    /// The tuple packets of this direction carry when they arrive.
    pub(crate) tuple: Tuple,
    /// Bitmap of the `tuple.encap` entries hardware strips on ingress (hardware rules only).
    pub(crate) in_vlan_ingress: u8,
    /// The NAT rewrite applied to them.
    pub(crate) rewrite: Rewrite,
    /// How they leave.
    pub(crate) route: Route,
    /// Packets forwarded by the fast path.
    pub(crate) packets: AtomicU64,
    /// Bytes forwarded by the fast path (network header on).
    pub(crate) bytes: AtomicU64,
    /// Packets the hardware forwarded, as far as its counters were read.
    pub(crate) hw_packets: AtomicU64,
    /// Bytes the hardware forwarded.
    pub(crate) hw_bytes: AtomicU64,
}

impl FlowDir {
    /// Builds a direction in place; `final_dst` is where its packets end up.
    fn init(
        dir: Dir,
        tuple: Tuple,
        rewrite: Rewrite,
        route: DirRoute,
        final_dst: Addr,
    ) -> impl Init<FlowDir, Error> {
        let dst = route.dst;
        let in_vlan_ingress = route.in_vlan_ingress;
        let (mtu, dst_cookie, nexthop) = if tuple.l3proto == NFPROTO_IPV6 {
            (dst.mtu_v6(), dst.rt6_cookie(), dst.nexthop_v6(final_dst))
        } else {
            let mut nh = [0u8; 16];
            let mut d4 = [0u8; 4];
            d4.copy_from_slice(&final_dst[..4]);
            nh[..4].copy_from_slice(&dst.nexthop_v4(d4));
            (dst.mtu_v4(), 0, nh)
        };
        try_init!(FlowDir {
            dir,
            tuple,
            in_vlan_ingress,
            rewrite,
            route: Route {
                xmit: route.xmit,
                mtu,
                dst,
                dst_cookie,
                nexthop,
                pppoe_peer: route.pppoe_peer,
            },
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            hw_packets: AtomicU64::new(0),
            hw_bytes: AtomicU64::new(0),
        }? Error)
    }

    /// Returns the direction.
    #[inline(always)]
    pub(crate) fn dir(&self) -> Dir {
        self.dir
    }

    /// Counts one fast-path packet of `len` bytes.
    #[inline(always)]
    pub(crate) fn account(&self, len: u32) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len.into(), Ordering::Relaxed);
    }

    /// Returns whether packets of this direction arrive on, or leave through, device `ifindex`.
    pub(crate) fn uses_device(&self, ifindex: i32) -> bool {
        let out = match &self.route.xmit {
            Xmit::Direct(d) => d.dev.ifindex(),
            Xmit::Neigh | Xmit::Xfrm => self.route.dst.dev().ifindex(),
        };
        self.tuple.iif == ifindex as u32 || out == ifindex
    }
}

/// An offloaded connection.
#[pin_data]
pub(crate) struct Flow {
    orig: FlowDir,
    reply: FlowDir,
    ct: ARef<Conn>,
    /// [`FlowState`] word: software flags and hardware state.
    state: AtomicU32,
    /// Expiry stamp in jiffies, pushed forward by fast-path packets.
    timeout: AtomicU32,
    /// The flow's timeout setting, read from the sysctls when the flow was created.
    offload_timeout: u32,
}

impl Payload for Flow {
    type Key = FlowKey;
    type AltKey = Ufid;

    fn cache() -> &'static Cache<Indexed<Flow>> {
        FLOWS.get()
    }
}

/// The tuple packets of direction `dir` arrive with: conntrack's tuple of that direction, on
/// the device and with the encapsulations path discovery found.
fn arriving_tuple(ct_tuple: Tuple, route: &DirRoute) -> Tuple {
    Tuple {
        iif: route.in_ifindex as u32,
        encap: route.in_encap,
        ..ct_tuple
    }
}

impl Flow {
    /// Allocates a flow for `ct` with the routes of both directions (`flow_offload_alloc()` and
    /// `flow_offload_route_init()`), hashed under `secret`. Called from the packet path.
    pub(crate) fn new(
        ct: &Conn,
        routes: [DirRoute; 2],
        secret: &SipKey,
    ) -> Result<Owned<Indexed<Flow>>> {
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
        let mut state = 0;
        if snat {
            state |= flow_state::SNAT;
        }
        if dnat {
            state |= flow_state::DNAT;
        }
        let orig = ct.tuple(Dir::Original);
        let reply = ct.tuple(Dir::Reply);
        let [r0, r1] = routes;
        let (t0, t1) = (arriving_tuple(orig, &r0), arriving_tuple(reply, &r1));
        let (k0, k1) = (t0.key(), t1.key());
        let keys = [(k0, hash_key(secret, &k0)), (k1, hash_key(secret, &k1))];
        // Random, drawn anew for every flow (see `crate::pure::ufid`); a clash with a live
        // flow's UFID (2^-122 per pair) fails the insertion like a taken key, and the next
        // packet tries again with another.
        let ufid = Ufid::from_random(crate::sys::random::bytes16_batched());
        // The initialiser below names its fields `orig` and `reply`: copy what it needs first.
        let (to_orig_src, to_reply_src) = (orig.src, reply.src);
        let rewrites = [
            Rewrite::for_dir(Dir::Original, &orig, &reply, snat, dnat),
            Rewrite::for_dir(Dir::Reply, &orig, &reply, snat, dnat),
        ];
        // Built in place in the slab object, each direction field by field; packets of a
        // direction end up at the source of the other direction's tuple.
        Indexed::new(
            keys,
            (ufid, ufid.hash(secret)),
            try_pin_init!(Flow {
                orig <- FlowDir::init(Dir::Original, t0, rewrites[0], r0, to_reply_src),
                reply <- FlowDir::init(Dir::Reply, t1, rewrites[1], r1, to_orig_src),
                ct: ARef::from(ct),
                state: AtomicU32::new(state),
                timeout: AtomicU32::new(time::now().wrapping_add(offload_timeout)),
                offload_timeout,
            }? Error),
            Gfp::Atomic,
        )
    }

    /// Returns both directions, original first.
    #[inline(always)]
    pub(crate) fn dirs(&self) -> [&FlowDir; 2] {
        [&self.orig, &self.reply]
    }

    /// Returns direction `slot` (0: original, 1: reply), the index's node numbering.
    #[inline(always)]
    pub(crate) fn dir(&self, slot: usize) -> &FlowDir {
        if slot == 0 {
            &self.orig
        } else {
            &self.reply
        }
    }

    /// Returns the flow's unique identifier.
    pub(crate) fn ufid(this: &Indexed<Flow>) -> &Ufid {
        this.alt_key()
    }

    /// Returns the conntrack entry.
    #[inline(always)]
    pub(crate) fn ct(&self) -> &Conn {
        &self.ct
    }

    /// Returns the state word.
    #[inline(always)]
    pub(crate) fn state(&self) -> FlowState {
        FlowState(self.state.load(Ordering::Relaxed))
    }

    /// Returns the state word, ordered after every change to it this thread made or saw (for
    /// decisions that must not miss a concurrent hardware work item).
    pub(crate) fn state_acquire(&self) -> FlowState {
        FlowState(self.state.load(Ordering::Acquire))
    }

    /// Returns whether the flow is being torn down.
    #[inline(always)]
    pub(crate) fn is_teardown(&self) -> bool {
        self.state().has(flow_state::TEARDOWN)
    }

    /// Marks the flow torn down for `reason`, returning whether it already was (then the
    /// first reason stays).
    pub(crate) fn set_teardown(&self, reason: Reason) -> bool {
        self.state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                FlowState(v).torn_down(reason).map(|s| s.0)
            })
            .is_err()
    }

    /// Returns whether a FIN or RST of the connection went through the fast path.
    #[inline(always)]
    pub(crate) fn is_closing(&self) -> bool {
        self.state().has(flow_state::CLOSING)
    }

    /// Marks the flow closing (FIN or RST seen).
    #[inline(always)]
    pub(crate) fn set_closing(&self) {
        // Test first: most packets of a closing flow find the bit set, and a plain load does
        // not take the cache line exclusive.
        if !self.is_closing() {
            self.state.fetch_or(flow_state::CLOSING, Ordering::Relaxed);
        }
    }

    /// Returns whether the flow rewrites addresses or ports.
    pub(crate) fn is_nat(&self) -> bool {
        self.state().0 & (flow_state::SNAT | flow_state::DNAT) != 0
    }

    /// Returns how many jiffies are left before the flow expires (negative once expired).
    pub(crate) fn expires_in(&self) -> i32 {
        timeout::until(self.timeout.load(Ordering::Relaxed), time::now())
    }

    /// Returns the flow timeout this flow was created with, in jiffies.
    pub(crate) fn offload_timeout(&self) -> u32 {
        self.offload_timeout
    }

    /// Pushes the expiry forward after a fast-path packet (`flow_offload_refresh()`); returns
    /// whether it moved (at most about once a second).
    #[inline(always)]
    pub(crate) fn refresh(&self) -> bool {
        let stored = self.timeout.load(Ordering::Relaxed);
        match timeout::refreshed(stored, time::now(), self.offload_timeout, time::HZ) {
            Some(stamp) => {
                self.timeout.store(stamp, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Pushes the expiry forward from the hardware's last use of the flow, in jiffies
    /// (`flow_offload_work_stats()`), never backwards.
    pub(crate) fn refresh_from_hw(&self, lastused: u64) {
        let _ = self
            .timeout
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |stored| {
                let stamp =
                    timeout::extended_by_hw(stored, lastused, time::now(), self.offload_timeout);
                (stamp != stored).then_some(stamp)
            });
    }

    /// Returns whether the GC should read the flow's hardware counters now.
    pub(crate) fn wants_hw_stats(&self) -> bool {
        timeout::wants_hw_stats(
            self.timeout.load(Ordering::Relaxed),
            time::now(),
            self.offload_timeout,
        )
    }

    /// Takes the flow's one hardware work item slot for `work`; returns the state before, or
    /// `None` if the state refuses it (see [`FlowState::begin_work`]).
    pub(crate) fn begin_hw_work(&self, work: HwWork) -> Option<FlowState> {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                FlowState(v).begin_work(work).map(|s| s.0)
            })
            .ok()
            .map(FlowState)
    }

    /// Gives the slot taken from state `before` back unused (the work item could not be
    /// allocated).
    pub(crate) fn abort_hw_work(&self, before: FlowState) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(FlowState(v).abort_work(before).0)
            });
    }

    /// Ends the pending work item with `event`. This is the item's last access to the flow:
    /// once the slot is free the GC may free the flow.
    pub(crate) fn end_hw_work(&self, event: Option<HwEvent>) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                let s = FlowState(v);
                // An event the state refuses would be a bug in the work items; the slot is
                // freed anyway so that the flow can still be torn down and freed.
                Some(
                    s.end_work(event)
                        .unwrap_or(FlowState(v & !flow_state::HW_WORK))
                        .0,
                )
            });
    }

    /// Returns the cookie drivers know direction `slot`'s rule by: the direction's address,
    /// unique among live flows (C uses the address of the direction's tuple).
    pub(crate) fn hw_cookie(&self, slot: usize) -> usize {
        core::ptr::from_ref(self.dir(slot)) as usize
    }

    /// Returns whether either direction arrives on, or leaves through, device `ifindex`.
    pub(crate) fn uses_device(&self, ifindex: i32) -> bool {
        self.dirs().iter().any(|d| d.uses_device(ifindex))
    }
}
