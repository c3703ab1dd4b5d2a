//! BTF: the BPF Type Format of `.BTF` sections and raw BTF files (such as
//! `/sys/kernel/btf/vmlinux`).

use std::fmt::Write as _;

use crate::error::ObjectError;

/// A BTF type id; 0 is `void`.
pub type TypeId = u32;

/// A struct or union member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub type_id: TypeId,
    /// Offset from the start of the aggregate, in bits.
    pub bit_offset: u32,
    /// Width of a bitfield in bits; 0 for ordinary members.
    pub bitfield_size: u32,
}

/// A named parameter of a function prototype.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub type_id: TypeId,
}

/// A variable placed in a data section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecVar {
    pub type_id: TypeId,
    pub offset: u32,
    pub size: u32,
}

/// One BTF type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BtfType {
    /// Type id 0.
    Void,
    Int {
        name: String,
        size: u32,
        /// Bit 0: signed, bit 1: char, bit 2: bool.
        encoding: u8,
        offset: u8,
        bits: u8,
    },
    Ptr {
        type_id: TypeId,
    },
    Array {
        elem: TypeId,
        index: TypeId,
        nelems: u32,
    },
    Struct {
        name: String,
        size: u32,
        members: Vec<Member>,
    },
    Union {
        name: String,
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        name: String,
        size: u32,
        signed: bool,
        values: Vec<(String, i64)>,
    },
    Fwd {
        name: String,
        is_union: bool,
    },
    Typedef {
        name: String,
        type_id: TypeId,
    },
    Volatile {
        type_id: TypeId,
    },
    Const {
        type_id: TypeId,
    },
    Restrict {
        type_id: TypeId,
    },
    Func {
        name: String,
        proto: TypeId,
        /// 0 static, 1 global, 2 extern.
        linkage: u16,
    },
    FuncProto {
        ret: TypeId,
        params: Vec<Param>,
    },
    Var {
        name: String,
        type_id: TypeId,
        /// 0 static, 1 global (allocated), 2 extern.
        linkage: u32,
    },
    Datasec {
        name: String,
        size: u32,
        vars: Vec<SecVar>,
    },
    Float {
        name: String,
        size: u32,
    },
    DeclTag {
        name: String,
        type_id: TypeId,
        component_idx: i32,
    },
    TypeTag {
        name: String,
        type_id: TypeId,
    },
    Enum64 {
        name: String,
        size: u32,
        signed: bool,
        values: Vec<(String, i64)>,
    },
}

impl BtfType {
    /// The kind's name as bpftool prints it (`STRUCT`, `INT`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            BtfType::Void => "UNKN",
            BtfType::Int { .. } => "INT",
            BtfType::Ptr { .. } => "PTR",
            BtfType::Array { .. } => "ARRAY",
            BtfType::Struct { .. } => "STRUCT",
            BtfType::Union { .. } => "UNION",
            BtfType::Enum { .. } => "ENUM",
            BtfType::Fwd { .. } => "FWD",
            BtfType::Typedef { .. } => "TYPEDEF",
            BtfType::Volatile { .. } => "VOLATILE",
            BtfType::Const { .. } => "CONST",
            BtfType::Restrict { .. } => "RESTRICT",
            BtfType::Func { .. } => "FUNC",
            BtfType::FuncProto { .. } => "FUNC_PROTO",
            BtfType::Var { .. } => "VAR",
            BtfType::Datasec { .. } => "DATASEC",
            BtfType::Float { .. } => "FLOAT",
            BtfType::DeclTag { .. } => "DECL_TAG",
            BtfType::TypeTag { .. } => "TYPE_TAG",
            BtfType::Enum64 { .. } => "ENUM64",
        }
    }

    /// The type's name; empty for anonymous types and kinds without names.
    pub fn name(&self) -> &str {
        match self {
            BtfType::Int { name, .. }
            | BtfType::Struct { name, .. }
            | BtfType::Union { name, .. }
            | BtfType::Enum { name, .. }
            | BtfType::Fwd { name, .. }
            | BtfType::Typedef { name, .. }
            | BtfType::Func { name, .. }
            | BtfType::Var { name, .. }
            | BtfType::Datasec { name, .. }
            | BtfType::Float { name, .. }
            | BtfType::DeclTag { name, .. }
            | BtfType::TypeTag { name, .. }
            | BtfType::Enum64 { name, .. } => name,
            _ => "",
        }
    }

    /// Members of a struct or union.
    pub fn members(&self) -> Option<&[Member]> {
        match self {
            BtfType::Struct { members, .. } | BtfType::Union { members, .. } => Some(members),
            _ => None,
        }
    }

    /// Enumerators of an enum or enum64.
    pub fn enum_values(&self) -> Option<&[(String, i64)]> {
        match self {
            BtfType::Enum { values, .. } | BtfType::Enum64 { values, .. } => Some(values),
            _ => None,
        }
    }

    /// The type this one refers to, for pointers, modifiers, typedefs, vars and tags.
    fn referee(&self) -> Option<TypeId> {
        match *self {
            BtfType::Ptr { type_id }
            | BtfType::Typedef { type_id, .. }
            | BtfType::Volatile { type_id }
            | BtfType::Const { type_id }
            | BtfType::Restrict { type_id }
            | BtfType::Var { type_id, .. }
            | BtfType::TypeTag { type_id, .. } => Some(type_id),
            _ => None,
        }
    }
}

