//! CO-RE: relocating field offsets, sizes, existence, type ids and enum values
//! from the compile-time BTF to a target BTF (such as the running kernel's).
//!
//! The rules follow libbpf's: candidates are target types of the same kind whose
//! name equals the local name without any `___suffix`; fields are matched by
//! name along the access string, looking through anonymous members; the
//! instruction must hold the local value before it is patched; a relocation
//! with no match poisons its instruction (a call to helper 0xbad2310) unless
//! it asks whether something exists, which then yields 0.

use crate::btf::{Btf, BtfType, TypeId};
use crate::btf_ext::{CoreKind, CoreRelo};
use crate::error::ObjectError;
use crate::Object;

/// The helper id libbpf writes into instructions whose relocation failed.
pub const POISON_HELPER: i32 = 0xbad2310;

/// What one CO-RE relocation resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreOutcome {
    pub program: String,
    /// Instruction index in the linked program.
    pub insn: usize,
    pub kind: CoreKind,
    /// The local root type's name, such as `struct task_struct`.
    pub type_name: String,
    pub access: String,
    /// The value the instruction was compiled with.
    pub local: u64,
    /// The value for the target, or `None` when the instruction was poisoned.
    pub target: Option<u64>,
}

/// The name without a `___flavor` suffix.
pub fn essential_name(name: &str) -> &str {
    match name.find("___") {
        Some(i) => &name[..i],
        None => name,
    }
}

/// A field found along an access string.
#[derive(Clone, Copy, Debug)]
struct Field {
    bit_offset: u64,
    bit_size: u64,
    /// The field's type.
    type_id: TypeId,
    bitfield: bool,
}

/// A resolved access: the root type and the field (for field relocations).
fn kind_class(t: &BtfType) -> u8 {
    match t {
        BtfType::Struct { .. } => 1,
        BtfType::Union { .. } => 2,
        BtfType::Enum { .. } | BtfType::Enum64 { .. } => 3,
        BtfType::Int { .. } => 4,
        BtfType::Ptr { .. } => 5,
        BtfType::Array { .. } => 6,
        BtfType::Fwd { .. } => 7,
        BtfType::Float { .. } => 8,
        BtfType::FuncProto { .. } => 9,
        BtfType::Typedef { .. } => 10,
        _ => 0,
    }
}

fn parse_access(access: &str) -> Option<Vec<u32>> {
    access.split(':').map(|s| s.parse().ok()).collect()
}

/// Follows the local access string and records member names and array indices.
#[derive(Clone, Debug)]
enum Step {
    /// A named member and its local type. Anonymous members are not steps: as in
    /// libbpf, named members are looked up through the target's anonymous ones.
    Member(String, TypeId),
    /// An array index and the local element type.
    Index(u32, TypeId),
}

fn local_field(btf: &Btf, root: TypeId, idx: &[u32]) -> Result<(Field, Vec<Step>), String> {
    let root_size = btf.size_of(root).ok_or("the root type has no size")?;
    let mut bit = (idx[0] as u64).saturating_mul(root_size).saturating_mul(8);
    let mut cur = root;
    let mut steps = Vec::new();
    let mut field = Field {
        bit_offset: bit,
        bit_size: root_size.saturating_mul(8),
        type_id: root,
        bitfield: false,
    };
    for &i in &idx[1..] {
        let t = btf.skip_mods(cur);
        match btf.get(t) {
            Some(BtfType::Struct { members, .. } | BtfType::Union { members, .. }) => {
                let m = members
                    .get(i as usize)
                    .ok_or(format!("member {i} does not exist"))?;
                bit = bit.saturating_add(m.bit_offset as u64);
                let size = if m.bitfield_size > 0 {
                    m.bitfield_size as u64
                } else {
                    btf.size_of(m.type_id)
                        .ok_or("a member has no size")?
                        .saturating_mul(8)
                };
                field = Field {
                    bit_offset: bit,
                    bit_size: size,
                    type_id: m.type_id,
                    bitfield: m.bitfield_size > 0,
                };
                if !m.name.is_empty() {
                    steps.push(Step::Member(m.name.clone(), m.type_id));
                }
                cur = m.type_id;
            }
            Some(BtfType::Array { elem, .. }) => {
                let es = btf.size_of(*elem).ok_or("an array element has no size")?;
                bit = bit.saturating_add((i as u64).saturating_mul(es).saturating_mul(8));
                field = Field {
                    bit_offset: bit,
                    bit_size: es.saturating_mul(8),
                    type_id: *elem,
                    bitfield: false,
                };
                steps.push(Step::Index(i, *elem));
                cur = *elem;
            }
            _ => {
                return Err(format!(
                    "access index {i} into {}, which is neither an aggregate nor an array",
                    btf.type_name(t)
                ))
            }
        }
    }
    Ok((field, steps))
}

