//! `oxbpf kernel ...`: the running kernel through bpf(2), in bpftool's
//! spirit: programs and maps loaded in the kernel (list, show, dump,
//! lookup, update), loading and pinning objects, attaching until Ctrl-C,
//! test runs, and feature probes. Every command takes `--json`; permission
//! failures are one line naming the capability.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use oxbpf_kernel::info::{self, Dump, ProgInfo};
use oxbpf_kernel::maps::{map_list, Map, BPF_ANY, BPF_EXIST, BPF_NOEXIST};
use oxbpf_kernel::sys::Sys;
use oxbpf_kernel::{Kernel, KernelError};
use oxbpf_object::{Btf, MapOrigin, Object};
use serde_json::{json, Value};

use crate::error::CliError;
use crate::input::{parse_hex, read_file};
use crate::object_cmd;

/// Subcommands of `oxbpf kernel`.
#[derive(Subcommand)]
pub enum KernelCommand {
    /// Programs loaded in the kernel.
    Prog {
        #[command(subcommand)]
        command: ProgCommand,
    },
    /// Maps in the kernel.
    Map {
        #[command(subcommand)]
        command: MapCommand,
    },
    /// Load an object's maps and programs into the kernel, optionally pinning
    /// them in a bpffs directory (programs at DIR/NAME, maps at DIR/maps/NAME).
    Load {
        /// The object file.
        file: PathBuf,
        /// A bpffs directory to pin into; without it everything unloads on exit.
        #[arg(long)]
        pin: Option<PathBuf>,
        /// Load every program as this program type (a bpftool name such as
        /// xdp, or a SEC() name such as tc), whatever their SEC() names say.
        #[arg(long = "type", value_name = "TYPE")]
        prog_type: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Load an object and attach one program; stay attached, printing ring
    /// buffer records, until Ctrl-C (or --duration), then detach and print
    /// the maps.
    Attach(AttachArgs),
    /// Test-run a program (BPF_PROG_TEST_RUN): from an object file (with
    /// --prog; its maps are created and printed), or a loaded program by id
    /// or bpffs path.
    Run {
        /// An object file, a program id, or a pinned program's path.
        target: String,
        /// With an object file: the program to run.
        #[arg(long)]
        prog: Option<String>,
        /// Input data (a packet for XDP and skb programs) from a file.
        #[arg(long)]
        data_in: Option<PathBuf>,
        /// Input data as hex text.
        #[arg(long, conflicts_with = "data_in")]
        data_hex: Option<String>,
        /// Context bytes (`ctx_in`).
        #[arg(long)]
        ctx_in: Option<PathBuf>,
        /// Run this many times (in the kernel's loop; maps keep their contents).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        #[command(flatten)]
        json: Json,
    },
    /// Probe the program types, map types and helpers this kernel supports.
    Feature {
        /// Also probe helpers for these program types (ids or names);
        /// default: socket_filter, kprobe, sched_cls, tracepoint, xdp.
        #[arg(long, value_delimiter = ',')]
        helpers_for: Vec<String>,
        #[command(flatten)]
        json: Json,
    },
}

/// `--json`.
#[derive(Args, Clone, Copy)]
pub struct Json {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Subcommands of `oxbpf kernel prog`.
#[derive(Subcommand)]
pub enum ProgCommand {
    /// List every loaded program: id, type, name, tag, instructions.
    List {
        #[command(flatten)]
        json: Json,
    },
    /// One program in detail (PROG: an id, a pinned path, or a name).
    Show {
        prog: String,
        #[command(flatten)]
        json: Json,
    },
    /// A program's instructions as the kernel holds them.
    Dump {
        /// `xlated` (after the verifier's rewrites) or `jited` (machine code).
        which: DumpKind,
        /// An id, a pinned path, or a name.
        prog: String,
        #[command(flatten)]
        json: Json,
    },
}

/// Which dump of a program.
#[derive(Clone, Copy, ValueEnum)]
pub enum DumpKind {
    /// Translated BPF instructions, printed in oxbpf's syntax.
    Xlated,
    /// JIT-compiled machine code, disassembled (x86-64).
    Jited,
}

/// Subcommands of `oxbpf kernel map`.
#[derive(Subcommand)]
pub enum MapCommand {
    /// List every map: id, type, name, sizes.
    List {
        #[command(flatten)]
        json: Json,
    },
    /// Every entry (MAP: an id, a pinned path, or a name); values are shown
    /// through the map's BTF when it has one.
    Dump {
        map: String,
        #[command(flatten)]
        json: Json,
    },
    /// The value at a key.
    Lookup {
        map: String,
        /// The key as hex bytes.
        #[arg(long)]
        key: String,
        #[command(flatten)]
        json: Json,
    },
    /// Set a key to a value.
    Update {
        map: String,
        /// The key as hex bytes.
        #[arg(long)]
        key: String,
        /// The value as hex bytes.
        #[arg(long)]
        value: String,
        /// any: create or replace; noexist: create only; exist: replace only.
        #[arg(long, value_enum, default_value = "any")]
        flags: UpdateFlags,
        #[command(flatten)]
        json: Json,
    },
    /// Remove a key.
    Delete {
        map: String,
        /// The key as hex bytes.
        #[arg(long)]
        key: String,
        #[command(flatten)]
        json: Json,
    },
}

/// Update flags.
#[derive(Clone, Copy, ValueEnum)]
pub enum UpdateFlags {
    Any,
    Noexist,
    Exist,
}

/// `oxbpf kernel attach` options.
#[derive(Args)]
pub struct AttachArgs {
    /// The object file.
    file: PathBuf,
    /// The program to attach.
    #[arg(long)]
    prog: String,
    /// A tracepoint, CATEGORY/EVENT.
    #[arg(long, group = "target")]
    tracepoint: Option<String>,
    /// A raw tracepoint, such as sys_enter.
    #[arg(long, group = "target")]
    raw_tracepoint: Option<String>,
    /// A kernel function for a kprobe.
    #[arg(long, group = "target")]
    kprobe: Option<String>,
    /// A kernel function for a kretprobe.
    #[arg(long, group = "target")]
    kretprobe: Option<String>,
    /// BINARY:SYMBOL for a uprobe (BINARY may be a library name such as libc.so.6).
    #[arg(long, group = "target")]
    uprobe: Option<String>,
    /// BINARY:SYMBOL for a uretprobe.
    #[arg(long, group = "target")]
    uretprobe: Option<String>,
    /// Only this process, for uprobes.
    #[arg(long)]
    pid: Option<i32>,
    /// An interface for XDP.
    #[arg(long, group = "target")]
    xdp: Option<String>,
    /// Sample at this frequency (Hz) on every CPU, for perf_event programs.
    #[arg(long, group = "target")]
    perf_freq: Option<u64>,
    /// Detach after this many seconds instead of waiting for Ctrl-C.
    #[arg(long)]
    duration: Option<f64>,
    /// Set a global before loading (NAME=HEX), such as a `const volatile` filter.
    #[arg(long = "set", value_name = "NAME=HEX")]
    set: Vec<String>,
    #[command(flatten)]
    json: Json,
}

/// The CLI error for a kernel failure: permission errors become one line
/// naming the capability, never an errno.
fn kerr(action: &str) -> impl Fn(KernelError) -> CliError + '_ {
    move |e| match e.missing_capability() {
        Some(cap) => CliError::Input(format!(
            "{action}: not permitted; this needs {cap} (run as root or grant the capability)"
        )),
        None => CliError::Input(format!("{action}: {e}")),
    }
}

fn pretty(v: &Value) -> String {
    format!(
        "{}\n",
        serde_json::to_string_pretty(v).expect("JSON values serialize")
    )
}

/// Bytes as hex digits, as `oxbpf run` prints them.
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes as spaced hex pairs, for long dumps.
fn spaced(b: &[u8]) -> String {
    let parts: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    parts.join(" ")
}

fn sys() -> Arc<dyn Sys> {
    oxbpf_kernel::sys::real()
}

/// Runs one `oxbpf kernel` command; returns what to print.
pub fn run(command: KernelCommand) -> Result<String, CliError> {
    match command {
        KernelCommand::Prog { command } => prog(command),
        KernelCommand::Map { command } => map(command),
        KernelCommand::Load {
            file,
            pin,
            prog_type,
            json,
        } => load(&file, pin.as_deref(), prog_type.as_deref(), json.json),
        KernelCommand::Attach(args) => attach(args),
        KernelCommand::Run {
            target,
            prog,
            data_in,
            data_hex,
            ctx_in,
            repeat,
            json,
        } => {
            let data = match (data_in, data_hex) {
                (Some(p), _) => read_file(&p)?,
                (None, Some(h)) => {
                    parse_hex(&h).map_err(|e| CliError::Input(format!("--data-hex: {e}")))?
                }
                (None, None) => Vec::new(),
            };
            let ctx = ctx_in.map(|p| read_file(&p)).transpose()?;
            test_run(
                &target,
                prog.as_deref(),
                &data,
                ctx.as_deref(),
                repeat,
                json.json,
            )
        }
        KernelCommand::Feature { helpers_for, json } => feature(&helpers_for, json.json),
    }
}

// ---- programs ----

/// Opens a program named by id, pinned path or name.
fn open_prog(spec: &str) -> Result<(OwnedFd, ProgInfo), CliError> {
    let s = sys();
    let action = format!("opening program {spec}");
    let fd = if let Ok(id) = spec.parse::<u32>() {
        info::prog_fd_by_id(&*s, id).map_err(kerr(&action))?
    } else if spec.contains('/') {
        oxbpf_kernel::obj_get(&*s, Path::new(spec)).map_err(kerr(&action))?
    } else {
        let all = info::prog_list_with(&*s).map_err(kerr("listing programs"))?;
        let hits: Vec<&ProgInfo> = all.iter().filter(|p| p.name == spec).collect();
        match hits.as_slice() {
            [one] => info::prog_fd_by_id(&*s, one.id).map_err(kerr(&action))?,
            [] => {
                return Err(CliError::Input(format!(
                    "no loaded program is named `{spec}`"
                )))
            }
            many => {
                let ids: Vec<String> = many.iter().map(|p| p.id.to_string()).collect();
                return Err(CliError::Input(format!(
                    "{} programs are named `{spec}` (ids {}); give an id",
                    many.len(),
                    ids.join(", ")
                )));
            }
        }
    };
    let info = info::prog_info_with(&*s, fd.as_raw_fd()).map_err(kerr(&action))?;
    Ok((fd, info))
}

fn prog_json(p: &ProgInfo) -> Value {
    json!({
        "id": p.id,
        "type": info::prog_type_name(p.prog_type),
        "type_id": p.prog_type,
        "name": p.name,
        "tag": p.tag,
        "xlated_insns": p.xlated_insns,
        "jited_bytes": p.jited_bytes,
        "map_ids": p.map_ids,
        "btf_id": p.btf_id,
        "gpl_compatible": p.gpl_compatible,
        "verified_insns": p.verified_insns,
        "run_cnt": p.run_cnt,
        "run_time_ns": p.run_time_ns,
    })
}

fn prog_line(p: &ProgInfo) -> String {
    format!(
        "{:>6}: {:<16} name {:<16} tag {}  xlated {}B  jited {}B{}\n",
        p.id,
        info::prog_type_name(p.prog_type),
        p.name,
        p.tag,
        p.xlated_insns * 8,
        p.jited_bytes,
        if p.map_ids.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = p.map_ids.iter().map(|m| m.to_string()).collect();
            format!("  map_ids {}", ids.join(","))
        }
    )
}

