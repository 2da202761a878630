// SPDX-License-Identifier: GPL-2.0

//! Delayed work items embedded in C structures.

use crate::bindings;
use core::marker::PhantomData;

/// A `struct delayed_work` owned by a C object, run on `system_power_efficient_wq`.
///
/// # Invariants
///
/// `ptr` points to a delayed work item that has been initialised and outlives `'a`.
pub(crate) struct DelayedWork<'a> {
    ptr: *mut bindings::delayed_work,
    _borrow: PhantomData<&'a bindings::delayed_work>,
}

impl<'a> DelayedWork<'a> {
    /// Initialises `dwork` to run `func`.
    ///
    /// # Safety
    ///
    /// `dwork` must be valid and not queued or running.
    pub(crate) unsafe fn init(
        dwork: *mut bindings::delayed_work,
        func: unsafe extern "C" fn(*mut bindings::work_struct),
    ) {
        // SAFETY: `dwork` is valid and idle (function contract).
        unsafe { bindings::rflow_init_delayed_work(dwork, Some(func)) };
    }

    /// Wraps an initialised delayed work item.
    ///
    /// # Safety
    ///
    /// `dwork` must have been initialised and stay valid for `'a`.
    pub(crate) unsafe fn from_raw(dwork: *mut bindings::delayed_work) -> Self {
        // INVARIANT: By the function contract.
        DelayedWork {
            ptr: dwork,
            _borrow: PhantomData,
        }
    }

    /// Queues the work to run after `delay` jiffies, unless it is already queued.
    pub(crate) fn queue(&self, delay: u32) {
        // SAFETY: Initialised and alive (type invariant).
        unsafe { bindings::rflow_queue_delayed_work(self.ptr, delay as kernel::ffi::c_ulong) };
    }

    /// Queues the work to run after `delay` jiffies, moving it earlier if already queued.
    pub(crate) fn kick(&self, delay: u32) {
        // SAFETY: Initialised and alive (type invariant). Callable from softirq.
        unsafe { bindings::rflow_mod_delayed_work(self.ptr, delay as kernel::ffi::c_ulong) };
    }

    /// Cancels the work and waits for a running instance, even one that re-queues itself.
    pub(crate) fn cancel_sync(&self) {
        // SAFETY: Initialised and alive (type invariant); process context.
        unsafe { bindings::cancel_delayed_work_sync(self.ptr) };
    }
}
