//! `oxbpf object show` and the ELF side of `oxbpf disasm`.

use std::fmt::Write as _;
use std::path::Path;

use oxbpf_isa::{decode_program, Insn, LddwSrc, Syntax};
use oxbpf_object::{map_type_name, Btf, MapOrigin, Object, Program};
use serde_json::{json, Value};

use crate::error::CliError;
use crate::input::read_file;

/// Whether `bytes` look like an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Loads an object, applying CO-RE relocations against `btf_target` when given.
pub fn load(
    path: &Path,
    btf_target: Option<&Path>,
) -> Result<(Object, Vec<oxbpf_object::core::CoreOutcome>), CliError> {
    let bytes = read_file(path)?;
    let context = |e: oxbpf_object::ObjectError| CliError::Object {
        context: path.display().to_string(),
        source: Box::new(e),
    };
    let mut obj = Object::parse(&bytes).map_err(context)?;
    let outcomes = match btf_target {
        Some(t) => {
            let raw = read_file(t)?;
            let target = Btf::parse(&raw).map_err(|e| CliError::Object {
                context: t.display().to_string(),
                source: Box::new(e),
            })?;
            obj.apply_core(&target).map_err(context)?
        }
        None => Vec::new(),
    };
    Ok((obj, outcomes))
}

fn flags_text(flags: u32) -> String {
    if flags == 0 {
        "0".into()
    } else {
        format!("{flags:#x}")
    }
}

fn origin_text(o: &MapOrigin) -> String {
    match o {
        MapOrigin::Btf => "btf".into(),
        MapOrigin::Legacy => "legacy".into(),
        MapOrigin::GlobalData { section, .. } => format!("global data {section}"),
    }
}

fn type_text(obj: &Object, id: Option<u32>) -> Option<String> {
    let (btf, id) = (obj.btf.as_ref()?, id?);
    Some(btf.type_name(id))
}