/// Finds member `name` in aggregate `t`, looking inside anonymous members;
/// returns its bit offset relative to `t` and the member.
fn find_member(btf: &Btf, t: TypeId, name: &str, depth: u32) -> Option<(u64, crate::btf::Member)> {
    if depth > 32 {
        return None;
    }
    let members = btf.get(btf.skip_mods(t))?.members()?;
    for m in members {
        if m.name == name {
            return Some((m.bit_offset as u64, m.clone()));
        }
        if m.name.is_empty() {
            if let Some((off, found)) = find_member(btf, m.type_id, name, depth + 1) {
                return Some((m.bit_offset as u64 + off, found));
            }
        }
    }
    None
}

/// Whether a local and a target field type are compatible (libbpf's rules:
/// same broad kind; integers, enums and pointers may differ in size).
fn compatible(local: &Btf, l: TypeId, target: &Btf, t: TypeId) -> bool {
    let (lt, tt) = (
        local.get(local.skip_mods(l)),
        target.get(target.skip_mods(t)),
    );
    match (lt, tt) {
        (Some(a), Some(b)) => {
            let (ka, kb) = (kind_class(a), kind_class(b));
            ka == kb
                || (matches!(ka, 3 | 4) && matches!(kb, 3 | 4))
                || (matches!(ka, 1 | 2 | 7) && matches!(kb, 1 | 2 | 7))
        }
        _ => false,
    }
}

/// Follows the local steps through a target candidate.
fn target_field(
    local: &Btf,
    idx0: u32,
    steps: &[Step],
    target: &Btf,
    troot: TypeId,
) -> Option<Field> {
    let root_size = target.size_of(troot)?;
    let mut bit = (idx0 as u64).saturating_mul(root_size).saturating_mul(8);
    let mut cur = troot;
    let mut field = Field {
        bit_offset: bit,
        bit_size: root_size.saturating_mul(8),
        type_id: troot,
        bitfield: false,
    };
    for step in steps {
        match step {
            Step::Member(name, local_type) => {
                let (off, m) = find_member(target, cur, name, 0)?;
                if !compatible(local, *local_type, target, m.type_id) {
                    return None;
                }
                bit = bit.saturating_add(off);
                let size = if m.bitfield_size > 0 {
                    m.bitfield_size as u64
                } else {
                    target.size_of(m.type_id)?.saturating_mul(8)
                };
                field = Field {
                    bit_offset: bit,
                    bit_size: size,
                    type_id: m.type_id,
                    bitfield: m.bitfield_size > 0,
                };
                cur = m.type_id;
            }
            Step::Index(i, local_elem) => {
                let Some(BtfType::Array { elem, nelems, .. }) = target.get(target.skip_mods(cur))
                else {
                    return None;
                };
                if *i >= *nelems && *nelems > 0 {
                    return None;
                }
                if !compatible(local, *local_elem, target, *elem) {
                    return None;
                }
                let es = target.size_of(*elem)?;
                bit = bit.saturating_add((*i as u64).saturating_mul(es).saturating_mul(8));
                field = Field {
                    bit_offset: bit,
                    bit_size: es.saturating_mul(8),
                    type_id: *elem,
                    bitfield: false,
                };
                cur = *elem;
            }
        }
    }
    Some(field)
}

/// The load that covers a field: (byte offset, byte size), as libbpf computes it.
fn load_of(btf: &Btf, f: &Field) -> Option<(u64, u64)> {
    if !f.bitfield {
        return Some((f.bit_offset / 8, btf.size_of(f.type_id)?));
    }
    let mut size = btf.size_of(f.type_id).filter(|&s| s > 0)?;
    let mut off = f.bit_offset / 8 / size * size;
    while f
        .bit_offset
        .saturating_add(f.bit_size)
        .saturating_sub(off * 8)
        > size.saturating_mul(8)
    {
        if size >= 8 {
            return None;
        }
        size *= 2;
        off = f.bit_offset / 8 / size * size;
    }
    Some((off, size))
}

fn is_signed(btf: &Btf, t: TypeId) -> bool {
    match btf.get(btf.skip_mods(t)) {
        Some(BtfType::Int { encoding, .. }) => encoding & 1 != 0,
        Some(BtfType::Enum { signed, .. } | BtfType::Enum64 { signed, .. }) => *signed,
        _ => false,
    }
}

