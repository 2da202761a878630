// SPDX-License-Identifier: GPL-2.0

//! Generates the uAPI constants of `include/uapi/linux/rflow.h` as Rust constants, so that
//! rflowctl shares the kernel's definitions instead of copying them.
//!
//! A small parser of the C subset uAPI headers use: comments, the include guard, `#define NAME
//! VALUE` (an integer constant expression or a string literal; a `#define` without a value is
//! skipped) and `enum NAME { A, B = EXPR, ... };`, whose members are counted as C counts them
//! (one more than the previous member, 0 for the first). Integer expressions may use literals
//! (decimal, hex, octal, with `U`/`L` suffixes), names defined before, parentheses, the unary
//! operators `- ~ !` and the binary operators `* / % + - << >> & ^ |`.
//!
//! Anything else (a `struct`, `#if`, a function-like macro, an unknown name in an expression, a
//! value that does not fit its Rust type) fails the build with the file and line: the header
//! changed in a way this parser must be taught, and guessing would make the CLI disagree with
//! the kernel.

use std::collections::HashMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process;

const HEADER: &str = "../../include/uapi/linux/rflow.h";

/// Rust types of the enums' members, by C enum name; members of any other enum are `u32`.
const ENUM_TYPES: &[(&str, &str)] = &[
    ("rflow_cmd", "u8"),      // genlmsghdr.cmd
    ("rflow_attr", "u16"),    // nla_type
    ("rflow_ft_attr", "u16"), // nla_type
    ("rflow_tuple_attr", "u16"),
    ("rflow_encap_attr", "u16"),
    ("rflow_xmit", "u8"),     // RFLOW_T_XMIT is a u8
    ("rflow_hw_state", "u8"), // RFLOW_A_HW_STATE is a u8
    ("rflow_reason", "u8"),   // RFLOW_A_REASON is a u8
];

/// Rust types of integer `#define`s, by name; any other is `u32`.
const DEFINE_TYPES: &[(&str, &str)] = &[
    ("RFLOW_GENL_VERSION", "u8"), // genlmsghdr.version
    ("RFLOW_UFID_LEN", "usize"),
];

fn main() {
    let path = PathBuf::from(HEADER);
    println!("cargo:rerun-if-changed={HEADER}");
    println!("cargo:rerun-if-changed=build.rs");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => fail(&path, 0, &format!("cannot read the uAPI header: {e}")),
    };
    let items = match parse_header(&text) {
        Ok(items) => items,
        Err((line, msg)) => fail(&path, line, &msg),
    };
    let code = match generate(&items) {
        Ok(code) => code,
        Err((line, msg)) => fail(&path, line, &msg),
    };
    let out = match env::var_os("OUT_DIR") {
        Some(dir) => PathBuf::from(dir).join("rflow_uapi.rs"),
        None => fail(&path, 0, "OUT_DIR is not set"),
    };
    if let Err(e) = fs::write(&out, code) {
        fail(&out, 0, &format!("cannot write: {e}"));
    }
}

fn fail(path: &Path, line: usize, msg: &str) -> ! {
    if line > 0 {
        eprintln!("error: {}:{line}: {msg}", path.display());
        println!("cargo:warning={}:{line}: {msg}", path.display());
    } else {
        eprintln!("error: {}: {msg}", path.display());
        println!("cargo:warning={}: {msg}", path.display());
    }
    process::exit(1);
}

/// One constant of the header.
#[derive(Debug, PartialEq)]
enum Value {
    Int(i128),
    Str(String),
}

/// A constant, where it was defined, and the enum it belongs to (`None`: a `#define`).
#[derive(Debug)]
struct Item {
    name: String,
    value: Value,
    line: usize,
    enum_name: Option<String>,
}

type ParseError = (usize, String);

