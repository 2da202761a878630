// SPDX-License-Identifier: GPL-2.0

//! Socket buffers.

use super::{conntrack::Conn, dst::Dst, net::Net, netdev::NetDevice};
use crate::bindings;
use crate::pure::l2path::VLAN_VID_MASK;
use core::ops::{Deref, DerefMut};
use kernel::types::Opaque;

/// A packet (`struct sk_buff`).
///
/// # Invariants
///
/// A `&Skb`/`&mut Skb` is a packet the current context owns for the borrow: no other context
/// changes its metadata meanwhile. Its linear data may be shared read-only with clones.
#[repr(transparent)]
pub(crate) struct Skb(Opaque<bindings::sk_buff>);

/// `skb->ip_summed` values (`CHECKSUM_*`).
pub(crate) const CHECKSUM_COMPLETE: u8 = bindings::CHECKSUM_COMPLETE as u8;
/// See [`CHECKSUM_COMPLETE`].
pub(crate) const CHECKSUM_PARTIAL: u8 = bindings::CHECKSUM_PARTIAL as u8;
/// See [`CHECKSUM_COMPLETE`].
pub(crate) const CHECKSUM_NONE: u8 = bindings::CHECKSUM_NONE as u8;

impl Skb {
    /// Wraps a raw skb pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a packet the caller owns for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::sk_buff) -> &'a mut Skb {
        // SAFETY: `Skb` is a transparent wrapper; ownership by the function contract.
        unsafe { &mut *ptr.cast() }
    }

    /// Returns the raw pointer.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *mut bindings::sk_buff {
        self.0.get()
    }

    /// Returns the packet length from `skb->data`, linear part and fragments.
    #[inline(always)]
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: Owned packet (type invariant).
        unsafe { (*self.as_ptr()).len }
    }

    /// Returns the length of the linear part (`skb_headlen()`).
    #[inline(always)]
    pub(crate) fn headlen(&self) -> u32 {
        // SAFETY: Owned packet (type invariant).
        let data_len = unsafe { (*self.as_ptr()).data_len };
        self.len().saturating_sub(data_len)
    }

    #[inline(always)]
    fn headers(&self) -> *mut bindings::sk_buff__bindgen_ty_4__bindgen_ty_1 {
        // SAFETY: Owned packet (type invariant); the `headers` group is a plain struct view.
        unsafe { (*self.as_ptr()).__bindgen_anon_4.__bindgen_anon_1.as_mut() }
    }

    /// Returns `skb->protocol`, host order.
    #[inline(always)]
    pub(crate) fn protocol(&self) -> u16 {
        // SAFETY: Owned packet (type invariant).
        u16::from_be(unsafe { (*self.headers()).protocol })
    }

    /// Returns the out-of-band VLAN tag (VLAN id only) and its ethertype, host order, if the
    /// packet carries one (`skb_vlan_tag_present()`, `skb_vlan_tag_get_id()`).
    #[inline(always)]
    pub(crate) fn vlan_tag(&self) -> Option<(u16, u16)> {
        // SAFETY: Owned packet (type invariant); the union views are plain data.
        unsafe {
            let v = &(*self.headers()).__bindgen_anon_2;
            (v.vlan_all != 0).then(|| {
                let tag = v.__bindgen_anon_1;
                (tag.vlan_tci & VLAN_VID_MASK, u16::from_be(tag.vlan_proto))
            })
        }
    }

    /// Removes the out-of-band VLAN tag (`__vlan_hwaccel_clear_tag()`).
    #[inline(always)]
    pub(crate) fn clear_vlan_tag(&mut self) {
        // SAFETY: Owned packet (type invariant).
        unsafe { (*self.headers()).__bindgen_anon_2.vlan_all = 0 };
    }

    /// Sets `skb->protocol` (host order).
    #[inline(always)]
    pub(crate) fn set_protocol(&mut self, proto: u16) {
        // SAFETY: Owned packet (type invariant).
        unsafe { (*self.headers()).protocol = proto.to_be() };
    }

    /// Removes an in-band header of `len` bytes from the front of the linear data and makes
    /// the network header start after it (`__skb_pull()`, `skb_reset_network_header()`).
    /// Returns false, changing nothing, if the linear data is shorter.
    #[inline(always)]
    pub(crate) fn pull_header(&mut self, len: u32) -> bool {
        if len > self.headlen() {
            return false;
        }
        // SAFETY: Owned packet (type invariant); `len` bytes are linear, so `data` stays within
        // the buffer and the new offset from `head` fits the 16-bit header offsets.
        unsafe {
            let skb = self.as_ptr();
            (*skb).len -= len;
            (*skb).data = (*skb).data.add(len as usize);
            let off = (*skb).data.offset_from((*skb).head);
            (*self.headers()).network_header = off as u16;
        }
        true
    }

    /// Returns `skb->mark`.
    pub(crate) fn mark(&self) -> u32 {
        // SAFETY: Owned packet (type invariant).
        unsafe { (*self.headers()).__bindgen_anon_4.mark }
    }

    /// Returns `skb->ip_summed`.
    #[inline(always)]
    pub(crate) fn ip_summed(&self) -> u8 {
        // SAFETY: Owned packet (type invariant).
        unsafe { (*self.headers()).ip_summed() }
    }

    /// Sets `skb->ip_summed`.
    #[inline(always)]
    pub(crate) fn set_ip_summed(&mut self, v: u8) {
        // SAFETY: Owned packet (type invariant).
        unsafe { (*self.headers()).set_ip_summed(v) }
    }

    /// Makes the first `len` bytes linear, returning false if the packet is shorter or memory
    /// runs out (`pskb_may_pull()`).
    #[inline(always)]
    pub(crate) fn may_pull(&mut self, len: usize) -> bool {
        if len <= self.headlen() as usize {
            return true;
        }
        let Ok(len) = u32::try_from(len) else {
            return false;
        };
        // SAFETY: Owned packet (type invariant).
        unsafe { bindings::rflow_pskb_may_pull(self.as_ptr(), len) }
    }

    /// Returns the linear data, from `skb->data` (the network header at netdev ingress).
    #[inline(always)]
    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: Owned packet (type invariant): `data` points to `headlen` readable bytes that
        // nobody writes while shared with clones.
        unsafe { core::slice::from_raw_parts((*self.as_ptr()).data, self.headlen() as usize) }
    }

    /// Makes the first `len` bytes linear and private to this packet, and returns them
    /// (`skb_try_make_writable()`).
    #[inline(always)]
    pub(crate) fn writable(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.headlen() as usize {
            return None;
        }
        // SAFETY: Owned packet (type invariant).
        let cloned = unsafe { (*self.as_ptr()).cloned() } != 0;
        if cloned {
            // `len` fits in u32: it is at most `headlen`.
            // SAFETY: Owned packet (type invariant).
            let err = unsafe { bindings::rflow_skb_try_make_writable(self.as_ptr(), len as u32) };
            if err != 0 {
                return None;
            }
        }
        // SAFETY: The first `len` bytes are linear and no clone shares them any more.
        Some(unsafe { core::slice::from_raw_parts_mut((*self.as_ptr()).data, len) })
    }

    /// Returns whether a packet over `mtu` bytes is GSO and segments within the MTU.
    pub(crate) fn gso_fits_mtu(&self, mtu: u32) -> bool {
        // SAFETY: Owned packet (type invariant).
        unsafe { bindings::rflow_skb_gso_fits_mtu(self.as_ptr(), mtu) }
    }

    /// Clears the receive timestamp before forwarding (`skb_clear_tstamp()`).
    #[inline(always)]
    pub(crate) fn clear_tstamp(&mut self) {
        // SAFETY: Owned packet (type invariant).
        unsafe {
            if (*self.headers()).tstamp_type() == 0 {
                (*self.as_ptr()).__bindgen_anon_2.tstamp = 0;
            }
        }
    }

    fn refdst(&mut self) -> *mut kernel::ffi::c_ulong {
        // SAFETY: Owned packet (type invariant).
        unsafe {
            &raw mut (*self.as_ptr())
                .__bindgen_anon_3
                .__bindgen_anon_1
                ._skb_refdst
        }
    }

    /// Returns the packet's route (`skb_dst()`).
    pub(crate) fn dst(&self) -> Option<&Dst> {
        // SAFETY: Owned packet (type invariant).
        let refdst = unsafe {
            (*self.as_ptr())
                .__bindgen_anon_3
                .__bindgen_anon_1
                ._skb_refdst
        };
        let ptr = (refdst & !(bindings::RFLOW_SKB_DST_NOREF as kernel::ffi::c_ulong))
            as *const bindings::dst_entry;
        // SAFETY: The skb's (possibly RCU-protected) reference keeps the route alive while the
        // packet is processed.
        (!ptr.is_null()).then(|| unsafe { Dst::from_raw(ptr) })
    }

    /// Drops the packet's route reference (`skb_dst_drop()`).
    #[inline(always)]
    pub(crate) fn drop_dst(&mut self) {
        let refdst = self.refdst();
        // SAFETY: `refdst` points into the owned packet.
        unsafe {
            let v = *refdst;
            if v != 0 {
                let noref = bindings::RFLOW_SKB_DST_NOREF as kernel::ffi::c_ulong;
                if v & noref == 0 {
                    bindings::dst_release((v & !noref) as *mut bindings::dst_entry);
                }
                *refdst = 0;
            }
        }
    }

    /// Attaches `dst` without a reference (`skb_dst_set_noref()`), as the fast path does for
    /// the flow's cached route, which outlives the RCU section the packet is sent in.
    #[inline(always)]
    pub(crate) fn set_dst_noref(&mut self, dst: &Dst) {
        let refdst = self.refdst();
        // SAFETY: `refdst` points into the owned packet; `dst` lives until the end of the RCU
        // read-side section transmission happens in.
        unsafe {
            *refdst = dst.as_ptr() as kernel::ffi::c_ulong
                | bindings::RFLOW_SKB_DST_NOREF as kernel::ffi::c_ulong;
            (*self.headers()).set_slow_gro(1);
        }
    }

    /// Returns the device the packet is on.
    pub(crate) fn dev(&self) -> &NetDevice {
        // SAFETY: A packet being processed holds its device.
        unsafe {
            NetDevice::from_raw(
                (*self.as_ptr())
                    .__bindgen_anon_1
                    .__bindgen_anon_1
                    .__bindgen_anon_1
                    .dev,
            )
        }
    }

    /// Moves the packet to `dev` for transmission.
    #[inline(always)]
    pub(crate) fn set_dev(&mut self, dev: &NetDevice) {
        // SAFETY: Owned packet (type invariant); `dev` is held by the route that sends the packet.
        unsafe {
            (*self.as_ptr())
                .__bindgen_anon_1
                .__bindgen_anon_1
                .__bindgen_anon_1
                .dev = dev.as_ptr()
        };
    }

    /// Returns the packet's conntrack entry and `ctinfo` (`nf_ct_get()`).
    pub(crate) fn conntrack(&self) -> Option<(&Conn, u32)> {
        // SAFETY: Owned packet (type invariant).
        let nfct = unsafe { (*self.as_ptr())._nfct };
        let ptr =
            (nfct & !(bindings::NFCT_INFOMASK as kernel::ffi::c_ulong)) as *const bindings::nf_conn;
        // Truncation intended: the low bits hold `enum ip_conntrack_info`.
        let info = (nfct & bindings::NFCT_INFOMASK as kernel::ffi::c_ulong) as u32;
        // SAFETY: The packet holds a reference on its conntrack entry.
        (!ptr.is_null()).then(|| (unsafe { Conn::from_raw(ptr) }, info))
    }

    /// Returns whether the packet went through IPsec input (`skb_sec_path()`).
    pub(crate) fn has_secpath(&self) -> bool {
        // SAFETY: Owned packet (type invariant).
        unsafe { bindings::rflow_skb_has_secpath(self.as_ptr()) }
    }

    /// Returns the IPv4 option length recorded by `ip_rcv()` (`IPCB(skb)->opt.optlen`).
    ///
    /// Only meaningful in the IPv4 stack's own hooks, where `cb` holds `inet_skb_parm`.
    pub(crate) fn ipv4_optlen(&self) -> u8 {
        // SAFETY: Owned packet; `cb` is large enough for `inet_skb_parm` (a kernel build-time
        // guarantee) and any byte pattern is a valid `u8`.
        unsafe {
            let cb = (&raw const (*self.as_ptr()).cb).cast::<bindings::inet_skb_parm>();
            (*cb).opt.optlen
        }
    }

    /// Copies `buf.len()` bytes at `offset` into `buf` unless they are linear already, and
    /// returns them (`skb_header_pointer()`).
    pub(crate) fn header<'a>(&'a self, offset: usize, buf: &'a mut [u8]) -> Option<&'a [u8]> {
        let end = offset.checked_add(buf.len())?;
        if end <= self.headlen() as usize {
            return self.data().get(offset..end);
        }
        let (Ok(off), Ok(len)) = (i32::try_from(offset), i32::try_from(buf.len())) else {
            return None;
        };
        // SAFETY: Owned packet; `buf` is writable for `len` bytes.
        let ret =
            unsafe { bindings::skb_copy_bits(self.as_ptr(), off, buf.as_mut_ptr().cast(), len) };
        (ret == 0).then_some(&*buf)
    }

    /// Prepares `cb` for the IPv4 output path of a forwarded packet (`IPCB()` setup).
    pub(crate) fn set_ipv4_forwarded(&mut self) {
        let iif = self.dev().ifindex();
        // SAFETY: Owned packet; `cb` holds an `inet_skb_parm` (build-time size guarantee).
        unsafe {
            let cb = (&raw mut (*self.as_ptr()).cb).cast::<bindings::inet_skb_parm>();
            cb.write_bytes(0, 1);
            (*cb).iif = iif;
            (*cb).flags = bindings::RFLOW_IPSKB_FORWARDED as u16;
        }
    }

    /// Prepares `cb` for the IPv6 output path of a forwarded packet (`IP6CB()` setup).
    pub(crate) fn set_ipv6_forwarded(&mut self) {
        let iif = self.dev().ifindex();
        // SAFETY: Owned packet; `cb` holds an `inet6_skb_parm` (build-time size guarantee).
        unsafe {
            let cb = (&raw mut (*self.as_ptr()).cb).cast::<bindings::inet6_skb_parm>();
            cb.write_bytes(0, 1);
            (*cb).iif = iif;
            (*cb).flags = bindings::RFLOW_IP6SKB_FORWARDED as u16;
        }
    }
}

