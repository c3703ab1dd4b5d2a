//! CO-RE relocations take the offsets, sizes and values of the target BTF.

use std::path::PathBuf;

use oxbpf_object::{Btf, Object};

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/elf")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The value the instruction at `i` carries where CO-RE patches it.
fn carried(insns: &[oxbpf_isa::RawInsn], i: usize) -> u64 {
    let r = insns[i];
    match r.opcode & 7 {
        0x04 | 0x07 => r.imm as i64 as u64,
        0x01..=0x03 => r.off as i64 as u64,
        _ => (r.imm as u32 as u64) | ((insns[i + 1].imm as u32 as u64) << 32),
    }
}

#[test]
fn relocations_resolve_against_the_target_btf() {
    let mut obj = Object::parse(&fixture("core.o")).unwrap();
    let target = Btf::parse(&fixture("core_target.btf")).unwrap();
    let before = obj.clone();
    let outcomes = obj.apply_core(&target).unwrap();
    let expected = String::from_utf8(fixture("core_target.expected.txt")).unwrap();
    let mut rows = 0;
    for line in expected
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (prog, insn, kind, access) = (f[0], f[1].parse::<usize>().unwrap(), f[2], f[3]);
        let (local, target): (u64, u64) = (f[4].parse().unwrap(), f[5].parse().unwrap());
        let o = outcomes
            .iter()
            .find(|o| o.program == prog && o.insn == insn)
            .unwrap_or_else(|| panic!("no outcome for {prog} insn {insn}"));
        assert_eq!(
            (o.kind.name(), o.access.as_str()),
            (kind, access),
            "{prog} insn {insn}"
        );
        assert_eq!(
            (o.local, o.target),
            (local, Some(target)),
            "{prog} insn {insn} {kind} {access}"
        );
        // The instruction now carries the target's value; before, the local one
        // (bitfield loads excepted: there the compiler picks its own load).
        let p = obj.program(prog).unwrap();
        assert_eq!(
            carried(&p.insns, insn),
            target,
            "{prog} insn {insn} after patching"
        );
        let p0 = before.program(prog).unwrap();
        if !access.ends_with(":6") {
            assert_eq!(
                carried(&p0.insns, insn),
                local,
                "{prog} insn {insn} before patching"
            );
        }
        rows += 1;
    }
    assert_eq!(rows, outcomes.len(), "every relocation has an expectation");
}

#[test]
fn relocating_against_the_compile_time_btf_changes_nothing() {
    let mut obj = Object::parse(&fixture("core.o")).unwrap();
    let own = obj.btf.clone().unwrap();
    let before = obj.clone();
    let outcomes = obj.apply_core(&own).unwrap();
    assert_eq!(outcomes.len(), 18);
    for o in &outcomes {
        assert_eq!(o.target, Some(o.local), "{o:?}");
    }
    for (a, b) in obj.programs.iter().zip(&before.programs) {
        for (i, (x, y)) in a.insns.iter().zip(&b.insns).enumerate() {
            // Bitfield loads are recomputed with libbpf's rule, which may pick another load.
            if a.core_relos
                .iter()
                .any(|r| r.insn == i && r.access == "0:6")
            {
                continue;
            }
            assert_eq!(x, y, "{} insn {i}", a.name);
        }
    }
}

#[test]
fn missing_types_poison_the_instruction() {
    // Against a BTF without `struct ox_mm`, the end_code offset cannot be
    // relocated: the instruction becomes a call to libbpf's poison helper.
    let mut obj = Object::parse(&fixture("core.o")).unwrap();
    let unrelated = Object::parse(&fixture("globals.o")).unwrap().btf.unwrap();
    let outcomes = obj.apply_core(&unrelated).unwrap();
    let mm = outcomes
        .iter()
        .find(|o| o.type_name == "struct ox_mm")
        .unwrap();
    assert_eq!(mm.target, None);
    let p = obj.program(&mm.program).unwrap();
    assert_eq!(
        (p.insns[mm.insn].opcode, p.insns[mm.insn].imm),
        (0x85, oxbpf_object::core::POISON_HELPER)
    );
    // Existence checks answer 0 instead.
    let exists = outcomes
        .iter()
        .find(|o| o.kind.name() == "field_exists")
        .unwrap();
    assert_eq!(exists.target, Some(0));
}

/// fixtures/object/core.o: 54 relocations of all 13 kinds, three of which have
/// no match in the target and poison their instruction. Its expectation file
/// lists them by section and section-relative instruction.
#[test]
fn every_relocation_kind_resolves_as_libbpf_does() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/object");
    let mut obj = Object::parse(&std::fs::read(dir.join("core.o")).unwrap()).unwrap();
    let target = Btf::parse(&std::fs::read(dir.join("core_target.btf")).unwrap()).unwrap();
    let outcomes = obj.apply_core(&target).unwrap();
    let expected = std::fs::read_to_string(dir.join("core_target.expected.txt")).unwrap();
    let mut rows = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (section, insn, kind, access, target_value) =
            (f[0], f[1].parse::<usize>().unwrap(), f[2], f[6], f[8]);
        let p = obj.programs.iter().find(|p| p.section == section).unwrap();
        let o = outcomes
            .iter()
            .find(|o| o.program == p.name && o.insn + p.section_offset == insn)
            .unwrap_or_else(|| panic!("no outcome for {section} insn {insn}"));
        assert_eq!((o.kind.name(), o.access.as_str()), (kind, access), "{line}");
        let want = if target_value == "poison" {
            None
        } else {
            Some(target_value.parse::<u64>().unwrap())
        };
        assert_eq!(o.target, want, "{line}");
        if want.is_none() {
            assert_eq!(
                p.insns[o.insn].imm,
                oxbpf_object::core::POISON_HELPER,
                "{line}"
            );
        }
        kinds.insert(kind.to_string());
        rows += 1;
    }
    assert_eq!(rows, outcomes.len());
    assert_eq!(rows, 54);
    assert_eq!(kinds.len(), 13, "{kinds:?}");
}
