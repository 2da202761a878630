// SPDX-License-Identifier: GPL-2.0

//! The nf_tables expression interface (`struct nft_expr_type`, `struct nft_expr_ops`).
//!
//! [`ExprType`] registers an expression implemented by an [`ExprOps`] type, whose values are the
//! expressions' private data: built by `init` into the space nf_tables reserves after each
//! expression, shared (`&Self`) by every CPU evaluating it, and moved out to be dropped by
//! `destroy`.

use super::{NfFlowtable, PktInfo};
use crate::bindings;
use crate::sys::rcu::ReadSection;
use core::{ffi::CStr, marker::PhantomData, mem::size_of};
use kernel::{
    error::{from_err_ptr, from_result},
    ffi::c_int,
    prelude::*,
    types::Opaque,
    ThisModule,
};

/// An nf_tables expression implementation; values are the private data of one expression.
pub(crate) trait ExprOps: Sized + Send + Sync + 'static {
    /// The expression's name (`flow_offload`).
    const NAME: &'static CStr;
    /// Highest attribute number.
    const MAX_ATTR: usize;
    /// The attributes and their policy: (attribute, `NLA_*` type, length).
    const POLICY: &'static [(u32, u8, u16)];

    /// Builds an expression from its attributes (`init`), under nf_tables' commit mutex.
    fn init(ctx: &Ctx, attrs: &Attrs<'_>) -> Result<Self>;

    /// Evaluates the expression on a packet, in the packet path, inside netfilter's read-side
    /// section (`rcu`).
    fn eval(&self, rcu: &ReadSection, regs: &mut Regs, pkt: &PktInfo);

    /// The rule is committed again after an aborted removal.
    fn activate(&self, ctx: &Ctx);

    /// The rule is being removed in a transaction (phase `phase`).
    fn deactivate(&self, ctx: &Ctx, phase: bindings::nft_trans_phase);

    /// The expression is freed.
    fn destroy(self, ctx: &Ctx);

    /// Checks where the expression is used (`validate`).
    fn validate(ctx: &Ctx) -> Result;

    /// Puts the expression's attributes into a netlink message.
    fn dump(&self, msg: &mut NlMsg) -> Result;
}

/// The registered expression type; unregistered on drop.
///
/// # Invariants
///
/// `ty` is registered with nf_tables while the value exists; `ty`, `ops` and `policy` point to
/// each other and are pinned.
#[pin_data(PinnedDrop)]
pub(crate) struct ExprType<T: ExprOps> {
    #[pin]
    ty: Opaque<bindings::nft_expr_type>,
    #[pin]
    ops: Opaque<bindings::nft_expr_ops>,
    policy: KVec<bindings::nla_policy>,
    _t: PhantomData<T>,
}

// SAFETY: After registration the C structures are only read by nf_tables.
unsafe impl<T: ExprOps> Send for ExprType<T> {}
// SAFETY: As above: shared references give no access to them.
unsafe impl<T: ExprOps> Sync for ExprType<T> {}

impl<T: ExprOps> ExprType<T> {
    /// Registers the expression.
    pub(crate) fn register(module: &'static ThisModule) -> Result<Pin<KBox<Self>>> {
        let mut policy = KVec::with_capacity(T::MAX_ATTR + 1, GFP_KERNEL)?;
        for _ in 0..=T::MAX_ATTR {
            policy.push(bindings::nla_policy::default(), GFP_KERNEL)?;
        }
        for &(attr, ty, len) in T::POLICY {
            let p = policy.get_mut(attr as usize).ok_or(EINVAL)?;
            p.type_ = ty;
            p.len = len;
        }
        // `NFT_EXPR_SIZE()`: the expression header, then the private data, both aligned.
        let align = core::mem::align_of::<bindings::nft_expr>();
        if core::mem::align_of::<T>() > align {
            return Err(EINVAL);
        }
        let size = size_of::<bindings::nft_expr>() + size_of::<T>().next_multiple_of(align);
        let this = KBox::pin(
            ExprType {
                ty: Opaque::new(bindings::nft_expr_type::default()),
                ops: Opaque::new(bindings::nft_expr_ops {
                    size: u32::try_from(size)?,
                    eval: Some(eval_callback::<T>),
                    init: Some(init_callback::<T>),
                    activate: Some(activate_callback::<T>),
                    deactivate: Some(deactivate_callback::<T>),
                    destroy: Some(destroy_callback::<T>),
                    validate: Some(validate_callback::<T>),
                    dump: Some(dump_callback::<T>),
                    ..Default::default()
                }),
                policy,
                _t: PhantomData,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: The cells are pinned in the box and not yet shared with C; `policy` is a heap
        // array that lives as long as the box.
        unsafe {
            (*this.ops.get()).type_ = this.ty.get();
            let ty = &mut *this.ty.get();
            ty.name = T::NAME.as_ptr().cast();
            ty.ops = this.ops.get();
            ty.policy = this.policy.as_ptr();
            ty.maxattr = T::MAX_ATTR as u32;
            ty.owner = module.as_ptr().cast();
        }
        // SAFETY: Fully initialised and pinned; unregistered on drop.
        kernel::error::to_result(unsafe { bindings::nft_register_expr(this.ty.get()) })?;
        Ok(this)
    }
}

#[pinned_drop]
impl<T: ExprOps> PinnedDrop for ExprType<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered in `register` (type invariant); nf_tables holds a reference on this
        // module for every expression of the type, so none is left.
        unsafe { bindings::nft_unregister_expr(self.ty.get()) };
    }
}

