// SPDX-License-Identifier: GPL-2.0

//! `rflow-frames send`.

use crate::frame::{Flow, Macs, ETH_HLEN};
use crate::mutate::{Config, Generator, ALL};
use crate::sock::PacketSocket;
use crate::{marker, parse_hex32, parse_mac, parse_u64, Opts, DEFAULT_MAGIC};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::time::{Duration, Instant};

/// Frames per `sendmmsg`.
const BATCH: usize = 64;
/// How long a frame is retried while the device queue is full before it is given up.
const RETRY_FOR: Duration = Duration::from_secs(2);

/// What became of a frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Sent,
    /// Refused by the kernel (EINVAL, EMSGSIZE: e.g. shorter than an Ethernet header).
    Rejected,
    /// The device queue stayed full (ENOBUFS) for [`RETRY_FOR`].
    Dropped,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Rejected => "rejected",
            Status::Dropped => "dropped",
        }
    }
}

/// Sends `frames`, retrying while the device is busy; records their fates in `status`.
fn send_all(sock: &PacketSocket, frames: &[&[u8]], status: &mut Vec<Status>) -> Result<(), String> {
    status.clear();
    let mut busy_since: Option<Instant> = None;
    while status.len() < frames.len() {
        let done = status.len();
        match sock.send_batch(&frames[done..]) {
            Ok(n) => {
                status.extend(std::iter::repeat_n(Status::Sent, n.max(1)));
                busy_since = None;
            }
            Err(e) => match e.raw_os_error().unwrap_or(0) {
                libc::EINTR => {}
                libc::ENOBUFS | libc::EAGAIN => {
                    let since = *busy_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > RETRY_FOR {
                        status.push(Status::Dropped);
                        busy_since = None;
                    } else {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
                libc::EINVAL | libc::EMSGSIZE => status.push(Status::Rejected),
                _ => return Err(format!("sendmmsg: {e}")),
            },
        }
    }
    Ok(())
}

/// Runs `send` with the arguments after the subcommand.
pub fn main(args: &[String]) -> Result<(), String> {
    let o = Opts::parse(
        args,
        &[
            "ifname",
            "src-mac",
            "dst-mac",
            "flow",
            "seed",
            "count",
            "magic",
            "valid-percent",
            "manifest",
        ],
        &["stats"],
    )?;
    let ifname = o.required("ifname")?;
    let dst = parse_mac(o.required("dst-mac")?)?;
    let flows = o
        .all("flow")
        .iter()
        .map(|s| Flow::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let seed = o.get("seed").map_or(Ok(1), parse_u64)?;
    let count = parse_u64(o.required("count")?)?;
    if count > 1 << 32 {
        return Err("--count: frame ids are 32-bit, at most 4294967296 frames".into());
    }
    let magic = o.get("magic").map_or(Ok(DEFAULT_MAGIC), parse_hex32)?;
    let valid_percent = o.get("valid-percent").map_or(Ok(5), parse_u64)?;
    if valid_percent > 100 {
        return Err("--valid-percent must be 0..=100".into());
    }

    let sock = PacketSocket::open(ifname, 0, |_| {}).map_err(|e| format!("{ifname}: {e}"))?;
    let src = match o.get("src-mac") {
        Some(s) => parse_mac(s)?,
        None => sock
            .hwaddr()
            .map_err(|e| format!("{ifname}: MAC address: {e}"))?,
    };
    let mtu = sock.mtu().map_err(|e| format!("{ifname}: MTU: {e}"))?;
    // Room to queue frames on devices with a qdisc; failure only costs retries.
    let _ = sock.set_opt(libc::SOL_SOCKET, libc::SO_SNDBUF, 4 << 20);
    let gen = Generator::new(Config {
        flows,
        macs: Macs { dst, src },
        seed,
        magic,
        valid_percent,
        max_len: mtu + ETH_HLEN,
    })?;
    let mut manifest = match o.get("manifest") {
        Some(path) => Some(BufWriter::new(
            File::create(path).map_err(|e| format!("{path}: {e}"))?,
        )),
        None => None,
    };

    let mut per_class = [0u64; ALL.len()];
    let (mut sent, mut rejected, mut dropped) = (0u64, 0u64, 0u64);
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(512)).collect();
    let mut infos = Vec::with_capacity(BATCH);
    let mut status = Vec::with_capacity(BATCH);
    let start = Instant::now();
    let mut next: u64 = 0;
    while next < count {
        let n = (count - next).min(BATCH as u64) as usize;
        infos.clear();
        for (i, buf) in bufs.iter_mut().enumerate().take(n) {
            let info = gen.frame((next + i as u64) as u32, buf);
            per_class[info.class.index()] += 1;
            infos.push(info);
        }
        let frames: Vec<&[u8]> = bufs[..n].iter().map(Vec::as_slice).collect();
        send_all(&sock, &frames, &mut status)?;
        for (i, st) in status.iter().enumerate() {
            match st {
                Status::Sent => sent += 1,
                Status::Rejected => rejected += 1,
                Status::Dropped => dropped += 1,
            }
            if let Some(m) = manifest.as_mut() {
                let info = &infos[i];
                let found = marker::find(frames[i], magic).map_or("-".into(), |v| v.to_string());
                writeln!(
                    m,
                    "{} {} {} {} {} {} {}",
                    next + i as u64,
                    info.class.name(),
                    info.variant,
                    info.flow,
                    frames[i].len(),
                    found,
                    st.name()
                )
                .map_err(|e| format!("manifest: {e}"))?;
            }
        }
        next += n as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(m) = manifest.as_mut() {
        m.flush().map_err(|e| format!("manifest: {e}"))?;
    }
    if o.flag("stats") {
        let mut out = io::stdout().lock();
        let mut print = || -> io::Result<()> {
            for (c, n) in ALL.iter().zip(per_class) {
                writeln!(out, "class {} {n}", c.name())?;
            }
            writeln!(out, "rejected {rejected}")?;
            writeln!(out, "dropped {dropped}")?;
            writeln!(out, "sent {sent}")
        };
        print().map_err(|e| format!("stdout: {e}"))?;
    }
    eprintln!(
        "rflow-frames: sent {sent} of {count} frames on {ifname} in {secs:.2} s ({:.0} frames/s), {rejected} rejected by the kernel, {dropped} dropped",
        sent as f64 / secs.max(1e-9)
    );
    Ok(())
}
