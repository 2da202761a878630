// SPDX-License-Identifier: GPL-2.0

//! Netlink attributes: walking a received attribute stream (over netlink-packet-core's
//! `NlasIterator`) with typed, length-checked accessors, and the request attributes rflowctl
//! sends (as netlink-packet-core `Nla`s).

use netlink_packet_core::{Emitable, Nla, NlasIterator, NLA_F_NESTED, NLA_TYPE_MASK};

use crate::uapi;

/// One received attribute: its type (flags masked off) and payload.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'a> {
    pub kind: u16,
    pub value: &'a [u8],
}

/// The attributes of `buf`, in order. A malformed header ends the walk with an error; the
/// caller skips the types it does not know (pad attributes, attributes of newer kernels).
pub fn walk(buf: &[u8]) -> impl Iterator<Item = Result<Attr<'_>, String>> {
    NlasIterator::new(buf).map(|nla| {
        let nla = nla.map_err(|e| e.to_string())?;
        let kind = nla.kind() & NLA_TYPE_MASK;
        let len = usize::from(nla.length());
        let whole: &[u8] = nla.into_inner();
        // new_checked() made sure that 4 <= len <= whole.len().
        let value = whole.get(4..len).ok_or("attribute length out of bounds")?;
        Ok(Attr { kind, value })
    })
}

impl<'a> Attr<'a> {
    fn wrong_length(&self, what: &str, expected: usize) -> String {
        format!(
            "{what} (type {}) has {} bytes, expected {expected}",
            self.kind,
            self.value.len()
        )
    }

    fn exact<const N: usize>(&self, what: &str) -> Result<[u8; N], String> {
        self.value
            .try_into()
            .map_err(|_| self.wrong_length(what, N))
    }

    pub fn u8(&self, what: &str) -> Result<u8, String> {
        Ok(self.exact::<1>(what)?[0])
    }

    pub fn u16(&self, what: &str) -> Result<u16, String> {
        Ok(u16::from_ne_bytes(self.exact(what)?))
    }

    pub fn be16(&self, what: &str) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.exact(what)?))
    }

    pub fn u32(&self, what: &str) -> Result<u32, String> {
        Ok(u32::from_ne_bytes(self.exact(what)?))
    }

    /// A u64 (`nla_put_u64_64bit`: the payload may be 8-byte aligned or not).
    pub fn u64(&self, what: &str) -> Result<u64, String> {
        Ok(u64::from_ne_bytes(self.exact(what)?))
    }

    /// A `struct rflow_stats` (RFLOW_A_STATS, RFLOW_A_HW_STATS, RFLOW_FTS_A_STATS,
    /// RFLOW_FTS_A_HW_STATS), copied out of the payload, which the kernel aligns to 4 bytes
    /// only.
    pub fn stats(&self, what: &str) -> Result<uapi::RflowStats, String> {
        uapi::RflowStats::from_ne_bytes(self.value)
            .ok_or_else(|| self.wrong_length(what, uapi::RflowStats::SIZE))
    }

    /// A NUL-terminated string (`nla_put_string`); what follows the first NUL is ignored.
    pub fn string(&self) -> String {
        let end = self
            .value
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.value.len());
        String::from_utf8_lossy(&self.value[..end]).into_owned()
    }
}

/// The attributes rflowctl puts in its requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReqAttr {
    Ufid([u8; uapi::RFLOW_UFID_LEN]),
    UfidFlags(u32),
    /// RFLOW_A_FLOWTABLE: a nest of the three below.
    Flowtable(Vec<ReqAttr>),
    FtFamily(u8),
    FtTable(String),
    FtName(String),
}

impl Nla for ReqAttr {
    fn value_len(&self) -> usize {
        match self {
            ReqAttr::Ufid(u) => u.len(),
            ReqAttr::UfidFlags(_) => 4,
            ReqAttr::Flowtable(nest) => nest.as_slice().buffer_len(),
            ReqAttr::FtFamily(_) => 1,
            ReqAttr::FtTable(s) | ReqAttr::FtName(s) => s.len() + 1,
        }
    }

    fn kind(&self) -> u16 {
        match self {
            ReqAttr::Ufid(_) => uapi::RFLOW_A_UFID,
            ReqAttr::UfidFlags(_) => uapi::RFLOW_A_UFID_FLAGS,
            ReqAttr::Flowtable(_) => uapi::RFLOW_A_FLOWTABLE | NLA_F_NESTED,
            ReqAttr::FtFamily(_) => uapi::RFLOW_FT_A_FAMILY,
            ReqAttr::FtTable(_) => uapi::RFLOW_FT_A_TABLE,
            ReqAttr::FtName(_) => uapi::RFLOW_FT_A_NAME,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            ReqAttr::Ufid(u) => buffer[..u.len()].copy_from_slice(u),
            ReqAttr::UfidFlags(v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            ReqAttr::Flowtable(nest) => nest.as_slice().emit(buffer),
            ReqAttr::FtFamily(v) => buffer[0] = *v,
            ReqAttr::FtTable(s) | ReqAttr::FtName(s) => {
                buffer[..s.len()].copy_from_slice(s.as_bytes());
                buffer[s.len()] = 0;
            }
        }
    }
}

/// Serializes `attrs` as a request payload.
pub fn emit_all(attrs: &[ReqAttr]) -> Vec<u8> {
    let mut buf = vec![0u8; attrs.buffer_len()];
    attrs.emit(&mut buf);
    buf
}

/// Builds attribute streams as the kernel's `nla_put*()` do, for tests. The u64s of
/// RFLOW_A_FT_STATS are put with `nla_put_u64_64bit()`: see `padded()`.
#[cfg(test)]
#[derive(Default)]
pub struct Builder {
    pub buf: Vec<u8>,
    nests: Vec<usize>,
    /// With `pad64`: the offset of the stream from an 8-byte aligned start (the skb's data).
    base: usize,
    /// Whether u64s are 8-byte aligned with pad attributes, as on architectures without
    /// efficient unaligned access.
    pad64: bool,
}

#[cfg(test)]
impl Builder {
    /// A builder whose `u64_64bit()` adds pad attributes where a kernel without efficient
    /// unaligned access would, for a stream `base` bytes from an 8-byte aligned start (20 for a
    /// generic netlink message's attributes: after its netlink and genetlink headers).
    pub fn padded(base: usize) -> Self {
        Builder {
            base,
            pad64: true,
            ..Default::default()
        }
    }

