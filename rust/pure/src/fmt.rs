// SPDX-License-Identifier: GPL-2.0

//! Text forms of addresses, for listings (`%pI4`, `%pI6c`).

use core::fmt;

/// An IPv4 address in network order, shown dotted (`%pI4`).
pub struct Ipv4(pub [u8; 4]);

impl fmt::Display for Ipv4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

/// An IPv6 address in network order, shown in the RFC 5952 form (`%pI6c`): lower-case hex
/// groups without leading zeros, the longest run of two or more zero groups (the first of equal
/// runs) as `::`, and IPv4-mapped addresses as `::ffff:a.b.c.d`.
pub struct Ipv6(pub [u8; 16]);

impl fmt::Display for Ipv6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.0;
        let mut g = [0u16; 8];
        for (i, w) in g.iter_mut().enumerate() {
            *w = u16::from_be_bytes([a[2 * i], a[2 * i + 1]]);
        }
        if g[..5] == [0; 5] && g[5] == 0xffff {
            return write!(f, "::ffff:{}", Ipv4([a[12], a[13], a[14], a[15]]));
        }
        // Longest run of zero groups, at least two long.
        let (mut best, mut best_len, mut i) = (8, 0, 0);
        while i < 8 {
            if g[i] == 0 {
                let start = i;
                while i < 8 && g[i] == 0 {
                    i += 1;
                }
                if i - start > best_len {
                    (best, best_len) = (start, i - start);
                }
            } else {
                i += 1;
            }
        }
        if best_len < 2 {
            best = 8;
        }
        let mut i = 0;
        while i < 8 {
            if i == best {
                f.write_str("::")?;
                i += best_len;
                continue;
            }
            if i != 0 && i != best + best_len {
                f.write_str(":")?;
            }
            write!(f, "{:x}", g[i])?;
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::{format, net::Ipv6Addr, string::ToString};

    #[test]
    fn known_forms() {
        let cases = [
            ("::", "::"),
            ("::1", "::1"),
            ("dead:1::99", "dead:1::99"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("fe80::", "fe80::"),
            ("::ffff:10.0.1.99", "::ffff:10.0.1.99"),
        ];
        for (input, want) in cases {
            let a: Ipv6Addr = input.parse().unwrap();
            assert_eq!(format!("{}", Ipv6(a.octets())), want);
        }
        assert_eq!(Ipv4([10, 0, 1, 99]).to_string(), "10.0.1.99");
    }

    proptest! {
        /// Agrees with the standard library, which implements RFC 5952.
        #[test]
        fn same_as_std(groups in proptest::array::uniform8(prop_oneof![Just(0u16), Just(1u16), any::<u16>()])) {
            let a = Ipv6Addr::new(groups[0], groups[1], groups[2], groups[3], groups[4], groups[5], groups[6], groups[7]);
            prop_assert_eq!(format!("{}", Ipv6(a.octets())), a.to_string());
        }
    }
}
