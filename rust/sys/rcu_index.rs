// SPDX-License-Identifier: GPL-2.0

//! An RCU hash index that owns its objects: the kernel side of [`crate::pure::rcu_table`].
//!
//! Every object of an [`Index`] is an [`Indexed<T>`]: a payload `T` (a flow) with two hashed
//! [`Node`]s (its two directions), an [`AltNode`] under which a second table finds it by another
//! key (its UFID, OVS's `ufid_ti`), and an RCU head. The index takes ownership of an object when
//! inserting it, and gives it to `call_rcu()` when removing it, so nothing outside this file
//! handles raw pointers to indexed objects: lookups and walks hand out `&Indexed<T>` borrows
//! limited to the caller's read-side section.

use super::{
    lock::BhSpinLock,
    rcu::{self, ReadSection},
    slab::{Cache, Owned, RcuFree},
    time,
};
use crate::bindings;
use crate::pure::rcu_table::{self, Buckets, Cursor, Entry, Link, Mem, Sizing, Table};
use core::{
    cell::Cell,
    mem::offset_of,
    ops::{ControlFlow, Deref},
    ptr::NonNull,
    sync::atomic::AtomicPtr,
};
use kernel::{prelude::*, types::Opaque};

/// Number of nodes (hashed keys) per object: one per flow direction.
pub(crate) const NODES: usize = 2;

/// Bucket heads allocated with `kvcalloc()` (through a shim that fault injection can fail).
///
/// # Invariants
///
/// `ptr` points to `len` zeroed (null) heads owned by this value.
pub(crate) struct KernelHeads<E> {
    ptr: NonNull<AtomicPtr<E>>,
    len: usize,
}

// SAFETY: The heads are atomics shared by design; the array is owned by the table.
unsafe impl<E> Send for KernelHeads<E> {}
// SAFETY: As above.
unsafe impl<E> Sync for KernelHeads<E> {}

impl<E> Deref for KernelHeads<E> {
    type Target = [AtomicPtr<E>];

    fn deref(&self) -> &[AtomicPtr<E>] {
        // SAFETY: `len` initialised heads owned by `self` (type invariant).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<E> Drop for KernelHeads<E> {
    fn drop(&mut self) {
        // SAFETY: Allocated by `rflow_buckets_alloc()` (type invariant), freed once.
        unsafe { bindings::rflow_buckets_free(self.ptr.as_ptr().cast()) };
    }
}

/// Kernel memory for [`Table`]s; the arrays are allocated in process context (table creation
/// and the GC worker's resizes).
pub(crate) struct KernelMem;

impl<E> Mem<E> for KernelMem {
    type Heads = KernelHeads<E>;

    fn heads(len: usize) -> Option<KernelHeads<E>> {
        // SAFETY: Allocates `len` zeroed pointer-sized slots, or returns null.
        let ptr = unsafe { bindings::rflow_buckets_alloc(len) };
        // INVARIANT: Zeroed memory is `len` null `AtomicPtr`s, now owned by the value.
        Some(KernelHeads {
            ptr: NonNull::new(ptr.cast())?,
            len,
        })
    }

    fn boxed(b: Buckets<E, Self>) -> Option<NonNull<Buckets<E, Self>>> {
        let b = KBox::new(b, GFP_KERNEL).ok()?;
        Some(NonNull::from(KBox::leak(b)))
    }

    unsafe fn unbox(ptr: NonNull<Buckets<E, Self>>) -> Buckets<E, Self> {
        // SAFETY: `ptr` came from `KBox::leak` in `boxed` and is taken back once (contract).
        KBox::into_inner(unsafe { KBox::from_raw(ptr.as_ptr()) })
    }
}

/// Makes a node type with fields `link`, `hash` and `key` an [`Entry`] of the hash tables.
macro_rules! hashed_node {
    ($node:ident) => {
        // SAFETY: `link`, `hash` and `key` are fixed for the life of the node (the invariant of
        // both node types).
        unsafe impl<K: Ord + Copy> Entry for $node<K> {
            type Key = K;

            #[inline(always)]
            fn link(&self) -> &Link<Self> {
                &self.link
            }

            #[inline(always)]
            fn hash(&self) -> u64 {
                self.hash
            }

            #[inline(always)]
            fn key(&self) -> &K {
                &self.key
            }
        }
    };
}

/// One hashed key of an indexed object.
///
/// # Invariants
///
/// A node is `nodes[slot]` of an [`Indexed`]; its hash and key never change.
pub(crate) struct Node<K> {
    link: Link<Node<K>>,
    hash: u64,
    key: K,
    slot: u8,
}

/// The node under which the alternate table of an [`Index`] finds an object.
///
/// # Invariants
///
/// A node is the `alt` field of an [`Indexed`]; its hash and key never change.
pub(crate) struct AltNode<K> {
    link: Link<AltNode<K>>,
    hash: u64,
    key: K,
}

hashed_node!(Node);
hashed_node!(AltNode);

/// Payloads of an [`Index`]: what they are keyed by and where their objects come from.
pub(crate) trait Payload: Sized + Send + Sync + 'static {
    /// The exact-match key of a node.
    type Key: Ord + Copy + Send + Sync + 'static;
    /// The key of the alternate table, unique among the index's objects.
    type AltKey: Ord + Copy + Send + Sync + 'static;
    /// Returns the cache all objects with this payload are allocated from.
    fn cache() -> &'static Cache<Indexed<Self>>;
}

