// SPDX-License-Identifier: GPL-2.0

//! The nf_tables flowtable type interface (`struct nf_flowtable_type`) and the per-namespace
//! registry of an implementation's flowtables.
//!
//! nf_tables calls a type's `init` when a flowtable is created, `setup` when a device is bound or
//! unbound, the `hook` at ingress of the flowtable's devices, and `free` when the flowtable goes.
//! [`Types`] registers the `ip`, `ip6` and `inet` types for an implementation of
//! [`FlowtableOps`] and turns those C callbacks into calls on its state, which it owns: built
//! before the flowtable is published, listed in its namespace's [`Registry`], and dropped only
//! after it is unlisted and no reader can see it any more.

use super::{HookState, NfFlowtable, Verdict};
use crate::bindings;
use crate::sys::{
    net::Net,
    netdev::NetDevice,
    rcu::{self, ReadSection},
    skb::HookSkb,
    work::DelayedWork,
};
use core::{
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering},
};
use kernel::{
    error::from_result,
    ffi::c_int,
    init::PinInit,
    new_condvar, new_mutex,
    prelude::*,
    sync::{CondVar, Mutex},
    types::Opaque,
    ThisModule,
};

/// Which packets a flowtable type's hook looks at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Family {
    /// IPv4 only (`nf_flow_offload_ip_hook()`).
    Ipv4,
    /// IPv6 only (`nf_flow_offload_ipv6_hook()`).
    Ipv6,
    /// Both (`nf_flow_offload_inet_hook()`).
    Inet,
}

/// `setup` commands (`enum flow_block_command`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum BlockCommand {
    /// A device joins the flowtable.
    Bind,
    /// A device leaves it.
    Unbind,
}

/// A flowtable implementation: the state of one flowtable and what nf_tables asks of it.
pub(crate) trait FlowtableOps: Sized + Send + Sync + 'static {
    /// Builds the state of a new flowtable. It becomes reachable (hook, GC, registry) only
    /// once fully built.
    fn new(nf: &NfFlowtable) -> impl PinInit<Self, Error>;

    /// Returns the registry of the flowtables of namespace `net`.
    fn registry(net: &Net) -> Option<&Registry<Self>>;

    /// A device joins or leaves the flowtable.
    fn setup(&self, nf: &NfFlowtable, dev: &NetDevice, cmd: BlockCommand) -> Result;

    /// The ingress hook: a packet arrived on one of the flowtable's devices. It runs inside
    /// netfilter's read-side section (`rcu`).
    fn hook(
        &self,
        rcu: &ReadSection,
        nf: &NfFlowtable,
        skb: HookSkb<'_>,
        state: &HookState,
        family: Family,
    ) -> Verdict;

    /// The periodic GC, on the flowtable's own work item; returns the delay in jiffies until the
    /// next run.
    fn gc(&self, nf: &NfFlowtable) -> u32;

    /// The flowtable is going away: it is unlisted, no hook, expression, reader or GC run can
    /// reach it any more. Tear everything down; the state is dropped right after.
    fn shutdown(&self, nf: &NfFlowtable);
}

/// A flowtable's state as the adapter owns it.
///
/// # Invariants
///
/// `nf` is the flowtable of this state, valid until after the state is dropped; `id` is unique
/// in the namespace's registry; `next` links the registry's list; `pins` counts the walks of
/// [`Registry::for_each_pinned`] working on this state, and changes only under the registry's
/// lock.
#[pin_data]
struct Registered<S: FlowtableOps> {
    #[pin]
    state: S,
    nf: NonNull<bindings::nf_flowtable>,
    id: AtomicU64,
    next: AtomicPtr<Registered<S>>,
    pins: AtomicU32,
}

// SAFETY: `nf` is only used through `NfFlowtable`, whose methods are safe from any context; the
// rest is `S` (`Send + Sync`) and atomics.
unsafe impl<S: FlowtableOps> Send for Registered<S> {}
// SAFETY: As above.
unsafe impl<S: FlowtableOps> Sync for Registered<S> {}

impl<S: FlowtableOps> Registered<S> {
    fn nf(&self) -> &NfFlowtable {
        // SAFETY: Valid for the life of the state (type invariant).
        unsafe { NfFlowtable::from_raw(self.nf.as_ptr()) }
    }

    fn member(&self) -> Member<'_, S> {
        Member {
            id: self.id.load(Ordering::Relaxed),
            nf: self.nf(),
            state: &self.state,
        }
    }
}

