//! BTF for the kernel: the object's types re-encoded into a blob that
//! `BPF_BTF_LOAD` accepts, sanitized for the running kernel, with the strings
//! that program line info refers to.

use std::collections::HashMap;

use oxbpf_object::btf::{Btf, BtfType};
use oxbpf_object::{MapOrigin, Object};

/// A string table under construction (offset 0 is the empty string).
#[derive(Clone, Debug)]
pub struct Strings {
    bytes: Vec<u8>,
    index: HashMap<String, u32>,
}

impl Default for Strings {
    fn default() -> Strings {
        Strings {
            bytes: vec![0],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl Strings {
    /// The offset of `s`, added if new.
    pub fn add(&mut self, s: &str) -> u32 {
        if let Some(&off) = self.index.get(s) {
            return off;
        }
        let off = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        self.index.insert(s.to_string(), off);
        off
    }
}

/// What sanitizing changed, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fixups {
    /// Extern variables (`linkage 2`) turned into allocated globals.
    pub extern_vars: u32,
    /// Data sections whose size or variable offsets came from the object.
    pub datasecs: u32,
    /// Data sections the kernel cannot take (no size), replaced by an int.
    pub replaced: u32,
    /// Unnamed function parameters given names.
    pub param_names: u32,
}

/// The size of type `id`, refusing cycles and deep chains (untrusted BTF
/// can make an array its own element).
fn size_of(btf: &Btf, id: u32, depth: u32) -> Option<u64> {
    if depth > 32 {
        return None;
    }
    Some(match btf.get(id)? {
        BtfType::Int { size, .. }
        | BtfType::Struct { size, .. }
        | BtfType::Union { size, .. }
        | BtfType::Enum { size, .. }
        | BtfType::Enum64 { size, .. }
        | BtfType::Float { size, .. }
        | BtfType::Datasec { size, .. } => u64::from(*size),
        BtfType::Ptr { .. } => 8,
        BtfType::Array { elem, nelems, .. } => {
            size_of(btf, *elem, depth + 1)?.checked_mul(u64::from(*nelems))?
        }
        BtfType::Typedef { type_id, .. }
        | BtfType::Volatile { type_id }
        | BtfType::Const { type_id }
        | BtfType::Restrict { type_id }
        | BtfType::TypeTag { type_id, .. }
        | BtfType::Var { type_id, .. } => size_of(btf, *type_id, depth + 1)?,
        _ => return None,
    })
}

/// Whether any two variables of a data section overlap.
fn overlapping(vars: &[oxbpf_object::btf::SecVar]) -> bool {
    vars.windows(2)
        .any(|w| w[0].offset.saturating_add(w[0].size) > w[1].offset)
}

/// A BTF blob ready for `BPF_BTF_LOAD`.
#[derive(Clone, Debug)]
pub struct Blob {
    /// The encoded BTF (header, types, strings).
    pub bytes: Vec<u8>,
    /// Offsets of strings added for line info, by text.
    pub strings: HashMap<String, u32>,
    /// What sanitizing changed.
    pub fixups: Fixups,
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

struct Out {
    types: Vec<u8>,
}

impl Out {
    fn word(&mut self, v: u32) {
        self.types.extend_from_slice(&v.to_le_bytes());
    }

    fn head(&mut self, name: u32, kind: u32, vlen: usize, kflag: bool, size_or_type: u32) {
        self.word(name);
        self.word((vlen as u32 & 0xffff) | (kind << 24) | (u32::from(kflag) << 31));
        self.word(size_or_type);
    }
}

/// Sanitizes a copy of the object's BTF for the kernel: extern variables
/// become allocated globals, and data sections get the sizes and variable
/// offsets of the object's global-data maps (clang leaves some as zero).
pub fn sanitize(obj: &Object, btf: &Btf) -> (Vec<BtfType>, Fixups) {
    let mut fixups = Fixups::default();
    let mut types: Vec<BtfType> = (0..btf.len() as u32)
        .map(|id| btf.get(id).cloned().unwrap_or(BtfType::Void))
        .collect();
    let var_names: Vec<String> = types.iter().map(|t| t.name().to_string()).collect();
    let var_sizes: Vec<u32> = types
        .iter()
        .map(|t| match t {
            BtfType::Var { type_id, .. } => size_of(btf, *type_id, 0).unwrap_or(0) as u32,
            _ => 0,
        })
        .collect();
    // Functions' parameters need names in the kernel; -O0 builds can lack them.
    let protos: Vec<u32> = types
        .iter()
        .filter_map(|t| match t {
            BtfType::Func { proto, .. } => Some(*proto),
            _ => None,
        })
        .collect();
    for id in protos {
        if let Some(BtfType::FuncProto { params, .. }) = types.get_mut(id as usize) {
            for (i, p) in params.iter_mut().enumerate() {
                if p.name.is_empty() && p.type_id != 0 {
                    p.name = format!("arg{}", i + 1);
                    fixups.param_names += 1;
                }
            }
        }
    }
    for t in &mut types {
        if let BtfType::Var { linkage, .. } = t {
            if *linkage > 1 {
                *linkage = 1;
                fixups.extern_vars += 1;
            }
        }
        // A kfunc extern: the kernel takes only static and global functions;
        // the call names the kernel's own BTF id, not this one.
        if let BtfType::Func { linkage, .. } = t {
            if *linkage > 1 {
                *linkage = 0;
                fixups.extern_vars += 1;
            }
        }
    }
    for t in &mut types {
        let BtfType::Datasec { name, size, vars } = t else {
            continue;
        };
        if name == ".ksyms" {
            // __ksym externs (functions among them) have no data: keep the
            // id, lose the kind, as for empty sections.
            *t = BtfType::Int {
                name: String::new(),
                size: 1,
                encoding: 0,
                offset: 0,
                bits: 8,
            };
            fixups.replaced += 1;
            continue;
        }
        let section_map = obj.maps.iter().find(
            |m| matches!(&m.origin, MapOrigin::GlobalData { section, .. } if section == name),
        );
        let mut changed = false;
        if *size == 0 {
            if let Some(m) = section_map {
                *size = m.value_size;
                changed = true;
            }
        }
        for v in vars.iter_mut() {
            let Some(vname) = var_names.get(v.type_id as usize) else {
                continue;
            };
            if let Some(g) = obj.globals.iter().find(|g| {
                &g.name == vname && section_map.is_some_and(|m| obj.maps[g.map].name == m.name)
            }) {
                if v.offset != g.offset || v.size != g.size {
                    v.offset = g.offset;
                    v.size = g.size;
                    changed = true;
                }
            }
        }
        vars.sort_by_key(|v| v.offset);
        if section_map.is_none() && overlapping(vars) {
            // `.maps` and legacy `maps`: clang leaves the offsets to the
            // loader. Only their consistency matters to the kernel, so lay
            // the variables out one after another.
            let mut at = 0u32;
            for v in vars.iter_mut() {
                let size = var_sizes.get(v.type_id as usize).copied().unwrap_or(v.size);
                v.size = v.size.max(size);
                v.offset = at.saturating_add(7) & !7;
                at = v.offset.saturating_add(v.size);
            }
            *size = (*size).max(at);
            changed = true;
        }
        if *size == 0 {
            *size = vars
                .iter()
                .map(|v| v.offset.saturating_add(v.size))
                .max()
                .unwrap_or(0);
            changed = true;
        }
        fixups.datasecs += u32::from(changed);
        if *size == 0 {
            // An empty section the kernel would refuse: keep the id, lose the kind.
            *t = BtfType::Int {
                name: String::new(),
                size: 1,
                encoding: 0,
                offset: 0,
                bits: 8,
            };
            fixups.replaced += 1;
        }
    }
    (types, fixups)
}

/// Encodes the object's BTF for `BPF_BTF_LOAD`, with the strings of every
/// program's line info added to the string table.
pub fn encode(obj: &Object, btf: &Btf) -> Blob {
    let (types, fixups) = sanitize(obj, btf);
    let mut strings = Strings::default();
    let mut line_strings = HashMap::new();
    for p in &obj.programs {
        for l in &p.line_info {
            for s in [&l.file, &l.source] {
                let off = strings.add(s);
                line_strings.insert(s.clone(), off);
            }
        }
    }
    let mut out = Out { types: Vec::new() };
    for t in types.iter().skip(1) {
        encode_type(&mut out, &mut strings, t);
    }
    let mut bytes = Vec::with_capacity(24 + out.types.len() + strings.bytes.len());
    bytes.extend_from_slice(&0xeb9fu16.to_le_bytes());
    bytes.push(1); // version
    bytes.push(0); // flags
    for v in [
        24u32,
        0,
        out.types.len() as u32,
        out.types.len() as u32,
        strings.bytes.len() as u32,
    ] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(&out.types);
    bytes.extend_from_slice(&strings.bytes);
    Blob {
        bytes,
        strings: line_strings,
        fixups,
    }
}

fn encode_type(out: &mut Out, s: &mut Strings, t: &BtfType) {
    match t {
        BtfType::Void => out.head(0, KIND_INT, 0, false, 0),
        BtfType::Int {
            name,
            size,
            encoding,
            offset,
            bits,
        } => {
            out.head(s.add(name), KIND_INT, 0, false, *size);
            out.word((u32::from(*encoding) << 24) | (u32::from(*offset) << 16) | u32::from(*bits));
        }
        BtfType::Ptr { type_id } => out.head(0, KIND_PTR, 0, false, *type_id),
        BtfType::Array {
            elem,
            index,
            nelems,
        } => {
            out.head(0, KIND_ARRAY, 0, false, 0);
            out.word(*elem);
            out.word(*index);
            out.word(*nelems);
        }
        BtfType::Struct {
            name,
            size,
            members,
        }
        | BtfType::Union {
            name,
            size,
            members,
        } => {
            let kind = if matches!(t, BtfType::Struct { .. }) {
                KIND_STRUCT
            } else {
                KIND_UNION
            };
            let bitfields = members.iter().any(|m| m.bitfield_size != 0);
            out.head(s.add(name), kind, members.len(), bitfields, *size);
            for m in members {
                out.word(s.add(&m.name));
                out.word(m.type_id);
                out.word(if bitfields {
                    (m.bitfield_size << 24) | (m.bit_offset & 0xff_ffff)
                } else {
                    m.bit_offset
                });
            }
        }
        BtfType::Enum {
            name,
            size,
            signed,
            values,
        } => {
            out.head(s.add(name), KIND_ENUM, values.len(), *signed, *size);
            for (n, v) in values {
                out.word(s.add(n));
                out.word(*v as u32);
            }
        }
        BtfType::Enum64 {
            name,
            size,
            signed,
            values,
        } => {
            out.head(s.add(name), KIND_ENUM64, values.len(), *signed, *size);
            for (n, v) in values {
                out.word(s.add(n));
                out.word(*v as u64 as u32);
                out.word((*v as u64 >> 32) as u32);
            }
        }
        BtfType::Fwd { name, is_union } => out.head(s.add(name), KIND_FWD, 0, *is_union, 0),
        BtfType::Typedef { name, type_id } => {
            out.head(s.add(name), KIND_TYPEDEF, 0, false, *type_id)
        }
        BtfType::Volatile { type_id } => out.head(0, KIND_VOLATILE, 0, false, *type_id),
        BtfType::Const { type_id } => out.head(0, KIND_CONST, 0, false, *type_id),
        BtfType::Restrict { type_id } => out.head(0, KIND_RESTRICT, 0, false, *type_id),
        BtfType::Func {
            name,
            proto,
            linkage,
        } => out.head(s.add(name), KIND_FUNC, usize::from(*linkage), false, *proto),
        BtfType::FuncProto { ret, params } => {
            out.head(0, KIND_FUNC_PROTO, params.len(), false, *ret);
            for p in params {
                out.word(s.add(&p.name));
                out.word(p.type_id);
            }
        }
        BtfType::Var {
            name,
            type_id,
            linkage,
        } => {
            out.head(s.add(name), KIND_VAR, 0, false, *type_id);
            out.word(*linkage);
        }
        BtfType::Datasec { name, size, vars } => {
            out.head(s.add(name), KIND_DATASEC, vars.len(), false, *size);
            for v in vars {
                out.word(v.type_id);
                out.word(v.offset);
                out.word(v.size);
            }
        }
        BtfType::Float { name, size } => out.head(s.add(name), KIND_FLOAT, 0, false, *size),
        BtfType::DeclTag {
            name,
            type_id,
            component_idx,
        } => {
            out.head(s.add(name), KIND_DECL_TAG, 0, false, *type_id);
            out.word(*component_idx as u32);
        }
        BtfType::TypeTag { name, type_id } => {
            out.head(s.add(name), KIND_TYPE_TAG, 0, false, *type_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Object {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/elf")
            .join(name);
        Object::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn encoded_btf_parses_back_to_the_same_types() {
        for name in ["maps.o", "packet.o", "tracer.o", "core.o"] {
            let obj = fixture(name);
            let btf = obj.btf.as_ref().unwrap();
            let blob = encode(&obj, btf);
            let back = Btf::parse(&blob.bytes).unwrap();
            let (want, _) = sanitize(&obj, btf);
            assert_eq!(back.len(), want.len(), "{name}");
            for (id, t) in back.types() {
                assert_eq!(Some(t), want.get(id as usize), "{name}: type [{id}]");
            }
        }
    }

    #[test]
    fn externs_become_globals_and_datasecs_get_sizes() {
        let obj = fixture("globals.o");
        let (types, fixups) = sanitize(&obj, obj.btf.as_ref().unwrap());
        assert!(fixups.extern_vars > 0, "globals.o has .kconfig externs");
        for t in &types {
            if let BtfType::Var { linkage, .. } = t {
                assert!(*linkage <= 1);
            }
            if let BtfType::Datasec { size, .. } = t {
                assert!(*size > 0);
            }
        }
        let blob = encode(&obj, obj.btf.as_ref().unwrap());
        for p in &obj.programs {
            for l in &p.line_info {
                assert!(blob.strings.contains_key(&l.source));
            }
        }
    }

    #[test]
    fn corrupted_objects_that_still_parse_encode_without_panicking() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/maps.o");
        let bytes = std::fs::read(path).unwrap();
        let mut encoded = 0;
        // A deterministic walk of single-byte corruptions over the file.
        let mut seed = 0x9e37_79b9_u32;
        for _ in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let mut b = bytes.clone();
            let at = seed as usize % b.len();
            b[at] = b[at].wrapping_add((seed >> 24) as u8 | 1);
            let Ok(obj) = Object::parse(&b) else { continue };
            if let Some(btf) = &obj.btf {
                let blob = encode(&obj, btf);
                assert!(blob.bytes.len() >= 24);
                encoded += 1;
            }
        }
        assert!(encoded > 100, "{encoded}");
    }
}
