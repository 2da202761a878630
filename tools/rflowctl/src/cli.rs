// SPDX-License-Identifier: GPL-2.0

//! The command line: `rflowctl [-j] [-p] [-n NETNS] COMMAND ...`.

use std::net::IpAddr;
use std::time::Duration;

use rflow_pure::ufid::Ufid;

use crate::error::{Error, Result};
use crate::flow::FtFilter;
use crate::uapi;

pub const USAGE: &str = "\
Usage: rflowctl [OPTIONS] COMMAND [ARGS]

Lists, deletes, flushes, counts and watches the flows of rflow's flowtables.

Options:
  -j, --json           JSON output (an array of objects for lists)
  -p, --pretty         indented JSON (with -j)
  -n, --netns NETNS    run in network namespace NETNS (/run/netns/NETNS, or a path)
  -h, --help           this help
  -V, --version        the version

Commands:
  list [FILTERS]                 the flows (aliases: show, ls)
  get UFID [--terse]             one flow
  del UFID                       delete one flow, print it (alias: delete)
  del FILTERS                    delete every flow matching FILTERS
  flush [FLOWTABLE]              delete every flow (of the flowtables named)
  count [FILTERS]                the number of flows
  stats [FLOWTABLE] [--prometheus]
                                 per flowtable and in total: flows, flows in
                                 hardware, packets and bytes since created
                                 (removed flows included), flows created and
                                 removed (by reason)
  watch [FILTERS] [--count N] [--timeout SECONDS]
                                 the flows' events: [NEW], [DESTROY], [HW]

FLOWTABLE (sent to the kernel):
  --flowtable NAME  --table NAME  --family ip|ip6|inet
FILTERS: FLOWTABLE and
  --proto tcp|udp|gre|NUM   --addr ADDR   --port N   --dev IFNAME|IFINDEX
  --state sw|hw|pending|dying|dead   --terse (UFID and counters only)

UFID: ufid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx

Exit status: 0 success, 1 kernel or runtime error, 2 usage error.
";

/// A device of `--dev`: resolved to an ifindex in the target namespace at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dev {
    Name(String),
    Index(u32),
}

/// The filters of `list`, `count`, `del` and `watch`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub ft: FtFilter,
    pub proto: Option<u8>,
    pub addr: Option<IpAddr>,
    pub port: Option<u16>,
    pub dev: Option<Dev>,
    pub state: Option<u8>,
    pub terse: bool,
}

