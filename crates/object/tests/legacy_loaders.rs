//! Objects written for older loaders: section names taken as prefixes,
//! iproute2's map-in-map definitions, e_machine 0, and a section that cannot
//! be prepared beside usable ones.

use oxbpf_object::{Object, ProgramType};

fn fixture() -> Vec<u8> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/elf/legacy_loader.o"
    );
    std::fs::read(p).unwrap()
}

#[test]
fn prefix_sections_iproute2_maps_and_a_broken_section() {
    let obj = Object::parse(&fixture()).unwrap();
    let ty = |n: &str| obj.program(n).unwrap().prog_type;
    assert_eq!(ty("cls"), ProgramType::SchedCls);
    assert_eq!(ty("xdp_prog"), ProgramType::Xdp);

    // The inner map names its outer map's id (42) and its slot (0).
    let outer = &obj.maps[obj.map_index("outer").unwrap()];
    let inner = outer.inner.as_ref().expect("a template from the inner map");
    assert_eq!((inner.map_type, inner.value_size), (2, 8));
    assert_eq!(outer.initial_slots, [(0, "inner".to_string())]);

    // socket1 names an unknown extern: it alone is not loadable, by section.
    assert_eq!(obj.broken.len(), 1, "{:?}", obj.broken);
    let b = &obj.broken[0];
    assert_eq!(b.section, "socket1");
    assert_eq!(b.program.as_deref(), Some("sock_prog"));
    assert!(b.error.contains("no_such_symbol"), "{}", b.error);
    let e = obj.program("sock_prog").unwrap_err().to_string();
    assert!(e.contains("socket1") && e.contains("no_such_symbol"), "{e}");
}

#[test]
fn e_machine_zero_from_old_llvm_is_accepted() {
    let mut elf = fixture();
    // e_machine is the u16 at byte 18 of the ELF header.
    elf[18..20].copy_from_slice(&0u16.to_le_bytes());
    let obj = Object::parse(&elf).unwrap();
    assert_eq!(obj.programs.len(), 2);
    // Other machines are still refused.
    elf[18..20].copy_from_slice(&62u16.to_le_bytes());
    assert!(Object::parse(&elf).is_err());
}

#[test]
fn ksym_externs_become_kfunc_calls_and_kernel_variables() {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/elf/ksyms.o");
    let obj = Object::parse(&std::fs::read(p).unwrap()).unwrap();
    assert!(obj.broken.is_empty(), "{:?}", obj.broken);
    let rcu = obj.program("rcu_section").unwrap();
    let names: Vec<(&str, bool)> = rcu
        .ksyms
        .iter()
        .map(|k| (k.name.as_str(), k.function))
        .collect();
    assert_eq!(
        names,
        [("bpf_rcu_read_lock", true), ("bpf_rcu_read_unlock", true)]
    );
    for k in &rcu.ksyms {
        // call with src_reg 2: a kernel function, its BTF id left for the loader.
        assert_eq!((rcu.insns[k.slot].opcode, rcu.insns[k.slot].src), (0x85, 2));
    }
    let var = &obj.program("prog_active").unwrap().ksyms;
    assert_eq!(var.len(), 1);
    assert_eq!(
        (var[0].name.as_str(), var[0].function),
        ("bpf_prog_active", false)
    );
    let lddw = obj.program("prog_active").unwrap().insns[var[0].slot];
    assert_eq!((lddw.opcode, lddw.src), (0x18, 3));
}
