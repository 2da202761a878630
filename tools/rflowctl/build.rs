// SPDX-License-Identifier: GPL-2.0

//! Generates the uAPI of `include/uapi/linux/rflow.h` as Rust constants and structs, so that
//! rflowctl shares the kernel's definitions instead of copying them.
//!
//! A small parser of the C subset uAPI headers use: comments, the include guard, `#include
//! <...>` (skipped: the kernel's types, `__u64` and the like, are known here), `#define NAME
//! VALUE` (an integer constant expression or a string literal; a `#define` without a value is
//! skipped), `enum NAME { A, B = EXPR, ... };`, whose members are counted as C counts them
//! (one more than the previous member, 0 for the first), and `struct NAME { TYPE MEMBER; ...
//! };` with one scalar member (`__u8` to `__u64`, `__s8` to `__s64`) per declaration. Integer
//! expressions may use literals (decimal, hex, octal, with `U`/`L` suffixes), names defined
//! before, parentheses, the unary operators `- ~ !` and the binary operators `* / % + - << >>
//! & ^ |`.
//!
//! A struct becomes a plain Rust struct of the same members, named in CamelCase (`struct
//! rflow_stats` is `RflowStats`), with its C size (`SIZE`: each member aligned to its size,
//! the struct padded to its largest member) and `from_ne_bytes()`/`to_ne_bytes()`, which read
//! and write the members at their C offsets in native byte order: an attribute's payload is
//! copied out, never cast, as it may be unaligned.
//!
//! Anything else (`#include "..."`, `#if`, a function-like macro, an unknown name in an
//! expression, a value that does not fit its Rust type, an array, a bit field, a pointer or
//! any other type in a struct, a struct laid out differently where `__u64` is only 4-byte
//! aligned, as on i386) fails the build with the file and line: the header changed in a way
//! this parser must be taught, and guessing would make the CLI disagree with the kernel.

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
    ("rflow_ft_stats_attr", "u16"), // nla_type, inside RFLOW_A_FT_STATS
    ("rflow_xmit", "u8"),           // RFLOW_T_XMIT is a u8
    ("rflow_hw_state", "u8"),       // RFLOW_A_HW_STATE is a u8
    ("rflow_reason", "u8"),         // RFLOW_A_REASON is a u8
];

/// Rust types of integer `#define`s, by name; any other is `u32`.
const DEFINE_TYPES: &[(&str, &str)] = &[
    ("RFLOW_GENL_VERSION", "u8"), // genlmsghdr.version
    ("RFLOW_UFID_LEN", "usize"),
];

/// A type struct members may have: its name in C and in Rust, and its size, which is also its
/// alignment.
#[derive(Debug)]
struct Scalar {
    c: &'static str,
    rust: &'static str,
    size: usize,
}

const fn scalar(c: &'static str, rust: &'static str, size: usize) -> Scalar {
    Scalar { c, rust, size }
}

/// The types of struct members: linux/types.h's fixed-size integers in host byte order (not
/// `__be*`/`__le*`, whose order `from_ne_bytes()` would get wrong, nor `__aligned_u64`).
const SCALARS: &[Scalar] = &[
    scalar("__u8", "u8", 1),
    scalar("__s8", "i8", 1),
    scalar("__u16", "u16", 2),
    scalar("__s16", "i16", 2),
    scalar("__u32", "u32", 4),
    scalar("__s32", "i32", 4),
    scalar("__u64", "u64", 8),
    scalar("__s64", "i64", 8),
];

/// Rust keywords a C member may be named after: the generated field is a raw identifier.
const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Names that cannot be Rust fields at all, not even raw.
const NOT_RUST_FIELDS: &[&str] = &["_", "crate", "self", "Self", "super"];

