// SPDX-License-Identifier: GPL-2.0

//! Network namespaces.

use crate::bindings;
use kernel::types::Opaque;

/// A network namespace (`struct net`).
///
/// # Invariants
///
/// A `&Net` refers to a live namespace: callers obtain one only from an object that keeps its
/// namespace alive (a conntrack entry, a device, a flowtable, a pernet callback).
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

impl Net {
    /// Wraps a raw namespace pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live namespace that outlives `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::net) -> &'a Net {
        // SAFETY: `Net` is a transparent wrapper; validity by the function contract.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }

    /// Returns `net.netfilter.nf_flowtable_tcp_timeout`, in jiffies.
    pub(crate) fn tcp_offload_timeout(&self) -> u32 {
        // SAFETY: Live namespace (type invariant); a sysctl-backed word, read as `READ_ONCE()`.
        unsafe {
            core::ptr::read_volatile(&raw const (*self.as_ptr()).ct.nf_ct_proto.tcp.offload_timeout)
        }
    }

    /// Returns `net.netfilter.nf_flowtable_udp_timeout`, in jiffies.
    pub(crate) fn udp_offload_timeout(&self) -> u32 {
        // SAFETY: As for `tcp_offload_timeout`.
        unsafe {
            core::ptr::read_volatile(&raw const (*self.as_ptr()).ct.nf_ct_proto.udp.offload_timeout)
        }
    }

    /// Returns the conntrack timeout of TCP state `state` (`nf_tcp_pernet()->timeouts`).
    pub(crate) fn tcp_timeout(&self, state: u8) -> u32 {
        // SAFETY: Live namespace (type invariant).
        let timeouts = unsafe { &raw const (*self.as_ptr()).ct.nf_ct_proto.tcp.timeouts };
        // SAFETY: `timeouts` points to an array of the size below; sysctl-backed words.
        unsafe {
            let len = (*timeouts).len();
            if usize::from(state) < len {
                core::ptr::read_volatile(timeouts.cast::<u32>().add(state.into()))
            } else {
                0
            }
        }
    }

    /// Returns the conntrack timeout of a UDP entry, replied or not.
    pub(crate) fn udp_timeout(&self, replied: bool) -> u32 {
        let idx = if replied {
            bindings::UDP_CT_REPLIED
        } else {
            bindings::UDP_CT_UNREPLIED
        } as usize;
        // SAFETY: Live namespace (type invariant); `idx` is one of the two array slots.
        unsafe {
            core::ptr::read_volatile(
                (&raw const (*self.as_ptr()).ct.nf_ct_proto.udp.timeouts)
                    .cast::<u32>()
                    .add(idx),
            )
        }
    }

    /// Returns the namespace's `/proc/net` directory.
    pub(crate) fn proc_dir(&self) -> *mut bindings::proc_dir_entry {
        // SAFETY: Live namespace (type invariant).
        unsafe { (*self.as_ptr()).proc_net }
    }
}

/// Returns whether `net` is the initial namespace.
pub(crate) fn is_init_net(net: &Net) -> bool {
    core::ptr::eq(net.as_ptr(), &raw const bindings::init_net)
}
