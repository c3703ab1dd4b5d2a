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