/// A parsed BTF blob.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Btf {
    /// Types indexed by id; index 0 is `Void`.
    types: Vec<BtfType>,
    /// The raw string table, which `.BTF.ext` refers into.
    strings: Vec<u8>,
}

const MAGIC: u16 = 0xeb9f;

fn err<T>(msg: impl Into<String>) -> Result<T, ObjectError> {
    Err(ObjectError::Btf(msg.into()))
}

/// Little-endian reads with bounds checks.
pub(crate) struct Reader<'a> {
    pub data: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, ObjectError> {
        let b = self
            .data
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| ObjectError::Btf(format!("{what}: truncated at byte {}", self.pos)))?;
        self.pos += 4;
        Ok(u32::from_le_bytes(b.try_into().expect("four bytes")))
    }
}

/// The NUL-terminated string at `off` of a string table.
pub(crate) fn string_at(strings: &[u8], off: u32) -> Result<String, ObjectError> {
    let tail = strings.get(off as usize..).ok_or_else(|| {
        ObjectError::Btf(format!(
            "string offset {off} is past the string table ({} bytes)",
            strings.len()
        ))
    })?;
    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
    Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
}

impl Btf {
    /// Parses a `.BTF` section or a raw BTF file.
    pub fn parse(data: &[u8]) -> Result<Btf, ObjectError> {
        if data.len() < 24 {
            return err(format!("header truncated ({} bytes)", data.len()));
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic != MAGIC {
            if u16::from_be_bytes([data[0], data[1]]) == MAGIC {
                return err("big-endian BTF is not supported");
            }
            return err(format!("bad magic {magic:#06x}"));
        }
        let mut r = Reader::new(data);
        r.pos = 4;
        let hdr_len = r.u32("header")? as usize;
        let type_off = r.u32("header")? as usize;
        let type_len = r.u32("header")? as usize;
        let str_off = r.u32("header")? as usize;
        let str_len = r.u32("header")? as usize;
        let section = |off: usize, len: usize, what: &str| {
            hdr_len
                .checked_add(off)
                .and_then(|s| s.checked_add(len).map(|e| (s, e)))
                .and_then(|(s, e)| data.get(s..e))
                .ok_or_else(|| {
                    ObjectError::Btf(format!(
                        "{what} section ({off}+{len}) lies outside the {} bytes",
                        data.len()
                    ))
                })
        };
        let types = section(type_off, type_len, "type")?;
        let strings = section(str_off, str_len, "string")?;
        let mut btf = Btf {
            types: vec![BtfType::Void],
            strings: strings.to_vec(),
        };
        let mut r = Reader::new(types);
        while r.pos < types.len() {
            let id = btf.types.len();
            let t = parse_type(&mut r, strings).map_err(|e| match e {
                ObjectError::Btf(m) => ObjectError::Btf(format!("type [{id}]: {m}")),
                other => other,
            })?;
            btf.types.push(t);
        }
        Ok(btf)
    }

    /// The raw string table.
    pub fn strings(&self) -> &[u8] {
        &self.strings
    }

    /// The type with id `id`.
    pub fn get(&self, id: TypeId) -> Option<&BtfType> {
        self.types.get(id as usize)
    }

    /// Number of types including `void`.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether only `void` is present.
    pub fn is_empty(&self) -> bool {
        self.types.len() <= 1
    }

    /// All types with their ids, `void` excluded.
    pub fn types(&self) -> impl Iterator<Item = (TypeId, &BtfType)> {
        self.types
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, t)| (i as TypeId, t))
    }

    /// Follows typedefs, modifiers and type tags to the underlying type.
    pub fn skip_mods(&self, mut id: TypeId) -> TypeId {
        for _ in 0..64 {
            match self.get(id) {
                Some(
                    BtfType::Typedef { type_id, .. }
                    | BtfType::Volatile { type_id }
                    | BtfType::Const { type_id }
                    | BtfType::Restrict { type_id }
                    | BtfType::TypeTag { type_id, .. },
                ) => id = *type_id,
                _ => return id,
            }
        }
        id
    }

    /// Size in bytes of a type, if it has one.
    pub fn size_of(&self, id: TypeId) -> Option<u64> {
        self.size_of_depth(id, 0)
    }

    /// [`Btf::size_of`], giving up (`None`) on chains deeper than any real
    /// type has, such as the cycles of a corrupted file.
    fn size_of_depth(&self, id: TypeId, depth: u32) -> Option<u64> {
        if depth > 32 {
            return None;
        }
        let id = self.skip_mods(id);
        Some(match self.get(id)? {
            BtfType::Int { size, .. }
            | BtfType::Struct { size, .. }
            | BtfType::Union { size, .. }
            | BtfType::Enum { size, .. }
            | BtfType::Enum64 { size, .. }
            | BtfType::Float { size, .. }
            | BtfType::Datasec { size, .. } => *size as u64,
            BtfType::Ptr { .. } => 8,
            BtfType::Array { elem, nelems, .. } => self
                .size_of_depth(*elem, depth + 1)?
                .checked_mul(*nelems as u64)?,
            BtfType::Var { type_id, .. } => self.size_of_depth(*type_id, depth + 1)?,
            _ => return None,
        })
    }

    /// The first type named `name` whose kind satisfies `pred`.
    pub fn find(&self, name: &str, pred: impl Fn(&BtfType) -> bool) -> Option<TypeId> {
        self.types()
            .find(|(_, t)| t.name() == name && pred(t))
            .map(|(i, _)| i)
    }

    /// A C-like spelling of a type: `struct foo`, `unsigned int`, `char[16]`, `u32 *`.
    pub fn type_name(&self, id: TypeId) -> String {
        self.type_name_depth(id, 0)
    }

    fn type_name_depth(&self, id: TypeId, depth: u32) -> String {
        if depth > 16 {
            return "...".into();
        }
        let Some(t) = self.get(id) else {
            return format!("<bad type {id}>");
        };
        let anon = |n: &str| {
            if n.is_empty() {
                "(anon)".to_string()
            } else {
                n.to_string()
            }
        };
        match t {
            BtfType::Void => "void".into(),
            BtfType::Int { name, .. }
            | BtfType::Float { name, .. }
            | BtfType::Typedef { name, .. } => name.clone(),
            BtfType::Struct { name, .. } => format!("struct {}", anon(name)),
            BtfType::Union { name, .. } => format!("union {}", anon(name)),
            BtfType::Enum { name, .. } | BtfType::Enum64 { name, .. } => {
                format!("enum {}", anon(name))
            }
            BtfType::Fwd { name, is_union } => {
                format!("{} {name}", if *is_union { "union" } else { "struct" })
            }
            BtfType::Ptr { type_id } => format!("{} *", self.type_name_depth(*type_id, depth + 1)),
            BtfType::Const { type_id } => {
                format!("const {}", self.type_name_depth(*type_id, depth + 1))
            }
            BtfType::Volatile { type_id } => {
                format!("volatile {}", self.type_name_depth(*type_id, depth + 1))
            }
            BtfType::Restrict { type_id } => {
                format!("{} restrict", self.type_name_depth(*type_id, depth + 1))
            }
            BtfType::TypeTag { type_id, .. } => self.type_name_depth(*type_id, depth + 1),
            BtfType::Array { elem, nelems, .. } => {
                format!("{}[{nelems}]", self.type_name_depth(*elem, depth + 1))
            }
            BtfType::Func { name, .. } => format!("{name}()"),
            BtfType::FuncProto { .. } => "fn".into(),
            BtfType::Var { name, .. }
            | BtfType::Datasec { name, .. }
            | BtfType::DeclTag { name, .. } => name.clone(),
        }
    }

    /// Every type in the format of `bpftool btf dump file X format raw`.
    pub fn dump_raw(&self) -> String {
        let mut out = String::new();
        for (id, t) in self.types() {
            let name = if t.name().is_empty() {
                "(anon)"
            } else {
                t.name()
            };
            let _ = write!(out, "[{id}] {} '{name}'", t.kind_name());
            match t {
                BtfType::Void => {}
                BtfType::Int {
                    size,
                    encoding,
                    offset,
                    bits,
                    ..
                } => {
                    let enc = match encoding {
                        0 => "(none)",
                        1 => "SIGNED",
                        2 => "CHAR",
                        4 => "BOOL",
                        _ => "UNKN",
                    };
                    let _ = write!(
                        out,
                        " size={size} bits_offset={offset} nr_bits={bits} encoding={enc}"
                    );
                }
                BtfType::Ptr { type_id }
                | BtfType::Typedef { type_id, .. }
                | BtfType::Volatile { type_id }
                | BtfType::Const { type_id }
                | BtfType::Restrict { type_id }
                | BtfType::TypeTag { type_id, .. } => {
                    let _ = write!(out, " type_id={type_id}");
                }
                BtfType::Array {
                    elem,
                    index,
                    nelems,
                } => {
                    let _ = write!(
                        out,
                        " type_id={elem} index_type_id={index} nr_elems={nelems}"
                    );
                }
                BtfType::Struct { size, members, .. } | BtfType::Union { size, members, .. } => {
                    let _ = write!(out, " size={size} vlen={}", members.len());
                    for m in members {
                        let mname = if m.name.is_empty() { "(anon)" } else { &m.name };
                        let _ = write!(
                            out,
                            "\n\t'{mname}' type_id={} bits_offset={}",
                            m.type_id, m.bit_offset
                        );
                        if m.bitfield_size != 0 {
                            let _ = write!(out, " bitfield_size={}", m.bitfield_size);
                        }
                    }
                }
                BtfType::Enum {
                    size,
                    signed,
                    values,
                    ..
                }
                | BtfType::Enum64 {
                    size,
                    signed,
                    values,
                    ..
                } => {
                    let enc = if *signed { "SIGNED" } else { "UNSIGNED" };
                    let _ = write!(out, " encoding={enc} size={size} vlen={}", values.len());
                    let wide = matches!(t, BtfType::Enum64 { .. });
                    for (n, v) in values {
                        match (wide, *signed) {
                            (_, true) => {
                                let _ = write!(out, "\n\t'{n}' val={v}");
                            }
                            (true, false) => {
                                let _ = write!(out, "\n\t'{n}' val={}", *v as u64);
                            }
                            (false, false) => {
                                let _ = write!(out, "\n\t'{n}' val={}", *v as u32);
                            }
                        }
                    }
                }
                BtfType::Fwd { is_union, .. } => {
                    let _ = write!(
                        out,
                        " fwd_kind={}",
                        if *is_union { "union" } else { "struct" }
                    );
                }
                BtfType::Func { proto, linkage, .. } => {
                    let l = ["static", "global", "extern"]
                        .get(*linkage as usize)
                        .unwrap_or(&"(unknown)");
                    let _ = write!(out, " type_id={proto} linkage={l}");
                }
                BtfType::FuncProto { ret, params } => {
                    let _ = write!(out, " ret_type_id={ret} vlen={}", params.len());
                    for p in params {
                        let pname = if p.name.is_empty() { "(anon)" } else { &p.name };
                        let _ = write!(out, "\n\t'{pname}' type_id={}", p.type_id);
                    }
                }
                BtfType::Var {
                    type_id, linkage, ..
                } => {
                    let l = ["static", "global", "extern"]
                        .get(*linkage as usize)
                        .unwrap_or(&"(unknown)");
                    let _ = write!(out, " type_id={type_id}, linkage={l}");
                }
                BtfType::Datasec { size, vars, .. } => {
                    let _ = write!(out, " size={size} vlen={}", vars.len());
                    for v in vars {
                        let _ = write!(
                            out,
                            "\n\ttype_id={} offset={} size={}",
                            v.type_id, v.offset, v.size
                        );
                        if let Some(t) = self.get(v.type_id) {
                            let _ = write!(out, " ({} '{}')", t.kind_name(), t.name());
                        }
                    }
                }
                BtfType::Float { size, .. } => {
                    let _ = write!(out, " size={size}");
                }
                BtfType::DeclTag {
                    type_id,
                    component_idx,
                    ..
                } => {
                    let _ = write!(out, " type_id={type_id} component_idx={component_idx}");
                }
            }
            out.push('\n');
        }
        out
    }

    /// Checks that every type id a type refers to exists.
    pub fn validate(&self) -> Result<(), ObjectError> {
        let n = self.types.len() as u32;
        let check = |id: TypeId, at: usize| {
            if id < n {
                Ok(())
            } else {
                err(format!(
                    "type [{at}] refers to type {id}, but there are only {n}"
                ))
            }
        };
        for (i, t) in self.types.iter().enumerate() {
            if let Some(r) = t.referee() {
                check(r, i)?;
            }
            match t {
                BtfType::Array { elem, index, .. } => {
                    check(*elem, i)?;
                    check(*index, i)?;
                }
                BtfType::Struct { members, .. } | BtfType::Union { members, .. } => {
                    for m in members {
                        check(m.type_id, i)?;
                    }
                }
                BtfType::Func { proto, .. } => check(*proto, i)?,
                BtfType::FuncProto { ret, params } => {
                    check(*ret, i)?;
                    for p in params {
                        check(p.type_id, i)?;
                    }
                }
                BtfType::Datasec { vars, .. } => {
                    for v in vars {
                        check(v.type_id, i)?;
                    }
                }
                BtfType::DeclTag { type_id, .. } => check(*type_id, i)?,
                _ => {}
            }
        }
        Ok(())
    }
}

