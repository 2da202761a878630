// SPDX-License-Identifier: GPL-2.0

//! A resizable hash table for lockless readers, generic over its entries.
//!
//! It takes the place of the `rhashtable` of `net/netfilter/nf_flow_table_core.c`. The kernel
//! module instantiates it for flow directions (`rust/sys/rcu_index.rs`); the host tests
//! instantiate it for plain test entries and check its invariants against a model, with
//! concurrent readers and a real grace period.
//!
//! # Design
//!
//! - Entries are intrusive: each embeds a [`Link`] and belongs to its owner, never to the table.
//!   The owner frees an entry only a grace period after removing it.
//! - Readers (the packet path, walkers) take no lock and write nothing: acquire loads of the
//!   bucket array and of the chain links, inside a read-side critical section ([`ReadSide`]).
//! - Writers (insert, remove, resize) are serialised by a lock the owner keeps; the `unsafe`
//!   writer functions say so in their contract.
//! - A bucket is chosen by the *top* bits of the 64-bit hash, and every chain is sorted by
//!   `(hash, key)`. The whole table is therefore one sequence sorted by `(hash, key)` whatever its
//!   size, which gives walks a cursor that survives resizes: a walk resumed after `(h, k)`
//!   continues with the first entry greater than `(h, k)` in whatever array is current, so an
//!   entry present for the whole walk is visited exactly once, in order.
//! - Each entry has two link slots. A resize links every entry into the new array through the
//!   slot the old array does not use, publishes the new array, waits for a grace period and only
//!   then frees the old one: readers still walking old chains never see a link change under
//!   them. The next resize reuses the other slot, which no reader can follow any more.
//! - Sorted chains also let a lookup stop at the first greater hash.

use core::{
    cmp::Ordering as Order,
    ops::{ControlFlow, Deref},
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
};

/// The linkage an entry embeds.
pub struct Link<E> {
    next: [AtomicPtr<E>; 2],
}

impl<E> Link<E> {
    /// Creates the linkage of an entry that is in no table.
    pub const fn new() -> Self {
        Link {
            next: [
                AtomicPtr::new(ptr::null_mut()),
                AtomicPtr::new(ptr::null_mut()),
            ],
        }
    }
}

impl<E> Default for Link<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// An entry of a [`Table`].
///
/// # Safety
///
/// While the entry is in a table, [`Entry::link`] must return the same [`Link`], and
/// [`Entry::hash`] and [`Entry::key`] must return the same values.
pub unsafe trait Entry: Sized {
    /// The exact-match key. Keys are unique in a table.
    type Key: Ord + Copy;

    /// Returns the entry's linkage.
    fn link(&self) -> &Link<Self>;

    /// Returns the hash of the key, under the owner's secret.
    fn hash(&self) -> u64;

    /// Returns the key.
    fn key(&self) -> &Self::Key;
}

/// Proof that the current context is inside a read-side critical section.
///
/// # Safety
///
/// While a `&R` exists, no entry and no bucket array that was reachable from the table when the
/// borrow started may be freed: the owner frees them only after a grace period that waits for
/// such sections.
pub unsafe trait ReadSide {}

/// Memory for bucket arrays, provided by the environment (kernel or host).
pub trait Mem<E>: Sized {
    /// An owned array of bucket heads.
    type Heads: Deref<Target = [AtomicPtr<E>]>;
    /// Allocates `len` empty heads, or fails.
    fn heads(len: usize) -> Option<Self::Heads>;
    /// Moves a bucket array to the heap, or fails (giving it back to be dropped).
    fn boxed(buckets: Buckets<E, Self>) -> Option<NonNull<Buckets<E, Self>>>;
    /// Takes back a bucket array from [`Mem::boxed`].
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`Mem::boxed`] and not have been taken back before.
    unsafe fn unbox(ptr: NonNull<Buckets<E, Self>>) -> Buckets<E, Self>;
}

/// One bucket array.
///
/// # Invariants
///
/// `heads.len()` is a power of two, at least 2, equal to `1 << (64 - shift)`; every chain of
/// this array is linked through `next[link]` of its entries and sorted by `(hash, key)`; entry
/// `e` is in the chain of bucket `e.hash() >> shift`.
pub struct Buckets<E, M: Mem<E>> {
    heads: M::Heads,
    shift: u32,
    link: usize,
}

impl<E: Entry, M: Mem<E>> Buckets<E, M> {
    fn new(len: usize, link: usize) -> Option<Self> {
        if len < 2 || !len.is_power_of_two() {
            return None;
        }
        let heads = M::heads(len)?;
        if heads.len() != len {
            return None;
        }
        // INVARIANT: A power of two of at least 2; every chain starts empty.
        Some(Buckets {
            heads,
            shift: 64 - len.trailing_zeros(),
            link,
        })
    }