/// Returns the private data area of an expression (`nft_expr_priv()`).
///
/// # Safety
///
/// `expr` must be an expression of an [`ExprType<T>`].
unsafe fn priv_ptr<T>(expr: *const bindings::nft_expr) -> *mut T {
    // SAFETY: nf_tables allocates `ops.size` bytes per expression, the private data starting at
    // `data`, aligned for `nft_expr` (which `register` checked is enough for `T`).
    unsafe { (&raw const (*expr).data).cast::<T>().cast_mut() }
}

/// The context of an nf_tables control-plane call (`struct nft_ctx`).
///
/// # Invariants
///
/// Valid for the duration of the callback it was passed to, which runs under nf_tables' commit
/// mutex.
#[repr(transparent)]
pub(crate) struct Ctx(Opaque<bindings::nft_ctx>);

impl Ctx {
    /// # Safety
    ///
    /// `ptr` must be the context of the running callback, valid for `'a`.
    unsafe fn from_raw<'a>(ptr: *const bindings::nft_ctx) -> &'a Ctx {
        // SAFETY: Transparent wrapper; validity by the function contract.
        unsafe { &*ptr.cast() }
    }

    fn raw(&self) -> &bindings::nft_ctx {
        // SAFETY: Valid for the call (type invariant); nf_tables does not change it meanwhile.
        unsafe { &*self.0.get() }
    }

    /// Returns the family of the table (`NFPROTO_*`).
    pub(crate) fn family(&self) -> u8 {
        self.raw().family
    }

    /// Looks up flowtable `name` in the context's table, in the next generation, and takes a use
    /// count on it (`nft_flowtable_lookup()`, `nft_use_inc()`).
    pub(crate) fn bind_flowtable(&self, name: &NlAttr) -> Result<FlowtableUse> {
        let c = self.raw();
        // SAFETY: `table` and `net` are valid for the call; `name` is an attribute nf_tables
        // validated as a string.
        let ft = unsafe {
            let genmask = bindings::rflow_nft_genmask_next(c.net);
            from_err_ptr(bindings::nft_flowtable_lookup(
                c.table,
                name.as_ptr(),
                genmask,
            ))?
        };
        // SAFETY: A flowtable found in the table is alive under the commit mutex.
        if !unsafe { bindings::rflow_nft_use_inc(&raw mut (*ft).use_) } {
            return Err(EMFILE);
        }
        // INVARIANT: Found and counted.
        Ok(FlowtableUse { ft })
    }

    /// Takes a reference on conntrack for the context's namespace and family
    /// (`nf_ct_netns_get()`), given back by [`Ctx::put_conntrack`].
    pub(crate) fn get_conntrack(&self) -> Result {
        let c = self.raw();
        // SAFETY: `net` is valid for the call.
        kernel::error::to_result(unsafe { bindings::nf_ct_netns_get(c.net, c.family) })
    }

    /// Gives back a reference taken by [`Ctx::get_conntrack`] (`nf_ct_netns_put()`).
    pub(crate) fn put_conntrack(&self) {
        let c = self.raw();
        // SAFETY: `net` is valid for the call; callers pair this with `get_conntrack`.
        unsafe { bindings::nf_ct_netns_put(c.net, c.family) };
    }

    /// Checks that the expression's chain only runs at the hooks in `hooks` (a bitmap of
    /// `NF_INET_*`), `nft_chain_validate_hooks()`.
    pub(crate) fn validate_hooks(&self, hooks: u32) -> Result {
        // SAFETY: `chain` is valid for `validate` calls.
        kernel::error::to_result(unsafe {
            bindings::nft_chain_validate_hooks(self.raw().chain, hooks)
        })
    }
}

