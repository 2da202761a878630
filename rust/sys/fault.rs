// SPDX-License-Identifier: GPL-2.0

//! rflow's fault-injection points: the flow and bucket-array allocations, failed on demand
//! through the standard fault attributes in `/sys/kernel/debug/rflow/` on kernels with
//! `CONFIG_FAULT_INJECTION_DEBUG_FS` (nothing on others).

use crate::bindings;

/// The debugfs directory of the fault attributes, present while this value lives.
///
/// # Invariants
///
/// At most one exists at a time.
pub(crate) struct FaultAttrs(());

impl FaultAttrs {
    /// Creates the debugfs files.
    ///
    /// # Safety
    ///
    /// No other `FaultAttrs` may exist: the directory has a fixed name and one static pointer.
    pub(crate) unsafe fn register() -> Self {
        // SAFETY: No other `FaultAttrs` exists (the caller's guarantee), so the directory does
        // not exist yet; the attributes it exposes are static data of this module, which outlives
        // the files because `Drop` removes them before the module goes away.
        unsafe { bindings::rflow_fault_attrs_register() };
        // INVARIANT: The only one, by the caller's guarantee.
        FaultAttrs(())
    }
}

impl Drop for FaultAttrs {
    fn drop(&mut self) {
        // SAFETY: Removes the directory `register` created; `debugfs_remove_recursive()` waits
        // for readers and writers of its files to finish.
        unsafe { bindings::rflow_fault_attrs_unregister() };
    }
}
