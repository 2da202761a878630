// SPDX-License-Identifier: GPL-2.0

//! The nf_tables objects a flowtable implementation receives, and the interfaces it implements:
//! flowtable types ([`flowtable`]) and expressions ([`expr`]).

pub(crate) mod expr;
pub(crate) mod flowtable;

use super::{net::Net, netdev::NetDevice, skb::Skb};
use crate::bindings;
use core::{ffi::CStr, mem::offset_of};
use kernel::types::Opaque;

/// A netfilter verdict.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Verdict {
    /// Continue on the classic path.
    Accept,
    /// Drop the packet.
    Drop,
    /// The hook took the packet (transmitted it).
    Stolen,
}

impl Verdict {
    /// Returns the `NF_*` value netfilter expects.
    pub(crate) fn to_nf(self) -> u32 {
        match self {
            Verdict::Accept => bindings::NF_ACCEPT,
            Verdict::Drop => bindings::NF_DROP,
            Verdict::Stolen => bindings::NF_STOLEN,
        }
    }
}

/// The flowtable part nf_tables hands to a flowtable type (`struct nf_flowtable`).
///
/// It is embedded, as `data`, in nf_tables' `struct nft_flowtable`.
///
/// # Invariants
///
/// A `&NfFlowtable` refers to a flowtable between its type's `init` and `free` calls. When its
/// type is one of rflow's, the storage of its `rhashtable` member is rflow's private slot (see
/// [`NfFlowtable::private`]); nothing else touches that member for such a flowtable.
#[repr(transparent)]
pub(crate) struct NfFlowtable(Opaque<bindings::nf_flowtable>);

impl NfFlowtable {
    /// Wraps a raw flowtable pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a flowtable between `init` and `free` for all of `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::nf_flowtable) -> &'a NfFlowtable {
        // SAFETY: `NfFlowtable` is a transparent wrapper; validity by the function contract.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::nf_flowtable {
        self.0.get()
    }

    /// Returns the flowtable type nf_tables created this flowtable with.
    pub(crate) fn type_ptr(&self) -> *const bindings::nf_flowtable_type {
        // SAFETY: Set by nf_tables before `init`, never changed (type invariant).
        unsafe { (*self.as_ptr()).type_ }
    }

    /// Returns the `NFT_FLOWTABLE_*` flags, which a ruleset update may change at any time.
    #[inline(always)]
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: Valid flowtable (type invariant); `READ_ONCE()` of a word.
        unsafe { core::ptr::read_volatile(&raw const (*self.as_ptr()).flags) }
    }

    /// Returns whether the flowtable has `flags offload` (`nf_flowtable_hw_offload()`); the flag
    /// cannot change on update (nf_tables refuses it).
    #[inline(always)]
    pub(crate) fn hw_offload(&self) -> bool {
        self.flags() & bindings::NFT_FLOWTABLE_HW_OFFLOAD != 0
    }

    /// Returns the flowtable's namespace.
    pub(crate) fn net(&self) -> &Net {
        // SAFETY: Set before `init`; the namespace outlives its flowtables.
        unsafe { Net::from_raw((*self.as_ptr()).net.net) }
    }

    /// Returns rflow's private slot: the first word of the unused `rhashtable` member.
    #[inline(always)]
    fn slot(&self) -> *mut *mut kernel::ffi::c_void {
        const _: () =
            assert!(core::mem::size_of::<bindings::rhashtable>() >= core::mem::size_of::<usize>());
        // SAFETY: Valid flowtable (type invariant); the member is at least a word long.
        unsafe { (&raw mut (*self.as_ptr()).rhashtable).cast() }
    }

    /// Returns the pointer rflow stored with [`NfFlowtable::set_private`].
    #[inline(always)]
    pub(crate) fn private(&self) -> *mut kernel::ffi::c_void {
        // SAFETY: The slot is rflow's (type invariant) and written only before the flowtable is
        // published and after it is unpublished.
        unsafe { *self.slot() }
    }

    /// Stores rflow's pointer in the private slot.
    ///
    /// # Safety
    ///
    /// The flowtable's type must be one of rflow's, and no other context may be reading the slot
    /// (it is called from `init`, before any hook or expression can see the flowtable, and from
    /// `free`, after they are all gone).
    pub(crate) unsafe fn set_private(&self, p: *mut kernel::ffi::c_void) {
        // SAFETY: By the function contract.
        unsafe { *self.slot() = p };
    }

    /// Returns the flowtable's delayed work item, which rflow uses for its GC.
    pub(crate) fn gc(&self) -> super::work::DelayedWork<'_> {
        // SAFETY: Valid flowtable (type invariant); the flowtable type adapter initialises the
        // work item in `init`, before anything can reach this flowtable.
        unsafe { super::work::DelayedWork::from_raw(&raw mut (*self.as_ptr()).gc_work) }
    }

    /// Returns the flowtable owning a GC work item (`container_of()`).
    ///
    /// # Safety
    ///
    /// `work` must be the `work` member of the `gc_work` of a flowtable between `init` and `free`.
    unsafe fn from_gc_work<'a>(work: *mut bindings::work_struct) -> &'a NfFlowtable {
        let offset =
            offset_of!(bindings::nf_flowtable, gc_work) + offset_of!(bindings::delayed_work, work);
        // SAFETY: By the function contract, `work` lies `offset` bytes into a flowtable.
        unsafe { Self::from_raw(work.cast::<u8>().sub(offset).cast()) }
    }

    /// Returns the nf_tables flowtable this one is embedded in (`container_of()`).
    fn nft(&self) -> *mut bindings::nft_flowtable {
        let offset = offset_of!(bindings::nft_flowtable, data);
        // SAFETY: nf_tables embeds every `nf_flowtable` as the `data` member of an
        // `nft_flowtable`, so stepping back by the member's offset stays in that object.
        unsafe {
            self.as_ptr()
                .cast::<u8>()
                .sub(offset)
                .cast::<bindings::nft_flowtable>()
        }
    }

    /// Returns whether device `ifindex` is one of the flowtable's devices
    /// (`nft_flowtable_find_dev()`). Called inside an RCU read-side section.
    pub(crate) fn has_device(&self, _rcu: &super::rcu::ReadSection, ifindex: i32) -> bool {
        let nft = self.nft();
        let link = offset_of!(bindings::nft_hook, list);
        // SAFETY: The enclosing `nft_flowtable` is alive; nf_tables changes its hook list with
        // RCU-safe list operations and frees hooks after a grace period, which the caller's
        // read-side section holds off. Entries are `nft_hook`s linked by their `list` member.
        unsafe {
            let head = &raw mut (*nft).hook_list;
            let mut p = core::ptr::read_volatile(&raw const (*head).next);
            while p != head {
                let hook = p.cast::<u8>().sub(link).cast::<bindings::nft_hook>();
                let dev = (*hook).ops.dev;
                if !dev.is_null() && (*dev).ifindex == ifindex {
                    return true;
                }
                p = core::ptr::read_volatile(&raw const (*p).next);
            }
        }
        false
    }

    /// Returns the names nft shows for this flowtable: family, table, flowtable.
    pub(crate) fn names(&self) -> (u8, &CStr, &CStr) {
        let nft = self.nft();
        // SAFETY: The enclosing `nft_flowtable`'s names and table outlive the flowtable's `free`.
        unsafe {
            let table = (*nft).table;
            (
                (*table).family() as u8,
                CStr::from_ptr((*table).name.cast()),
                CStr::from_ptr((*nft).name.cast()),
            )
        }
    }
}

