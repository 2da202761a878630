// SPDX-License-Identifier: GPL-2.0

//! `rflow-frames`: sends a deterministic stream of mutated Ethernet frames at an interface
//! (`send`), and records which of them arrive somewhere else (`recv`). See README.md.

mod csum;
mod frame;
mod marker;
mod mutate;
mod prng;
mod recv;
mod send;
mod sock;

use std::process::exit;

const USAGE: &str = "\
usage:
  rflow-frames send --ifname IF --dst-mac MAC [--src-mac MAC] --flow SPEC [--flow SPEC ...]
                    --count N [--seed N] [--magic HEX32] [--valid-percent P] [--stats]
                    [--manifest FILE]
  rflow-frames recv --ifname IF [--magic HEX32] [--duration SECS] [--out FILE]

SPEC: udp,SRC,SPORT,DST,DPORT or tcp,SRC,SPORT,DST,DPORT[,SEQ,ACK] (IPv4 or IPv6 addresses)
defaults: --seed 1, --magic 0x52464c57, --valid-percent 5, --src-mac the interface's address;
recv runs until SIGTERM/SIGINT without --duration.";

/// Default marker magic ("RFLW").
pub const DEFAULT_MAGIC: u32 = 0x5246_4c57;

/// Parsed `--name value` options and `--flag`s.
#[derive(Debug, Default)]
pub struct Opts {
    values: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Opts {
    /// Parses `args`: `valued` options take the next argument, `flags` none.
    pub fn parse(args: &[String], valued: &[&str], flags: &[&str]) -> Result<Opts, String> {
        let mut o = Opts::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a.strip_prefix("--").unwrap_or("");
            if valued.contains(&name) {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                o.values.push((name.to_owned(), v.clone()));
            } else if flags.contains(&name) {
                o.flags.push(name.to_owned());
            } else {
                return Err(format!("unknown argument {a:?}"));
            }
        }
        Ok(o)
    }

    /// The last value of `--name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a required `--name`.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    /// All values of `--name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

/// Parses a decimal or `0x` hexadecimal u64.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("bad number {s:?}"))
}

/// Parses a decimal or `0x` hexadecimal u32.
pub fn parse_u32(s: &str) -> Result<u32, String> {
    u32::try_from(parse_u64(s)?).map_err(|_| format!("{s:?} does not fit in 32 bits"))
}

/// Parses a 32-bit hexadecimal value, with or without `0x`.
pub fn parse_hex32(s: &str) -> Result<u32, String> {
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if h.is_empty() || h.len() > 8 {
        return Err(format!("bad 32-bit hex value {s:?}"));
    }
    u32::from_str_radix(h, 16).map_err(|_| format!("bad 32-bit hex value {s:?}"))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || format!("bad MAC address {s:?}");
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        let p = parts.next().ok_or_else(bad)?;
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(mac)
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("send") => send::main(&args[1..]),
        Some("recv") => recv::main(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("expected a subcommand\n{USAGE}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("rflow-frames: {e}");
        exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let a = strings(&[
            "--flow", "a", "--stats", "--flow", "b", "--seed", "3", "--seed", "4",
        ]);
        let o = Opts::parse(&a, &["flow", "seed"], &["stats"]).expect("parse");
        assert_eq!(o.all("flow"), ["a", "b"]);
        assert_eq!(o.get("seed"), Some("4"));
        assert!(o.flag("stats"));
        assert!(o.required("count").is_err());
        assert!(Opts::parse(&strings(&["--seed"]), &["seed"], &[]).is_err());
        assert!(Opts::parse(&strings(&["--what", "1"]), &["seed"], &[]).is_err());
        assert!(Opts::parse(&strings(&["seed"]), &["seed"], &[]).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("12"), Ok(12));
        assert_eq!(parse_u64("0x10"), Ok(16));
        assert!(parse_u64("-1").is_err());
        assert!(parse_u32("0x100000000").is_err());
        assert_eq!(parse_hex32("0x52464c57"), Ok(DEFAULT_MAGIC));
        assert_eq!(parse_hex32("52464C57"), Ok(DEFAULT_MAGIC));
        assert!(parse_hex32("0x123456789").is_err());
        assert!(parse_hex32("").is_err());
        assert!(parse_hex32("xyz").is_err());
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:00:0a:Bc:0:ff"), Ok([2, 0, 10, 0xbc, 0, 0xff]));
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "02:00:00:00:00:100",
            "g0::::",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }
}