/// The value of a field relocation for a resolved field.
fn field_value(btf: &Btf, kind: CoreKind, f: &Field) -> Option<u64> {
    let (off, size) = load_of(btf, f)?;
    Some(match kind {
        CoreKind::FieldByteOffset => off,
        CoreKind::FieldByteSize => size,
        CoreKind::FieldExists => 1,
        CoreKind::FieldSigned => is_signed(btf, f.type_id) as u64,
        CoreKind::FieldLshiftU64 => 64u64.checked_sub(
            f.bit_offset
                .saturating_add(f.bit_size)
                .checked_sub(off * 8)?,
        )?,
        CoreKind::FieldRshiftU64 => 64u64.checked_sub(f.bit_size)?,
        _ => return None,
    })
}

/// libbpf's `bpf_core_types_match`: the target has every member, enumerator
/// and parameter the local type names, with matching types, recursively.
fn types_match(local: &Btf, l: TypeId, target: &Btf, t: TypeId, depth: u32) -> bool {
    if depth > 32 {
        return false;
    }
    let (l, t) = (local.skip_mods(l), target.skip_mods(t));
    let (Some(lt), Some(tt)) = (local.get(l), target.get(t)) else {
        return false;
    };
    if !lt.name().is_empty() && essential_name(lt.name()) != essential_name(tt.name()) {
        return false;
    }
    match (lt, tt) {
        (BtfType::Void, BtfType::Void) => true,
        (
            BtfType::Int {
                size: a,
                encoding: ea,
                ..
            },
            BtfType::Int {
                size: b,
                encoding: eb,
                ..
            },
        ) => a == b && (ea & 1) == (eb & 1),
        (BtfType::Float { size: a, .. }, BtfType::Float { size: b, .. }) => a == b,
        (BtfType::Ptr { type_id: a }, BtfType::Ptr { type_id: b }) => {
            types_match(local, *a, target, *b, depth + 1)
        }
        (
            BtfType::Array {
                elem: a,
                nelems: na,
                ..
            },
            BtfType::Array {
                elem: b,
                nelems: nb,
                ..
            },
        ) => na == nb && types_match(local, *a, target, *b, depth + 1),
        (BtfType::Fwd { is_union: a, .. }, BtfType::Fwd { is_union: b, .. }) => a == b,
        (BtfType::Struct { members: lm, .. }, BtfType::Struct { members: tm, .. })
        | (BtfType::Union { members: lm, .. }, BtfType::Union { members: tm, .. }) => {
            lm.iter().all(|m| {
                tm.iter()
                    .find(|x| x.name == m.name)
                    .is_some_and(|x| types_match(local, m.type_id, target, x.type_id, depth + 1))
            })
        }
        (a, b) if a.enum_values().is_some() && b.enum_values().is_some() => {
            let tv = b.enum_values().unwrap_or(&[]);
            a.enum_values().unwrap_or(&[]).iter().all(|(n, _)| {
                tv.iter()
                    .any(|(m, _)| essential_name(m) == essential_name(n))
            })
        }
        (
            BtfType::FuncProto {
                ret: lr,
                params: lp,
            },
            BtfType::FuncProto {
                ret: tr,
                params: tp,
            },
        ) => {
            lp.len() == tp.len()
                && types_match(local, *lr, target, *tr, depth + 1)
                && lp
                    .iter()
                    .zip(tp)
                    .all(|(a, b)| types_match(local, a.type_id, target, b.type_id, depth + 1))
        }
        _ => false,
    }
}

/// Candidate target types for a local root type.
fn candidates(local: &Btf, lroot: TypeId, target: &Btf) -> Vec<TypeId> {
    let Some(lt) = local.get(lroot) else {
        return Vec::new();
    };
    let name = essential_name(lt.name());
    if name.is_empty() {
        return Vec::new();
    }
    let class = kind_class(lt);
    target
        .types()
        .filter(|(_, t)| kind_class(t) == class && essential_name(t.name()) == name)
        .map(|(id, _)| id)
        .collect()
}

/// Whether a field relocation's field is a bitfield. For those the compiler's
/// choice of load may differ from libbpf's (and ours), so, as libbpf does, the
/// instruction's current value is not checked except for signedness.
fn is_bitfield_relo(local: &Btf, r: &CoreRelo) -> bool {
    let Some(idx) = parse_access(&r.access) else {
        return false;
    };
    if idx.is_empty()
        || !matches!(
            r.kind,
            CoreKind::FieldByteOffset
                | CoreKind::FieldByteSize
                | CoreKind::FieldLshiftU64
                | CoreKind::FieldRshiftU64
        )
    {
        return false;
    }
    local_field(local, local.skip_mods(r.type_id), &idx).is_ok_and(|(f, _)| f.bitfield)
}

