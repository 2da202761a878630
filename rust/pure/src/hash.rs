// SPDX-License-Identifier: GPL-2.0

//! Keyed hashing of flow keys.
//!
//! The flow table is indexed by packets an attacker can choose, so its hash is keyed with a
//! random secret per table: SipHash-1-3, the function the kernel's `hsiphash()` uses on 64-bit
//! machines for exactly this purpose (hash tables that must resist flooding and stay fast).
//! Without the key, colliding tuples cannot be computed offline.

use super::tuple::FlowKey;

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

    /// Compresses the final block (the message's last `len % 8` bytes and its length in the
    /// top byte) and finalises.
    #[inline(always)]
    fn finish_block(mut self, last: u64) -> u64 {
        self.compress(last);
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
    siphash13_tail(key, words, 0, 0)
}

/// SipHash-1-3 of `N` words followed by the `tail_len` (at most 7) low bytes of `tail`.
///
/// Equal to the standard SipHash-1-3 of the `8 * N + tail_len` bytes `words[i].to_le_bytes()`
/// then `tail.to_le_bytes()[..tail_len]`. The tail rides in the final block, which SipHash
/// compresses anyway (with the message length): up to 7 bytes more cost no round.
#[inline(always)]
pub fn siphash13_tail<const N: usize>(
    key: &SipKey,
    words: &[u64; N],
    tail: u64,
    tail_len: usize,
) -> u64 {
    let mut s = State::new(key);
    for w in words {
        s.compress(*w);
    }
    let len = (N * 8 + tail_len) as u64;
    let tail = match tail_len {
        0 => 0,
        n => tail & (u64::MAX >> (64 - 8 * n.min(7))),
    };
    s.finish_block(tail | len << 56)
}

/// Hashes a flow key with the table's secret.
///
/// The message is a byte encoding of the key, hashed with standard SipHash-1-3: the
/// encapsulation word only when the key has an encapsulation (most flows have none), the
/// address words, then six bytes in SipHash's final block, which it compresses anyway with the
/// message length: both ports and the layer 3 and layer 4 protocols. Keys with and without an
/// encapsulation give messages of different lengths, so leaving the zero word out costs no
/// collision.
///
/// The input device is compared on lookup but not hashed. Flows that differ only in it share a
/// bucket, and there are few of them whatever the traffic: the same tuple on two devices is
/// two conntrack entries only in two conntrack zones, which the ruleset, not the sender,
/// creates. Every field a sender chooses is hashed. Leaving the device out saves one SipHash
/// round per packet, and so does leaving out an empty encapsulation.
#[inline(always)]
pub fn hash_key(key: &SipKey, k: &FlowKey) -> u64 {
    let w = k.words();
    // Source port, destination port (word 0's low half), l3proto, l4proto (word 1).
    let tail = (w[0] & 0xffff_ffff) | (w[1] & 0xffff) << 32;
    match (k.is_v6(), w[2] == 0) {
        (false, true) => siphash13_tail::<1>(key, &[w[3]], tail, 6),
        (false, false) => siphash13_tail::<2>(key, &[w[2], w[3]], tail, 6),
        (true, true) => siphash13_tail::<4>(key, &[w[3], w[4], w[5], w[6]], tail, 6),
        (true, false) => siphash13_tail::<5>(key, &[w[2], w[3], w[4], w[5], w[6]], tail, 6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::{
        addr_v4, Encap, Tuple, ENCAP_MAX, IPPROTO_TCP, IPPROTO_UDP, NFPROTO_IPV4, NFPROTO_IPV6,
    };
    use core::hash::Hasher;
    use siphasher::sip::SipHasher13;
    use std::vec::Vec;

    fn reference_bytes(key: &SipKey, bytes: &[u8]) -> u64 {
        let mut h = SipHasher13::new_with_keys(key.k0, key.k1);
        h.write(bytes);
        h.finish()
    }

    fn reference(key: &SipKey, words: &[u64]) -> u64 {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        reference_bytes(key, &bytes)
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
        // No encapsulation: the addresses, then the ports and the protocols.
        let msg = |t: &Tuple, encap: Option<u64>| {
            let w = t.key().significant_words().to_vec();
            let mut m: Vec<u8> = encap.iter().flat_map(|e| e.to_le_bytes()).collect();
            m.extend(w[3..].iter().flat_map(|x| x.to_le_bytes()));
            m.extend(t.src_port.to_le_bytes());
            m.extend(t.dst_port.to_le_bytes());
            m.extend([t.l3proto, t.l4proto]);
            m
        };
        assert_eq!(hash_key(&a, &t.key()), reference_bytes(&a, &msg(&t, None)));
        // With one: its word first.
        let mut v = t;
        v.encap[0] = Encap {
            id: 10,
            proto: 0x8100,
        };
        let e = v.key().significant_words()[2];
        assert_ne!(e, 0);
        assert_eq!(
            hash_key(&a, &v.key()),
            reference_bytes(&a, &msg(&v, Some(e)))
        );
        // The input device is compared, not hashed.
        let mut d = t;
        d.iif = 7;
        assert_ne!(d.key(), t.key());
        assert_eq!(hash_key(&a, &d.key()), hash_key(&a, &t.key()));
    }

    #[test]
    fn v6_keys_hash_their_encoding() {
        let t = Tuple {
            src: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            dst: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            src_port: 1000,
            dst_port: 53,
            iif: 2,
            l3proto: NFPROTO_IPV6,
            l4proto: IPPROTO_TCP,
            encap: [Encap::default(); ENCAP_MAX],
        };
        let key = SipKey { k0: 5, k1: 6 };
        for encap in [
            Encap::default(),
            Encap {
                id: 7,
                proto: 0x88a8,
            },
        ] {
            let mut u = t;
            u.encap[1] = encap;
            let w = u.key().significant_words().to_vec();
            let first = if w[2] == 0 { 3 } else { 2 };
            let mut msg: Vec<u8> = w[first..].iter().flat_map(|x| x.to_le_bytes()).collect();
            msg.extend(u.src_port.to_le_bytes());
            msg.extend(u.dst_port.to_le_bytes());
            msg.extend([NFPROTO_IPV6, IPPROTO_TCP]);
            assert_eq!(hash_key(&key, &u.key()), reference_bytes(&key, &msg));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_words_match_reference(k0: u64, k1: u64, words: [u64; 7]) {
            let key = SipKey { k0, k1 };
            proptest::prop_assert_eq!(siphash13(&key, &words), reference(&key, &words));
        }

        #[test]
        fn any_tail_matches_reference(
            k0: u64, k1: u64, words: [u64; 3], tail: u64, tail_len in 0usize..8,
        ) {
            let key = SipKey { k0, k1 };
            let mut msg: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            msg.extend(&tail.to_le_bytes()[..tail_len]);
            proptest::prop_assert_eq!(
                siphash13_tail(&key, &words, tail, tail_len),
                reference_bytes(&key, &msg)
            );
        }
    }
}
