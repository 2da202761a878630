// SPDX-License-Identifier: GPL-2.0

//! `/proc/net/rflow`: the flowtables of a namespace, their counters and their flows.
//!
//! No C flowtable can list its flows; this file is the first view of them (the UFID netlink
//! interface will be the scalable one). In the initial namespace a first line counts the flows
//! allocated in all namespaces, and gives totals since the module was loaded: flows created, and
//! packets and bytes of removed flows by transmit method. Then comes one line per flowtable, and
//! one per flow:
//!
//! ```text
//! rflow flows_allocated 1 flows_created 7 packets_neigh 1200 bytes_neigh 1560000 packets_direct 0 bytes_direct 0 packets_xfrm 0 bytes_xfrm 0
//! flowtable inet filter f1 flows 1 created 3 removed 2 packets 1200 bytes 1560000 buckets 64
//!  tcp 10.0.1.99:40000 > 10.0.2.99:12345 iif 3 packets 600 bytes 780000 xmit neigh | 10.0.2.99:12345 > 10.0.1.99:40000 iif 4 packets 600 bytes 31200 xmit direct encap 8100/10 | expires 29 nat closing
//! ```

use crate::bindings;
use crate::flowtable::{FlowDir, Registry};
use crate::path::Xmit;
use crate::pure::tuple::{IPPROTO_GRE, IPPROTO_TCP, IPPROTO_UDP, NFPROTO_IPV6};
use crate::sys::{net::Net, time};
use core::{ffi::CStr, sync::atomic::Ordering};
use kernel::{
    ffi::{c_char, c_int, c_void},
    prelude::*,
    types::Opaque,
};

const NAME: &CStr = c"rflow";

/// The pernet operations that create `/proc/net/rflow` in every namespace; unregistered on drop.
///
/// # Invariants
///
/// `ops` is registered with `register_pernet_subsys()` while the value exists, and pinned.
#[pin_data(PinnedDrop)]
pub(crate) struct Procfs {
    #[pin]
    ops: Opaque<bindings::pernet_operations>,
}

impl Procfs {
    /// Creates the file in every namespace, present and future.
    pub(crate) fn register() -> Result<Pin<KBox<Self>>> {
        let this = KBox::pin(
            Procfs {
                ops: Opaque::new(bindings::pernet_operations {
                    init: Some(net_init),
                    exit: Some(net_exit),
                    ..Default::default()
                }),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `ops` is initialised and pinned; unregistered on drop.
        kernel::error::to_result(unsafe { bindings::register_pernet_subsys(this.ops.get()) })?;
        Ok(this)
    }
}

// SAFETY: After registration the C structures are only read by the kernel, which serialises
// its own accesses; the Rust side never touches them again until dropping, which unregisters.
unsafe impl Send for Procfs {}
// SAFETY: As above: shared references give no access to the C structures.
unsafe impl Sync for Procfs {}

#[pinned_drop]
impl PinnedDrop for Procfs {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered in `register` (type invariant). This removes the file from every
        // namespace and waits for readers to finish.
        unsafe { bindings::unregister_pernet_subsys(self.ops.get()) };
    }
}

/// Creates the file in a new namespace.
///
/// # Safety
///
/// Called by the pernet core with a namespace being set up.
unsafe extern "C" fn net_init(net: *mut bindings::net) -> c_int {
    // SAFETY: `net` is being set up and its `/proc/net` exists.
    let net = unsafe { Net::from_raw(net) };
    // SAFETY: The name is a static string; `show` matches `proc_create_net_single`'s contract.
    let pde = unsafe {
        bindings::proc_create_net_single(
            NAME.as_ptr().cast(),
            0o444,
            net.proc_dir(),
            Some(show),
            core::ptr::null_mut(),
        )
    };
    if pde.is_null() {
        ENOMEM.to_errno()
    } else {
        0
    }
}

/// Removes the file from a namespace going away.
///
/// # Safety
///
/// Called by the pernet core with a namespace being dismantled, after `net_init` succeeded.
unsafe extern "C" fn net_exit(net: *mut bindings::net) {
    // SAFETY: `net` is being dismantled; the entry was created by `net_init`.
    unsafe {
        let net = Net::from_raw(net);
        bindings::remove_proc_entry(NAME.as_ptr().cast(), net.proc_dir());
    }
}

fn family_name(family: u8) -> &'static CStr {
    match u32::from(family) {
        bindings::NFPROTO_IPV4 => c"ip",
        bindings::NFPROTO_IPV6 => c"ip6",
        bindings::NFPROTO_INET => c"inet",
        _ => c"?",
    }
}

