//! `oxbpf`: assemble, disassemble, verify and run eBPF programs, filter
//! packets with classic BPF, and work with the kernel's bpf(2).

mod error;
mod filter_cmd;
mod input;
mod jit_cmd;
mod kernel_cmd;
mod object_cmd;
mod plugin;
mod trace;
mod trace_cmd;
mod verify_cmd;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use error::CliError;
use input::{load_program, parse_hex, read_file, Format};
use oxbpf_isa::{assemble_bytes, disassemble, Syntax};
use oxbpf_vm::{Helpers, Vm};

#[derive(Parser)]
#[command(
    name = "oxbpf",
    version,
    about = "eBPF toolkit: assembler and disassembler, verifier, interpreter and x86-64 JIT, \
             clang-built objects with their maps and helpers, tcpdump-style filters, and the \
             kernel's bpf(2)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The instruction set of `disasm --jit`.
#[derive(Clone, Copy, ValueEnum)]
enum ArchArg {
    /// x86-64
    #[value(name = "x86-64", alias = "x86_64")]
    X86_64,
    /// AArch64 (arm64), with the LSE atomics
    #[value(alias = "arm64")]
    Aarch64,
    /// AArch64 without LSE: atomics as LL/SC loops
    #[value(name = "aarch64-ll-sc")]
    Aarch64LlSc,
}