fn prog(command: ProgCommand) -> Result<String, CliError> {
    match command {
        ProgCommand::List { json } => {
            let progs = info::prog_list_with(&*sys()).map_err(kerr("listing programs"))?;
            if json.json {
                return Ok(pretty(&Value::Array(progs.iter().map(prog_json).collect())));
            }
            Ok(progs.iter().map(prog_line).collect())
        }
        ProgCommand::Show { prog, json } => {
            let (_, p) = open_prog(&prog)?;
            if json.json {
                return Ok(pretty(&prog_json(&p)));
            }
            let mut text = prog_line(&p);
            text.push_str(&format!(
                "\tgpl {}  verified_insns {}  btf_id {}  run_cnt {}  run_time_ns {}\n",
                p.gpl_compatible, p.verified_insns, p.btf_id, p.run_cnt, p.run_time_ns
            ));
            Ok(text)
        }
        ProgCommand::Dump { which, prog, json } => {
            let (fd, p) = open_prog(&prog)?;
            let kind = match which {
                DumpKind::Xlated => Dump::Xlated,
                DumpKind::Jited => Dump::Jited,
            };
            let bytes = info::prog_dump(&*sys(), fd.as_raw_fd(), kind)
                .map_err(kerr("reading the program's instructions"))?;
            match which {
                DumpKind::Xlated => dump_xlated(&p, &bytes, json.json),
                DumpKind::Jited => {
                    // At the code's kernel address, call targets resolve to symbols.
                    let base = info::jited_ksyms(&*sys(), fd.as_raw_fd())
                        .ok()
                        .and_then(|a| a.first().copied())
                        .unwrap_or(0);
                    Ok(dump_jited(&p, &bytes, base, json.json))
                }
            }
        }
    }
}