/// The state a netfilter hook runs with (`struct nf_hook_state`).
///
/// # Invariants
///
/// Valid for the duration of the hook call it was passed to.
#[repr(transparent)]
pub(crate) struct HookState(Opaque<bindings::nf_hook_state>);

impl HookState {
    /// Wraps a raw hook state.
    ///
    /// # Safety
    ///
    /// `ptr` must be the state of the running hook call, which lasts for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::nf_hook_state) -> &'a HookState {
        // SAFETY: `HookState` is a transparent wrapper; validity by the function contract.
        unsafe { &*ptr.cast() }
    }

    /// Returns the input device.
    #[inline(always)]
    pub(crate) fn in_dev(&self) -> &NetDevice {
        // SAFETY: Hooks at ingress and forward always have an input device, held for the call.
        unsafe { NetDevice::from_raw((*self.0.get()).in_) }
    }

    /// Returns the namespace the hook runs in.
    pub(crate) fn net(&self) -> &Net {
        // SAFETY: The namespace outlives the hook call.
        unsafe { Net::from_raw((*self.0.get()).net) }
    }

    /// Returns the protocol family of the hook (`NFPROTO_*`).
    pub(crate) fn pf(&self) -> u8 {
        // SAFETY: Valid for the call (type invariant).
        unsafe { (*self.0.get()).pf }
    }
}

/// The packet information an nft expression evaluates (`struct nft_pktinfo`).
///
/// # Invariants
///
/// Valid for the duration of the `eval` call it was passed to; its skb is owned by that call.
#[repr(transparent)]
pub(crate) struct PktInfo(Opaque<bindings::nft_pktinfo>);

impl PktInfo {
    /// Wraps a raw packet information pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be the argument of the running `eval` call, which lasts for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::nft_pktinfo) -> &'a PktInfo {
        // SAFETY: `PktInfo` is a transparent wrapper; validity by the function contract.
        unsafe { &*ptr.cast() }
    }

    /// Returns the packet.
    pub(crate) fn skb(&self) -> &Skb {
        // SAFETY: The skb is owned by the eval call (type invariant); expressions read it.
        unsafe { Skb::from_raw((*self.0.get()).skb) }
    }

    /// Returns the hook state.
    pub(crate) fn state(&self) -> &HookState {
        // SAFETY: Valid for the call (type invariant).
        unsafe { HookState::from_raw((*self.0.get()).state) }
    }

    /// Returns the transport header offset nf_tables parsed (`nft_thoff()`).
    pub(crate) fn thoff(&self) -> usize {
        // SAFETY: Valid for the call (type invariant).
        unsafe { (*self.0.get()).thoff }.into()
    }
}
