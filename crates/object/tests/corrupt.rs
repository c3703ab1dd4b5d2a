//! Truncated and corrupted versions of every fixture object get an error or a
//! clean load, never a panic.

use std::path::PathBuf;

use oxbpf_object::{Btf, Object};

mod common;

fn fixtures() -> Vec<(PathBuf, Vec<u8>)> {
    common::objects()
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn every_fixture_loads() {
    let all = fixtures();
    assert!(all.len() >= 5, "found only {} fixture objects", all.len());
    for (path, bytes) in &all {
        if let Some(why) = common::rejected(path) {
            let err = Object::parse(bytes).unwrap_err().to_string();
            assert!(err.contains(why), "{}: {err}", path.display());
            continue;
        }
        let obj = Object::parse(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!obj.programs.is_empty(), "{}: no programs", path.display());
        for p in &obj.programs {
            p.instructions()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

#[test]
fn truncated_fixtures_never_panic() {
    for (path, bytes) in fixtures() {
        let step = (bytes.len() / 97).max(1);
        for len in (0..bytes.len()).step_by(step) {
            if let Ok(obj) = Object::parse(&bytes[..len]) {
                for p in &obj.programs {
                    let _ = p.instructions();
                }
            }
        }
        println!("{}: {} truncations", path.display(), bytes.len() / step);
    }
}

/// Corrupted copies per fixture; OXBPF_CORRUPTIONS raises it for a longer hunt.
fn corruptions() -> usize {
    std::env::var("OXBPF_CORRUPTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

#[test]
fn corrupted_fixtures_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (_, bytes) in fixtures() {
        for _ in 0..corruptions() {
            let mut b = bytes.clone();
            for _ in 0..(1 + next() % 8) {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            if let Ok(mut obj) = Object::parse(&b) {
                for p in &obj.programs {
                    let _ = p.instructions();
                }
                if let Some(btf) = obj.btf.clone() {
                    let _ = obj.apply_core(&btf);
                    let _ = btf.dump_raw();
                }
            }
        }
    }
}

#[test]
fn malformed_files_get_errors_that_say_why() {
    assert!(Object::parse(b"").unwrap_err().to_string().contains("ELF"));
    assert!(Object::parse(b"\x7fELF\x02\x01\x01").is_err());
    // An x86-64 object is not a BPF object.
    let mut x86 = fixtures()[0].1.clone();
    x86[18] = 62;
    x86[19] = 0;
    let e = Object::parse(&x86).unwrap_err().to_string();
    assert!(e.contains("ELF machine 62"), "{e}");
    assert!(Btf::parse(&[0u8; 10])
        .unwrap_err()
        .to_string()
        .contains("header truncated"));
}
