// SPDX-License-Identifier: GPL-2.0

//! Flow tuples and the packed lookup key built from them.
//!
//! A [`Tuple`] is one direction of a connection as a packet in that direction carries it. The
//! hash table does not compare tuples: it compares [`FlowKey`]s, fixed-size arrays of words that
//! hold exactly the fields C's `flow_offload_tuple` keys on (everything before `__hash`), packed
//! so that an IPv4 key is four words and an IPv6 key seven.

/// `NFPROTO_IPV4`, the layer 3 protocol number conntrack and the flowtable use for IPv4.
pub const NFPROTO_IPV4: u8 = 2;
/// `NFPROTO_IPV6`.
pub const NFPROTO_IPV6: u8 = 10;

/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u8 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u8 = 17;
/// `IPPROTO_GRE`.
pub const IPPROTO_GRE: u8 = 47;

/// Maximum number of layer 2 encapsulations (VLAN tags, PPPoE session) a flow can carry.
pub const ENCAP_MAX: usize = 2;

/// An IPv4 or IPv6 address in network byte order; IPv4 uses the first four bytes.
pub type Addr = [u8; 16];

/// Builds an [`Addr`] from an IPv4 address in network byte order.
pub const fn addr_v4(octets: [u8; 4]) -> Addr {
    let mut a = [0u8; 16];
    a[0] = octets[0];
    a[1] = octets[1];
    a[2] = octets[2];
    a[3] = octets[3];
    a
}

/// One layer 2 encapsulation of a flow: a VLAN tag or a PPPoE session.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Encap {
    /// VLAN id or PPPoE session id, host order.
    pub id: u16,
    /// The encapsulation's ethertype (802.1Q, 802.1AD or PPPoE session), host order.
    pub proto: u16,
}

/// One direction of a flow, as a packet travelling in that direction carries it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Tuple {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port, host order (0 for GRE).
    pub src_port: u16,
    /// Destination port, host order (0 for GRE).
    pub dst_port: u16,
    /// Index of the device the packet enters on.
    pub iif: u32,
    /// [`NFPROTO_IPV4`] or [`NFPROTO_IPV6`].
    pub l3proto: u8,
    /// [`IPPROTO_TCP`], [`IPPROTO_UDP`] or [`IPPROTO_GRE`].
    pub l4proto: u8,
    /// Encapsulations, outermost first; unused slots are zero.
    pub encap: [Encap; ENCAP_MAX],
}

/// Number of 64-bit words in a [`FlowKey`].
pub const KEY_WORDS: usize = 7;
/// Number of leading words of a [`FlowKey`] that an IPv4 key uses; the rest are zero.
pub const KEY_WORDS_V4: usize = 4;

/// The exact-match lookup key of one flow direction.
///
/// # Invariants
///
/// Built only by [`Tuple::key`] (or the packet parser, which packs the same way), so two keys are
/// equal exactly when the tuples agree on every keyed field, and an IPv4 key has zeros after its
/// first [`KEY_WORDS_V4`] words.
#[derive(Clone, Copy, Eq, PartialOrd, Ord, Debug, Default)]
#[repr(C, align(8))]
pub struct FlowKey {
    words: [u64; KEY_WORDS],
}

/// Every lookup compares keys: a derived comparison of the seven words becomes a call to
/// `bcmp()` of 56 bytes (about 45 instructions in the kernel's generic loop). Two keys of the
/// same family agree on word 1, and an IPv4 key's last three words are zero (type invariant),
/// so IPv4 keys need their first four words only, compared without branches.
impl PartialEq for FlowKey {
    #[inline(always)]
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.words, &other.words);
        let head = (a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]);
        head == 0 && (!self.is_v6() || (a[4] ^ b[4]) | (a[5] ^ b[5]) | (a[6] ^ b[6]) == 0)
    }
}

// Word layout, shared by both families:
//   0: source port | destination port << 16 | input ifindex << 32
//   1: l3proto | l4proto << 8
//   2: encap[0].id | encap[0].proto << 16 | encap[1].id << 32 | encap[1].proto << 48
//   3..: addresses. IPv4: source | destination << 32. IPv6: source (2 words), destination (2).

impl FlowKey {
    /// Packs the keyed fields; `src`/`dst` are the raw address bytes of the family.
    #[inline(always)]
    pub fn pack(
        l3proto: u8,
        l4proto: u8,
        src: &[u8],
        dst: &[u8],
        ports: (u16, u16),
        iif: u32,
        encap: &[Encap; ENCAP_MAX],
    ) -> Self {
        let mut words = [0u64; KEY_WORDS];
        words[0] = u64::from(ports.0) | u64::from(ports.1) << 16 | u64::from(iif) << 32;
        words[1] = u64::from(l3proto) | u64::from(l4proto) << 8;
        words[2] = u64::from(encap[0].id)
            | u64::from(encap[0].proto) << 16
            | u64::from(encap[1].id) << 32
            | u64::from(encap[1].proto) << 48;
        if l3proto == NFPROTO_IPV6 && src.len() >= 16 && dst.len() >= 16 {
            words[3] = read_u64(src, 0);
            words[4] = read_u64(src, 8);
            words[5] = read_u64(dst, 0);
            words[6] = read_u64(dst, 8);
        } else if src.len() >= 4 && dst.len() >= 4 {
            words[3] = u64::from(read_u32(src, 0)) | u64::from(read_u32(dst, 0)) << 32;
        }
        FlowKey { words }
    }