/// Replaces comments by spaces, keeping newlines (and so line numbers) and string literals.
fn strip_comments(text: &str) -> Result<String, ParseError> {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut line = 1;
    while i < b.len() {
        let c = b[i];
        if c == '/' && b.get(i + 1) == Some(&'*') {
            let start = line;
            i += 2;
            loop {
                match b.get(i) {
                    None => return Err((start, "unterminated comment".into())),
                    Some('*') if b.get(i + 1) == Some(&'/') => {
                        i += 2;
                        out.push(' ');
                        break;
                    }
                    Some('\n') => {
                        line += 1;
                        out.push('\n');
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
        } else if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '"' {
            out.push(c);
            i += 1;
            loop {
                match b.get(i) {
                    None | Some('\n') => return Err((line, "unterminated string".into())),
                    Some('\\') => {
                        out.push('\\');
                        if let Some(&n) = b.get(i + 1) {
                            out.push(n);
                        }
                        i += 2;
                    }
                    Some('"') => {
                        out.push('"');
                        i += 1;
                        break;
                    }
                    Some(&o) => {
                        out.push(o);
                        i += 1;
                    }
                }
            }
        } else {
            if c == '\n' {
                line += 1;
            }
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(i128),
    Str(String),
    Punct(&'static str),
}

const PUNCTS: &[&str] = &[
    "<<", ">>", "{", "}", "(", ")", ",", ";", "=", "+", "-", "*", "/", "%", "&", "|", "^", "~", "!",
];

/// Splits `s` (one logical line or the body outside directives) into tokens, each with its line.
fn tokenize(s: &str, first_line: usize) -> Result<Vec<(Tok, usize)>, ParseError> {
    let b: Vec<char> = s.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut line = first_line;
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            toks.push((Tok::Ident(b[start..i].iter().collect()), line));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let lit: String = b[start..i].iter().collect();
            toks.push((Tok::Num(parse_number(&lit).map_err(|e| (line, e))?), line));
        } else if c == '"' {
            let mut v = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err((line, "unterminated string".into())),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        return Err((line, "escape sequences in strings are not supported".into()))
                    }
                    Some(&o) => {
                        v.push(o);
                        i += 1;
                    }
                }
            }
            toks.push((Tok::Str(v), line));
        } else {
            let rest: String = b[i..(i + 2).min(b.len())].iter().collect();
            match PUNCTS.iter().find(|p| rest.starts_with(**p)) {
                Some(p) => {
                    toks.push((Tok::Punct(p), line));
                    i += p.len();
                }
                None => return Err((line, format!("unexpected character {c:?}"))),
            }
        }
    }
    Ok(toks)
}

/// Parses a C integer literal: decimal, `0x` hex or `0` octal, with any `u`/`l` suffixes.
fn parse_number(lit: &str) -> Result<i128, String> {
    let digits = lit.trim_end_matches(['u', 'U', 'l', 'L']);
    let suffix = &lit[digits.len()..];
    if suffix.len() > 3 {
        return Err(format!("bad integer literal {lit:?}"));
    }
    let r = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i128::from_str_radix(h, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        i128::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse::<i128>()
    };
    r.map_err(|_| format!("bad integer literal {lit:?}"))
}

/// Evaluates integer constant expressions by precedence climbing.
struct Expr<'a> {
    toks: &'a [(Tok, usize)],
    pos: usize,
    known: &'a HashMap<String, i128>,
    line: usize,
}