fn parse_type(r: &mut Reader<'_>, strings: &[u8]) -> Result<BtfType, ObjectError> {
    let name_off = r.u32("type")?;
    let info = r.u32("type")?;
    let size_or_type = r.u32("type")?;
    let vlen = (info & 0xffff) as usize;
    let kind = (info >> 24) & 0x1f;
    let kflag = info >> 31 != 0;
    let name = string_at(strings, name_off)?;
    // Guard against absurd counts before allocating.
    let remaining = r.data.len().saturating_sub(r.pos);
    let need = |per: usize| {
        if vlen.saturating_mul(per) > remaining {
            err(format!(
                "vlen {vlen} needs more bytes than remain ({remaining})"
            ))
        } else {
            Ok(())
        }
    };
    Ok(match kind {
        1 => {
            let v = r.u32("int")?;
            BtfType::Int {
                name,
                size: size_or_type,
                encoding: ((v >> 24) & 0x0f) as u8,
                offset: ((v >> 16) & 0xff) as u8,
                bits: (v & 0xff) as u8,
            }
        }
        2 => BtfType::Ptr {
            type_id: size_or_type,
        },
        3 => BtfType::Array {
            elem: r.u32("array")?,
            index: r.u32("array")?,
            nelems: r.u32("array")?,
        },
        4 | 5 => {
            need(12)?;
            let mut members = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                let mname = string_at(strings, r.u32("member")?)?;
                let type_id = r.u32("member")?;
                let off = r.u32("member")?;
                let (bit_offset, bitfield_size) = if kflag {
                    (off & 0xff_ffff, off >> 24)
                } else {
                    (off, 0)
                };
                members.push(Member {
                    name: mname,
                    type_id,
                    bit_offset,
                    bitfield_size,
                });
            }
            if kind == 4 {
                BtfType::Struct {
                    name,
                    size: size_or_type,
                    members,
                }
            } else {
                BtfType::Union {
                    name,
                    size: size_or_type,
                    members,
                }
            }
        }
        6 => {
            need(8)?;
            let mut values = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                let n = string_at(strings, r.u32("enum")?)?;
                let v = r.u32("enum")?;
                let v = if kflag { v as i32 as i64 } else { v as i64 };
                values.push((n, v));
            }
            BtfType::Enum {
                name,
                size: size_or_type,
                signed: kflag,
                values,
            }
        }
        7 => BtfType::Fwd {
            name,
            is_union: kflag,
        },
        8 => BtfType::Typedef {
            name,
            type_id: size_or_type,
        },
        9 => BtfType::Volatile {
            type_id: size_or_type,
        },
        10 => BtfType::Const {
            type_id: size_or_type,
        },
        11 => BtfType::Restrict {
            type_id: size_or_type,
        },
        12 => BtfType::Func {
            name,
            proto: size_or_type,
            linkage: vlen as u16,
        },
        13 => {
            need(8)?;
            let mut params = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                let n = string_at(strings, r.u32("param")?)?;
                params.push(Param {
                    name: n,
                    type_id: r.u32("param")?,
                });
            }
            BtfType::FuncProto {
                ret: size_or_type,
                params,
            }
        }
        14 => BtfType::Var {
            name,
            type_id: size_or_type,
            linkage: r.u32("var")?,
        },
        15 => {
            need(12)?;
            let mut vars = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                vars.push(SecVar {
                    type_id: r.u32("datasec")?,
                    offset: r.u32("datasec")?,
                    size: r.u32("datasec")?,
                });
            }
            BtfType::Datasec {
                name,
                size: size_or_type,
                vars,
            }
        }
        16 => BtfType::Float {
            name,
            size: size_or_type,
        },
        17 => BtfType::DeclTag {
            name,
            type_id: size_or_type,
            component_idx: r.u32("decl tag")? as i32,
        },
        18 => BtfType::TypeTag {
            name,
            type_id: size_or_type,
        },
        19 => {
            need(12)?;
            let mut values = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                let n = string_at(strings, r.u32("enum64")?)?;
                let lo = r.u32("enum64")? as u64;
                let hi = r.u32("enum64")? as u64;
                values.push((n, (lo | (hi << 32)) as i64));
            }
            BtfType::Enum64 {
                name,
                size: size_or_type,
                signed: kflag,
                values,
            }
        }
        k => return err(format!("unknown kind {k}")),
    })
}

