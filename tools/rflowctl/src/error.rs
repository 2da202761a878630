// SPDX-License-Identifier: GPL-2.0

//! rflowctl's errors and their exit codes.

use std::fmt;
use std::io;

/// Exit code of a usage error (bad option, bad UFID text, unknown command).
pub const EXIT_USAGE: i32 = 2;
/// Exit code of a kernel or runtime error.
pub const EXIT_FAILURE: i32 = 1;

/// Everything that can go wrong.
#[derive(Debug)]
pub enum Error {
    /// The command line is wrong.
    Usage(String),
    /// The kernel refused a request: the operation, the errno (positive) and the extack
    /// message if it sent one.
    Kernel {
        op: &'static str,
        errno: i32,
        msg: Option<String>,
    },
    /// The generic netlink family "rflow" is not registered: the module is not loaded.
    NoFamily,
    /// A system call failed (socket, setns, ...).
    Io { op: String, err: io::Error },
    /// The kernel sent something rflowctl cannot decode.
    Decode { op: &'static str, msg: String },
    /// Anything else, already worded.
    Other(String),
}

/// The result of rflowctl's operations.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    /// An I/O error of `op`.
    pub fn io(op: impl Into<String>, err: io::Error) -> Self {
        Error::Io { op: op.into(), err }
    }

    /// Whether writing the output failed because its reader went away (`rflowctl list | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { err, .. } if err.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// `strerror(errno)`: the C library's description of an errno, without the " (os error N)"
/// the standard library appends.
pub fn strerror(errno: i32) -> String {
    let s = io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => f.write_str(msg),
            Error::Kernel { op, errno, msg } => {
                write!(f, "{op}: {}", strerror(*errno))?;
                match msg {
                    Some(m) => write!(f, ": {m}"),
                    None if *errno == libc::EPERM => f.write_str(" (CAP_NET_ADMIN is needed)"),
                    None => Ok(()),
                }
            }
            Error::NoFamily => f.write_str(
                "the rflow module is not loaded (generic netlink family \"rflow\" not found)",
            ),
            Error::Io { op, err } => match err.raw_os_error() {
                Some(errno) => write!(f, "{op}: {}", strerror(errno)),
                None => write!(f, "{op}: {err}"),
            },
            Error::Decode { op, msg } => {
                write!(f, "{op}: malformed message from the kernel: {msg}")
            }
            Error::Other(msg) => f.write_str(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_errors_read_like_the_brief() {
        let e = Error::Kernel {
            op: "get",
            errno: libc::ENOENT,
            msg: Some("no flow with this UFID in this namespace".into()),
        };
        assert_eq!(
            e.to_string(),
            "get: No such file or directory: no flow with this UFID in this namespace"
        );
        assert_eq!(e.exit_code(), 1);
        let e = Error::Kernel {
            op: "list",
            errno: libc::EPERM,
            msg: None,
        };
        assert_eq!(
            e.to_string(),
            "list: Operation not permitted (CAP_NET_ADMIN is needed)"
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(Error::NoFamily.exit_code(), 1);
        assert_eq!(
            Error::NoFamily.to_string(),
            "the rflow module is not loaded (generic netlink family \"rflow\" not found)"
        );
        let e = Error::io("setns", io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.to_string(), "setns: No such file or directory");
        assert_eq!(strerror(libc::ENOBUFS), "No buffer space available");
    }
}
