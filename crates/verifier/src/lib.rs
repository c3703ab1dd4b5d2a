//! A static verifier for eBPF programs: abstract interpretation over every path,
//! as the Linux kernel's verifier does, with rejections a person can act on.
//!
//! It checks the structure (decoding, jumps, functions, reachability), tracks
//! registers (scalars with known bits and signed/unsigned 64/32-bit ranges,
//! typed pointers), stack slots, helper arguments against the object's maps,
//! ring buffer references, context layouts and return values per program type.
//! Paths are pruned against stored states that cover them, comparing only the
//! scalars whose values some check used (see [`precision`]).
//!
//! ```
//! use oxbpf_verifier::{verify, Input, Options};
//! use oxbpf_object::ProgramType;
//!
//! let insns = oxbpf_isa::assemble("r0 = *(u32 *)(r1 + 0)\nexit").unwrap();
//! let bytes = oxbpf_isa::encode_program(&insns);
//! let slots = oxbpf_isa::raw_slots(&bytes).unwrap();
//! let report = verify(&Input::new(&slots, ProgramType::Xdp), &Options::default());
//! // r0 is a packet pointer: fine for XDP's privileged loader.
//! assert!(report.accepted());
//!
//! // Reading stack never written: an unknown number to a privileged loader,
//! // as in the kernel; an error in strict mode (and to unprivileged loaders).
//! let insns = oxbpf_isa::assemble("r0 = *(u64 *)(r10 - 8)\nexit").unwrap();
//! let bytes = oxbpf_isa::encode_program(&insns);
//! let slots = oxbpf_isa::raw_slots(&bytes).unwrap();
//! let input = Input::new(&slots, ProgramType::Xdp);
//! assert!(verify(&input, &Options::default()).accepted());
//! let strict = Options { strict: true, ..Options::default() };
//! let report = verify(&input, &strict);
//! assert_eq!(report.rejection.unwrap().reason, oxbpf_verifier::Reason::UninitStack);
//! ```

pub mod check;
pub mod context;
pub mod error;
mod helper_table;
pub mod helpers;
pub mod precision;
pub mod report;
pub mod scalar;
pub mod state;
pub mod structure;
pub mod tnum;

use oxbpf_isa::RawInsn;
use oxbpf_object::{LineInfo, MapOrigin, Object, Program, ProgramType};

pub use error::VerifierError;
pub use report::{Reason, Rejection, Report, Stats};

/// What the verifier knows about a map the program uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    pub name: String,
    /// The kernel's map type id.
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// Programs may not write values (`.rodata`, `BPF_F_RDONLY_PROG`).
    pub read_only: bool,
    /// Programs may not read values (`BPF_F_WRONLY_PROG`).
    pub write_only: bool,
    /// The contents of a frozen read-only global-data map: loads from it are constants.
    pub frozen: Option<Vec<u8>>,
    /// For maps of maps: the index of the inner map's template in the map list.
    pub inner: Option<u32>,
    /// For program arrays: the types of the programs the object puts in it.
    /// A program array holds one type, and only programs of that type may
    /// tail-call through it (each was verified against its own context).
    pub holds: Vec<ProgramType>,
}

impl MapInfo {
    /// A map with the given type and sizes.
    pub fn new(
        name: &str,
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> MapInfo {
        MapInfo {
            name: name.to_string(),
            map_type,
            key_size,
            value_size,
            max_entries,
            read_only: false,
            write_only: false,
            frozen: None,
            inner: None,
            holds: Vec::new(),
        }
    }
}

/// The maps of an object, with the inner-map templates of maps of maps appended.
pub fn object_maps(obj: &Object) -> Vec<MapInfo> {
    const RDONLY_PROG: u32 = 1 << 7;
    const WRONLY_PROG: u32 = 1 << 8;
    let mut out: Vec<MapInfo> = obj
        .maps
        .iter()
        .map(|m| {
            let ro = matches!(
                m.origin,
                MapOrigin::GlobalData {
                    read_only: true,
                    ..
                }
            );
            let mut holds: Vec<ProgramType> = m
                .initial_slots
                .iter()
                .filter_map(|(_, p)| obj.program(p).ok().map(|p| p.prog_type))
                .collect();
            holds.dedup();
            MapInfo {
                holds,
                read_only: ro || m.map_flags & RDONLY_PROG != 0,
                write_only: m.map_flags & WRONLY_PROG != 0,
                frozen: ro.then(|| m.data.clone()),
                ..MapInfo::new(&m.name, m.map_type, m.key_size, m.value_size, m.max_entries)
            }
        })
        .collect();
    for (k, m) in obj.maps.iter().enumerate() {
        if let Some(inner) = &m.inner {
            out[k].inner = Some(out.len() as u32);
            out.push(MapInfo::new(
                &format!("{}.inner", m.name),
                inner.map_type,
                inner.key_size,
                inner.value_size,
                inner.max_entries,
            ));
        }
    }
    out
}

/// One program to verify.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    /// A name for reports.
    pub name: String,
    pub insns: &'a [RawInsn],
    pub prog_type: ProgramType,
    /// The ELF section (`SEC()` name), which names the attach type where the
    /// rules depend on it (such as `cgroup_skb/egress`'s return values); may be empty.
    pub section: &'a str,
    /// Maps that `lddw` map references index (map_idx, or map_fd taken as an index).
    pub maps: &'a [MapInfo],
    /// BTF line info, for the source line of a rejection.
    pub lines: &'a [LineInfo],
}

