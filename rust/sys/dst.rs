// SPDX-License-Identifier: GPL-2.0

//! Routing cache entries.

use super::netdev::NetDevice;
use crate::bindings;
use core::{ops::Deref, ptr::NonNull};
use kernel::types::Opaque;

/// A routing cache entry (`struct dst_entry`).
///
/// # Invariants
///
/// A `&Dst` is backed by a reference (counted, or the RCU-protected one an skb carries) that
/// keeps the entry alive for the borrow.
#[repr(transparent)]
pub(crate) struct Dst(Opaque<bindings::dst_entry>);

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
    pub(crate) fn hold(&self) -> Option<DstRef> {
        // SAFETY: Live entry (type invariant).
        if unsafe { bindings::rflow_dst_hold_safe(self.as_ptr()) } {
            // INVARIANT: The reference was just taken.
            Some(DstRef(NonNull::from(self)))
        } else {
            None
        }
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

/// A counted reference to a [`Dst`], released on drop.
///
/// # Invariants
///
/// The pointer is valid and this value owns one reference on the entry.
pub(crate) struct DstRef(NonNull<Dst>);

// SAFETY: dst entries are reference counted with atomics and may be released from any context.
unsafe impl Send for DstRef {}
// SAFETY: `&DstRef` only gives `&Dst`, whose methods are safe to call concurrently.
unsafe impl Sync for DstRef {}

impl Deref for DstRef {
    type Target = Dst;

    fn deref(&self) -> &Dst {
        // SAFETY: The reference keeps the entry alive (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl DstRef {
    /// Takes ownership of a reference the caller holds.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid entry on which the caller owns a reference it gives up.
    pub(crate) unsafe fn from_owned(ptr: NonNull<bindings::dst_entry>) -> DstRef {
        // INVARIANT: By the function contract.
        DstRef(ptr.cast())
    }
}

impl Drop for DstRef {
    fn drop(&mut self) {
        // SAFETY: This value owns one reference (type invariant).
        unsafe { bindings::dst_release(self.as_ptr()) };
    }
}
