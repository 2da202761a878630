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

/// A fresh random hash secret.
pub(crate) fn sip_key() -> SipKey {
    SipKey::from_bytes(bytes::<16>())
}
