// SPDX-License-Identifier: GPL-2.0

//! Network devices and the netdevice notifier.

use super::net::Net;
use crate::bindings;
use crate::pure::l2path::{BridgeVlan, Hop, Mac, PathEntry};
use crate::pure::tuple::Encap;
use core::{ops::Deref, ptr::NonNull};
use kernel::{error::to_result, prelude::*, types::Opaque};

/// A network device (`struct net_device`).
///
/// # Invariants
///
/// A `&NetDevice` refers to a registered device that stays valid for the borrow: callers get one
/// from an object holding a reference (a dst entry, a hook state, a notifier call).
#[repr(transparent)]
pub(crate) struct NetDevice(Opaque<bindings::net_device>);

impl NetDevice {
    /// Wraps a raw device pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a device that stays valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::net_device) -> &'a NetDevice {
        // SAFETY: `NetDevice` is a transparent wrapper; validity by the function contract.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::net_device {
        self.0.get()
    }

    /// Returns the interface index.
    #[inline(always)]
    pub(crate) fn ifindex(&self) -> i32 {
        // SAFETY: Valid device (type invariant); `ifindex` does not change while registered.
        unsafe { (*self.as_ptr()).ifindex }
    }

    /// Returns the device's name (which may change under RTNL; for messages).
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: `name` is a NUL-terminated array of `IFNAMSIZ` bytes inside the live device
        // (type invariant); a rename rewrites it in place, NUL-terminated, under RTNL.
        unsafe { CStr::from_char_ptr((*self.as_ptr()).name.as_ptr()) }
    }

    /// Returns the device's namespace.
    pub(crate) fn net(&self) -> &Net {
        // SAFETY: A registered device keeps its namespace alive.
        unsafe { Net::from_raw((*self.as_ptr()).nd_net.net) }
    }

    /// Returns the device's MAC address, or zeros if it has no 6-byte address.
    pub(crate) fn mac(&self) -> Mac {
        let mut mac = [0u8; 6];
        // SAFETY: Valid device (type invariant); `dev_addr` holds `addr_len` bytes.
        unsafe {
            let dev = self.as_ptr();
            if usize::from((*dev).addr_len) == mac.len() && !(*dev).dev_addr.is_null() {
                core::ptr::copy_nonoverlapping((*dev).dev_addr, mac.as_mut_ptr(), mac.len());
            }
        }
        mac
    }

    /// Returns whether this is an Ethernet device with a valid unicast address, not loopback
    /// (`nft_is_valid_ether_device()`).
    pub(crate) fn is_valid_ether(&self) -> bool {
        // SAFETY: Valid device (type invariant).
        let (flags, ty, len) = unsafe {
            let dev = self.as_ptr();
            ((*dev).flags, (*dev).type_, (*dev).addr_len)
        };
        let mac = self.mac();
        flags & bindings::IFF_LOOPBACK == 0
            && u32::from(ty) == bindings::ARPHRD_ETHER
            && usize::from(len) == mac.len()
            // `is_valid_ether_addr()`: not multicast, not all zeros.
            && mac[0] & 1 == 0
            && mac.iter().any(|b| *b != 0)
    }

    /// Takes a tracked reference on the device (`netdev_hold()`); `gfp` is for the tracker.
    pub(crate) fn hold(&self, gfp: super::alloc::Gfp) -> NetDeviceRef {
        let mut r = NetDeviceRef {
            dev: NonNull::from(self),
            tracker: Default::default(),
        };
        // SAFETY: Valid device (type invariant); the tracker slot is ours.
        unsafe { bindings::rflow_netdev_hold(self.as_ptr(), &mut r.tracker, gfp.raw()) };
        // INVARIANT: The reference was just taken and recorded in `r.tracker`.
        r
    }

    /// Walks the devices below this one towards `daddr` (`dev_fill_forward_path()`), and calls
    /// `f` on each entry, with its device, in path order. Returns false if there is no path.
    pub(crate) fn forward_path(
        &self,
        daddr: &Mac,
        mut f: impl FnMut(PathEntry, &NetDevice),
    ) -> bool {
        let mut stack = bindings::net_device_path_stack::default();
        // SAFETY: Valid device (type invariant); `stack` and `daddr` are valid locals. The walk
        // reads RCU-protected device links: callers are in a read-side section (the `flow add`
        // expression).
        if unsafe { bindings::dev_fill_forward_path(self.as_ptr(), daddr.as_ptr(), &mut stack) } < 0
        {
            return false;
        }
        let n = usize::try_from(stack.num_paths)
            .unwrap_or(0)
            .min(stack.path.len());
        for p in &stack.path[..n] {
            // SAFETY: `dev_fill_forward_path()` fills `dev` with a device alive for the section.
            let dev = unsafe { NetDevice::from_raw(p.dev) };
            // SAFETY: The union view read is the one the path type selects; plain data.
            let hop = unsafe {
                let u = &p.__bindgen_anon_1;
                let encap = Encap {
                    id: u.encap.id,
                    proto: u16::from_be(u.encap.proto),
                };
                match p.type_ {
                    bindings::DEV_PATH_ETHERNET => Hop::Ethernet,
                    bindings::DEV_PATH_VLAN => Hop::Vlan(encap),
                    bindings::DEV_PATH_PPPOE => Hop::Pppoe(encap, u.encap.h_dest),
                    bindings::DEV_PATH_DSA => Hop::Dsa,
                    bindings::DEV_PATH_BRIDGE => {
                        let mode = match u.bridge.vlan_mode {
                            bindings::DEV_PATH_BR_VLAN_TAG => BridgeVlan::Tag,
                            bindings::DEV_PATH_BR_VLAN_UNTAG => BridgeVlan::Untag,
                            bindings::DEV_PATH_BR_VLAN_UNTAG_HW => BridgeVlan::UntagHw,
                            _ => BridgeVlan::Keep,
                        };
                        let vlan = Encap {
                            id: u.bridge.vlan_id,
                            proto: u16::from_be(u.bridge.vlan_proto),
                        };
                        Hop::Bridge(mode, vlan)
                    }
                    _ => Hop::Other,
                }
            };
            let entry = PathEntry {
                hop,
                ifindex: dev.ifindex() as u32,
                addr: dev.mac(),
            };
            f(entry, dev);
        }
        true
    }
}