    pub fn put(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        let len = 4 + value.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
        self
    }

    pub fn u8(&mut self, kind: u16, v: u8) -> &mut Self {
        self.put(kind, &[v])
    }

    pub fn u16(&mut self, kind: u16, v: u16) -> &mut Self {
        self.put(kind, &v.to_ne_bytes())
    }

    pub fn be16(&mut self, kind: u16, v: u16) -> &mut Self {
        self.put(kind, &v.to_be_bytes())
    }

    pub fn u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.put(kind, &v.to_ne_bytes())
    }

    pub fn string(&mut self, kind: u16, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.put(kind, &v)
    }

    /// `nla_put_u64_64bit()`: a zero-length `pad` attribute first if the value would not be
    /// 8-byte aligned (only when `padded()`).
    pub fn u64_64bit(&mut self, kind: u16, v: u64, pad: u16) -> &mut Self {
        if self.pad64 && !(self.base + self.buf.len() + 4).is_multiple_of(8) {
            self.put(pad, &[]);
        }
        self.put(kind, &v.to_ne_bytes())
    }

    pub fn nest_start(&mut self, kind: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.put(kind | NLA_F_NESTED, &[])
    }

    pub fn nest_end(&mut self) -> &mut Self {
        let start = self.nests.pop().expect("nest_end without nest_start");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_and_skips_nothing_itself() {
        let mut b = Builder::default();
        b.u8(7, 1).string(3, "filter").u32(9, 42);
        let got: Vec<_> = walk(&b.buf).map(|a| a.unwrap()).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].u8("x").unwrap(), 1);
        assert_eq!(got[1].string(), "filter");
        assert_eq!(got[2].u32("x").unwrap(), 42);
        assert!(got[2]
            .u16("thing")
            .unwrap_err()
            .contains("thing (type 9) has 4 bytes"));
    }

    #[test]
    fn truncated_attribute_is_an_error() {
        let mut b = Builder::default();
        b.u32(9, 42);
        let short = &b.buf[..6];
        let got: Vec<_> = walk(short).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
    }

    #[test]
    fn nested_flag_is_masked() {
        let mut b = Builder::default();
        b.nest_start(4).u8(1, 2).nest_end();
        let a = walk(&b.buf).next().unwrap().unwrap();
        assert_eq!(a.kind, 4);
        assert_eq!(a.value.len(), 8);
    }

    #[test]
    fn u64s_padded_as_the_kernel_does() {
        // Unpadded: where they fall.
        let mut b = Builder::default();
        b.u64_64bit(5, 7, 1);
        assert_eq!(b.buf.len(), 12);
        // At 20 bytes from an aligned start, the payload of a first u64 would be at 24:
        // aligned, no pad; the second's at 36: a pad first.
        let mut b = Builder::padded(20);
        b.u64_64bit(5, 7, 1).u64_64bit(6, u64::MAX, 1);
        let got: Vec<_> = walk(&b.buf).map(|a| a.unwrap()).collect();
        let kinds: Vec<u16> = got.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [5, 1, 6]);
        assert!(got[1].value.is_empty());
        assert_eq!(got[0].u64("x").unwrap(), 7);
        assert_eq!(got[2].u64("x").unwrap(), u64::MAX);
        assert!(got[0]
            .u32("x")
            .unwrap_err()
            .contains("has 8 bytes, expected 4"));
    }

    #[test]
    fn request_attributes_are_kernel_layout() {
        let attrs = [
            ReqAttr::UfidFlags(uapi::RFLOW_UFID_F_TERSE),
            ReqAttr::Flowtable(vec![
                ReqAttr::FtFamily(uapi::NFPROTO_INET),
                ReqAttr::FtTable("filter".into()),
                ReqAttr::FtName("f1".into()),
            ]),
        ];
        let mut want = Builder::default();
        want.u32(uapi::RFLOW_A_UFID_FLAGS, 3)
            .nest_start(uapi::RFLOW_A_FLOWTABLE)
            .u8(uapi::RFLOW_FT_A_FAMILY, 1)
            .string(uapi::RFLOW_FT_A_TABLE, "filter")
            .string(uapi::RFLOW_FT_A_NAME, "f1")
            .nest_end();
        assert_eq!(emit_all(&attrs), want.buf);
    }
}