/// Neighbour tables [`HookSkb::neigh_xmit`] can resolve next hops in.
#[derive(Clone, Copy)]
pub(crate) enum NeighTable {
    /// ARP, for IPv4 next hops.
    Arp,
    /// Neighbour discovery, for IPv6 next hops.
    Nd,
}

/// A packet handed to a netfilter hook.
///
/// The hook either returns a verdict, dropping this value and leaving the packet to netfilter,
/// or transmits the packet with one of the consuming methods and returns `NF_STOLEN`. Either way
/// the packet cannot be touched once it is gone.
pub(crate) struct HookSkb<'a>(&'a mut Skb);

impl<'a> HookSkb<'a> {
    /// Wraps the packet of a hook invocation.
    ///
    /// # Safety
    ///
    /// `ptr` must be the packet of the running hook, owned by it for `'a`.
    pub(crate) unsafe fn new(ptr: *mut bindings::sk_buff) -> Self {
        // SAFETY: By the function contract.
        HookSkb(unsafe { Skb::from_raw(ptr) })
    }

    /// Transmits the packet through the neighbour layer to `nexthop` on `dev` (`neigh_xmit()`).
    pub(crate) fn neigh_xmit(self, table: NeighTable, dev: &NetDevice, nexthop: &[u8; 16]) {
        let table = match table {
            NeighTable::Arp => bindings::NEIGH_ARP_TABLE,
            NeighTable::Nd => bindings::NEIGH_ND_TABLE,
        };
        // SAFETY: The packet is owned (type invariant of `Skb`) and passed on, never used again;
        // `dev` is held by the route; `nexthop` holds an address of the table's family.
        unsafe {
            bindings::neigh_xmit(
                table as i32,
                dev.as_ptr(),
                nexthop.as_ptr().cast(),
                self.0.as_ptr(),
            )
        };
    }

