//! Loads the ELF objects that `clang -target bpf` produces, following libbpf's
//! conventions: programs named by symbol and typed by `SEC()` name, BPF-to-BPF
//! calls linked in, map and global-data references rewritten to the
//! `lddw` map pseudo forms, BTF and `.BTF.ext` parsed, and CO-RE relocations
//! applied against a target BTF on request. No syscalls.
//!
//! ```no_run
//! let bytes = std::fs::read("prog.o").unwrap();
//! let obj = oxbpf_object::Object::parse(&bytes).unwrap();
//! for p in &obj.programs {
//!     println!("{} in {}: {} instructions", p.name, p.section, p.insns.len());
//! }
//! ```

pub mod btf;
pub mod btf_ext;
pub mod core;
pub mod error;
mod link;
pub mod maps;
pub mod program_types;

use std::collections::BTreeMap;

use object::{Object as _, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
use oxbpf_isa::{decode_program, Insn, RawInsn};

pub use btf::{Btf, BtfType, TypeId};
pub use btf_ext::{BtfExt, CoreKind, CoreRelo, FuncInfo, LineInfo};
pub use error::ObjectError;
pub use maps::{map_type_name, MapDef, MapOrigin};
pub use program_types::{classify, ProgramType};

/// A program: its own function followed by the subprograms it calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The symbol name.
    pub name: String,
    /// The ELF section (the `SEC()` name).
    pub section: String,
    pub prog_type: ProgramType,
    /// The attach target named in the section, such as `syscalls/sys_enter_execve`.
    pub attach: Option<String>,
    /// Linked instructions. Map references use `map_idx`/`map_idx_value`
    /// pseudo sources whose index is into [`Object::maps`].
    pub insns: Vec<RawInsn>,
    /// Slots belonging to the program's own function; subprograms follow.
    pub main_len: usize,
    /// Appended subprograms: name and first slot.
    pub subprograms: Vec<(String, usize)>,
    /// Where the program starts in its section, in slots.
    pub section_offset: usize,
    pub func_info: Vec<FuncInfo>,
    pub line_info: Vec<LineInfo>,
    pub core_relos: Vec<CoreRelo>,
}

impl Program {
    /// The linked bytecode.
    pub fn bytecode(&self) -> Vec<u8> {
        self.insns.iter().flat_map(|r| r.to_bytes()).collect()
    }

    /// The decoded instructions with their slot indices.
    pub fn instructions(&self) -> Result<Vec<(usize, Insn)>, ObjectError> {
        decode_program(&self.bytecode()).map_err(|source| ObjectError::Program {
            program: self.name.clone(),
            source,
        })
    }

    /// The source position recorded for `slot`, or the closest one before it.
    pub fn line_at(&self, slot: usize) -> Option<&LineInfo> {
        self.line_info.iter().rev().find(|l| l.insn <= slot)
    }
}

/// A variable in a global-data map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalVar {
    pub name: String,
    /// Index into [`Object::maps`].
    pub map: usize,
    pub offset: u32,
    pub size: u32,
    pub type_id: Option<TypeId>,
}

/// A relocation as recorded in the ELF file (for inspection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelocationRecord {
    /// The section the relocation patches.
    pub section: String,
    pub offset: u64,
    /// The ELF relocation type name, such as `R_BPF_64_64`.
    pub kind: &'static str,
    pub symbol: String,
}

/// A loaded object (or one a host builds: `Object { programs, maps, ..Default::default() }`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Object {
    pub license: String,
    pub kernel_version: Option<u32>,
    pub programs: Vec<Program>,
    pub maps: Vec<MapDef>,
    pub globals: Vec<GlobalVar>,
    pub btf: Option<Btf>,
    pub btf_ext: Option<BtfExt>,
    pub relocations: Vec<RelocationRecord>,
    /// Programs that could not be prepared (their sections, and why); the
    /// other programs are usable.
    pub broken: Vec<Broken>,
}

/// A program (or a whole section) that could not be prepared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The ELF section.
    pub section: String,
    /// The program's symbol, when the section had one.
    pub program: Option<String>,
    /// What went wrong.
    pub error: String,
}

