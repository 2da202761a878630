// SPDX-License-Identifier: GPL-2.0

//! The nf_tables flowtable types rflow provides: `ip`, `ip6` and `inet`.
//!
//! Rust counterpart of [`net/netfilter/nf_flow_table_inet.c`](srctree/net/netfilter/nf_flow_table_inet.c).
//! Registering them makes `nft add flowtable` in those families create rflow flowtables.

use crate::bindings;
use crate::flowtable::FlowTable;
use crate::ip::{self, Family};
use crate::sys::{
    netdev::NetDevice,
    nft::{HookState, NfFlowtable},
    skb::HookSkb,
};
use kernel::{error::from_result, ffi::c_int, prelude::*, types::Opaque, ThisModule};

/// rflow's three registered flowtable types; unregistered on drop.
///
/// # Invariants
///
/// Each entry of `types` is registered with nf_tables while the value exists, and pinned.
#[pin_data(PinnedDrop)]
pub(crate) struct Types {
    #[pin]
    types: [Opaque<bindings::nf_flowtable_type>; 3],
}

impl Types {
    /// Registers the `ip`, `ip6` and `inet` flowtable types.
    pub(crate) fn register(module: &'static ThisModule) -> Result<Pin<KBox<Self>>> {
        let ty = |family: u32, hook: bindings::nf_hookfn| {
            Opaque::new(bindings::nf_flowtable_type {
                family: family as c_int,
                init: Some(init_callback),
                setup: Some(setup_callback),
                free: Some(free_callback),
                hook,
                owner: module.as_ptr().cast(),
                ..Default::default()
            })
        };
        let this = KBox::pin(
            Types {
                types: [
                    ty(
                        bindings::NFPROTO_IPV4,
                        Some(hook_callback::<{ Family::Ipv4 as u8 }>),
                    ),
                    ty(
                        bindings::NFPROTO_IPV6,
                        Some(hook_callback::<{ Family::Ipv6 as u8 }>),
                    ),
                    ty(
                        bindings::NFPROTO_INET,
                        Some(hook_callback::<{ Family::Inet as u8 }>),
                    ),
                ],
            },
            GFP_KERNEL,
        )?;
        for t in &this.types {
            // SAFETY: The type is initialised and pinned in the box; unregistered on drop.
            unsafe { bindings::nft_register_flowtable_type(t.get()) };
        }
        Ok(this)
    }

    /// Returns whether `nf` was created with one of rflow's types (whose owner is this module).
    pub(crate) fn owns(nf: &NfFlowtable) -> bool {
        let ty = nf.type_ptr();
        // SAFETY: A flowtable's type stays registered, and its module loaded, while it exists.
        !ty.is_null() && unsafe { (*ty).owner } == crate::THIS_MODULE.as_ptr().cast()
    }
}

// SAFETY: After registration the C structures are only read by the kernel, which serialises
// its own accesses; the Rust side never touches them again until dropping, which unregisters.
unsafe impl Send for Types {}
// SAFETY: As above: shared references give no access to the C structures.
unsafe impl Sync for Types {}

#[pinned_drop]
impl PinnedDrop for Types {
    fn drop(self: Pin<&mut Self>) {
        for t in self.types.iter().rev() {
            // SAFETY: Registered in `register` (type invariant). nf_tables holds a reference on
            // this module for every flowtable of these types, so none is left when this runs.
            unsafe { bindings::nft_unregister_flowtable_type(t.get()) };
        }
    }
}

/// `init`: nf_tables creates a flowtable.
///
/// # Safety
///
/// Called by nf_tables under its mutex with a new flowtable of one of these types.
unsafe extern "C" fn init_callback(ft: *mut bindings::nf_flowtable) -> c_int {
    from_result(|| {
        // SAFETY: nf_tables passes a flowtable that lives until `free`.
        FlowTable::init(unsafe { NfFlowtable::from_raw(ft) })?;
        Ok(0)
    })
}

/// `free`: nf_tables destroys a flowtable.
///
/// # Safety
///
/// Called by nf_tables once for a flowtable whose `init` succeeded, after its hooks are gone
/// and a grace period has elapsed.
unsafe extern "C" fn free_callback(ft: *mut bindings::nf_flowtable) {
    // SAFETY: nf_tables calls `free` once, after unregistering the hooks and after a grace
    // period, and expressions referring to the flowtable hold a use count that prevents it.
    unsafe { FlowTable::free(NfFlowtable::from_raw(ft)) };
}

/// `setup`: nf_tables binds (or unbinds) a device of the flowtable.
///
/// # Safety
///
/// Called by nf_tables under its mutex with a live flowtable and one of its devices.
unsafe extern "C" fn setup_callback(
    ft: *mut bindings::nf_flowtable,
    dev: *mut bindings::net_device,
    cmd: bindings::flow_block_command,
) -> c_int {
    // SAFETY: nf_tables passes a live flowtable and one of its devices, under its mutex.
    let (nf, dev) = unsafe { (NfFlowtable::from_raw(ft), NetDevice::from_raw(dev)) };
    if cmd == bindings::FLOW_BLOCK_BIND && nf.flags() & bindings::NFT_FLOWTABLE_HW_OFFLOAD != 0 {
        // Hardware offload is not implemented yet: refuse rather than silently stay in software,
        // as C does for a device without `ndo_setup_tc`.
        pr_warn!(
            "rflow: flowtable flag 'offload' is not supported yet (device ifindex {})\n",
            dev.ifindex()
        );
        return -(bindings::EOPNOTSUPP as c_int);
    }
    0
}

/// The ingress hook of a flowtable of family `F` (an [`ip::Family`] discriminant).
///
/// # Safety
///
/// Called by netfilter, in an RCU read-side section, with the flowtable the hook was
/// registered for as `priv_`, a packet the hook owns, and the hook state.
unsafe extern "C" fn hook_callback<const F: u8>(
    priv_: *mut kernel::ffi::c_void,
    skb: *mut bindings::sk_buff,
    state: *const bindings::nf_hook_state,
) -> kernel::ffi::c_uint {
    let family = match F {
        f if f == Family::Ipv4 as u8 => Family::Ipv4,
        f if f == Family::Ipv6 as u8 => Family::Ipv6,
        _ => Family::Inet,
    };
    // SAFETY: nf_tables registers this hook with `priv` set to the flowtable of one of rflow's
    // types, and unregisters it (followed by a grace period) before `free`.
    let ft = unsafe { FlowTable::from_nf(NfFlowtable::from_raw(priv_.cast())) };
    // SAFETY: The hook owns the packet until it returns a verdict or steals it.
    let skb = unsafe { HookSkb::new(skb) };
    // SAFETY: `state` is valid for the hook call.
    let state = unsafe { HookState::from_raw(state) };
    ip::hook(ft, skb, state, family).to_nf()
}