/// Kernel symbol addresses from /proc/kallsyms (empty when hidden).
fn kallsyms() -> BTreeMap<u64, String> {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let addr = u64::from_str_radix(it.next()?, 16).ok()?;
            let _kind = it.next()?;
            let name = it.next()?;
            (addr != 0).then(|| (addr, name.to_string()))
        })
        .collect()
}

fn dump_xlated(p: &ProgInfo, bytes: &[u8], as_json: bool) -> Result<String, CliError> {
    if bytes.is_empty() {
        return Err(CliError::Input(format!(
            "program {} has no translated instructions to show (kernel.kptr_restrict or bpf_jit_harden may hide them)",
            p.id
        )));
    }
    let insns = oxbpf_isa::decode_program(bytes).map_err(|source| CliError::Isa {
        context: format!("program {} (xlated)", p.id),
        source,
    })?;
    let maps_by_id: BTreeMap<u32, String> = p
        .map_ids
        .iter()
        .filter_map(|&id| {
            Map::from_id(id, sys())
                .ok()
                .map(|m| (id, m.info().name.clone()))
        })
        .collect();
    // Helper calls hold offsets from __bpf_call_base; name them from kallsyms.
    let syms = kallsyms();
    let base = syms
        .iter()
        .find(|(_, n)| n.as_str() == "__bpf_call_base")
        .map(|(a, _)| *a);
    let mut lines = Vec::new();
    for (slot, insn) in &insns {
        let raw = oxbpf_isa::RawInsn::from_bytes(
            bytes[slot * 8..slot * 8 + 8]
                .try_into()
                .expect("eight bytes"),
        );
        let mut text = insn.display(oxbpf_isa::Syntax::Llvm).to_string();
        // In translated code a map reference holds the map's id.
        if raw.opcode == 0x18 && matches!(raw.src, 1 | 2) {
            let name = maps_by_id
                .get(&(raw.imm as u32))
                .map_or("?", |n| n.as_str());
            text.push_str(&format!("  ; map id {} ({name})", raw.imm));
        }
        if raw.opcode == 0x85 && raw.src == 0 {
            if let Some(name) = base.and_then(|b| syms.get(&b.wrapping_add(raw.imm as i64 as u64)))
            {
                text.push_str(&format!("  ; {name}"));
            }
        }
        lines.push((slot, text));
    }
    if as_json {
        let v: Vec<Value> = lines
            .iter()
            .map(|(s, t)| json!({"slot": s, "insn": t}))
            .collect();
        return Ok(pretty(&json!({"id": p.id, "name": p.name, "xlated": v})));
    }
    let mut out = format!("; program {} {} ({} insns)\n", p.id, p.name, p.xlated_insns);
    for (slot, text) in lines {
        out.push_str(&format!("{slot:5}: {text}\n"));
    }
    Ok(out)
}