/// The largest global-data section accepted (the kernel caps map values far lower).
const MAX_GLOBAL_DATA: u64 = 64 << 20;

/// ELF machine number of BPF.
const EM_BPF: u16 = 247;
/// What old LLVM releases wrote instead.
const EM_NONE: u16 = 0;

pub(crate) fn reloc_name(r_type: u32) -> &'static str {
    match r_type {
        0 => "R_BPF_NONE",
        1 => "R_BPF_64_64",
        2 => "R_BPF_64_ABS64",
        3 => "R_BPF_64_ABS32",
        4 => "R_BPF_64_NODYLD32",
        10 => "R_BPF_64_32",
        _ => "R_BPF_UNKNOWN",
    }
}

/// Whether a section holds global data that becomes an internal array map.
fn is_data_section(name: &str) -> bool {
    matches!(name, ".data" | ".rodata" | ".bss")
        || name.starts_with(".data.")
        || name.starts_with(".rodata.")
}

/// A symbol, copied out of the ELF file.
#[derive(Clone, Debug)]
pub(crate) struct Sym {
    pub name: String,
    pub section: Option<usize>,
    pub value: u64,
    pub size: u64,
    pub kind: SymbolKind,
}

/// A section, copied out of the ELF file.
#[derive(Clone, Debug)]
pub(crate) struct Sec {
    pub name: String,
    pub data: Vec<u8>,
    pub size: u64,
    pub executable: bool,
    /// Relocations: byte offset → (ELF type, symbol index).
    pub relocs: BTreeMap<u64, (u32, usize)>,
}

impl Object {
    /// Parses an object file.
    pub fn parse(data: &[u8]) -> Result<Object, ObjectError> {
        let file = object::File::parse(data).map_err(|e| ObjectError::Elf(e.to_string()))?;
        let machine = match &file {
            object::File::Elf64(elf) => elf.elf_header().e_machine.get(elf.endian()),
            _ => return Err(ObjectError::WrongMachine("not a 64-bit ELF file".into())),
        };
        // Old LLVM releases wrote e_machine 0 (EM_NONE) in BPF objects.
        if !matches!(machine, EM_BPF | EM_NONE) || !file.is_little_endian() {
            return Err(ObjectError::WrongMachine(format!(
                "ELF machine {machine} ({}), expected 247 (BPF, little-endian)",
                if file.is_little_endian() {
                    "little-endian"
                } else {
                    "big-endian"
                }
            )));
        }

        let mut secs: Vec<Option<Sec>> = Vec::new();
        for s in file.sections() {
            let idx = s.index().0;
            if secs.len() <= idx {
                secs.resize(idx + 1, None);
            }
            let name = s
                .name()
                .map_err(|e| ObjectError::Section {
                    section: format!("#{idx}"),
                    message: e.to_string(),
                })?
                .to_string();
            let section_err = |m: String| ObjectError::Section {
                section: name.clone(),
                message: m,
            };
            let data = if s.kind() == SectionKind::UninitializedData {
                Vec::new()
            } else {
                s.data().map_err(|e| section_err(e.to_string()))?.to_vec()
            };
            let mut relocs = BTreeMap::new();
            for (off, r) in s.relocations() {
                let object::RelocationFlags::Elf { r_type } = r.flags() else {
                    continue;
                };
                let sym = match r.target() {
                    object::RelocationTarget::Symbol(i) => i.0,
                    _ => {
                        return Err(ObjectError::Relocation {
                            section: name.clone(),
                            offset: off,
                            message: "target is not a symbol".into(),
                        })
                    }
                };
                relocs.insert(off, (r_type, sym));
            }
            secs[idx] = Some(Sec {
                executable: s.kind() == SectionKind::Text,
                size: s.size(),
                name,
                data,
                relocs,
            });
        }
        let mut syms: Vec<Option<Sym>> = Vec::new();
        for s in file.symbols() {
            let idx = s.index().0;
            if syms.len() <= idx {
                syms.resize(idx + 1, None);
            }
            let name = s.name().unwrap_or("").to_string();
            let section = s.section_index().map(|i| i.0);
            let name = if name.is_empty() && s.kind() == SymbolKind::Section {
                section
                    .and_then(|i| secs.get(i).and_then(|s| s.as_ref()))
                    .map(|s| s.name.clone())
                    .unwrap_or_default()
            } else {
                name
            };
            syms[idx] = Some(Sym {
                name,
                section,
                value: s.address(),
                size: s.size(),
                kind: s.kind(),
            });
        }
        Loader { secs, syms }.load()
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Result<&Program, ObjectError> {
        if let Some(p) = self.programs.iter().find(|p| p.name == name) {
            return Ok(p);
        }
        match self
            .broken
            .iter()
            .find(|b| b.program.as_deref() == Some(name) || b.section == name)
        {
            Some(b) => Err(ObjectError::Section {
                section: b.section.clone(),
                message: format!("program `{name}` could not be prepared: {}", b.error),
            }),
            None => Err(ObjectError::NotFound {
                what: "program",
                name: name.to_string(),
            }),
        }
    }

    /// The index of the map named `name`.
    pub fn map_index(&self, name: &str) -> Result<usize, ObjectError> {
        self.maps
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| ObjectError::NotFound {
                what: "map",
                name: name.to_string(),
            })
    }

