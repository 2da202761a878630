// SPDX-License-Identifier: GPL-2.0

//! Which connections the `flow add` expression offloads (`nft_flow_offload_eval()` of 6.12).

use super::tuple::{IPPROTO_GRE, IPPROTO_TCP, IPPROTO_UDP};

/// TCP `FIN` flag.
pub const TCP_FIN: u8 = 0x01;
/// TCP `RST` flag.
pub const TCP_RST: u8 = 0x04;

/// What the expression knows about a packet and its connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Candidate {
    /// Layer 4 protocol of the connection.
    pub l4proto: u8,
    /// TCP flags of the packet (TCP only).
    pub tcp_flags: u8,
    /// Conntrack sees the TCP connection established and assured.
    pub tcp_established: bool,
    /// The packet went through IPsec on receive (`secpath`).
    pub secpath: bool,
    /// The IPv4 packet carries options.
    pub ipv4_options: bool,
    /// The connection is NAT'ed (source or destination).
    pub nat: bool,
    /// The GRE connection carries keys (PPTP, GRE version 1).
    pub gre_keys: bool,
    /// A conntrack helper is attached.
    pub helper: bool,
    /// Conntrack adjusts TCP sequence numbers.
    pub seqadj: bool,
    /// The NAT mapping clashed with another.
    pub nat_clash: bool,
    /// The conntrack entry is confirmed (in conntrack's table).
    pub confirmed: bool,
}

/// Why a connection is not offloaded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Refusal {
    /// Decrypted IPsec traffic: the policy check after decryption must see every packet.
    Secpath,
    /// IPv4 options: the fast path does not process them.
    Ipv4Options,
    /// A FIN or RST, or a TCP connection not established: conntrack must see the handshake and
    /// the end.
    TcpState,
    /// GRE with NAT or keys: the fast path has no GRE NAT, and keyed GRE (PPTP) is not
    /// tracked by tuple alone.
    Gre,
    /// Not TCP, UDP or GRE.
    Protocol,
    /// A helper, sequence adjustment or a NAT clash: conntrack must keep seeing the packets.
    Conntrack,
    /// Not confirmed yet.
    Unconfirmed,
}

/// Decides whether a connection may be offloaded; `Ok(true)` for TCP (whose window tracking
/// then stops).
pub fn admit(c: &Candidate) -> Result<bool, Refusal> {
    if c.secpath {
        return Err(Refusal::Secpath);
    }
    if c.ipv4_options {
        return Err(Refusal::Ipv4Options);
    }
    let tcp = match c.l4proto {
        IPPROTO_TCP => {
            if c.tcp_flags & (TCP_FIN | TCP_RST) != 0 || !c.tcp_established {
                return Err(Refusal::TcpState);
            }
            true
        }
        IPPROTO_UDP => false,
        IPPROTO_GRE => {
            if c.nat || c.gre_keys {
                return Err(Refusal::Gre);
            }
            false
        }
        _ => return Err(Refusal::Protocol),
    };
    if c.helper || c.seqadj || c.nat_clash {
        return Err(Refusal::Conntrack);
    }
    if !c.confirmed {
        return Err(Refusal::Unconfirmed);
    }
    Ok(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(l4proto: u8) -> Candidate {
        Candidate {
            l4proto,
            tcp_established: true,
            confirmed: true,
            ..Default::default()
        }
    }

    #[test]
    fn admits_established_tcp_udp_and_plain_gre() {
        assert_eq!(admit(&ok(IPPROTO_TCP)), Ok(true));
        assert_eq!(admit(&ok(IPPROTO_UDP)), Ok(false));
        assert_eq!(admit(&ok(IPPROTO_GRE)), Ok(false));
        // NAT is fine for TCP and UDP.
        assert!(admit(&Candidate {
            nat: true,
            ..ok(IPPROTO_UDP)
        })
        .is_ok());
    }

    #[test]
    fn refusals() {
        let cases: [(Candidate, Refusal); 12] = [
            (
                Candidate {
                    secpath: true,
                    ..ok(IPPROTO_UDP)
                },
                Refusal::Secpath,
            ),
            (
                Candidate {
                    ipv4_options: true,
                    ..ok(IPPROTO_TCP)
                },
                Refusal::Ipv4Options,
            ),
            (
                Candidate {
                    tcp_flags: TCP_FIN,
                    ..ok(IPPROTO_TCP)
                },
                Refusal::TcpState,
            ),
            (
                Candidate {
                    tcp_flags: TCP_RST | 0x10,
                    ..ok(IPPROTO_TCP)
                },
                Refusal::TcpState,
            ),
            (
                Candidate {
                    tcp_established: false,
                    ..ok(IPPROTO_TCP)
                },
                Refusal::TcpState,
            ),
            (
                Candidate {
                    nat: true,
                    ..ok(IPPROTO_GRE)
                },
                Refusal::Gre,
            ),
            (
                Candidate {
                    gre_keys: true,
                    ..ok(IPPROTO_GRE)
                },
                Refusal::Gre,
            ),
            (ok(1), Refusal::Protocol),
            (
                Candidate {
                    helper: true,
                    ..ok(IPPROTO_UDP)
                },
                Refusal::Conntrack,
            ),
            (
                Candidate {
                    seqadj: true,
                    ..ok(IPPROTO_TCP)
                },
                Refusal::Conntrack,
            ),
            (
                Candidate {
                    nat_clash: true,
                    ..ok(IPPROTO_UDP)
                },
                Refusal::Conntrack,
            ),
            (
                Candidate {
                    confirmed: false,
                    ..ok(IPPROTO_UDP)
                },
                Refusal::Unconfirmed,
            ),
        ];
        for (c, want) in cases {
            assert_eq!(admit(&c), Err(want), "{c:?}");
        }
        // A TCP SYN-only or ACK packet of an established connection is fine.
        assert!(admit(&Candidate {
            tcp_flags: 0x10,
            ..ok(IPPROTO_TCP)
        })
        .is_ok());
    }
}