    #[inline(always)]
    fn index(&self, hash: u64) -> usize {
        // Truncation intended: the shift leaves at most `log2(len)` significant bits.
        (hash >> self.shift) as usize
    }

    #[inline(always)]
    fn head(&self, hash: u64) -> &AtomicPtr<E> {
        &self.heads[self.index(hash)]
    }

    #[inline(always)]
    fn next<'a>(&self, e: &'a E) -> &'a AtomicPtr<E> {
        &e.link().next[self.link]
    }
}

/// Error of [`Table::insert`]: an entry with the same key is already in the table (or two of the
/// entries inserted together share a key).
#[derive(Debug, PartialEq, Eq)]
pub struct Exists;

/// Error of [`Table::resize`]: the new bucket array could not be allocated.
#[derive(Debug, PartialEq, Eq)]
pub struct NoMemory;

/// Where a walk stands: a position in the table's `(hash, key)` order, which does not depend on
/// the size of the bucket array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor<K> {
    /// Every entry whose hash is below this one has been visited ([`Cursor::START`] is
    /// `Before(0)`).
    Before(u64),
    /// Every entry up to and including this `(hash, key)` position has been visited.
    After(u64, K),
    /// The walk reached the end.
    Done,
}

impl<K> Cursor<K> {
    /// A walk that has visited nothing yet.
    pub const START: Self = Cursor::Before(0);

    /// Returns whether the walk is done.
    pub fn is_done(&self) -> bool {
        matches!(self, Cursor::Done)
    }
}

/// Sizing policy: the smallest array, the largest, and when to grow or shrink.
#[derive(Clone, Copy, Debug)]
pub struct Sizing {
    /// Smallest (and initial) number of buckets, a power of two of at least 2.
    pub min: usize,
    /// Largest number of buckets, a power of two: beyond it chains just get longer.
    pub max: usize,
}

impl Sizing {
    /// Returns the size an array of `len` buckets holding `entries` entries should have: grown
    /// while the load exceeds one entry per bucket, shrunk while it is under one in eight.
    pub fn wanted(&self, len: usize, entries: usize) -> usize {
        let mut want = len.clamp(self.min, self.max);
        while entries > want && want < self.max {
            want *= 2;
        }
        while want > self.min && entries < want / 8 {
            want /= 2;
        }
        want
    }

    /// Returns whether chains average more than two entries, so that growing should not wait
    /// for the next scheduled resize.
    pub fn overloaded(&self, len: usize, entries: usize) -> bool {
        len < self.max && entries > 2 * len
    }
}

/// The hash table.
///
/// # Invariants
///
/// - `buckets` always points to a live array from [`Mem::boxed`]; an array replaced by
///   [`Table::resize`] is freed only after a grace period.
/// - The chains of the current array hold exactly the entries inserted and not yet removed;
///   `entries` counts them.
/// - The chains are changed, and the array replaced, only by writers holding the owner's lock.
pub struct Table<E: Entry, M: Mem<E>> {
    buckets: AtomicPtr<Buckets<E, M>>,
    entries: AtomicUsize,
}

// SAFETY: The table holds pointers to entries and arrays it shares with every thread by design:
// entries are `Sync` and shared through `&E` only; the array is owned by the table.
unsafe impl<E: Entry + Sync, M: Mem<E>> Send for Table<E, M> where M::Heads: Send {}
// SAFETY: Readers only load atomics; writers are serialised by the owner's lock (contract of the
// `unsafe` writer functions).
unsafe impl<E: Entry + Sync, M: Mem<E>> Sync for Table<E, M> where M::Heads: Send + Sync {}

/// Compares entry `e` with position `(hash, key)`.
#[inline(always)]
fn order<E: Entry>(e: &E, hash: u64, key: &E::Key) -> Order {
    match e.hash().cmp(&hash) {
        Order::Equal => e.key().cmp(key),
        o => o,
    }
}

impl<E: Entry, M: Mem<E>> Table<E, M> {
    /// Creates an empty table of `len` buckets (a power of two of at least 2).
    pub fn new(len: usize) -> Option<Self> {
        let b = M::boxed(Buckets::new(len, 0)?)?;
        Some(Table {
            buckets: AtomicPtr::new(b.as_ptr()),
            entries: AtomicUsize::new(0),
        })
    }

