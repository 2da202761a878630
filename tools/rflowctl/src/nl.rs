// SPDX-License-Identifier: GPL-2.0

//! The netlink side: a synchronous generic netlink socket (netlink-sys), the "rflow" family
//! and its "events" group resolved through nlctrl, requests with their replies and extended
//! ACKs, dumps, and event reception (netlink-packet-core / netlink-packet-generic messages).

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Instant;

use netlink_packet_core::{
    DecodeError, Emitable, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    ParseableParametrized, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
};
use netlink_packet_generic::constants::{
    CTRL_ATTR_FAMILY_ID, CTRL_ATTR_MCAST_GROUPS, CTRL_ATTR_MCAST_GRP_ID, CTRL_ATTR_MCAST_GRP_NAME,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

use crate::attr::{self, ReqAttr};
use crate::error::{Error, Result};
use crate::uapi;

/// A generic netlink message of any family, its attributes left raw: replies are decoded
/// with `attr::walk`, which skips what it does not know, where netlink-packet-generic's own
/// nlctrl parser rejects attributes of newer kernels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawGenl {
    pub cmd: u8,
    pub version: u8,
    pub attrs: Vec<u8>,
}

impl GenlFamily for RawGenl {
    fn family_name() -> &'static str {
        uapi::RFLOW_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd
    }

    fn version(&self) -> u8 {
        self.version
    }
}

impl Emitable for RawGenl {
    fn buffer_len(&self) -> usize {
        self.attrs.len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        buffer[..self.attrs.len()].copy_from_slice(&self.attrs);
    }
}

impl ParseableParametrized<[u8], GenlHeader> for RawGenl {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> std::result::Result<Self, DecodeError> {
        Ok(RawGenl {
            cmd: header.cmd,
            version: header.version,
            attrs: buf.to_vec(),
        })
    }
}

type Msg = NetlinkMessage<GenlMessage<RawGenl>>;

/// Splits a datagram into its netlink messages.
pub fn split(buf: &[u8]) -> std::result::Result<Vec<Msg>, String> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let rest = &buf[off..];
        let nb = NetlinkBuffer::new_checked(rest).map_err(|e| e.to_string())?;
        let len = nb.length() as usize;
        let msg = Msg::deserialize(&rest[..len]).map_err(|e| e.to_string())?;
        out.push(msg);
        off += (len + 3) & !3;
    }
    Ok(out)
}

/// The extended ACK's message (NLMSGERR_ATTR_MSG) of an NLMSG_ERROR (`after_code`: what
/// follows the error code: the request's header, its payload unless NLM_F_CAPPED, then the
/// attributes) or of an NLMSG_DONE (`done`: the attributes follow the code directly).
pub fn extack_message(flags: u16, after_code: &[u8], done: bool) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let tlvs = if done {
        after_code
    } else {
        let orig_len = u32::from_ne_bytes(after_code.get(0..4)?.try_into().ok()?) as usize;
        let skip = if flags & NLM_F_CAPPED != 0 {
            16
        } else {
            (orig_len + 3) & !3
        };
        after_code.get(skip..)?
    };
    attr::walk(tlvs)
        .map_while(|a| a.ok())
        .find(|a| a.kind == uapi::NLMSGERR_ATTR_MSG)
        .map(|a| a.string())
        .filter(|m| !m.is_empty())
}

/// What a dump ended with.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DumpEnd {
    /// NLM_F_DUMP_INTR: a flowtable came or went during the dump, which may be incomplete or
    /// hold a flow twice.
    pub interrupted: bool,
}

/// What waiting for an event gave.
pub enum Event {
    /// An rflow message of the events group.
    Msg(RawGenl),
    /// The socket overran: events were lost (ENOBUFS).
    Lost,
    /// The deadline passed.
    Timeout,
}

/// Room for the largest datagram: a dump part is at most 32 KiB (netlink_dump()).
const RECV_BUF: usize = 64 * 1024;

/// A generic netlink socket talking to the "rflow" family.
pub struct Netlink {
    sock: Socket,
    family: u16,
    groups: Vec<(String, u32)>,
    seq: u32,
    buf: Vec<u8>,
    pending: VecDeque<Msg>,
}

impl Netlink {
    /// Opens a socket in the current network namespace and resolves the "rflow" family.
    pub fn open() -> Result<Self> {
        Self::open_family(uapi::RFLOW_GENL_NAME)
    }

