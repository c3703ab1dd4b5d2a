//! bpf_tail_call through program arrays, with the kernel's chain limit.

use std::path::PathBuf;

use oxbpf::Runtime;

fn runtime() -> Runtime {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/tailcall.o");
    Runtime::from_elf(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn tail_calls_replace_the_program_and_fail_softly() {
    let rt = runtime();
    // Slot 0 comes from the object's static initializer.
    assert_eq!(rt.run("entry", &mut []).unwrap(), 2);
    // Slot 1 is empty: the call fails and the program goes on.
    assert_eq!(rt.run("try_slot_one", &mut []).unwrap(), 1);
    rt.set_tail_call("jumps", 1, Some("stage_two")).unwrap();
    assert_eq!(rt.run("try_slot_one", &mut []).unwrap(), 2);
    rt.set_tail_call("jumps", 1, None).unwrap();
    assert_eq!(rt.run("try_slot_one", &mut []).unwrap(), 1);
    assert!(rt.set_tail_call("jumps", 9, None).is_err());
    assert!(rt.set_tail_call("jumps", 1, Some("missing")).is_err());
}

#[test]
fn a_chain_stops_after_33_tail_calls() {
    let rt = runtime();
    // `again` runs once, then 33 more times through tail calls; the 34th call fails.
    assert_eq!(rt.run("again", &mut []).unwrap(), 100 + 34);
    let bss = rt.map(".bss").unwrap().lookup(&0u32.to_le_bytes()).unwrap();
    assert_eq!(u32::from_le_bytes(bss[..4].try_into().unwrap()), 34);
}

fn typed_slots() -> Runtime {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/typed_slots.o");
    Runtime::from_elf(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn a_program_array_holds_one_program_type() {
    let rt = typed_slots();
    let mut inst = rt.instance("xdp_caller_with_a_long_name").unwrap();
    // XDP_PASS from the target in slot 0.
    assert_eq!(inst.test_run(&[0u8; 64], None).unwrap().retval, 2);
    // The static initializer made it an XDP array: a socket filter may not
    // join it, nor call through it.
    let e = rt
        .set_tail_call("xdp_jumps", 1, Some("socket_other"))
        .unwrap_err();
    assert!(e.to_string().contains("holds xdp programs"), "{e}");
    let e = rt.instance("socket_caller").err().expect("refused");
    assert!(
        e.to_string().contains("`socket_caller` is a socket_filter"),
        "{e}"
    );
    rt.set_tail_call("xdp_jumps", 1, Some("xdp_target"))
        .unwrap();
}

#[test]
fn a_static_initializer_of_two_program_types_is_refused() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/mixed_prog_array.o");
    let e = Runtime::from_elf(&std::fs::read(p).unwrap())
        .err()
        .expect("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("`jumps` holds xdp programs") && msg.contains("`syscall_target` is a syscall"),
        "{msg}"
    );
}

#[test]
fn a_map_of_maps_takes_only_maps_shaped_like_its_template() {
    let rt = typed_slots();
    let e = rt
        .set_inner_map("outer", 1, Some("inner_small"))
        .unwrap_err();
    assert!(e.to_string().contains("value 4 bytes"), "{e}");
    // Nothing in slot 1 yet: the lookup fails and the program returns 0.
    let mut inst = rt.instance("bump_inner").unwrap();
    assert_eq!(inst.test_run(&[0u8; 64], None).unwrap().retval, 0);
    rt.set_inner_map("outer", 1, Some("inner_ok")).unwrap();
    assert_eq!(inst.test_run(&[0u8; 64], None).unwrap().retval, 8);
    assert_eq!(inst.test_run(&[0u8; 64], None).unwrap().retval, 16);
}

#[test]
fn read_only_global_data_is_frozen_for_the_host() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/globals.o");
    let rt = Runtime::from_elf(&std::fs::read(p).unwrap()).unwrap();
    let (name, rodata) = rt
        .maps()
        .find(|(n, _)| n.starts_with(".rodata"))
        .expect("globals.o has .rodata");
    let before = rodata.lookup(&0u32.to_le_bytes()).unwrap();
    let e = rodata
        .update(&0u32.to_le_bytes(), &vec![0xff; before.len()], 0)
        .unwrap_err();
    assert_eq!(e.errno(), 1, "{name}: {e}");
    assert_eq!(rodata.lookup(&0u32.to_le_bytes()).unwrap(), before);
}

#[test]
fn iproute2_map_in_map_runs_through_its_static_slot() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/legacy_loader.o");
    let rt = Runtime::from_elf(&std::fs::read(p).unwrap()).unwrap();
    rt.map("inner")
        .unwrap()
        .update(&0u32.to_le_bytes(), &42u64.to_le_bytes(), 0)
        .unwrap();
    let mut inst = rt.instance("cls").unwrap();
    assert_eq!(inst.test_run(&[0u8; 64], None).unwrap().retval, 42);
    let e = rt.instance("sock_prog").err().expect("not loadable");
    assert!(e.to_string().contains("socket1"), "{e}");
}
