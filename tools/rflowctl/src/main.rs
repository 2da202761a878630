// SPDX-License-Identifier: GPL-2.0

//! rflowctl: the userspace CLI of rflow. Lists, gets, deletes, flushes, counts and watches the
//! flows of rflow's flowtables over the generic netlink family "rflow"
//! (include/uapi/linux/rflow.h). See rflowctl.8.

mod attr;
mod cli;
mod error;
mod flow;
mod json;
mod nl;
mod output;
mod uapi;

/// build.rs's header parser, for its tests.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../build.rs"]
mod build_script;

use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufWriter, Stdout, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Instant;

use rflow_pure::ufid::Ufid;

use crate::attr::ReqAttr;
use crate::cli::{Cli, Command, Dev, Filters};
use crate::error::{Error, Result};
use crate::flow::{Filter, Flow, FtFilter, FtStatsMsg};
use crate::json::{ArrayWriter, Obj};
use crate::nl::{Event, Netlink, RawGenl};
use crate::output::Stats;

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = match cli::parse(&args) {
        Err(e) => {
            eprintln!("rflowctl: {e}");
            eprintln!("Try 'rflowctl --help'.");
            e.exit_code()
        }
        Ok(cli) => match run(&cli) {
            Ok(()) => 0,
            // The reader of the output went away (`rflowctl list | head`): nothing to say.
            Err(e) if e.is_broken_pipe() => 0,
            Err(e) => {
                eprintln!("rflowctl: {e}");
                e.exit_code()
            }
        },
    };
    std::process::exit(code);
}

/// Buffered standard output; write errors become `Error::Io`.
struct Out {
    w: BufWriter<Stdout>,
}

impl Out {
    fn new() -> Self {
        Out {
            w: BufWriter::new(io::stdout()),
        }
    }

    fn write(&mut self, s: &str) -> Result<()> {
        self.w
            .write_all(s.as_bytes())
            .map_err(|e| Error::io("writing the output", e))
    }

    fn line(&mut self, s: &str) -> Result<()> {
        self.write(s)?;
        self.write("\n")
    }

    fn flush(&mut self) -> Result<()> {
        self.w
            .flush()
            .map_err(|e| Error::io("writing the output", e))
    }
}

fn run(cli: &Cli) -> Result<()> {
    let mut out = Out::new();
    match &cli.cmd {
        Command::Help => {
            out.write(cli::USAGE)?;
            return out.flush();
        }
        Command::Version => {
            out.line(&format!(
                "rflowctl {} (generic netlink family \"{}\" version {})",
                env!("CARGO_PKG_VERSION"),
                uapi::RFLOW_GENL_NAME,
                uapi::RFLOW_GENL_VERSION
            ))?;
            return out.flush();
        }
        _ => {}
    }
    if let Some(ns) = &cli.netns {
        enter_netns(ns)?;
    }
    let mut nl = Netlink::open()?;
    let r = match &cli.cmd {
        Command::List(f) => list(&mut nl, cli, f, &mut out),
        Command::Get { ufid, terse } => get(&mut nl, cli, ufid, *terse, &mut out),
        Command::DelOne { ufid, terse } => del_one(&mut nl, cli, ufid, *terse, &mut out),
        Command::DelMatching(f) => del_matching(&mut nl, cli, f, &mut out),
        Command::Flush(ft) => flush(&mut nl, cli, ft, &mut out),
        Command::Count(f) => count(&mut nl, cli, f, &mut out),
        Command::Stats { ft, prometheus } => stats(&mut nl, cli, ft, *prometheus, &mut out),
        Command::Watch {
            filters,
            count,
            timeout,
        } => {
            let deadline = timeout.map(|t| Instant::now() + t);
            watch(&mut nl, cli, filters, *count, deadline, &mut out)
        }
        Command::Help | Command::Version => Ok(()),
    };
    // What was written before an error still goes out.
    let flushed = out.flush();
    r.and(flushed)
}