fn dump_jited(p: &ProgInfo, bytes: &[u8], base: u64, as_json: bool) -> String {
    let insns = x86_listing(bytes, base, &kallsyms());
    if as_json {
        let v: Vec<Value> = insns
            .iter()
            .map(|(off, raw, text)| json!({"offset": off, "bytes": hex(raw), "insn": text}))
            .collect();
        return pretty(&json!({"id": p.id, "name": p.name, "jited": hex(bytes), "insns": v}));
    }
    if bytes.is_empty() {
        return format!(
            "; program {} {}: no JIT code (the JIT is off, or kernel.kptr_restrict hides it)\n",
            p.id, p.name
        );
    }
    let mut out = format!(
        "; program {} {} ({} bytes of x86-64 machine code)\n",
        p.id,
        p.name,
        bytes.len()
    );
    for (off, raw, text) in insns {
        out.push_str(&format!("{off:5x}: {:<32} {text}\n", spaced(raw)));
    }
    out
}

/// The x86-64 instructions of JIT code loaded at `base`: (offset, bytes,
/// Intel syntax, with call targets named from `syms`).
fn x86_listing<'a>(
    code: &'a [u8],
    base: u64,
    syms: &BTreeMap<u64, String>,
) -> Vec<(usize, &'a [u8], String)> {
    use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, Mnemonic};
    let mut decoder = Decoder::with_ip(64, code, base, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    let mut insn = Instruction::default();
    let mut out = Vec::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        let start = insn.ip().wrapping_sub(base) as usize;
        let end = (start + insn.len()).min(code.len());
        let mut text = String::new();
        if insn.is_invalid() {
            text.push_str("(bad)");
        } else {
            formatter.format(&insn, &mut text);
            if matches!(insn.mnemonic(), Mnemonic::Call | Mnemonic::Jmp) {
                if let Some(name) = syms.get(&insn.near_branch_target()) {
                    text.push_str(&format!("  ; {name}"));
                }
            }
        }
        out.push((start, &code[start.min(end)..end], text));
    }
    out
}

// ---- maps ----

fn open_map(spec: &str) -> Result<Map, CliError> {
    let s = sys();
    let action = format!("opening map {spec}");
    if let Ok(id) = spec.parse::<u32>() {
        return Map::from_id(id, s).map_err(kerr(&action));
    }
    if spec.contains('/') {
        return Map::from_pin(Path::new(spec), s).map_err(kerr(&action));
    }
    let all = map_list(s).map_err(kerr("listing maps"))?;
    let mut hits: Vec<Map> = all.into_iter().filter(|m| m.info().name == spec).collect();
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(CliError::Input(format!("no map is named `{spec}`"))),
        n => {
            let ids: Vec<String> = hits.iter().map(|m| m.info().id.to_string()).collect();
            Err(CliError::Input(format!(
                "{n} maps are named `{spec}` (ids {}); give an id",
                ids.join(", ")
            )))
        }
    }
}

/// The map's BTF, when it has one the kernel will hand out.
fn map_btf(m: &Map) -> Option<Btf> {
    if m.info().btf_id == 0 {
        return None;
    }
    let raw = info::btf_by_id(&*sys(), m.info().btf_id).ok()?;
    Btf::parse(&raw).ok()
}

fn show(btf: Option<&Btf>, type_id: u32, bytes: &[u8]) -> String {
    match btf {
        Some(b) if type_id != 0 => b.format_value(type_id, bytes),
        _ => hex(bytes),
    }
}

fn map_json(m: &Map) -> Value {
    let i = m.info();
    json!({
        "id": i.id,
        "type": oxbpf_object::map_type_name(i.map_type),
        "type_id": i.map_type,
        "name": i.name,
        "key_size": i.key_size,
        "value_size": i.value_size,
        "max_entries": i.max_entries,
        "flags": i.map_flags,
        "btf_id": i.btf_id,
    })
}

