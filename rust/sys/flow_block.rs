// SPDX-License-Identifier: GPL-2.0

//! A flowtable's flow block: the list of driver callbacks (`struct flow_block_cb`) that
//! hardware offload hands flow rules to, bound and unbound per device through `TC_SETUP_FT`.
//!
//! The list and lock handling is C (`include/rflow_offload.c`), written exactly as 6.12's
//! `nf_flow_table_offload.c` does it because drivers depend on it; this module gives it a safe
//! interface.

use super::{netdev::NetDevice, nft::NfFlowtable};
use crate::bindings;
use kernel::{error::to_result, ffi::c_char, prelude::*, str::CStr};

/// What a flowtable does when an indirect driver (one that offloads for devices it does not
/// own, such as VLAN or tunnel devices) goes away while bound.
pub(crate) trait IndirectCleanup {
    /// Tears down, in software and hardware, the flows of `nf` through `dev`. The driver's
    /// callback is still bound while this runs, so the flows' DESTROY reaches it.
    fn indirect_cleanup(nf: &NfFlowtable, dev: &NetDevice);
}

/// Installs `T`'s cleanup as the one `include/rflow_offload.c` calls; rflow has one flowtable
/// implementation, installed once at module load before any flowtable exists.
pub(crate) fn set_indirect_cleanup<T: IndirectCleanup>() {
    // SAFETY: The callback stays valid for the module's life: it is code of this module, and no
    // indirect binding outlives the module's flowtables.
    unsafe { bindings::rflow_set_indr_cleanup(Some(indirect_cleanup_callback::<T>)) };
}

/// # Safety
///
/// Called by `rflow_indr_cleanup()` with a bound flowtable of this module and the device of the
/// callback being removed; both are alive for the call.
unsafe extern "C" fn indirect_cleanup_callback<T: IndirectCleanup>(
    ft: *mut bindings::nf_flowtable,
    dev: *mut bindings::net_device,
) {
    // SAFETY: The indirect core calls this for a binding rflow made, which UNBIND removes before
    // the flowtable is freed; the device is held by its binding (function contract).
    let (nf, dev) = unsafe { (NfFlowtable::from_raw(ft), NetDevice::from_raw(dev)) };
    T::indirect_cleanup(nf, dev);
}

/// Why binding a device to a flowtable's flow block failed.
pub(crate) struct BindError {
    /// The driver's error.
    pub(crate) error: Error,
    /// The driver's extack message, if it gave one.
    pub(crate) message: Option<&'static CStr>,
}

/// How a device was bound.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Binding {
    /// Through its own driver's `ndo_setup_tc()`.
    Direct,
    /// Through the indirect drivers (`flow_indr_dev_setup_offload()`).
    Indirect,
}

/// Binds (`bind == true`) or unbinds the driver callbacks of `dev` to `nf`'s flow block:
/// `ndo_setup_tc(TC_SETUP_FT)` for devices that have it, the indirect drivers otherwise
/// (`nf_flow_table_offload_setup()`). A device nothing can offload for fails with
/// `EOPNOTSUPP`. `first_indirect` says that no device of `nf` is bound indirectly yet, so a
/// failed indirect binding leaves no replay record behind.
pub(crate) fn setup(
    nf: &NfFlowtable,
    dev: &NetDevice,
    bind: bool,
    first_indirect: bool,
) -> Result<Binding, BindError> {
    let cmd = if bind {
        bindings::FLOW_BLOCK_BIND
    } else {
        bindings::FLOW_BLOCK_UNBIND
    };
    let mut msg: *const c_char = core::ptr::null();
    let mut indirect = false;
    // SAFETY: `nf` is between `init` and `free`, so its flow block and lock are initialised
    // (`rflow_nf_flowtable_init_block()` in `init`); `dev` is one of its devices, held by
    // nf_tables for the call; `msg` and `indirect` are valid out pointers.
    let ret = unsafe {
        bindings::rflow_ft_block_offload(
            nf.as_ptr(),
            dev.as_ptr(),
            cmd,
            first_indirect,
            &mut indirect,
            &mut msg,
        )
    };
    to_result(ret)
        .map(|()| {
            if indirect {
                Binding::Indirect
            } else {
                Binding::Direct
            }
        })
        .map_err(|error| BindError {
            error,
            // SAFETY: Drivers set extack messages with `NL_SET_ERR_MSG*()`, which only takes
            // string literals: static and NUL-terminated.
            message: (!msg.is_null()).then(|| unsafe { CStr::from_char_ptr(msg) }),
        })
}

/// A `struct nf_flow_rule` (a `flow_rule` with its match storage) built from a
/// [`bindings::rflow_hw_rule`]; freed, with the references its `REDIRECT` holds, when dropped.
///
/// # Invariants
///
/// `ptr` was returned by `rflow_flow_rule_build()` and is freed only by `drop`.
pub(crate) struct FlowRule {
    ptr: core::ptr::NonNull<bindings::nf_flow_rule>,
}