/// An object of an [`Index`]: a payload with its hashed nodes.
///
/// # Invariants
///
/// Allocated from `T::cache()`. Once inserted, owned by the index; freed only with
/// `call_rcu()` after being unlinked.
#[pin_data]
pub(crate) struct Indexed<T: Payload> {
    nodes: [Node<T::Key>; NODES],
    alt: AltNode<T::AltKey>,
    rcu: Opaque<bindings::callback_head>,
    #[pin]
    payload: T,
}

// SAFETY: The RCU head is only used by `call_rcu()` once the object is unreachable; everything
// else is the payload and the nodes, which are `Send` and `Sync` (`Payload` bounds, atomics).
unsafe impl<T: Payload> Send for Indexed<T> {}
// SAFETY: As above: shared references give access to the nodes' atomics and to `&T` only.
unsafe impl<T: Payload> Sync for Indexed<T> {}

impl<T: Payload> Deref for Indexed<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        &self.payload
    }
}

impl<T: Payload> Indexed<T> {
    /// Allocates an object keyed by `keys` and by `alt` in the alternate table (each with its
    /// hash), initialising the payload in place with `payload`.
    pub(crate) fn new<E: From<Error>>(
        keys: [(T::Key, u64); NODES],
        alt: (T::AltKey, u64),
        payload: impl PinInit<T, E>,
        gfp: super::alloc::Gfp,
    ) -> Result<Owned<Indexed<T>>, E> {
        let [(k0, h0), (k1, h1)] = keys;
        let node = |key, hash, slot| Node {
            link: Link::new(),
            hash,
            key,
            slot,
        };
        T::cache().alloc(
            try_pin_init!(Indexed {
                nodes: [node(k0, h0, 0), node(k1, h1, 1)],
                alt: AltNode {
                    link: Link::new(),
                    hash: alt.1,
                    key: alt.0,
                },
                rcu: Opaque::uninit(),
                payload <- payload,
            }? E),
            gfp,
        )
    }

    /// Returns the object's position in its index's order (that of its first node), for walks
    /// that must find it again.
    pub(crate) fn position(&self) -> (u64, T::Key) {
        (self.nodes[0].hash, self.nodes[0].key)
    }

    /// Returns the object's key in the alternate table.
    pub(crate) fn alt_key(&self) -> &T::AltKey {
        &self.alt.key
    }

    /// Returns the object an alternate node belongs to.
    fn of_alt_node(node: &AltNode<T::AltKey>) -> &Indexed<T> {
        let node: *const AltNode<T::AltKey> = node;
        // SAFETY: `node` is the `alt` field of an `Indexed<T>` (type invariant of `AltNode`):
        // stepping back the field's offset stays inside that object, which the borrow of `node`
        // keeps alive.
        unsafe {
            &*node
                .cast::<u8>()
                .sub(offset_of!(Indexed<T>, alt))
                .cast::<Indexed<T>>()
        }
    }

    /// Returns the object a node belongs to.
    #[inline(always)]
    fn of_node(node: &Node<T::Key>) -> &Indexed<T> {
        let slot = usize::from(node.slot);
        let first: *const Node<T::Key> = node;
        // SAFETY: `node` is `nodes[slot]` of an `Indexed<T>` (type invariant of `Node`): stepping
        // back `slot` nodes and then the offset of `nodes` stays inside that object, which the
        // borrow of `node` keeps alive.
        unsafe {
            let nodes = first.sub(slot);
            &*nodes
                .cast::<u8>()
                .sub(offset_of!(Indexed<T>, nodes))
                .cast::<Indexed<T>>()
        }
    }
}

// SAFETY: `rcu_head` is the object's own, unused-by-anything-else head; `from_rcu_head` inverts it
// with the field's offset; every object comes from `T::cache()` (type invariant).
unsafe impl<T: Payload> RcuFree for Indexed<T> {
    fn cache() -> &'static Cache<Self> {
        T::cache()
    }

    fn rcu_head(this: NonNull<Self>) -> *mut bindings::callback_head {
        // SAFETY: `this` is a live object; the projection stays inside it.
        unsafe { (*this.as_ptr()).rcu.get() }
    }

    unsafe fn from_rcu_head(head: *mut bindings::callback_head) -> NonNull<Self> {
        // SAFETY: `head` is the `rcu` field of an object (contract), `Opaque` being transparent.
        unsafe {
            NonNull::new_unchecked(
                head.cast::<u8>()
                    .sub(offset_of!(Indexed<T>, rcu))
                    .cast::<Indexed<T>>(),
            )
        }
    }
}

