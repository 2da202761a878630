// SPDX-License-Identifier: GPL-2.0

//! Dedicated slab caches, with objects built in place and freed after an RCU grace period.
//!
//! The kernel crate of 6.12 has no `kmem_cache` abstraction. rflow's flows live in their own
//! cache (not `kmalloc-1k`), which keeps them apart in `/sys/kernel/slab`, lets failslab's cache
//! filter target them, and makes `kmem_cache_destroy()` report any flow leaked at unload.

use super::alloc::Gfp;
use super::rcu;
use crate::bindings;
use core::{
    ffi::CStr,
    marker::PhantomData,
    mem::{align_of, size_of},
    ops::Deref,
    ptr::NonNull,
    sync::atomic::{AtomicUsize, Ordering},
};
use kernel::{init::PinInit, prelude::*};

/// A slab cache of `T`s; destroyed on drop.
///
/// # Invariants
///
/// `ptr` is a cache created for objects of `T`'s size and alignment. `live` counts the objects
/// allocated from it and not yet freed; the cache is destroyed only when the owner drops it,
/// after every object is freed.
pub(crate) struct Cache<T> {
    ptr: NonNull<bindings::kmem_cache>,
    live: AtomicUsize,
    _t: PhantomData<T>,
}

// SAFETY: The slab allocator is thread safe; `T` values only move between threads as `T: Send`.
unsafe impl<T: Send> Send for Cache<T> {}
// SAFETY: As above: every method takes `&self` and is safe to call concurrently.
unsafe impl<T: Send> Sync for Cache<T> {}

impl<T> Cache<T> {
    /// Creates a cache named `name` (as `/proc/slabinfo` shows it).
    pub(crate) fn new(name: &'static CStr) -> Result<Self> {
        let size = u32::try_from(size_of::<T>()).map_err(|_| EINVAL)?;
        let align = u32::try_from(align_of::<T>()).map_err(|_| EINVAL)?;
        // SAFETY: `name` is a static NUL-terminated string the cache may keep referring to.
        let ptr = unsafe { bindings::rflow_kmem_cache_create(name.as_ptr().cast(), size, align) };
        Ok(Cache {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
            live: AtomicUsize::new(0),
            _t: PhantomData,
        })
    }