fn map_line(m: &Map) -> String {
    let i = m.info();
    format!(
        "{:>6}: {:<16} name {:<16} key {}B  value {}B  max_entries {}  flags {:#x}{}\n",
        i.id,
        oxbpf_object::map_type_name(i.map_type),
        i.name,
        i.key_size,
        i.value_size,
        i.max_entries,
        i.map_flags,
        if i.btf_id != 0 {
            format!("  btf_id {}", i.btf_id)
        } else {
            String::new()
        }
    )
}

fn parse_bytes(what: &str, text: &str) -> Result<Vec<u8>, CliError> {
    parse_hex(text).map_err(|e| CliError::Input(format!("--{what}: {e}")))
}

fn map(command: MapCommand) -> Result<String, CliError> {
    match command {
        MapCommand::List { json } => {
            let maps = map_list(sys()).map_err(kerr("listing maps"))?;
            if json.json {
                return Ok(pretty(&Value::Array(maps.iter().map(map_json).collect())));
            }
            Ok(maps.iter().map(map_line).collect())
        }
        MapCommand::Dump { map, json } => {
            let m = open_map(&map)?;
            let entries = match m.lookup_batch(64) {
                Ok(e) => e,
                // Not every map type has batch lookups; walk the keys instead.
                Err(_) => m.entries().map_err(kerr("reading the map"))?,
            };
            let btf = map_btf(&m);
            let (kt, vt) = (m.info().btf_key_type_id, m.info().btf_value_type_id);
            if json.json {
                let v: Vec<Value> = entries
                    .iter()
                    .map(|(k, v)| {
                        json!({
                            "key": hex(k),
                            "value": hex(v),
                            "formatted": btf.as_ref().map(|_| json!({
                                "key": show(btf.as_ref(), kt, k),
                                "value": show(btf.as_ref(), vt, v),
                            })),
                        })
                    })
                    .collect();
                return Ok(pretty(&json!({"map": map_json(&m), "entries": v})));
            }
            let mut out = map_line(&m);
            for (k, v) in &entries {
                out.push_str(&format!(
                    "  {} => {}\n",
                    show(btf.as_ref(), kt, k),
                    show(btf.as_ref(), vt, v)
                ));
            }
            out.push_str(&format!("{} entries\n", entries.len()));
            Ok(out)
        }
        MapCommand::Lookup { map, key, json } => {
            let m = open_map(&map)?;
            let key = parse_bytes("key", &key)?;
            let value = m.lookup(&key).map_err(kerr("looking up the key"))?;
            if json.json {
                return Ok(pretty(
                    &json!({"key": hex(&key), "value": value.as_deref().map(hex)}),
                ));
            }
            match value {
                Some(v) => Ok(format!("key: {}\nvalue: {}\n", hex(&key), hex(&v))),
                None => Err(CliError::Input(format!(
                    "map {}: no entry for key {}",
                    m.info().name,
                    hex(&key)
                ))),
            }
        }
        MapCommand::Update {
            map,
            key,
            value,
            flags,
            json,
        } => {
            let m = open_map(&map)?;
            let (key, value) = (parse_bytes("key", &key)?, parse_bytes("value", &value)?);
            let flags = match flags {
                UpdateFlags::Any => BPF_ANY,
                UpdateFlags::Noexist => BPF_NOEXIST,
                UpdateFlags::Exist => BPF_EXIST,
            };
            m.update(&key, &value, flags)
                .map_err(kerr("updating the map"))?;
            if json.json {
                return Ok(pretty(
                    &json!({"updated": true, "key": hex(&key), "value": hex(&value)}),
                ));
            }
            Ok(format!(
                "updated {}: {} => {}\n",
                m.info().name,
                hex(&key),
                hex(&value)
            ))
        }
        MapCommand::Delete { map, key, json } => {
            let m = open_map(&map)?;
            let key = parse_bytes("key", &key)?;
            let was = m.delete(&key).map_err(kerr("deleting the key"))?;
            if json.json {
                return Ok(pretty(&json!({"deleted": was, "key": hex(&key)})));
            }
            if !was {
                return Err(CliError::Input(format!(
                    "map {}: no entry for key {}",
                    m.info().name,
                    hex(&key)
                )));
            }
            Ok(format!("deleted {}: {}\n", m.info().name, hex(&key)))
        }
    }
}

// ---- load, run, attach ----

fn object(path: &Path) -> Result<Object, CliError> {
    Ok(object_cmd::load(path, None)?.0)
}

fn load_kernel(obj: &Object) -> Result<Kernel, CliError> {
    Kernel::load(obj).map_err(kerr("loading the object's maps"))
}

