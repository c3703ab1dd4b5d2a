//! The `jit_diff` fuzz target's check (`fuzz/fuzz_targets/jit_diff_check.rs`)
//! on random inputs: bytecode made of instructions with valid opcodes and
//! arbitrary fields (zeroed where the decoder insists), after a byte that sizes
//! the input memory. Unlike `cargo fuzz`, this needs no nightly toolchain or
//! libFuzzer, so it also runs where the JIT's code runs under qemu-user (the
//! arm64 back end on an x86-64 host). Cases are fewer than a fuzzing session:
//! this is a smoke test of the target, not a replacement for running it.

#[path = "../../../fuzz/fuzz_targets/jit_diff_check.rs"]
mod jit_diff_check;

use proptest::prelude::*;

/// Opcodes that decode as the first byte of a one-slot instruction.
fn opcodes() -> Vec<u8> {
    (0..=255u8)
        .filter(|&op| oxbpf_isa::decode_program(&[op, 0, 0, 0, 0, 0, 0, 0]).is_ok())
        .collect()
}

/// `b` with, if it does not decode, the fewest fields (src, dst, off, imm)
/// zeroed that make it decode: the decoder insists that unused fields be 0.
fn decodable(b: [u8; 8]) -> [u8; 8] {
    for mask in 0..16u8 {
        let mut c = b;
        if mask & 1 != 0 {
            c[1] &= 0x0f;
        }
        if mask & 2 != 0 {
            c[1] &= 0xf0;
        }
        if mask & 4 != 0 {
            c[2..4].fill(0);
        }
        if mask & 8 != 0 {
            c[4..8].fill(0);
        }
        if oxbpf_isa::decode_program(&c).is_ok() {
            return c;
        }
    }
    b
}

fn insn(ops: Vec<u8>) -> impl Strategy<Value = [u8; 8]> {
    (
        prop_oneof![9 => prop::sample::select(ops), 1 => any::<u8>()],
        prop_oneof![9 => (0u8..11, 0u8..11).prop_map(|(d, s)| d | s << 4), 1 => any::<u8>()],
        prop_oneof![3 => -4i16..4, 1 => -64i16..64, 1 => any::<i16>()],
        prop_oneof![
            2 => -2i32..64,
            1 => Just(i32::MIN),
            1 => Just(-1),
            1 => any::<i32>()
        ],
    )
        .prop_map(|(op, regs, off, imm)| {
            let mut b = [0u8; 8];
            b[0] = op;
            b[1] = regs;
            b[2..4].copy_from_slice(&off.to_le_bytes());
            b[4..8].copy_from_slice(&imm.to_le_bytes());
            decodable(b)
        })
}

#[test]
fn fuzz_target_check_holds_on_random_bytecode() {
    const CASES: u32 = 4000;
    let strategy = (
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 64),
        prop::collection::vec(insn(opcodes()), 1..24),
    );
    let compared = std::cell::Cell::new(0u32);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    });
    let result = runner.run(&strategy, |(mem_len, mem, insns)| {
        let mut data = vec![mem_len];
        data.extend_from_slice(&mem[..mem_len as usize % 64]);
        for i in &insns {
            data.extend_from_slice(i);
        }
        // `exit`, so that more programs end properly.
        data.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]);
        if jit_diff_check::check(&data) {
            compared.set(compared.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    println!("{} of {CASES} inputs compared", compared.get());
    assert!(
        compared.get() >= CASES / 20,
        "only {} of {CASES} inputs got as far as a comparison",
        compared.get()
    );
}
