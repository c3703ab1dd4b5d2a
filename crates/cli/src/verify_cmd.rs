//! `oxbpf verify`: the static verifier on an object's programs or on raw bytecode.
//!
//! Exit status: 0 when every selected program is accepted, 1 when any is
//! rejected, 2 when the input cannot be used.

use std::path::PathBuf;

use clap::Args;
use oxbpf_object::{classify, Object, ProgramType};
use oxbpf_verifier::{verify, verify_object, Input, Options, Report};

use crate::input::{load_program, Format};

/// Arguments of `oxbpf verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// An ELF object (`.o`), or bytecode (`.bin`, hex, assembly) with `--type`.
    input: PathBuf,
    /// With an object: only this program.
    #[arg(long)]
    prog: Option<String>,
    /// Program type: of raw bytecode, or overriding an object's SEC() names;
    /// a bpftool name (xdp, socket_filter, sched_cls, kprobe, ...) or a SEC()
    /// name (xdp, tc, socket, kprobe/...).
    #[arg(long = "type", value_name = "TYPE")]
    prog_type: Option<String>,
    /// Print the full per-instruction log (like the kernel's log_level 2).
    #[arg(long)]
    log: bool,
    /// Print one JSON object per program.
    #[arg(long)]
    json: bool,
    /// Write the control-flow graph (Graphviz) with the failing path in red.
    #[arg(long, value_name = "FILE")]
    dot: Option<PathBuf>,
    /// Judge as an unprivileged loader (no CAP_BPF): no loops, no pointer
    /// comparisons or leaks, fewer helpers.
    #[arg(long)]
    unprivileged: bool,
    /// Refuse reads of never-written stack even when privileged. By default,
    /// as the kernel does for CAP_PERFMON loaders, such reads give unknown
    /// numbers; unprivileged loaders are always refused them.
    #[arg(long)]
    strict: bool,
    /// How to read bytecode input.
    #[arg(long, value_enum, default_value = "auto")]
    format: Format,
}

const TYPES: &[ProgramType] = &[
    ProgramType::SocketFilter,
    ProgramType::Kprobe,
    ProgramType::SchedCls,
    ProgramType::SchedAct,
    ProgramType::Tracepoint,
    ProgramType::Xdp,
    ProgramType::PerfEvent,
    ProgramType::CgroupSkb,
    ProgramType::CgroupSock,
    ProgramType::LwtIn,
    ProgramType::LwtOut,
    ProgramType::LwtXmit,
    ProgramType::SockOps,
    ProgramType::SkSkb,
    ProgramType::CgroupDevice,
    ProgramType::SkMsg,
    ProgramType::RawTracepoint,
    ProgramType::CgroupSockAddr,
    ProgramType::LwtSeg6local,
    ProgramType::SkReuseport,
    ProgramType::FlowDissector,
    ProgramType::CgroupSysctl,
    ProgramType::RawTracepointWritable,
    ProgramType::CgroupSockopt,
    ProgramType::Tracing,
    ProgramType::Lsm,
    ProgramType::SkLookup,
    ProgramType::Syscall,
    ProgramType::Netfilter,
];

pub(crate) fn parse_type(name: &str) -> Option<ProgramType> {
    TYPES
        .iter()
        .copied()
        .find(|t| t.name() == name)
        .or_else(|| Some(classify(name).0).filter(|t| *t != ProgramType::Unspec))
}

/// Gives every program of `obj` the program type `tname` names (a bpftool
/// name or a SEC() name, which also names the attach type), as `--type` does.
pub(crate) fn override_type(obj: &mut Object, tname: &str) -> Result<(), String> {
    let t = parse_type(tname).ok_or_else(|| {
        let names: Vec<&str> = TYPES.iter().map(|t| t.name()).collect();
        format!(
            "unknown program type `{tname}` (known: {})",
            names.join(", ")
        )
    })?;
    for p in &mut obj.programs {
        p.prog_type = t;
        p.section = tname.to_string();
    }
    Ok(())
}

fn unusable(msg: String) -> ! {
    eprintln!("oxbpf: error: {msg}");
    std::process::exit(2)
}

/// The distinct helper ids `insns` call, in order of first call.
fn helper_calls(insns: &[oxbpf_isa::Insn]) -> Vec<i32> {
    let mut ids = Vec::new();
    for insn in insns {
        if let oxbpf_isa::Insn::Call {
            kind: oxbpf_isa::CallKind::Helper,
            imm,
        } = insn
        {
            if !ids.contains(imm) {
                ids.push(*imm);
            }
        }
    }
    ids
}