fn load(
    file: &Path,
    pin: Option<&Path>,
    prog_type: Option<&str>,
    as_json: bool,
) -> Result<String, CliError> {
    let mut obj = object(file)?;
    if let Some(tname) = prog_type {
        crate::verify_cmd::override_type(&mut obj, tname).map_err(CliError::Input)?;
    }
    let k = load_kernel(&obj)?;
    let mut loaded = Vec::new();
    let mut refused = Vec::new();
    for (name, r) in k.load_all() {
        match r {
            Ok(fd) => {
                let id = info::prog_info_with(&**k.sys(), fd)
                    .map(|i| i.id)
                    .unwrap_or(0);
                loaded.push((name, id));
            }
            Err(e) if e.missing_capability().is_some() => {
                return Err(kerr(&format!("loading program `{name}`"))(e));
            }
            Err(e) => refused.push((name, e.to_string())),
        }
    }
    let pinned = match pin {
        Some(dir) => k.pin(dir).map_err(kerr("pinning"))?,
        None => Vec::new(),
    };
    let text = if as_json {
        pretty(&json!({
            "loaded": loaded.iter().map(|(n, id)| json!({"name": n, "id": id})).collect::<Vec<_>>(),
            "refused": refused.iter().map(|(n, e)| json!({"name": n, "error": e})).collect::<Vec<_>>(),
            "pinned": pinned.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "btf": k.btf_fd().is_ok(),
        }))
    } else {
        let mut t = String::new();
        for (n, id) in &loaded {
            t.push_str(&format!("loaded {n} (id {id})\n"));
        }
        for (n, e) in &refused {
            t.push_str(&format!("refused {n}: {e}\n"));
        }
        for p in &pinned {
            t.push_str(&format!("pinned {}\n", p.display()));
        }
        if pin.is_none() {
            t.push_str("not pinned: everything unloads when oxbpf exits\n");
        }
        t
    };
    if !refused.is_empty() {
        return Err(CliError::Input(format!(
            "{text}{} programs were refused",
            refused.len()
        )));
    }
    Ok(text)
}

/// Prints the object's maps after a run: (text, JSON).
fn maps_report(obj: &Object, k: &Kernel) -> (String, Value) {
    let mut text = String::new();
    let mut doc = serde_json::Map::new();
    for (def, m) in k.maps() {
        let Ok(m) = m else { continue };
        if matches!(def.origin, MapOrigin::GlobalData { .. }) || matches!(def.map_type, 3 | 4 | 27)
        {
            continue;
        }
        let Ok(entries) = m.entries() else { continue };
        let fmt = |t: Option<u32>, b: &[u8]| match (obj.btf.as_ref(), t) {
            (Some(btf), Some(t)) => btf.format_value(t, b),
            _ => hex(b),
        };
        text.push_str(&format!(
            "map {} ({}): {} entries\n",
            def.name,
            oxbpf_object::map_type_name(def.map_type),
            entries.len()
        ));
        let mut rows = Vec::new();
        for (key, value) in &entries {
            let (ks, vs) = (fmt(def.key_type, key), fmt(def.value_type, value));
            text.push_str(&format!("  {ks} => {vs}\n"));
            rows.push(json!({"key": ks, "value": vs}));
        }
        doc.insert(def.name.clone(), Value::Array(rows));
    }
    (text, Value::Object(doc))
}

fn test_run(
    target: &str,
    prog: Option<&str>,
    data: &[u8],
    ctx: Option<&[u8]>,
    repeat: u32,
    as_json: bool,
) -> Result<String, CliError> {
    let path = Path::new(target);
    let is_object = path.is_file() && object_cmd::is_elf(&read_file(path)?);
    let (retval, data_out, duration, maps_text, maps_json) = if is_object {
        let obj = object(path)?;
        let name = match (prog, obj.programs.as_slice()) {
            (Some(n), _) => n.to_string(),
            (None, [only]) => only.name.clone(),
            (None, all) => {
                let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
                return Err(CliError::Input(format!(
                    "{target} has {} programs; choose one with --prog ({})",
                    all.len(),
                    names.join(", ")
                )));
            }
        };
        let k = load_kernel(&obj)?;
        let r = k
            .test_run_repeat(&name, data, ctx, repeat)
            .map_err(kerr(&format!("test-running `{name}`")))?;
        let (t, j) = maps_report(&obj, &k);
        (r.retval, r.data_out, r.duration_ns, t, j)
    } else {
        let (fd, p) = open_prog(target)?;
        let r = raw_test_run(fd.as_raw_fd(), p.prog_type, data, ctx, repeat)
            .map_err(kerr("test-running the program"))?;
        (r.0, r.1, r.2, String::new(), json!({}))
    };
    if as_json {
        return Ok(pretty(&json!({
            "return_value": retval,
            "data_out": hex(&data_out),
            "duration_ns": duration,
            "repeat": repeat,
            "maps": maps_json,
        })));
    }
    let mut text = format!("r0 = {retval:#x} ({})\n", retval as i64);
    if !data_out.is_empty() {
        text.push_str(&format!("data_out: {}\n", hex(&data_out)));
    }
    if repeat > 1 {
        text.push_str(&format!(
            "{repeat} runs, {duration} ns per run (kernel-measured)\n"
        ));
    }
    text.push_str(&maps_text);
    Ok(text)
}