    /// Returns the number of entries.
    #[inline(always)]
    pub fn entries(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Returns the current array, which stays valid for the read-side section.
    #[inline(always)]
    fn current<'a, R: ReadSide>(&'a self, _rcu: &'a R) -> &'a Buckets<E, M> {
        // SAFETY: The array is live, and if replaced it is freed only after a grace period,
        // which waits for the caller's read-side section (type invariant, `ReadSide` contract).
        unsafe { &*self.buckets.load(Ordering::Acquire) }
    }

    /// Returns the current array to a writer.
    ///
    /// # Safety
    ///
    /// The caller holds the owner's writer lock, so the array cannot be replaced or freed.
    #[inline(always)]
    unsafe fn current_locked(&self) -> &Buckets<E, M> {
        // SAFETY: Live (type invariant) and not replaceable while the lock is held (contract).
        unsafe { &*self.buckets.load(Ordering::Relaxed) }
    }

    /// Returns the number of buckets.
    pub fn len<R: ReadSide>(&self, rcu: &R) -> usize {
        self.current(rcu).heads.len()
    }

    /// Looks up the entry with key `key` of hash `hash` (`rhashtable_lookup()`).
    #[inline(always)]
    pub fn lookup<'a, R: ReadSide>(&'a self, rcu: &'a R, hash: u64, key: &E::Key) -> Option<&'a E> {
        let b = self.current(rcu);
        let mut p = b.head(hash).load(Ordering::Acquire);
        // SAFETY: Entries reachable during the read-side section stay allocated until it ends
        // (`ReadSide` contract); a linked pointer is either null or such an entry.
        while let Some(e) = unsafe { p.as_ref() } {
            let h = e.hash();
            if h == hash {
                if e.key() == key {
                    return Some(e);
                }
            } else if h > hash {
                // Chains are sorted by hash: no match further on.
                return None;
            }
            p = b.next(e).load(Ordering::Acquire);
        }
        None
    }

    /// Returns the slot (head or link) after which an entry at `(hash, key)` belongs in its
    /// chain, and whether an entry with that key is already there.
    ///
    /// # Safety
    ///
    /// The caller holds the owner's writer lock.
    unsafe fn position<'a>(
        b: &'a Buckets<E, M>,
        hash: u64,
        key: &E::Key,
    ) -> (&'a AtomicPtr<E>, bool) {
        let mut slot = b.head(hash);
        loop {
            // SAFETY: Under the writer lock, linked entries cannot be unlinked, so they stay
            // allocated (their owner frees them only after removal).
            let Some(e) = (unsafe { slot.load(Ordering::Relaxed).as_ref() }) else {
                return (slot, false);
            };
            match order(e, hash, key) {
                Order::Less => slot = b.next(e),
                Order::Equal => return (slot, true),
                Order::Greater => return (slot, false),
            }
        }
    }

