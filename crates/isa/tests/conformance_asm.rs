//! Every conformance program assembles to exactly the bytes of conformance.tsv.

use std::path::PathBuf;

use oxbpf_isa::{assemble_bytes, ConformanceTest};

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("OXBPF_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.join("bpf-conformance/conformance.tsv")
        .exists()
        .then_some(dir)
}

#[test]
fn assembles_every_conformance_program_byte_for_byte() {
    let Some(shared) = shared_dir() else {
        println!("skipped: ../shared/bpf-conformance is absent");
        return;
    };
    let root = shared.join("bpf-conformance");
    let tsv = std::fs::read_to_string(root.join("conformance.tsv")).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for row in tsv
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = row.split('\t').collect();
        let (name, prog_hex) = (cols[0], cols[2]);
        let text = std::fs::read_to_string(root.join(format!("tests/{name}.data"))).unwrap();
        let test = ConformanceTest::parse(&text).unwrap();
        match assemble_bytes(&test.asm) {
            Ok(bytes) => {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                if hex != prog_hex {
                    failures.push(format!("{name}: got {hex}\n   want {prog_hex}"));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
        checked += 1;
    }
    println!(
        "assembled {checked} conformance programs, {} mismatches",
        failures.len()
    );
    assert!(checked >= 313, "expected 313 rows, found {checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