/// A flowtable found in a [`Registry`].
pub(crate) struct Member<'a, S> {
    /// Its id in the namespace: ids grow, and lists go from the newest to the oldest.
    pub(crate) id: u64,
    /// The C flowtable.
    pub(crate) nf: &'a NfFlowtable,
    /// The implementation's state.
    pub(crate) state: &'a S,
}

/// The flowtables of one namespace (the `flowtables` list of the C core, per namespace).
///
/// Readers walk the list under RCU; the netdevice notifier and flowtable creation and
/// destruction take `lock`, which is a leaf lock: taken under RTNL (the notifier) and under
/// nf_tables' commit mutex (`init`, `free`), and nothing is taken under it but the locks of the
/// flowtables' own work. `free` waits for a walk of [`Registry::for_each_pinned`] that pins
/// its flowtable, with the commit mutex held (nf_tables' own netdevice notifier takes that
/// mutex under RTNL): latency bounded by one flowtable's walk, not a deadlock, since the walk
/// takes none of those locks.
///
/// # Invariants
///
/// `head` starts a list of [`Registered`] states linked by `next`, in decreasing `id` order,
/// changed only with `lock` held; a state is freed only a grace period after being unlinked, and
/// only once no walk pins it.
#[pin_data]
pub(crate) struct Registry<S: FlowtableOps> {
    #[pin]
    lock: Mutex<()>,
    /// Signalled, under `lock`, when a state's last pin goes.
    #[pin]
    unpinned: CondVar,
    head: AtomicPtr<Registered<S>>,
    next_id: AtomicU64,
    /// Bumped when a flowtable comes or goes: a walk that sees it change may have missed one.
    generation: AtomicU32,
}

impl<S: FlowtableOps> Registry<S> {
    /// Creates an empty registry.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            lock <- new_mutex!(()),
            unpinned <- new_condvar!(),
            head: AtomicPtr::new(ptr::null_mut()),
            next_id: AtomicU64::new(1),
            generation: AtomicU32::new(1),
        })
    }

    fn add(&self, r: &Registered<S>) {
        let _guard = self.lock.lock();
        r.id.store(
            self.next_id.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        r.next
            .store(self.head.load(Ordering::Relaxed), Ordering::Relaxed);
        // Publishes the fully built state to RCU readers.
        self.head
            .store(ptr::from_ref(r).cast_mut(), Ordering::Release);
        self.bump_generation();
    }

    fn bump_generation(&self) {
        // Never 0: netlink takes a dump's sequence 0 for "not checked".
        let _ = self
            .generation
            .fetch_update(Ordering::Release, Ordering::Relaxed, |g| {
                Some(g.wrapping_add(1).max(1))
            });
    }

    /// Returns the generation of the list: it changes whenever a flowtable is added or removed.
    pub(crate) fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }

    /// Unlists `r`, then waits until no walk pins it.
    fn remove(&self, r: &Registered<S>) {
        let mut guard = self.lock.lock();
        let mut slot = &self.head;
        loop {
            let p = slot.load(Ordering::Relaxed);
            if p.is_null() {
                break;
            }
            if ptr::eq(p, r) {
                slot.store(r.next.load(Ordering::Relaxed), Ordering::Release);
                self.bump_generation();
                break;
            }
            // SAFETY: Under `lock`, listed states stay allocated (type invariant).
            slot = unsafe { &(*p).next };
        }
        while r.pins.load(Ordering::Relaxed) != 0 {
            self.unpinned.wait(&mut guard);
        }
    }

    /// Calls `f` on every flowtable of the namespace, with the registry locked: `f` may sleep,
    /// and no flowtable can be created or destroyed meanwhile.
    pub(crate) fn for_each_locked(&self, mut f: impl FnMut(Member<'_, S>)) {
        let _guard = self.lock.lock();
        let mut p = self.head.load(Ordering::Relaxed);
        // SAFETY: Under `lock`, listed states stay allocated (type invariant).
        while let Some(r) = unsafe { p.as_ref() } {
            f(r.member());
            p = r.next.load(Ordering::Relaxed);
        }
    }

    /// Calls `f` on each flowtable older than `before` (all for `None`), newest first, until `f`
    /// returns `false`. Unlike [`Registry::for_each_locked`], the registry is not locked while
    /// `f` runs, so `f` may take long (walk a million flows) without holding up the netdevice
    /// notifier (under RTNL) or flowtable creation: the flowtable being visited is pinned, and
    /// its destruction waits until `f` returns. Flowtables created meanwhile are not visited.
    pub(crate) fn for_each_pinned(
        &self,
        mut before: Option<u64>,
        mut f: impl FnMut(Member<'_, S>) -> bool,
    ) {
        loop {
            let guard = self.lock.lock();
            let mut p = self.head.load(Ordering::Relaxed);
            let r = loop {
                // SAFETY: Under `lock`, listed states stay allocated (type invariant).
                match unsafe { p.as_ref() } {
                    None => return,
                    Some(r) if before.map_or(true, |b| r.id.load(Ordering::Relaxed) < b) => {
                        break r
                    }
                    Some(r) => p = r.next.load(Ordering::Relaxed),
                }
            };
            r.pins.fetch_add(1, Ordering::Relaxed);
            drop(guard);
            // `r` stays allocated without the lock: `free_callback` drops a state only after
            // `remove`, which waits for its pins to go.
            let go_on = f(r.member());
            before = Some(r.id.load(Ordering::Relaxed));
            let _guard = self.lock.lock();
            if r.pins.fetch_sub(1, Ordering::Relaxed) == 1 {
                self.unpinned.notify_all();
            }
            if !go_on {
                return;
            }
        }
    }

    /// Returns the newest flowtable older than `before` (the newest of all for `None`).
    pub(crate) fn next_rcu<'a>(
        &'a self,
        _rcu: &'a ReadSection,
        before: Option<u64>,
    ) -> Option<Member<'a, S>> {
        let mut p = self.head.load(Ordering::Acquire);
        // SAFETY: States reachable in a read-side section are freed only after a grace period
        // (type invariant).
        while let Some(r) = unsafe { p.as_ref() } {
            let m = r.member();
            if before.map_or(true, |b| m.id < b) {
                return Some(m);
            }
            p = r.next.load(Ordering::Acquire);
        }
        None
    }

    /// Returns the flowtables, newest first, as a read-side section sees them.
    pub(crate) fn iter_rcu<'a>(
        &'a self,
        rcu: &'a ReadSection,
    ) -> impl Iterator<Item = Member<'a, S>> + 'a {
        let mut before = None;
        core::iter::from_fn(move || {
            let m = self.next_rcu(rcu, before)?;
            before = Some(m.id);
            Some(m)
        })
    }

    /// Returns the flowtable with id `id`, if still there.
    pub(crate) fn find_rcu<'a>(&'a self, rcu: &'a ReadSection, id: u64) -> Option<Member<'a, S>> {
        self.next_rcu(rcu, id.checked_add(1)).filter(|m| m.id == id)
    }
}