    /// The global variable named `name`.
    pub fn global(&self, name: &str) -> Result<&GlobalVar, ObjectError> {
        self.globals
            .iter()
            .find(|g| g.name == name)
            .ok_or_else(|| ObjectError::NotFound {
                what: "global variable",
                name: name.to_string(),
            })
    }

    /// The current bytes of a global variable.
    pub fn global_bytes(&self, name: &str) -> Result<&[u8], ObjectError> {
        let g = self.global(name)?;
        let data = &self.maps[g.map].data;
        data.get(g.offset as usize..(g.offset + g.size) as usize)
            .ok_or_else(|| ObjectError::Global {
                name: name.to_string(),
                message: format!("lies outside its {}-byte section", data.len()),
            })
    }

    /// Sets a global variable before load, such as a `const volatile` rodata
    /// configuration value or a `.kconfig` extern. `value` must be exactly the
    /// variable's size.
    pub fn set_global(&mut self, name: &str, value: &[u8]) -> Result<(), ObjectError> {
        let g = self.global(name)?.clone();
        if value.len() != g.size as usize {
            return Err(ObjectError::Global {
                name: name.to_string(),
                message: format!("is {} bytes, but {} were given", g.size, value.len()),
            });
        }
        let data = &mut self.maps[g.map].data;
        let slot = data
            .get_mut(g.offset as usize..(g.offset + g.size) as usize)
            .ok_or_else(|| ObjectError::Global {
                name: name.to_string(),
                message: "lies outside its section".into(),
            })?;
        slot.copy_from_slice(value);
        Ok(())
    }
}

/// Parsing state: the sections and symbols copied out of the ELF file.
pub(crate) struct Loader {
    pub secs: Vec<Option<Sec>>,
    pub syms: Vec<Option<Sym>>,
}

impl Loader {
    pub fn sec(&self, idx: usize) -> Option<&Sec> {
        self.secs.get(idx).and_then(|s| s.as_ref())
    }

    pub fn sym(&self, idx: usize) -> Option<&Sym> {
        self.syms.get(idx).and_then(|s| s.as_ref())
    }