/// Returns the MAC address of device `ifindex` of namespace `net`, if it exists.
pub(crate) fn mac_by_index(net: &Net, ifindex: u32) -> Option<Mac> {
    let _rcu = super::rcu::read_lock();
    let ifindex = i32::try_from(ifindex).ok()?;
    // SAFETY: `net` is a live namespace; the read-side section is held.
    let dev = unsafe { bindings::dev_get_by_index_rcu(net.as_ptr(), ifindex) };
    if dev.is_null() {
        return None;
    }
    // SAFETY: A device found under RCU stays allocated until the section ends.
    Some(unsafe { NetDevice::from_raw(dev) }.mac())
}

/// A tracked reference to a [`NetDevice`] (`netdev_hold()`), dropped with `netdev_put()`.
///
/// Not an `ARef`: each reference carries its own tracker, so that on kernels with
/// `CONFIG_NET_DEV_REFCNT_TRACKER` an unregistration stuck on a reference shows who holds it.
///
/// # Invariants
///
/// `dev` is valid and this value owns one reference on it, recorded in `tracker`. The device
/// may be unregistered meanwhile (unregistration waits for the reference); rflow's netdevice
/// notifier tears down the flows holding it.
pub(crate) struct NetDeviceRef {
    dev: NonNull<NetDevice>,
    tracker: bindings::netdevice_tracker,
}

// SAFETY: Device references are per-CPU/atomic counts with a heap-allocated tracker, dropped
// from any context.
unsafe impl Send for NetDeviceRef {}
// SAFETY: `&NetDeviceRef` only gives `&NetDevice`, whose methods are safe concurrently.
unsafe impl Sync for NetDeviceRef {}

impl Deref for NetDeviceRef {
    type Target = NetDevice;

    fn deref(&self) -> &NetDevice {
        // SAFETY: The reference keeps the device valid (type invariant).
        unsafe { self.dev.as_ref() }
    }
}

impl Drop for NetDeviceRef {
    fn drop(&mut self) {
        // SAFETY: This value owns one reference, recorded in `tracker` (type invariant).
        unsafe { bindings::rflow_netdev_put(self.dev.as_ref().as_ptr(), &mut self.tracker) };
    }
}

/// Netdevice notifier events rflow acts on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum NetdevEvent {
    /// The device went down (`NETDEV_DOWN`).
    Down,
    /// The device is being unregistered (`NETDEV_UNREGISTER`, repeated while references
    /// remain).
    Unregister,
}

/// A netdevice notifier's handler.
pub(crate) trait NetdevNotify: 'static {
    /// Handles an event, under RTNL, in process context.
    fn event(event: NetdevEvent, dev: &NetDevice);
}

/// A registered netdevice notifier; unregistered on drop.
///
/// # Invariants
///
/// `nb` is registered with `register_netdevice_notifier()` for the lifetime of the value.
#[pin_data(PinnedDrop)]
pub(crate) struct Notifier<T: NetdevNotify> {
    #[pin]
    nb: Opaque<bindings::notifier_block>,
    _t: core::marker::PhantomData<T>,
}

impl<T: NetdevNotify> Notifier<T> {
    /// Registers `T` for netdevice events.
    pub(crate) fn register() -> Result<Pin<KBox<Self>>> {
        let this = KBox::pin(
            Notifier {
                nb: Opaque::new(bindings::notifier_block {
                    notifier_call: Some(notifier_callback::<T>),
                    ..Default::default()
                }),
                _t: core::marker::PhantomData,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `nb` is pinned in the box and initialised; unregistered on drop.
        to_result(unsafe { bindings::register_netdevice_notifier(this.nb.get()) })?;
        Ok(this)
    }
}

// SAFETY: After registration the C structures are only read by the kernel.
unsafe impl<T: NetdevNotify> Send for Notifier<T> {}
// SAFETY: As above: shared references give no access to them.
unsafe impl<T: NetdevNotify> Sync for Notifier<T> {}

#[pinned_drop]
impl<T: NetdevNotify> PinnedDrop for Notifier<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered in `register` (type invariant).
        unsafe { bindings::unregister_netdevice_notifier(self.nb.get()) };
    }
}

/// Passes the events `T` handles on to it.
///
/// # Safety
///
/// Called by the netdevice notifier chain, under RTNL, with a `netdev_notifier_info`.
unsafe extern "C" fn notifier_callback<T: NetdevNotify>(
    _nb: *mut bindings::notifier_block,
    event: kernel::ffi::c_ulong,
    ptr: *mut kernel::ffi::c_void,
) -> kernel::ffi::c_int {
    let event = match event as u32 {
        bindings::NETDEV_DOWN => NetdevEvent::Down,
        bindings::NETDEV_UNREGISTER => NetdevEvent::Unregister,
        _ => return bindings::NOTIFY_DONE as kernel::ffi::c_int,
    };
    // SAFETY: Netdevice notifiers receive a `struct netdev_notifier_info`, whose device is
    // registered (or being unregistered) for the duration of the call.
    let dev = unsafe { NetDevice::from_raw((*ptr.cast::<bindings::netdev_notifier_info>()).dev) };
    T::event(event, dev);
    bindings::NOTIFY_DONE as kernel::ffi::c_int
}
