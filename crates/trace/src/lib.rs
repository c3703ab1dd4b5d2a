//! The bpftrace language, compiled to eBPF by oxbpf itself.
//!
//! A script is parsed ([`parser`]), checked ([`check`]), and compiled to one
//! program per attach point ([`codegen`]) with the maps it uses, inside an
//! [`oxbpf_object::Object`] that the kernel backend loads like any
//! clang-built object. Every program is verified with oxbpf's verifier.
//! Programs send `printf` and the other output to user space through a ring
//! buffer; [`output`] turns those records, and the maps at exit, into
//! bpftrace's text. Nothing here makes a system call: tracefs comes in
//! through [`Tracefs`].
//!
//! ```
//! use oxbpf_trace::{compile, NoTracefs, Options};
//!
//! let script = compile(r#"BEGIN { @n = 1 + 2; printf("hi %d\n", @n); exit(); }"#,
//!                      &Options::default(), &NoTracefs).unwrap();
//! assert_eq!(script.probes.len(), 1);
//! assert_eq!(script.maps[0].name, "n");
//! ```

pub mod ast;
pub mod check;
pub mod codegen;
pub mod error;
pub mod lexer;
pub mod output;
pub mod parser;
pub mod probe;
pub mod session;
pub mod tracefs;
pub mod types;

use oxbpf_isa::RawInsn;
use oxbpf_object::{classify, MapDef, MapOrigin, Object, Program, ProgramType};

pub use error::{Span, TraceError};
pub use probe::Probe;
pub use tracefs::{NoTracefs, StaticTracefs, Tracefs};
pub use types::{Event, MapDecl, MapKind, Ty};

/// How to compile.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The positional parameters `$1..$N`.
    pub params: Vec<String>,
    /// The pid of the `-c` command, which the `cpid` builtin yields.
    pub cpid: Option<u32>,
}

/// One generated program and where it attaches.
#[derive(Clone, Debug)]
pub struct CompiledProbe {
    /// The program's name in [`Compiled::object`].
    pub program: String,
    pub probe: Probe,
    /// The attach point in the script.
    pub span: Span,
    /// Per instruction slot, the script span it was generated for.
    pub spans: Vec<Span>,
    /// Per instruction slot, the innermost `while` loop around it.
    pub loops: Vec<Option<Span>>,
}

/// A compiled script.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The programs and maps, ready for `oxbpf_kernel::Kernel::load` or `oxbpf::Runtime`.
    pub object: Object,
    /// Programs in script order (BEGIN and END included).
    pub probes: Vec<CompiledProbe>,
    /// The script's maps; `index` is into `object.maps`.
    pub maps: Vec<MapDecl>,
    /// Events by id (the first u64 of each ring buffer record).
    pub events: Vec<Event>,
}

/// The object's name of the event ring buffer.
pub const RINGBUF_NAME: &str = "events";
/// The object's name of the start-time global (`elapsed` counts from it).
pub const START_NAME: &str = "start";
/// The object's name of the per-CPU count of events lost to a full ring buffer.
pub const LOST_NAME: &str = "lost";
/// Ring buffer bytes.
const RINGBUF_BYTES: u32 = 1 << 20;
/// Entries per script map (bpftrace's default).
pub const MAP_ENTRIES: u32 = 4096;

/// The program that records the start time for `elapsed`; run it once before BEGIN.
pub const INIT_PROGRAM: &str = "oxbpf_init";

impl Compiled {
    /// The object map name of script map `name` (`@name`).
    pub fn map_object_name(name: &str) -> String {
        format!("AT_{name}")
    }

    /// The program named `name`'s probe.
    pub fn probe_of(&self, program: &str) -> Option<&CompiledProbe> {
        self.probes.iter().find(|p| p.program == program)
    }
}

