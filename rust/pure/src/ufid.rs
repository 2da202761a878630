// SPDX-License-Identifier: GPL-2.0

//! Unique flow identifiers (UFIDs): 128 bits per flow, as Open vSwitch's datapath has them.
//!
//! OVS derives a UFID from the flow key with a keyed hash in userspace, so the same key always
//! gets the same UFID. rflow creates its flows in the kernel from conntrack entries, and draws
//! each UFID at random instead (a version 4 UUID): a connection that leaves the flowtable and
//! comes back gets a new UFID, so a `DEL` of the old one can never tear down the new flow, and a
//! UFID reveals nothing about the addresses it stands for. Conntrack's id joins a flow with
//! `conntrack -L -o id`.
//!
//! The text form is OVS's: `ufid:` followed by the 16 bytes as a UUID,
//! `ufid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.

use super::hash::{siphash13, SipKey};
use core::fmt;

/// Length of a UFID in bytes, on the wire and in hardware rules (`TC_COOKIE_MAX_SIZE`).
pub const UFID_LEN: usize = 16;

/// A unique flow identifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ufid(pub [u8; UFID_LEN]);

impl Ufid {
    /// Makes a UFID of 16 random bytes: sets the version (4) and variant (RFC 4122) bits, as
    /// the kernel's `generate_random_uuid()` does, so that the text form is a valid UUID.
    pub fn from_random(mut b: [u8; UFID_LEN]) -> Self {
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Ufid(b)
    }

    /// Returns the UFID of a netlink attribute's payload: exactly 16 bytes, nothing else (OVS
    /// treats a longer one as absent, which turns a `DEL` into a flush: never here).
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        let b: [u8; UFID_LEN] = b.try_into().ok()?;
        Some(Ufid(b))
    }

    /// Returns the bytes as two little-endian words, the message of [`Ufid::hash`].
    fn words(&self) -> [u64; 2] {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&self.0[..8]);
        hi.copy_from_slice(&self.0[8..]);
        [u64::from_le_bytes(lo), u64::from_le_bytes(hi)]
    }

    /// Hashes the UFID with a table's secret. UFIDs are random, but GET requests carry any
    /// UFID a user likes: keyed, lookups cannot be steered into one long chain.
    pub fn hash(&self, key: &SipKey) -> u64 {
        siphash13(key, &self.words())
    }

    /// Parses the text form: `ufid:` and a UUID (hyphens where a UUID has them, or none at
    /// all), hex digits in either case.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("ufid:")?;
        let plain = hex.len() == 2 * UFID_LEN;
        if !plain && hex.len() != 2 * UFID_LEN + 4 {
            return None;
        }
        let mut out = [0u8; UFID_LEN];
        let mut nibbles = 0usize;
        for (i, c) in hex.bytes().enumerate() {
            if !plain && matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return None,
            };
            out[nibbles / 2] |= if nibbles & 1 == 0 { v << 4 } else { v };
            nibbles += 1;
        }
        (nibbles == 2 * UFID_LEN).then_some(Ufid(out))
    }
}

impl fmt::Display for Ufid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ufid:")?;
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;

    #[test]
    fn text_form_is_ovs_uuid_form() {
        let u = Ufid([
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ]);
        assert_eq!(u.to_string(), "ufid:12345678-9abc-def0-0123-456789abcdef");
        assert_eq!(
            Ufid::parse("ufid:12345678-9ABC-def0-0123-456789abcdef"),
            Some(u)
        );
        assert_eq!(Ufid::parse("ufid:123456789abcdef0123456789abcdef"), None);
        assert_eq!(
            Ufid::parse("ufid:123456789abcdef00123456789abcdef"),
            Some(u)
        );
        assert_eq!(Ufid::parse("12345678-9abc-def0-0123-456789abcdef"), None);
        assert_eq!(
            Ufid::parse("ufid:12345678-9abc-def0-0123-456789abcdeg"),
            None
        );
        assert_eq!(
            Ufid::parse("ufid:12345678x9abc-def0-0123-456789abcdef"),
            None
        );
        assert_eq!(
            Ufid::parse("ufid:12345678-9abc-def0-0123-456789abcdef0"),
            None
        );
        assert_eq!(
            Ufid::parse("ufid:+2345678-9abc-def0-0123-456789abcdef"),
            None
        );
    }

    #[test]
    fn exactly_sixteen_bytes() {
        assert_eq!(Ufid::from_slice(&[7; 16]), Some(Ufid([7; 16])));
        for len in [0, 1, 15, 17, 32] {
            assert_eq!(Ufid::from_slice(&std::vec![7; len]), None, "{len} bytes");
        }
    }

    proptest! {
        #[test]
        fn random_ufids_are_v4_uuids_and_round_trip(b in any::<[u8; 16]>()) {
            let u = Ufid::from_random(b);
            prop_assert_eq!(u.0[6] >> 4, 4);
            prop_assert_eq!(u.0[8] >> 6, 2);
            let s = u.to_string();
            prop_assert_eq!(s.len(), 5 + 36);
            prop_assert_eq!(Ufid::parse(&s), Some(u));
            prop_assert_eq!(Ufid::parse(&s.to_uppercase().replace("UFID", "ufid")), Some(u));
        }

        #[test]
        fn hash_is_siphash13_of_the_bytes(b in any::<[u8; 16]>(), k in any::<[u8; 16]>()) {
            use core::hash::Hasher;
            let key = SipKey::from_bytes(k);
            let mut h = siphasher::sip::SipHasher13::new_with_keys(key.k0, key.k1);
            h.write(&b);
            prop_assert_eq!(Ufid(b).hash(&key), h.finish());
        }
    }
}
