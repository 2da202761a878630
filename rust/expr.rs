// SPDX-License-Identifier: GPL-2.0

//! The `flow_offload` nft expression: `flow add @ft` (or the older `flow offload @ft`).
//!
//! Rust counterpart of [`net/netfilter/nft_flow_offload.c`](srctree/net/netfilter/nft_flow_offload.c).
//! Evaluated in a forward chain, it offloads the packet's connection into a flowtable when
//! conntrack says it may, with the admission rules of 6.12's `nft_flow_offload_eval()`.

use crate::bindings;
use crate::flowtable::{Flow, FlowTable};
use crate::inet::Types;
use crate::path;
use crate::pure::{
    parse::{TCP_FIN, TCP_HLEN, TCP_RST},
    tuple::{Dir, IPPROTO_GRE, IPPROTO_TCP, IPPROTO_UDP, NFPROTO_IPV4},
};
use crate::sys::{
    conntrack::Status,
    nft::{NfFlowtable, PktInfo},
    rcu::ReadSection,
};
use core::mem::size_of;
use kernel::{error::from_err_ptr, ffi::c_int, prelude::*, types::Opaque, ThisModule};

/// The expression's private data (`struct nft_flow_offload`).
#[repr(C)]
struct Priv {
    flowtable: *mut bindings::nft_flowtable,
}

/// `NFTA_FLOW_MAX`.
const NFTA_FLOW_MAX: usize = bindings::__NFTA_FLOW_MAX as usize - 1;

/// The registered expression type; unregistered on drop.
///
/// # Invariants
///
/// `ty` is registered with nf_tables while the value exists; `ty`, `ops` and `policy` point to
/// each other and are pinned.
#[pin_data(PinnedDrop)]
pub(crate) struct ExprType {
    #[pin]
    ty: Opaque<bindings::nft_expr_type>,
    #[pin]
    ops: Opaque<bindings::nft_expr_ops>,
    #[pin]
    policy: Opaque<[bindings::nla_policy; NFTA_FLOW_MAX + 1]>,
}

impl ExprType {
    /// Registers the `flow_offload` expression.
    pub(crate) fn register(module: &'static ThisModule) -> Result<Pin<KBox<Self>>> {
        let this = KBox::pin(
            ExprType {
                ty: Opaque::new(bindings::nft_expr_type::default()),
                ops: Opaque::new(bindings::nft_expr_ops::default()),
                policy: Opaque::new([bindings::nla_policy::default(); NFTA_FLOW_MAX + 1]),
            },
            GFP_KERNEL,
        )?;
        // `NFT_EXPR_SIZE()`: the expression header, then the private data, both aligned.
        let align = core::mem::align_of::<bindings::nft_expr>();
        let size = size_of::<bindings::nft_expr>() + size_of::<Priv>().next_multiple_of(align);
        // SAFETY: The three cells are pinned in the box and not yet shared with C.
        unsafe {
            let policy = &mut *this.policy.get();
            policy[bindings::NFTA_FLOW_TABLE_NAME as usize].type_ = bindings::NLA_STRING as u8;
            policy[bindings::NFTA_FLOW_TABLE_NAME as usize].len =
                (bindings::NFT_NAME_MAXLEN - 1) as u16;

            let ops = &mut *this.ops.get();
            ops.type_ = this.ty.get();
            ops.size = size as u32;
            ops.eval = Some(eval_callback);
            ops.init = Some(init_callback);
            ops.activate = Some(activate_callback);
            ops.deactivate = Some(deactivate_callback);
            ops.destroy = Some(destroy_callback);
            ops.validate = Some(validate_callback);
            ops.dump = Some(dump_callback);

            let ty = &mut *this.ty.get();
            ty.name = c"flow_offload".as_ptr().cast();
            ty.ops = this.ops.get();
            ty.policy = this.policy.get().cast();
            ty.maxattr = NFTA_FLOW_MAX as u32;
            ty.owner = module.as_ptr().cast();
        }
        // SAFETY: Fully initialised and pinned; unregistered on drop.
        kernel::error::to_result(unsafe { bindings::nft_register_expr(this.ty.get()) })?;
        Ok(this)
    }
}

// SAFETY: After registration the C structures are only read by the kernel, which serialises
// its own accesses; the Rust side never touches them again until dropping, which unregisters.
unsafe impl Send for ExprType {}
// SAFETY: As above: shared references give no access to the C structures.
unsafe impl Sync for ExprType {}

#[pinned_drop]
impl PinnedDrop for ExprType {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered in `register` (type invariant); nf_tables holds a reference on this
        // module for every expression of the type, so none is left.
        unsafe { bindings::nft_unregister_expr(self.ty.get()) };
    }
}