/// A test run of a program already in the kernel: (retval, data_out, ns per run).
fn raw_test_run(
    fd: i32,
    prog_type: u32,
    data: &[u8],
    ctx: Option<&[u8]>,
    repeat: u32,
) -> Result<(u64, Vec<u8>, u32), KernelError> {
    use oxbpf_kernel::sys::{call, cmd, Attr};
    let s = sys();
    let ctx = ctx.unwrap_or(&[]);
    // Raw tracepoint (17) and syscall (31) programs take only a context.
    let context_only = matches!(prog_type, 17 | 31);
    let mut out = vec![0u8; data.len() + 4096];
    let mut attr = Attr::new()
        .u32(0, fd as u32)
        .u32(40, ctx.len() as u32)
        .ptr(48, ctx);
    if !context_only {
        attr = attr
            .u32(8, data.len() as u32)
            .u32(12, out.len() as u32)
            .ptr(16, data)
            .u64(24, out.as_mut_ptr() as u64)
            .u32(32, repeat.max(1));
    }
    call(&*s, cmd::PROG_TEST_RUN, &mut attr)?;
    out.truncate(if context_only {
        0
    } else {
        (attr.get_u32(12) as usize).min(out.len())
    });
    Ok((attr.get_u32(4) as u64, out, attr.get_u32(36)))
}

fn split_target<'a>(flag: &str, v: &'a str) -> Result<(&'a str, &'a str), CliError> {
    v.rsplit_once(':')
        .ok_or_else(|| CliError::Input(format!("--{flag} takes BINARY:SYMBOL, not `{v}`")))
}

fn attach(a: AttachArgs) -> Result<String, CliError> {
    let mut obj = object(&a.file)?;
    for s in &a.set {
        let (name, value) = s
            .split_once('=')
            .ok_or_else(|| CliError::Input(format!("--set takes NAME=HEX, not `{s}`")))?;
        let bytes = parse_bytes("set", value)?;
        obj.set_global(name, &bytes)
            .map_err(|e| CliError::Input(format!("--set {name}: {e}")))?;
    }
    let k = load_kernel(&obj)?;
    let name = a.prog.as_str();
    let action = format!("attaching `{name}`");
    let link = if let Some(tp) = &a.tracepoint {
        let (cat, ev) = tp.split_once('/').ok_or_else(|| {
            CliError::Input(format!("--tracepoint takes CATEGORY/EVENT, not `{tp}`"))
        })?;
        k.attach_tracepoint(name, cat, ev)
    } else if let Some(tp) = &a.raw_tracepoint {
        k.attach_raw_tracepoint(name, tp)
    } else if let Some(f) = &a.kprobe {
        k.attach_kprobe(name, f, false)
    } else if let Some(f) = &a.kretprobe {
        k.attach_kprobe(name, f, true)
    } else if let Some(t) = &a.uprobe {
        let (bin, sym) = split_target("uprobe", t)?;
        k.attach_uprobe(name, Path::new(bin), sym, false, a.pid)
    } else if let Some(t) = &a.uretprobe {
        let (bin, sym) = split_target("uretprobe", t)?;
        k.attach_uprobe(name, Path::new(bin), sym, true, a.pid)
    } else if let Some(i) = &a.xdp {
        k.attach_xdp(name, i)
    } else if let Some(f) = a.perf_freq {
        k.attach_perf_sampling(name, f)
    } else {
        k.attach_auto(name, None, None)
    }
    .map_err(kerr(&action))?;
    oxbpf_kernel::interrupt::install().map_err(kerr("handling Ctrl-C"))?;
    let what = link.describe().to_string();
    let mut rings = Vec::new();
    for (def, m) in k.maps() {
        if let (Ok(m), 27) = (m, def.map_type) {
            rings.push((
                def.name.clone(),
                oxbpf_kernel::ringbuf::RingBuf::new(m).map_err(kerr("reading the ring buffer"))?,
            ));
        }
    }
    let mut perfs = Vec::new();
    for (def, m) in k.maps() {
        if let (Ok(m), 4) = (m, def.map_type) {
            perfs.push((
                def.name.clone(),
                oxbpf_kernel::perfbuf::PerfBuffer::new(m, 8)
                    .map_err(kerr("opening the perf buffer"))?,
            ));
        }
    }
    if !a.json.json {
        eprintln!("attached {what}; Ctrl-C detaches");
    }
    let deadline = a
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut records: Vec<(String, Vec<u8>)> = Vec::new();
    let started = Instant::now();
    let mut samples: Vec<(String, usize, Vec<u8>)> = Vec::new();
    let mut lost = 0u64;
    while !oxbpf_kernel::interrupt::requested() && deadline.is_none_or(|d| Instant::now() < d) {
        for (perf_name, perf) in &mut perfs {
            for e in perf.read() {
                match e {
                    oxbpf_kernel::perfbuf::PerfEvent::Sample { cpu, data } => {
                        if !a.json.json {
                            crate::out(&format!("{perf_name} cpu{cpu}: {}\n", hex(&data)))?;
                        }
                        samples.push((perf_name.clone(), cpu, data));
                    }
                    oxbpf_kernel::perfbuf::PerfEvent::Lost { count, .. } => lost += count,
                }
            }
        }
        if rings.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        for (ring_name, ring) in &mut rings {
            let mut got = Vec::new();
            ring.poll(Duration::from_millis(50), |r| got.push(r.to_vec()))
                .map_err(kerr("reading the ring buffer"))?;
            for r in got {
                if !a.json.json {
                    crate::out(&format!("{ring_name}: {}\n", hex(&r)))?;
                }
                records.push((ring_name.clone(), r));
            }
        }
    }
    drop(link);
    let (maps_text, maps_json) = maps_report(&obj, &k);
    let secs = started.elapsed().as_secs_f64();
    if a.json.json {
        return Ok(pretty(&json!({
            "attached": what,
            "seconds": secs,
            "detached": true,
            "ring_records": records.iter().map(|(m, r)| json!({"map": m, "data": hex(r)})).collect::<Vec<_>>(),
            "perf_samples": samples.iter().map(|(m, c, d)| json!({"map": m, "cpu": c, "data": hex(d)})).collect::<Vec<_>>(),
            "perf_lost": lost,
            "maps": maps_json,
        })));
    }
    Ok(format!(
        "detached {what} after {secs:.1} s; {} ring buffer records, {} perf samples ({lost} lost)\n{maps_text}",
        records.len(),
        samples.len()
    ))
}