/// A use count an expression holds on its flowtable, which keeps the flowtable alive.
///
/// nf_tables' transactions move the count with the rule: [`FlowtableUse::deactivate`] when the
/// rule is removed, [`FlowtableUse::activate`] when a removal is aborted; the count is not given
/// back on destroy (the deactivation did). [`FlowtableUse::release`] gives it back when `init`
/// fails after taking it.
///
/// # Invariants
///
/// `ft` is a flowtable the expression counts a use on, alive while counted.
pub(crate) struct FlowtableUse {
    ft: *mut bindings::nft_flowtable,
}

// SAFETY: The flowtable is only read through `NfFlowtable`, safe from any context.
unsafe impl Send for FlowtableUse {}
// SAFETY: As above.
unsafe impl Sync for FlowtableUse {}

impl FlowtableUse {
    /// Returns the flowtable.
    pub(crate) fn flowtable(&self) -> &NfFlowtable {
        // SAFETY: Alive while counted (type invariant); `data` is its `nf_flowtable`.
        unsafe { NfFlowtable::from_raw(&raw const (*self.ft).data) }
    }

    /// Gives the count back, for an `init` that fails after taking it.
    pub(crate) fn release(self) {
        // SAFETY: The count was taken by `bind_flowtable` (type invariant).
        unsafe { bindings::rflow_nft_use_dec(&raw mut (*self.ft).use_) };
    }

    /// The rule is committed again (`nft_use_inc_restore()`).
    pub(crate) fn activate(&self) {
        // SAFETY: The flowtable is alive (type invariant), under the commit mutex.
        unsafe { bindings::rflow_nft_use_inc_restore(&raw mut (*self.ft).use_) };
    }

    /// The rule is being removed (`nf_tables_deactivate_flowtable()`).
    pub(crate) fn deactivate(&self, ctx: &Ctx, phase: bindings::nft_trans_phase) {
        // SAFETY: The flowtable is alive (type invariant), `ctx` valid for the call.
        unsafe { bindings::nf_tables_deactivate_flowtable(ctx.0.get(), self.ft, phase) };
    }

    /// Returns the flowtable's name.
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: The name lives as long as the flowtable (type invariant).
        unsafe { CStr::from_ptr((*self.ft).name.cast()) }
    }
}

/// A netlink attribute (`struct nlattr`).
#[repr(transparent)]
pub(crate) struct NlAttr(Opaque<bindings::nlattr>);

impl NlAttr {
    fn as_ptr(&self) -> *const bindings::nlattr {
        self.0.get()
    }
}

/// The attribute table of an `init` call, parsed with the expression's policy.
pub(crate) struct Attrs<'a> {
    tb: *const *const bindings::nlattr,
    len: usize,
    _call: PhantomData<&'a bindings::nlattr>,
}

impl<'a> Attrs<'a> {
    /// Returns attribute `attr`, if present.
    pub(crate) fn get(&self, attr: u32) -> Option<&'a NlAttr> {
        let i = attr as usize;
        if i >= self.len {
            return None;
        }
        // SAFETY: `tb` has `len` entries, each null or an attribute valid for the call.
        unsafe { (*self.tb.add(i)).cast::<NlAttr>().as_ref() }
    }
}

/// The register set of an evaluation (`struct nft_regs`).
#[repr(transparent)]
pub(crate) struct Regs(Opaque<bindings::nft_regs>);

impl Regs {
    /// Stops evaluating the rule (`NFT_BREAK`).
    pub(crate) fn set_break(&mut self) {
        // SAFETY: Valid for the call; the verdict view of the union is plain data.
        unsafe { (*self.0.get()).__bindgen_anon_1.verdict.code = bindings::NFT_BREAK as u32 };
    }
}

/// A netlink message being built.
#[repr(transparent)]
pub(crate) struct NlMsg(Opaque<bindings::sk_buff>);

impl NlMsg {
    /// Adds a string attribute.
    pub(crate) fn put_string(&mut self, attr: u32, value: &CStr) -> Result {
        // SAFETY: The message is valid for the call; `value` is NUL-terminated.
        let ret = unsafe {
            bindings::rflow_nla_put_string(self.0.get(), attr as c_int, value.as_ptr().cast())
        };
        if ret != 0 {
            return Err(crate::sys::errno::emsgsize());
        }
        Ok(())
    }
}

