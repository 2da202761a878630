// SPDX-License-Identifier: GPL-2.0

//! Per-namespace data of a pernet subsystem (`register_pernet_subsys()` with `id` and `size`).

use super::net::Net;
use crate::bindings;
use core::{
    marker::PhantomData,
    mem::size_of,
    sync::atomic::{AtomicBool, Ordering},
};
use kernel::{ffi::c_int, init::PinInit, prelude::*, types::Opaque};

/// Data rflow keeps in every network namespace.
///
/// The pernet core allocates it (zeroed) before [`PernetData::init`] builds it in place, and
/// frees it after *every* subsystem's exit has run for the namespace, not just this one's: other
/// subsystems torn down later (nf_tables, which frees the flowtables) may still use it. It is
/// therefore never dropped, and must own nothing that needs dropping (checked at compile time).
pub(crate) trait PernetData: Sized + Send + Sync + 'static {
    /// Returns the slot id of this data, a static the pernet core fills in at registration.
    fn id() -> &'static PernetId;

    /// Builds the data of a namespace being set up.
    fn init(net: &Net) -> impl PinInit<Self, Error>;

    /// The namespace is going away (or the module unloads): undo what `init` registered
    /// elsewhere. The data stays readable afterwards.
    fn exit(&self, net: &Net);

    /// Returns the data of `net`, or `None` while the subsystem is not registered.
    fn of(net: &Net) -> Option<&Self> {
        let id = Self::id();
        if !id.registered.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: Registered: every live namespace holds an initialised `Self` in this slot,
        // valid until the namespace is freed, which the borrow of `net` rules out.
        Some(unsafe { &*id.slot::<Self>(net.as_ptr()) })
    }
}

/// The `net_generic` slot id of a [`PernetData`] type (the `unsigned int` C keeps in a static).
///
/// # Invariants
///
/// `id` is written by the pernet core while registering and only read afterwards; `registered`
/// is true only between a successful registration and the start of unregistration.
pub(crate) struct PernetId {
    id: Opaque<kernel::ffi::c_uint>,
    registered: AtomicBool,
}

// SAFETY: The id is written once by the pernet core under its own lock before any reader can see
// `registered` set, and read-only afterwards.
unsafe impl Sync for PernetId {}

impl PernetId {
    /// A slot id to be filled in at registration.
    pub(crate) const fn new() -> Self {
        PernetId {
            id: Opaque::uninit(),
            registered: AtomicBool::new(false),
        }
    }

    /// Returns the data slot of `T` in `net`.
    ///
    /// # Safety
    ///
    /// The subsystem of `T` must be registered (or being registered or unregistered, within one
    /// of its callbacks), and `net` live.
    unsafe fn slot<T>(&self, net: *const bindings::net) -> *mut T {
        // SAFETY: The id is valid (contract); the pernet core allocated `size_of::<T>()` bytes
        // at this slot of `net`.
        unsafe { bindings::rflow_net_generic(net, *self.id.get()).cast::<T>() }
    }
}

/// A registered pernet subsystem with data `T` in every namespace; unregistered on drop, which
/// runs [`PernetData::exit`] in every namespace and frees the data.
///
/// # Invariants
///
/// `ops` is registered with `T::id()` and `size_of::<T>()` while the value exists.
#[pin_data(PinnedDrop)]
pub(crate) struct Pernet<T: PernetData> {
    #[pin]
    ops: Opaque<bindings::pernet_operations>,
    _t: PhantomData<T>,
}

// SAFETY: After registration the C structure is only used by the pernet core.
unsafe impl<T: PernetData> Send for Pernet<T> {}
// SAFETY: As above: shared references give no access to it.
unsafe impl<T: PernetData> Sync for Pernet<T> {}

impl<T: PernetData> Pernet<T> {
    const NO_DROP: () = assert!(
        !core::mem::needs_drop::<T>(),
        "pernet data is never dropped"
    );

    /// Registers the subsystem, which builds `T` in every existing and future namespace.
    pub(crate) fn register() -> Result<Pin<KBox<Self>>> {
        #[allow(clippy::let_unit_value)]
        let () = Self::NO_DROP;
        let this = KBox::pin(
            Pernet {
                ops: Opaque::new(bindings::pernet_operations {
                    init: Some(init_callback::<T>),
                    exit: Some(exit_callback::<T>),
                    id: T::id().id.get(),
                    size: size_of::<T>(),
                    ..Default::default()
                }),
                _t: PhantomData,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `ops` is initialised and pinned; unregistered on drop.
        kernel::error::to_result(unsafe { bindings::register_pernet_subsys(this.ops.get()) })?;
        // INVARIANT: Registered.
        T::id().registered.store(true, Ordering::Release);
        Ok(this)
    }
}

#[pinned_drop]
impl<T: PernetData> PinnedDrop for Pernet<T> {
    fn drop(self: Pin<&mut Self>) {
        T::id().registered.store(false, Ordering::Release);
        // SAFETY: Registered in `register` (type invariant).
        unsafe { bindings::unregister_pernet_subsys(self.ops.get()) };
    }
}

/// Builds `T` for a new namespace.
///
/// # Safety
///
/// Called by the pernet core for the operations of a `Pernet<T>`, with a namespace being set up
/// whose data slot is allocated.
unsafe extern "C" fn init_callback<T: PernetData>(net: *mut bindings::net) -> c_int {
    // SAFETY: The pernet core calls this with the namespace being set up.
    let n = unsafe { Net::from_raw(net) };
    // SAFETY: Called while registering or for a new namespace: the id is valid and the slot
    // allocated and unused; the data is never moved.
    match unsafe { T::init(n).__pinned_init(T::id().slot::<T>(net)) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Tells `T` its namespace is going away.
///
/// # Safety
///
/// Called by the pernet core for the operations of a `Pernet<T>` whose `init` succeeded on `net`.
unsafe extern "C" fn exit_callback<T: PernetData>(net: *mut bindings::net) {
    // SAFETY: The pernet core calls this with a namespace being dismantled.
    let n = unsafe { Net::from_raw(net) };
    // SAFETY: `init` built the data in this slot; it stays allocated after exit.
    let data = unsafe { &*T::id().slot::<T>(net) };
    data.exit(n);
}