/// Returns the private data of an expression of this type (`nft_expr_priv()`).
///
/// # Safety
///
/// `expr` must be an expression of this type, initialised by `init_callback` or being so.
unsafe fn expr_priv<'a>(expr: *const bindings::nft_expr) -> &'a mut Priv {
    // SAFETY: nf_tables allocates `ops.size` bytes per expression, the private data starting at
    // `data`, suitably aligned.
    unsafe { &mut *(&raw const (*expr).data).cast::<Priv>().cast_mut() }
}

/// Why a connection is not offloaded; the rule stops evaluating (`NFT_BREAK`) as in C.
struct Skip;

impl From<Error> for Skip {
    fn from(_: Error) -> Skip {
        Skip
    }
}

/// Offloads the connection of `pkt` into `nf`, if conntrack allows it (`nft_flow_offload_eval()`).
fn offload(nf: &NfFlowtable, pkt: &PktInfo) -> Result<(), Skip> {
    let skb = pkt.skb();
    if skb.has_secpath() {
        return Err(Skip);
    }
    if pkt.state().pf() == NFPROTO_IPV4 && skb.ipv4_optlen() != 0 {
        return Err(Skip);
    }
    let (ct, ctinfo) = skb.conntrack().ok_or(Skip)?;
    let mut tcp = false;
    match ct.l4proto() {
        IPPROTO_TCP => {
            let mut buf = [0u8; TCP_HLEN];
            let th = skb.header(pkt.thoff(), &mut buf).ok_or(Skip)?;
            if th[13] & (TCP_FIN | TCP_RST) != 0 || !ct.tcp_established() {
                return Err(Skip);
            }
            tcp = true;
        }
        IPPROTO_UDP => {}
        // GRE version 0 only, and without NAT: the fast path has no GRE NAT.
        IPPROTO_GRE => {
            if ct.test(Status::SrcNat) || ct.test(Status::DstNat) || ct.gre_has_keys() {
                return Err(Skip);
            }
        }
        _ => return Err(Skip),
    }
    if ct.has_helper() || ct.test(Status::SeqAdjust) || ct.test(Status::NatClash) {
        return Err(Skip);
    }
    if !ct.test(Status::Confirmed) {
        return Err(Skip);
    }
    if ct.test_and_set_offload() {
        // Already offloaded, in this flowtable or another.
        return Err(Skip);
    }
    let dir = if ctinfo >= bindings::IP_CT_IS_REPLY {
        Dir::Reply
    } else {
        Dir::Original
    };
    // SAFETY: `nf` is one of rflow's flowtables (checked by the caller) and the expression holds
    // a use count on it, so it is between `init` and `free`.
    let ft = unsafe { FlowTable::from_nf(nf) };
    // SAFETY: Expressions are evaluated inside netfilter's RCU read-side critical section.
    let rcu = unsafe { ReadSection::assume() };
    let added = path::route(nf, pkt, ct, dir).and_then(|routes| {
        let flow = Flow::new(ct, routes, ft.secret())?;
        if tcp {
            // Conntrack will not see every packet any more: stop checking TCP windows.
            ct.set_tcp_be_liberal();
        }
        ft.add(rcu, flow)
    });
    if added.is_err() {
        ct.clear_offload();
        return Err(Skip);
    }
    Ok(())
}

/// `eval`: offloads the packet's connection, or stops the rule (`NFT_BREAK`).
///
/// # Safety
///
/// Called by nf_tables with an initialised expression of this type, its register set, and the
/// packet information of the running hook, inside the hook's RCU read-side section.
unsafe extern "C" fn eval_callback(
    expr: *const bindings::nft_expr,
    regs: *mut bindings::nft_regs,
    pkt: *const bindings::nft_pktinfo,
) {
    // SAFETY: nf_tables calls `eval` on initialised expressions of this type, with the packet
    // information of the running hook.
    let (p, pkt) = unsafe { (expr_priv(expr), PktInfo::from_raw(pkt)) };
    // SAFETY: The expression holds a use count on its flowtable, so it is alive.
    let nf = unsafe { NfFlowtable::from_raw(&raw const (*p.flowtable).data) };
    if !Types::owns(nf) || offload(nf, pkt).is_err() {
        // SAFETY: `regs` is valid for the call; the verdict view of the union is plain data.
        unsafe { (*regs).__bindgen_anon_1.verdict.code = bindings::NFT_BREAK as u32 };
    }
}

