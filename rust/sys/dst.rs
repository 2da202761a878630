// SPDX-License-Identifier: GPL-2.0

//! Routing cache entries.

use super::netdev::NetDevice;
use crate::bindings;
use core::ptr::NonNull;
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// A routing cache entry (`struct dst_entry`).
///
/// # Invariants
///
/// A `&Dst` is backed by a reference (counted, or the RCU-protected one an skb carries) that
/// keeps the entry alive for the borrow.
#[repr(transparent)]
pub(crate) struct Dst(Opaque<bindings::dst_entry>);

// SAFETY: dst entries are shared between CPUs by design; the methods here only read them or use
// the kernel's concurrency-safe helpers.
unsafe impl Send for Dst {}
// SAFETY: As above.
unsafe impl Sync for Dst {}

impl Dst {
    /// Wraps a raw dst pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to an entry that stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::dst_entry) -> &'a Dst {
        // SAFETY: `Dst` is a transparent wrapper; validity by the function contract.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::dst_entry {
        self.0.get()
    }

    /// Returns the output device.
    pub(crate) fn dev(&self) -> &NetDevice {
        // SAFETY: A live dst holds a reference on its device.
        unsafe { NetDevice::from_raw((*self.as_ptr()).__bindgen_anon_1.dev) }
    }

    /// Takes a counted reference, unless the entry is already being released (`dst_hold_safe()`).
    pub(crate) fn hold(&self) -> Option<ARef<Dst>> {
        // SAFETY: Live entry (type invariant).
        if unsafe { bindings::rflow_dst_hold_safe(self.as_ptr()) } {
            // SAFETY: The reference was just taken and is handed to the `ARef`.
            Some(unsafe { ARef::from_raw(NonNull::from(self)) })
        } else {
            None
        }
    }

    /// Takes ownership of a reference the caller holds.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid entry on which the caller owns a reference it gives up.
    pub(crate) unsafe fn from_owned(ptr: NonNull<bindings::dst_entry>) -> ARef<Dst> {
        // SAFETY: By the function contract; `Dst` is a transparent wrapper.
        unsafe { ARef::from_raw(ptr.cast()) }
    }

    /// Returns whether packets using this route go through an IPsec transform (`dst_xfrm()`).
    pub(crate) fn has_xfrm(&self) -> bool {
        // SAFETY: Live entry (type invariant).
        unsafe { bindings::rflow_dst_has_xfrm(self.as_ptr()) }
    }

    /// Returns the MTU for forwarding IPv4 (`ip_dst_mtu_maybe_forward(dst, true)`).
    pub(crate) fn mtu_v4(&self) -> u32 {
        // SAFETY: Live entry (type invariant).
        unsafe { bindings::rflow_ip_dst_mtu_forward(self.as_ptr()) }
    }

    /// Returns the MTU for forwarding IPv6 (`ip6_dst_mtu_maybe_forward(dst, true)`).
    pub(crate) fn mtu_v6(&self) -> u32 {
        // SAFETY: Live entry (type invariant).
        unsafe { bindings::rflow_ip6_dst_mtu_forward(self.as_ptr()) }
    }

    /// Returns the validity cookie of an IPv6 route (`rt6_get_cookie()`).
    pub(crate) fn rt6_cookie(&self) -> u32 {
        // SAFETY: Live entry (type invariant); callers only ask IPv6 routes.
        unsafe { bindings::rflow_rt6_cookie(self.as_ptr()) }
    }

    /// Returns the IPv4 next hop towards `daddr` (`rt_nexthop()`).
    pub(crate) fn nexthop_v4(&self, daddr: [u8; 4]) -> [u8; 4] {
        // SAFETY: Live entry (type invariant); callers only ask IPv4 routes.
        let nh = unsafe { bindings::rflow_rt_nexthop(self.as_ptr(), u32::from_ne_bytes(daddr)) };
        nh.to_ne_bytes()
    }

    /// Returns the IPv6 next hop towards `daddr` (`rt6_nexthop()`).
    pub(crate) fn nexthop_v6(&self, daddr: [u8; 16]) -> [u8; 16] {
        let dst = bindings::in6_addr {
            in6_u: bindings::in6_addr__bindgen_ty_1 { u6_addr8: daddr },
        };
        let mut nh = bindings::in6_addr::default();
        // SAFETY: Live entry (type invariant); callers only ask IPv6 routes. Both addresses are
        // valid local values.
        unsafe { bindings::rflow_rt6_nexthop(self.as_ptr(), &dst, &mut nh) };
        // SAFETY: Every bit pattern is a valid byte array.
        unsafe { nh.in6_u.u6_addr8 }
    }

    /// Returns the hardware address of the route's next hop towards `daddr` (address bytes of
    /// the route's family), if resolved (`NUD_VALID`), as `nft_dev_fill_forward_path()` reads it.
    pub(crate) fn neighbour_mac(&self, daddr: &[u8; 16]) -> Option<[u8; 6]> {
        // SAFETY: Live entry (type invariant); `daddr` is a valid address buffer.
        let n = unsafe { bindings::rflow_dst_neigh_lookup(self.as_ptr(), daddr.as_ptr().cast()) };
        if n.is_null() {
            return None;
        }
        let mut ha = [0u8; 6];
        // SAFETY: `n` is a neighbour we hold a reference on; `ha` has room for ETH_ALEN bytes.
        let state = unsafe { bindings::rflow_neigh_read(n, ha.as_mut_ptr()) };
        // SAFETY: Drops the reference `rflow_dst_neigh_lookup()` took.
        unsafe { bindings::rflow_neigh_release(n) };
        (u32::from(state) & bindings::RFLOW_NUD_VALID != 0).then_some(ha)
    }

    /// Returns whether the route is still valid (`dst_check()`).
    #[inline]
    pub(crate) fn check(&self, cookie: u32) -> bool {
        // SAFETY: Live entry (type invariant).
        !unsafe { bindings::rflow_dst_check(self.as_ptr(), cookie) }.is_null()
    }
}