#[derive(Clone, Copy, ValueEnum)]
enum SyntaxArg {
    /// llvm-objdump syntax: `r1 += 5`
    Llvm,
    /// Kernel verifier-log syntax: `(07) r1 += 5`
    Kernel,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble text (llvm or bpf_conformance dialect) into bytecode.
    Asm {
        /// Assembly file, or `-` for stdin.
        #[arg(default_value = "-")]
        input: PathBuf,
        /// Write raw bytecode to this file instead of printing hex.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Disassemble bytecode (raw bytes, hex text, or an ELF object's programs).
    Disasm {
        /// Bytecode file or ELF object, or `-` for stdin.
        #[arg(default_value = "-")]
        input: PathBuf,
        /// With an ELF object: only this program.
        #[arg(long)]
        prog: Option<String>,
        /// With an ELF object: interleave the C source lines from BTF line info.
        #[arg(long)]
        source: bool,
        /// With an ELF object: apply CO-RE relocations against this BTF file
        /// (such as /sys/kernel/btf/vmlinux) first.
        #[arg(long)]
        btf: Option<PathBuf>,
        /// Output syntax.
        #[arg(long, value_enum, default_value = "llvm")]
        syntax: SyntaxArg,
        /// How to read the input.
        #[arg(long, value_enum, default_value = "auto")]
        format: Format,
        /// Print the machine code the JIT compiles the program to, under each instruction.
        #[arg(long, conflicts_with_all = ["source", "syntax"])]
        jit: bool,
        /// With --jit: the code for programs a verifier approved (no run-time checks).
        #[arg(long, requires = "jit")]
        unchecked: bool,
        /// With --jit: the instruction set (default: this host's; x86-64 where
        /// the JIT cannot run).
        #[arg(long, value_enum, requires = "jit")]
        arch: Option<ArchArg>,
    },
    /// Run a program in the interpreter (or the JIT, with --jit) and print r0.
    ///
    /// r1 points at the input memory and r2 holds its length; an ELF object's
    /// program gets its maps and the kernel's helpers, and the context its
    /// program type's test run gives.
    Run {
        /// Program: assembly, raw bytecode, hex, a bpf_conformance `.data` file, or an
        /// ELF object (with --prog).
        program: PathBuf,
        /// With an ELF object: the program to run.
        #[arg(long)]
        prog: Option<String>,
        /// With an ELF object: run its programs as this program type (a
        /// bpftool name such as xdp, or a SEC() name such as tc), whatever
        /// their SEC() names say.
        #[arg(long = "type", value_name = "TYPE")]
        prog_type: Option<String>,
        /// How to read the program.
        #[arg(long, value_enum, default_value = "auto")]
        format: Format,
        /// Input memory (for objects: the test-run data, such as a packet) from a
        /// file: raw bytes, or hex text when it ends in `.hex`.
        #[arg(long, visible_alias = "data-in", conflicts_with = "mem_hex")]
        mem: Option<PathBuf>,
        /// Input memory as hex text, e.g. `"01 02 03"`.
        #[arg(long, visible_alias = "data-hex")]
        mem_hex: Option<String>,
        /// With an ELF object: the context bytes (`struct xdp_md`, `__sk_buff`, or
        /// a tracing program's whole context).
        #[arg(long)]
        ctx_in: Option<PathBuf>,
        /// Print each executed instruction with the registers it changed.
        #[arg(long)]
        trace: bool,
        /// Run in the x86-64 JIT (checked mode: every access checked) instead of
        /// the interpreter.
        #[arg(long, conflicts_with = "trace")]
        jit: bool,
        /// With an ELF object: verify the program with oxbpf's verifier, refuse
        /// it if rejected, and run it (in the interpreter, or with --jit in the
        /// JIT) without run-time memory checks.
        #[arg(long, conflicts_with = "trace")]
        verified: bool,
        /// Stop after this many executed instructions.
        #[arg(long)]
        budget: Option<u64>,
        /// Also print the number of executed instructions and the input memory afterwards.
        #[arg(long)]
        stats: bool,
        /// With an ELF object: run this many times (maps keep their contents).
        #[arg(long, default_value_t = 1)]
        repeat: u64,
        /// With an ELF object: print one JSON document (return value, memory, maps).
        #[arg(long)]
        json: bool,
    },
    /// Inspect ELF objects built by `clang -target bpf`.
    Object {
        #[command(subcommand)]
        command: ObjectCommand,
    },
    /// Work with the running Linux kernel through bpf(2) (needs root / CAP_BPF).
    Kernel {
        #[command(subcommand)]
        command: kernel_cmd::KernelCommand,
    },
    /// Filter a capture file with a tcpdump expression, run on oxbpf's VM.
    Filter(filter_cmd::FilterArgs),
    /// Statically verify programs (an object's, or raw bytecode with --type);
    /// exit status 0 accepted, 1 rejected, 2 unusable input.
    Verify(verify_cmd::VerifyArgs),
    /// Run a bpftrace script, compiled to eBPF and verified by oxbpf (needs root;
    /// --dry-run only to read tracefs).
    Trace(trace_cmd::TraceArgs),
    /// The bpf_conformance plugin protocol: program hex on stdin, r0 in hex on stdout.
    ConformancePlugin {
        /// Input memory as `"aa  bb  "` hex, then options such as `--jit`.
        #[arg(allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
}

/// Writes to stdout; a closed pipe (as with `| head`) ends the command quietly.
fn out(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => r.map_err(|source| CliError::Io {
            path: "<stdout>".into(),
            source,
        }),
    }
}

#[derive(Subcommand)]
enum ObjectCommand {
    /// Programs, maps, global data, relocations, CO-RE relocations and BTF of an object.
    Show {
        /// The object file.
        file: PathBuf,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Also print every BTF type (bpftool's raw format).
        #[arg(long)]
        btf_types: bool,
        /// Apply CO-RE relocations against this BTF file and show the results.
        #[arg(long)]
        btf: Option<PathBuf>,
    },
}

fn syntax_of(s: SyntaxArg) -> Syntax {
    match s {
        SyntaxArg::Llvm => Syntax::Llvm,
        SyntaxArg::Kernel => Syntax::Kernel,
    }
}

fn main() -> ExitCode {
    // Output piped into `head` and closed early ends the process quietly, as
    // with other command-line tools, instead of failing a print.
    // SAFETY: restoring a signal's default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let text = s.to_string();
                if !msg.contains(&text) {
                    msg.push_str(": ");
                    msg.push_str(&text);
                }
                source = s.source();
            }
            eprintln!("oxbpf: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<(), CliError> {
    match command {
        Command::Asm { input, output } => {
            let bytes = read_file(&input)?;
            let text = String::from_utf8(bytes).map_err(|e| {
                CliError::Input(format!("{}: not UTF-8 text ({e})", input.display()))
            })?;
            let code = assemble_bytes(&text).map_err(|source| CliError::Isa {
                context: input.display().to_string(),
                source,
            })?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &code).map_err(|source| CliError::Io { path, source })
                }
                None => {
                    let mut text = String::new();
                    for chunk in code.chunks(8) {
                        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                        text.push_str(&hex.join(" "));
                        text.push('\n');
                    }
                    out(&text)
                }
            }
        }
        Command::Disasm {
            input,
            prog,
            source,
            btf,
            syntax,
            format,
            jit,
            unchecked,
            arch,
        } => {
            if jit {
                let loaded = load_program(&input, format)?;
                let arch = match arch {
                    None => oxbpf_jit::Arch::host(),
                    Some(ArchArg::X86_64) => oxbpf_jit::Arch::X86_64,
                    Some(ArchArg::Aarch64) => oxbpf_jit::Arch::Aarch64 { lse: true },
                    Some(ArchArg::Aarch64LlSc) => oxbpf_jit::Arch::Aarch64 { lse: false },
                };
                return out(&jit_cmd::listing(&loaded.bytecode, unchecked, arch)?);
            }
            let syntax = syntax_of(syntax);
            if input != std::path::Path::new("-") && object_cmd::is_elf(&read_file(&input)?) {
                let (obj, _) = object_cmd::load(&input, btf.as_deref())?;
                return out(&object_cmd::disasm(&obj, prog.as_deref(), syntax, source)?);
            }
            let loaded = load_program(&input, format)?;
            let listing =
                disassemble(&loaded.bytecode, syntax).map_err(|source| CliError::Isa {
                    context: input.display().to_string(),
                    source,
                })?;
            out(&listing)
        }
        Command::Run {
            program,
            prog,
            format,
            mem,
            mem_hex,
            trace,
            budget,
            stats,
            repeat,
            json,
            ctx_in,
            jit,
            verified,
            prog_type,
        } => {
            if jit {
                jit_cmd::host_check()?;
            }
            let given = match (mem, mem_hex) {
                (Some(path), _) if path.extension().is_some_and(|e| e == "hex") => {
                    let bytes = read_file(&path)?;
                    Some(
                        parse_hex(&String::from_utf8_lossy(&bytes))
                            .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?,
                    )
                }
                (Some(path), _) => Some(read_file(&path)?),
                (None, Some(hex)) => {
                    Some(parse_hex(&hex).map_err(|e| CliError::Input(format!("--mem-hex: {e}")))?)
                }
                (None, None) => None,
            };
            if object_cmd::is_elf(&read_file(&program)?) {
                let (mut obj, _) = object_cmd::load(&program, None)?;
                if let Some(tname) = &prog_type {
                    verify_cmd::override_type(&mut obj, tname).map_err(CliError::Input)?;
                }
                let name = match (&prog, obj.programs.as_slice()) {
                    (Some(name), _) => name.clone(),
                    (None, [only]) => only.name.clone(),
                    (None, all) => {
                        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
                        return Err(CliError::Input(format!(
                            "{} has {} programs; choose one with --prog ({})",
                            program.display(),
                            all.len(),
                            names.join(", ")
                        )));
                    }
                };
                let ctx = ctx_in.map(|p| read_file(&p)).transpose()?;
                let report = object_cmd::run_object(
                    obj,
                    &name,
                    given.unwrap_or_default(),
                    ctx,
                    budget,
                    repeat,
                    json,
                    match (jit, verified) {
                        (true, true) => oxbpf::Engine::JitVerified,
                        (true, false) => oxbpf::Engine::Jit,
                        (false, true) => oxbpf::Engine::InterpreterVerified,
                        (false, false) => oxbpf::Engine::Interpreter,
                    },
                )?;
                return out(&report);
            }
            if prog_type.is_some() {
                return Err(CliError::Input(
                    "--type applies to ELF objects; raw bytecode runs with r1 = the input memory and r2 = its length".into(),
                ));
            }
            let loaded = load_program(&program, format)?;
            let mut memory = given.unwrap_or_else(|| loaded.mem.clone().unwrap_or_default());
            let helpers = if loaded.conformance {
                Helpers::conformance()
            } else {
                Helpers::new()
            };
            if verified {
                return Err(CliError::Input(
                    "--verified needs an ELF object: its program type gives the context the verifier checks against".into(),
                ));
            }
            if jit {
                return out(&jit_cmd::run(
                    &loaded.bytecode,
                    &helpers,
                    &mut memory,
                    budget,
                    stats,
                )?);
            }
            let mut vm = Vm::new(&loaded.bytecode, &helpers)?;
            // --stats counts instructions, which needs a budget (an unlimited one by default).
            vm.set_budget(budget.or(stats.then_some(u64::MAX)));
            let start = std::time::Instant::now();
            let r0 = if trace {
                let program = vm.program().clone();
                let stdout = std::io::stdout();
                let mut tracer =
                    trace::PrintTracer::new(&program, std::io::BufWriter::new(stdout.lock()));
                let r0 = vm.run_traced(&mut memory, &mut tracer);
                tracer.flush();
                r0?
            } else {
                vm.run(&mut memory)?
            };
            let elapsed = start.elapsed();
            let mut text = format!("r0 = {r0:#x} ({})\n", r0 as i64);
            if stats {
                text.push_str(&format!(
                    "executed {} instructions in {elapsed:?}\n",
                    vm.executed().unwrap_or(0)
                ));
                if !memory.is_empty() {
                    let hex: Vec<String> = memory.iter().map(|b| format!("{b:02x}")).collect();
                    text.push_str(&format!("memory: {}\n", hex.join(" ")));
                }
            }
            out(&text)
        }
        Command::ConformancePlugin { args } => out(&plugin::run(&args)?),
        Command::Kernel { command } => out(&kernel_cmd::run(command)?),
        Command::Filter(args) => filter_cmd::run(args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Trace(args) => trace_cmd::run(args),
        Command::Object {
            command:
                ObjectCommand::Show {
                    file,
                    json,
                    btf_types,
                    btf,
                },
        } => {
            let (obj, core) = object_cmd::load(&file, btf.as_deref())?;
            if json {
                let doc = object_cmd::show_json(&obj, &core);
                out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&doc).expect("JSON values serialize")
                ))
            } else {
                out(&object_cmd::show_text(&file, &obj, &core, btf_types))
            }
        }
    }
}
