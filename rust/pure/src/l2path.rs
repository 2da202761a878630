// SPDX-License-Identifier: GPL-2.0

//! Layer 2 paths: what lies between a route's output device and the wire.
//!
//! The kernel's `dev_fill_forward_path()` describes the devices a packet crosses below a route's
//! output device (VLAN, PPPoE, bridge, DSA, then the Ethernet device). [`path_info`] turns that
//! description into what a flow direction needs, as `nft_dev_path_info()` in 6.12's
//! `net/netfilter/nft_flow_offload.c` does: the device packets of the other direction come in
//! on, the encapsulations they carry there, and whether and how to transmit directly (cached
//! MAC addresses, bypassing the bridge). Also here: reading the in-band VLAN and PPPoE headers
//! of ingress packets.

use super::tuple::{Encap, ENCAP_MAX};

/// `ETH_P_8021Q`.
pub const ETH_P_8021Q: u16 = 0x8100;
/// `ETH_P_8021AD`.
pub const ETH_P_8021AD: u16 = 0x88a8;
/// `ETH_P_PPP_SES`.
pub const ETH_P_PPP_SES: u16 = 0x8864;
/// `ETH_P_IP`.
pub const ETH_P_IP: u16 = 0x0800;
/// `ETH_P_IPV6`.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Length of an in-band VLAN header (`VLAN_HLEN`).
pub const VLAN_HLEN: usize = 4;
/// Length of the PPPoE session header plus the PPP protocol field (`PPPOE_SES_HLEN`).
pub const PPPOE_SES_HLEN: usize = 8;
/// The VLAN id bits of a TCI (`VLAN_VID_MASK`).
pub const VLAN_VID_MASK: u16 = 0x0fff;

/// A MAC address.
pub type Mac = [u8; 6];

/// How a bridge port treats the VLAN of a path (`DEV_PATH_BR_VLAN_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BridgeVlan {
    /// The tag is left as it is.
    Keep,
    /// The bridge adds a tag on the way out.
    Tag,
    /// The bridge removes a tag on the way out.
    Untag,
    /// The bridge removes a tag that the hardware carries out of band.
    UntagHw,
}

/// One device of a forward path (`struct net_device_path`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Hop {
    /// An Ethernet device: the end of a normal path.
    Ethernet,
    /// A VLAN device adding a tag.
    Vlan(Encap),
    /// A PPPoE session, with the MAC address of its peer.
    Pppoe(Encap, Mac),
    /// A DSA user port: the path stops there.
    Dsa,
    /// A bridge, with the port's VLAN treatment.
    Bridge(BridgeVlan, Encap),
    /// Anything else (wireless offload paths): not forwardable in software.
    Other,
}

/// One entry of a forward path: the hop and the device it belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PathEntry {
    /// What the device does.
    pub hop: Hop,
    /// The device's interface index.
    pub ifindex: u32,
    /// The device's MAC address (zero for devices without one).
    pub addr: Mac,
}

/// What a forward path means for a flow (`struct nft_forward_info`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ForwardInfo {
    /// The lowest device: where packets of the other direction come in.
    pub indev: Option<u32>,
    /// The device to transmit on directly: the first encapsulating device, or `indev`.
    pub outdev: Option<u32>,
    /// Encapsulations on the way out, in path order (outermost last).
    pub encap: [Encap; ENCAP_MAX],
    /// Number of valid entries in `encap`.
    pub num_encaps: usize,
    /// Bitmap of `encap` entries the hardware strips on ingress (`ingress_vlans`).
    pub ingress_vlans: u8,
    /// Source MAC address for direct transmission.
    pub h_source: Mac,
    /// Destination MAC address for direct transmission.
    pub h_dest: Mac,
    /// Whether packets must be transmitted directly (a bridge is on the path), bypassing the
    /// devices above `outdev`.
    pub direct: bool,
}

fn is_zero(mac: &Mac) -> bool {
    mac.iter().all(|b| *b == 0)
}

