// SPDX-License-Identifier: GPL-2.0

//! Fuzzes the simulated offload NIC's engine with untrusted frames: parsing, and for frames it
//! parses, an entry built for the frame's own key with actions taken from the input, applied
//! to it. Beyond "never panics": a forwarded frame has a valid IPv4 header checksum, and the
//! bytes the caller is told to keep lie within the frame.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rflow_pure::l2path::{ETH_P_8021Q, ETH_P_IP};
use rflow_pure::offload_rule::{Action, MangleHeader, Match, VlanMatch, CSUM_IPV4HDR, CSUM_TCP};
use rflow_pure::{csum, sim_engine, tuple};

const KNOBS: usize = 24;

fn word(b: &[u8]) -> [u8; 4] {
    [b[0], b[1], b[2], b[3]]
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if rest.len() < KNOBS {
        return;
    }
    let (knobs, frame) = rest.split_at(KNOBS);
    let mut frame = frame.to_vec();
    // With this bit, make an untagged IPv4 frame's header checksum valid, or random frames
    // would almost never get past the parser.
    let ipv4 = frame.len() >= 34 && frame[12..14] == ETH_P_IP.to_be_bytes();
    if sel & 1 != 0 && ipv4 {
        frame[24] = 0;
        frame[25] = 0;
        let c = csum::ipv4_header_checksum(&frame[14..34]);
        frame[24..26].copy_from_slice(&c.to_ne_bytes());
    }
    let Ok(parsed) = sim_engine::parse(&frame, 1) else {
        return;
    };
    let key = parsed.key;
    let v6 = key.n_proto != ETH_P_IP;
    let tag = |vid: u16| {
        (vid != 0).then_some(VlanMatch {
            vid,
            tpid: ETH_P_8021Q,
        })
    };
    let matched = Match {
        ingress_ifindex: key.ingress,
        n_proto: key.n_proto,
        ip_proto: key.ip_proto,
        src: key.src,
        dst: key.dst,
        ports: (key.ip_proto != tuple::IPPROTO_GRE).then_some(key.ports),
        tcp_flags: key.ip_proto == tuple::IPPROTO_TCP,
        vlan: tag(key.vlans[0]),
        cvlan: tag(key.vlans[1]),
    };
    let mut actions = Vec::new();
    actions.push(Action::Mangle {
        header: MangleHeader::Eth,
        offset: u32::from(knobs[0] % 3) * 4,
        mask: word(&knobs[1..]),
        val: word(&knobs[5..]),
    });
    let (header, base, words) = if v6 {
        (MangleHeader::Ip6, 8, 8)
    } else {
        (MangleHeader::Ip4, 12, 2)
    };
    actions.push(Action::Mangle {
        header,
        offset: base + 4 * u32::from(knobs[9] % words),
        mask: word(&knobs[10..]),
        val: word(&knobs[14..]),
    });
    let l4 = if key.ip_proto == tuple::IPPROTO_TCP {
        MangleHeader::Tcp
    } else {
        MangleHeader::Udp
    };
    actions.push(Action::Mangle {
        header: l4,
        offset: 0,
        mask: word(&knobs[18..]),
        val: [knobs[22], knobs[23], knobs[0], knobs[9]],
    });
    for _ in key.vlans.iter().filter(|v| **v != 0) {
        actions.push(Action::VlanPop);
    }
    if sel & 2 != 0 {
        actions.push(Action::VlanPush {
            vid: u16::from(knobs[1]) + 1,
            proto: ETH_P_8021Q,
        });
    }
    if sel & 4 != 0 {
        actions.push(Action::PppoePush {
            sid: u16::from_ne_bytes([knobs[2], knobs[3]]),
        });
    }
    if sel & 8 != 0 {
        actions.push(Action::Csum(CSUM_IPV4HDR | CSUM_TCP));
    }
    actions.push(Action::Redirect(2));
    let Ok(entry) = sim_engine::Entry::compile(&matched, &actions) else {
        return;
    };
    let Ok(out) = entry.apply(&mut frame, &parsed) else {
        return;
    };
    assert!(out.l2_len <= sim_engine::L2_MAX);
    assert!(out.strip + out.ip_len <= frame.len());
    if !v6 {
        assert!(csum::ipv4_header_valid(&frame[out.strip..out.strip + 20]));
    }
});