    /// Transmits the packet on `dev` with a link layer header built from cached addresses
    /// (`dev_hard_header()`, `dev_queue_xmit()`), as `nf_flow_queue_xmit()` does.
    pub(crate) fn direct_xmit(
        self,
        dev: &NetDevice,
        ethertype: u16,
        dest: &[u8; 6],
        source: &[u8; 6],
    ) {
        self.0.set_dev(dev);
        let skb = self.0.as_ptr();
        // SAFETY: The packet is owned (type invariant of `Skb`) and passed on, never used again;
        // `dev` is held by the flow; the addresses are 6-byte buffers.
        unsafe {
            let len = (*skb).len;
            bindings::rflow_dev_hard_header(
                skb,
                dev.as_ptr(),
                ethertype,
                dest.as_ptr().cast(),
                source.as_ptr().cast(),
                len,
            );
            bindings::rflow_dev_queue_xmit(skb);
        }
    }

    /// Sends the packet down its route's output path (`dst_output()`), used for IPsec.
    pub(crate) fn dst_output(self, net: &Net) {
        // SAFETY: The packet is owned and passed on, never used again; it carries a route.
        unsafe {
            bindings::rflow_skb_orphan(self.0.as_ptr());
            bindings::rflow_dst_output(net.as_ptr(), self.0.as_ptr());
        }
    }
}

impl Deref for HookSkb<'_> {
    type Target = Skb;

    fn deref(&self) -> &Skb {
        self.0
    }
}

impl DerefMut for HookSkb<'_> {
    fn deref_mut(&mut self) -> &mut Skb {
        self.0
    }
}
