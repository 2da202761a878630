// SPDX-License-Identifier: GPL-2.0

//! The RCU hash table of flow directions.
//!
//! Takes the place of the `rhashtable` of `net/netfilter/nf_flow_table_core.c`:
//!
//! - Readers (the packet path) walk a bucket chain with acquire loads inside an RCU read-side
//!   section, take no lock and write nothing.
//! - Writers (flow insertion from the packet path, removal and resizing from the GC worker)
//!   serialise on one per-table spinlock taken with bottom halves disabled. Inserts prepend to a
//!   chain with a release store, so a reader sees either the old head or a fully built entry.
//! - Buckets are indexed by a SipHash-1-3 of the key under a random per-table secret, so chosen
//!   tuples cannot be made to collide (see [`crate::pure::hash`]).
//! - Each entry has two link slots. A resize, done by the GC worker only, links every entry into
//!   the new bucket array through the slot the old array does not use, publishes the new array,
//!   waits for a grace period, and only then frees the old array: readers still walking old
//!   chains never see a link change under them. The next resize reuses the other slot.
//! - Entries are freed with `call_rcu()` by their owner after [`Table::remove`].

use super::flow::{Flow, FlowDir};
use crate::pure::{
    hash::{hash_key, SipKey},
    tuple::{Dir, FlowKey},
};
use crate::sys::{lock::BhSpinLock, rcu, rcu::ReadSection};
use core::{
    ptr,
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
};
use kernel::prelude::*;

/// Smallest bucket array; also the initial size.
const MIN_BUCKETS: usize = 64;
/// Largest bucket array (8 MiB of heads): beyond that chains just get longer.
const MAX_BUCKETS: usize = 1 << 20;

/// The table linkage of a [`FlowDir`].
pub(crate) struct Node {
    links: [AtomicPtr<FlowDir>; 2],
    hash: u64,
    key: FlowKey,
}

impl Node {
    /// Creates the linkage of an entry with lookup key `key`, hashed under the table's secret.
    pub(crate) fn new(key: &FlowKey, secret: &SipKey) -> Self {
        Node {
            links: [
                AtomicPtr::new(ptr::null_mut()),
                AtomicPtr::new(ptr::null_mut()),
            ],
            hash: hash_key(secret, key),
            key: *key,
        }
    }
}

/// A bucket array.
///
/// # Invariants
///
/// `heads.len()` is a power of two; every chain is linked through `links[link]` of its entries.
struct Buckets {
    link: usize,
    heads: KVVec<AtomicPtr<FlowDir>>,
}

impl Buckets {
    fn new(size: usize, link: usize) -> Result<KBox<Buckets>> {
        let mut heads = KVVec::with_capacity(size, GFP_KERNEL)?;
        for _ in 0..size {
            heads.push(AtomicPtr::new(ptr::null_mut()), GFP_KERNEL)?;
        }
        // INVARIANT: Callers pass powers of two; chains start empty.
        Ok(KBox::new(Buckets { link, heads }, GFP_KERNEL)?)
    }

    #[inline(always)]
    fn head(&self, hash: u64) -> &AtomicPtr<FlowDir> {
        // Truncation intended: the mask keeps the index in range.
        let idx = hash as usize & (self.heads.len() - 1);
        &self.heads[idx]
    }
}

/// A hash table of flow directions.
///
/// # Invariants
///
/// - `buckets` always points to a live bucket array owned by the table; a replaced array is
///   freed only after an RCU grace period.
/// - Every linked entry belongs to a flow whose both directions are linked, and that stays
///   allocated until a grace period after its removal.
/// - Entries are linked and unlinked, and `buckets` replaced, only with `writer` held.
#[pin_data(PinnedDrop)]
pub(crate) struct Table {
    buckets: AtomicPtr<Buckets>,
    secret: SipKey,
    entries: AtomicUsize,
    #[pin]
    writer: BhSpinLock<()>,
}

// SAFETY: The raw pointers are owned by the table and only dereferenced under the rules above.
unsafe impl Send for Table {}
// SAFETY: Readers only do atomic loads; writers serialise on `writer`.
unsafe impl Sync for Table {}

/// Error of [`Table::insert`]: an entry with the same key is already in the table.
#[derive(Debug)]
pub(crate) struct Exists;