/// Where a walk of an [`Index`] stands (see [`rcu_table::Cursor`]).
pub(crate) type IndexCursor<T> = Cursor<<T as Payload>::Key>;

/// The hash index of a flow table: owns its objects.
///
/// # Invariants
///
/// - Every node linked in `table` belongs to an [`Indexed<T>`] owned by the index, whose nodes
///   are all linked, and whose alternate node is linked in `alt`; it was given up with
///   [`Owned::into_raw`] at insertion and is given back to `call_rcu()` when unlinked. `alt`
///   links the alternate nodes of exactly these objects.
/// - `table` and `alt` are written (insert, remove, resize relinking) only with `writer` held,
///   and resized by one caller at a time (`resizing`).
#[pin_data(PinnedDrop)]
pub(crate) struct Index<T: Payload> {
    table: Table<Node<T::Key>, KernelMem>,
    alt: Table<AltNode<T::AltKey>, KernelMem>,
    sizing: Sizing,
    #[pin]
    writer: BhSpinLock<()>,
    #[pin]
    resizing: kernel::sync::Mutex<()>,
}

impl<T: Payload> Index<T> {
    /// Creates an empty index with the given size limits.
    pub(crate) fn new(sizing: Sizing) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            table: Table::new(sizing.min).ok_or(ENOMEM)?,
            alt: Table::new(sizing.min).ok_or(ENOMEM)?,
            sizing,
            writer <- BhSpinLock::new(()),
            resizing <- kernel::new_mutex!(()),
        }? Error)
    }

    /// Returns the number of objects.
    pub(crate) fn objects(&self) -> usize {
        self.table.entries() / NODES
    }

    /// Returns the number of buckets.
    pub(crate) fn buckets(&self, rcu: &ReadSection) -> usize {
        self.table.len(rcu)
    }

    /// Returns whether the load calls for growing before the next scheduled resize.
    pub(crate) fn overloaded(&self, rcu: &ReadSection) -> bool {
        self.sizing
            .overloaded(self.table.len(rcu), self.table.entries())
    }

    /// Looks up the object with a node keyed `key` (hashed `hash`), and which node matched.
    #[inline(always)]
    pub(crate) fn lookup<'a>(
        &'a self,
        rcu: &'a ReadSection,
        hash: u64,
        key: &T::Key,
    ) -> Option<(&'a Indexed<T>, usize)> {
        let node = self.table.lookup(rcu, hash, key)?;
        Some((Indexed::of_node(node), usize::from(node.slot)))
    }

    /// Looks up the object whose alternate key is `key` (hashed `hash`).
    pub(crate) fn lookup_alt<'a>(
        &'a self,
        rcu: &'a ReadSection,
        hash: u64,
        key: &T::AltKey,
    ) -> Option<&'a Indexed<T>> {
        self.alt.lookup(rcu, hash, key).map(Indexed::of_alt_node)
    }

    /// Inserts an object, unless one of its keys is taken: then it is handed back. On success
    /// returns the object, now owned by the index, borrowed for the caller's read-side section
    /// (a concurrent removal frees it only after that section).
    pub(crate) fn insert<'a>(
        &'a self,
        _rcu: &'a ReadSection,
        obj: Owned<Indexed<T>>,
    ) -> Result<&'a Indexed<T>, Owned<Indexed<T>>> {
        let [n0, n1] = &obj.nodes;
        let guard = self.writer.lock();
        // SAFETY: The writer lock is held. The nodes are in no table (the object is new: `Owned`
        // is only ever created by the cache for fresh objects), and on success the object stays
        // allocated until `remove` hands it to `call_rcu()` (type invariant).
        let mut inserted = unsafe { self.alt.insert(&[&obj.alt]) };
        if inserted.is_ok() {
            // SAFETY: As above.
            inserted = unsafe { self.table.insert(&[n0, n1]) };
            if inserted.is_err() {
                // SAFETY: As above; linked just now, so never seen by a remover.
                unsafe { self.alt.remove(&obj.alt) };
            }
        }
        drop(guard);
        match inserted {
            Ok(()) => {
                // INVARIANT: Linked: the index owns it now.
                let raw = obj.into_raw();
                // SAFETY: Just linked; a remover unlinks it and frees it with `call_rcu()`, so it
                // stays allocated until the caller's read-side section (`_rcu`) ends.
                Ok(unsafe { raw.as_ref() })
            }
            Err(rcu_table::Exists) => Err(obj),
        }
    }

    /// Unlinks an object of this index and frees it after a grace period; does nothing if it is
    /// not linked (any more). Readers holding it keep a valid borrow until their section ends.
    pub(crate) fn remove(&self, obj: &Indexed<T>) {
        let guard = self.writer.lock();
        // SAFETY: Writer lock held; `obj` is allocated (borrowed).
        let linked = unsafe { self.table.remove(&obj.nodes[0]) };
        if linked {
            // SAFETY: As above; both nodes and the alternate node are linked together (type
            // invariant).
            unsafe {
                self.table.remove(&obj.nodes[1]);
                self.alt.remove(&obj.alt);
            }
        }
        drop(guard);
        if linked {
            // SAFETY: The object was linked, so the index owned it (type invariant); unlinked
            // now, under the lock, exactly once. Readers that found it before are covered by
            // the grace period of `free_rcu`.
            let owned = unsafe { Owned::from_raw(NonNull::from(obj), T::cache()) };
            owned.free_rcu();
        }
    }

    /// Visits objects in the index's order from `cursor` (see [`Table::walk`]), through their
    /// first node.
    pub(crate) fn walk<'a>(
        &'a self,
        rcu: &'a ReadSection,
        cursor: &mut IndexCursor<T>,
        budget: usize,
        mut f: impl FnMut(&'a Indexed<T>) -> ControlFlow<()>,
    ) -> bool {
        self.table.walk(rcu, cursor, budget, |node| {
            if node.slot == 0 {
                f(Indexed::of_node(node))
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    /// Calls `f` on every object, in process context: the walk holds the RCU read lock a few
    /// hundred buckets at a time and may reschedule in between. `f` may remove the object.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Indexed<T>)) {
        const BUDGET: usize = 256;
        let mut cursor = Cursor::START;
        loop {
            let guard = rcu::read_lock();
            let done = self.walk(&guard, &mut cursor, BUDGET, |obj| {
                f(obj);
                ControlFlow::Continue(())
            });
            drop(guard);
            if done {
                return;
            }
            rcu::cond_resched();
        }
    }

    /// Grows or shrinks the bucket array when the load calls for it, returning what it did.
    /// Process context; waits for a grace period. A failed allocation keeps the current array
    /// (longer chains) until the next call.
    pub(crate) fn resize(&self) -> Result<Option<Resized>> {
        let _serial = self.resizing.lock();
        // The alternate table first, on its own load (one node per object, not two): it is
        // only looked up by control-plane requests, so its resizes are not reported.
        let (alt_len, alt_want) = {
            let guard = rcu::read_lock();
            let len = self.alt.len(&*guard);
            (len, self.sizing.wanted(len, self.alt.entries()))
        };
        if alt_want != alt_len {
            // SAFETY: As for the main table below.
            unsafe {
                self.alt
                    .resize(alt_want, || self.writer.lock(), rcu::synchronize)
            }
            .map_err(|_| ENOMEM)?;
        }
        let (len, want) = {
            let guard = rcu::read_lock();
            let len = self.table.len(&*guard);
            (len, self.sizing.wanted(len, self.table.entries()))
        };
        if want == len {
            return Ok(None);
        }
        let held = Cell::new(0);
        let lock = || TimedGuard {
            _guard: self.writer.lock(),
            start: time::ktime_ns(),
            held: &held,
        };
        // SAFETY: `lock` takes the writer lock the other writers take; we hold neither it nor a
        // read-side section; `resizing` serialises resizes.
        unsafe { self.table.resize(want, lock, rcu::synchronize) }.map_err(|_| ENOMEM)?;
        Ok(Some(Resized {
            from: len,
            to: want,
            locked_ns: held.get(),
        }))
    }
}

/// What [`Index::resize`] did.
pub(crate) struct Resized {
    /// Buckets before.
    pub(crate) from: usize,
    /// Buckets after.
    pub(crate) to: usize,
    /// How long the writer lock was held (inserts and removals waited), in nanoseconds.
    pub(crate) locked_ns: u64,
}

/// A writer lock guard that records how long it was held.
struct TimedGuard<'a, G> {
    _guard: G,
    start: u64,
    held: &'a Cell<u64>,
}

impl<G> Drop for TimedGuard<'_, G> {
    fn drop(&mut self) {
        self.held.set(time::ktime_ns().saturating_sub(self.start));
    }
}

#[pinned_drop]
impl<T: Payload> PinnedDrop for Index<T> {
    fn drop(self: Pin<&mut Self>) {
        // Objects still linked would leak: the owner removes them all first.
        let mut left = 0;
        self.for_each(|obj| {
            left += 1;
            self.remove(obj);
        });
        if left != 0 {
            pr_err!(
                "rflow: {} objects still indexed when their index went away\n",
                left
            );
        }
    }
}
