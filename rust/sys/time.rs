// SPDX-License-Identifier: GPL-2.0

//! Jiffies, the clock of flow and conntrack timeouts.

use crate::bindings;

/// Ticks per second.
pub(crate) const HZ: u32 = bindings::RFLOW_HZ;

/// One day in jiffies (`NF_CT_DAY`), the conntrack timeout of an offloaded connection.
pub(crate) const CT_DAY: u32 = bindings::RFLOW_NF_CT_DAY;

/// Returns the low 32 bits of `jiffies` (`nf_flowtable_time_stamp`, `nfct_time_stamp`).
#[inline(always)]
pub(crate) fn now() -> u32 {
    // SAFETY: `jiffies` is a naturally aligned word that the timer interrupt updates; a volatile
    // load is C's `READ_ONCE(jiffies)`.
    let j = unsafe { core::ptr::read_volatile(&raw const bindings::jiffies) };
    // Truncation intended: timeouts are 32-bit stamps compared with wrapping arithmetic.
    j as u32
}

/// Returns the monotonic clock in nanoseconds (`ktime_get_ns()`).
pub(crate) fn ktime_ns() -> u64 {
    // SAFETY: Always safe to call.
    unsafe { bindings::rflow_ktime_ns() }
}

/// Sleeps for at least `ms` milliseconds (`msleep()`). Process context.
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: Callers are in process context, where sleeping is allowed.
    unsafe { bindings::msleep(ms) };
}