    /// Returns the words that identify this key: four for IPv4, all of them for IPv6.
    #[inline(always)]
    pub fn significant_words(&self) -> &[u64] {
        if self.is_v6() {
            &self.words
        } else {
            &self.words[..KEY_WORDS_V4]
        }
    }

    /// Returns all words of the key.
    #[inline(always)]
    pub fn words(&self) -> &[u64; KEY_WORDS] {
        &self.words
    }

    /// Returns whether this is an IPv6 key.
    #[inline(always)]
    pub fn is_v6(&self) -> bool {
        self.words[1] as u8 == NFPROTO_IPV6
    }
}

#[inline(always)]
fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

#[inline(always)]
fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(w)
}

impl Tuple {
    /// Builds the lookup key of this tuple.
    pub fn key(&self) -> FlowKey {
        FlowKey::pack(
            self.l3proto,
            self.l4proto,
            &self.src,
            &self.dst,
            (self.src_port, self.dst_port),
            self.iif,
            &self.encap,
        )
    }
}

/// Direction of a flow, with conntrack's numbering (`IP_CT_DIR_ORIGINAL`, `IP_CT_DIR_REPLY`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Dir {
    /// The direction of the packet that created the conntrack entry.
    Original = 0,
    /// The opposite direction.
    Reply = 1,
}

impl Dir {
    /// Returns the other direction.
    pub fn other(self) -> Dir {
        match self {
            Dir::Original => Dir::Reply,
            Dir::Reply => Dir::Original,
        }
    }

    /// Returns the direction as an index into per-direction arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple_v4() -> Tuple {
        Tuple {
            src: addr_v4([10, 0, 1, 99]),
            dst: addr_v4([10, 0, 2, 99]),
            src_port: 40000,
            dst_port: 12345,
            iif: 3,
            l3proto: NFPROTO_IPV4,
            l4proto: IPPROTO_TCP,
            encap: [Encap::default(); ENCAP_MAX],
        }
    }

    #[test]
    fn v4_key_uses_four_words_and_zeroes_the_rest() {
        let k = tuple_v4().key();
        assert_eq!(k.significant_words().len(), KEY_WORDS_V4);
        assert!(k.words()[KEY_WORDS_V4..].iter().all(|w| *w == 0));
        assert!(!k.is_v6());
    }

    #[test]
    fn every_keyed_field_changes_the_key() {
        let base = tuple_v4();
        let variants: [fn(&mut Tuple); 9] = [
            |t| t.src[3] ^= 1,
            |t| t.dst[0] ^= 0x80,
            |t| t.src_port ^= 1,
            |t| t.dst_port ^= 0x100,
            |t| t.iif += 1,
            |t| t.l4proto = IPPROTO_UDP,
            |t| t.encap[0].id = 10,
            |t| t.encap[1].proto = 0x88a8,
            |t| {
                t.l3proto = NFPROTO_IPV6;
            },
        ];
        for v in variants {
            let mut t = base;
            v(&mut t);
            assert_ne!(t.key(), base.key(), "{t:?}");
        }
    }

    #[test]
    fn v6_key_covers_all_address_bytes() {
        let mut t = tuple_v4();
        t.l3proto = NFPROTO_IPV6;
        t.src = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        t.dst = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let base = t.key();
        assert!(base.is_v6());
        for i in 0..16 {
            let mut u = t;
            u.src[i] ^= 0xff;
            assert_ne!(u.key(), base);
            let mut u = t;
            u.dst[i] ^= 0xff;
            assert_ne!(u.key(), base);
        }
    }

    proptest::proptest! {
        /// The word-wise comparison agrees with comparing all seven words, for keys of either
        /// family that differ anywhere or nowhere.
        #[test]
        fn key_equality_is_word_equality(
            src: [u8; 16], dst: [u8; 16], ports: (u16, u16), iif: u32, v6_a: bool, v6_b: bool,
            flip in 0usize..40, same: bool,
        ) {
            let tuple = |v6: bool| Tuple {
                src, dst, src_port: ports.0, dst_port: ports.1, iif,
                l3proto: if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 },
                l4proto: IPPROTO_UDP,
                encap: [Encap { id: 7, proto: 0x8100 }, Encap::default()],
            };
            let a = tuple(v6_a);
            let mut b = tuple(v6_b);
            if !same {
                // Any byte of either address (the upper 12 bytes of an IPv4 address are not
                // keyed), a port, the device.
                match flip {
                    0..=15 => b.src[flip] ^= 1,
                    16..=31 => b.dst[flip - 16] ^= 0x80,
                    32 => b.src_port ^= 1,
                    33 => b.dst_port ^= 0x8000,
                    _ => b.iif ^= 1 << (flip - 34),
                }
            }
            let (ka, kb) = (a.key(), b.key());
            proptest::prop_assert_eq!(ka == kb, ka.words() == kb.words());
        }
    }

    #[test]
    fn directions() {
        assert_eq!(Dir::Original.other(), Dir::Reply);
        assert_eq!(Dir::Reply.other().index(), 0);
    }
}