    /// Returns the number of objects allocated and not yet freed.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Allocates an object and initialises it in place with `init`.
    ///
    /// On failure nothing is left allocated: an initialiser that fails drops what it built, and
    /// the memory goes back to the cache uncounted.
    pub(crate) fn alloc<E>(&'static self, init: impl PinInit<T, E>, gfp: Gfp) -> Result<Owned<T>, E>
    where
        E: From<Error>,
    {
        // SAFETY: The cache is live (type invariant); `flags` are valid allocation flags.
        let raw = unsafe { bindings::rflow_cache_alloc(self.ptr.as_ptr(), gfp.raw()) };
        let slot = NonNull::new(raw.cast::<T>()).ok_or(ENOMEM)?;
        // SAFETY: `slot` is fresh memory of `T`'s size and alignment that nothing else uses; the
        // object is never moved out of it (it is only reached through `Owned` and raw pointers).
        if let Err(e) = unsafe { init.__pinned_init(slot.as_ptr()) } {
            // SAFETY: Allocated from this cache just above; the initialiser left nothing behind.
            unsafe { bindings::kmem_cache_free(self.ptr.as_ptr(), raw) };
            return Err(e);
        }
        // Counted only once the object exists: every `Owned` is counted exactly once.
        self.live.fetch_add(1, Ordering::Relaxed);
        // INVARIANT: A fully initialised object of this cache, owned by the value returned.
        Ok(Owned {
            ptr: slot,
            cache: self,
        })
    }

    /// Drops an object and returns its memory to the cache.
    ///
    /// # Safety
    ///
    /// `ptr` must be an object of this cache that nobody else can reach, freed once.
    unsafe fn free(&self, ptr: NonNull<T>) {
        // SAFETY: Initialised and unreachable (function contract).
        unsafe { core::ptr::drop_in_place(ptr.as_ptr()) };
        // SAFETY: From this cache (function contract), dropped just above.
        unsafe { bindings::kmem_cache_free(self.ptr.as_ptr(), ptr.as_ptr().cast()) };
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T> Drop for Cache<T> {
    fn drop(&mut self) {
        // Objects still allocated would be reported (and leaked) by the slab allocator, which
        // is what a leak should look like; waiting for pending RCU frees comes first.
        rcu::barrier();
        // SAFETY: Created in `new`; no object can be allocated any more (`&mut self`).
        unsafe { bindings::kmem_cache_destroy(self.ptr.as_ptr()) };
    }
}

/// An object of a [`Cache`], owned: dropping it frees it at once.
///
/// # Invariants
///
/// `ptr` is a live, pinned object of `cache`, owned by this value.
pub(crate) struct Owned<T: 'static> {
    ptr: NonNull<T>,
    cache: &'static Cache<T>,
}

// SAFETY: An `Owned<T>` is a unique owner of a `T`, like a box.
unsafe impl<T: Send> Send for Owned<T> {}
// SAFETY: Shared references only give `&T`.
unsafe impl<T: Sync> Sync for Owned<T> {}

impl<T> Deref for Owned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: Live and owned (type invariant).
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Owned<T> {
    /// Gives up ownership without freeing: the object stays allocated until [`Owned::from_raw`]
    /// takes it back.
    pub(crate) fn into_raw(self) -> NonNull<T> {
        let ptr = self.ptr;
        core::mem::forget(self);
        ptr
    }

    /// Takes back ownership of an object given up with [`Owned::into_raw`].
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`Owned::into_raw`] of an object of `cache`, and be taken back once.
    pub(crate) unsafe fn from_raw(ptr: NonNull<T>, cache: &'static Cache<T>) -> Self {
        // INVARIANT: By the function contract, a live object of `cache` now owned again.
        Owned { ptr, cache }
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: Owned and live (type invariant), freed once.
        unsafe { self.cache.free(self.ptr) };
    }
}

/// Objects that can be freed after an RCU grace period.
///
/// # Safety
///
/// `rcu_head` must return a `callback_head` inside the object that nothing else uses, and
/// `from_rcu_head` must invert it; `cache` must be the cache every object of the type comes from.
pub(crate) unsafe trait RcuFree: Sized + 'static {
    /// Returns the cache the objects come from.
    fn cache() -> &'static Cache<Self>;
    /// Returns the object's RCU head.
    fn rcu_head(this: NonNull<Self>) -> *mut bindings::callback_head;
    /// Returns the object of an RCU head.
    ///
    /// # Safety
    ///
    /// `head` must come from [`RcuFree::rcu_head`].
    unsafe fn from_rcu_head(head: *mut bindings::callback_head) -> NonNull<Self>;
}

impl<T: RcuFree> Owned<T> {
    /// Frees the object after a grace period (`call_rcu()`): readers that may still see it,
    /// because it was reachable from an RCU-protected structure, finish first.
    pub(crate) fn free_rcu(self) {
        let ptr = self.into_raw();
        // SAFETY: The head belongs to the object (trait contract), which stays allocated until
        // the callback runs; the callback takes ownership back.
        unsafe { bindings::call_rcu(T::rcu_head(ptr), Some(rcu_free_callback::<T>)) };
    }
}

/// Frees an object once its grace period has elapsed.
///
/// # Safety
///
/// Only called by RCU for an object queued by [`Owned::free_rcu`].
unsafe extern "C" fn rcu_free_callback<T: RcuFree>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the RCU head of an object that `free_rcu` gave up ownership of.
    let owned = unsafe { Owned::from_raw(T::from_rcu_head(head), T::cache()) };
    drop(owned);
}
