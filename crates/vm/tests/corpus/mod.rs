//! The bpf_conformance corpus in `../shared`, shared by the interpreter's and
//! the JIT's conformance tests.

use std::path::PathBuf;

use oxbpf_isa::ConformanceTest;

/// `../shared/bpf-conformance/tests` (or `$OXBPF_SHARED/...`), if present.
pub fn conformance_dir() -> Option<PathBuf> {
    let shared = std::env::var_os("OXBPF_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("bpf-conformance/tests");
    dir.is_dir().then_some(dir)
}

/// Runs every `.data` test through `run` (which gets the parsed test and its
/// bytecode and returns r0 or an error), prints `label: passed/total` and
/// asserts that all 313 pass. Skips, saying so, when the corpus is absent.
pub fn run_corpus(label: &str, run: impl Fn(&ConformanceTest, &[u8]) -> Result<u64, String>) {
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
        let outcome = ConformanceTest::parse(&text)
            .map_err(|e| format!("parse: {e}"))
            .and_then(|test| {
                let code = test.bytecode().map_err(|e| format!("assemble: {e}"))?;
                match (run(&test, &code), test.result, &test.error) {
                    (Ok(r0), Some(want), _) if r0 == want => Ok(()),
                    (Ok(r0), want, _) => Err(format!("r0 = {r0:#x}, expected {want:x?}")),
                    (Err(_), None, Some(_)) => Ok(()),
                    (Err(e), _, _) => Err(format!("error: {e}")),
                }
            });
        if let Err(why) = outcome {
            let name = p.file_name().unwrap().to_string_lossy();
            failures.push(format!("{name}: {why}"));
        }
    }
    let passed = paths.len() - failures.len();
    println!("{label}: {passed}/{} passed", paths.len());
    assert!(
        paths.len() >= 313,
        "expected 313 tests, found {}",
        paths.len()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}