/// Runs `oxbpf verify` and exits with its status.
pub fn run(args: VerifyArgs) -> ! {
    let opts = Options {
        privileged: !args.unprivileged,
        strict: args.strict,
        log: args.log,
        ..Options::default()
    };
    let data = std::fs::read(&args.input)
        .unwrap_or_else(|e| unusable(format!("{}: {e}", args.input.display())));
    let given_type = args.prog_type.as_deref().map(|tname| {
        parse_type(tname).unwrap_or_else(|| {
            let names: Vec<&str> = TYPES.iter().map(|t| t.name()).collect();
            unusable(format!(
                "unknown program type `{tname}` (known: {})",
                names.join(", ")
            ))
        })
    });
    // The helpers each program calls, for the notes on what only the kernel runs.
    let mut calls: Vec<Vec<i32>> = Vec::new();
    let mut broken = None;
    let reports: Vec<Report> = if data.starts_with(b"\x7fELF") {
        let mut obj = Object::parse(&data)
            .unwrap_or_else(|e| unusable(format!("{}: {e}", args.input.display())));
        if let Some(tname) = &args.prog_type {
            // --type overrides every program's SEC()-derived type and attach type.
            override_type(&mut obj, tname).unwrap_or_else(|e| unusable(e));
        }
        let reports = verify_object(&obj, args.prog.as_deref(), &opts)
            .unwrap_or_else(|e| unusable(format!("{}: {e}", args.input.display())));
        for r in &reports {
            let insns: Vec<oxbpf_isa::Insn> = obj
                .program(&r.name)
                .and_then(|p| p.instructions())
                .map(|v| v.into_iter().map(|(_, i)| i).collect())
                .unwrap_or_default();
            calls.push(helper_calls(&insns));
        }
        broken = Some(obj.broken.clone());
        reports
    } else {
        let (Some(t), Some(tname)) = (given_type, &args.prog_type) else {
            unusable(format!(
                "{} is not an ELF object; give the program type of raw bytecode with --type",
                args.input.display()
            ))
        };
        let loaded =
            load_program(&args.input, args.format).unwrap_or_else(|e| unusable(e.to_string()));
        let insns: Vec<oxbpf_isa::Insn> = oxbpf_isa::decode_program(&loaded.bytecode)
            .map(|v| v.into_iter().map(|(_, i)| i).collect())
            .unwrap_or_default();
        calls.push(helper_calls(&insns));
        let slots = oxbpf_verifier::slots(&loaded.bytecode)
            .unwrap_or_else(|e| unusable(format!("{}: {e}", args.input.display())));
        let mut input = Input::new(&slots, t);
        input.name = args.input.display().to_string();
        // A SEC() name given as the type also names the attach type.
        input.section = tname;
        vec![verify(&input, &opts)]
    };
    let mut status = 0;
    for (r, calls) in reports.iter().zip(&calls) {
        if let Some(log) = &r.log {
            print!("{log}");
        }
        let kernel_only: Vec<String> = calls
            .iter()
            .filter(|&&id| !oxbpf::helpers::implements(id))
            .map(|&id| format!("bpf_{}", oxbpf_isa::helper_name(id).unwrap_or("unknown")))
            .collect();
        if args.json {
            let mut v: serde_json::Value =
                serde_json::from_str(&r.json()).expect("reports are JSON");
            v["kernel_only_helpers"] = serde_json::json!(kernel_only);
            println!("{v}");
        } else {
            print!("{}", r.text());
            if !kernel_only.is_empty() {
                println!(
                    "  note: oxbpf's runtime does not implement {}: the kernel runs this program, `oxbpf run` refuses it",
                    kernel_only.join(", ")
                );
            }
        }
        if !r.accepted() {
            status = 1;
        }
    }
    // Programs the object could not prepare are not judged; they still fail the run.
    if let Some(obj) = &broken {
        for b in obj {
            let name = b.program.as_deref().unwrap_or(&b.section);
            if args.prog.as_deref().is_some_and(|p| p != name) {
                continue;
            }
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"name": name, "section": b.section, "accepted": false, "error": b.error})
                );
            } else {
                println!("{name}: not loadable (section {}): {}", b.section, b.error);
            }
            status = 1;
        }
    }
    if let Some(path) = &args.dot {
        // With several programs, the first rejected one (or the first) is drawn.
        let pick = reports.iter().find(|r| !r.accepted()).or(reports.first());
        if let Some(r) = pick {
            if let Err(e) = std::fs::write(path, r.dot()) {
                unusable(format!("{}: {e}", path.display()));
            }
        }
    }
    std::process::exit(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_types_by_bpftool_or_section_name() {
        assert_eq!(parse_type("xdp"), Some(ProgramType::Xdp));
        assert_eq!(parse_type("socket_filter"), Some(ProgramType::SocketFilter));
        assert_eq!(parse_type("tc"), Some(ProgramType::SchedCls));
        assert_eq!(parse_type("kprobe/foo"), Some(ProgramType::Kprobe));
        assert_eq!(parse_type("nonsense"), None);
    }
}