fn main() {
    let path = PathBuf::from(HEADER);
    println!("cargo:rerun-if-changed={HEADER}");
    println!("cargo:rerun-if-changed=build.rs");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => fail(&path, 0, &format!("cannot read the uAPI header: {e}")),
    };
    let header = match parse_header(&text) {
        Ok(header) => header,
        Err((line, msg)) => fail(&path, line, &msg),
    };
    let code = match generate(&header) {
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

/// A member of a struct: its C name, its name in Rust (`r#type` for `type`), its type and line.
#[derive(Debug)]
struct Field {
    name: String,
    rust_name: String,
    ty: &'static Scalar,
    line: usize,
}

/// A struct of the header, its Rust name and where it was defined.
#[derive(Debug)]
struct Struct {
    name: String,
    rust_name: String,
    fields: Vec<Field>,
    line: usize,
}

/// What the header defines: its constants, in order, and its structs.
#[derive(Debug, Default)]
struct Header {
    items: Vec<Item>,
    structs: Vec<Struct>,
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
    "<<", ">>", "{", "}", "(", ")", "[", "]", ",", ";", ":", "=", "+", "-", "*", "/", "%", "&",
    "|", "^", "~", "!",
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

fn parse_header(text: &str) -> Result<Header, ParseError> {
    let text = strip_comments(text)?;
    let mut items: Vec<Item> = Vec::new();
    let mut structs: Vec<Struct> = Vec::new();
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
            // A system header: the kernel's types, which SCALARS knows. A local one could define
            // anything.
            "include" if rest.starts_with('<') && rest.ends_with('>') => {}
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

    // Outside directives only enums and structs are allowed.
    let toks = tokenize(&body, 1)?;
    let mut i = 0;
    while i < toks.len() {
        let line = toks[i].1;
        let Tok::Ident(kw) = &toks[i].0 else {
            return Err((
                line,
                format!("expected 'enum' or 'struct', found {:?}", toks[i].0),
            ));
        };
        if kw == "struct" {
            let (s, next) = parse_struct(&toks, i + 1, line)?;
            if let Some(prev) = structs.iter().find(|p| p.rust_name == s.rust_name) {
                let msg = if prev.name == s.name {
                    format!("struct {} already defined on line {}", s.name, prev.line)
                } else {
                    format!(
                        "struct {} and struct {} (line {}) are both {} in Rust",
                        s.name, prev.name, prev.line, s.rust_name
                    )
                };
                return Err((line, msg));
            }
            structs.push(s);
            i = next;
            continue;
        }
        if kw != "enum" {
            return Err((
                line,
                format!("cannot parse '{kw}' (only enums, structs and #defines are supported)"),
            ));
        }
        let (enum_name, body) = parse_open(&toks, i + 1, line, "enum")?;
        i = body;
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
    Ok(Header { items, structs })
}

/// Parses `NAME {`, from `toks[i]` on, of the `enum` or `struct` (`kind`) on line `line`.
/// Returns the name and the index of the token after the `{`.
fn parse_open(
    toks: &[(Tok, usize)],
    i: usize,
    line: usize,
    kind: &str,
) -> Result<(String, usize), ParseError> {
    let Some((Tok::Ident(name), _)) = toks.get(i) else {
        return Err((line, format!("anonymous {kind}s are not supported")));
    };
    if toks.get(i + 1).map(|t| &t.0) != Some(&Tok::Punct("{")) {
        return Err((line, format!("expected '{{' after {kind} {name}")));
    }
    Ok((name.clone(), i + 2))
}

/// Parses `NAME { TYPE MEMBER; ... };`, from `toks[i]` on, of the `struct` on line `line`: one
/// member of a type of SCALARS per declaration, nothing else. Returns the struct and the index
/// of the token after its `;`.
fn parse_struct(
    toks: &[(Tok, usize)],
    i: usize,
    line: usize,
) -> Result<(Struct, usize), ParseError> {
    let (name, mut i) = parse_open(toks, i, line, "struct")?;
    let mut fields: Vec<Field> = Vec::new();
    loop {
        let (ty, fline) = match toks.get(i) {
            Some((Tok::Punct("}"), _)) => {
                i += 1;
                break;
            }
            Some((Tok::Ident(ty), fline)) => (ty, *fline),
            other => {
                return Err((
                    other.map_or(line, |t| t.1),
                    format!("unexpected {:?} in struct {name}", other.map(|t| &t.0)),
                ))
            }
        };
        let Some(scalar) = SCALARS.iter().find(|s| s.c == ty) else {
            let known: Vec<&str> = SCALARS.iter().map(|s| s.c).collect();
            return Err((
                fline,
                format!(
                    "unsupported type {ty} in struct {name} (members may be {})",
                    known.join(", ")
                ),
            ));
        };
        let member = match toks.get(i + 1) {
            Some((Tok::Ident(m), _)) => m.clone(),
            _ => {
                return Err((
                    fline,
                    format!("expected a member name after {ty} in struct {name}"),
                ))
            }
        };
        i += 2;
        match toks.get(i).map(|t| &t.0) {
            Some(Tok::Punct(";")) => i += 1,
            Some(Tok::Punct("[")) => {
                return Err((fline, format!("{name}.{member}: arrays are not supported")))
            }
            Some(Tok::Punct(":")) => {
                return Err((
                    fline,
                    format!("{name}.{member}: bit fields are not supported"),
                ))
            }
            _ => {
                return Err((
                    fline,
                    format!("expected ';' after {name}.{member} (one member per declaration)"),
                ))
            }
        }
        if let Some(prev) = fields.iter().find(|f| f.name == member) {
            return Err((
                fline,
                format!("{name}.{member} already declared on line {}", prev.line),
            ));
        }
        let rust_name = if NOT_RUST_FIELDS.contains(&member.as_str()) {
            return Err((fline, format!("{name}.{member} cannot be a Rust field")));
        } else if RUST_KEYWORDS.contains(&member.as_str()) {
            format!("r#{member}")
        } else {
            member.clone()
        };
        fields.push(Field {
            name: member,
            rust_name,
            ty: scalar,
            line: fline,
        });
    }
    if fields.is_empty() {
        return Err((line, format!("struct {name} has no members")));
    }
    if toks.get(i).map(|t| &t.0) != Some(&Tok::Punct(";")) {
        return Err((line, format!("expected ';' after struct {name}")));
    }
    if layout(&fields, 8) != layout(&fields, 4) {
        return Err((
            line,
            format!(
                "struct {name} is laid out differently where __u64 is 4-byte aligned (i386): \
                 pad it explicitly"
            ),
        ));
    }
    let rust_name = camel_case(&name);
    if rust_name.is_empty() {
        return Err((line, format!("struct {name} has no Rust name")));
    }
    let s = Struct {
        name,
        rust_name,
        fields,
        line,
    };
    Ok((s, i + 1))
}

/// The C layout of `fields`, each aligned to its size but at most `max_align` (8 on 64-bit
/// architectures, 4 for i386's `__u64`): their offsets and the struct's size, padded to its
/// most aligned member.
fn layout(fields: &[Field], max_align: usize) -> (Vec<usize>, usize) {
    let mut offsets = Vec::with_capacity(fields.len());
    let (mut end, mut align) = (0usize, 1);
    for f in fields {
        let a = f.ty.size.min(max_align);
        let offset = end.next_multiple_of(a);
        offsets.push(offset);
        end = offset + f.ty.size;
        align = align.max(a);
    }
    (offsets, end.next_multiple_of(align))
}

/// The Rust name of a C struct: `rflow_stats` is `RflowStats`.
fn camel_case(c: &str) -> String {
    c.split('_')
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect()
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

fn generate(header: &Header) -> Result<String, ParseError> {
    let mut out = String::new();
    out.push_str(&format!(
        "// Generated by build.rs from {HEADER}; do not edit.\n\n"
    ));
    let mut enums: Vec<(&str, Vec<&Item>)> = Vec::new();
    for item in &header.items {
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
    for s in &header.structs {
        generate_struct(&mut out, s);
    }
    Ok(out)
}

/// A plain Rust struct of the members of `s`, with its C size and conversions from and to its
/// C representation in native byte order.
fn generate_struct(out: &mut String, s: &Struct) {
    let (offsets, size) = layout(&s.fields, 8);
    let name = &s.rust_name;
    let _ = writeln!(
        out,
        "\n/// `struct {}` (line {} of the header).\n\
         #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]\npub struct {name} {{",
        s.name, s.line
    );
    for f in &s.fields {
        let _ = writeln!(out, "    pub {}: {},", f.rust_name, f.ty.rust);
    }
    let _ = writeln!(
        out,
        "}}\n\nimpl {name} {{\n    /// `sizeof(struct {})`.\n    pub const SIZE: usize = {size};\n",
        s.name
    );
    out.push_str(
        "    /// The struct from its C representation in native byte order (unaligned is fine);\n\
         \x20   /// `None` unless `b` is exactly `SIZE` bytes long.\n\
         \x20   pub fn from_ne_bytes(b: &[u8]) -> Option<Self> {\n\
         \x20       if b.len() != Self::SIZE {\n\
         \x20           return None;\n\
         \x20       }\n\
         \x20       Some(Self {\n",
    );
    for (f, off) in s.fields.iter().zip(&offsets) {
        let _ = writeln!(
            out,
            "            {}: {}::from_ne_bytes(b.get({off}..{})?.try_into().ok()?),",
            f.rust_name,
            f.ty.rust,
            off + f.ty.size
        );
    }
    out.push_str(
        "        })\n    }\n\n\
         \x20   /// The C representation in native byte order, padding zeroed.\n\
         \x20   pub fn to_ne_bytes(self) -> Vec<u8> {\n\
         \x20       let mut b = vec![0u8; Self::SIZE];\n",
    );
    for (f, off) in s.fields.iter().zip(&offsets) {
        let _ = writeln!(
            out,
            "        b[{off}..{}].copy_from_slice(&self.{}.to_ne_bytes());",
            off + f.ty.size,
            f.rust_name
        );
    }
    out.push_str("        b\n    }\n}\n");
}

/// Run with rflowctl's tests (src/main.rs includes this file as a module under `cfg(test)`).
#[cfg(test)]
mod tests {
    use super::*;

    fn structs(src: &str) -> Vec<Struct> {
        parse_header(src).unwrap().structs
    }

    fn error(src: &str) -> ParseError {
        parse_header(src).unwrap_err()
    }

    #[test]
    fn struct_layout_as_c() {
        let s = structs(
            "#include <linux/types.h>\n\
             struct hole_y {\n\t__u8 a;\n\t__u32 b;\n\t__s16 c;\n\t__u8 d;\n};\n\
             struct wide { __u64 a; __s8 b; __u8 c; __u16 d; __s32 e; __s64 f; };\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].name.as_str(), s[0].rust_name.as_str()),
            ("hole_y", "HoleY")
        );
        assert_eq!(s[0].line, 2);
        assert_eq!(s[0].fields[2].line, 5);
        assert_eq!(s[0].fields[2].ty.rust, "i16");
        assert_eq!(layout(&s[0].fields, 8), (vec![0, 4, 8, 10], 12));
        assert_eq!(layout(&s[1].fields, 8), (vec![0, 8, 9, 10, 12, 16], 24));
    }

    #[test]
    fn struct_code() {
        let header = parse_header(
            "struct rflow_stats { __u64 orig_packets; __u16 type; __u8 a; __u32 b; };\n\
             #define X 1\n",
        )
        .unwrap();
        let code = generate(&header).unwrap();
        assert!(code.contains("pub const X: u32 = 1;"));
        assert!(code.contains("pub struct RflowStats {\n    pub orig_packets: u64,\n"));
        assert!(code.contains("    pub r#type: u16,\n    pub a: u8,\n"));
        assert!(code.contains("pub const SIZE: usize = 16;"));
        assert!(code.contains("r#type: u16::from_ne_bytes(b.get(8..10)?.try_into().ok()?),"));
        assert!(code.contains("b[8..10].copy_from_slice(&self.r#type.to_ne_bytes());"));
        assert!(code.contains("b: u32::from_ne_bytes(b.get(12..16)?.try_into().ok()?),"));
    }

    #[test]
    fn camel_case_names() {
        assert_eq!(camel_case("rflow_stats"), "RflowStats");
        assert_eq!(camel_case("__rflow__x2_y"), "RflowX2Y");
        assert_eq!(camel_case("___"), "");
    }

    #[test]
    fn what_structs_may_not_have() {
        // A member on line 2, in "struct s {\n\t<member>\n};".
        let members: &[(&str, &str)] = &[
            ("__u32 a[4];", "s.a: arrays are not supported"),
            ("__u32 a:4;", "s.a: bit fields are not supported"),
            ("unsigned int a;", "unsupported type unsigned in struct s"),
            ("__be32 a;", "unsupported type __be32"),
            ("__aligned_u64 a;", "unsupported type __aligned_u64"),
            ("struct t a;", "unsupported type struct"),
            ("__u32 *a;", "expected a member name after __u32"),
            ("__u32 a, b;", "expected ';' after s.a"),
            ("__u32 self;", "s.self cannot be a Rust field"),
        ];
        let mut cases: Vec<(String, usize, &str)> = members
            .iter()
            .map(|(m, msg)| (format!("struct s {{\n\t{m}\n}};"), 2, *msg))
            .collect();
        #[rustfmt::skip]
        let headers: &[(&str, usize, &str)] = &[
            ("struct s {\n\t__u32 a;\n\t__u16 a;\n};", 3, "s.a already declared on line 2"),
            ("\nstruct s {\n};", 2, "struct s has no members"),
            ("struct s;", 1, "expected '{' after struct s"),
            ("struct s x;", 1, "expected '{' after struct s"),
            ("struct {\n\t__u32 a;\n};", 1, "anonymous structs"),
            ("struct s { __u32 a; }\nenum e { A };", 1, "expected ';' after struct s"),
            ("struct s { __u32 a; } __attribute__((packed));", 1, "expected ';'"),
            ("struct s { __u32 a; __u64 b; };", 1, "laid out differently"),
            ("struct s { __u64 a; __u32 b; };", 1, "laid out differently"),
            ("struct s { __u8 a; };\n\nstruct s { __u8 b; };", 3, "defined on line 1"),
            ("struct a_b { __u8 a; };\nstruct a__b { __u8 b; };", 2, "are both AB in Rust"),
            ("#include \"rflow_types.h\"\n", 1, "unsupported directive #include"),
            ("union u { __u32 a; };", 1, "cannot parse 'union'"),
        ];
        cases.extend(headers.iter().map(|(h, l, msg)| (h.to_string(), *l, *msg)));
        for (src, line, msg) in &cases {
            let (l, m) = error(src);
            assert!(m.contains(msg), "{src:?}: {m:?}");
            assert_eq!(l, *line, "{src:?}: {m:?}");
        }
    }

    #[test]
    fn the_header_parses() {
        let header = parse_header(&fs::read_to_string(HEADER).unwrap()).unwrap();
        let s = header
            .structs
            .iter()
            .find(|s| s.name == "rflow_stats")
            .unwrap();
        assert_eq!(layout(&s.fields, 8), (vec![0, 8, 16, 24], 32));
    }
}