/// The three registered flowtable types of implementation `S`; unregistered on drop.
///
/// # Invariants
///
/// Each entry of `types` is registered with nf_tables while the value exists, and pinned.
#[pin_data(PinnedDrop)]
pub(crate) struct Types<S: FlowtableOps> {
    #[pin]
    types: [Opaque<bindings::nf_flowtable_type>; 3],
    _s: core::marker::PhantomData<S>,
}

// SAFETY: After registration the C structures are only read by nf_tables.
unsafe impl<S: FlowtableOps> Send for Types<S> {}
// SAFETY: As above: shared references give no access to them.
unsafe impl<S: FlowtableOps> Sync for Types<S> {}

const IPV4: u8 = 0;
const IPV6: u8 = 1;
const INET: u8 = 2;

impl<S: FlowtableOps> Types<S> {
    /// Registers the `ip`, `ip6` and `inet` flowtable types.
    pub(crate) fn register(module: &'static ThisModule) -> Result<Pin<KBox<Self>>> {
        let ty = |family: u32, hook: bindings::nf_hookfn| {
            Opaque::new(bindings::nf_flowtable_type {
                family: family as c_int,
                init: Some(init_callback::<S>),
                setup: Some(setup_callback::<S>),
                free: Some(free_callback::<S>),
                hook,
                owner: module.as_ptr().cast(),
                ..Default::default()
            })
        };
        let this = KBox::pin(
            Types {
                types: [
                    ty(bindings::NFPROTO_IPV4, Some(hook_callback::<S, IPV4>)),
                    ty(bindings::NFPROTO_IPV6, Some(hook_callback::<S, IPV6>)),
                    ty(bindings::NFPROTO_INET, Some(hook_callback::<S, INET>)),
                ],
                _s: core::marker::PhantomData,
            },
            GFP_KERNEL,
        )?;
        for t in &this.types {
            // SAFETY: The type is initialised and pinned in the box; unregistered on drop.
            unsafe { bindings::nft_register_flowtable_type(t.get()) };
        }
        Ok(this)
    }