impl Expr<'_> {
    fn err(&self, msg: String) -> ParseError {
        let line = self.toks.get(self.pos).map_or(self.line, |t| t.1);
        (line, msg)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    /// Binary operators, loosest first.
    const LEVELS: &'static [&'static [&'static str]] = &[
        &["|"],
        &["^"],
        &["&"],
        &["<<", ">>"],
        &["+", "-"],
        &["*", "/", "%"],
    ];

    fn parse(&mut self, level: usize) -> Result<i128, ParseError> {
        if level == Self::LEVELS.len() {
            return self.unary();
        }
        let mut v = self.parse(level + 1)?;
        while let Some(Tok::Punct(p)) = self.peek() {
            let p = *p;
            if !Self::LEVELS[level].contains(&p) {
                break;
            }
            self.pos += 1;
            let r = self.parse(level + 1)?;
            let res = match p {
                "|" => Some(v | r),
                "^" => Some(v ^ r),
                "&" => Some(v & r),
                "<<" => u32::try_from(r).ok().filter(|s| *s < 64).map(|s| v << s),
                ">>" => u32::try_from(r).ok().filter(|s| *s < 64).map(|s| v >> s),
                "+" => v.checked_add(r),
                "-" => v.checked_sub(r),
                "*" => v.checked_mul(r),
                "/" => v.checked_div(r),
                "%" => v.checked_rem(r),
                _ => None,
            };
            v = res.ok_or_else(|| self.err(format!("cannot evaluate {v} {p} {r}")))?;
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<i128, ParseError> {
        let tok = self.peek().cloned();
        self.pos += 1;
        match tok {
            Some(Tok::Num(n)) => Ok(n),
            Some(Tok::Ident(name)) => match self.known.get(&name) {
                Some(v) => Ok(*v),
                None => {
                    self.pos -= 1;
                    Err(self.err(format!("unknown name {name} in an expression")))
                }
            },
            Some(Tok::Punct("(")) => {
                let v = self.parse(0)?;
                match self.peek() {
                    Some(Tok::Punct(")")) => {
                        self.pos += 1;
                        Ok(v)
                    }
                    _ => Err(self.err("expected ')'".into())),
                }
            }
            Some(Tok::Punct("-")) => Ok(-self.unary()?),
            Some(Tok::Punct("~")) => Ok(!self.unary()?),
            Some(Tok::Punct("!")) => Ok(i128::from(self.unary()? == 0)),
            other => {
                self.pos -= 1;
                Err(self.err(format!("expected a value, found {other:?}")))
            }
        }
    }
}

/// Evaluates the whole of `toks` as one integer expression.
fn eval_all(
    toks: &[(Tok, usize)],
    known: &HashMap<String, i128>,
    line: usize,
) -> Result<i128, ParseError> {
    if toks.is_empty() {
        return Err((line, "empty expression".into()));
    }
    let mut e = Expr {
        toks,
        pos: 0,
        known,
        line,
    };
    let v = e.parse(0)?;
    if e.pos != toks.len() {
        return Err(e.err(format!("unexpected {:?} in an expression", toks[e.pos].0)));
    }
    Ok(v)
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_header(text: &str) -> Result<Vec<Item>, ParseError> {
    let text = strip_comments(text)?;
    let mut items: Vec<Item> = Vec::new();
    let mut known: HashMap<String, i128> = HashMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut body = String::new(); // everything outside directives, newlines kept
    let mut depth = 0i32; // #ifndef nesting
    let lines: Vec<&str> = text.split('\n').collect();
    let mut n = 0;
    while n < lines.len() {
        let lineno = n + 1;
        let mut logical = lines[n].to_string();
        let mut consumed = 1;
        // Backslash continuations.
        while logical.trim_end().ends_with('\\') && n + consumed < lines.len() {
            let trimmed = logical.trim_end();
            logical = format!("{} {}", &trimmed[..trimmed.len() - 1], lines[n + consumed]);
            consumed += 1;
        }
        n += consumed;
        let newlines = "\n".repeat(consumed);
        let t = logical.trim();
        let Some(directive) = t.strip_prefix('#') else {
            body.push_str(&logical);
            body.push_str(&newlines);
            continue;
        };
        body.push_str(&newlines);
        let directive = directive.trim_start();
        let (word, rest) = directive
            .split_once(|c: char| c.is_whitespace())
            .unwrap_or((directive, ""));
        let rest = rest.trim();
        match word {
            "ifndef" if is_ident(rest) => depth += 1,
            "endif" => {
                depth -= 1;
                if depth < 0 {
                    return Err((lineno, "#endif without #ifndef".into()));
                }
            }
            "include" => {} // defines nothing rflowctl uses
            "define" => {
                let (name, value) = rest
                    .split_once(|c: char| c.is_whitespace())
                    .unwrap_or((rest, ""));
                if !is_ident(name) {
                    return Err((
                        lineno,
                        format!("cannot parse #define {rest:?} (a macro with arguments?)"),
                    ));
                }
                let value = value.trim();
                if value.is_empty() {
                    continue; // the include guard
                }
                let toks = tokenize(value, lineno)?;
                let value = match toks.as_slice() {
                    [(Tok::Str(s), _)] => Value::Str(s.clone()),
                    _ => {
                        let v = eval_all(&toks, &known, lineno)?;
                        known.insert(name.to_string(), v);
                        Value::Int(v)
                    }
                };
                if let Some(prev) = seen.insert(name.to_string(), lineno) {
                    return Err((lineno, format!("{name} already defined on line {prev}")));
                }
                items.push(Item {
                    name: name.to_string(),
                    value,
                    line: lineno,
                    enum_name: None,
                });
            }
            _ => return Err((lineno, format!("unsupported directive #{word} {rest}"))),
        }
    }
    if depth != 0 {
        return Err((lines.len(), "#ifndef without #endif".into()));
    }

    // Outside directives only enums are allowed.
    let toks = tokenize(&body, 1)?;
    let mut i = 0;
    while i < toks.len() {
        let line = toks[i].1;
        let Tok::Ident(kw) = &toks[i].0 else {
            return Err((line, format!("expected 'enum', found {:?}", toks[i].0)));
        };
        if kw != "enum" {
            return Err((
                line,
                format!("cannot parse '{kw}' (only enums and #defines are supported)"),
            ));
        }
        i += 1;
        let enum_name = match toks.get(i) {
            Some((Tok::Ident(n), _)) => {
                i += 1;
                n.clone()
            }
            _ => return Err((line, "anonymous enums are not supported".into())),
        };
        if toks.get(i).map(|t| &t.0) != Some(&Tok::Punct("{")) {
            return Err((line, format!("expected '{{' after enum {enum_name}")));
        }
        i += 1;
        let mut next: i128 = 0;
        loop {
            match toks.get(i) {
                Some((Tok::Punct("}"), _)) => {
                    i += 1;
                    break;
                }
                Some((Tok::Ident(member), mline)) => {
                    let (member, mline) = (member.clone(), *mline);
                    i += 1;
                    let value = if toks.get(i).map(|t| &t.0) == Some(&Tok::Punct("=")) {
                        i += 1;
                        let start = i;
                        while let Some((t, _)) = toks.get(i) {
                            if matches!(t, Tok::Punct(",") | Tok::Punct("}")) {
                                break;
                            }
                            i += 1;
                        }
                        eval_all(&toks[start..i], &known, mline)?
                    } else {
                        next
                    };
                    next = value + 1;
                    if let Some(prev) = seen.insert(member.clone(), mline) {
                        return Err((mline, format!("{member} already defined on line {prev}")));
                    }
                    known.insert(member.clone(), value);
                    items.push(Item {
                        name: member,
                        value: Value::Int(value),
                        line: mline,
                        enum_name: Some(enum_name.clone()),
                    });
                    match toks.get(i) {
                        Some((Tok::Punct(","), _)) => i += 1,
                        Some((Tok::Punct("}"), _)) => {}
                        other => {
                            return Err((
                                other.map_or(mline, |t| t.1),
                                format!("expected ',' or '}}' in enum {enum_name}"),
                            ))
                        }
                    }
                }
                other => {
                    return Err((
                        other.map_or(line, |t| t.1),
                        format!("unexpected {:?} in enum {enum_name}", other.map(|t| &t.0)),
                    ))
                }
            }
        }
        if toks.get(i).map(|t| &t.0) != Some(&Tok::Punct(";")) {
            return Err((line, format!("expected ';' after enum {enum_name}")));
        }
        i += 1;
    }
    Ok(items)
}

/// The range of values a Rust integer type holds.
fn range_of(ty: &str) -> (i128, i128) {
    match ty {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "usize" | "u32" => (0, u32::MAX.into()),
        _ => (0, 0),
    }
}

fn generate(items: &[Item]) -> Result<String, ParseError> {
    let mut out = String::new();
    out.push_str(&format!(
        "// Generated by build.rs from {HEADER}; do not edit.\n\n"
    ));
    let mut enums: Vec<(&str, Vec<&Item>)> = Vec::new();
    for item in items {
        let ty = match &item.enum_name {
            Some(e) => ENUM_TYPES
                .iter()
                .find(|(n, _)| n == e)
                .map_or("u32", |t| t.1),
            None => DEFINE_TYPES
                .iter()
                .find(|(n, _)| *n == item.name)
                .map_or("u32", |t| t.1),
        };
        match &item.value {
            Value::Str(s) => {
                let _ = writeln!(out, "pub const {}: &str = {:?};", item.name, s);
            }
            Value::Int(v) => {
                let (lo, hi) = range_of(ty);
                if *v < lo || *v > hi {
                    return Err((
                        item.line,
                        format!("{} = {v} does not fit in {ty}", item.name),
                    ));
                }
                let _ = writeln!(out, "pub const {}: {ty} = {v};", item.name);
            }
        }
        if let Some(e) = &item.enum_name {
            match enums.iter_mut().find(|(n, _)| n == e) {
                Some((_, members)) => members.push(item),
                None => enums.push((e, vec![item])),
            }
        }
    }
    // Each enum's members by name, for tests and diagnostics.
    for (e, members) in &enums {
        let _ = writeln!(
            out,
            "\n/// The members of `enum {e}`, in order.\npub const ENUM_{}: &[(&str, i64)] = &[",
            e.to_uppercase()
        );
        for m in members {
            if let Value::Int(v) = m.value {
                let _ = writeln!(out, "    ({:?}, {v}),", m.name);
            }
        }
        out.push_str("];\n");
    }
    Ok(out)
}