impl Filters {
    /// Whether any filter is given (`--terse` is not one).
    pub fn any(&self) -> bool {
        !self.ft.is_empty()
            || self.proto.is_some()
            || self.addr.is_some()
            || self.port.is_some()
            || self.dev.is_some()
            || self.state.is_some()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Help,
    Version,
    List(Filters),
    Get {
        ufid: Ufid,
        terse: bool,
    },
    DelOne {
        ufid: Ufid,
        terse: bool,
    },
    DelMatching(Filters),
    Flush(FtFilter),
    Count(Filters),
    Stats {
        ft: FtFilter,
        prometheus: bool,
    },
    Watch {
        filters: Filters,
        count: Option<u64>,
        timeout: Option<Duration>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cli {
    pub json: bool,
    pub pretty: bool,
    pub netns: Option<String>,
    pub cmd: Command,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// One word of the command line, options split from their `=value`.
enum Word {
    /// `--name`, `--name=value`, `-x`.
    Opt(String, Option<String>),
    Pos(String),
}

/// The words of the command line, expanding `-jp` into `-j -p` and `-nNAME` into `-n NAME`.
struct Words {
    args: Vec<String>,
    i: usize,
    queue: Vec<Word>,
}

impl Words {
    fn new(args: &[String]) -> Self {
        Words {
            args: args.to_vec(),
            i: 0,
            queue: Vec::new(),
        }
    }

    fn next(&mut self) -> Option<Word> {
        if !self.queue.is_empty() {
            return Some(self.queue.remove(0));
        }
        let a = self.args.get(self.i)?.clone();
        self.i += 1;
        if let Some(long) = a.strip_prefix("--") {
            if long.is_empty() {
                return Some(Word::Pos(a));
            }
            return Some(match long.split_once('=') {
                Some((n, v)) => Word::Opt(format!("--{n}"), Some(v.to_string())),
                None => Word::Opt(a.clone(), None),
            });
        }
        match a.strip_prefix('-') {
            Some(short) if !short.is_empty() => {
                let mut chars = short.chars();
                while let Some(c) = chars.next() {
                    if c == 'n' {
                        let rest: String = chars.collect();
                        let v = (!rest.is_empty()).then_some(rest);
                        self.queue.push(Word::Opt("-n".into(), v));
                        break;
                    }
                    self.queue.push(Word::Opt(format!("-{c}"), None));
                }
                Some(self.queue.remove(0))
            }
            _ => Some(Word::Pos(a)),
        }
    }

    /// The value of option `opt`: given inline (`--opt=value`) or the next argument.
    fn value(&mut self, opt: &str, inline: Option<String>) -> Result<String> {
        if let Some(v) = inline {
            return Ok(v);
        }
        let v = self
            .args
            .get(self.i)
            .cloned()
            .ok_or_else(|| usage(format!("option {opt} needs a value")))?;
        self.i += 1;
        Ok(v)
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Cli> {
    let mut w = Words::new(args);
    let mut cli = Cli {
        json: false,
        pretty: false,
        netns: None,
        cmd: Command::Help,
    };
    let name = loop {
        match w.next() {
            None => return Err(usage("no command given")),
            Some(Word::Pos(p)) => break p,
            Some(Word::Opt(o, v)) => match o.as_str() {
                "-j" | "--json" => cli.json = no_value(&o, v)?,
                "-p" | "--pretty" => cli.pretty = no_value(&o, v)?,
                "-n" | "--netns" => {
                    let ns = w.value(&o, v)?;
                    if ns.is_empty() {
                        return Err(usage("empty network namespace name"));
                    }
                    cli.netns = Some(ns);
                }
                "-h" | "--help" => {
                    cli.cmd = Command::Help;
                    return Ok(cli);
                }
                "-V" | "--version" => {
                    cli.cmd = Command::Version;
                    return Ok(cli);
                }
                _ => return Err(usage(format!("unknown option {o}"))),
            },
        }
    };
    let mut p = CmdParser {
        w,
        cli: &mut cli,
        ufid: None,
        filters: Filters::default(),
        prometheus: false,
        count: None,
        timeout: None,
        help: false,
    };
    let cmd = match name.as_str() {
        "list" | "show" | "ls" => {
            p.run(&name, Allow::FILTERS)?;
            Command::List(p.filters)
        }
        "get" => {
            p.run(&name, Allow::UFID | Allow::TERSE)?;
            match p.ufid {
                Some(ufid) => Command::Get {
                    ufid,
                    terse: p.filters.terse,
                },
                None if p.help => Command::Help,
                None => return Err(usage("get needs a UFID")),
            }
        }
        "del" | "delete" => {
            p.run(&name, Allow::UFID | Allow::FILTERS)?;
            match p.ufid {
                Some(ufid) if !p.filters.any() => Command::DelOne {
                    ufid,
                    terse: p.filters.terse,
                },
                Some(_) => return Err(usage("del takes a UFID or filters, not both")),
                None if p.filters.any() => Command::DelMatching(p.filters),
                None if p.help => Command::Help,
                None => {
                    return Err(usage(
                        "del needs a UFID or a filter; 'rflowctl flush' deletes every flow",
                    ))
                }
            }
        }
        "flush" => {
            p.run(&name, Allow::FLOWTABLE)?;
            Command::Flush(p.filters.ft)
        }
        "count" => {
            p.run(&name, Allow::FILTERS)?;
            Command::Count(p.filters)
        }
        "stats" => {
            p.run(&name, Allow::FLOWTABLE | Allow::PROMETHEUS)?;
            Command::Stats {
                ft: p.filters.ft,
                prometheus: p.prometheus,
            }
        }
        "watch" | "monitor" => {
            p.run(&name, Allow::FILTERS | Allow::WATCH)?;
            Command::Watch {
                filters: p.filters,
                count: p.count,
                timeout: p.timeout,
            }
        }
        "help" => Command::Help,
        other => return Err(usage(format!("unknown command '{other}'"))),
    };
    cli.cmd = if p.help { Command::Help } else { cmd };
    Ok(cli)
}

fn no_value(opt: &str, v: Option<String>) -> Result<bool> {
    match v {
        None => Ok(true),
        Some(_) => Err(usage(format!("option {opt} takes no value"))),
    }
}

/// What a command accepts, as bits.
#[derive(Clone, Copy)]
struct Allow(u32);

impl Allow {
    const UFID: Allow = Allow(1);
    const FLOWTABLE: Allow = Allow(2);
    /// --proto, --addr, --port, --dev, --state.
    const KEY: Allow = Allow(4);
    const TERSE: Allow = Allow(8);
    const FILTERS: Allow = Allow(2 | 4 | 8);
    const PROMETHEUS: Allow = Allow(16);
    const WATCH: Allow = Allow(32);

    fn has(self, other: Allow) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Allow {
    type Output = Allow;
    fn bitor(self, o: Allow) -> Allow {
        Allow(self.0 | o.0)
    }
}

struct CmdParser<'a> {
    w: Words,
    cli: &'a mut Cli,
    ufid: Option<Ufid>,
    filters: Filters,
    prometheus: bool,
    count: Option<u64>,
    timeout: Option<Duration>,
    help: bool,
}

impl CmdParser<'_> {
    fn run(&mut self, cmd: &str, allow: Allow) -> Result<()> {
        while let Some(word) = self.w.next() {
            let (o, v) = match word {
                Word::Pos(p) if allow.has(Allow::UFID) && self.ufid.is_none() => {
                    self.ufid = Some(parse_ufid(&p)?);
                    continue;
                }
                Word::Pos(p) => return Err(usage(format!("{cmd}: unexpected argument '{p}'"))),
                Word::Opt(o, v) => (o, v),
            };
            let unknown = || usage(format!("{cmd}: unknown option {o}"));
            match o.as_str() {
                "-j" | "--json" => self.cli.json = no_value(&o, v)?,
                "-p" | "--pretty" => self.cli.pretty = no_value(&o, v)?,
                "-h" | "--help" => self.help = true,
                "--flowtable" | "--table" | "--family" if allow.has(Allow::FLOWTABLE) => {
                    let val = self.w.value(&o, v)?;
                    let ft = &mut self.filters.ft;
                    match o.as_str() {
                        "--flowtable" => ft.name = Some(parse_name(&o, &val)?),
                        "--table" => ft.table = Some(parse_name(&o, &val)?),
                        _ => ft.family = Some(parse_family(&val)?),
                    }
                }
                "--proto" | "--addr" | "--port" | "--dev" | "--state" if allow.has(Allow::KEY) => {
                    let val = self.w.value(&o, v)?;
                    let f = &mut self.filters;
                    match o.as_str() {
                        "--proto" => f.proto = Some(parse_proto(&val)?),
                        "--addr" => f.addr = Some(parse_addr(&val)?),
                        "--port" => f.port = Some(parse_port(&val)?),
                        "--dev" => f.dev = Some(parse_dev(&val)?),
                        _ => f.state = Some(parse_state(&val)?),
                    }
                }
                "--terse" if allow.has(Allow::TERSE) => self.filters.terse = no_value(&o, v)?,
                "--prometheus" if allow.has(Allow::PROMETHEUS) => {
                    self.prometheus = no_value(&o, v)?
                }
                "--count" if allow.has(Allow::WATCH) => {
                    let val = self.w.value(&o, v)?;
                    match val.parse::<u64>() {
                        Ok(n) if n > 0 => self.count = Some(n),
                        _ => return Err(usage(format!("invalid --count '{val}' (a number >= 1)"))),
                    }
                }
                "--timeout" if allow.has(Allow::WATCH) => {
                    let val = self.w.value(&o, v)?;
                    self.timeout = Some(parse_timeout(&val)?);
                }
                _ => return Err(unknown()),
            }
        }
        Ok(())
    }
}

/// Parses a UFID's text form; a usage error otherwise.
pub fn parse_ufid(s: &str) -> Result<Ufid> {
    Ufid::parse(s).ok_or_else(|| {
        usage(format!(
            "invalid UFID '{s}' (expected ufid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
        ))
    })
}

fn parse_name(opt: &str, s: &str) -> Result<String> {
    // NFT_TABLE_MAXNAMELEN and NFT_NAME_MAXLEN are 256, the NUL included.
    if s.is_empty() || s.len() > 255 || s.contains('\0') {
        return Err(usage(format!("invalid {opt} name '{s}'")));
    }
    Ok(s.to_string())
}

fn parse_family(s: &str) -> Result<u8> {
    match s {
        "ip" | "ip4" | "ipv4" => Ok(uapi::NFPROTO_IPV4),
        "ip6" | "ipv6" => Ok(uapi::NFPROTO_IPV6),
        "inet" => Ok(uapi::NFPROTO_INET),
        _ => Err(usage(format!("invalid --family '{s}' (ip, ip6 or inet)"))),
    }
}

fn parse_proto(s: &str) -> Result<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return Ok(n);
    }
    (0..=u8::MAX)
        .find(|p| crate::output::proto_name(*p) == Some(s))
        .ok_or_else(|| usage(format!("invalid --proto '{s}' (tcp, udp, gre or a number)")))
}

fn parse_addr(s: &str) -> Result<IpAddr> {
    s.parse()
        .map_err(|_| usage(format!("invalid --addr '{s}' (an IPv4 or IPv6 address)")))
}

fn parse_port(s: &str) -> Result<u16> {
    s.parse()
        .map_err(|_| usage(format!("invalid --port '{s}' (0 to 65535)")))
}

fn parse_dev(s: &str) -> Result<Dev> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Dev::Index(n)),
            _ => Err(usage(format!("invalid --dev index '{s}'"))),
        };
    }
    // IFNAMSIZ is 16, the NUL included.
    if s.is_empty() || s.len() > 15 || s.contains(['/', '\0']) || s.contains(char::is_whitespace) {
        return Err(usage(format!(
            "invalid --dev '{s}' (an interface name or index)"
        )));
    }
    Ok(Dev::Name(s.to_string()))
}