/// Computes (local value, target value) of one relocation; target `None` means no match.
fn resolve(local: &Btf, target: &Btf, r: &CoreRelo) -> Result<(u64, Option<u64>), String> {
    // The root keeps its typedef: candidates are matched by the name the program used.
    let lroot = r.type_id;
    let idx = parse_access(&r.access).ok_or_else(|| format!("bad access string `{}`", r.access))?;
    if idx.is_empty() {
        return Err("empty access string".into());
    }
    let cands = candidates(local, lroot, target);
    let mut results: Vec<u64> = Vec::new();
    let local_value;
    match r.kind {
        CoreKind::FieldByteOffset
        | CoreKind::FieldByteSize
        | CoreKind::FieldExists
        | CoreKind::FieldSigned
        | CoreKind::FieldLshiftU64
        | CoreKind::FieldRshiftU64 => {
            let (lf, steps) = local_field(local, lroot, &idx)?;
            local_value =
                field_value(local, r.kind, &lf).ok_or("cannot compute the local value")?;
            for c in cands {
                if let Some(tf) = target_field(local, idx[0], &steps, target, c) {
                    if let Some(v) = field_value(target, r.kind, &tf) {
                        results.push(v);
                    }
                }
            }
        }
        CoreKind::TypeIdLocal => return Ok((r.type_id as u64, Some(r.type_id as u64))),
        CoreKind::TypeIdTarget
        | CoreKind::TypeExists
        | CoreKind::TypeSize
        | CoreKind::TypeMatches => {
            local_value = match r.kind {
                CoreKind::TypeIdTarget => r.type_id as u64,
                CoreKind::TypeSize => local.size_of(lroot).unwrap_or(0),
                _ => 1,
            };
            for c in cands {
                if r.kind == CoreKind::TypeMatches && !types_match(local, lroot, target, c, 0) {
                    continue;
                }
                results.push(match r.kind {
                    CoreKind::TypeIdTarget => c as u64,
                    CoreKind::TypeSize => target.size_of(c).unwrap_or(0),
                    _ => 1,
                });
            }
        }
        CoreKind::EnumvalExists | CoreKind::EnumvalValue => {
            let values = local
                .get(lroot)
                .and_then(|t| t.enum_values())
                .ok_or("the type is not an enum")?;
            let (lname, lval) = values
                .get(idx[0] as usize)
                .ok_or(format!("enumerator {} does not exist", idx[0]))?;
            local_value = if r.kind == CoreKind::EnumvalExists {
                1
            } else {
                *lval as u64
            };
            for c in cands {
                let tv = target.get(c).and_then(|t| t.enum_values()).unwrap_or(&[]);
                if let Some((_, v)) = tv
                    .iter()
                    .find(|(n, _)| essential_name(n) == essential_name(lname))
                {
                    results.push(if r.kind == CoreKind::EnumvalExists {
                        1
                    } else {
                        *v as u64
                    });
                }
            }
        }
    }
    results.dedup();
    match results.as_slice() {
        // With no match, existence checks and every type-based relocation
        // (size, target id) resolve to 0, as in libbpf; the rest poison.
        [] if matches!(
            r.kind,
            CoreKind::FieldExists
                | CoreKind::TypeExists
                | CoreKind::EnumvalExists
                | CoreKind::TypeMatches
                | CoreKind::TypeSize
                | CoreKind::TypeIdTarget
        ) =>
        {
            Ok((local_value, Some(0)))
        }
        [] => Ok((local_value, None)),
        [v] => Ok((local_value, Some(*v))),
        many => Err(format!("ambiguous: candidates give {many:?}")),
    }
}

/// The value an instruction currently holds where a relocation patches it.
fn insn_value(insns: &[oxbpf_isa::RawInsn], i: usize) -> Option<u64> {
    let r = insns.get(i)?;
    match r.opcode & 0x07 {
        0x04 | 0x07 => Some(r.imm as i64 as u64),
        0x01..=0x03 => Some(r.off as i64 as u64),
        0x00 if r.opcode == 0x18 => {
            let hi = insns.get(i + 1)?.imm as u32 as u64;
            Some((r.imm as u32 as u64) | (hi << 32))
        }
        _ => None,
    }
}