    /// Returns the state of `nf`, if it is a flowtable of this module's types.
    pub(crate) fn state_of(nf: &NfFlowtable) -> Option<&S> {
        registered::<S>(nf).map(|r| &r.state)
    }
}

#[pinned_drop]
impl<S: FlowtableOps> PinnedDrop for Types<S> {
    fn drop(self: Pin<&mut Self>) {
        for t in self.types.iter().rev() {
            // SAFETY: Registered in `register` (type invariant). nf_tables holds a reference on
            // this module for every flowtable of these types, so none is left when this runs.
            unsafe { bindings::nft_unregister_flowtable_type(t.get()) };
        }
    }
}

/// Returns the adapter's state of `nf`, if `nf` is a published flowtable of this module's types.
fn registered<S: FlowtableOps>(nf: &NfFlowtable) -> Option<&Registered<S>> {
    let ty = nf.type_ptr();
    // SAFETY: A flowtable's type stays registered, and its module loaded, while it exists.
    if ty.is_null() || unsafe { (*ty).owner } != crate::THIS_MODULE.as_ptr().cast() {
        return None;
    }
    // SAFETY: For this module's types the slot holds null or a published `Registered<S>` (the
    // module has one implementation), cleared in `free` before it is dropped.
    unsafe { nf.private().cast::<Registered<S>>().as_ref() }
}

/// Returns the flowtable of implementation `S` that an XDP lookup on `dev` uses
/// (`nf_flowtable_by_dev()` in C): the first of the device's ingress hooks, in hook order, that
/// belongs to one of these types, skipping `flags offload` flowtables (C registers only
/// software flowtables for XDP).
pub(crate) fn ingress_software_flowtable<'a, S: FlowtableOps>(
    _rcu: &'a ReadSection,
    dev: &NetDevice,
) -> Option<Member<'a, S>> {
    // The functions `Types::register` gives nf_tables as the types' hooks; the kernel builds
    // Rust with one codegen unit, so each has one address.
    let hooks: [bindings::nf_hookfn; 3] = [
        Some(hook_callback::<S, IPV4>),
        Some(hook_callback::<S, IPV6>),
        Some(hook_callback::<S, INET>),
    ];
    // SAFETY: `dev` is a live device, and `_rcu` proves a read-side section, in which the
    // device's hook entries stay valid; `hooks` is valid for the call.
    let ft = unsafe {
        bindings::rflow_ingress_software_flowtable(dev.as_ptr(), hooks.as_ptr(), hooks.len() as u32)
    };
    if ft.is_null() {
        return None;
    }
    // SAFETY: A flowtable reached through a hook entry in a read-side section stays valid until
    // the section ends: nf_tables frees it a grace period after unregistering its hooks.
    let nf: &'a NfFlowtable = unsafe { NfFlowtable::from_raw(ft) };
    registered::<S>(nf).map(Registered::member)
}

/// `init`: builds the state, publishes it, lists it, starts its GC.
///
/// # Safety
///
/// Called by nf_tables under its commit mutex with a new flowtable of one of these types.
unsafe extern "C" fn init_callback<S: FlowtableOps>(ft: *mut bindings::nf_flowtable) -> c_int {
    // SAFETY: nf_tables passes a flowtable that lives until `free`.
    let nf = unsafe { NfFlowtable::from_raw(ft) };
    from_result(|| {
        let registry = S::registry(nf.net()).ok_or(ENODEV)?;
        // SAFETY: The flowtable is new: nothing has queued its work item yet.
        unsafe { DelayedWork::init(&raw mut (*ft).gc_work, gc_callback::<S>) };
        // SAFETY: The flowtable is new and not yet visible to anything else.
        unsafe { bindings::rflow_nf_flowtable_init_block(ft) };
        let r = KBox::pin_init(
            try_pin_init!(Registered {
                state <- S::new(nf),
                nf: NonNull::from(nf).cast(),
                id: AtomicU64::new(0),
                next: AtomicPtr::new(ptr::null_mut()),
                pins: AtomicU32::new(0),
            }? Error),
            GFP_KERNEL,
        )?;
        // SAFETY: The state is never moved out of its allocation: only pointers to it are used
        // until `free` rebuilds the box to drop it.
        let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(r) });
        // SAFETY: nf_tables calls `init` before any hook or expression can see the flowtable.
        unsafe { nf.set_private(raw.cast()) };
        // SAFETY: Just published, alive until `free`.
        registry.add(unsafe { &*raw });
        nf.gc().queue(crate::sys::time::HZ);
        Ok(0)
    })
}

