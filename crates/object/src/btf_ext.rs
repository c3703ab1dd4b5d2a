//! `.BTF.ext`: per-section function info, line info and CO-RE relocation records.

use std::collections::BTreeMap;

use crate::btf::{string_at, Reader, TypeId};
use crate::error::ObjectError;

/// A function's BTF type, by instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    /// Instruction index within the section.
    pub insn: usize,
    pub type_id: TypeId,
}

/// Source position of an instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// Instruction index within the section (or, once linked, the program).
    pub insn: usize,
    pub file: String,
    /// The text of the source line.
    pub source: String,
    pub line: u32,
    pub column: u32,
}

/// The kinds of CO-RE relocation (`enum bpf_core_relo_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreKind {
    FieldByteOffset,
    FieldByteSize,
    FieldExists,
    FieldSigned,
    FieldLshiftU64,
    FieldRshiftU64,
    TypeIdLocal,
    TypeIdTarget,
    TypeExists,
    TypeSize,
    EnumvalExists,
    EnumvalValue,
    TypeMatches,
}

impl CoreKind {
    fn from_u32(k: u32) -> Option<CoreKind> {
        use CoreKind::*;
        Some(match k {
            0 => FieldByteOffset,
            1 => FieldByteSize,
            2 => FieldExists,
            3 => FieldSigned,
            4 => FieldLshiftU64,
            5 => FieldRshiftU64,
            6 => TypeIdLocal,
            7 => TypeIdTarget,
            8 => TypeExists,
            9 => TypeSize,
            10 => EnumvalExists,
            11 => EnumvalValue,
            12 => TypeMatches,
            _ => return None,
        })
    }

    /// libbpf's short name for the kind.
    pub fn name(self) -> &'static str {
        use CoreKind::*;
        match self {
            FieldByteOffset => "byte_off",
            FieldByteSize => "byte_sz",
            FieldExists => "field_exists",
            FieldSigned => "signed",
            FieldLshiftU64 => "lshift_u64",
            FieldRshiftU64 => "rshift_u64",
            TypeIdLocal => "local_type_id",
            TypeIdTarget => "target_type_id",
            TypeExists => "type_exists",
            TypeSize => "type_size",
            EnumvalExists => "enumval_exists",
            EnumvalValue => "enumval_value",
            TypeMatches => "type_matches",
        }
    }
}

/// One CO-RE relocation record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// Instruction index within the section (or, once linked, the program).
    pub insn: usize,
    /// The local (compile-time) root type.
    pub type_id: TypeId,
    /// The access string, e.g. `0:1:2`.
    pub access: String,
    pub kind: CoreKind,
}

/// Everything `.BTF.ext` says, keyed by section name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfExt {
    pub func_info: BTreeMap<String, Vec<FuncInfo>>,
    pub line_info: BTreeMap<String, Vec<LineInfo>>,
    pub core_relos: BTreeMap<String, Vec<CoreRelo>>,
}

impl BtfExt {
    /// Parses `.BTF.ext`; names are looked up in the `.BTF` string table `strings`.
    pub fn parse(data: &[u8], btf_strings: &[u8]) -> Result<BtfExt, ObjectError> {
        if data.len() < 8 {
            return Err(ObjectError::Btf(".BTF.ext header truncated".into()));
        }
        if u16::from_le_bytes([data[0], data[1]]) != 0xeb9f {
            return Err(ObjectError::Btf(".BTF.ext: bad magic".into()));
        }
        let mut r = Reader::new(data);
        r.pos = 4;
        let hdr_len = r.u32(".BTF.ext header")? as usize;
        let mut fields = Vec::new();
        while r.pos + 4 <= hdr_len.min(data.len()) {
            fields.push(r.u32(".BTF.ext header")? as usize);
        }
        let sub = |i: usize, what: &str| -> Result<&[u8], ObjectError> {
            let (Some(&off), Some(&len)) = (fields.get(i), fields.get(i + 1)) else {
                return Ok(&[]);
            };
            hdr_len
                .checked_add(off)
                .and_then(|s| s.checked_add(len).map(|e| (s, e)))
                .and_then(|(s, e)| data.get(s..e))
                .ok_or_else(|| {
                    ObjectError::Btf(format!(
                        ".BTF.ext {what} ({off}+{len}) lies outside the section"
                    ))
                })
        };
        let mut ext = BtfExt::default();
        for (sec, recs) in records(sub(0, "func_info")?, 8, btf_strings, "func_info")? {
            let v = recs
                .iter()
                .map(|r| FuncInfo {
                    insn: r[0] as usize / 8,
                    type_id: r[1],
                })
                .collect();
            ext.func_info.insert(sec, v);
        }
        for (sec, recs) in records(sub(2, "line_info")?, 16, btf_strings, "line_info")? {
            let mut v = Vec::with_capacity(recs.len());
            for r in recs {
                v.push(LineInfo {
                    insn: r[0] as usize / 8,
                    file: string_at(btf_strings, r[1])?,
                    source: string_at(btf_strings, r[2])?,
                    line: r[3] >> 10,
                    column: r[3] & 0x3ff,
                });
            }
            ext.line_info.insert(sec, v);
        }
        for (sec, recs) in records(sub(4, "core_relo")?, 16, btf_strings, "core_relo")? {
            let mut v = Vec::with_capacity(recs.len());
            for r in recs {
                let kind = CoreKind::from_u32(r[3]).ok_or_else(|| {
                    ObjectError::Btf(format!("unknown CO-RE relocation kind {}", r[3]))
                })?;
                v.push(CoreRelo {
                    insn: r[0] as usize / 8,
                    type_id: r[1],
                    access: string_at(btf_strings, r[2])?,
                    kind,
                });
            }
            ext.core_relos.insert(sec, v);
        }
        Ok(ext)
    }
}

/// One section's records, each as its first words.
type SectionRecords = (String, Vec<Vec<u32>>);

/// Reads one info subsection: a record size, then per section a name, a count
/// and that many records. Each record is returned as its first words.
fn records(
    data: &[u8],
    min_size: usize,
    strings: &[u8],
    what: &str,
) -> Result<Vec<SectionRecords>, ObjectError> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Reader::new(data);
    let rec_size = r.u32(what)? as usize;
    if rec_size < min_size || rec_size % 4 != 0 {
        return Err(ObjectError::Btf(format!(
            "{what}: record size {rec_size} is invalid"
        )));
    }
    let mut out = Vec::new();
    while r.pos < data.len() {
        let sec = string_at(strings, r.u32(what)?)?;
        let n = r.u32(what)? as usize;
        if n.saturating_mul(rec_size) > data.len() - r.pos {
            return Err(ObjectError::Btf(format!(
                "{what} for `{sec}`: {n} records overrun the section"
            )));
        }
        let mut recs = Vec::with_capacity(n);
        for _ in 0..n {
            let start = r.pos;
            let mut words = Vec::with_capacity(min_size / 4);
            for _ in 0..min_size / 4 {
                words.push(r.u32(what)?);
            }
            r.pos = start + rec_size;
            recs.push(words);
        }
        out.push((sec, recs));
    }
    Ok(out)
}