fn patch(
    insns: &mut [oxbpf_isa::RawInsn],
    i: usize,
    value: u64,
    kind: CoreKind,
    local_size: Option<u64>,
    new_size: Option<u64>,
) -> Result<(), String> {
    let r = &mut insns[i];
    match r.opcode & 0x07 {
        0x04 | 0x07 => {
            r.imm = i32::try_from(value as i64)
                .map_err(|_| format!("value {value} does not fit an immediate"))?;
        }
        0x01..=0x03 => {
            r.off = i16::try_from(value as i64)
                .map_err(|_| format!("offset {value} does not fit a 16-bit offset"))?;
            // A load of a field whose size changed loads the new size (libbpf does the same).
            if kind == CoreKind::FieldByteOffset && r.opcode & 0x07 == 0x01 {
                if let (Some(l), Some(n)) = (local_size, new_size) {
                    if l != n {
                        let size = match n {
                            1 => 0x10,
                            2 => 0x08,
                            4 => 0x00,
                            8 => 0x18,
                            _ => return Err(format!("field size {n} cannot be loaded")),
                        };
                        r.opcode = (r.opcode & !0x18) | size;
                    }
                }
            }
        }
        0x00 if r.opcode == 0x18 => {
            r.imm = value as u32 as i32;
            if let Some(next) = insns.get_mut(i + 1) {
                next.imm = (value >> 32) as u32 as i32;
            }
        }
        _ => return Err("the instruction cannot carry a relocated value".into()),
    }
    Ok(())
}

impl Object {
    /// Applies every program's CO-RE relocations against `target`, patching the
    /// instructions, and reports what each resolved to.
    pub fn apply_core(&mut self, target: &Btf) -> Result<Vec<CoreOutcome>, ObjectError> {
        let Some(local) = self.btf.clone() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for p in &mut self.programs {
            for r in p.core_relos.clone() {
                let fail = |m: String| ObjectError::Core {
                    program: p.name.clone(),
                    index: r.insn,
                    type_name: local.type_name(r.type_id),
                    access: r.access.clone(),
                    message: m,
                };
                let (lv, tv) = resolve(&local, target, &r).map_err(fail)?;
                let have = insn_value(&p.insns, r.insn)
                    .ok_or_else(|| fail("the instruction cannot carry a relocated value".into()))?;
                let validate = !matches!(r.kind, CoreKind::TypeIdLocal | CoreKind::TypeIdTarget)
                    && !is_bitfield_relo(&local, &r);
                if validate && have != lv {
                    // Sizes of loads are in the opcode, not a field; other values must match.
                    let sized_load =
                        r.kind == CoreKind::FieldByteSize && p.insns[r.insn].opcode & 0x07 == 0x01;
                    if !sized_load {
                        return Err(fail(format!(
                            "the instruction holds {have}, but the local BTF says {lv}"
                        )));
                    }
                }
                match tv {
                    Some(v) => {
                        let (lsize, tsize) = if r.kind == CoreKind::FieldByteOffset {
                            let idx = parse_access(&r.access).unwrap_or_default();
                            // The root keeps its typedef: candidates are matched by the name the program used.
                            let lroot = r.type_id;
                            let lsize = local_field(&local, lroot, &idx)
                                .ok()
                                .and_then(|(f, _)| load_of(&local, &f))
                                .map(|x| x.1);
                            let tsize =
                                local_field(&local, lroot, &idx)
                                    .ok()
                                    .and_then(|(_, steps)| {
                                        candidates(&local, lroot, target)
                                            .into_iter()
                                            .find_map(|c| {
                                                target_field(&local, idx[0], &steps, target, c)
                                            })
                                            .and_then(|f| load_of(target, &f))
                                            .map(|x| x.1)
                                    });
                            (lsize, tsize)
                        } else {
                            (None, None)
                        };
                        patch(&mut p.insns, r.insn, v, r.kind, lsize, tsize).map_err(fail)?;
                    }
                    None => {
                        // Poison: the verifier rejects the program only if this is reachable.
                        let wide = p.insns[r.insn].opcode == 0x18;
                        p.insns[r.insn] = oxbpf_isa::RawInsn {
                            opcode: 0x85,
                            dst: 0,
                            src: 0,
                            off: 0,
                            imm: POISON_HELPER,
                        };
                        if wide {
                            // The lddw's second slot becomes `goto +0`.
                            p.insns[r.insn + 1] = oxbpf_isa::RawInsn {
                                opcode: 0x05,
                                ..Default::default()
                            };
                        }
                    }
                }
                out.push(CoreOutcome {
                    program: p.name.clone(),
                    insn: r.insn,
                    kind: r.kind,
                    type_name: local.type_name(r.type_id),
                    access: r.access.clone(),
                    local: lv,
                    target: tv,
                });
            }
        }
        Ok(out)
    }
}
