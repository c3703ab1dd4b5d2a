//! Every fixture object goes into the kernel: its BTF is accepted after
//! sanitizing, its maps are created, and every program the kernel supports
//! loads; the others fail only for the reasons listed here.

use std::path::{Path, PathBuf};

use oxbpf_kernel::Kernel;
use oxbpf_object::Object;

/// Programs this kernel refuses, with a phrase of the reason.
const REFUSED: &[(&str, &str, &str)] = &[
    // Calls to helper ids that only oxbpf's host defines.
    ("elf/core.o", "core_fields", "invalid func unknown#"),
    ("elf/core.o", "core_checks", "invalid func unknown#"),
    // clang -O0 emits `callx` (opcode 0x8d), which the kernel lacks.
    ("elf/noopt.o", "unoptimized", "unknown opcode 8d"),
    ("object/noopt.o", "xdp_noopt", "unknown opcode 8d"),
    // A host-defined hook's context: the kernel's tracepoint context differs.
    ("elf/tracer.o", "trace_exec", "invalid bpf_context access"),
    // BPF trampolines: this kernel (no ftrace direct calls) refuses them.
    ("elf/progtypes.o", "fentry_prog", "Operation not permitted"),
    ("elf/progtypes.o", "fexit_prog", "Operation not permitted"),
    ("elf/progtypes.o", "lsm_prog", "Operation not permitted"),
    (
        "object/progtypes.o",
        "prog_fentry",
        "Operation not permitted",
    ),
    (
        "object/progtypes.o",
        "prog_fexit",
        "Operation not permitted",
    ),
    ("object/progtypes.o", "prog_lsm", "Operation not permitted"),
    // A socket filter using a program array that an XDP program loaded
    // before it owns: the kernel ties program arrays to one program type.
    ("elf/typed_slots.o", "socket_caller", "Invalid argument"),
    // A section that names an unknown extern: the object's other programs load.
    ("elf/legacy_loader.o", "sock_prog", "could not be prepared"),
    // A __ksym per-CPU variable: resolved through BTF, but this kernel's
    // kallsyms has no per-CPU variables (no CONFIG_KALLSYMS_ALL) for its address.
    (
        "elf/ksyms.o",
        "prog_active",
        "find the address for kernel symbol",
    ),
];

fn objects() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut out = Vec::new();
    for dir in ["elf", "object"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "o") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn label(p: &Path) -> String {
    let dir = p.parent().and_then(|d| d.file_name()).unwrap_or_default();
    format!(
        "{}/{}",
        dir.to_string_lossy(),
        p.file_name().unwrap_or_default().to_string_lossy()
    )
}

#[test]
fn every_fixture_loads_what_the_kernel_supports() {
    if !oxbpf_kernel::sys::privileged() {
        println!("skipped every_fixture_loads_what_the_kernel_supports: needs root (CAP_BPF)");
        return;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped every_fixture_loads_what_the_kernel_supports: {why}");
        return;
    }
    let (mut loaded, mut refused, mut objects_done) = (0, 0, 0);
    let mut unexpected = Vec::new();
    for path in objects() {
        let name = label(&path);
        let obj = match Object::parse(&std::fs::read(&path).unwrap()) {
            Ok(o) => o,
            Err(e) => {
                // The loader's own tests pin down which fixtures it refuses.
                println!("{name}: not an object oxbpf loads ({e})");
                continue;
            }
        };
        let k = match Kernel::load(&obj) {
            Ok(k) => k,
            Err(e) => {
                unexpected.push(format!("{name}: maps refused: {e}"));
                continue;
            }
        };
        objects_done += 1;
        if obj.btf.is_some() {
            if let Err(e) = k.btf_fd() {
                unexpected.push(format!("{name}: BTF refused: {e}"));
            }
        }
        for (def, m) in k.maps() {
            if let Err(e) = m {
                unexpected.push(format!("{name}: map {} refused: {e}", def.name));
            }
        }
        for (prog, r) in k.load_all() {
            match r {
                Ok(_) => {
                    loaded += 1;
                    println!("{name}: {prog}: loaded");
                }
                Err(e) => {
                    refused += 1;
                    let text = e.to_string();
                    let first = text.lines().last().unwrap_or_default().to_string();
                    println!(
                        "{name}: {prog}: refused: {}",
                        text.lines().next().unwrap_or_default()
                    );
                    let known = REFUSED
                        .iter()
                        .any(|(o, p, why)| name == *o && prog == *p && text.contains(why));
                    // Rejections carry the kernel's log, with the C source lines
                    // that the program's line info maps instructions to.
                    if name == "elf/tracer.o" {
                        assert!(text.contains("@ tracer.c:"), "{text}");
                        assert!(text.contains("; e = bpf_ringbuf_reserve(&events"), "{text}");
                        // And the failing instruction with its line, as oxbpf's verifier says it.
                        assert!(
                            text.contains("rejected at instruction 16\n  source: tracer.c:38: e->pid = ctx->pid;"),
                            "{text}"
                        );
                    }
                    if !known {
                        unexpected.push(format!("{name}: {prog}: {first}\n{text}"));
                    }
                }
            }
        }
    }
    println!("{objects_done} objects: {loaded} programs loaded, {refused} refused as listed");
    assert!(
        unexpected.is_empty(),
        "unexpected:\n{}",
        unexpected.join("\n")
    );
    assert!(loaded > 50, "{loaded}");
}

#[test]
fn co_re_relocations_are_applied_against_the_running_kernel() {
    let test = "co_re_relocations_are_applied_against_the_running_kernel";
    if !oxbpf_kernel::sys::privileged() {
        println!("skipped {test}: needs root (CAP_BPF)");
        return;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return;
    }
    let Ok(raw) = std::fs::read(oxbpf_kernel::VMLINUX_BTF) else {
        println!("skipped {test}: no {}", oxbpf_kernel::VMLINUX_BTF);
        return;
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/object/core.o");
    let obj = Object::parse(&std::fs::read(path).unwrap()).unwrap();
    assert!(obj.programs.iter().any(|p| !p.core_relos.is_empty()));
    let mut want = obj.clone();
    let outcomes = want
        .apply_core(&oxbpf_object::Btf::parse(&raw).unwrap())
        .unwrap();
    assert!(!outcomes.is_empty());
    let k = Kernel::load(&obj).unwrap();
    let mut changed = 0;
    for (got, (orig, want)) in k
        .object()
        .programs
        .iter()
        .zip(obj.programs.iter().zip(&want.programs))
    {
        assert_eq!(
            got.insns, want.insns,
            "{}: relocated as against vmlinux",
            got.name
        );
        changed += got
            .insns
            .iter()
            .zip(&orig.insns)
            .filter(|(a, b)| a != b)
            .count();
        k.program_fd(&got.name).unwrap();
    }
    println!(
        "{test}: {} relocations, {changed} instructions changed, all programs loaded",
        outcomes.len()
    );
    // A missing target BTF is an error naming the file.
    let e = Kernel::load_with(
        &obj,
        oxbpf_kernel::LoadOptions {
            core_target: Some("/nonexistent/vmlinux".into()),
            ..Default::default()
        },
    )
    .err()
    .expect("no such file")
    .to_string();
    assert!(e.contains("/nonexistent/vmlinux"), "{e}");
}
