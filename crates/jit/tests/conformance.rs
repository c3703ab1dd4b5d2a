//! Runs all bpf_conformance tests through the JIT, in both modes.

use std::path::PathBuf;

use oxbpf_isa::ConformanceTest;
use oxbpf_jit::{JitProgram, Mode, Options};
use oxbpf_vm::{Helpers, Program};

fn conformance_dir() -> Option<PathBuf> {
    let shared = std::env::var_os("OXBPF_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("bpf-conformance/tests");
    dir.is_dir().then_some(dir)
}

/// Runs one test; `Err` describes a failure.
fn run_one(text: &str, options: &Options) -> Result<(), String> {
    let test = ConformanceTest::parse(text).map_err(|e| format!("parse: {e}"))?;
    let code = test.bytecode().map_err(|e| format!("assemble: {e}"))?;
    let program = Program::new(&code, &Helpers::conformance()).map_err(|e| format!("load: {e}"))?;
    // SAFETY: the conformance programs stay inside their memory and stack (the
    // checked-mode run of the same programs proves it in this test).
    let mut jit = unsafe { JitProgram::compile_with_mode(program, options) }
        .map_err(|e| format!("compile: {e}"))?;
    jit.set_budget(Some(10_000_000))
        .map_err(|e| format!("budget: {e}"))?;
    let mut mem = test.mem.clone();
    match (jit.run(&mut mem), test.result, &test.error) {
        (Ok(r0), Some(want), _) if r0 == want => Ok(()),
        (Ok(r0), want, _) => Err(format!("r0 = {r0:#x}, expected {want:x?}")),
        (Err(_), None, Some(_)) => Ok(()),
        (Err(e), _, _) => Err(format!("error: {e}")),
    }
}

fn run_all(options: Options) {
    let Some(dir) = conformance_dir() else {
        println!("skipped: ../shared/bpf-conformance/tests is absent");
        return;
    };
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    paths.sort();
    let mut failures = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).unwrap();
        if let Err(why) = run_one(&text, &options) {
            failures.push(format!(
                "{}: {why}",
                p.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    let passed = paths.len() - failures.len();
    println!(
        "conformance ({:?}{}): {passed}/{} passed",
        options.mode,
        if options.constant_blinding {
            ", blinded"
        } else {
            ""
        },
        paths.len()
    );
    assert!(
        paths.len() >= 313,
        "expected 313 tests, found {}",
        paths.len()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn checked_jit_passes_all_conformance_tests() {
    run_all(Options {
        mode: Mode::Checked,
        constant_blinding: false,
    });
}

#[test]
fn unchecked_jit_passes_all_conformance_tests() {
    run_all(Options {
        mode: Mode::Unchecked,
        constant_blinding: false,
    });
}

#[test]
fn blinded_jit_passes_all_conformance_tests() {
    run_all(Options {
        mode: Mode::Checked,
        constant_blinding: true,
    });
}
