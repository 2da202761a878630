// SPDX-License-Identifier: GPL-2.0

//! The `flow_offload` nft expression: `flow add @ft` (or the older `flow offload @ft`).
//!
//! Rust counterpart of [`net/netfilter/nft_flow_offload.c`](srctree/net/netfilter/nft_flow_offload.c).
//! Evaluated in a forward chain, it offloads the packet's connection into a flowtable when
//! conntrack says it may, with the admission rules of 6.12's `nft_flow_offload_eval()`.

use crate::bindings;
use crate::flowtable::{Flow, FlowTable};
use crate::path;
use crate::pure::{
    admission::{self, Candidate},
    parse::TCP_HLEN,
    tuple::{Dir, IPPROTO_GRE, IPPROTO_TCP, NFPROTO_IPV4},
};
use crate::sys::{
    conntrack::Status,
    nft::{
        expr::{Attrs, Ctx, ExprOps, FlowtableUse, NlMsg, Regs},
        flowtable::Types,
        PktInfo,
    },
    rcu::ReadSection,
};
use core::ffi::CStr;
use kernel::prelude::*;

/// The `flow_offload` expression (`struct nft_flow_offload`): the flowtable it adds flows to.
pub(crate) struct FlowOffload {
    flowtable: FlowtableUse,
}

/// Why a connection is not offloaded; the rule stops evaluating (`NFT_BREAK`) as in C.
struct Skip;

impl From<Error> for Skip {
    fn from(_: Error) -> Skip {
        Skip
    }
}

impl From<admission::Refusal> for Skip {
    fn from(_: admission::Refusal) -> Skip {
        Skip
    }
}

/// Offloads the connection of `pkt` into `ft`, if conntrack allows it (`nft_flow_offload_eval()`).
fn offload(
    rcu: &ReadSection,
    ft: &FlowTable,
    nf: &crate::sys::nft::NfFlowtable,
    pkt: &PktInfo,
) -> Result<(), Skip> {
    let skb = pkt.skb();
    let (ct, ctinfo) = skb.conntrack().ok_or(Skip)?;
    let l4proto = ct.l4proto();
    let mut tcp_flags = 0;
    if l4proto == IPPROTO_TCP {
        let mut buf = [0u8; TCP_HLEN];
        tcp_flags = skb.header(pkt.thoff(), &mut buf).ok_or(Skip)?[13];
    }
    let nat = ct.test(Status::SrcNat) || ct.test(Status::DstNat);
    let tcp = admission::admit(&Candidate {
        l4proto,
        tcp_flags,
        tcp_established: l4proto == IPPROTO_TCP && ct.tcp_established(),
        secpath: skb.has_secpath(),
        ipv4_options: pkt.state().pf() == NFPROTO_IPV4 && skb.ipv4_optlen() != 0,
        nat,
        gre_keys: l4proto == IPPROTO_GRE && ct.gre_has_keys(),
        helper: ct.has_helper(),
        seqadj: ct.test(Status::SeqAdjust),
        nat_clash: ct.test(Status::NatClash),
        confirmed: ct.test(Status::Confirmed),
    })?;
    if ct.test_and_set_offload() {
        // Already offloaded, in this flowtable or another.
        return Err(Skip);
    }
    let dir = if ctinfo >= bindings::IP_CT_IS_REPLY {
        Dir::Reply
    } else {
        Dir::Original
    };
    let added = path::route(rcu, nf, pkt, ct, dir).and_then(|routes| {
        let flow = Flow::new(ct, routes, ft.secret())?;
        if tcp {
            // Conntrack will not see every packet any more: stop checking TCP windows.
            ct.set_tcp_be_liberal();
        }
        ft.add(rcu, nf, flow)
    });
    if added.is_err() {
        ct.clear_offload();
        return Err(Skip);
    }
    Ok(())
}

impl ExprOps for FlowOffload {
    const NAME: &'static CStr = c"flow_offload";
    const MAX_ATTR: usize = bindings::__NFTA_FLOW_MAX as usize - 1;
    const POLICY: &'static [(u32, u8, u16)] = &[(
        bindings::NFTA_FLOW_TABLE_NAME,
        bindings::NLA_STRING as u8,
        (bindings::NFT_NAME_MAXLEN - 1) as u16,
    )];

    /// Binds the expression to the flowtable named by `NFTA_FLOW_TABLE_NAME`.
    fn init(ctx: &Ctx, attrs: &Attrs<'_>) -> Result<Self> {
        let name = attrs.get(bindings::NFTA_FLOW_TABLE_NAME).ok_or(EINVAL)?;
        let flowtable = ctx.bind_flowtable(name)?;
        // A flowtable of another implementation (the C modules) has no rflow state.
        if Types::<FlowTable>::state_of(flowtable.flowtable()).is_none() {
            flowtable.release();
            return Err(crate::sys::errno::eopnotsupp());
        }
        if let Err(e) = ctx.get_conntrack() {
            flowtable.release();
            return Err(e);
        }
        Ok(FlowOffload { flowtable })
    }

    /// Offloads the packet's connection, or stops the rule (`NFT_BREAK`).
    fn eval(&self, rcu: &ReadSection, regs: &mut Regs, pkt: &PktInfo) {
        let nf = self.flowtable.flowtable();
        let done = match Types::<FlowTable>::state_of(nf) {
            Some(ft) => offload(rcu, ft, nf, pkt).is_ok(),
            None => false,
        };
        if !done {
            regs.set_break();
        }
    }

    fn activate(&self, _ctx: &Ctx) {
        self.flowtable.activate();
    }

    fn deactivate(&self, ctx: &Ctx, phase: bindings::nft_trans_phase) {
        self.flowtable.deactivate(ctx, phase);
    }

    /// Gives back the conntrack reference of `init` (the flowtable's use count went with
    /// `deactivate`).
    fn destroy(self, ctx: &Ctx) {
        ctx.put_conntrack();
    }

    /// The expression is only valid in forward chains of `ip`, `ip6` and `inet`.
    fn validate(ctx: &Ctx) -> Result {
        match u32::from(ctx.family()) {
            bindings::NFPROTO_IPV4 | bindings::NFPROTO_IPV6 | bindings::NFPROTO_INET => {}
            _ => return Err(crate::sys::errno::eopnotsupp()),
        }
        ctx.validate_hooks(1 << bindings::NF_INET_FORWARD)
    }

    fn dump(&self, msg: &mut NlMsg) -> Result {
        msg.put_string(bindings::NFTA_FLOW_TABLE_NAME, self.flowtable.name())
    }
}