/// The section (and so the program type) a probe's program gets.
fn section(p: &Probe) -> String {
    match p {
        Probe::Begin => "raw_tp/oxbpf_begin".into(),
        Probe::End => "raw_tp/oxbpf_end".into(),
        Probe::Tracepoint { category, name } => format!("tracepoint/{category}/{name}"),
        Probe::RawTracepoint { name } => format!("raw_tp/{name}"),
        Probe::Interval { .. } | Probe::Profile { .. } => "perf_event".into(),
        Probe::Uprobe { path, symbol, ret } => format!(
            "{}/{path}:{symbol}",
            if *ret { "uretprobe" } else { "uprobe" }
        ),
    }
}

fn program_name(i: usize, p: &Probe) -> String {
    let tail = match p {
        Probe::Begin => "begin".to_string(),
        Probe::End => "end".to_string(),
        Probe::Tracepoint { name, .. } | Probe::RawTracepoint { name } => name.clone(),
        Probe::Interval { .. } => "interval".into(),
        Probe::Profile { .. } => "profile".into(),
        Probe::Uprobe { symbol, .. } => symbol.clone(),
    };
    let clean: String = tail
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut name = format!("p{i}_{clean}");
    name.truncate(15);
    name
}

/// Compiles a script: parse, check, generate and verify every program.
pub fn compile(src: &str, opts: &Options, fs: &dyn Tracefs) -> Result<Compiled, TraceError> {
    let script = parser::parse(src)?;
    let mut maps = Vec::new();
    let mut events = Vec::new();
    let mut generated = Vec::new();
    for block in &script.probes {
        for (text, span) in &block.attach {
            for probe in probe::expand(text, *span, fs)? {
                let fields = match &probe {
                    Probe::Tracepoint { category, name } => {
                        let tp = format!("{category}:{name}");
                        let text =
                            fs.format(category, name)
                                .ok_or_else(|| TraceError::Tracefs {
                                    span: *span,
                                    tracepoint: tp.clone(),
                                    message: "its format file cannot be read".into(),
                                })?;
                        tracefs::parse_format(&text).map_err(|message| TraceError::Tracefs {
                            span: *span,
                            tracepoint: tp,
                            message,
                        })?
                    }
                    _ => Vec::new(),
                };
                let mut env = check::Env::new(&probe, &fields, &opts.params, &mut maps);
                env.cpid = opts.cpid;
                if let Some(p) = &block.predicate {
                    env.predicate(p)?;
                }
                env.block(&block.body)?;
                let asm = codegen::Gen::program(&mut env, &mut events, block)?;
                let done = asm.finish()?;
                let name = program_name(generated.len(), &probe);
                generated.push((name, probe, *span, done));
            }
        }
    }
    let mut object = Object {
        license: "GPL".into(),
        kernel_version: None,
        programs: Vec::new(),
        maps: Vec::new(),
        globals: Vec::new(),
        btf: None,
        btf_ext: None,
        relocations: Vec::new(),
        broken: Vec::new(),
    };
    object.maps.push(MapDef {
        map_type: 27, // BPF_MAP_TYPE_RINGBUF
        key_size: 0,
        value_size: 0,
        max_entries: RINGBUF_BYTES,
        ..MapDef::global(RINGBUF_NAME, "", Vec::new(), false, None)
    });
    object.maps.last_mut().expect("pushed").origin = MapOrigin::Btf;
    object
        .maps
        .push(MapDef::global(START_NAME, ".data", vec![0; 8], false, None));
    let mut lost = MapDef::global(LOST_NAME, "", Vec::new(), false, None);
    lost.origin = MapOrigin::Btf;
    lost.map_type = 6; // percpu_array
    lost.key_size = 4;
    lost.value_size = 8;
    lost.max_entries = 1;
    object.maps.push(lost);
    for m in &maps {
        let mut def = MapDef::global(
            &Compiled::map_object_name(&m.name),
            "",
            Vec::new(),
            false,
            None,
        );
        def.origin = MapOrigin::Btf;
        def.map_type = if m.kind.per_cpu() { 5 } else { 1 }; // percpu_hash, hash
        def.key_size = m.key_size() as u32;
        def.value_size = m.kind.value_size() as u32;
        def.max_entries = MAP_ENTRIES;
        def.map_flags = 0;
        object.maps.push(def);
    }
    object.programs.push(init_program()?);
    let mut probes = Vec::new();
    for (name, probe, span, done) in generated {
        let insns = done.insns;
        let section = section(&probe);
        let (prog_type, attach) = classify(&section);
        debug_assert_ne!(prog_type, ProgramType::Unspec);
        object.programs.push(Program {
            name: name.clone(),
            section,
            prog_type,
            attach,
            main_len: insns.len(),
            insns,
            subprograms: Vec::new(),
            section_offset: 0,
            func_info: Vec::new(),
            line_info: Vec::new(),
            core_relos: Vec::new(),
            ksyms: Vec::new(),
        });
        probes.push(CompiledProbe {
            program: name,
            probe,
            span,
            spans: done.spans,
            loops: done.loops,
        });
    }
    let compiled = Compiled {
        object,
        probes,
        maps,
        events,
    };
    verify(&compiled)?;
    Ok(compiled)
}

