//! The verifier over every clang-built fixture object: the programs the kernel
//! loads are accepted.

use std::path::{Path, PathBuf};

use oxbpf_object::Object;
use oxbpf_verifier::{verify_object, Options, Reason};

fn objects() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut out = Vec::new();
    for dir in ["elf", "object", "bench"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "o") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Fixture programs oxbpf rejects, with the reason and why that is right.
const EXPECTED_REJECTIONS: &[(&str, &str, Reason, &str)] = &[
    (
        "counter.o",
        "count",
        Reason::ContextAccess,
        "an `oxbpf` section (no kernel type): no context layout",
    ),
    (
        "counter.o",
        "describe",
        Reason::HelperArgument,
        "an `oxbpf` section; the snprintf size comes unbounded from its input",
    ),
    (
        "noopt.o",
        "unoptimized",
        Reason::Unsupported,
        "clang -O0 calls helpers through callx, which the kernel refuses too",
    ),
    (
        "noopt.o",
        "xdp_noopt",
        Reason::Unsupported,
        "clang -O0 calls helpers through callx, which the kernel refuses too",
    ),
    (
        "progtypes.o",
        "prog_tp_btf",
        Reason::InvalidMemAccess,
        "BTF-typed pointer arguments (tp_btf) are not modelled",
    ),
    (
        "progtypes.o",
        "prog_iter_task",
        Reason::InvalidMemAccess,
        "BTF-typed pointer arguments (iter) are not modelled",
    ),
    (
        "mixed_prog_array.o",
        "xdp_caller",
        Reason::HelperArgument,
        "its program array also holds a syscall program (the kernel refuses to mix types)",
    ),
    (
        "typed_slots.o",
        "socket_caller",
        Reason::HelperArgument,
        "a socket filter tail-calling through an XDP program array (the kernel's EINVAL)",
    ),
];

#[test]
fn every_fixture_program_is_judged() {
    let mut accepted = 0;
    let mut wrong = Vec::new();
    for path in objects() {
        let obj = match Object::parse(&std::fs::read(&path).unwrap()) {
            Ok(o) => o,
            Err(e) => {
                println!("skipped {}: not a loadable object ({e})", path.display());
                continue;
            }
        };
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let bench = path.parent().is_some_and(|p| p.ends_with("bench"));
        for r in verify_object(&obj, None, &Options::default()).unwrap() {
            let expected = EXPECTED_REJECTIONS
                .iter()
                .find(|(f, p, _, _)| *f == file && *p == r.name);
            match (&r.rejection, expected) {
                (None, None) => accepted += 1,
                // The benchmark programs use oxbpf's plain convention, which no kernel type has.
                (Some(rej), None) if bench => {
                    assert_eq!(rej.reason, Reason::ContextAccess, "{file} {}", r.text());
                }
                (Some(rej), Some((_, _, reason, why))) if rej.reason == *reason => {
                    println!("{file} {}: rejected as expected ({why})", r.name);
                }
                _ => wrong.push(format!("{file}: {}", r.text())),
            }
        }
    }
    println!("{accepted} fixture programs accepted");
    assert!(accepted >= 90, "only {accepted} fixture programs accepted");
    assert!(
        wrong.is_empty(),
        "unexpected verdicts:\n{}",
        wrong.join("\n")
    );
}
