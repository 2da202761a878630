// SPDX-License-Identifier: GPL-2.0

//! Delayed work items embedded in C structures.

use crate::bindings;

/// A `struct delayed_work` owned by a C object, run on `system_power_efficient_wq`.
///
/// # Invariants
///
/// `ptr` points to a delayed work item that has been initialised and outlives this value.
pub(crate) struct DelayedWork {
    ptr: *mut bindings::delayed_work,
}

impl DelayedWork {
    /// Initialises `dwork` to run `func` and wraps it.
    ///
    /// # Safety
    ///
    /// `dwork` must be valid, not queued, and outlive every use of the returned value.
    pub(crate) unsafe fn init(
        dwork: *mut bindings::delayed_work,
        func: unsafe extern "C" fn(*mut bindings::work_struct),
    ) -> Self {
        // SAFETY: `dwork` is valid and idle (function contract).
        unsafe { bindings::rflow_init_delayed_work(dwork, Some(func)) };
        // INVARIANT: Initialised just above; lifetime by the function contract.
        DelayedWork { ptr: dwork }
    }

    /// Wraps an already initialised delayed work item.
    ///
    /// # Safety
    ///
    /// `dwork` must have been initialised and must outlive every use of the returned value.
    pub(crate) unsafe fn from_raw(dwork: *mut bindings::delayed_work) -> Self {
        // INVARIANT: By the function contract.
        DelayedWork { ptr: dwork }
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

    /// Runs the work now if it is pending and waits for it to finish.
    pub(crate) fn flush(&self) {
        // SAFETY: Initialised and alive (type invariant); process context.
        unsafe { bindings::flush_delayed_work(self.ptr) };
    }

    /// Cancels the work and waits for a running instance, even one that re-queues itself.
    pub(crate) fn cancel_sync(&self) {
        // SAFETY: Initialised and alive (type invariant); process context.
        unsafe { bindings::cancel_delayed_work_sync(self.ptr) };
    }
}