/// `eval`.
///
/// # Safety
///
/// Called by nf_tables with an initialised expression of this type, its register set, and the
/// packet information of the running hook.
unsafe extern "C" fn eval_callback<T: ExprOps>(
    expr: *const bindings::nft_expr,
    regs: *mut bindings::nft_regs,
    pkt: *const bindings::nft_pktinfo,
) {
    // SAFETY: `init` built a `T` in the expression, shared by concurrent evaluations; `regs` is
    // this evaluation's own; `pkt` is valid for the call.
    let (this, regs, pkt) = unsafe {
        (
            &*priv_ptr::<T>(expr),
            &mut *regs.cast::<Regs>(),
            PktInfo::from_raw(pkt),
        )
    };
    // SAFETY: nf_tables evaluates rules from netfilter hooks, which `nf_hook_slow()` runs under
    // `rcu_read_lock()`.
    let rcu = unsafe { ReadSection::assume() };
    this.eval(rcu, regs, pkt);
}

/// `init`.
///
/// # Safety
///
/// Called by nf_tables under its commit mutex with a valid context, the attribute table parsed
/// with this type's policy (`maxattr + 1` entries), and the expression being created.
unsafe extern "C" fn init_callback<T: ExprOps>(
    ctx: *const bindings::nft_ctx,
    expr: *const bindings::nft_expr,
    tb: *const *const bindings::nlattr,
) -> c_int {
    // SAFETY: Valid for the call.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    let attrs = Attrs {
        tb,
        len: T::MAX_ATTR + 1,
        _call: PhantomData,
    };
    from_result(|| {
        let value = T::init(ctx, &attrs)?;
        // SAFETY: The private area is uninitialised, sized and aligned for `T`, and ours.
        unsafe { priv_ptr::<T>(expr).write(value) };
        Ok(0)
    })
}

/// `activate`.
///
/// # Safety
///
/// Called by nf_tables under its mutex with an initialised expression of this type.
unsafe extern "C" fn activate_callback<T: ExprOps>(
    ctx: *const bindings::nft_ctx,
    expr: *const bindings::nft_expr,
) {
    // SAFETY: Valid for the call; `init` built the `T`.
    unsafe { (*priv_ptr::<T>(expr)).activate(Ctx::from_raw(ctx)) };
}

/// `deactivate`.
///
/// # Safety
///
/// Called by nf_tables under its mutex with an initialised expression of this type.
unsafe extern "C" fn deactivate_callback<T: ExprOps>(
    ctx: *const bindings::nft_ctx,
    expr: *const bindings::nft_expr,
    phase: bindings::nft_trans_phase,
) {
    // SAFETY: Valid for the call; `init` built the `T`.
    unsafe { (*priv_ptr::<T>(expr)).deactivate(Ctx::from_raw(ctx), phase) };
}

/// `destroy`: moves the value out and drops it.
///
/// # Safety
///
/// Called by nf_tables once per successfully initialised expression, after evaluations of it
/// have ended.
unsafe extern "C" fn destroy_callback<T: ExprOps>(
    ctx: *const bindings::nft_ctx,
    expr: *const bindings::nft_expr,
) {
    // SAFETY: `init` built the `T`; this is the last use of the expression, so moving the value
    // out leaves nothing that reads it.
    let value = unsafe { priv_ptr::<T>(expr).read() };
    // SAFETY: Valid for the call.
    value.destroy(unsafe { Ctx::from_raw(ctx) });
}

/// `validate`.
///
/// # Safety
///
/// Called by nf_tables under its mutex with a valid context whose chain is set.
unsafe extern "C" fn validate_callback<T: ExprOps>(
    ctx: *const bindings::nft_ctx,
    _expr: *const bindings::nft_expr,
) -> c_int {
    // SAFETY: Valid for the call.
    let ctx = unsafe { Ctx::from_raw(ctx) };
    from_result(|| {
        T::validate(ctx)?;
        Ok(0)
    })
}

/// `dump`.
///
/// # Safety
///
/// Called by nf_tables with the message being built and an initialised expression of this type.
unsafe extern "C" fn dump_callback<T: ExprOps>(
    skb: *mut bindings::sk_buff,
    expr: *const bindings::nft_expr,
    _reset: bool,
) -> c_int {
    // SAFETY: The message is this call's; `init` built the `T`.
    let (msg, this) = unsafe { (&mut *skb.cast::<NlMsg>(), &*priv_ptr::<T>(expr)) };
    match this.dump(msg) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}
