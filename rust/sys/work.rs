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

/// A workqueue of rflow's own (`alloc_workqueue()`), destroyed when dropped.
///
/// # Invariants
///
/// `ptr` is a workqueue this value allocated and has not destroyed.
pub(crate) struct Workqueue {
    ptr: core::ptr::NonNull<bindings::workqueue_struct>,
}

// SAFETY: Workqueues are used from any context and thread; the kernel synchronises them.
unsafe impl Send for Workqueue {}
// SAFETY: As above.
unsafe impl Sync for Workqueue {}

impl Workqueue {
    /// Allocates an unbound workqueue named `name` (visible in sysfs, like C's flowtable
    /// queues).
    pub(crate) fn new(name: &'static core::ffi::CStr) -> kernel::error::Result<Self> {
        // SAFETY: `name` is a NUL-terminated string that outlives the queue.
        let ptr = unsafe { bindings::rflow_alloc_workqueue(name.as_ptr().cast()) };
        // INVARIANT: Allocated here, destroyed only by `drop`.
        Ok(Workqueue {
            ptr: core::ptr::NonNull::new(ptr).ok_or(kernel::error::code::ENOMEM)?,
        })
    }

    /// Returns the queue, to enqueue work items on.
    pub(crate) fn queue(&self) -> &kernel::workqueue::Queue {
        // SAFETY: A live workqueue (type invariant) for the borrow of `self`; the kernel crate's
        // and rflow's bindings declare the same C structure.
        unsafe { kernel::workqueue::Queue::from_raw(self.ptr.as_ptr().cast()) }
    }

    /// Waits until every item queued so far has run (`flush_workqueue()`). Process context.
    pub(crate) fn flush(&self) {
        // SAFETY: A live workqueue (type invariant).
        unsafe { bindings::__flush_workqueue(self.ptr.as_ptr()) };
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        // SAFETY: Allocated by `new` and not destroyed yet (type invariant); destroying drains
        // what is still queued.
        unsafe { bindings::destroy_workqueue(self.ptr.as_ptr()) };
    }
}
