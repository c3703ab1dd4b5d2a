//! Linking: each program gets its own instructions followed by every function it
//! calls (BPF-to-BPF calls and callback addresses), and its `lddw` references to
//! maps, global data and `.kconfig` externs become map pseudo forms.

use std::collections::BTreeMap;

use object::SymbolKind;
use oxbpf_isa::{LddwSrc, RawInsn};

use crate::btf::BtfType;
use crate::btf_ext::BtfExt;
use crate::error::ObjectError;
use crate::program_types::classify;
use crate::{Broken, GlobalVar, Loader, Object, Program};

const R_BPF_64_64: u32 = 1;
const R_BPF_64_32: u32 = 10;
const OP_CALL: u8 = 0x85;
const OP_LDDW: u8 = 0x18;

/// A function placed in a program.
struct Placed {
    sec: usize,
    /// First slot within the section.
    start: usize,
    len: usize,
    /// First slot within the program.
    at: usize,
    name: String,
}

/// Functions (name, first slot, slot count) of an executable section.
fn functions(ld: &Loader, sec: usize) -> Vec<(String, usize, usize)> {
    ld.syms
        .iter()
        .flatten()
        .filter(|s| s.section == Some(sec) && s.kind == SymbolKind::Text && s.size > 0)
        .map(|s| {
            (
                s.name.clone(),
                (s.value / 8) as usize,
                (s.size / 8) as usize,
            )
        })
        .collect()
}