    /// Links all `entries`, or none of them if one of their keys is taken (`flow_offload_add()`
    /// links both directions of a flow this way).
    ///
    /// # Safety
    ///
    /// The caller holds the owner's writer lock. The entries must be in no table, and must stay
    /// allocated until a grace period after [`Table::remove`] unlinks them.
    pub unsafe fn insert(&self, entries: &[&E]) -> Result<(), Exists> {
        // SAFETY: Writer lock held (function contract).
        let b = unsafe { self.current_locked() };
        for (i, e) in entries.iter().enumerate() {
            if entries[..i].iter().any(|o| o.key() == e.key()) {
                return Err(Exists);
            }
            // SAFETY: Writer lock held (function contract).
            if unsafe { Self::position(b, e.hash(), e.key()) }.1 {
                return Err(Exists);
            }
        }
        for e in entries {
            // SAFETY: Writer lock held (function contract).
            let (slot, _) = unsafe { Self::position(b, e.hash(), e.key()) };
            b.next(e)
                .store(slot.load(Ordering::Relaxed), Ordering::Relaxed);
            // Publishes the fully built entry to lockless readers.
            slot.store(ptr::from_ref(*e).cast_mut(), Ordering::Release);
        }
        self.entries.fetch_add(entries.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Unlinks `e`, returning whether it was linked. Its owner frees it after a grace period.
    ///
    /// # Safety
    ///
    /// The caller holds the owner's writer lock, and `e` is allocated.
    pub unsafe fn remove(&self, e: &E) -> bool {
        // SAFETY: Writer lock held (function contract).
        let b = unsafe { self.current_locked() };
        let target: *const E = e;
        let mut slot = b.head(e.hash());
        loop {
            let p = slot.load(Ordering::Relaxed);
            if p.is_null() {
                return false;
            }
            if ptr::eq(p, target) {
                // Readers standing on `e` keep following its own link, which does not change.
                slot.store(b.next(e).load(Ordering::Relaxed), Ordering::Release);
                self.entries.fetch_sub(1, Ordering::Relaxed);
                return true;
            }
            // SAFETY: Under the writer lock, linked entries stay allocated.
            slot = b.next(unsafe { &*p });
        }
    }

    /// Visits entries in `(hash, key)` order from `cursor`, moving the cursor past each one `f`
    /// accepts (`ControlFlow::Continue`); stops before an entry `f` refuses (`Break`), after
    /// `budget` buckets, or at the end ([`Cursor::Done`]). Returns whether the walk is done.
    ///
    /// Resumed with the same cursor in a later read-side section, the walk continues in the then
    /// current array: an entry in the table for the whole walk is visited exactly once, whatever
    /// inserts, removals and resizes happen in between.
    pub fn walk<'a, R: ReadSide>(
        &'a self,
        rcu: &'a R,
        cursor: &mut Cursor<E::Key>,
        budget: usize,
        mut f: impl FnMut(&'a E) -> ControlFlow<()>,
    ) -> bool {
        let b = self.current(rcu);
        let start = match *cursor {
            Cursor::Before(hash) | Cursor::After(hash, _) => b.index(hash),
            Cursor::Done => return true,
        };
        let end = b.heads.len().min(start.saturating_add(budget.max(1)));
        for head in &b.heads[start..end] {
            let mut p = head.load(Ordering::Acquire);
            // SAFETY: Entries reachable during the read-side section stay allocated until it
            // ends (`ReadSide` contract).
            while let Some(e) = unsafe { p.as_ref() } {
                // Read the link before `f`, which may remove `e` (its own link stays valid).
                p = b.next(e).load(Ordering::Acquire);
                let visited = match cursor {
                    Cursor::Before(hash) => e.hash() < *hash,
                    Cursor::After(hash, key) => order(e, *hash, key) != Order::Greater,
                    Cursor::Done => true,
                };
                if visited {
                    continue;
                }
                if f(e).is_break() {
                    return false;
                }
                *cursor = Cursor::After(e.hash(), *e.key());
            }
        }
        *cursor = if end == b.heads.len() {
            Cursor::Done
        } else {
            // Every hash below the next bucket's first one lies in a bucket just walked.
            Cursor::Before((end as u64) << b.shift)
        };
        cursor.is_done()
    }

    /// Replaces the bucket array by one of `len` buckets, moving every entry over.
    ///
    /// Allocates outside the lock, relinks and publishes under it (`lock` takes the owner's
    /// writer lock and returns its guard), then waits for a grace period (`synchronize`) before
    /// freeing the old array. Lookups never wait; writers wait for the relinking only.
    ///
    /// # Safety
    ///
    /// `lock` must take the same writer lock the other writers take, and the caller must not
    /// hold it nor be in a read-side section. Resizes of one table must not run concurrently.
    pub unsafe fn resize<G>(
        &self,
        len: usize,
        lock: impl FnOnce() -> G,
        synchronize: impl FnOnce(),
    ) -> Result<(), NoMemory> {
        // The link slot the current array does not use. Only resizes change the array and they
        // are serialised (function contract), so it cannot change before we take the lock.
        // SAFETY: Resizes are serialised and the array is live (type invariant).
        let link = unsafe { (*self.buckets.load(Ordering::Acquire)).link } ^ 1;
        let new = Buckets::<E, M>::new(len, link).ok_or(NoMemory)?;
        let new = M::boxed(new).ok_or(NoMemory)?;
        let old = {
            let guard = lock();
            // SAFETY: The writer lock is held; the new array is ours until published.
            let (ob, nb) = unsafe { (self.current_locked(), new.as_ref()) };
            // Old buckets in order hold ascending positions, and each maps into new buckets of
            // non-decreasing index: appending at the tail keeps every new chain sorted.
            let mut tail: Option<(usize, &AtomicPtr<E>)> = None;
            for head in ob.heads.iter() {
                let mut p = head.load(Ordering::Relaxed);
                // SAFETY: Under the writer lock, linked entries stay allocated.
                while let Some(e) = unsafe { p.as_ref() } {
                    p = ob.next(e).load(Ordering::Relaxed);
                    let j = nb.index(e.hash());
                    let slot = match tail {
                        Some((i, slot)) if i == j => slot,
                        _ => &nb.heads[j],
                    };
                    // The other slot: readers of the old array keep following `ob.link`.
                    nb.next(e).store(ptr::null_mut(), Ordering::Relaxed);
                    slot.store(ptr::from_ref(e).cast_mut(), Ordering::Relaxed);
                    tail = Some((j, nb.next(e)));
                }
            }
            // Publishes the new array and, with it, every link written above.
            let old = self.buckets.swap(new.as_ptr(), Ordering::Release);
            drop(guard);
            old
        };
        // Readers still walking the old array finish before it is freed, and before the next
        // resize rewrites the link slot they follow.
        synchronize();
        // SAFETY: `old` came from `Mem::boxed` and is unreachable after the grace period.
        drop(unsafe { M::unbox(NonNull::new_unchecked(old)) });
        Ok(())
    }

    /// Checks the invariants of the current array: every chain sorted, in its bucket, with no
    /// duplicate key, and the entry count right. For tests.
    ///
    /// # Safety
    ///
    /// The caller holds the owner's writer lock.
    pub unsafe fn check(&self) -> Result<usize, &'static str> {
        // SAFETY: Writer lock held (function contract).
        let b = unsafe { self.current_locked() };
        let mut n = 0;
        let mut last: Option<(u64, E::Key)> = None;
        for (i, head) in b.heads.iter().enumerate() {
            let mut p = head.load(Ordering::Relaxed);
            // SAFETY: Under the writer lock, linked entries stay allocated.
            while let Some(e) = unsafe { p.as_ref() } {
                if b.index(e.hash()) != i {
                    return Err("entry in the wrong bucket");
                }
                if let Some((h, k)) = &last {
                    if order(e, *h, k) != Order::Greater {
                        return Err("entries out of order");
                    }
                }
                last = Some((e.hash(), *e.key()));
                n += 1;
                p = b.next(e).load(Ordering::Relaxed);
            }
        }
        if n != self.entries() {
            return Err("entry count wrong");
        }
        Ok(n)
    }
}

impl<E: Entry, M: Mem<E>> Drop for Table<E, M> {
    fn drop(&mut self) {
        // The owner removed and freed every entry before dropping the table; with `&mut self`
        // no reader can reach it any more.
        let b = self.buckets.swap(ptr::null_mut(), Ordering::Relaxed);
        if let Some(b) = NonNull::new(b) {
            // SAFETY: `b` came from `Mem::boxed` (type invariant) and is taken back once.
            drop(unsafe { M::unbox(b) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::{
        boxed::Box,
        collections::{BTreeMap, BTreeSet},
        sync::{
            atomic::{AtomicBool, AtomicU32},
            Arc, Mutex, RwLock, RwLockReadGuard,
        },
        thread, vec,
        vec::Vec,
    };

    const ALIVE: u32 = 0x600d_600d;
    const DEAD: u32 = 0xdead_dead;

    /// A test entry with a chosen hash, so tests control collisions and bucket placement.
    struct T {
        link: Link<T>,
        hash: u64,
        key: u64,
        magic: AtomicU32,
    }

    impl T {
        fn new(hash: u64, key: u64) -> Box<T> {
            Box::new(T {
                link: Link::new(),
                hash,
                key,
                magic: AtomicU32::new(ALIVE),
            })
        }

        /// Asserts the entry was not retired before a grace period let readers go.
        fn check_alive(&self) {
            assert_eq!(
                self.magic.load(Ordering::Relaxed),
                ALIVE,
                "reader saw a freed entry"
            );
        }
    }

    // SAFETY: `link`, `hash` and `key` never change.
    unsafe impl Entry for T {
        type Key = u64;
        fn link(&self) -> &Link<Self> {
            &self.link
        }
        fn hash(&self) -> u64 {
            self.hash
        }
        fn key(&self) -> &u64 {
            &self.key
        }
    }

    struct Host;

    impl<E> Mem<E> for Host {
        type Heads = Box<[AtomicPtr<E>]>;
        fn heads(len: usize) -> Option<Self::Heads> {
            Some((0..len).map(|_| AtomicPtr::new(ptr::null_mut())).collect())
        }
        fn boxed(b: Buckets<E, Self>) -> Option<NonNull<Buckets<E, Self>>> {
            NonNull::new(Box::into_raw(Box::new(b)))
        }
        unsafe fn unbox(p: NonNull<Buckets<E, Self>>) -> Buckets<E, Self> {
            // SAFETY: From `boxed` (contract).
            *unsafe { Box::from_raw(p.as_ptr()) }
        }
    }

    /// A host RCU: readers hold a read lock for their section, a grace period takes the write
    /// lock once, which waits for every section that started before.
    #[derive(Default)]
    struct Rcu(RwLock<()>);
    struct Reader<'a>(#[allow(dead_code)] RwLockReadGuard<'a, ()>);
    // SAFETY: Entries and arrays are retired only after `Rcu::synchronize`, which waits for the
    // read lock this guard holds.
    unsafe impl ReadSide for Reader<'_> {}
    impl Rcu {
        fn read(&self) -> Reader<'_> {
            Reader(self.0.read().unwrap())
        }
        fn synchronize(&self) {
            drop(self.0.write().unwrap());
        }
    }

    /// The owner: the table, its writer lock, a host RCU, and a graveyard where removed entries
    /// are poisoned (never freed, so a late reader is caught, not undefined).
    struct Owner {
        table: Table<T, Host>,
        writer: Mutex<()>,
        rcu: Rcu,
        retired: Mutex<Vec<*mut T>>,
        graveyard: Mutex<Vec<*mut T>>,
    }
    // SAFETY: The raw pointers are entries owned by the test, shared as `&T` only.
    unsafe impl Send for Owner {}
    // SAFETY: As above.
    unsafe impl Sync for Owner {}

    impl Owner {
        fn new(len: usize) -> Self {
            Owner {
                table: Table::new(len).unwrap(),
                writer: Mutex::new(()),
                rcu: Rcu::default(),
                retired: Mutex::new(Vec::new()),
                graveyard: Mutex::new(Vec::new()),
            }
        }

        #[allow(clippy::vec_box, reason = "entries need stable addresses")]
        fn insert(&self, entries: Vec<Box<T>>) -> Result<Vec<*mut T>, Exists> {
            let raws: Vec<*mut T> = entries.into_iter().map(Box::into_raw).collect();
            // SAFETY: Fresh boxes.
            let refs: Vec<&T> = raws.iter().map(|p| unsafe { &**p }).collect();
            let _g = self.writer.lock().unwrap();
            // SAFETY: Writer lock held; entries are freed only through the graveyard.
            match unsafe { self.table.insert(&refs) } {
                Ok(()) => Ok(raws),
                Err(e) => {
                    for p in raws {
                        // SAFETY: Not linked.
                        drop(unsafe { Box::from_raw(p) });
                    }
                    Err(e)
                }
            }
        }

        fn remove(&self, p: *mut T) -> bool {
            let _g = self.writer.lock().unwrap();
            // SAFETY: Writer lock held; `p` is alive until retired after a grace period.
            let removed = unsafe { self.table.remove(&*p) };
            if removed {
                self.retired.lock().unwrap().push(p);
            }
            removed
        }

        /// Grace period, then poison what was retired before it.
        fn reclaim(&self) {
            let batch: Vec<*mut T> = core::mem::take(&mut *self.retired.lock().unwrap());
            self.rcu.synchronize();
            for p in batch {
                // SAFETY: Kept allocated in the graveyard, never freed during the test.
                unsafe { (*p).magic.store(DEAD, Ordering::Relaxed) };
                self.graveyard.lock().unwrap().push(p);
            }
        }

        fn resize(&self, len: usize) -> Result<(), NoMemory> {
            // SAFETY: Same writer lock; resizes of a test are run by one thread.
            unsafe {
                self.table.resize(
                    len,
                    || self.writer.lock().unwrap(),
                    || self.rcu.synchronize(),
                )
            }
        }

        fn check(&self) -> usize {
            let _g = self.writer.lock().unwrap();
            // SAFETY: Writer lock held.
            unsafe { self.table.check() }.unwrap()
        }

        fn lookup(&self, hash: u64, key: u64) -> bool {
            let r = self.rcu.read();
            match self.table.lookup(&r, hash, &key) {
                Some(e) => {
                    e.check_alive();
                    assert_eq!((e.hash, e.key), (hash, key));
                    true
                }
                None => false,
            }
        }

        /// One walk step in its own read-side section.
        fn walk_step(
            &self,
            cursor: &mut Cursor<u64>,
            budget: usize,
            out: &mut Vec<(u64, u64)>,
        ) -> bool {
            let r = self.rcu.read();
            self.table.walk(&r, cursor, budget, |e| {
                e.check_alive();
                out.push((e.hash, e.key));
                ControlFlow::Continue(())
            })
        }

        fn walk_all(&self, budget: usize) -> Vec<(u64, u64)> {
            let mut c = Cursor::START;
            let mut out = Vec::new();
            while !self.walk_step(&mut c, budget, &mut out) {}
            out
        }
    }

    impl Drop for Owner {
        fn drop(&mut self) {
            let mut all: Vec<*mut T> = Vec::new();
            all.append(&mut self.graveyard.lock().unwrap());
            all.append(&mut self.retired.lock().unwrap());
            // Whatever is still linked: walk it out.
            let linked = {
                let r = self.rcu.read();
                let mut v = Vec::new();
                let mut c = Cursor::START;
                while !self.table.walk(&r, &mut c, usize::MAX, |e| {
                    v.push(ptr::from_ref(e).cast_mut());
                    ControlFlow::Continue(())
                }) {}
                v
            };
            for p in linked {
                // SAFETY: Owned by the test.
                assert!(unsafe { self.table.remove(&*p) });
                all.push(p);
            }
            for p in all {
                // SAFETY: Every entry is freed once, after removal, with no reader left.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }

    #[test]
    fn insert_lookup_remove() {
        let o = Owner::new(4);
        let a = o.insert(vec![T::new(7, 1), T::new(u64::MAX, 2)]).unwrap();
        assert!(o.lookup(7, 1) && o.lookup(u64::MAX, 2));
        assert!(!o.lookup(7, 2) && !o.lookup(8, 1));
        // Same key taken: nothing of the pair is linked.
        assert_eq!(
            o.insert(vec![T::new(9, 3), T::new(7, 1)]).err(),
            Some(Exists)
        );
        assert!(!o.lookup(9, 3));
        // Two entries of one insert sharing a key.
        assert_eq!(
            o.insert(vec![T::new(9, 3), T::new(9, 3)]).err(),
            Some(Exists)
        );
        assert_eq!(o.check(), 2);
        assert!(o.remove(a[0]));
        assert!(!o.remove(a[0]), "removing twice must be refused");
        assert!(!o.lookup(7, 1));
        o.reclaim();
        assert_eq!(o.check(), 1);
    }

    #[test]
    fn equal_hashes_stay_ordered_by_key() {
        let o = Owner::new(2);
        for k in [5u64, 1, 9, 3] {
            o.insert(vec![T::new(42, k)]).unwrap();
        }
        assert_eq!(o.check(), 4);
        assert_eq!(o.walk_all(1), vec![(42, 1), (42, 3), (42, 5), (42, 9)]);
        for k in [5u64, 1, 9, 3] {
            assert!(o.lookup(42, k));
        }
    }

    #[test]
    fn resize_keeps_everything() {
        let o = Owner::new(2);
        let mut model = BTreeSet::new();
        for i in 0..1000u64 {
            let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            o.insert(vec![T::new(h, i)]).unwrap();
            model.insert((h, i));
        }
        for len in [2048, 2, 64, 1 << 14, 4, 1024] {
            o.resize(len).unwrap();
            assert_eq!(o.check(), 1000);
            assert_eq!(o.walk_all(3), model.iter().copied().collect::<Vec<_>>());
            for (h, k) in &model {
                assert!(o.lookup(*h, *k));
            }
        }
        assert_eq!(o.resize(3), Err(NoMemory), "sizes must be powers of two");
    }

    #[test]
    fn sizing_policy() {
        let s = Sizing {
            min: 64,
            max: 1 << 20,
        };
        assert_eq!(s.wanted(64, 0), 64);
        assert_eq!(s.wanted(64, 64), 64);
        assert_eq!(s.wanted(64, 65), 128);
        assert_eq!(s.wanted(64, 200_000), 262_144);
        assert_eq!(s.wanted(262_144, 200_000), 262_144);
        assert_eq!(s.wanted(262_144, 20_000), 131_072);
        assert_eq!(s.wanted(262_144, 0), 64);
        assert_eq!(s.wanted(1 << 20, 50_000_000), 1 << 20);
        assert!(s.overloaded(64, 129) && !s.overloaded(64, 128));
        assert!(!s.overloaded(1 << 20, 10_000_000));
    }

    /// A walk resumed across resizes, inserts and removals visits every entry that stayed in the
    /// table exactly once, in increasing order, and never one removed before the walk started.
    #[test]
    fn cursor_survives_resizes() {
        let o = Owner::new(8);
        let mut stable = BTreeMap::new();
        for i in 0..500u64 {
            let h = i.wrapping_mul(0x2545_f491_4f6c_dd1d);
            let p = o.insert(vec![T::new(h, i)]).unwrap()[0];
            stable.insert((h, i), p);
        }
        // Churn entries: inserted and removed during the walk.
        let mut churn: Vec<*mut T> = Vec::new();
        let mut c = Cursor::START;
        let mut seen = Vec::new();
        let sizes = [2usize, 1024, 16, 4096, 8, 256];
        let mut step = 0;
        let mut next = 10_000u64;
        while !o.walk_step(&mut c, 2, &mut seen) {
            step += 1;
            if step % 3 == 0 {
                o.resize(sizes[step / 3 % sizes.len()]).unwrap();
            }
            let h = next.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            churn.extend(o.insert(vec![T::new(h, next)]).unwrap());
            next += 1;
            if churn.len() > 5 {
                let p = churn.remove(0);
                o.remove(p);
                o.reclaim();
            }
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "walk out of order");
        let seen: BTreeSet<(u64, u64)> = seen.into_iter().collect();
        for k in stable.keys() {
            assert!(seen.contains(k), "stable entry {k:?} missed");
        }
        for (h, k) in &seen {
            assert!(*k >= 10_000 || stable.contains_key(&(*h, *k)));
        }
        assert_eq!(o.check(), 500 + churn.len());
    }

    /// A walk whose callback refuses an entry stops before it, and resumes with it.
    #[test]
    fn refused_entry_is_visited_again() {
        let o = Owner::new(4);
        for i in 0..10u64 {
            o.insert(vec![T::new(i << 60, i)]).unwrap();
        }
        let mut c = Cursor::START;
        let mut got = Vec::new();
        let r = o.rcu.read();
        let mut n = 0;
        assert!(!o.table.walk(&r, &mut c, usize::MAX, |e| {
            if n == 3 {
                return ControlFlow::Break(());
            }
            n += 1;
            got.push(e.key);
            ControlFlow::Continue(())
        }));
        assert!(o.table.walk(&r, &mut c, usize::MAX, |e| {
            got.push(e.key);
            ControlFlow::Continue(())
        }));
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16),
        InsertPair(u16, u16),
        Remove(usize),
        Resize(u8),
        Walk(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<u16>().prop_map(Op::Insert),
            2 => (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Op::InsertPair(a, b)),
            3 => any::<usize>().prop_map(Op::Remove),
            1 => (1u8..12).prop_map(Op::Resize),
            2 => (1u8..6).prop_map(Op::Walk),
        ]
    }

    /// A hash from a small space (16 top-bit patterns, 5 low values), so that collisions and
    /// shared buckets are common.
    fn small_hash(k: u64) -> u64 {
        ((k % 16) << 60) | (k % 5)
    }

    proptest! {
        /// Random operations against a model: lookups, counts, walk contents and the structural
        /// invariants always agree, and a walk interleaved with the operations sees every entry
        /// present for all of it exactly once, in order.
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 1..200)) {
            let o = Owner::new(4);
            let mut model: BTreeMap<u64, *mut T> = BTreeMap::new();
            let mut cursor = Cursor::START;
            let mut walked = Vec::new();
            let mut at_start: BTreeSet<(u64, u64)> =  BTreeSet::new();
            let mut removed_during = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(k) => {
                        let k = u64::from(k);
                        let r = o.insert(vec![T::new(small_hash(k), k)]);
                        prop_assert_eq!(r.is_ok(), !model.contains_key(&k));
                        if let Ok(p) = r {
                            model.insert(k, p[0]);
                        }
                    }
                    Op::InsertPair(k1, k2) => {
                        let (k1, k2) = (u64::from(k1), u64::from(k2));
                        let r = o.insert(vec![T::new(small_hash(k1), k1), T::new(small_hash(k2), k2)]);
                        let free = k1 != k2 && !model.contains_key(&k1) && !model.contains_key(&k2);
                        prop_assert_eq!(r.is_ok(), free);
                        if let Ok(p) = r {
                            model.insert(k1, p[0]);
                            model.insert(k2, p[1]);
                        }
                    }
                    Op::Remove(i) => {
                        if !model.is_empty() {
                            let k = *model.keys().nth(i % model.len()).unwrap();
                            let p = model.remove(&k).unwrap();
                            prop_assert!(o.remove(p));
                            removed_during.insert((small_hash(k), k));
                            o.reclaim();
                        }
                    }
                    Op::Resize(bits) => o.resize(1 << bits).unwrap(),
                    Op::Walk(budget) => {
                        if cursor == Cursor::START && walked.is_empty() {
                            at_start = model.keys().map(|k| (small_hash(*k), *k)).collect();
                            removed_during.clear();
                        }
                        if o.walk_step(&mut cursor, budget.into(), &mut walked) {
                            prop_assert!(walked.windows(2).all(|w| w[0] < w[1]));
                            let seen: BTreeSet<_> = walked.iter().copied().collect();
                            for e in at_start.difference(&removed_during) {
                                prop_assert!(seen.contains(e), "walk missed {:?}", e);
                            }
                            walked.clear();
                            cursor = Cursor::START;
                        }
                    }
                }
                prop_assert_eq!(o.check(), model.len());
                for k in model.keys() {
                    prop_assert!(o.lookup(small_hash(*k), *k));
                }
            }
            let all = o.walk_all(1);
            let mut want: Vec<(u64, u64)> = model.keys().map(|k| (small_hash(*k), *k)).collect();
            want.sort();
            prop_assert_eq!(all, want);
        }
    }