    /// Opens a socket talking to generic netlink family `name`.
    fn open_family(name: &str) -> Result<Self> {
        let mut sock = Socket::new(NETLINK_GENERIC).map_err(|e| Error::io("netlink socket", e))?;
        sock.bind_auto().map_err(|e| Error::io("netlink bind", e))?;
        // Extended ACKs (error messages), and errors without a copy of the request. Kernels
        // without them answer with the bare errno.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        let mut nl = Netlink {
            sock,
            family: 0,
            groups: Vec::new(),
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
            pending: VecDeque::new(),
        };
        nl.resolve(name)?;
        Ok(nl)
    }

    /// Sends a request; returns its sequence number.
    fn send(&mut self, family: u16, payload: RawGenl, flags: u16) -> Result<u32> {
        let genl = GenlMessage::new(
            GenlHeader {
                cmd: payload.cmd,
                version: payload.version,
            },
            payload,
            family,
        );
        self.send_genl(genl, flags)
    }

    fn send_genl<F>(&mut self, genl: GenlMessage<F>, flags: u16) -> Result<u32>
    where
        F: GenlFamily + Emitable + std::fmt::Debug,
    {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = NetlinkMessage::from(genl);
        msg.header = NetlinkHeader::default();
        msg.header.flags = flags;
        msg.header.sequence_number = self.seq;
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.sock
            .send_to(&buf, &SocketAddr::new(0, 0), 0)
            .map_err(|e| Error::io("netlink send", e))?;
        Ok(self.seq)
    }

    /// Receives one datagram into the queue of pending messages.
    fn recv(&mut self) -> io::Result<()> {
        loop {
            self.buf.clear();
            match self.sock.recv(&mut self.buf, libc::MSG_TRUNC) {
                Ok(n) if n > self.buf.capacity() => {
                    return Err(io::Error::other(format!(
                        "a netlink datagram of {n} bytes was truncated"
                    )))
                }
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let msgs = split(&self.buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.pending.extend(msgs);
        Ok(())
    }

    /// The next message answering request `seq` (others are stale: dropped).
    fn next_reply(&mut self, op: &'static str, seq: u32) -> Result<Msg> {
        loop {
            while let Some(m) = self.pending.pop_front() {
                if m.header.sequence_number == seq {
                    return Ok(m);
                }
            }
            self.recv().map_err(|e| match e.kind() {
                io::ErrorKind::InvalidData => Error::Decode {
                    op,
                    msg: e.to_string(),
                },
                _ => Error::io(op, e),
            })?;
        }
    }

    /// Turns an NLMSG_ERROR or NLMSG_DONE into `Err` if it carries an error.
    fn check(op: &'static str, m: &Msg) -> Result<()> {
        let (code, rest, done) = match &m.payload {
            NetlinkPayload::Error(e) => (e.raw_code(), e.header.as_slice(), false),
            NetlinkPayload::Done(d) => (d.code, d.extended_ack.as_slice(), true),
            _ => return Ok(()),
        };
        if code == 0 {
            return Ok(());
        }
        Err(Error::Kernel {
            op,
            errno: code.saturating_abs(),
            msg: extack_message(m.header.flags, rest, done),
        })
    }

    /// A request expecting replies and an ACK: returns the replies.
    fn transact(
        &mut self,
        op: &'static str,
        family: u16,
        payload: RawGenl,
    ) -> Result<Vec<RawGenl>> {
        let seq = self.send(family, payload, NLM_F_REQUEST | NLM_F_ACK)?;
        let mut replies = Vec::new();
        loop {
            let m = self.next_reply(op, seq)?;
            Self::check(op, &m)?;
            match m.payload {
                NetlinkPayload::InnerMessage(g) => replies.push(g.payload),
                NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => return Ok(replies),
                _ => {}
            }
        }
    }

    /// Resolves the family id and multicast groups of family `name` (CTRL_CMD_GETFAMILY).
    fn resolve(&mut self, name: &str) -> Result<()> {
        let op = "resolving the generic netlink family";
        let req = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(name.to_string())],
        });
        let seq = self.send_genl(req, NLM_F_REQUEST | NLM_F_ACK)?;
        let mut reply = None;
        loop {
            let m = self.next_reply(op, seq)?;
            match Self::check(op, &m) {
                Err(Error::Kernel { errno, .. }) if errno == libc::ENOENT => {
                    return Err(Error::NoFamily)
                }
                r => r?,
            }
            match m.payload {
                NetlinkPayload::InnerMessage(g) => reply = Some(g.payload),
                NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => break,
                _ => {}
            }
        }
        let reply = reply.ok_or(Error::NoFamily)?;
        let (family, groups) =
            parse_family(&reply.attrs).map_err(|msg| Error::Decode { op, msg })?;
        self.family = family;
        self.groups = groups;
        Ok(())
    }

    /// A `do` request of the rflow family; returns its replies.
    pub fn request(
        &mut self,
        op: &'static str,
        cmd: u8,
        attrs: &[ReqAttr],
    ) -> Result<Vec<RawGenl>> {
        let payload = RawGenl {
            cmd,
            version: uapi::RFLOW_GENL_VERSION,
            attrs: attr::emit_all(attrs),
        };
        self.transact(op, self.family, payload)
    }

    /// A dump of the rflow family: calls `each` on every message of the dump, in order.
    pub fn dump(
        &mut self,
        op: &'static str,
        cmd: u8,
        attrs: &[ReqAttr],
        mut each: impl FnMut(&RawGenl) -> Result<()>,
    ) -> Result<DumpEnd> {
        let payload = RawGenl {
            cmd,
            version: uapi::RFLOW_GENL_VERSION,
            attrs: attr::emit_all(attrs),
        };
        let seq = self.send(self.family, payload, NLM_F_REQUEST | NLM_F_DUMP)?;
        let mut end = DumpEnd::default();
        loop {
            let m = self.next_reply(op, seq)?;
            if m.header.flags & NLM_F_DUMP_INTR != 0 {
                end.interrupted = true;
            }
            Self::check(op, &m)?;
            match &m.payload {
                NetlinkPayload::InnerMessage(g) if m.header.message_type == self.family => {
                    each(&g.payload)?
                }
                // The dump's end, or an error ACK (already turned into Err when not 0).
                NetlinkPayload::Done(_) | NetlinkPayload::Error(_) => return Ok(end),
                _ => {}
            }
        }
    }

    /// Joins the "events" multicast group. Overruns stay reported (NETLINK_NO_ENOBUFS off).
    pub fn join_events(&mut self) -> Result<()> {
        self.join(uapi::RFLOW_MCGRP_EVENTS)
    }

    fn join(&mut self, name: &str) -> Result<()> {
        let group = self
            .groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
            .ok_or_else(|| Error::Other(format!("the family has no \"{name}\" multicast group")))?;
        self.sock
            .add_membership(group)
            .map_err(|e| match e.raw_os_error() {
                Some(errno) => Error::Kernel {
                    op: "joining the events group",
                    errno,
                    msg: None,
                },
                None => Error::io("joining the events group", e),
            })?;
        let _ = self.sock.set_no_enobufs(false);
        Ok(())
    }

    /// Waits for the next message of the events group until `deadline`.
    pub fn next_event(&mut self, deadline: Option<Instant>) -> Result<Event> {
        let op = "watch";
        loop {
            while let Some(m) = self.pending.pop_front() {
                if let NetlinkPayload::InnerMessage(g) = m.payload {
                    if m.header.message_type == self.family {
                        return Ok(Event::Msg(g.payload));
                    }
                }
            }
            if !self.wait_readable(deadline)? {
                return Ok(Event::Timeout);
            }
            match self.recv() {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Event::Lost),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(Error::Decode {
                        op,
                        msg: e.to_string(),
                    })
                }
                Err(e) => return Err(Error::io(op, e)),
            }
        }
    }

    /// poll()s the socket until it is readable (true) or `deadline` passes (false).
    fn wait_readable(&self, deadline: Option<Instant>) -> Result<bool> {
        loop {
            let timeout_ms: libc::c_int = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    // Round up so as not to spin on the last sub-millisecond.
                    left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
                }
            };
            let mut pfd = libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, for the duration of the call.
            let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io("poll", e));
            }
            if r > 0 {
                return Ok(true);
            }
        }
    }
}