/// Enters network namespace `name` (/run/netns/NAME, or a path), as `ip -n` does.
fn enter_netns(name: &str) -> Result<()> {
    let path = if name.contains('/') {
        PathBuf::from(name)
    } else {
        PathBuf::from("/run/netns").join(name)
    };
    let f = File::open(&path)
        .map_err(|e| Error::io(format!("cannot open network namespace \"{name}\""), e))?;
    // SAFETY: setns() on a descriptor we own; it changes nothing but this thread's namespace
    // (rflowctl has one thread).
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(Error::io(
            format!("cannot enter network namespace \"{name}\""),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// The ifindex of `--dev`, looked up in the current (target) namespace.
fn resolve_dev(dev: &Dev) -> Result<u32> {
    match dev {
        Dev::Index(i) => Ok(*i),
        Dev::Name(n) => {
            let c = CString::new(n.as_str())
                .map_err(|_| Error::Usage(format!("invalid --dev '{n}'")))?;
            // SAFETY: a valid NUL-terminated string.
            match unsafe { libc::if_nametoindex(c.as_ptr()) } {
                0 => Err(Error::Other(format!("cannot find device \"{n}\""))),
                i => Ok(i),
            }
        }
    }
}

/// The client-side part of `f`, with `--dev` resolved.
fn client_filter(f: &Filters) -> Result<Filter> {
    Ok(Filter {
        proto: f.proto,
        addr: f.addr,
        port: f.port,
        dev: f.dev.as_ref().map(resolve_dev).transpose()?,
        hw_state: f.state,
    })
}

/// The attributes of a GET dump: the flowtable nest, and terse replies when the caller needs
/// no more than the UFID and the counters (a client-side filter needs the key).
fn dump_attrs(ft: &FtFilter, terse: bool) -> Vec<ReqAttr> {
    let mut attrs = Vec::new();
    if terse {
        attrs.push(ReqAttr::UfidFlags(uapi::RFLOW_UFID_F_TERSE));
    }
    attrs.extend(ft.to_attr());
    attrs
}

fn decode(op: &'static str, m: &RawGenl) -> Result<Flow> {
    Flow::decode(&m.attrs).map_err(|msg| Error::Decode { op, msg })
}

fn warn_interrupted(interrupted: bool) {
    if interrupted {
        eprintln!(
            "rflowctl: warning: the dump was interrupted by a flowtable change; \
             it may miss flows or show one twice"
        );
    }
}

/// Prints one flow: a line of text, or a JSON object.
fn print_flow(out: &mut Out, cli: &Cli, f: &Flow, terse: bool) -> Result<()> {
    if cli.json {
        out.line(&output::flow_json(f, terse).to_json(cli.pretty))
    } else {
        out.line(&output::flow_text(f, terse))
    }
}

/// Prints the flows of a list, as lines or as a JSON array.
struct FlowList {
    json: Option<ArrayWriter>,
    terse: bool,
}

impl FlowList {
    fn new(cli: &Cli, terse: bool) -> Self {
        FlowList {
            json: cli.json.then(|| ArrayWriter::new(cli.pretty)),
            terse,
        }
    }

    fn push(&mut self, out: &mut Out, f: &Flow) -> Result<()> {
        match &mut self.json {
            Some(w) => out.write(&w.element(&output::flow_json(f, self.terse))),
            None => out.line(&output::flow_text(f, self.terse)),
        }
    }

    fn finish(&self, out: &mut Out) -> Result<()> {
        match &self.json {
            Some(w) => out.write(&w.finish()),
            None => Ok(()),
        }
    }
}

fn list(nl: &mut Netlink, cli: &Cli, f: &Filters, out: &mut Out) -> Result<()> {
    let client = client_filter(f)?;
    let attrs = dump_attrs(&f.ft, f.terse && client.is_empty());
    let mut printer = FlowList::new(cli, f.terse);
    let end = nl.dump("list", uapi::RFLOW_CMD_GET, &attrs, |m| {
        let flow = decode("list", m)?;
        if client.matches(&flow) {
            printer.push(out, &flow)?;
        }
        Ok(())
    })?;
    printer.finish(out)?;
    warn_interrupted(end.interrupted);
    Ok(())
}

/// The one flow of a GET or DEL reply.
fn single_flow(op: &'static str, replies: &[RawGenl]) -> Result<Flow> {
    match replies {
        [m] => decode(op, m),
        _ => Err(Error::Decode {
            op,
            msg: format!("{} replies, expected one flow", replies.len()),
        }),
    }
}

fn get(nl: &mut Netlink, cli: &Cli, ufid: &Ufid, terse: bool, out: &mut Out) -> Result<()> {
    let mut attrs = vec![ReqAttr::Ufid(ufid.0)];
    if terse {
        attrs.push(ReqAttr::UfidFlags(uapi::RFLOW_UFID_F_TERSE));
    }
    let replies = nl.request("get", uapi::RFLOW_CMD_GET, &attrs)?;
    print_flow(out, cli, &single_flow("get", &replies)?, terse)
}

fn del_one(nl: &mut Netlink, cli: &Cli, ufid: &Ufid, terse: bool, out: &mut Out) -> Result<()> {
    let replies = nl.request("del", uapi::RFLOW_CMD_DEL, &[ReqAttr::Ufid(ufid.0)])?;
    print_flow(out, cli, &single_flow("del", &replies)?, terse)
}

/// `del FILTERS`: dumps the matching UFIDs, then deletes them one by one. A flow that left
/// in the meantime (ENOENT) is not an error.
fn del_matching(nl: &mut Netlink, cli: &Cli, f: &Filters, out: &mut Out) -> Result<()> {
    let client = client_filter(f)?;
    let attrs = dump_attrs(&f.ft, client.is_empty());
    let mut ufids = Vec::new();
    let end = nl.dump("del", uapi::RFLOW_CMD_GET, &attrs, |m| {
        let flow = decode("del", m)?;
        if client.matches(&flow) {
            ufids.push(flow.ufid);
        }
        Ok(())
    })?;
    warn_interrupted(end.interrupted);
    let mut printer = FlowList::new(cli, f.terse);
    let mut deleted = 0u64;
    for ufid in &ufids {
        match nl.request("del", uapi::RFLOW_CMD_DEL, &[ReqAttr::Ufid(ufid.0)]) {
            Ok(replies) => {
                printer.push(out, &single_flow("del", &replies)?)?;
                deleted += 1;
            }
            Err(Error::Kernel { errno, .. }) if errno == libc::ENOENT => {}
            Err(e) => {
                printer.finish(out)?;
                return Err(e);
            }
        }
    }
    printer.finish(out)?;
    if !cli.json {
        out.flush()?;
        eprintln!("rflowctl: {deleted} flow{} deleted", plural(deleted));
    }
    Ok(())
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn flush(nl: &mut Netlink, cli: &Cli, ft: &FtFilter, out: &mut Out) -> Result<()> {
    let attrs: Vec<ReqAttr> = ft.to_attr().into_iter().collect();
    let replies = nl.request("flush", uapi::RFLOW_CMD_FLUSH, &attrs)?;
    let n = replies
        .iter()
        .flat_map(|m| attr::walk(&m.attrs))
        .filter_map(|a| a.ok())
        .find(|a| a.kind == uapi::RFLOW_A_COUNT)
        .ok_or_else(|| Error::Decode {
            op: "flush",
            msg: "no RFLOW_A_COUNT in the reply".into(),
        })?
        .u32("RFLOW_A_COUNT")
        .map_err(|msg| Error::Decode { op: "flush", msg })?;
    if cli.json {
        out.line(&Obj::new().set("flushed", n).build().to_json(cli.pretty))
    } else {
        out.line(&format!("{n} flow{} flushed", plural(n.into())))
    }
}

fn count(nl: &mut Netlink, cli: &Cli, f: &Filters, out: &mut Out) -> Result<()> {
    let client = client_filter(f)?;
    let attrs = dump_attrs(&f.ft, client.is_empty());
    let mut n = 0u64;
    let end = nl.dump("count", uapi::RFLOW_CMD_GET, &attrs, |m| {
        if client.matches(&decode("count", m)?) {
            n += 1;
        }
        Ok(())
    })?;
    warn_interrupted(end.interrupted);
    if cli.json {
        out.line(&Obj::new().set("count", n).build().to_json(cli.pretty))
    } else {
        out.line(&n.to_string())
    }
}

fn stats(
    nl: &mut Netlink,
    cli: &Cli,
    ft: &FtFilter,
    prometheus: bool,
    out: &mut Out,
) -> Result<()> {
    let mut s = Stats::default();
    // One message per flowtable, empty ones included (ENOENT if the filter names none): its
    // counters since it was created, the packets and bytes read by the kernel as one snapshot
    // of its removed and live flows.
    let attrs: Vec<ReqAttr> = ft.to_attr().into_iter().collect();
    let end = nl.dump("stats", uapi::RFLOW_CMD_STATS, &attrs, |m| {
        let msg = FtStatsMsg::decode(&m.attrs).map_err(|msg| Error::Decode { op: "stats", msg })?;
        s.add_flowtable(&msg);
        Ok(())
    })?;
    warn_interrupted(end.interrupted);
    if prometheus {
        out.write(&s.prometheus())
    } else if cli.json {
        out.line(&s.json().to_json(cli.pretty))
    } else {
        out.write(&s.text())
    }
}

fn watch(
    nl: &mut Netlink,
    cli: &Cli,
    f: &Filters,
    limit: Option<u64>,
    deadline: Option<Instant>,
    out: &mut Out,
) -> Result<()> {
    let client = client_filter(f)?;
    nl.join_events()?;
    let mut seen = 0u64;
    while limit.is_none_or(|l| seen < l) {
        let m = match nl.next_event(deadline)? {
            Event::Timeout => break,
            Event::Lost => {
                out.flush()?;
                eprintln!("rflowctl: events lost (ENOBUFS)");
                continue;
            }
            Event::Msg(m) => m,
        };
        let flow = match Flow::decode(&m.attrs) {
            Ok(flow) => flow,
            Err(msg) => {
                eprintln!("rflowctl: watch: skipping a malformed event: {msg}");
                continue;
            }
        };
        if !f.ft.matches(flow.flowtable.as_ref()) || !client.matches(&flow) {
            continue;
        }
        // One line per event, pretty or not: JSON lines.
        let line = if cli.json {
            output::event_json(m.cmd, &flow, f.terse).map(|v| v.to_json(false))
        } else {
            output::event_text(m.cmd, &flow, f.terse)
        };
        if let Some(line) = line {
            out.line(&line)?;
            out.flush()?;
            seen += 1;
        }
    }
    Ok(())
}
