//! A CO-RE program relocated against a target BTF reads the target's layout.

use std::path::PathBuf;

use oxbpf::object::{Btf, Object};
use oxbpf::{Options, Runtime};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/elf")
            .join(name),
    )
    .unwrap()
}

/// `struct ox_task` as core_target.c lays it out (48 bytes): tgid at 24,
/// comm at 8, and the bitfield `big` in bits 356..362.
fn target_task(tgid: i32, comm: &[u8], big: u32) -> Vec<u8> {
    let mut t = vec![0u8; 48];
    t[24..28].copy_from_slice(&tgid.to_le_bytes());
    t[8..8 + comm.len()].copy_from_slice(comm);
    let word = u32::from_le_bytes(t[44..48].try_into().unwrap()) | (big << 4);
    t[44..48].copy_from_slice(&word.to_le_bytes());
    t
}

#[test]
fn core_reads_follow_the_target_layout() {
    let mut obj = Object::parse(&fixture("core.o")).unwrap();
    obj.apply_core(&Btf::parse(&fixture("core_target.btf")).unwrap())
        .unwrap();
    let rt = Runtime::with_options(obj, Options::default()).unwrap();
    // core_fields returns mm->end_code + tgid + comm[1] + big; mm is NULL here, so
    // its probe read fails and yields 0, as in the kernel.
    let task = target_task(1000, b"ab", 5);
    let r = rt
        .instance("core_fields")
        .unwrap()
        .test_run(&[], Some(&task))
        .unwrap();
    assert_eq!(r.retval, 1000 + b'b' as u64 + 5);

    // Without relocation the program reads the compile-time layout instead.
    let plain = Runtime::from_elf(&fixture("core.o")).unwrap();
    let r = plain
        .instance("core_fields")
        .unwrap()
        .test_run(&[], Some(&task))
        .unwrap();
    assert_ne!(r.retval, 1000 + b'b' as u64 + 5);
}

#[test]
fn core_checks_see_the_target_types() {
    let mut obj = Object::parse(&fixture("core.o")).unwrap();
    obj.apply_core(&Btf::parse(&fixture("core_target.btf")).unwrap())
        .unwrap();
    let rt = Runtime::with_options(obj, Options::default()).unwrap();
    let r = rt
        .instance("core_checks")
        .unwrap()
        .test_run(&[], Some(&[0; 48]))
        .unwrap();
    // flags gone (0), prio kept (1 << 1), prio 4 bytes (4 << 2), pid at 28 (28 << 8),
    // ox_extra absent (0), ox_task 48 bytes (48 << 16), OX_ZOMBIE absent (0),
    // OX_SLEEPING = 4 (4 << 25).
    let want = (1 << 1) + (4 << 2) + (28 << 8) + (48 << 16) + (4u64 << 25);
    assert_eq!(r.retval as u32 as u64, want);
}
