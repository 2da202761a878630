// SPDX-License-Identifier: GPL-2.0

//! Random numbers from the kernel's CRNG.

use crate::bindings;
use crate::pure::hash::SipKey;

/// Fills `N` bytes from the kernel's CRNG (`get_random_bytes()`).
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // SAFETY: `b` is a writable local buffer of `N` bytes.
    unsafe { bindings::get_random_bytes(b.as_mut_ptr().cast(), N) };
    b
}

/// 16 bytes from the kernel's CRNG through its per-CPU batches (`get_random_u64()`): a flow's
/// UFID is drawn for every new flow, where `get_random_bytes()` would cost a ChaCha block each.
pub(crate) fn bytes16_batched() -> [u8; 16] {
    // SAFETY: `get_random_u64()` may be called from any context and takes no arguments.
    let (a, b) = unsafe { (bindings::get_random_u64(), bindings::get_random_u64()) };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_ne_bytes());
    out[8..].copy_from_slice(&b.to_ne_bytes());
    out
}

/// A fresh random hash secret.
pub(crate) fn sip_key() -> SipKey {
    SipKey::from_bytes(bytes::<16>())
}