fn parse_state(s: &str) -> Result<u8> {
    match s {
        "sw" | "none" => Ok(uapi::RFLOW_HW_NONE),
        "hw" | "offloaded" => Ok(uapi::RFLOW_HW_OFFLOADED),
        "pending" => Ok(uapi::RFLOW_HW_PENDING),
        "dying" => Ok(uapi::RFLOW_HW_DYING),
        "dead" => Ok(uapi::RFLOW_HW_DEAD),
        _ => Err(usage(format!(
            "invalid --state '{s}' (sw, hw, pending, dying or dead)"
        ))),
    }
}

fn parse_timeout(s: &str) -> Result<Duration> {
    match s.parse::<f64>() {
        Ok(t) if t.is_finite() && t > 0.0 && t < 1e9 => Ok(Duration::from_secs_f64(t)),
        _ => Err(usage(format!("invalid --timeout '{s}' (seconds > 0)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "ufid:12345678-9abc-4ef0-8123-456789abcdef";

    fn p(s: &str) -> Result<Cli> {
        let args: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    fn cmd(s: &str) -> Command {
        p(s).unwrap().cmd
    }

    fn err(s: &str) -> String {
        match p(s) {
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{s}: {e}");
                e.to_string()
            }
            Ok(c) => panic!("{s}: parsed as {c:?}"),
        }
    }

    fn ufid() -> Ufid {
        Ufid::parse(U).unwrap()
    }

    #[test]
    fn globals() {
        let c = p("-j -p -n blue list").unwrap();
        assert!(c.json && c.pretty);
        assert_eq!(c.netns.as_deref(), Some("blue"));
        let c = p("-jp -nred ls").unwrap();
        assert!(c.json && c.pretty);
        assert_eq!(c.netns.as_deref(), Some("red"));
        let c = p("--json --netns=green show -p").unwrap();
        assert!(c.json && c.pretty);
        assert_eq!(c.netns.as_deref(), Some("green"));
        assert_eq!(c.cmd, Command::List(Filters::default()));
        assert_eq!(cmd("-h"), Command::Help);
        assert_eq!(cmd("--help list"), Command::Help);
        assert_eq!(cmd("list -h"), Command::Help);
        assert_eq!(cmd("help"), Command::Help);
        assert_eq!(cmd("-V"), Command::Version);
        assert_eq!(cmd("--version"), Command::Version);
    }

    #[test]
    fn list_filters() {
        let c = cmd(
            "list --flowtable f1 --table filter --family inet --proto tcp --addr 10.0.1.99 \
             --port 443 --dev eth0 --state hw --terse",
        );
        let want = Filters {
            ft: FtFilter {
                family: Some(uapi::NFPROTO_INET),
                table: Some("filter".into()),
                name: Some("f1".into()),
            },
            proto: Some(6),
            addr: Some("10.0.1.99".parse().unwrap()),
            port: Some(443),
            dev: Some(Dev::Name("eth0".into())),
            state: Some(uapi::RFLOW_HW_OFFLOADED),
            terse: true,
        };
        assert_eq!(c, Command::List(want));
        let Command::List(f) =
            cmd("ls --proto=47 --dev=3 --addr 2001:db8::1 --state sw --family ip6")
        else {
            panic!()
        };
        assert_eq!(f.proto, Some(uapi::IPPROTO_GRE));
        assert_eq!(f.dev, Some(Dev::Index(3)));
        assert_eq!(f.addr, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(f.state, Some(uapi::RFLOW_HW_NONE));
        assert_eq!(f.ft.family, Some(uapi::NFPROTO_IPV6));
        let Command::List(f) = cmd("list --proto udp --family ip --state pending") else {
            panic!()
        };
        assert_eq!(f.proto, Some(17));
        assert_eq!(f.ft.family, Some(uapi::NFPROTO_IPV4));
        assert_eq!(f.state, Some(uapi::RFLOW_HW_PENDING));
        assert!(f.any());
        assert!(!Filters {
            terse: true,
            ..Default::default()
        }
        .any());
    }

    #[test]
    fn get_and_del() {
        assert_eq!(
            cmd(&format!("get {U}")),
            Command::Get {
                ufid: ufid(),
                terse: false
            }
        );
        assert_eq!(
            cmd(&format!("get --terse {U}")),
            Command::Get {
                ufid: ufid(),
                terse: true
            }
        );
        assert_eq!(
            cmd(&format!("del {U}")),
            Command::DelOne {
                ufid: ufid(),
                terse: false
            }
        );
        assert_eq!(
            cmd(&format!(
                "delete {}",
                U.to_uppercase().replace("UFID", "ufid")
            )),
            Command::DelOne {
                ufid: ufid(),
                terse: false
            }
        );
        let Command::DelMatching(f) = cmd("del --port 53 --proto udp") else {
            panic!()
        };
        assert_eq!((f.port, f.proto), (Some(53), Some(17)));
        let Command::DelMatching(f) = cmd("del --flowtable f1") else {
            panic!()
        };
        assert_eq!(f.ft.name.as_deref(), Some("f1"));
    }

    #[test]
    fn flush_count_stats_watch() {
        assert_eq!(cmd("flush"), Command::Flush(FtFilter::default()));
        assert_eq!(
            cmd("flush --family inet --table filter --flowtable f1"),
            Command::Flush(FtFilter {
                family: Some(uapi::NFPROTO_INET),
                table: Some("filter".into()),
                name: Some("f1".into())
            })
        );
        assert_eq!(cmd("count"), Command::Count(Filters::default()));
        let Command::Count(f) = cmd("count --state dying") else {
            panic!()
        };
        assert_eq!(f.state, Some(uapi::RFLOW_HW_DYING));
        assert_eq!(
            cmd("stats --prometheus"),
            Command::Stats {
                ft: FtFilter::default(),
                prometheus: true
            }
        );
        assert_eq!(
            cmd("stats"),
            Command::Stats {
                ft: FtFilter::default(),
                prometheus: false
            }
        );
        assert_eq!(
            cmd("watch --count 3 --timeout 1.5"),
            Command::Watch {
                filters: Filters::default(),
                count: Some(3),
                timeout: Some(Duration::from_millis(1500))
            }
        );
        let Command::Watch { filters, .. } = cmd("monitor --proto tcp") else {
            panic!()
        };
        assert_eq!(filters.proto, Some(6));
    }

    #[test]
    fn usage_errors() {
        assert!(err("").contains("no command"));
        assert!(err("-j").contains("no command"));
        assert!(err("frobnicate").contains("unknown command 'frobnicate'"));
        assert!(err("-x list").contains("unknown option -x"));
        assert!(err("--bogus list").contains("unknown option --bogus"));
        assert!(err("-n").contains("-n needs a value"));
        assert!(err("list --frob").contains("unknown option --frob"));
        assert!(err("list extra").contains("unexpected argument 'extra'"));
        assert!(err("list --flowtable").contains("needs a value"));
        assert!(err("list --proto foo").contains("invalid --proto"));
        assert!(err("list --proto 256").contains("invalid --proto"));
        assert!(err("list --port 65536").contains("invalid --port"));
        assert!(err("list --port -1").contains("invalid --port"));
        assert!(err("list --addr 10.0.0").contains("invalid --addr"));
        assert!(err("list --family bridge").contains("invalid --family"));
        assert!(err("list --state on").contains("invalid --state"));
        assert!(err("list --dev 0").contains("invalid --dev"));
        assert!(err("list --dev averyveryverylongname").contains("invalid --dev"));
        assert!(err("list --terse=yes").contains("takes no value"));
        assert!(err("list --count 3").contains("unknown option --count"));
        assert!(err("get").contains("get needs a UFID"));
        assert!(err(&format!("get {U} {U}")).contains("unexpected argument"));
        assert!(err(&format!("get {U} --proto tcp")).contains("unknown option --proto"));
        assert!(err("del").contains("del needs a UFID or a filter"));
        assert!(err("del --terse").contains("del needs a UFID or a filter"));
        assert!(err(&format!("del {U} --port 1")).contains("not both"));
        assert!(err("flush --proto tcp").contains("unknown option --proto"));
        assert!(err("flush extra").contains("unexpected argument"));
        assert!(err("stats --terse").contains("unknown option --terse"));
        assert!(err("count --prometheus").contains("unknown option --prometheus"));
        assert!(err("watch --count 0").contains("invalid --count"));
        assert!(err("watch --count x").contains("invalid --count"));
        assert!(err("watch --timeout 0").contains("invalid --timeout"));
        assert!(err("watch --timeout nan").contains("invalid --timeout"));
        assert!(err("-j=1 list").contains("unknown option"));
        assert!(err("list --table=").contains("invalid --table name"));
    }

    #[test]
    fn ufid_errors() {
        for bad in [
            "12345678-9abc-4ef0-8123-456789abcdef",
            "ufid:12345678-9abc-4ef0-8123-456789abcde",
            "ufid:12345678-9abc-4ef0-8123-456789abcdeg",
            "ufid:12345678+9abc-4ef0-8123-456789abcdef",
            "ufid:",
            "ufid",
        ] {
            let e = err(&format!("get {bad}"));
            assert!(e.contains(&format!("invalid UFID '{bad}'")), "{e}");
            assert!(err(&format!("del {bad}")).contains("invalid UFID"));
        }
        assert_eq!(
            parse_ufid("ufid:123456789abc4ef08123456789abcdef").unwrap(),
            ufid()
        );
    }
}
