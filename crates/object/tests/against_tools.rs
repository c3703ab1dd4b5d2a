//! The loader agrees with what llvm-objdump and bpftool report for the same
//! objects. The tools' outputs are committed beside each fixture by its build
//! script: `X.btf.txt` (`bpftool btf dump file X.o format raw`),
//! `X.objdump.txt` (`llvm-objdump -dr`) and `X.lines.txt` (`llvm-objdump -d -l`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use oxbpf_object::Object;

mod common;

/// The fixtures the loader accepts.
fn objects() -> Vec<PathBuf> {
    common::objects()
        .into_iter()
        .filter(|p| common::rejected(p).is_none())
        .collect()
}

fn companion(o: &Path, suffix: &str) -> Option<String> {
    let name = format!("{}.{suffix}", o.file_stem().unwrap().to_string_lossy());
    std::fs::read_to_string(o.with_file_name(name)).ok()
}

fn load(o: &Path) -> Object {
    Object::parse(&std::fs::read(o).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", o.display()))
}

#[test]
fn btf_dump_matches_bpftool() {
    let mut checked = 0;
    for o in objects() {
        let Some(want) = companion(&o, "btf.txt") else {
            continue;
        };
        let obj = load(&o);
        let got = obj.btf.as_ref().expect("object has BTF").dump_raw();
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(g, w, "{}: line {}", o.display(), i + 1);
        }
        assert_eq!(got.lines().count(), want.lines().count(), "{}", o.display());
        checked += 1;
    }
    println!("compared BTF of {checked} objects with bpftool");
    assert!(checked > 0);
}

/// From `llvm-objdump -dr`: (section, function, byte address) and
/// (section, offset, relocation type, symbol).
#[allow(clippy::type_complexity)]
fn parse_objdump(
    text: &str,
) -> (
    BTreeSet<(String, String, u64)>,
    BTreeSet<(String, u64, String, String)>,
) {
    let mut funcs = BTreeSet::new();
    let mut relocs = BTreeSet::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("Disassembly of section ") {
            section = s.trim_end_matches(':').to_string();
        } else if let Some((addr, rest)) = line.split_once(" <") {
            if let (Ok(a), Some(name)) = (
                u64::from_str_radix(addr.trim(), 16),
                rest.strip_suffix(">:"),
            ) {
                funcs.insert((section.clone(), name.to_string(), a));
            }
        } else if line.contains("R_BPF_") {
            let mut parts = line.split_whitespace();
            let off = parts.next().unwrap().trim_end_matches(':');
            let kind = parts.next().unwrap().to_string();
            let sym = parts.next().unwrap_or("").to_string();
            relocs.insert((
                section.clone(),
                u64::from_str_radix(off, 16).unwrap(),
                kind,
                sym,
            ));
        }
    }
    (funcs, relocs)
}

#[test]
fn programs_and_relocations_match_llvm_objdump() {
    let mut checked = 0;
    for o in objects() {
        let Some(text) = companion(&o, "objdump.txt") else {
            continue;
        };
        let obj = load(&o);
        let (funcs, relocs) = parse_objdump(&text);
        // Every function outside .text is a program at its address.
        let want: BTreeSet<_> = funcs
            .iter()
            .filter(|(s, _, _)| s != ".text")
            .cloned()
            .collect();
        // Programs that could not be prepared are listed apart, by name.
        let broken: BTreeSet<_> = obj
            .broken
            .iter()
            .filter_map(|b| b.program.clone())
            .collect();
        let want: BTreeSet<_> = want
            .into_iter()
            .filter(|(_, name, _)| !broken.contains(name))
            .collect();
        let got: BTreeSet<_> = obj
            .programs
            .iter()
            .map(|p| {
                (
                    p.section.clone(),
                    p.name.clone(),
                    p.section_offset as u64 * 8,
                )
            })
            .collect();
        assert_eq!(got, want, "{}: programs", o.display());
        // Relocations of code sections, as objdump lists them.
        let got: BTreeSet<_> = obj
            .relocations
            .iter()
            .filter(|r| funcs.iter().any(|(s, _, _)| *s == r.section))
            .map(|r| {
                (
                    r.section.clone(),
                    r.offset,
                    r.kind.to_string(),
                    r.symbol.clone(),
                )
            })
            .collect();
        assert_eq!(got, relocs, "{}: relocations", o.display());
        checked += 1;
    }
    println!("compared {checked} objects with llvm-objdump -dr");
    assert!(checked > 0);
}

#[test]
fn line_info_matches_dwarf_lines() {
    let mut checked = 0;
    let mut total = 0;
    for o in objects() {
        let Some(text) = companion(&o, "lines.txt") else {
            continue;
        };
        let obj = load(&o);
        // (section, instruction index) -> (file name, line) from the DWARF listing.
        let mut section = String::new();
        let mut current: Option<(String, u32)> = None;
        let mut dwarf = std::collections::BTreeMap::new();
        for line in text.lines() {
            if let Some(s) = line.strip_prefix("Disassembly of section ") {
                section = s.trim_end_matches(':').to_string();
                current = None;
            } else if let Some(loc) = line.strip_prefix("; ") {
                if let Some((file, n)) = loc.rsplit_once(':') {
                    if let Ok(n) = n.parse::<u32>() {
                        let base = Path::new(file)
                            .file_name()
                            .unwrap()
                            .to_string_lossy()
                            .into_owned();
                        current = Some((base, n));
                    }
                }
            } else if let Some((idx, _)) = line.trim_start().split_once(":\t") {
                if let (Ok(i), Some(cur)) = (idx.parse::<usize>(), &current) {
                    dwarf.insert((section.clone(), i), cur.clone());
                }
            }
        }
        let mut compared = 0;
        let mut mismatches = Vec::new();
        for p in &obj.programs {
            // At a function's first instruction BTF names the line of the
            // function's declaration and DWARF the first statement, so skip those.
            let starts: BTreeSet<usize> = p.func_info.iter().map(|f| f.insn).collect();
            for l in p
                .line_info
                .iter()
                .filter(|l| l.insn < p.main_len && l.line > 0 && !starts.contains(&l.insn))
            {
                let key = (p.section.clone(), p.section_offset + l.insn);
                if let Some((file, line)) = dwarf.get(&key) {
                    let base = Path::new(&l.file)
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    if (&base, &l.line) != (file, line) {
                        mismatches.push(format!(
                            "{} insn {}: BTF {base}:{}, DWARF {file}:{line}",
                            p.name, l.insn, l.line
                        ));
                    }
                    compared += 1;
                }
            }
        }
        assert!(
            mismatches.is_empty(),
            "{}:\n{}",
            o.display(),
            mismatches.join("\n")
        );
        total += compared;
        checked += 1;
    }
    println!("compared {total} line info records of {checked} objects with DWARF");
    assert!(total > 50, "only {total} line info records compared");
}