fn proto_name(l4proto: u8) -> &'static CStr {
    match l4proto {
        IPPROTO_TCP => c"tcp",
        IPPROTO_UDP => c"udp",
        IPPROTO_GRE => c"gre",
        _ => c"?",
    }
}

fn cs(s: &CStr) -> *const c_char {
    s.as_ptr().cast()
}

/// Prints one direction of a flow.
///
/// # Safety
///
/// `seq` must be the seq_file of a running `show` call.
unsafe fn show_dir(seq: *mut bindings::seq_file, d: &FlowDir) {
    let t = &d.tuple;
    let fmt = if t.l3proto == NFPROTO_IPV6 {
        c"[%pI6c]:%u > [%pI6c]:%u iif %u packets %llu bytes %llu xmit %s"
    } else {
        c"%pI4:%u > %pI4:%u iif %u packets %llu bytes %llu xmit %s"
    };
    let xmit = match d.route.xmit {
        Xmit::Neigh => c"neigh",
        Xmit::Xfrm => c"xfrm",
        Xmit::Direct(_) => c"direct",
    };
    // SAFETY: `seq` is valid (function contract); the arguments match the format: address
    // pointers to 4 or 16 readable bytes, then `unsigned int`s and `unsigned long long`s.
    unsafe {
        bindings::seq_printf(
            seq,
            cs(fmt),
            t.src.as_ptr(),
            u32::from(t.src_port),
            t.dst.as_ptr(),
            u32::from(t.dst_port),
            t.iif,
            d.packets.load(Ordering::Relaxed),
            d.bytes.load(Ordering::Relaxed),
            cs(xmit),
        )
    };
    for e in t.encap.iter().filter(|e| e.proto != 0) {
        // SAFETY: `seq` is valid (function contract); arguments match the format.
        unsafe {
            bindings::seq_printf(
                seq,
                cs(c" encap %04x/%u"),
                u32::from(e.proto),
                u32::from(e.id),
            )
        };
    }
}

/// Prints the file.
///
/// # Safety
///
/// Called by seq_file for a file created by `net_init`.
unsafe extern "C" fn show(seq: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    // SAFETY: `seq` belongs to a file of a live namespace while the call runs.
    let net = unsafe { Net::from_raw(bindings::rflow_seq_file_net(seq)) };
    // SAFETY: `init_net` is a static object of the kernel.
    let init_net = unsafe { Net::from_raw(&raw const bindings::init_net) };
    if crate::sys::net::same(net, init_net) {
        let (created, packets, bytes) = crate::flowtable::totals();
        // SAFETY: `seq` is valid for the call; arguments match the format.
        unsafe {
            bindings::seq_printf(
                seq,
                cs(c"rflow flows_allocated %llu flows_created %llu packets_neigh %llu bytes_neigh %llu packets_direct %llu bytes_direct %llu packets_xfrm %llu bytes_xfrm %llu\n"),
                crate::flowtable::allocated() as u64,
                created,
                packets[0],
                bytes[0],
                packets[1],
                bytes[1],
                packets[2],
                bytes[2],
            )
        };
    }
    Registry::each(|ft| {
        let nf = ft.nf();
        if !crate::sys::net::same(nf.net(), net) {
            return;
        }
        let (family, table, name) = nf.names();
        let s = ft.stats();
        // SAFETY: `seq` is valid for the call; arguments match the format.
        unsafe {
            bindings::seq_printf(
                seq,
                cs(c"flowtable %s %s %s flows %llu created %llu removed %llu packets %llu bytes %llu buckets %llu\n"),
                cs(family_name(family)),
                cs(table),
                cs(name),
                s.flows,
                s.created,
                s.removed,
                s.packets,
                s.bytes,
                s.buckets,
            )
        };
        ft.for_each_flow(|flow| {
            let [orig, reply] = flow.dirs();
            // SAFETY: `seq` is valid for the call; arguments match the formats.
            unsafe {
                bindings::seq_printf(seq, cs(c" %s "), cs(proto_name(orig.tuple.l4proto)));
                show_dir(seq, orig);
                bindings::seq_printf(seq, cs(c" | "));
                show_dir(seq, reply);
                bindings::seq_printf(
                    seq,
                    cs(c" | expires %d%s%s%s\n"),
                    flow.expires_in() / time::HZ as i32,
                    cs(if flow.is_nat() { c" nat" } else { c"" }),
                    cs(if flow.is_closing() { c" closing" } else { c"" }),
                    cs(if flow.is_teardown() {
                        c" teardown"
                    } else {
                        c""
                    }),
                );
            }
        });
    });
    0
}
