// SPDX-License-Identifier: GPL-2.0

//! Keyed hashing of flow keys.
//!
//! The flow table is indexed by packets an attacker can choose, so its hash is keyed with a
//! random secret per table: SipHash-1-3, the function the kernel's `hsiphash()` uses on 64-bit
//! machines for exactly this purpose (hash tables that must resist flooding and stay fast).
//! Without the key, colliding tuples cannot be computed offline.

use super::tuple::{FlowKey, KEY_WORDS, KEY_WORDS_V4};

/// The 128-bit secret of a SipHash instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SipKey {
    /// First half of the key (bytes 0..8, little endian).
    pub k0: u64,
    /// Second half of the key (bytes 8..16, little endian).
    pub k1: u64,
}

impl SipKey {
    /// Builds a key from 16 random bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&b[..8]);
        hi.copy_from_slice(&b[8..]);
        SipKey {
            k0: u64::from_le_bytes(lo),
            k1: u64::from_le_bytes(hi),
        }
    }
}

struct State {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
}

impl State {
    #[inline(always)]
    fn new(key: &SipKey) -> Self {
        State {
            v0: key.k0 ^ 0x736f_6d65_7073_6575,
            v1: key.k1 ^ 0x646f_7261_6e64_6f6d,
            v2: key.k0 ^ 0x6c79_6765_6e65_7261,
            v3: key.k1 ^ 0x7465_6462_7974_6573,
        }
    }

    #[inline(always)]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13);
        self.v1 ^= self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16);
        self.v3 ^= self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21);
        self.v3 ^= self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17);
        self.v1 ^= self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    #[inline(always)]
    fn compress(&mut self, m: u64) {
        self.v3 ^= m;
        self.round();
        self.v0 ^= m;
    }

    #[inline(always)]
    fn finish(mut self, byte_len: usize) -> u64 {
        // The final block of a message whose length is a multiple of 8: only the length byte.
        self.compress((byte_len as u64) << 56);
        self.v2 ^= 0xff;
        self.round();
        self.round();
        self.round();
        self.v0 ^ self.v1 ^ self.v2 ^ self.v3
    }
}

/// SipHash-1-3 of `N` words, each read as 8 little-endian message bytes.
///
/// Equal to the standard SipHash-1-3 of the `8 * N` bytes `words[i].to_le_bytes()`.
#[inline(always)]
pub fn siphash13<const N: usize>(key: &SipKey, words: &[u64; N]) -> u64 {
    let mut s = State::new(key);
    for w in words {
        s.compress(*w);
    }
    s.finish(N * 8)
}

/// Hashes a flow key with the table's secret.
///
/// The protocol word (16 bits used) is folded into the top of the encapsulation word, whose top
/// 16 bits are the inner encapsulation's ethertype: one SipHash round less per packet. Keys that
/// differ only there may share a bucket, which costs a comparison, never a wrong match (lookups
/// compare whole keys), and an attacker cannot choose those fields of other people's flows.
#[inline(always)]
pub fn hash_key(key: &SipKey, k: &FlowKey) -> u64 {
    let w = k.words();
    let meta = w[2] ^ (w[1] << 48);
    if k.is_v6() {
        siphash13::<{ KEY_WORDS - 1 }>(key, &[w[0], meta, w[3], w[4], w[5], w[6]])
    } else {
        siphash13::<{ KEY_WORDS_V4 - 1 }>(key, &[w[0], meta, w[3]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::{addr_v4, Encap, Tuple, ENCAP_MAX, IPPROTO_UDP, NFPROTO_IPV4};
    use core::hash::Hasher;
    use siphasher::sip::SipHasher13;
    use std::vec::Vec;

    fn reference(key: &SipKey, words: &[u64]) -> u64 {
        let mut h = SipHasher13::new_with_keys(key.k0, key.k1);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        h.write(&bytes);
        h.finish()
    }

    #[test]
    fn matches_reference_siphash13() {
        let key = SipKey::from_bytes(*b"0123456789abcdef");
        let words = [1u64, 0xdead_beef_0000_0001, u64::MAX, 0, 42, 7, 1 << 63];
        assert_eq!(siphash13(&key, &words), reference(&key, &words));
        let four = [9u64, 8, 7, 6];
        assert_eq!(siphash13(&key, &four), reference(&key, &four));
    }

    #[test]
    fn key_changes_the_hash() {
        let t = Tuple {
            src: addr_v4([192, 168, 1, 2]),
            dst: addr_v4([8, 8, 8, 8]),
            src_port: 1000,
            dst_port: 53,
            iif: 2,
            l3proto: NFPROTO_IPV4,
            l4proto: IPPROTO_UDP,
            encap: [Encap::default(); ENCAP_MAX],
        };
        let a = SipKey { k0: 1, k1: 2 };
        let b = SipKey { k0: 1, k1: 3 };
        assert_ne!(hash_key(&a, &t.key()), hash_key(&b, &t.key()));
        let w = t.key().significant_words().to_vec();
        assert_eq!(
            hash_key(&a, &t.key()),
            reference(&a, &[w[0], w[2] ^ (w[1] << 48), w[3]])
        );
    }

    proptest::proptest! {
        #[test]
        fn any_words_match_reference(k0: u64, k1: u64, words: [u64; 7]) {
            let key = SipKey { k0, k1 };
            proptest::prop_assert_eq!(siphash13(&key, &words), reference(&key, &words));
        }
    }
}
