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