// SAFETY: dst entries are counted by `__rcuref`: every reference rflow holds comes from
// `dst_hold_safe()` or from a function returning a counted reference, `dst_hold()` only runs on
// such held entries, and `dst_release()` gives one back from any context, freeing the entry
// after a grace period when it was the last.
unsafe impl AlwaysRefCounted for Dst {
    fn inc_ref(&self) {
        // SAFETY: Only called on entries rflow holds a reference on (see above), so the count
        // is not zero.
        unsafe { bindings::rflow_dst_hold(self.as_ptr()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference it gives up (trait contract).
        unsafe { bindings::dst_release(obj.as_ref().as_ptr()) };
    }
}

/// The family-specific part of a [`RouteQuery`].
pub(crate) enum RouteFamily {
    /// IPv4, with the packet's DSCP bits.
    Ipv4 {
        /// TOS byte, ECN bits cleared.
        tos: u8,
    },
    /// IPv6, with the packet's traffic class and flow label (network order).
    Ipv6 {
        /// `ip6_flowinfo()` of the packet.
        flowlabel: u32,
    },
}

/// A route lookup as the `flow add` expression makes it for the other direction of a flow
/// (`nft_flow_route()`): towards `daddr` from `saddr`, arriving on `iif`, leaving by `oif`.
pub(crate) struct RouteQuery {
    /// Destination (network order; IPv4 in the first 4 bytes).
    pub(crate) daddr: [u8; 16],
    /// Source, any local address allowed (`FLOWI_FLAG_ANYSRC`).
    pub(crate) saddr: [u8; 16],
    /// Output interface.
    pub(crate) oif: i32,
    /// Input interface.
    pub(crate) iif: i32,
    /// Firewall mark.
    pub(crate) mark: u32,
    /// Family and its fields.
    pub(crate) family: RouteFamily,
}

impl RouteQuery {
    /// Looks the route up in `net` (`nf_route()`), returning a counted reference.
    pub(crate) fn lookup(&self, net: &super::net::Net) -> Option<ARef<Dst>> {
        let mut fl = bindings::flowi::default();
        let pf = match self.family {
            RouteFamily::Ipv4 { tos } => {
                let mut d = [0u8; 4];
                let mut s = [0u8; 4];
                d.copy_from_slice(&self.daddr[..4]);
                s.copy_from_slice(&self.saddr[..4]);
                // SAFETY: `flowi` is a plain-data union; the `ip4` view is the one IPv4 routing
                // reads.
                let ip4 = unsafe { &mut fl.u.ip4 };
                ip4.daddr = u32::from_ne_bytes(d);
                ip4.saddr = u32::from_ne_bytes(s);
                ip4.__fl_common.flowic_oif = self.oif;
                ip4.__fl_common.flowic_iif = self.iif;
                ip4.__fl_common.flowic_tos = tos;
                ip4.__fl_common.flowic_mark = self.mark;
                ip4.__fl_common.flowic_flags = bindings::FLOWI_FLAG_ANYSRC as u8;
                bindings::NFPROTO_IPV4
            }
            RouteFamily::Ipv6 { flowlabel } => {
                // SAFETY: `flowi` is a plain-data union; the `ip6` view is the one IPv6 routing
                // reads.
                let ip6 = unsafe { &mut fl.u.ip6 };
                ip6.daddr.in6_u.u6_addr8 = self.daddr;
                ip6.saddr.in6_u.u6_addr8 = self.saddr;
                ip6.__fl_common.flowic_oif = self.oif;
                ip6.__fl_common.flowic_iif = self.iif;
                ip6.flowlabel = flowlabel;
                ip6.__fl_common.flowic_mark = self.mark;
                ip6.__fl_common.flowic_flags = bindings::FLOWI_FLAG_ANYSRC as u8;
                bindings::NFPROTO_IPV6
            }
        };
        let mut dst: *mut bindings::dst_entry = core::ptr::null_mut();
        // SAFETY: `net` is live; `fl` and `dst` are valid locals; `nf_route` stores a counted
        // reference in `dst` on success.
        unsafe { bindings::nf_route(net.as_ptr(), &mut dst, &mut fl, false, pf as u16) };
        // SAFETY: `nf_route` gave us a reference on a non-null `dst`.
        NonNull::new(dst).map(|d| unsafe { Dst::from_owned(d) })
    }
}
