// SPDX-License-Identifier: GPL-2.0

//! AF_PACKET sockets, and the signal handling of `recv`: all the `unsafe` code.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// `struct ifreq`: the name and a union of at most 24 bytes.
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: [u8; 24],
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An AF_PACKET SOCK_RAW socket bound to one interface.
pub struct PacketSocket {
    fd: OwnedFd,
    ifname: String,
}

/// One received frame.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    /// Bytes stored (at most the buffer size).
    pub len: usize,
    /// `sll_pkttype`.
    pub pkttype: u8,
}

impl PacketSocket {
    /// Opens a socket bound to `ifname` receiving `protocol` (host order; 0 receives nothing).
    /// `setup` runs before the socket is bound.
    pub fn open(
        ifname: &str,
        protocol: u16,
        setup: impl FnOnce(&PacketSocket),
    ) -> io::Result<Self> {
        let cname = CString::new(ifname)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?;
        if ifname.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface name too long",
            ));
        }
        // SAFETY: plain system calls; `cname` is a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        // Created with protocol 0 so that nothing is queued before the bind to one interface.
        // SAFETY: plain system call.
        let fd =
            cvt(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: `fd` is a new descriptor nobody else owns.
        let sock = PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            ifname: ifname.to_owned(),
        };
        setup(&sock);
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = protocol.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a sockaddr_ll of the given length.
        cvt(unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(sock)
    }

    /// Sets an integer socket option.
    pub fn set_opt(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        val: libc::c_int,
    ) -> io::Result<()> {
        // SAFETY: the option value is a c_int of the given length.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&val as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    fn ifreq(&self, request: libc::c_ulong) -> io::Result<[u8; 24]> {
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        for (d, s) in req.name.iter_mut().zip(self.ifname.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: `req` has the layout of `struct ifreq`, which the request fills in.
        cvt(unsafe { libc::ioctl(self.fd.as_raw_fd(), request as _, &mut req as *mut IfReq) })?;
        Ok(req.data)
    }

    /// The interface MTU.
    pub fn mtu(&self) -> io::Result<usize> {
        let d = self.ifreq(libc::SIOCGIFMTU)?;
        Ok(i32::from_ne_bytes([d[0], d[1], d[2], d[3]]).max(0) as usize)
    }

    /// The interface's MAC address.
    pub fn hwaddr(&self) -> io::Result<[u8; 6]> {
        // A struct sockaddr: family (2 bytes), then the address.
        let d = self.ifreq(libc::SIOCGIFHWADDR)?;
        let mut mac = [0; 6];
        mac.copy_from_slice(&d[2..8]);
        Ok(mac)
    }

    /// Sends `frames` with one `sendmmsg`; returns how many were sent (at least one) or the
    /// error of the first.
    pub fn send_batch(&self, frames: &[&[u8]]) -> io::Result<usize> {
        let mut iov: Vec<libc::iovec> = frames
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.as_ptr() as *mut libc::c_void,
                iov_len: f.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: all-zero is a valid mmsghdr (no name, no control data).
                let mut m: libc::mmsghdr = unsafe { zeroed() };
                m.msg_hdr.msg_iov = v;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        // SAFETY: every message points to one iovec describing a live frame; the kernel only
        // reads them (the iovecs and frames outlive the call).
        let n = cvt(unsafe {
            libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), msgs.len() as _, 0)
        })?;
        Ok(n as usize)
    }

    /// Waits up to `timeout_ms` for something to read; false on timeout or signal.
    pub fn wait_readable(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        match cvt(unsafe { libc::poll(&mut pfd, 1, timeout_ms) }) {
            Ok(n) => Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Receives up to `bufs.len()` frames without blocking, into `bufs`; their lengths and
    /// packet types go to `out` (cleared first). Nothing pending or a signal gives none.
    pub fn recv_batch(&self, bufs: &mut [Vec<u8>], out: &mut Vec<Received>) -> io::Result<()> {
        out.clear();
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut names: Vec<libc::sockaddr_ll> = bufs.iter().map(|_| unsafe { zeroed() }).collect();
        let mut iov: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .zip(names.iter_mut())
            .map(|(v, name)| {
                // SAFETY: all-zero is a valid mmsghdr.
                let mut m: libc::mmsghdr = unsafe { zeroed() };
                m.msg_hdr.msg_name = (name as *mut libc::sockaddr_ll).cast();
                m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                m.msg_hdr.msg_iov = v;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        // SAFETY: every message points to a writable buffer of the given length and a
        // sockaddr_ll, all live for the duration of the call.
        let ret = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                msgs.len() as _,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let n = match cvt(ret) {
            Ok(n) => n as usize,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        for ((m, name), buf) in msgs.iter().zip(names.iter()).zip(bufs.iter()).take(n) {
            out.push(Received {
                len: (m.msg_len as usize).min(buf.len()),
                pkttype: name.sll_pkttype,
            });
        }
        Ok(())
    }

    /// The socket's (packets, drops) counters since the last call (PACKET_STATISTICS).
    pub fn stats(&self) -> io::Result<(u32, u32)> {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `st` is a tpacket_stats of length `len`.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        })?;
        Ok((st.tp_packets, st.tp_drops))
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Makes SIGTERM and SIGINT set the stop flag, interrupting blocking calls (no SA_RESTART).
pub fn catch_stop_signals() -> io::Result<()> {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: all-zero is a valid sigaction; the handler only stores to an atomic, which
        // is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            cvt(libc::sigaction(sig, &sa, std::ptr::null_mut()))?;
        }
    }
    Ok(())
}

/// Whether SIGTERM or SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}
