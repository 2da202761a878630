// SPDX-License-Identifier: GPL-2.0

//! The C side of `bpf_xdp_flow_lookup()` (include/rflow_xdp.c): registering the kfunc, and the
//! lookup it calls back into ([`crate::xdp`]).

use super::{netdev::NetDevice, rcu::ReadSection};
use crate::bindings;
use kernel::{error::to_result, ffi::c_int, prelude::*};

/// Makes `bpf_xdp_flow_lookup()` callable by XDP programs (nothing on kernels without BTF).
/// The kfunc set stays registered until the module's BTF goes, with the module: a loaded
/// program that calls it holds the module.
pub(crate) fn register() -> Result {
    // SAFETY: Registers static data of this module; safe to call at any time after load.
    to_result(unsafe { bindings::rflow_xdp_register() })
}

/// The lookup of `bpf_xdp_flow_lookup()`: fills `out` with the matched direction of the flow
/// of `key` in `dev`'s flowtable, and refreshes the flow; `-ENOENT` if there is none.
///
/// # Safety
///
/// `dev` is a live device, `key` is valid for reads and `out` for writes for the call, and the
/// caller is in an RCU read-side section (XDP runs under one).
#[no_mangle]
unsafe extern "C" fn rflow_xdp_flow_lookup(
    dev: *const bindings::net_device,
    key: *const bindings::rflow_xdp_key,
    out: *mut bindings::rflow_xdp_tuple,
) -> c_int {
    // SAFETY: The kfunc passes the device the XDP program runs on, which stays registered while
    // the program runs, and its own key on the stack (function contract).
    let (dev, key) = unsafe { (NetDevice::from_raw(dev), &*key) };
    // SAFETY: XDP programs run under RCU (function contract); the section outlives this call.
    let rcu = unsafe { ReadSection::assume() };
    let tuple = crate::xdp::tuple_of(key);
    match crate::xdp::lookup(rcu, dev, &tuple, crate::xdp::describe) {
        Some(found) => {
            // SAFETY: Valid for writes (function contract).
            unsafe { out.write(found) };
            0
        }
        None => ENOENT.to_errno(),
    }
}
