// SPDX-License-Identifier: GPL-2.0

//! Objects that live as long as the module and must be found from C callbacks.

use core::{
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::prelude::*;

/// A module-lifetime object, owned by the module's state and published here so that callbacks
/// the kernel calls without a context pointer (RCU callbacks, notifiers of other subsystems) can
/// reach it.
///
/// # Invariants
///
/// While published, `ptr` points to the object owned by the [`Published`] guard, which is
/// dropped (unpublishing it) only in module exit, after every registration that could call
/// [`Global::get`] is gone.
pub(crate) struct Global<T> {
    ptr: AtomicPtr<T>,
}

impl<T> Global<T> {
    /// An unpublished global.
    pub(crate) const fn new() -> Self {
        Global {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Publishes `obj` until the returned guard is dropped; fails if something is published.
    pub(crate) fn publish(&'static self, obj: KBox<T>) -> Result<Published<T>> {
        let raw = KBox::into_raw(obj);
        if self
            .ptr
            .compare_exchange(ptr::null_mut(), raw, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `raw` came from `KBox::into_raw` just above and was published nowhere.
            drop(unsafe { KBox::from_raw(raw) });
            return Err(EBUSY);
        }
        Ok(Published { global: self })
    }

    /// Returns the published object.
    ///
    /// # Panics
    ///
    /// Never in rflow: every caller runs between module init and exit (see the type invariant);
    /// a call outside that window would be a bug in the module's registration order.
    #[inline(always)]
    pub(crate) fn get(&self) -> &T {
        let p = NonNull::new(self.ptr.load(Ordering::Acquire));
        // SAFETY: While published the object is alive, and it is unpublished only after every
        // caller is gone (type invariant).
        unsafe {
            p.expect("rflow: module global used outside the module's life")
                .as_ref()
        }
    }
}

/// Keeps a [`Global`] published; dropping it unpublishes and frees the object.
pub(crate) struct Published<T: 'static> {
    global: &'static Global<T>,
}

impl<T> Drop for Published<T> {
    fn drop(&mut self) {
        let raw = self.global.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
        if !raw.is_null() {
            // SAFETY: Published by `publish` from `KBox::into_raw`; unpublished just above, and no
            // caller of `get` is left (type invariant).
            drop(unsafe { KBox::from_raw(raw) });
        }
    }
}