fn slots_of(ld: &Loader, sec: usize) -> Vec<RawInsn> {
    ld.sec(sec)
        .map(|s| {
            s.data
                .chunks_exact(8)
                .map(|c| RawInsn::from_bytes(c.try_into().expect("eight bytes")))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn link_programs(
    ld: &Loader,
    map_of_symbol: &BTreeMap<String, usize>,
    map_of_section: &BTreeMap<usize, usize>,
    globals: &[GlobalVar],
    ext: Option<&BtfExt>,
) -> (Vec<Program>, Vec<Broken>) {
    let mut programs = Vec::new();
    let mut broken = Vec::new();
    for (idx, sec) in ld.secs.iter().enumerate() {
        let Some(sec) = sec else { continue };
        if !sec.executable || sec.name == ".text" || sec.data.is_empty() {
            continue;
        }
        if sec.data.len() % 8 != 0 {
            broken.push(Broken {
                section: sec.name.clone(),
                program: None,
                error: format!("size {} is not a multiple of 8", sec.data.len()),
            });
            continue;
        }
        let mut funcs = functions(ld, idx);
        if funcs.is_empty() {
            funcs.push((sec.name.clone(), 0, sec.data.len() / 8));
        }
        funcs.sort_by_key(|f| f.1);
        for (name, start, len) in funcs {
            // One program that does not link leaves the others usable, as
            // loaders that load section by section do.
            match link_one(
                ld,
                idx,
                &name,
                start,
                len,
                map_of_symbol,
                map_of_section,
                globals,
                ext,
            ) {
                Ok(p) => programs.push(p),
                Err(e) => broken.push(Broken {
                    section: sec.name.clone(),
                    program: Some(name),
                    error: e.to_string(),
                }),
            }
        }
    }
    (programs, broken)
}

#[allow(clippy::too_many_arguments)]
fn link_one(
    ld: &Loader,
    sec_idx: usize,
    name: &str,
    start: usize,
    len: usize,
    map_of_symbol: &BTreeMap<String, usize>,
    map_of_section: &BTreeMap<usize, usize>,
    globals: &[GlobalVar],
    ext: Option<&BtfExt>,
) -> Result<Program, ObjectError> {
    let sec = ld.sec(sec_idx).expect("section exists");
    let section_slots = slots_of(ld, sec_idx);
    let own = section_slots
        .get(start..start + len)
        .ok_or_else(|| ObjectError::Symbol {
            symbol: name.to_string(),
            message: format!(
                "slots {start}..{} lie outside section `{}`",
                start + len,
                sec.name
            ),
        })?;
    let mut insns = own.to_vec();
    let mut placed = vec![Placed {
        sec: sec_idx,
        start,
        len,
        at: 0,
        name: name.to_string(),
    }];
    let mut k = 0;
    while k < placed.len() {
        let (fsec, fstart, flen, fat) =
            (placed[k].sec, placed[k].start, placed[k].len, placed[k].at);
        let fsec_ref = ld.sec(fsec).expect("section exists");
        let mut i = 0;
        while i < flen {
            let pos = fat + i;
            let raw = insns[pos];
            let byte_off = ((fstart + i) * 8) as u64;
            let reloc = fsec_ref.relocs.get(&byte_off).copied();
            let rel_err = |m: String| ObjectError::Relocation {
                section: fsec_ref.name.clone(),
                offset: byte_off,
                message: m,
            };
            if raw.opcode == OP_CALL && raw.src == 1 {
                let (tsec, tslot) = match reloc {
                    Some((R_BPF_64_32, sym)) => {
                        let s = ld
                            .sym(sym)
                            .ok_or_else(|| rel_err(format!("symbol {sym} does not exist")))?;
                        let tsec = s.section.ok_or_else(|| {
                            rel_err(format!("call to undefined function `{}`", s.name))
                        })?;
                        (tsec, (s.value / 8) as i64 + raw.imm as i64 + 1)
                    }
                    Some((t, _)) => {
                        return Err(rel_err(format!(
                            "unexpected {} on a call",
                            crate::reloc_name(t)
                        )))
                    }
                    None => (fsec, (fstart + i) as i64 + raw.imm as i64 + 1),
                };
                let target = place(
                    ld,
                    &mut placed,
                    &mut insns,
                    &slots_of(ld, tsec),
                    tsec,
                    tslot,
                )
                .map_err(rel_err)?;
                insns[pos].imm = (target as i64 - pos as i64 - 1) as i32;
            } else if raw.opcode == OP_LDDW {
                if pos + 1 >= insns.len() {
                    return Err(rel_err("lddw is truncated".into()));
                }
                if let Some((r_type, sym)) = reloc {
                    if r_type != R_BPF_64_64 {
                        return Err(rel_err(format!(
                            "unexpected {} on lddw",
                            crate::reloc_name(r_type)
                        )));
                    }
                    let s = ld
                        .sym(sym)
                        .ok_or_else(|| rel_err(format!("symbol {sym} does not exist")))?;
                    let target_sec = s.section.and_then(|i| ld.sec(i).map(|t| (i, t)));
                    match target_sec {
                        Some((ti, t)) if t.executable => {
                            // The address of a function, e.g. a bpf_loop callback.
                            let tslot = ((s.value as i64) + raw.imm as i64) / 8;
                            let target =
                                place(ld, &mut placed, &mut insns, &slots_of(ld, ti), ti, tslot)
                                    .map_err(rel_err)?;
                            insns[pos].src = LddwSrc::CodeAddr.code();
                            insns[pos].imm = (target as i64 - pos as i64 - 1) as i32;
                            insns[pos + 1].imm = 0;
                        }
                        Some((_, t)) if t.name == ".maps" || t.name == "maps" => {
                            let map = *map_of_symbol.get(&s.name).ok_or_else(|| {
                                rel_err(format!("`{}` in {} is not a map", s.name, t.name))
                            })?;
                            insns[pos].src = LddwSrc::MapIdx.code();
                            insns[pos].imm = map as i32;
                            insns[pos + 1].imm = 0;
                        }
                        Some((ti, t)) => {
                            let map = *map_of_section.get(&ti).ok_or_else(|| {
                                rel_err(format!(
                                    "`{}` is in section `{}`, which holds no map or global data",
                                    s.name, t.name
                                ))
                            })?;
                            let off = raw.imm as i64 + s.value as i64;
                            insns[pos].src = LddwSrc::MapIdxValue.code();
                            insns[pos].imm = map as i32;
                            insns[pos + 1].imm = off as i32;
                        }
                        None => {
                            // An extern: `.kconfig` variables live in their own map.
                            let g = globals
                                .iter()
                                .find(|g| {
                                    g.name == s.name && map_of_symbol.get(&s.name) == Some(&g.map)
                                })
                                .ok_or_else(|| {
                                    rel_err(format!(
                                        "extern `{}` is not a supported .kconfig variable",
                                        s.name
                                    ))
                                })?;
                            insns[pos].src = LddwSrc::MapIdxValue.code();
                            insns[pos].imm = g.map as i32;
                            insns[pos + 1].imm = g.offset as i32 + raw.imm;
                        }
                    }
                }
                i += 1;
            }
            i += 1;
        }
        k += 1;
    }

    let mut func_info = Vec::new();
    let mut line_info = Vec::new();
    let mut core_relos = Vec::new();
    if let Some(ext) = ext {
        for f in &placed {
            let sname = &ld.sec(f.sec).expect("section exists").name;
            let range = f.start..f.start + f.len;
            let rebase = |insn: usize| insn - f.start + f.at;
            for x in ext
                .func_info
                .get(sname)
                .into_iter()
                .flatten()
                .filter(|x| range.contains(&x.insn))
            {
                func_info.push(crate::FuncInfo {
                    insn: rebase(x.insn),
                    ..x.clone()
                });
            }
            for x in ext
                .line_info
                .get(sname)
                .into_iter()
                .flatten()
                .filter(|x| range.contains(&x.insn))
            {
                line_info.push(crate::LineInfo {
                    insn: rebase(x.insn),
                    ..x.clone()
                });
            }
            for x in ext
                .core_relos
                .get(sname)
                .into_iter()
                .flatten()
                .filter(|x| range.contains(&x.insn))
            {
                core_relos.push(crate::CoreRelo {
                    insn: rebase(x.insn),
                    ..x.clone()
                });
            }
        }
    }
    func_info.sort_by_key(|x| x.insn);
    line_info.sort_by_key(|x| x.insn);
    core_relos.sort_by_key(|x| x.insn);
    let (prog_type, attach) = classify(&sec.name);
    Ok(Program {
        name: name.to_string(),
        section: sec.name.clone(),
        prog_type,
        attach,
        insns,
        main_len: len,
        subprograms: placed
            .iter()
            .skip(1)
            .map(|f| (f.name.clone(), f.at))
            .collect(),
        section_offset: start,
        func_info,
        line_info,
        core_relos,
    })
}

/// Makes sure the function holding `slot` of section `sec` is in the program and
/// returns the program slot that corresponds to `slot`.
fn place(
    ld: &Loader,
    placed: &mut Vec<Placed>,
    insns: &mut Vec<RawInsn>,
    sec_slots: &[RawInsn],
    sec: usize,
    slot: i64,
) -> Result<usize, String> {
    let sec_name = || ld.sec(sec).map(|s| s.name.clone()).unwrap_or_default();
    if slot < 0 || slot as usize >= sec_slots.len() {
        return Err(format!(
            "call target {slot} lies outside section `{}`",
            sec_name()
        ));
    }
    let slot = slot as usize;
    if let Some(f) = placed
        .iter()
        .find(|f| f.sec == sec && (f.start..f.start + f.len).contains(&slot))
    {
        return Ok(f.at + slot - f.start);
    }
    let (name, start, len) = functions(ld, sec)
        .into_iter()
        .find(|(_, s, l)| (*s..*s + *l).contains(&slot))
        .ok_or_else(|| {
            format!(
                "call target {slot} in `{}` is inside no function",
                sec_name()
            )
        })?;
    let at = insns.len();
    let body = sec_slots.get(start..start + len).ok_or_else(|| {
        format!(
            "function `{name}` (slots {start}..{}) lies outside section `{}`",
            start + len,
            sec_name()
        )
    })?;
    insns.extend_from_slice(body);
    placed.push(Placed {
        sec,
        start,
        len,
        at,
        name,
    });
    Ok(at + slot - start)
}

/// Fills `initial_slots` of map-in-map and prog-array maps from the relocations
/// in `.maps` that a static `.values = { ... }` initializer produces.
pub(crate) fn fill_map_slots(ld: &Loader, obj: &mut Object) -> Result<(), ObjectError> {
    let Some((idx, sec)) = ld
        .secs
        .iter()
        .enumerate()
        .find_map(|(i, s)| s.as_ref().filter(|s| s.name == ".maps").map(|s| (i, s)))
    else {
        return Ok(());
    };
    if sec.relocs.is_empty() {
        return Ok(());
    }
    let Some(btf) = obj.btf.clone() else {
        return Ok(());
    };
    for sym in ld
        .syms
        .iter()
        .flatten()
        .filter(|s| s.section == Some(idx) && s.kind != SymbolKind::Section)
    {
        let Ok(mi) = obj.map_index(&sym.name) else {
            continue;
        };
        // Find the `values` member's offset in the map's struct.
        let Some(var) = btf.find(&sym.name, |t| matches!(t, BtfType::Var { .. })) else {
            continue;
        };
        let Some(BtfType::Var { type_id, .. }) = btf.get(var) else {
            continue;
        };
        let Some(members) = btf.get(btf.skip_mods(*type_id)).and_then(|t| t.members()) else {
            continue;
        };
        let Some(values) = members.iter().find(|m| m.name == "values") else {
            continue;
        };
        let base = sym.value + values.bit_offset as u64 / 8;
        let end = sym.value + sym.size.max(base - sym.value);
        for (&off, &(_, target)) in sec.relocs.range(base..end.max(base)) {
            let name =
                ld.sym(target)
                    .map(|s| s.name.clone())
                    .ok_or_else(|| ObjectError::Relocation {
                        section: ".maps".into(),
                        offset: off,
                        message: format!("symbol {target} does not exist"),
                    })?;
            obj.maps[mi]
                .initial_slots
                .push((((off - base) / 8) as u32, name));
        }
    }
    Ok(())
}
