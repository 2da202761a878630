// SPDX-License-Identifier: GPL-2.0

//! `rflow-frames recv`.

use crate::sock::{self, PacketSocket, Received};
use crate::{marker, parse_hex32, Opts, DEFAULT_MAGIC};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

/// Frames per `recvmmsg`.
const BATCH: usize = 64;
/// Bytes kept of each frame: the marker is near the start.
const SNAPLEN: usize = 2048;
/// Longest wait between checks of the deadline and the signals.
const TICK_MS: u64 = 100;

/// Runs `recv` with the arguments after the subcommand.
pub fn main(args: &[String]) -> Result<(), String> {
    let o = Opts::parse(args, &["ifname", "magic", "duration", "out"], &[])?;
    let ifname = o.required("ifname")?;
    let magic = o.get("magic").map_or(Ok(DEFAULT_MAGIC), parse_hex32)?;
    let duration = match o.get("duration") {
        Some(s) => {
            let secs: f64 = s
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("bad --duration {s:?}"))?;
            Some(Duration::from_secs_f64(secs))
        }
        None => None,
    };
    let out_path = o.get("out");
    // Fail before receiving anything if the file cannot be written.
    let out = match out_path {
        Some(p) => Some(File::create(p).map_err(|e| format!("{p}: {e}"))?),
        None => None,
    };

    sock::catch_stop_signals().map_err(|e| format!("sigaction: {e}"))?;
    let sock = PacketSocket::open(ifname, libc::ETH_P_ALL as u16, |s| {
        // Best effort: the packet type is checked anyway, and a smaller buffer only risks
        // drops, which are reported.
        let _ = s.set_opt(libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1);
        if s.set_opt(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 64 << 20)
            .is_err()
        {
            let _ = s.set_opt(libc::SOL_SOCKET, libc::SO_RCVBUF, 64 << 20);
        }
    })
    .map_err(|e| format!("{ifname}: {e}"))?;
    // Counters start at the bind.
    let _ = sock.stats();
    eprintln!("rflow-frames: receiving on {ifname}");

    let deadline = duration.map(|d| Instant::now() + d);
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; SNAPLEN]).collect();
    let mut got: Vec<Received> = Vec::with_capacity(BATCH);
    let mut ids: Vec<u32> = Vec::new();
    let (mut frames, mut marked) = (0u64, 0u64);
    'outer: loop {
        let wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                left.as_millis().clamp(1, u128::from(TICK_MS)) as i32
            }
            None => TICK_MS as i32,
        };
        if sock::stop_requested() {
            break;
        }
        if !sock.wait_readable(wait).map_err(|e| format!("poll: {e}"))? {
            continue;
        }
        loop {
            sock.recv_batch(&mut bufs, &mut got)
                .map_err(|e| format!("recvmmsg: {e}"))?;
            if got.is_empty() {
                break;
            }
            for (r, buf) in got.iter().zip(bufs.iter()) {
                if r.pkttype == libc::PACKET_OUTGOING {
                    continue;
                }
                frames += 1;
                if let Some(id) = marker::find(&buf[..r.len], magic) {
                    marked += 1;
                    ids.push(id);
                }
            }
            if sock::stop_requested() || deadline.is_some_and(|d| Instant::now() >= d) {
                break 'outer;
            }
        }
    }
    let drops = sock
        .stats()
        .map(|(_, d)| d.to_string())
        .unwrap_or("?".into());

    ids.sort_unstable();
    ids.dedup();
    if let (Some(f), Some(p)) = (out, out_path) {
        let mut w = BufWriter::new(f);
        ids.iter()
            .try_for_each(|id| writeln!(w, "{id}"))
            .and_then(|()| w.flush())
            .map_err(|e| format!("{p}: {e}"))?;
    }
    println!("received {}", ids.len());
    eprintln!(
        "rflow-frames: {frames} incoming frames on {ifname}, {marked} with a marker, {} unique ids, {drops} dropped by the socket",
        ids.len()
    );
    Ok(())
}