/// The `object show` report as text.
pub fn show_text(
    path: &Path,
    obj: &Object,
    core: &[oxbpf_object::core::CoreOutcome],
    with_btf: bool,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}: license {:?}{}",
        path.display(),
        obj.license,
        obj.kernel_version
            .map(|v| format!(", version {v:#x}"))
            .unwrap_or_default()
    );
    let _ = writeln!(o, "\nprograms ({}):", obj.programs.len());
    let _ = writeln!(
        o,
        "  {:<24} {:<36} {:<16} {:<28} {:>6}",
        "NAME", "SECTION", "TYPE", "ATTACH", "INSNS"
    );
    for p in &obj.programs {
        let mut line = format!(
            "  {:<24} {:<36} {:<16} {:<28} {:>6}",
            p.name,
            p.section,
            p.prog_type.name(),
            p.attach.as_deref().unwrap_or("-"),
            p.insns.len()
        );
        if !p.subprograms.is_empty() {
            let subs: Vec<&str> = p.subprograms.iter().map(|(n, _)| n.as_str()).collect();
            let _ = write!(line, "  calls {}", subs.join(", "));
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
    if !obj.broken.is_empty() {
        let _ = writeln!(o, "\nnot loadable ({}):", obj.broken.len());
        for b in &obj.broken {
            let _ = writeln!(
                o,
                "  {} (section {}): {}",
                b.program.as_deref().unwrap_or("-"),
                b.section,
                b.error
            );
        }
    }
    let _ = writeln!(o, "\nmaps ({}):", obj.maps.len());
    let _ = writeln!(
        o,
        "  {:<20} {:<16} {:>4} {:>6} {:>8} {:>8}  DETAILS",
        "NAME", "TYPE", "KEY", "VALUE", "ENTRIES", "FLAGS"
    );
    for m in &obj.maps {
        let mut details = vec![origin_text(&m.origin)];
        if let Some(t) = type_text(obj, m.key_type) {
            details.push(format!("key {t}"));
        }
        if let (Some(t), false) = (
            type_text(obj, m.value_type),
            matches!(m.origin, MapOrigin::GlobalData { .. }),
        ) {
            details.push(format!("value {t}"));
        }
        if m.pinning != 0 {
            details.push("pinned by name".into());
        }
        if let Some(inner) = &m.inner {
            details.push(format!(
                "inner {} {}/{}x{}",
                map_type_name(inner.map_type),
                inner.key_size,
                inner.value_size,
                inner.max_entries
            ));
        }
        for (i, n) in &m.initial_slots {
            details.push(format!("[{i}] = {n}"));
        }
        let _ = writeln!(
            o,
            "  {:<20} {:<16} {:>4} {:>6} {:>8} {:>8}  {}",
            m.name,
            map_type_name(m.map_type),
            m.key_size,
            m.value_size,
            m.max_entries,
            flags_text(m.map_flags),
            details.join(", ")
        );
    }
    if !obj.globals.is_empty() {
        let _ = writeln!(o, "\nglobal data ({} variables):", obj.globals.len());
        for g in &obj.globals {
            let ty = type_text(obj, g.type_id).unwrap_or_else(|| "?".into());
            let value = match (obj.btf.as_ref(), g.type_id, obj.global_bytes(&g.name)) {
                (Some(b), Some(t), Ok(bytes)) => b.format_value(t, bytes),
                (_, _, Ok(bytes)) => hex(bytes),
                _ => String::new(),
            };
            let _ = writeln!(
                o,
                "  {:<24} {:<16} +{:<5} {:>4} bytes  {:<24} = {}",
                g.name, obj.maps[g.map].name, g.offset, g.size, ty, value
            );
        }
    }
    let _ = writeln!(o, "\nrelocations ({}):", obj.relocations.len());
    for r in &obj.relocations {
        let _ = writeln!(
            o,
            "  {:<36} {:#06x}  {:<18} {}",
            r.section, r.offset, r.kind, r.symbol
        );
    }
    let core_count: usize = obj.programs.iter().map(|p| p.core_relos.len()).sum();
    if core_count > 0 {
        let _ = writeln!(o, "\nCO-RE relocations ({core_count}):");
        let btf = obj.btf.as_ref();
        for p in &obj.programs {
            for r in &p.core_relos {
                let tname = btf.map(|b| b.type_name(r.type_id)).unwrap_or_default();
                let result = core
                    .iter()
                    .find(|c| c.program == p.name && c.insn == r.insn)
                    .map(|c| match c.target {
                        Some(v) => format!("  {} -> {}", c.local, v),
                        None => format!("  {} -> no match (poisoned)", c.local),
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    o,
                    "  {:<24} insn {:<4} {:<14} {} {}{}",
                    p.name,
                    r.insn,
                    r.kind.name(),
                    tname,
                    r.access,
                    result
                );
            }
        }
    }
    if let Some(btf) = &obj.btf {
        let _ = writeln!(o, "\nBTF: {} types", btf.len() - 1);
        if with_btf {
            o.push_str(&btf.dump_raw());
        }
    }
    o
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `object show --json` report.
pub fn show_json(obj: &Object, core: &[oxbpf_object::core::CoreOutcome]) -> Value {
    let programs: Vec<Value> = obj
        .programs
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "section": p.section,
                "type": p.prog_type.name(),
                "attach": p.attach,
                "insns": p.insns.len(),
                "own_insns": p.main_len,
                "subprograms": p.subprograms.iter().map(|(n, at)| json!({"name": n, "at": at})).collect::<Vec<_>>(),
                "line_info": p.line_info.len(),
                "core_relocations": p.core_relos.iter().map(|r| {
                    let c = core.iter().find(|c| c.program == p.name && c.insn == r.insn);
                    json!({"insn": r.insn, "kind": r.kind.name(), "type_id": r.type_id, "access": r.access,
                           "local": c.map(|c| c.local), "target": c.and_then(|c| c.target)})
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let maps: Vec<Value> = obj
        .maps
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "type": map_type_name(m.map_type),
                "type_id": m.map_type,
                "key_size": m.key_size,
                "value_size": m.value_size,
                "max_entries": m.max_entries,
                "flags": m.map_flags,
                "pinning": m.pinning,
                "origin": origin_text(&m.origin),
                "key_type": type_text(obj, m.key_type),
                "value_type": type_text(obj, m.value_type),
                "inner": m.inner.as_ref().map(|i| json!({"type": map_type_name(i.map_type), "key_size": i.key_size, "value_size": i.value_size, "max_entries": i.max_entries})),
                "initial_slots": m.initial_slots.iter().map(|(i, n)| json!({"index": i, "name": n})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let globals: Vec<Value> = obj
        .globals
        .iter()
        .map(|g| {
            json!({
                "name": g.name,
                "map": obj.maps[g.map].name,
                "offset": g.offset,
                "size": g.size,
                "type": type_text(obj, g.type_id),
                "value": obj.global_bytes(&g.name).map(hex).ok(),
            })
        })
        .collect();
    let relocations: Vec<Value> = obj
        .relocations
        .iter()
        .map(|r| json!({"section": r.section, "offset": r.offset, "type": r.kind, "symbol": r.symbol}))
        .collect();
    let btf_types: Vec<Value> = obj
        .btf
        .iter()
        .flat_map(|b| b.types().map(move |(id, t)| json!({"id": id, "kind": t.kind_name(), "name": t.name(), "c": b.type_name(id)})))
        .collect();
    json!({
        "license": obj.license,
        "version": obj.kernel_version,
        "programs": programs,
        "not_loadable": obj.broken.iter().map(|b| json!({"name": b.program, "section": b.section, "error": b.error})).collect::<Vec<_>>(),
        "maps": maps,
        "globals": globals,
        "relocations": relocations,
        "btf_types": btf_types,
    })
}

/// Disassembles the programs of an object (or the one named), optionally with source lines.
pub fn disasm(
    obj: &Object,
    prog: Option<&str>,
    syntax: Syntax,
    source: bool,
) -> Result<String, CliError> {
    let programs: Vec<&Program> = match prog {
        Some(name) => vec![obj.program(name).map_err(|e| CliError::Object {
            context: "--prog".into(),
            source: Box::new(e),
        })?],
        None => obj.programs.iter().collect(),
    };
    let mut out = String::new();
    for p in programs {
        let _ = writeln!(
            out,
            "{} (section {}, {}):",
            p.name,
            p.section,
            p.prog_type.name()
        );
        let decoded = decode_program(&p.bytecode()).map_err(|source| CliError::Isa {
            context: p.name.clone(),
            source,
        })?;
        let mut last_line = None;
        for (slot, insn) in decoded {
            if let Some((name, _)) = p.subprograms.iter().find(|(_, at)| *at == slot) {
                let _ = writeln!(out, "{name}:");
            }
            if source {
                if let Some(l) = p.line_info.iter().find(|l| l.insn == slot) {
                    let key = (l.file.clone(), l.line);
                    if last_line.as_ref() != Some(&key) {
                        let _ = writeln!(
                            out,
                            "; {}  [{}:{}:{}]",
                            l.source.trim(),
                            Path::new(&l.file)
                                .file_name()
                                .map_or(l.file.as_str().into(), |f| f.to_string_lossy()),
                            l.line,
                            l.column
                        );
                        last_line = Some(key);
                    }
                }
            }
            let text = match syntax {
                Syntax::Llvm => insn.to_string(),
                Syntax::Kernel => insn.display(Syntax::Kernel).to_string(),
            };
            let note = match insn {
                Insn::Lddw {
                    src: LddwSrc::MapIdx | LddwSrc::MapIdxValue,
                    imm,
                    ..
                } => obj
                    .maps
                    .get(imm as u32 as usize)
                    .map(|m| format!("  # {}", m.name))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let _ = writeln!(out, "{slot:>6}: {text}{note}");
        }
        out.push('\n');
    }
    Ok(out)
}

/// Runs program `name` of `obj` with the runtime, `repeat` times, and reports the
/// return value, the memory afterwards, the maps and the ring buffer records.
#[allow(clippy::too_many_arguments)]
pub fn run_object(
    obj: Object,
    name: &str,
    mem: Vec<u8>,
    ctx_in: Option<Vec<u8>>,
    budget: Option<u64>,
    repeat: u64,
    json: bool,
    engine: oxbpf::Engine,
) -> Result<String, CliError> {
    let rt_err = |e: oxbpf::RuntimeError| CliError::Input(e.to_string());
    let options = oxbpf::Options {
        budget,
        engine,
        ..oxbpf::Options::default()
    };
    let rt = oxbpf::Runtime::with_options(obj, options).map_err(rt_err)?;
    let mut inst = rt.instance(name).map_err(rt_err)?;
    // Each run gets the same input, as with the kernel's test run and --repeat.
    let mut result = None;
    for _ in 0..repeat.max(1) {
        result = Some(inst.test_run(&mem, ctx_in.as_deref()).map_err(rt_err)?);
    }
    let result = result.expect("at least one run");
    let (r0, mem) = (result.retval, result.data_out);
    let obj = rt.object();
    let mut maps = serde_json::Map::new();
    let mut text = format!("r0 = {r0:#x} ({})\n", r0 as i64);
    if !mem.is_empty() {
        text.push_str(&format!("data_out: {}\n", hex(&mem)));
    }
    for (map_name, map) in rt.maps() {
        let def = &obj.maps[obj
            .map_index(map_name)
            .map_err(|e| CliError::Input(e.to_string()))?];
        if let MapOrigin::GlobalData { .. } = def.origin {
            // Global data prints as its variables.
            let value = map.lookup(&0u32.to_le_bytes()).unwrap_or_default();
            let mut vars = serde_json::Map::new();
            for g in obj
                .globals
                .iter()
                .filter(|g| obj.maps[g.map].name == map_name)
            {
                let bytes = value
                    .get(g.offset as usize..(g.offset + g.size) as usize)
                    .unwrap_or(&[]);
                let shown = match (obj.btf.as_ref(), g.type_id) {
                    (Some(b), Some(t)) => b.format_value(t, bytes),
                    _ => hex(bytes),
                };
                text.push_str(&format!("{map_name}: {} = {shown}\n", g.name));
                vars.insert(g.name.clone(), json!(shown));
            }
            maps.insert(map_name.to_string(), Value::Object(vars));
            continue;
        }
        if let Some(rb) = map.ringbuf() {
            let mut records = Vec::new();
            rb.consume(|r| records.push(hex(r)));
            text.push_str(&format!(
                "map {map_name} (ringbuf): {} record{}\n",
                records.len(),
                if records.len() == 1 { "" } else { "s" }
            ));
            for r in &records {
                text.push_str(&format!("  {r}\n"));
            }
            maps.insert(map_name.to_string(), json!(records));
            continue;
        }
        let entries = rt.map_entries(map_name).map_err(rt_err)?;
        text.push_str(&format!(
            "map {map_name} ({}): {} entries\n",
            map.spec().map_type.name(),
            entries.len()
        ));
        for (k, v) in &entries {
            text.push_str(&format!("  {k} => {v}\n"));
        }
        maps.insert(
            map_name.to_string(),
            Value::Array(
                entries
                    .iter()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect(),
            ),
        );
    }
    if json {
        let doc = json!({"return_value": r0, "data_out": hex(&mem), "maps": Value::Object(maps)});
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).expect("JSON values serialize")
        ));
    }
    Ok(text)
}
