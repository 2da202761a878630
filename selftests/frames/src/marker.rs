// SPDX-License-Identifier: GPL-2.0

//! Finding the marker (magic, frame id) in a received frame.
//!
//! Frames may have been NAT'ed, had their TTL decremented or their VLAN tag moved out of band
//! on the way, so the marker is located by parsing the headers (Ethernet, up to two VLAN tags or
//! a PPPoE session, IPv4 with options or IPv6, UDP or TCP with options); when that does not lead
//! to it, the magic is searched anywhere in the frame.

use crate::frame::{get16, ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6};
use crate::frame::{ETH_P_PPP_SES, IPPROTO_TCP, IPPROTO_UDP, IPV6_HLEN, PPP_IP, PPP_IPV6};

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// Offset of the layer 4 payload, found by parsing the headers.
fn payload_offset(f: &[u8]) -> Option<usize> {
    if f.len() < ETH_HLEN {
        return None;
    }
    let mut ethertype = get16(f, 12);
    let mut off = ETH_HLEN;
    for _ in 0..2 {
        if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
            break;
        }
        f.get(off + 3)?;
        ethertype = get16(f, off + 2);
        off += 4;
    }
    if ethertype == ETH_P_PPP_SES {
        f.get(off + 7)?;
        ethertype = match get16(f, off + 6) {
            PPP_IP => ETH_P_IP,
            PPP_IPV6 => ETH_P_IPV6,
            _ => return None,
        };
        off += 8;
    }
    let (proto, l4) = match ethertype {
        ETH_P_IP => {
            let b0 = *f.get(off)?;
            if b0 >> 4 != 4 || b0 & 0xf < 5 {
                return None;
            }
            (*f.get(off + 9)?, off + usize::from(b0 & 0xf) * 4)
        }
        ETH_P_IPV6 => {
            if *f.get(off)? >> 4 != 6 {
                return None;
            }
            (*f.get(off + 6)?, off + IPV6_HLEN)
        }
        _ => return None,
    };
    match proto {
        IPPROTO_UDP => Some(l4 + 8),
        IPPROTO_TCP => {
            let doff = usize::from(*f.get(l4 + 12)? >> 4) * 4;
            (doff >= 20).then_some(l4 + doff)
        }
        _ => None,
    }
}

/// The frame id of the marker with `magic` in frame `f`, if it has one.
pub fn find(f: &[u8], magic: u32) -> Option<u32> {
    if let Some(at) = payload_offset(f) {
        if be32(f, at) == Some(magic) {
            if let Some(id) = be32(f, at + 4) {
                return Some(id);
            }
        }
    }
    let m = magic.to_be_bytes();
    let at = f.windows(8).position(|w| w[..4] == m)?;
    be32(f, at + 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::tests::{flows, MACS};
    use crate::frame::{build, put16, Layout};
    use crate::prng::Rng;

    const MAGIC: u32 = 0x5246_4c57;

    fn frames() -> Vec<(Vec<u8>, Layout)> {
        let mut out = Vec::new();
        for (i, f) in flows().iter().enumerate() {
            for extra in [0, 33] {
                let mut buf = Vec::new();
                let lay = build(
                    &mut buf,
                    f,
                    &MACS,
                    MAGIC,
                    1000 + i as u32,
                    extra,
                    &mut Rng::new(1),
                );
                out.push((buf, lay));
            }
        }
        out
    }

    #[test]
    fn parsed_frames() {
        for (buf, lay) in frames() {
            let id = find(&buf, MAGIC).expect("marker");
            assert_eq!(payload_offset(&buf), Some(lay.payload));
            // NAT and TTL decrement do not matter.
            let mut nat = buf.clone();
            let a = if lay.v6 { lay.l3 + 8 } else { lay.l3 + 12 };
            nat[a] ^= 0x5a;
            nat[lay.l4] ^= 0x11;
            nat[lay.l3 + if lay.v6 { 7 } else { 8 }] -= 1;
            assert_eq!(find(&nat, MAGIC), Some(id));
            // Nor do encapsulations.
            let mut tagged = buf.clone();
            tagged.splice(12..12, [0x88, 0xa8, 0, 5, 0x81, 0, 0, 6]);
            assert_eq!(payload_offset(&tagged), Some(lay.payload + 8));
            assert_eq!(find(&tagged, MAGIC), Some(id));
            let mut pppoe = buf.clone();
            let ppp = if lay.v6 { [0, 0x57] } else { [0, 0x21] };
            pppoe.splice(14..14, [0x11, 0, 0, 1, 0, 0, ppp[0], ppp[1]]);
            put16(&mut pppoe, 12, ETH_P_PPP_SES);
            assert_eq!(payload_offset(&pppoe), Some(lay.payload + 8));
            assert_eq!(find(&pppoe, MAGIC), Some(id));
            // A wrong magic is not a marker.
            assert_eq!(find(&buf, MAGIC ^ 1), None);
        }
    }

    #[test]
    fn ip_and_tcp_options() {
        let (mut buf, lay) = frames().swap_remove(2); // IPv4 TCP
        buf.splice(lay.l3 + 20..lay.l3 + 20, [1, 1, 1, 0]);
        buf[lay.l3] = 0x46;
        assert_eq!(payload_offset(&buf), Some(lay.payload + 4));
        let l4 = lay.l4 + 4;
        buf.splice(l4 + 20..l4 + 20, [1, 1, 1, 1, 1, 1, 1, 1]);
        buf[l4 + 12] = 7 << 4;
        assert_eq!(payload_offset(&buf), Some(lay.payload + 12));
        assert_eq!(find(&buf, MAGIC), Some(1001));
    }

    #[test]
    fn fallback_search() {
        let (mut buf, lay) = frames().swap_remove(0);
        put16(&mut buf, 12, 0x1234);
        assert_eq!(payload_offset(&buf), None);
        assert_eq!(find(&buf, MAGIC), Some(1000));
        // Marker cut in the middle of the id.
        buf.truncate(lay.payload + 6);
        assert_eq!(find(&buf, MAGIC), None);
        assert_eq!(find(&[], MAGIC), None);
        assert_eq!(find(&[0x52, 0x46, 0x4c, 0x57, 0, 0, 0, 9], MAGIC), Some(9));
        // A TCP header length below the minimum does not hide the marker.
        let (mut buf, lay) = frames().swap_remove(2);
        buf[lay.l4 + 12] = 2 << 4;
        assert_eq!(payload_offset(&buf), None);
        assert_eq!(find(&buf, MAGIC), Some(1001));
    }
}