/// `free`: unlists the state, waits for readers, shuts it down and drops it.
///
/// # Safety
///
/// Called by nf_tables once for a flowtable whose `init` succeeded, after its hooks are gone
/// and a grace period has elapsed; expressions referring to it hold a use count that prevents it.
unsafe extern "C" fn free_callback<S: FlowtableOps>(ft: *mut bindings::nf_flowtable) {
    // SAFETY: nf_tables passes the flowtable being freed, valid for the call.
    let nf = unsafe { NfFlowtable::from_raw(ft) };
    let raw = nf.private().cast::<Registered<S>>();
    if raw.is_null() {
        return;
    }
    // SAFETY: Published by `init`, alive until dropped below.
    let r = unsafe { &*raw };
    if let Some(registry) = S::registry(nf.net()) {
        registry.remove(r);
    }
    // Registry readers (listings, dumps) that found it are done after this.
    rcu::synchronize();
    nf.gc().cancel_sync();
    r.state.shutdown(nf);
    // SAFETY: Nothing can reach the flowtable any more (function contract, unlisted, GC off).
    unsafe { nf.set_private(ptr::null_mut()) };
    // SAFETY: `raw` came from `KBox::into_raw` in `init`; every reference is gone.
    drop(unsafe { KBox::from_raw(raw) });
}

/// `setup`: a device is bound or unbound.
///
/// # Safety
///
/// Called by nf_tables under its commit mutex with a live flowtable and one of its devices.
unsafe extern "C" fn setup_callback<S: FlowtableOps>(
    ft: *mut bindings::nf_flowtable,
    dev: *mut bindings::net_device,
    cmd: bindings::flow_block_command,
) -> c_int {
    // SAFETY: nf_tables passes a live flowtable and one of its devices.
    let (nf, dev) = unsafe { (NfFlowtable::from_raw(ft), NetDevice::from_raw(dev)) };
    let cmd = match cmd {
        bindings::FLOW_BLOCK_BIND => BlockCommand::Bind,
        bindings::FLOW_BLOCK_UNBIND => BlockCommand::Unbind,
        _ => return crate::sys::errno::eopnotsupp().to_errno(),
    };
    from_result(|| {
        let r = registered::<S>(nf).ok_or(ENODEV)?;
        r.state.setup(nf, dev, cmd)?;
        Ok(0)
    })
}

/// The GC work item of a flowtable.
///
/// # Safety
///
/// Only called by the workqueue for a `gc_work` that `init_callback` set up.
unsafe extern "C" fn gc_callback<S: FlowtableOps>(work: *mut bindings::work_struct) {
    // SAFETY: `init_callback` set this function on the `gc_work` of a flowtable, queued it only
    // once published, and `free` cancels it before unpublishing.
    let nf = unsafe { NfFlowtable::from_gc_work(work) };
    if let Some(r) = registered::<S>(nf) {
        let delay = r.state.gc(nf);
        nf.gc().queue(delay);
    }
}

/// The ingress hook of a flowtable of family `F`.
///
/// # Safety
///
/// Called by netfilter, in an RCU read-side section, with the flowtable the hook was registered
/// for as `priv_`, a packet the hook owns, and the hook state.
unsafe extern "C" fn hook_callback<S: FlowtableOps, const F: u8>(
    priv_: *mut kernel::ffi::c_void,
    skb: *mut bindings::sk_buff,
    state: *const bindings::nf_hook_state,
) -> kernel::ffi::c_uint {
    let family = match F {
        IPV4 => Family::Ipv4,
        IPV6 => Family::Ipv6,
        _ => Family::Inet,
    };
    // SAFETY: nf_tables registers this hook with `priv` set to a flowtable of one of these
    // types, and unregisters it (followed by a grace period) before `free`.
    let nf = unsafe { NfFlowtable::from_raw(priv_.cast()) };
    // SAFETY: The flowtable is one of these types (its hook is this function), published by
    // `init` before nf_tables registered the hook, unpublished only in `free`: the slot holds a
    // live `Registered<S>`.
    let r = unsafe { &*nf.private().cast::<Registered<S>>() };
    // SAFETY: The hook owns the packet until it returns a verdict or steals it.
    let skb = unsafe { HookSkb::new(skb) };
    // SAFETY: `state` is valid for the hook call.
    let state = unsafe { HookState::from_raw(state) };
    // SAFETY: `nf_hook_slow()` runs hooks under `rcu_read_lock()`, for the whole call.
    let rcu = unsafe { ReadSection::assume() };
    r.state.hook(rcu, nf, skb, state, family).to_nf()
}
