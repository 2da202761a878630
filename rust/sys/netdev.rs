// SPDX-License-Identifier: GPL-2.0

//! Network devices and the netdevice notifier.

use super::net::Net;
use crate::bindings;
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

    /// Returns the device's namespace.
    pub(crate) fn net(&self) -> &Net {
        // SAFETY: A registered device keeps its namespace alive.
        unsafe { Net::from_raw((*self.as_ptr()).nd_net.net) }
    }
}

/// A registered netdevice notifier; unregistered on drop.
///
/// # Invariants
///
/// `nb` is registered with `register_netdevice_notifier()` for the lifetime of the value.
#[pin_data(PinnedDrop)]
pub(crate) struct Notifier {
    #[pin]
    nb: Opaque<bindings::notifier_block>,
}

impl Notifier {
    /// Registers `call` for netdevice events.
    pub(crate) fn register(call: bindings::notifier_fn_t) -> Result<Pin<KBox<Self>>> {
        let nb = bindings::notifier_block {
            notifier_call: call,
            ..Default::default()
        };
        let this = KBox::pin(
            Notifier {
                nb: Opaque::new(nb),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `nb` is pinned in the box and initialised; unregistered on drop.
        to_result(unsafe { bindings::register_netdevice_notifier(this.nb.get()) })?;
        Ok(this)
    }
}

// SAFETY: After registration the C structures are only read by the kernel, which serialises
// its own accesses; the Rust side never touches them again until dropping, which unregisters.
unsafe impl Send for Notifier {}
// SAFETY: As above: shared references give no access to the C structures.
unsafe impl Sync for Notifier {}

#[pinned_drop]
impl PinnedDrop for Notifier {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered in `register` (type invariant).
        unsafe { bindings::unregister_netdevice_notifier(self.nb.get()) };
    }
}

/// Returns the device a netdevice notifier was called for (`netdev_notifier_info_to_dev()`).
///
/// # Safety
///
/// `ptr` must be the `ptr` argument of a netdevice notifier call, used during that call.
pub(crate) unsafe fn notifier_dev<'a>(ptr: *mut kernel::ffi::c_void) -> &'a NetDevice {
    // SAFETY: Netdevice notifiers receive a `struct netdev_notifier_info`, whose device is
    // registered (or being unregistered) for the duration of the call.
    unsafe { NetDevice::from_raw((*ptr.cast::<bindings::netdev_notifier_info>()).dev) }
}