impl FlowRule {
    /// Builds the kernel's rule in namespace `net` (where `REDIRECT` devices are looked up).
    /// Process context: allocates with `GFP_KERNEL`.
    pub(crate) fn build(net: &super::net::Net, rule: &bindings::rflow_hw_rule) -> Result<Self> {
        let mut err = 0;
        // SAFETY: `net` is a live namespace, `rule` a valid description, `err` a valid out
        // pointer.
        let ptr = unsafe { bindings::rflow_flow_rule_build(net.as_ptr(), rule, &mut err) };
        match core::ptr::NonNull::new(ptr) {
            // INVARIANT: Built here, freed by `drop`.
            Some(ptr) => Ok(FlowRule { ptr }),
            None if err < 0 => Err(Error::from_errno(err)),
            None => Err(ENOMEM),
        }
    }
}

impl Drop for FlowRule {
    fn drop(&mut self) {
        // SAFETY: Built by `rflow_flow_rule_build()` and not freed yet (type invariant); no
        // driver keeps it beyond the callback that received it.
        unsafe { bindings::rflow_flow_rule_free(self.ptr.as_ptr()) };
    }
}

/// A command for the drivers bound to a flowtable.
pub(crate) enum Command<'a> {
    /// Install `rule` (`FLOW_CLS_REPLACE`).
    Replace(&'a FlowRule),
    /// Remove the rule (`FLOW_CLS_DESTROY`).
    Destroy,
    /// Read the rule's counters since the last read (`FLOW_CLS_STATS`).
    Stats,
}

/// What the drivers reported for a STATS command, summed over all of them.
#[derive(Default)]
pub(crate) struct HwStats {
    /// Packets since the last read.
    pub(crate) packets: u64,
    /// Bytes since the last read.
    pub(crate) bytes: u64,
    /// When the rule last matched, in jiffies (0: never).
    pub(crate) lastused: u64,
}

/// What the drivers answered to one command.
pub(crate) struct Answer {
    /// Callbacks that accepted it.
    pub(crate) accepted: u32,
    /// Callbacks that failed it with an error other than "not mine" (`-ENOENT`,
    /// `-EOPNOTSUPP`): their hardware may or may not have done it.
    pub(crate) failed: u32,
    /// For STATS: the counters.
    pub(crate) stats: HwStats,
}

/// Sends `cmd` for the rule identified by `cookie` to every driver callback bound to `nf`
/// (`nf_flow_offload_tuple()`). Process context: drivers may sleep.
pub(crate) fn call(nf: &NfFlowtable, cookie: usize, cmd: Command<'_>) -> Answer {
    let (raw, rule) = match cmd {
        Command::Replace(r) => (bindings::FLOW_CLS_REPLACE, r.ptr.as_ptr()),
        Command::Destroy => (bindings::FLOW_CLS_DESTROY, core::ptr::null_mut()),
        Command::Stats => (bindings::FLOW_CLS_STATS, core::ptr::null_mut()),
    };
    let mut stats = bindings::flow_stats::default();
    let mut failed = 0;
    // SAFETY: `nf` is between `init` and `free` with its flow block initialised; `rule` is a
    // live rule for REPLACE (borrowed for the call) and unused otherwise; `stats` and `failed`
    // are valid out pointers.
    let accepted = unsafe {
        bindings::rflow_ft_block_call(nf.as_ptr(), raw, cookie as _, rule, &mut stats, &mut failed)
    };
    Answer {
        accepted: accepted.max(0) as u32,
        failed,
        stats: HwStats {
            packets: stats.pkts,
            bytes: stats.bytes,
            lastused: stats.lastused,
        },
    }
}

/// The per-namespace sysctl `net.rflow.hw_offload_best_effort`, registered while the value
/// lives.
pub(crate) struct BestEffortSysctl(());

impl BestEffortSysctl {
    /// Registers the sysctl in every namespace, present and future.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: Registers pernet operations of the C plumbing, unregistered by `drop`.
        to_result(unsafe { bindings::rflow_offload_sysctl_register() })?;
        Ok(BestEffortSysctl(()))
    }
}

impl Drop for BestEffortSysctl {
    fn drop(&mut self) {
        // SAFETY: Registered by `register`.
        unsafe { bindings::rflow_offload_sysctl_unregister() };
    }
}

/// Returns whether namespace `net` wants `flags offload` flowtables to load even when some of
/// their devices cannot offload (`net.rflow.hw_offload_best_effort`).
pub(crate) fn best_effort(net: &super::net::Net) -> bool {
    // SAFETY: `net` is live; the sysctl's pernet data exists while flowtables can be set up
    // (registered before the flowtable types, unregistered after them).
    unsafe { bindings::rflow_hw_best_effort(net.as_ptr()) }
}