/// `init`: binds the expression to the flowtable named by `NFTA_FLOW_TABLE_NAME`.
///
/// # Safety
///
/// Called by nf_tables under its mutex with a valid context, the attribute table parsed with
/// this type's policy, and the expression being created.
unsafe extern "C" fn init_callback(
    ctx: *const bindings::nft_ctx,
    expr: *const bindings::nft_expr,
    tb: *const *const bindings::nlattr,
) -> c_int {
    // SAFETY: nf_tables passes a valid context and attribute table (of `maxattr + 1` entries,
    // validated against the policy), and the expression's private area.
    unsafe {
        let name = *tb.add(bindings::NFTA_FLOW_TABLE_NAME as usize);
        if name.is_null() {
            return EINVAL.to_errno();
        }
        let genmask = bindings::rflow_nft_genmask_next((*ctx).net);
        let ft = match from_err_ptr(bindings::nft_flowtable_lookup((*ctx).table, name, genmask)) {
            Ok(ft) => ft,
            Err(e) => return e.to_errno(),
        };
        // A flowtable of another implementation (the C modules) has no rflow state.
        if !Types::owns(NfFlowtable::from_raw(&raw const (*ft).data)) {
            return -(bindings::EOPNOTSUPP as c_int);
        }
        if !bindings::rflow_nft_use_inc(&raw mut (*ft).use_) {
            return EMFILE.to_errno();
        }
        expr_priv(expr).flowtable = ft;
        let err = bindings::nf_ct_netns_get((*ctx).net, (*ctx).family);
        if err < 0 {
            bindings::rflow_nft_use_dec(&raw mut (*ft).use_);
        }
        err
    }
}

/// `activate`: the rule is committed again after an aborted removal.
///
/// # Safety
///
/// Called by nf_tables under its mutex with an initialised expression of this type.
unsafe extern "C" fn activate_callback(
    _ctx: *const bindings::nft_ctx,
    expr: *const bindings::nft_expr,
) {
    // SAFETY: Called on an initialised expression, whose flowtable is alive.
    unsafe { bindings::rflow_nft_use_inc_restore(&raw mut (*expr_priv(expr).flowtable).use_) };
}

/// `deactivate`: the rule is being removed in a transaction.
///
/// # Safety
///
/// Called by nf_tables under its mutex with a valid context and an initialised expression of
/// this type.
unsafe extern "C" fn deactivate_callback(
    ctx: *const bindings::nft_ctx,
    expr: *const bindings::nft_expr,
    phase: bindings::nft_trans_phase,
) {
    // SAFETY: Called on an initialised expression, whose flowtable is alive.
    unsafe { bindings::nf_tables_deactivate_flowtable(ctx, expr_priv(expr).flowtable, phase) };
}

/// `destroy`: the expression is freed.
///
/// # Safety
///
/// Called by nf_tables once per successfully initialised expression, with its context.
unsafe extern "C" fn destroy_callback(
    ctx: *const bindings::nft_ctx,
    _expr: *const bindings::nft_expr,
) {
    // SAFETY: Paired with the `nf_ct_netns_get()` of a successful `init`.
    unsafe { bindings::nf_ct_netns_put((*ctx).net, (*ctx).family) };
}

/// `validate`: the expression is only valid in forward chains of `ip`, `ip6` and `inet`.
///
/// # Safety
///
/// Called by nf_tables under its mutex with a valid context whose chain is set.
unsafe extern "C" fn validate_callback(
    ctx: *const bindings::nft_ctx,
    _expr: *const bindings::nft_expr,
) -> c_int {
    // SAFETY: nf_tables passes a valid context with its chain.
    unsafe {
        match u32::from((*ctx).family) {
            bindings::NFPROTO_IPV4 | bindings::NFPROTO_IPV6 | bindings::NFPROTO_INET => {}
            _ => return -(bindings::EOPNOTSUPP as c_int),
        }
        bindings::nft_chain_validate_hooks((*ctx).chain, 1 << bindings::NF_INET_FORWARD)
    }
}

/// `dump`: puts the flowtable name into a netlink message.
///
/// # Safety
///
/// Called by nf_tables with the message being built and an initialised expression of this type.
unsafe extern "C" fn dump_callback(
    skb: *mut bindings::sk_buff,
    expr: *const bindings::nft_expr,
    _reset: bool,
) -> c_int {
    // SAFETY: Called on an initialised expression, whose flowtable and name are alive; `skb` is
    // the netlink message being built.
    let ret = unsafe {
        bindings::rflow_nla_put_string(
            skb,
            bindings::NFTA_FLOW_TABLE_NAME as c_int,
            (*expr_priv(expr).flowtable).name,
        )
    };
    if ret != 0 {
        -1
    } else {
        0
    }
}