// ---- feature ----

fn prog_type_id(s: &str) -> Result<u32, CliError> {
    if let Ok(id) = s.parse() {
        return Ok(id);
    }
    oxbpf_kernel::feature::PROG_TYPES
        .clone()
        .find(|&id| info::prog_type_name(id) == s)
        .ok_or_else(|| CliError::Input(format!("--helpers-for: unknown program type `{s}`")))
}

fn support_json(s: &oxbpf_kernel::feature::Support) -> Value {
    use oxbpf_kernel::feature::Support;
    match s {
        Support::Yes => json!(true),
        Support::No(why) => json!({"supported": false, "reason": why}),
        Support::Skipped(why) => json!({"supported": null, "reason": why}),
    }
}

fn support_text(s: &oxbpf_kernel::feature::Support) -> String {
    use oxbpf_kernel::feature::Support;
    match s {
        Support::Yes => "yes".into(),
        Support::No(why) => format!("no ({why})"),
        Support::Skipped(why) => format!("not probed ({why})"),
    }
}

fn feature(helpers_for: &[String], as_json: bool) -> Result<String, CliError> {
    use oxbpf_kernel::feature::{
        probe_helper, probe_map_type, probe_prog_type, HELPERS, MAP_TYPES, PROG_TYPES,
    };
    let s = sys();
    let probing = kerr("probing the kernel");
    oxbpf_kernel::feature::probe_access(&*s).map_err(&probing)?;
    let mut progs = Vec::new();
    for t in PROG_TYPES {
        progs.push((t, probe_prog_type(&*s, t).map_err(&probing)?));
    }
    let mut maps = Vec::new();
    for t in MAP_TYPES {
        maps.push((t, probe_map_type(&*s, t).map_err(&probing)?));
    }
    let for_types: Vec<u32> = if helpers_for.is_empty() {
        vec![1, 2, 3, 5, 6]
    } else {
        helpers_for
            .iter()
            .map(|h| prog_type_id(h))
            .collect::<Result<_, _>>()?
    };
    let mut helpers = Vec::new();
    for &pt in &for_types {
        if !progs.iter().any(|(t, s)| *t == pt && s.yes()) {
            continue;
        }
        let ok: Vec<u32> = HELPERS
            .filter(|&h| probe_helper(&*s, pt, h).yes())
            .collect();
        helpers.push((pt, ok));
    }
    let helper_name = |h: u32| {
        oxbpf_isa::helper_name(h as i32)
            .map(|n| format!("bpf_{n}"))
            .unwrap_or_else(|| format!("helper#{h}"))
    };
    if as_json {
        let mut pj = serde_json::Map::new();
        for (t, sup) in &progs {
            pj.insert(info::prog_type_name(*t).into(), support_json(sup));
        }
        let mut mj = serde_json::Map::new();
        for (t, sup) in &maps {
            mj.insert(oxbpf_object::map_type_name(*t).into(), support_json(sup));
        }
        let mut hj = serde_json::Map::new();
        for (pt, hs) in &helpers {
            hj.insert(
                info::prog_type_name(*pt).into(),
                json!(hs.iter().map(|&h| helper_name(h)).collect::<Vec<_>>()),
            );
        }
        return Ok(pretty(
            &json!({"program_types": pj, "map_types": mj, "helpers": hj}),
        ));
    }
    let mut out = String::from("program types:\n");
    for (t, sup) in &progs {
        out.push_str(&format!(
            "  {:<24} {}\n",
            info::prog_type_name(*t),
            support_text(sup)
        ));
    }
    out.push_str("map types:\n");
    for (t, sup) in &maps {
        out.push_str(&format!(
            "  {:<24} {}\n",
            oxbpf_object::map_type_name(*t),
            support_text(sup)
        ));
    }
    for (pt, hs) in &helpers {
        out.push_str(&format!(
            "helpers for {} ({} of {}):\n",
            info::prog_type_name(*pt),
            hs.len(),
            HELPERS.count()
        ));
        for &h in hs {
            out.push_str(&format!("  {}\n", helper_name(h)));
        }
    }
    Ok(out)
}