impl Table {
    /// Creates an empty table with a fresh random secret.
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        let mut seed = [0u8; 16];
        // SAFETY: `seed` is a writable local buffer of the given length.
        unsafe { crate::bindings::get_random_bytes(seed.as_mut_ptr().cast(), seed.len()) };
        let buckets = Buckets::new(MIN_BUCKETS, 0);
        try_pin_init!(Self {
            buckets: AtomicPtr::new(KBox::into_raw(buckets?)),
            secret: SipKey::from_bytes(seed),
            entries: AtomicUsize::new(0),
            writer <- BhSpinLock::new(()),
        }? Error)
    }

    /// Returns the hash secret, for building entries.
    pub(crate) fn secret(&self) -> &SipKey {
        &self.secret
    }

    /// Returns the number of linked flows.
    pub(crate) fn flows(&self) -> usize {
        self.entries.load(Ordering::Relaxed) / 2
    }

    /// Returns the number of buckets.
    pub(crate) fn buckets(&self) -> usize {
        // SAFETY: `buckets` is live (type invariant); reading its length races with nothing.
        unsafe { (*self.buckets.load(Ordering::Acquire)).heads.len() }
    }

    /// Returns whether chains average more than two entries, so growing should not wait for the
    /// next GC run.
    pub(crate) fn overloaded(&self, _rcu: &ReadSection) -> bool {
        // SAFETY: Live array, kept until the caller's read-side section ends (type invariant).
        let size = unsafe { (*self.buckets.load(Ordering::Acquire)).heads.len() };
        size < MAX_BUCKETS && self.entries.load(Ordering::Relaxed) > 2 * size
    }

    /// Looks up the entry with key `key` (`rhashtable_lookup()`).
    #[inline(always)]
    pub(crate) fn lookup<'a>(
        &'a self,
        _rcu: &'a ReadSection,
        key: &FlowKey,
    ) -> Option<&'a FlowDir> {
        let hash = hash_key(&self.secret, key);
        // SAFETY: The array is live and, if replaced, freed only after the caller's read-side
        // section (type invariant).
        let b = unsafe { &*self.buckets.load(Ordering::Acquire) };
        let mut p = b.head(hash).load(Ordering::Acquire);
        // SAFETY: Linked entries stay allocated until a grace period after removal, which cannot
        // end before the caller's read-side section does (type invariant).
        while let Some(d) = unsafe { p.as_ref() } {
            if d.node.hash == hash && d.node.key == *key {
                return Some(d);
            }
            p = d.node.links[b.link].load(Ordering::Acquire);
        }
        None
    }

    /// Finds `key` in its chain; the caller holds `writer`.
    fn find_locked(b: &Buckets, hash: u64, key: &FlowKey) -> bool {
        let mut p = b.head(hash).load(Ordering::Relaxed);
        // SAFETY: Under `writer`, linked entries cannot be freed.
        while let Some(d) = unsafe { p.as_ref() } {
            if d.node.hash == hash && d.node.key == *key {
                return true;
            }
            p = d.node.links[b.link].load(Ordering::Relaxed);
        }
        false
    }

    /// Links both directions of `flow`, unless a key is already present (`flow_offload_add()`).
    ///
    /// # Safety
    ///
    /// `flow` must not be linked in any table, and must stay allocated until a grace period
    /// after [`Table::remove`] unlinks it.
    pub(crate) unsafe fn insert(&self, flow: &Flow) -> Result<(), Exists> {
        let [orig, reply] = flow.dirs();
        if orig.node.key == reply.node.key {
            return Err(Exists);
        }
        let _guard = self.writer.lock();
        // SAFETY: Under `writer` the array cannot be replaced.
        let b = unsafe { &*self.buckets.load(Ordering::Relaxed) };
        if Self::find_locked(b, orig.node.hash, &orig.node.key)
            || Self::find_locked(b, reply.node.hash, &reply.node.key)
        {
            return Err(Exists);
        }
        // The reply entry first, as C does: walkers look for original-direction entries.
        for d in [reply, orig] {
            let head = b.head(d.node.hash);
            d.node.links[b.link].store(head.load(Ordering::Relaxed), Ordering::Relaxed);
            // Publishes the fully initialised entry to lockless readers.
            head.store(ptr::from_ref(d).cast_mut(), Ordering::Release);
        }
        self.entries.fetch_add(2, Ordering::Relaxed);
        Ok(())
    }

    /// Unlinks `d` from its chain; the caller holds `writer`.
    fn unlink_locked(b: &Buckets, d: &FlowDir) -> bool {
        let target: *const FlowDir = d;
        let mut slot = b.head(d.node.hash);
        loop {
            let p = slot.load(Ordering::Relaxed);
            if p.is_null() {
                return false;
            }
            if ptr::eq(p, target) {
                // Readers positioned on `d` still follow its own link, which does not change.
                slot.store(
                    d.node.links[b.link].load(Ordering::Relaxed),
                    Ordering::Release,
                );
                return true;
            }
            // SAFETY: Under `writer`, linked entries cannot be freed.
            slot = unsafe { &(*p).node.links[b.link] };
        }
    }

    /// Unlinks both directions of `flow` (`flow_offload_del()` minus the free).
    ///
    /// The caller frees the flow after a grace period.
    pub(crate) fn remove(&self, flow: &Flow) {
        let _guard = self.writer.lock();
        // SAFETY: Under `writer` the array cannot be replaced.
        let b = unsafe { &*self.buckets.load(Ordering::Relaxed) };
        let mut unlinked = 0;
        for d in flow.dirs() {
            if Self::unlink_locked(b, d) {
                unlinked += 1;
            }
        }
        self.entries.fetch_sub(unlinked, Ordering::Relaxed);
    }

    /// Calls `f` on every flow once (through its original-direction entry).
    ///
    /// The walk holds the RCU read lock one bucket batch at a time, so it stays preemptible
    /// between batches. `f` may [`remove`](Table::remove) the flow it is given. If the array is
    /// replaced during the walk, the walk continues in the new array at the same position, so a
    /// concurrent resize may make it miss or repeat a few flows; callers that must see everything
    /// run in the GC worker, the only resizer.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Flow)) {
        const BATCH: usize = 256;
        let mut idx = 0;
        loop {
            let guard = rcu::read_lock();
            // SAFETY: Live array, kept until our read-side section ends (type invariant).
            let b = unsafe { &*self.buckets.load(Ordering::Acquire) };
            let end = b.heads.len().min(idx + BATCH);
            if idx >= end {
                return;
            }
            for head in &b.heads[idx..end] {
                let mut p = head.load(Ordering::Acquire);
                // SAFETY: Entries stay allocated during our read-side section (type invariant).
                while let Some(d) = unsafe { p.as_ref() } {
                    // Read the link before `f` may unlink `d` (its own link stays valid anyway).
                    p = d.node.links[b.link].load(Ordering::Acquire);
                    if d.dir() == Dir::Original {
                        f(d.flow());
                    }
                }
            }
            drop(guard);
            idx = end;
            // SAFETY: Called outside any lock or read-side section, in process context.
            unsafe { crate::bindings::rflow_cond_resched() };
        }
    }

    /// Grows or shrinks the bucket array when the load factor calls for it.
    ///
    /// Must be called from the GC worker only (one resize at a time; it sleeps).
    pub(crate) fn resize(&self) {
        let size = self.buckets();
        let entries = self.entries.load(Ordering::Relaxed);
        let mut want = size;
        while entries > want && want < MAX_BUCKETS {
            want *= 2;
        }
        while want > MIN_BUCKETS && entries < want / 8 {
            want /= 2;
        }
        if want == size {
            return;
        }
        // SAFETY: Only the GC worker replaces the array, so it cannot change under us.
        let link = unsafe { (*self.buckets.load(Ordering::Acquire)).link } ^ 1;
        let Ok(new) = Buckets::new(want, link) else {
            // Out of memory: longer chains, retried on the next GC run.
            return;
        };
        let old = {
            let _guard = self.writer.lock();
            let old = self.buckets.load(Ordering::Relaxed);
            // SAFETY: Under `writer` nothing else links or unlinks entries.
            let ob = unsafe { &*old };
            for head in ob.heads.iter() {
                let mut p = head.load(Ordering::Relaxed);
                // SAFETY: Under `writer`, linked entries cannot be freed.
                while let Some(d) = unsafe { p.as_ref() } {
                    p = d.node.links[ob.link].load(Ordering::Relaxed);
                    let nh = new.head(d.node.hash);
                    // The other slot: readers of the old array keep following `ob.link`.
                    d.node.links[link].store(nh.load(Ordering::Relaxed), Ordering::Relaxed);
                    nh.store(ptr::from_ref(d).cast_mut(), Ordering::Relaxed);
                }
            }
            // Publishes the new array and, with it, every link written above.
            self.buckets.store(KBox::into_raw(new), Ordering::Release);
            old
        };
        // Readers still walking the old array finish before it is freed, and before the next
        // resize rewrites the link slot they follow.
        rcu::synchronize();
        // SAFETY: `old` came from `KBox::into_raw` and is unreachable after the grace period.
        drop(unsafe { KBox::from_raw(old) });
    }
}

#[pinned_drop]
impl PinnedDrop for Table {
    fn drop(self: Pin<&mut Self>) {
        // The owner removed and freed every flow before dropping the table.
        let old = self.buckets.swap(ptr::null_mut(), Ordering::Relaxed);
        if !old.is_null() {
            // SAFETY: `old` came from `KBox::into_raw`; no reader can reach the table any more.
            drop(unsafe { KBox::from_raw(old) });
        }
    }
}
