// SPDX-License-Identifier: GPL-2.0

//! A spinlock that disables bottom halves while held.

use crate::bindings;
use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    ops::{Deref, DerefMut},
};
use kernel::{prelude::*, types::Opaque};

/// A spinlock taken with `spin_lock_bh()`.
///
/// rflow's writer locks are taken both in softirq context (the packet path inserts flows) and
/// in process context (the GC worker removes them); with bottom halves enabled, a softirq could
/// interrupt the holder on its own CPU and spin forever. The kernel crate of 6.12 has no such
/// lock, hence this one.
#[pin_data]
pub(crate) struct BhSpinLock<T> {
    #[pin]
    lock: Opaque<bindings::spinlock_t>,
    data: UnsafeCell<T>,
}

// SAFETY: The lock serialises every access to `data`, so the lock may be sent to or shared with
// other threads whenever `T` may be sent.
unsafe impl<T: Send> Send for BhSpinLock<T> {}
// SAFETY: As above.
unsafe impl<T: Send> Sync for BhSpinLock<T> {}

impl<T> BhSpinLock<T> {
    /// Creates a lock protecting `data`.
    pub(crate) fn new(data: T) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `spin_lock_init()` initialises the lock in place; it is pinned from here on.
            lock <- Opaque::ffi_init(|p| unsafe { bindings::rflow_spin_lock_init(p) }),
            data: UnsafeCell::new(data),
        })
    }

    /// Acquires the lock, with bottom halves disabled until the guard is dropped.
    pub(crate) fn lock(&self) -> BhGuard<'_, T> {
        // SAFETY: The lock was initialised by `new` and is pinned.
        unsafe { bindings::rflow_spin_lock_bh(self.lock.get()) };
        // INVARIANT: The lock is held from here until the guard is dropped.
        BhGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }
}

/// A held [`BhSpinLock`].
///
/// # Invariants
///
/// The lock is held for as long as the guard exists, on the CPU that took it.
pub(crate) struct BhGuard<'a, T> {
    lock: &'a BhSpinLock<T>,
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for BhGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: The lock is held (type invariant), so nothing else accesses `data`.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for BhGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: The lock is held (type invariant), so nothing else accesses `data`.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for BhGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: The lock is held by this guard (type invariant).
        unsafe { bindings::rflow_spin_unlock_bh(self.lock.lock.get()) };
    }
}
