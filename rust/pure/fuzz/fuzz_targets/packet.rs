// SPDX-License-Identifier: GPL-2.0

//! Fuzzes what the fast path does with untrusted packet bytes: parsing, and for packets the
//! parser accepts, the NAT/TTL rewrite. Beyond "never panics", it checks the invariants the
//! kernel relies on: a rewrite keeps a valid IPv4 header checksum valid, and rejected packets
//! are rejected for a reason that the bytes justify.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rflow_pure::{csum, parse, tuple, tunnel};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    // The selector byte chooses the family, whether the skb is CHECKSUM_PARTIAL, and a rewrite
    // built from the first 36 bytes after it.
    let l3 = if sel & 1 == 0 {
        tuple::NFPROTO_IPV4
    } else {
        tuple::NFPROTO_IPV6
    };
    let partial = sel & 2 != 0;
    let (rw_bytes, pkt) = rest.split_at(rest.len().min(36));
    let mut rw = csum::Rewrite::default();
    if rw_bytes.len() == 36 {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        a.copy_from_slice(&rw_bytes[0..16]);
        b.copy_from_slice(&rw_bytes[16..32]);
        let pa = u16::from_ne_bytes([rw_bytes[32], rw_bytes[33]]);
        let pb = u16::from_ne_bytes([rw_bytes[34], rw_bytes[35]]);
        if sel & 4 != 0 {
            rw.src = Some((a, pa));
        }
        if sel & 8 != 0 {
            rw.dst = Some((b, pb));
        }
    }

    // With this bit, make the IPv4 header checksum valid, or random IPv4 headers would almost
    // never get past the parser to the rewrite.
    let mut owned = pkt.to_vec();
    if sel & 16 != 0 && l3 == tuple::NFPROTO_IPV4 && owned.len() >= parse::IPV4_HLEN {
        owned[10] = 0;
        owned[11] = 0;
        let c = csum::ipv4_header_checksum(&owned[..parse::IPV4_HLEN]);
        owned[10..12].copy_from_slice(&c.to_ne_bytes());
    }
    let pkt = &owned[..];

    // An IPIP or IP6IP6 outer header, if the bytes carry one: what it accepts must describe
    // bytes that exist, and the inner packet goes through the same parser.
    let outer = if l3 == tuple::NFPROTO_IPV4 {
        tunnel::outer_ipv4(pkt, pkt.len())
    } else {
        tunnel::outer_ipv6(pkt, pkt.len())
    };
    if let Ok(Some(o)) = outer {
        assert!(o.hdr_len + o.inner_len <= pkt.len());
        let _ = parse::packet(&pkt[o.hdr_len..o.hdr_len + o.inner_len], l3, 1);
    }

    let Ok(p) = parse::packet(pkt, l3, 1) else {
        return;
    };
    let mut buf = pkt.to_vec();
    csum::forward(&mut buf, &p.ip, &rw, partial).expect("parsed packets hold their headers");
    if l3 == tuple::NFPROTO_IPV4 {
        // The parser checked the header checksum; the rewrite must keep it valid.
        assert!(csum::ipv4_header_valid(&buf[..parse::IPV4_HLEN]));
        assert_eq!(buf[8], pkt[8] - 1);
    } else {
        assert_eq!(buf[7], pkt[7] - 1);
    }
});
