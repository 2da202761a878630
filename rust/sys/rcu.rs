// SPDX-License-Identifier: GPL-2.0

//! RCU read-side critical sections and grace periods.

use crate::bindings;
use core::{marker::PhantomData, ops::Deref, ptr::NonNull};

/// Proof that the current context is inside an RCU read-side critical section.
///
/// Objects published with RCU may be borrowed for as long as a `&ReadSection` is: they cannot
/// be freed before the section ends.
pub(crate) struct ReadSection {
    _not_send_sync: PhantomData<*mut ()>,
}

impl ReadSection {
    /// Returns the proof for a read-side section the caller is already in.
    ///
    /// # Safety
    ///
    /// The caller must be inside an RCU read-side critical section that lasts at least as long
    /// as `'a`, for example in a netfilter hook, which `nf_hook_slow()` runs under
    /// `rcu_read_lock()`.
    ///
    /// On kernels with `CONFIG_PROVE_RCU` the claim is checked: a caller outside any read-side
    /// section gets a lockdep "suspicious RCU usage" report.
    #[inline(always)]
    pub(crate) unsafe fn assume<'a>() -> &'a ReadSection {
        #[cfg(CONFIG_PROVE_RCU)]
        // SAFETY: Only reads lockdep's state.
        unsafe {
            bindings::rflow_rcu_assert_reader()
        };
        // SAFETY: `ReadSection` is zero-sized, so any non-null aligned pointer is a valid
        // reference to one.
        unsafe { NonNull::<ReadSection>::dangling().as_ref() }
    }
}

// SAFETY: A `&ReadSection` proves the context is in a read-side critical section for the borrow
// (see `assume` and `ReadGuard`); rflow frees table entries and bucket arrays only after a grace
// period (`call_rcu()`, `synchronize_rcu()`), which waits for such sections.
unsafe impl crate::pure::rcu_table::ReadSide for ReadSection {}

/// A read-side critical section entered by [`read_lock`] and left when dropped.
pub(crate) struct ReadGuard {
    _not_send: PhantomData<*mut ()>,
}

/// Enters an RCU read-side critical section (`rcu_read_lock()`).
pub(crate) fn read_lock() -> ReadGuard {
    // SAFETY: Always safe to call; the guard calls the matching unlock on drop, on this CPU
    // (it is not `Send`).
    unsafe { bindings::rflow_rcu_read_lock() };
    ReadGuard {
        _not_send: PhantomData,
    }
}

impl Deref for ReadGuard {
    type Target = ReadSection;

    fn deref(&self) -> &ReadSection {
        // SAFETY: The guard holds the read lock for as long as the returned borrow lives.
        unsafe { ReadSection::assume() }
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        // SAFETY: Paired with the `rflow_rcu_read_lock()` of `read_lock()`.
        unsafe { bindings::rflow_rcu_read_unlock() };
    }
}

/// Enters a read-side critical section that a later callback leaves with [`leave`], for C
/// interfaces that split a section over two callbacks (`seq_file`'s `start` and `stop`).
pub(crate) fn enter() {
    // SAFETY: Always safe to call; the caller's contract pairs it with `leave`.
    unsafe { bindings::rflow_rcu_read_lock() };
}

/// Leaves a section entered with [`enter`].
///
/// # Safety
///
/// Must pair with an [`enter`] on the same task, with no [`ReadSection`] borrowed from it left.
pub(crate) unsafe fn leave() {
    // SAFETY: Paired with `enter` (function contract).
    unsafe { bindings::rflow_rcu_read_unlock() };
}

/// Waits until every read-side critical section that started before the call has ended.
pub(crate) fn synchronize() {
    // SAFETY: Called from process context only (the GC worker and control paths).
    unsafe { bindings::synchronize_rcu() };
}

/// Lets the scheduler run something else if needed (`cond_resched()`): long walks call it between
/// read-side sections.
pub(crate) fn cond_resched() {
    // SAFETY: Process context, outside any read-side section or spinlock (callers' contract is
    // the function's: it is only called between sections).
    unsafe { bindings::rflow_cond_resched() };
}

/// Waits until every callback queued with `call_rcu()` has run.
pub(crate) fn barrier() {
    // SAFETY: Called from process context only (module exit).
    unsafe { bindings::rcu_barrier() };
}
