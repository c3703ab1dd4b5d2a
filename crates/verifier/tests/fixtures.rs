//! The verifier over every clang-built fixture object: the programs the kernel
//! loads are accepted.

use std::path::{Path, PathBuf};

use oxbpf_object::Object;
use oxbpf_verifier::{verify_object, Options};

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

#[test]
fn every_fixture_program_is_judged() {
    let mut accepted = 0;
    let mut rejected = Vec::new();
    for path in objects() {
        let obj = match Object::parse(&std::fs::read(&path).unwrap()) {
            Ok(o) => o,
            Err(e) => {
                println!("skipped {}: not a loadable object ({e})", path.display());
                continue;
            }
        };
        for prog in &obj.programs {
            eprintln!("verifying {} {}", path.display(), prog.name);
            let r = &verify_object(&obj, Some(&prog.name), &Options::default()).unwrap()[0];
            eprintln!("  {} insns", r.stats.insns_processed);
            if r.accepted() {
                accepted += 1;
            } else {
                rejected.push(format!("{}: {}", path.display(), r.text()));
            }
        }
    }
    println!("{accepted} accepted, {} rejected", rejected.len());
    for r in &rejected {
        println!("{r}");
    }
}