/// The family id and the multicast groups (name, id) of a CTRL_CMD_NEWFAMILY reply.
pub fn parse_family(attrs: &[u8]) -> std::result::Result<(u16, Vec<(String, u32)>), String> {
    let mut id = None;
    let mut groups = Vec::new();
    for a in attr::walk(attrs) {
        let a = a?;
        match a.kind {
            CTRL_ATTR_FAMILY_ID => id = Some(a.u16("CTRL_ATTR_FAMILY_ID")?),
            CTRL_ATTR_MCAST_GROUPS => {
                for g in attr::walk(a.value) {
                    let g = g?;
                    let (mut name, mut gid) = (None, None);
                    for f in attr::walk(g.value) {
                        let f = f?;
                        match f.kind {
                            CTRL_ATTR_MCAST_GRP_NAME => name = Some(f.string()),
                            CTRL_ATTR_MCAST_GRP_ID => gid = Some(f.u32("CTRL_ATTR_MCAST_GRP_ID")?),
                            _ => {}
                        }
                    }
                    if let (Some(n), Some(i)) = (name, gid) {
                        groups.push((n, i));
                    }
                }
            }
            _ => {}
        }
    }
    Ok((id.ok_or("no CTRL_ATTR_FAMILY_ID")?, groups))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::Builder;

    fn nlmsg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn family_reply() {
        let mut b = Builder::default();
        b.u16(CTRL_ATTR_FAMILY_ID, 0x1234)
            .string(2, "rflow")
            .u32(3, 1)
            .put(99, b"future")
            .nest_start(CTRL_ATTR_MCAST_GROUPS)
            .nest_start(1)
            .string(CTRL_ATTR_MCAST_GRP_NAME, "events")
            .u32(CTRL_ATTR_MCAST_GRP_ID, 7)
            .nest_end()
            .nest_end();
        let (id, groups) = parse_family(&b.buf).unwrap();
        assert_eq!(id, 0x1234);
        assert_eq!(groups, vec![("events".to_string(), 7)]);
        assert!(parse_family(&[]).is_err());
    }

    #[test]
    fn requests_are_genl_messages() {
        let mut msg = NetlinkMessage::from(GenlMessage::new(
            GenlHeader { cmd: 1, version: 1 },
            RawGenl {
                cmd: 1,
                version: 1,
                attrs: attr::emit_all(&[ReqAttr::UfidFlags(3)]),
            },
            0x20,
        ));
        msg.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        msg.header.sequence_number = 9;
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        assert_eq!(
            buf,
            [
                &28u32.to_ne_bytes()[..],
                &0x20u16.to_ne_bytes(),
                &(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes(),
                &9u32.to_ne_bytes(),
                &0u32.to_ne_bytes(),
                &[1, 1, 0, 0],
                &8u16.to_ne_bytes(),
                &uapi::RFLOW_A_UFID_FLAGS.to_ne_bytes(),
                &3u32.to_ne_bytes(),
            ]
            .concat()
        );
        let back = split(&buf).unwrap();
        assert_eq!(back.len(), 1);
        let NetlinkPayload::InnerMessage(g) = &back[0].payload else {
            panic!()
        };
        assert_eq!(g.payload.cmd, 1);
        assert_eq!(g.payload.attrs.len(), 8);
    }

    /// An NLMSG_ERROR as netlink_ack() builds it with NETLINK_CAP_ACK and an extack message.
    fn error_capped(errno: i32, msg: &str) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&(-errno).to_ne_bytes());
        p.extend_from_slice(&nlmsg(0x20, NLM_F_REQUEST | NLM_F_ACK, 5, &[1, 1, 0, 0])[..16]);
        let mut tlv = Builder::default();
        tlv.string(uapi::NLMSGERR_ATTR_MSG, msg).u32(2, 24);
        p.extend_from_slice(&tlv.buf);
        nlmsg(2, NLM_F_CAPPED | NLM_F_ACK_TLVS, 5, &p)
    }

    #[test]
    fn errors_with_extack() {
        let buf = error_capped(libc::ENOENT, "no flow with this UFID in this namespace");
        let msgs = split(&buf).unwrap();
        let err = Netlink::check("get", &msgs[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "get: No such file or directory: no flow with this UFID in this namespace"
        );

        // Not capped: the whole request precedes the attributes.
        let req = nlmsg(
            0x20,
            NLM_F_REQUEST | NLM_F_ACK,
            5,
            &[2, 1, 0, 0, 4, 0, 3, 0],
        );
        let mut p = (-libc::EINVAL).to_ne_bytes().to_vec();
        p.extend_from_slice(&req);
        let mut tlv = Builder::default();
        tlv.string(
            uapi::NLMSGERR_ATTR_MSG,
            "DEL needs a UFID; FLUSH removes all flows",
        );
        p.extend_from_slice(&tlv.buf);
        let buf = nlmsg(2, NLM_F_ACK_TLVS, 5, &p);
        let err = Netlink::check("del", &split(&buf).unwrap()[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "del: Invalid argument: DEL needs a UFID; FLUSH removes all flows"
        );

        // No extack.
        let mut p = (-libc::EPERM).to_ne_bytes().to_vec();
        p.extend_from_slice(&req[..16]);
        let buf = nlmsg(2, NLM_F_CAPPED, 5, &p);
        let err = Netlink::check("list", &split(&buf).unwrap()[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "list: Operation not permitted (CAP_NET_ADMIN is needed)"
        );

        // An ACK is no error.
        let mut p = 0i32.to_ne_bytes().to_vec();
        p.extend_from_slice(&req[..16]);
        let buf = nlmsg(2, NLM_F_CAPPED, 5, &p);
        assert!(Netlink::check("flush", &split(&buf).unwrap()[0]).is_ok());
    }

    #[test]
    fn done_with_error() {
        let mut p = (-libc::EMSGSIZE).to_ne_bytes().to_vec();
        let mut tlv = Builder::default();
        tlv.string(uapi::NLMSGERR_ATTR_MSG, "too big");
        p.extend_from_slice(&tlv.buf);
        let buf = nlmsg(3, NLM_F_ACK_TLVS | 2, 5, &p);
        let err = Netlink::check("list", &split(&buf).unwrap()[0]).unwrap_err();
        assert_eq!(err.to_string(), "list: Message too long: too big");
        let ok = nlmsg(3, 2, 5, &0i32.to_ne_bytes());
        assert!(Netlink::check("list", &split(&ok).unwrap()[0]).is_ok());
    }

    /// Exercises the socket code against the kernel's own family, nlctrl, where netlink
    /// sockets are available (skipped otherwise): resolution, a multi-part dump, an error
    /// with its extended ACK, and a group subscription with a timeout.
    #[test]
    fn live_against_nlctrl() {
        let mut nl = match Netlink::open_family("nlctrl") {
            Ok(nl) => nl,
            Err(Error::Io { .. }) => return, // no netlink in this sandbox
            Err(e) => panic!("{e}"),
        };
        assert_eq!(nl.family, netlink_packet_generic::constants::GENL_ID_CTRL);
        assert!(nl.groups.iter().any(|(n, _)| n == "notify"));
        // CTRL_CMD_GETFAMILY dump: every family, nlctrl among them.
        let mut names = Vec::new();
        let end = nl
            .dump("dump", 3, &[], |m| {
                for a in attr::walk(&m.attrs) {
                    let a = a.unwrap();
                    if a.kind == 2 {
                        names.push(a.string());
                    }
                }
                Ok(())
            })
            .unwrap();
        assert!(!end.interrupted);
        assert!(names.iter().any(|n| n == "nlctrl"), "{names:?}");
        // A family that does not exist.
        assert!(matches!(
            Netlink::open_family("rflow-none"),
            Err(Error::NoFamily)
        ));
        // CTRL_CMD_GETFAMILY without a name: EINVAL.
        match nl.request("get", 3, &[]) {
            Err(Error::Kernel { errno, .. }) => assert_eq!(errno, libc::EINVAL),
            other => panic!("{other:?}"),
        }
        // An over-long CTRL_ATTR_FAMILY_NAME fails the policy, with an extack message.
        let mut b = Builder::default();
        b.string(2, "a-name-much-longer-than-GENL_NAMSIZ");
        let payload = RawGenl {
            cmd: 3,
            version: 1,
            attrs: b.buf,
        };
        match nl.transact("get", nl.family, payload) {
            Err(Error::Kernel { errno, msg, .. }) => {
                assert_eq!(errno, libc::EINVAL);
                assert!(msg.is_some(), "no extended ACK message");
            }
            other => panic!("{other:?}"),
        }
        // Events: nothing happens on nlctrl's group within 50 ms.
        nl.join("notify").unwrap();
        let t = Instant::now();
        let deadline = Some(t + std::time::Duration::from_millis(50));
        assert!(matches!(nl.next_event(deadline), Ok(Event::Timeout)));
        assert!(t.elapsed() >= std::time::Duration::from_millis(50));
    }

    /// A part of a GET dump as the kernel sends it: two flows (NLM_F_MULTI, the second
    /// marked interrupted) and NLMSG_DONE, decoded into flows.
    #[test]
    fn dump_datagram_to_flows() {
        use crate::flow::tests::{fill_flow, tcp4, udp6_nat};
        use crate::flow::Flow;
        let genl = |cmd: u8, attrs: Vec<u8>| [vec![cmd, 1, 0, 0], attrs].concat();
        let mut buf = nlmsg(
            0x1b,
            2,
            5,
            &genl(uapi::RFLOW_CMD_GET, fill_flow(&tcp4(), 0)),
        );
        buf.extend(nlmsg(
            0x1b,
            2 | NLM_F_DUMP_INTR,
            5,
            &genl(uapi::RFLOW_CMD_GET, fill_flow(&udp6_nat(), 0)),
        ));
        buf.extend(nlmsg(3, 2, 5, &0i32.to_ne_bytes()));
        let msgs = split(&buf).unwrap();
        assert_eq!(msgs.len(), 3);
        let mut flows = Vec::new();
        let mut intr = false;
        for m in &msgs {
            intr |= m.header.flags & NLM_F_DUMP_INTR != 0;
            if let NetlinkPayload::InnerMessage(g) = &m.payload {
                assert_eq!(m.header.message_type, 0x1b);
                assert_eq!(g.payload.cmd, uapi::RFLOW_CMD_GET);
                flows.push(Flow::decode(&g.payload.attrs).unwrap());
            }
        }
        assert!(intr);
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].orig.sport, Some(40000));
        assert_eq!(flows[1].reply.dport, Some(61000));
    }

    /// A part of a STATS dump: two flowtables (the second empty) and NLMSG_DONE. The pads put
    /// every u64 at an 8-byte aligned offset from the start of its message.
    #[test]
    fn stats_dump_datagram() {
        use crate::flow::tests::{f1_stats, fill_ft_stats, GENL_ATTRS};
        use crate::flow::{FtStats, FtStatsMsg};
        let genl = |attrs: Vec<u8>| [vec![uapi::RFLOW_CMD_STATS, 1, 0, 0], attrs].concat();
        let empty = FtStats::default();
        let mut buf = nlmsg(
            0x1b,
            2,
            5,
            &genl(fill_ft_stats(
                (uapi::NFPROTO_INET, "filter", "f1"),
                &f1_stats(),
            )),
        );
        buf.extend(nlmsg(
            0x1b,
            2,
            5,
            &genl(fill_ft_stats((uapi::NFPROTO_IPV4, "raw", "empty"), &empty)),
        ));
        buf.extend(nlmsg(3, 2, 5, &0i32.to_ne_bytes()));
        let msgs = split(&buf).unwrap();
        assert_eq!(msgs.len(), 3);
        let mut got = Vec::new();
        for m in &msgs[..2] {
            let NetlinkPayload::InnerMessage(g) = &m.payload else {
                panic!()
            };
            assert_eq!(g.payload.cmd, uapi::RFLOW_CMD_STATS);
            let attrs = &g.payload.attrs;
            got.push(FtStatsMsg::decode(attrs).unwrap());
            let nest = attr::walk(attrs)
                .map(|a| a.unwrap())
                .find(|a| a.kind == uapi::RFLOW_A_FT_STATS)
                .unwrap();
            for a in attr::walk(nest.value).map(|a| a.unwrap()) {
                if a.value.len() == 8 {
                    let off = a.value.as_ptr() as usize - attrs.as_ptr() as usize;
                    assert_eq!((GENL_ATTRS + off) % 8, 0, "type {} at {off}", a.kind);
                }
            }
        }
        assert_eq!(
            (got[0].flowtable.name.as_str(), got[0].stats),
            ("f1", f1_stats())
        );
        assert_eq!(
            (got[1].flowtable.name.as_str(), got[1].stats),
            ("empty", empty)
        );
    }

    #[test]
    fn several_messages_per_datagram() {
        let mut buf = nlmsg(0x20, 2, 5, &[1, 1, 0, 0, 5, 0, 99, 0, 7, 0, 0, 0]);
        buf.extend(nlmsg(0x20, 2, 5, &[1, 1, 0, 0]));
        buf.extend(nlmsg(3, 2, 5, &0i32.to_ne_bytes()));
        let msgs = split(&buf).unwrap();
        assert_eq!(msgs.len(), 3);
        assert!(matches!(msgs[2].payload, NetlinkPayload::Done(_)));
        // A length running past the datagram is an error, not a panic.
        let mut bad = nlmsg(0x20, 2, 5, &[1, 1, 0, 0]);
        bad[0] = 200;
        assert!(split(&bad).is_err());
        assert!(split(&bad[..10]).is_err());
    }
}