/// Computes what a forward path means for a flow (`nft_dev_path_info()`); `ha` is the resolved
/// MAC address of the next hop.
///
/// Unlike C, a path found unusable (more encapsulations than a flow holds, a bridge removing a
/// tag the path does not have, an unknown hop) stays unusable: C clears `indev` there but the
/// Ethernet device that ends the path sets it again, offloading the flow with wrong tags.
pub fn path_info(path: &[PathEntry], ha: Mac) -> ForwardInfo {
    let mut info = ForwardInfo {
        h_dest: ha,
        ..Default::default()
    };
    let mut unusable = false;
    let mut i = 0;
    while i < path.len() {
        let e = &path[i];
        i += 1;
        match e.hop {
            Hop::Ethernet | Hop::Dsa | Hop::Vlan(_) | Hop::Pppoe(..) => {
                info.indev = Some(e.ifindex);
                if is_zero(&info.h_source) {
                    info.h_source = e.addr;
                }
                let (encap, peer) = match e.hop {
                    Hop::Vlan(encap) => (encap, None),
                    Hop::Pppoe(encap, peer) => (encap, Some(peer)),
                    // DSA: the switch's conduit takes it from here.
                    Hop::Dsa => break,
                    _ => continue,
                };
                if info.num_encaps >= ENCAP_MAX {
                    unusable = true;
                    continue;
                }
                if info.outdev.is_none() {
                    info.outdev = Some(e.ifindex);
                }
                info.encap[info.num_encaps] = encap;
                info.num_encaps += 1;
                if let Some(peer) = peer {
                    info.h_dest = peer;
                }
            }
            Hop::Bridge(mode, vlan) => {
                if is_zero(&info.h_source) {
                    info.h_source = e.addr;
                }
                match mode {
                    BridgeVlan::UntagHw => {
                        // C shifts by num_encaps - 1 unchecked; with no tag there is no bit.
                        if info.num_encaps > 0 {
                            info.ingress_vlans |= 1 << (info.num_encaps - 1);
                        }
                    }
                    BridgeVlan::Tag => {
                        if info.num_encaps >= ENCAP_MAX {
                            unusable = true;
                        } else {
                            info.encap[info.num_encaps] = vlan;
                            info.num_encaps += 1;
                        }
                    }
                    BridgeVlan::Untag => {
                        if info.num_encaps == 0 {
                            unusable = true;
                        } else {
                            info.num_encaps -= 1;
                        }
                    }
                    BridgeVlan::Keep => {}
                }
                info.direct = true;
            }
            Hop::Other => unusable = true,
        }
    }
    if unusable {
        info.indev = None;
    }
    if info.outdev.is_none() {
        info.outdev = info.indev;
    }
    info
}

/// Reads an in-band 802.1Q header at the start of `b`: the tag (VLAN id only) and the
/// encapsulated protocol.
pub fn vlan_header(b: &[u8]) -> Option<(u16, u16)> {
    let tci = u16::from_be_bytes([*b.first()?, *b.get(1)?]);
    let proto = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    Some((tci & VLAN_VID_MASK, proto))
}

