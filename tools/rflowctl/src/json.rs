// SPDX-License-Identifier: GPL-2.0

//! A small JSON writer: values are built as a tree and written compact (one line) or pretty
//! (two-space indentation), like `ip -j` and `ip -j -p`.

use std::fmt::Write as _;

/// A JSON value. Objects keep their fields in insertion order.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Num(u64),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(&'static str, Value)>),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Num(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Num(v.into())
    }
}

impl From<u16> for Value {
    fn from(v: u16) -> Self {
        Value::Num(v.into())
    }
}

impl From<u8> for Value {
    fn from(v: u8) -> Self {
        Value::Num(v.into())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

/// Builds an object field by field.
#[derive(Default)]
pub struct Obj(Vec<(&'static str, Value)>);

impl Obj {
    pub fn new() -> Self {
        Obj(Vec::new())
    }

    pub fn set(&mut self, key: &'static str, v: impl Into<Value>) -> &mut Self {
        self.0.push((key, v.into()));
        self
    }

    /// Sets `key` only if `v` is `Some`.
    pub fn opt<T: Into<Value>>(&mut self, key: &'static str, v: Option<T>) -> &mut Self {
        if let Some(v) = v {
            self.0.push((key, v.into()));
        }
        self
    }

    pub fn build(&mut self) -> Value {
        Value::Obj(std::mem::take(&mut self.0))
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Value {
    /// The value as text, compact or pretty; no trailing newline.
    pub fn to_json(&self, pretty: bool) -> String {
        let mut out = String::new();
        self.write(&mut out, pretty, 0);
        out
    }

    /// Appends the value to `out`; `depth` is the indentation level of the line it starts on.
    pub fn write(&self, out: &mut String, pretty: bool, depth: usize) {
        match self {
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Str(s) => write_str(out, s),
            Value::Arr(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, pretty, depth + 1);
                    v.write(out, pretty, depth + 1);
                }
                newline(out, pretty, depth);
                out.push(']');
            }
            Value::Obj(fields) => {
                if fields.is_empty() {
                    out.push_str("{}");
                    return;
                }
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, pretty, depth + 1);
                    write_str(out, k);
                    out.push(':');
                    if pretty {
                        out.push(' ');
                    }
                    v.write(out, pretty, depth + 1);
                }
                newline(out, pretty, depth);
                out.push('}');
            }
        }
    }
}

fn newline(out: &mut String, pretty: bool, depth: usize) {
    if pretty {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
}

/// Writes a JSON array element by element, so that a dump of a million flows is never held
/// in memory: `[`, the elements separated by commas, `]`.
pub struct ArrayWriter {
    pretty: bool,
    count: usize,
}

impl ArrayWriter {
    pub fn new(pretty: bool) -> Self {
        ArrayWriter { pretty, count: 0 }
    }

    /// The text that goes before element `v`, and `v`.
    pub fn element(&mut self, v: &Value) -> String {
        let mut out = String::new();
        out.push_str(if self.count == 0 { "[" } else { "," });
        newline(&mut out, self.pretty, 1);
        v.write(&mut out, self.pretty, 1);
        self.count += 1;
        out
    }

    /// The text that closes the array (all of it, if there was no element), with a newline.
    pub fn finish(&self) -> String {
        if self.count == 0 {
            return "[]\n".to_string();
        }
        let mut out = String::new();
        newline(&mut out, self.pretty, 0);
        out.push_str("]\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        Obj::new()
            .set("ufid", "ufid:1")
            .set("n", 3u32)
            .set("ok", true)
            .set("list", Value::Arr(vec![1u8.into(), 2u8.into()]))
            .set("empty", Value::Arr(vec![]))
            .set("o", Obj::new().set("a", false).build())
            .opt::<u32>("absent", None)
            .build()
    }

    #[test]
    fn compact() {
        assert_eq!(
            sample().to_json(false),
            r#"{"ufid":"ufid:1","n":3,"ok":true,"list":[1,2],"empty":[],"o":{"a":false}}"#
        );
    }

    #[test]
    fn pretty() {
        let want = "{\n  \"ufid\": \"ufid:1\",\n  \"n\": 3,\n  \"ok\": true,\n  \"list\": [\n    1,\n    2\n  ],\n  \"empty\": [],\n  \"o\": {\n    \"a\": false\n  }\n}";
        assert_eq!(sample().to_json(true), want);
    }

    #[test]
    fn escapes() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn streamed_arrays() {
        let mut w = ArrayWriter::new(false);
        let mut out = w.element(&1u8.into());
        out += &w.element(&Obj::new().set("a", 2u8).build());
        out += &w.finish();
        assert_eq!(out, "[1,{\"a\":2}]\n");
        assert_eq!(ArrayWriter::new(true).finish(), "[]\n");
        let mut w = ArrayWriter::new(true);
        let mut out = w.element(&Obj::new().set("a", 2u8).build());
        out += &w.finish();
        assert_eq!(out, "[\n  {\n    \"a\": 2\n  }\n]\n");
    }
}
