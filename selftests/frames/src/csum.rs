// SPDX-License-Identifier: GPL-2.0

//! Internet checksums (RFC 1071): IPv4 header and TCP/UDP with the IPv4/IPv6 pseudo header.

/// Adds `data` as big-endian 16-bit words (an odd last byte padded with zero) to `sum`.
pub fn add(mut sum: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Folds a sum to 16 bits and complements it: the value to store in a checksum field.
pub fn finish(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum of `data` (with its checksum field zeroed, the value to store there; over data
/// that includes a correct checksum, 0).
pub fn checksum(data: &[u8]) -> u16 {
    finish(add(0, data))
}

/// The sum of the pseudo header of an IPv4 (4-byte addresses) or IPv6 (16-byte addresses)
/// packet carrying `len` bytes of protocol `proto`.
pub fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u64 {
    let sum = add(add(0, src), dst);
    if src.len() == 4 {
        sum + u64::from(proto) + (len as u64 & 0xffff)
    } else {
        sum + u64::from(proto) + (len as u64 >> 16) + (len as u64 & 0xffff)
    }
}

/// Whether two checksum field values are the same ones'-complement number (0 and 0xffff are).
pub fn same_value(a: u16, b: u16) -> bool {
    a == b || (a | b == 0xffff && (a == 0 || b == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_example() {
        // The usual textbook header, checksum 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }

    #[test]
    fn rfc1071_example_and_odd_length() {
        // RFC 1071 section 3: 0001 f203 f4f5 f6f7 sums to 0xddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&d), !0xddf2);
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), !(0x1234u16 + 0x5600));
    }

    #[test]
    fn udp_ipv4_reference() {
        // UDP 10.0.0.1:1 -> 10.0.0.2:2, 1 payload byte 0xab, computed by hand:
        // pseudo 0a00+0001+0a00+0002+0011+0009, header 0001+0002+0009, data ab00.
        let udp = [0, 1, 0, 2, 0, 9, 0, 0, 0xab];
        let sum = pseudo(&[10, 0, 0, 1], &[10, 0, 0, 2], 17, udp.len());
        let want = !(0x0a00u32 + 1 + 0x0a00 + 2 + 0x11 + 9 + 1 + 2 + 9 + 0xab00) as u16;
        assert_eq!(finish(add(sum, &udp)), want);
    }

    #[test]
    fn zero_representations() {
        assert!(same_value(0, 0xffff));
        assert!(same_value(0xffff, 0));
        assert!(same_value(7, 7));
        assert!(!same_value(0, 1));
        assert!(!same_value(0xfffe, 0xffff));
    }
}