/// `start = bpf_ktime_get_ns()`, as a raw tracepoint program for test runs.
fn init_program() -> Result<Program, TraceError> {
    use oxbpf_isa::{Insn, Reg, Size};
    let mut a = codegen::Asm::new();
    a.call(codegen::helper::KTIME_NS);
    a.map_value(Reg::R1, codegen::START_MAP);
    a.store(Size::DW, Reg::R1, 0, Reg::R0);
    a.imm(Reg::R0, 0);
    a.push(Insn::Exit);
    let insns = a.finish()?.insns;
    let section = "raw_tp/oxbpf_init".to_string();
    let (prog_type, attach) = classify(&section);
    Ok(Program {
        name: INIT_PROGRAM.into(),
        section,
        prog_type,
        attach,
        main_len: insns.len(),
        insns,
        subprograms: Vec::new(),
        section_offset: 0,
        func_info: Vec::new(),
        line_info: Vec::new(),
        core_relos: Vec::new(),
        ksyms: Vec::new(),
    })
}

/// Runs oxbpf's verifier on every program; a rejection is this compiler's bug,
/// reported at the script span the failing instruction came from.
pub fn verify(c: &Compiled) -> Result<(), TraceError> {
    let init = c
        .object
        .program(INIT_PROGRAM)
        .map_err(|e| TraceError::Rejected {
            span: Span::default(),
            probe: INIT_PROGRAM.into(),
            message: e.to_string(),
        })?;
    if let Some(r) = verify_program(c, init).rejection {
        return Err(TraceError::Rejected {
            span: Span::default(),
            probe: INIT_PROGRAM.into(),
            message: r.message,
        });
    }
    for p in &c.probes {
        let Ok(prog) = c.object.program(&p.program) else {
            continue;
        };
        let report = verify_program(c, prog);
        if let Some(r) = report.rejection {
            use oxbpf_verifier::Reason;
            if matches!(r.reason, Reason::TooComplex | Reason::InfiniteLoop) {
                let at = p.spans.get(r.insn).copied().unwrap_or(p.span);
                return Err(TraceError::VerifierLimit {
                    span: p.loops.get(r.insn).copied().flatten().unwrap_or(at),
                    probe: p.probe.name(),
                    message: format!("{} (loop fewer times, or do less per iteration)", r.message),
                });
            }
            return Err(TraceError::Rejected {
                span: p.spans.get(r.insn).copied().unwrap_or(p.span),
                probe: p.probe.name(),
                message: format!("instruction {}: {} ({})", r.insn, r.message, r.insn_text),
            });
        }
    }
    Ok(())
}

/// The verifier's report on one of the compiled programs.
pub fn verify_program(c: &Compiled, prog: &Program) -> oxbpf_verifier::Report {
    let maps = oxbpf_verifier::object_maps(&c.object);
    let input = oxbpf_verifier::Input::program(prog, &maps);
    oxbpf_verifier::verify(&input, &oxbpf_verifier::Options::default())
}

/// The instructions of a program, for listings.
pub fn slots(prog: &Program) -> &[RawInsn] {
    &prog.insns
}
