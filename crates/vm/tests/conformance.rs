//! Runs all bpf_conformance tests through the interpreter.

use std::path::PathBuf;

use oxbpf_isa::ConformanceTest;
use oxbpf_vm::{Helpers, Vm};

fn conformance_dir() -> Option<PathBuf> {
    let shared = std::env::var_os("OXBPF_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("bpf-conformance/tests");
    dir.is_dir().then_some(dir)
}

/// Runs one test; `Err` describes a failure.
fn run_one(text: &str) -> Result<(), String> {
    let test = ConformanceTest::parse(text).map_err(|e| format!("parse: {e}"))?;
    let code = test.bytecode().map_err(|e| format!("assemble: {e}"))?;
    let outcome = Vm::new(&code, &Helpers::conformance()).and_then(|mut vm| {
        vm.set_budget(Some(10_000_000));
        let mut mem = test.mem.clone();
        vm.run(&mut mem)
    });
    match (outcome, test.result, &test.error) {
        (Ok(r0), Some(want), _) if r0 == want => Ok(()),
        (Ok(r0), want, _) => Err(format!("r0 = {r0:#x}, expected {want:x?}")),
        (Err(_), None, Some(_)) => Ok(()),
        (Err(e), _, _) => Err(format!("error: {e}")),
    }
}

#[test]
fn interpreter_passes_all_conformance_tests() {
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
        if let Err(why) = run_one(&text) {
            failures.push(format!(
                "{}: {why}",
                p.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    let passed = paths.len() - failures.len();
    println!("conformance: {passed}/{} passed", paths.len());
    assert!(
        paths.len() >= 313,
        "expected 313 tests, found {}",
        paths.len()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}