impl Btf {
    /// Formats `bytes` as a value of type `id`, C-style: `7`, `"hi"`,
    /// `{pid = 1, comm = "bash"}`, `[1, 2, 3]`. Bytes that run short print as `?`.
    pub fn format_value(&self, id: TypeId, bytes: &[u8]) -> String {
        let mut out = String::new();
        self.format_into(&mut out, id, bytes, 0, 0);
        out
    }

    fn format_into(&self, out: &mut String, id: TypeId, bytes: &[u8], bit_off: u64, depth: u32) {
        if depth > 16 {
            out.push_str("...");
            return;
        }
        let id = self.skip_mods(id);
        let byte = (bit_off / 8) as usize;
        let take = |n: usize| bytes.get(byte..byte + n);
        let uint = |n: usize| -> Option<u64> {
            let b = take(n)?;
            let mut v = [0u8; 8];
            v[..n].copy_from_slice(b);
            Some(u64::from_le_bytes(v))
        };
        match self.get(id) {
            Some(BtfType::Int { size, encoding, .. }) => {
                let n = (*size as usize).min(8);
                match uint(n) {
                    None => out.push('?'),
                    Some(v) if encoding & 4 != 0 => {
                        out.push_str(if v != 0 { "true" } else { "false" })
                    }
                    Some(v) if encoding & 1 != 0 => {
                        let shift = 64 - 8 * n as u32;
                        let _ = write!(out, "{}", ((v << shift) as i64) >> shift);
                    }
                    Some(v) => {
                        let _ = write!(out, "{v}");
                    }
                }
            }
            Some(BtfType::Ptr { .. }) => match uint(8) {
                Some(v) => {
                    let _ = write!(out, "{v:#x}");
                }
                None => out.push('?'),
            },
            Some(BtfType::Float { size, .. }) => match (*size, uint(*size as usize)) {
                (4, Some(v)) => {
                    let _ = write!(out, "{}", f32::from_bits(v as u32));
                }
                (8, Some(v)) => {
                    let _ = write!(out, "{}", f64::from_bits(v));
                }
                _ => out.push('?'),
            },
            Some(BtfType::Enum { size, values, .. } | BtfType::Enum64 { size, values, .. }) => {
                match uint((*size as usize).min(8)) {
                    Some(v) => match values.iter().find(|(_, x)| *x as u64 & mask(*size) == v) {
                        Some((n, _)) => out.push_str(n),
                        None => {
                            let _ = write!(out, "{v}");
                        }
                    },
                    None => out.push('?'),
                }
            }
            Some(BtfType::Array { elem, nelems, .. }) => {
                let esize = self.size_of(*elem).unwrap_or(0);
                let is_char = matches!(self.get(self.skip_mods(*elem)), Some(BtfType::Int { size: 1, encoding, name, .. }) if encoding & 2 != 0 || name == "char");
                if is_char {
                    let raw = take(*nelems as usize).unwrap_or(&[]);
                    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                    let _ = write!(out, "{:?}", String::from_utf8_lossy(&raw[..end]));
                    return;
                }
                out.push('[');
                for i in 0..(*nelems).min(64) {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.format_into(out, *elem, bytes, bit_off + i as u64 * esize * 8, depth + 1);
                }
                if *nelems > 64 {
                    out.push_str(", ...");
                }
                out.push(']');
            }
            Some(BtfType::Struct { members, .. } | BtfType::Union { members, .. }) => {
                out.push('{');
                for (i, m) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if !m.name.is_empty() {
                        let _ = write!(out, "{} = ", m.name);
                    }
                    let at = bit_off + m.bit_offset as u64;
                    if m.bitfield_size > 0 {
                        let start = (at / 8) as usize;
                        let mut v = [0u8; 16];
                        let avail = bytes.get(start..).unwrap_or(&[]);
                        let n = avail.len().min(16);
                        v[..n].copy_from_slice(&avail[..n]);
                        let word = u128::from_le_bytes(v);
                        let mask = 1u128
                            .checked_shl(m.bitfield_size)
                            .map_or(u128::MAX, |b| b - 1);
                        let field = (word >> (at % 8)) & mask;
                        let _ = write!(out, "{field}");
                    } else {
                        self.format_into(out, m.type_id, bytes, at, depth + 1);
                    }
                }
                out.push('}');
            }
            _ => out.push('?'),
        }
    }
}

fn mask(size: u32) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

#[cfg(test)]
mod cycle_tests {
    use super::*;

    /// BTF whose only type is an array of itself, as a corrupted file can hold.
    fn self_array() -> Vec<u8> {
        let mut types = Vec::new();
        for v in [0u32, 3 << 24, 0, 1, 1, 2] {
            types.extend(v.to_le_bytes());
        }
        let mut b = Vec::new();
        b.extend(0xeb9fu16.to_le_bytes());
        b.extend([1, 0]);
        for v in [24u32, 0, types.len() as u32, types.len() as u32, 1] {
            b.extend(v.to_le_bytes());
        }
        b.extend(types);
        b.push(0);
        b
    }

    #[test]
    fn cyclic_types_have_no_size_and_never_overflow_the_stack() {
        let btf = Btf::parse(&self_array()).expect("parses");
        assert_eq!(btf.size_of(1), None);
        assert!(btf.type_name(1).contains("..."), "{}", btf.type_name(1));
        let _ = btf.format_value(1, &[0; 16]);
    }
}