    fn sec_by_name(&self, name: &str) -> Option<(usize, &Sec)> {
        self.secs
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.as_ref().filter(|s| s.name == name).map(|s| (i, s)))
    }

    /// Symbols defined in section `idx`, in address order.
    fn syms_in(&self, idx: usize) -> Vec<&Sym> {
        let mut v: Vec<&Sym> = self
            .syms
            .iter()
            .flatten()
            .filter(|s| {
                s.section == Some(idx) && s.kind != SymbolKind::Section && !s.name.is_empty()
            })
            .collect();
        v.sort_by_key(|s| s.value);
        v
    }

    fn load(self) -> Result<Object, ObjectError> {
        let license = self
            .sec_by_name("license")
            .map(|(_, s)| {
                let end = s.data.iter().position(|&b| b == 0).unwrap_or(s.data.len());
                String::from_utf8_lossy(&s.data[..end]).into_owned()
            })
            .unwrap_or_default();
        let kernel_version = self
            .sec_by_name("version")
            .and_then(|(_, s)| s.data.get(..4))
            .map(|b| u32::from_le_bytes(b.try_into().expect("four bytes")));
        let btf = match self.sec_by_name(".BTF") {
            Some((_, s)) => {
                let b = Btf::parse(&s.data)?;
                b.validate()?;
                Some(b)
            }
            None => None,
        };
        let btf_ext = match (self.sec_by_name(".BTF.ext"), &btf) {
            (Some((_, s)), Some(b)) => Some(BtfExt::parse(&s.data, b.strings())?),
            _ => None,
        };

        let (maps, globals, map_of_symbol, map_of_section) = self.collect_maps(btf.as_ref())?;
        let (programs, broken) = link::link_programs(
            &self,
            &map_of_symbol,
            &map_of_section,
            &globals,
            btf_ext.as_ref(),
        );

        let mut relocations = Vec::new();
        for s in self.secs.iter().flatten() {
            if s.name.starts_with(".debug") || s.name.starts_with(".BTF") {
                continue;
            }
            for (&offset, &(r_type, sym)) in &s.relocs {
                relocations.push(RelocationRecord {
                    section: s.name.clone(),
                    offset,
                    kind: reloc_name(r_type),
                    symbol: self.sym(sym).map(|s| s.name.clone()).unwrap_or_default(),
                });
            }
        }
        let mut obj = Object {
            license,
            kernel_version,
            programs,
            maps,
            globals,
            btf,
            btf_ext,
            relocations,
            broken,
        };
        link::fill_map_slots(&self, &mut obj)?;
        Ok(obj)
    }

    /// Maps from `.maps`, `maps` and the global-data sections, plus the global
    /// variables, and lookups from symbol name and data section index to map index.
    #[allow(clippy::type_complexity)]
    fn collect_maps(
        &self,
        btf: Option<&Btf>,
    ) -> Result<
        (
            Vec<MapDef>,
            Vec<GlobalVar>,
            BTreeMap<String, usize>,
            BTreeMap<usize, usize>,
        ),
        ObjectError,
    > {
        let mut maps = Vec::new();
        let mut by_symbol = BTreeMap::new();
        let mut by_section = BTreeMap::new();
        let mut globals = Vec::new();

        if let Some((idx, _)) = self.sec_by_name(".maps") {
            let btf = btf.ok_or_else(|| ObjectError::Section {
                section: ".maps".into(),
                message: "BTF-defined maps need a .BTF section".into(),
            })?;
            let vars = datasec_vars(btf, ".maps");
            for sym in self.syms_in(idx) {
                let (type_id, _) = vars
                    .iter()
                    .find(|(_, v)| v.0 == sym.name)
                    .map(|(_, v)| (v.1, v.2))
                    .ok_or_else(|| ObjectError::Symbol {
                        symbol: sym.name.clone(),
                        message: "is in .maps but has no BTF variable".into(),
                    })?;
                let def = maps::btf_map_def(btf, &sym.name, type_id, MapOrigin::Btf)?;
                by_symbol.insert(sym.name.clone(), maps.len());
                maps.push(def);
            }
        }
        if let Some((idx, sec)) = self.sec_by_name("maps") {
            let first = maps.len();
            let mut words: Vec<Vec<u32>> = Vec::new();
            let syms = self.syms_in(idx);
            for (i, sym) in syms.iter().enumerate() {
                let end = if sym.size > 0 {
                    sym.value + sym.size
                } else {
                    syms.get(i + 1).map_or(sec.data.len() as u64, |n| n.value)
                };
                let bytes = sec
                    .data
                    .get(sym.value as usize..end as usize)
                    .ok_or_else(|| ObjectError::Symbol {
                        symbol: sym.name.clone(),
                        message: format!("lies outside section `maps` ({} bytes)", sec.data.len()),
                    })?;
                let def = maps::legacy_map_def(&sym.name, bytes)?;
                words.push(
                    bytes
                        .chunks_exact(4)
                        .map(|w| u32::from_le_bytes(w.try_into().expect("four bytes")))
                        .collect(),
                );
                by_symbol.insert(sym.name.clone(), maps.len());
                maps.push(def);
            }
            maps::link_legacy_inner_maps(&mut maps[first..], &words);
        }
        for (idx, sec) in self.secs.iter().enumerate() {
            let Some(sec) = sec else { continue };
            if !is_data_section(&sec.name) || sec.size == 0 {
                continue;
            }
            if sec.size > MAX_GLOBAL_DATA {
                return Err(ObjectError::Section {
                    section: sec.name.clone(),
                    message: format!(
                        "{} bytes is too large for a global-data map (at most {MAX_GLOBAL_DATA})",
                        sec.size
                    ),
                });
            }
            let data = if sec.data.is_empty() {
                vec![0u8; sec.size as usize]
            } else {
                sec.data.clone()
            };
            let read_only = sec.name.starts_with(".rodata");
            let datasec =
                btf.and_then(|b| b.find(&sec.name, |t| matches!(t, BtfType::Datasec { .. })));
            let map = maps.len();
            maps.push(MapDef::global(
                &sec.name, &sec.name, data, read_only, datasec,
            ));
            by_section.insert(idx, map);
            // Variables: from the ELF symbols, typed from BTF where it has them.
            let vars = btf.map(|b| datasec_vars(b, &sec.name)).unwrap_or_default();
            for sym in self.syms_in(idx) {
                if sym.kind == SymbolKind::Text {
                    continue;
                }
                let type_id = vars.iter().find(|(_, v)| v.0 == sym.name).map(|(_, v)| v.1);
                let size = if sym.size > 0 {
                    sym.size
                } else {
                    type_id
                        .and_then(|t| btf.and_then(|b| b.size_of(t)))
                        .unwrap_or(0)
                };
                globals.push(GlobalVar {
                    name: sym.name.clone(),
                    map,
                    offset: sym.value as u32,
                    size: size as u32,
                    type_id,
                });
            }
        }
        // `.kconfig` externs live in a map of their own. The compiler leaves their
        // offsets to the loader: each is placed at the next offset aligned to its
        // size (at most 8), in the datasec's order.
        if let Some(b) = btf {
            let vars = datasec_vars(b, ".kconfig");
            if !vars.is_empty() {
                let mut placed = Vec::with_capacity(vars.len());
                let mut end = 0u64;
                for (_, (name, type_id, _)) in vars {
                    let size = b.size_of(type_id).unwrap_or(0);
                    let align = [8u64, 4, 2, 1]
                        .into_iter()
                        .find(|a| size >= *a)
                        .unwrap_or(1);
                    let off = end.div_ceil(align) * align;
                    end = off + size;
                    if end > MAX_GLOBAL_DATA {
                        return Err(ObjectError::Btf(format!(
                            ".kconfig externs span {end} bytes"
                        )));
                    }
                    placed.push((name, type_id, off as u32, size as u32));
                }
                let map = maps.len();
                let datasec = b.find(".kconfig", |t| matches!(t, BtfType::Datasec { .. }));
                maps.push(MapDef::global(
                    ".kconfig",
                    ".kconfig",
                    vec![0; end as usize],
                    true,
                    datasec,
                ));
                for (name, type_id, offset, size) in placed {
                    by_symbol.insert(name.clone(), map);
                    globals.push(GlobalVar {
                        name,
                        map,
                        offset,
                        size,
                        type_id: Some(type_id),
                    });
                }
            }
        }
        Ok((maps, globals, by_symbol, by_section))
    }
}

/// The variables of a BTF datasec: (offset, (name, var's type, size)).
fn datasec_vars(btf: &Btf, section: &str) -> Vec<(u32, (String, TypeId, u32))> {
    let Some(id) = btf.find(section, |t| matches!(t, BtfType::Datasec { .. })) else {
        return Vec::new();
    };
    let Some(BtfType::Datasec { vars, .. }) = btf.get(id) else {
        return Vec::new();
    };
    vars.iter()
        .filter_map(|v| match btf.get(v.type_id) {
            Some(BtfType::Var { name, type_id, .. }) => {
                Some((v.offset, (name.clone(), *type_id, v.size)))
            }
            _ => None,
        })
        .collect()
}