    /// Readers look up and walk while a writer inserts, removes and resizes without pause:
    /// stable entries are always found, complete walks see each of them exactly once, and no
    /// reader ever touches an entry retired after a grace period.
    #[test]
    fn concurrent_readers_and_resizes() {
        let o = Arc::new(Owner::new(2));
        let stable: Vec<(u64, u64)> = (0..2000u64)
            .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i))
            .collect();
        for (h, k) in &stable {
            o.insert(vec![T::new(*h, *k)]).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        for r in 0..3 {
            let (o, stop, stable) = (o.clone(), stop.clone(), stable.clone());
            readers.push(thread::spawn(move || {
                let mut walks = 0;
                while !stop.load(Ordering::Relaxed) {
                    if r == 0 {
                        for (h, k) in stable.iter().step_by(7) {
                            assert!(o.lookup(*h, *k), "stable entry not found");
                        }
                    } else {
                        let seen = o.walk_all(1 + r * 5);
                        assert!(seen.windows(2).all(|w| w[0] < w[1]));
                        let stable_seen = seen.iter().filter(|(_, k)| *k < 2000).count();
                        assert_eq!(
                            stable_seen, 2000,
                            "a walk missed or repeated a stable entry"
                        );
                        walks += 1;
                    }
                }
                walks
            }));
        }
        let mut churn = Vec::new();
        for round in 0..300u64 {
            for j in 0..20u64 {
                let k = 1_000_000 + round * 20 + j;
                churn.extend(
                    o.insert(vec![T::new(k.wrapping_mul(0x2545_f491_4f6c_dd1d), k)])
                        .unwrap(),
                );
            }
            while churn.len() > 100 {
                let p = churn.remove(0);
                assert!(o.remove(p));
            }
            o.reclaim();
            o.resize([2usize, 4096, 64, 1 << 12, 16][(round % 5) as usize])
                .unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(o.check(), 2000 + churn.len());
    }
}