impl<'a> Input<'a> {
    /// Raw instructions of a program type, without maps or line info.
    pub fn new(insns: &'a [RawInsn], prog_type: ProgramType) -> Input<'a> {
        Input {
            name: "program".into(),
            insns,
            prog_type,
            section: "",
            maps: &[],
            lines: &[],
        }
    }

    /// An object's program with the object's maps (from [`object_maps`]).
    pub fn program(prog: &'a Program, maps: &'a [MapInfo]) -> Input<'a> {
        Input {
            name: prog.name.clone(),
            insns: &prog.insns,
            prog_type: prog.prog_type,
            section: &prog.section,
            maps,
            lines: &prog.line_info,
        }
    }
}

/// How to judge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Judge as a loader with CAP_BPF and CAP_PERFMON (the default) would be judged.
    pub privileged: bool,
    /// Record a full per-instruction log.
    pub log: bool,
    /// The complexity limit in processed instructions.
    pub max_insns: u64,
    /// Refuse reads of uninitialized stack even when privileged. The kernel
    /// lets CAP_PERFMON loaders read it (the bytes are unknown numbers), and so
    /// does oxbpf by default; strict mode keeps the unprivileged rule.
    pub strict: bool,
}

impl Options {
    /// Whether reads of never-written stack bytes give unknown numbers
    /// rather than an error (the kernel's `allow_uninit_stack`).
    pub fn allows_uninit_stack(&self) -> bool {
        self.privileged && !self.strict
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            privileged: true,
            log: false,
            max_insns: 1_000_000,
            strict: false,
        }
    }
}

/// Verifies one program.
pub fn verify(input: &Input<'_>, opts: &Options) -> Report {
    let start = std::time::Instant::now();
    let mut report = Report {
        name: input.name.clone(),
        rejection: None,
        stats: Stats::default(),
        log: None,
        cfg: None,
    };
    if !opts.privileged
        && !matches!(
            input.prog_type,
            ProgramType::SocketFilter | ProgramType::CgroupSkb
        )
    {
        report.rejection = Some(Rejection::structural(
            Reason::HelperUnavailable,
            0,
            format!(
                "{} programs need privileges; without them only socket filters and cgroup skb programs load",
                input.prog_type.name()
            ),
            "load with CAP_BPF (and CAP_NET_ADMIN or CAP_PERFMON), or judge in the default privileged mode",
        ));
        return report;
    }
    let cfg = match structure::analyze(input.insns, opts.privileged) {
        Ok(c) => c,
        Err(mut r) => {
            if let Some(Ok(i)) =
                (r.insn < input.insns.len()).then(|| oxbpf_isa::decode_at(input.insns, r.insn))
            {
                r.insn_text = format!("{}: {}", r.insn, i.display(oxbpf_isa::Syntax::Kernel));
            }
            r.source = source_line(input.lines, r.insn);
            report.rejection = Some(r);
            report.stats.time = start.elapsed();
            return report;
        }
    };
    let mut checker = check::Checker::new(&cfg, input.prog_type, input.section, input.maps, opts);
    if let Err(mut r) = checker.run() {
        r.source = source_line(input.lines, r.insn);
        report.rejection = Some(r);
    }
    report.stats = checker.stats;
    report.log = checker.log.take();
    report.stats.time = start.elapsed();
    report.cfg = Some(cfg);
    report
}

fn source_line(lines: &[LineInfo], insn: usize) -> Option<String> {
    let l = lines.iter().rev().find(|l| l.insn <= insn)?;
    let file = l.file.rsplit('/').next().unwrap_or(&l.file);
    Some(format!("{file}:{}: {}", l.line, l.source.trim()))
}

/// Verifies the programs of an object: all of them, or the one named `only`.
pub fn verify_object(
    obj: &Object,
    only: Option<&str>,
    opts: &Options,
) -> Result<Vec<Report>, VerifierError> {
    let maps = object_maps(obj);
    let progs: Vec<&Program> = match only {
        Some(name) => vec![obj
            .programs
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| VerifierError::NoSuchProgram {
                name: name.to_string(),
                available: obj
                    .programs
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?],
        None => obj.programs.iter().collect(),
    };
    Ok(progs
        .into_iter()
        .map(|p| verify(&Input::program(p, &maps), opts))
        .collect())
}

/// Splits raw bytecode into instruction slots.
pub fn slots(bytes: &[u8]) -> Result<Vec<RawInsn>, VerifierError> {
    oxbpf_isa::raw_slots(bytes).map_err(|_| VerifierError::Bytecode {
        len: bytes.len(),
        offset: bytes.len() - bytes.len() % 8,
    })
}