/// Reads a PPPoE session header at the start of `b`: the session id and the layer 3 protocol
/// it carries (`ETH_P_IP`/`ETH_P_IPV6`), if it is IP (`nf_flow_pppoe_proto()`).
pub fn pppoe_header(b: &[u8]) -> Option<(u16, u16)> {
    if b.len() < PPPOE_SES_HLEN {
        return None;
    }
    // ver/type, code, session id, length, then the PPP protocol field.
    let sid = u16::from_be_bytes([b[2], b[3]]);
    let proto = match u16::from_be_bytes([b[6], b[7]]) {
        0x0021 => ETH_P_IP,
        0x0057 => ETH_P_IPV6,
        _ => return None,
    };
    Some((sid, proto))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETH0: u32 = 2;
    const VLAN10: u32 = 5;
    const BR0: u32 = 7;
    const PPP0: u32 = 9;
    const MAC_ETH0: Mac = [2, 0, 0, 0, 0, 2];
    const MAC_BR0: Mac = [2, 0, 0, 0, 0, 7];
    const HA: Mac = [2, 0, 0, 0, 0, 0x99];

    fn e(hop: Hop, ifindex: u32, addr: Mac) -> PathEntry {
        PathEntry { hop, ifindex, addr }
    }

    fn vlan(id: u16) -> Encap {
        Encap {
            id,
            proto: ETH_P_8021Q,
        }
    }

    #[test]
    fn plain_ethernet_is_neighbour_transmit_on_itself() {
        let info = path_info(&[e(Hop::Ethernet, ETH0, MAC_ETH0)], HA);
        assert_eq!(info.indev, Some(ETH0));
        assert_eq!(info.outdev, Some(ETH0));
        assert_eq!(info.num_encaps, 0);
        assert!(!info.direct);
        assert_eq!((info.h_source, info.h_dest), (MAC_ETH0, HA));
    }

    #[test]
    fn vlan_device_records_its_tag_and_transmits_on_itself() {
        let info = path_info(
            &[
                e(Hop::Vlan(vlan(10)), VLAN10, MAC_ETH0),
                e(Hop::Ethernet, ETH0, MAC_ETH0),
            ],
            HA,
        );
        assert_eq!(info.indev, Some(ETH0));
        assert_eq!(info.outdev, Some(VLAN10));
        assert_eq!(&info.encap[..info.num_encaps], &[vlan(10)]);
        assert!(!info.direct);
    }

    #[test]
    fn bridge_over_vlan_is_direct_from_the_bridge_address() {
        // nft_flowtable.sh "bridge and VLAN": veth0.10 is a port of br0.
        let info = path_info(
            &[
                e(
                    Hop::Bridge(BridgeVlan::Keep, Encap::default()),
                    BR0,
                    MAC_BR0,
                ),
                e(Hop::Vlan(vlan(10)), VLAN10, MAC_ETH0),
                e(Hop::Ethernet, ETH0, MAC_ETH0),
            ],
            HA,
        );
        assert!(info.direct);
        assert_eq!(info.indev, Some(ETH0));
        assert_eq!(info.outdev, Some(VLAN10));
        assert_eq!(info.h_source, MAC_BR0);
        assert_eq!(info.num_encaps, 1);
    }

    #[test]
    fn bridge_vlan_filtering_modes() {
        let tagged = |mode| {
            path_info(
                &[
                    e(Hop::Bridge(mode, vlan(20)), BR0, MAC_BR0),
                    e(Hop::Ethernet, ETH0, MAC_ETH0),
                ],
                HA,
            )
        };
        let tag = tagged(BridgeVlan::Tag);
        assert_eq!(&tag.encap[..tag.num_encaps], &[vlan(20)]);
        assert_eq!(tag.indev, Some(ETH0));
        // Untagging without a tag to remove: not a usable path, even though an Ethernet device
        // follows (C would take it).
        assert_eq!(tagged(BridgeVlan::Untag).indev, None);
        let hw = path_info(
            &[
                e(Hop::Vlan(vlan(30)), VLAN10, MAC_ETH0),
                e(Hop::Bridge(BridgeVlan::UntagHw, vlan(30)), BR0, MAC_BR0),
                e(Hop::Ethernet, ETH0, MAC_ETH0),
            ],
            HA,
        );
        assert_eq!(hw.ingress_vlans, 1);
        // UNTAG_HW with no tag yet: C would shift by -1; here nothing happens.
        assert_eq!(tagged(BridgeVlan::UntagHw).ingress_vlans, 0);
    }

    #[test]
    fn pppoe_uses_the_peer_address_and_the_first_mac_it_finds() {
        let sess = Encap {
            id: 0x1234,
            proto: ETH_P_PPP_SES,
        };
        let peer: Mac = [2, 0, 0, 0, 0, 0x42];
        let info = path_info(
            &[
                e(Hop::Pppoe(sess, peer), PPP0, [0; 6]),
                e(Hop::Ethernet, ETH0, MAC_ETH0),
            ],
            [0; 6],
        );
        assert_eq!(info.indev, Some(ETH0));
        assert_eq!(info.outdev, Some(PPP0));
        assert_eq!(info.h_dest, peer);
        assert_eq!(info.h_source, MAC_ETH0);
    }

    #[test]
    fn too_many_tags_and_unknown_hops_are_unusable() {
        let three = path_info(
            &[
                e(Hop::Vlan(vlan(1)), 11, MAC_ETH0),
                e(Hop::Vlan(vlan(2)), 12, MAC_ETH0),
                e(Hop::Vlan(vlan(3)), 13, MAC_ETH0),
                e(Hop::Ethernet, ETH0, MAC_ETH0),
            ],
            HA,
        );
        assert_eq!(three.indev, None);
        assert_eq!(path_info(&[e(Hop::Other, 1, MAC_ETH0)], HA).indev, None);
    }

    #[test]
    fn dsa_stops_the_walk() {
        let info = path_info(
            &[e(Hop::Dsa, 3, MAC_ETH0), e(Hop::Ethernet, ETH0, MAC_ETH0)],
            HA,
        );
        assert_eq!(info.indev, Some(3));
    }

    #[test]
    fn in_band_headers() {
        assert_eq!(vlan_header(&[0x20, 0x0a, 0x08, 0x00]), Some((10, ETH_P_IP)));
        assert_eq!(vlan_header(&[0, 1, 2]), None);
        let pppoe = [0x11, 0, 0x12, 0x34, 0, 40, 0x00, 0x57];
        assert_eq!(pppoe_header(&pppoe), Some((0x1234, ETH_P_IPV6)));
        let lcp = [0x11, 0, 0x12, 0x34, 0, 40, 0xc0, 0x21];
        assert_eq!(pppoe_header(&lcp), None);
    }
}
