//! No bytecode, valid or not, makes loading or running panic.

use oxbpf_isa::{AluOp, Insn, Operand, Reg, Width};
use oxbpf_vm::{Helpers, Vm};
use proptest::prelude::*;

fn run_bytes(bytes: &[u8], mem: &mut [u8]) {
    if let Ok(mut vm) = Vm::new(bytes, &Helpers::conformance()) {
        vm.set_budget(Some(10_000));
        let _ = vm.run(mem);
    }
}

/// Instruction words biased towards valid opcodes with small registers and offsets.
fn word() -> impl Strategy<Value = [u8; 8]> {
    let opcodes: Vec<u8> = (0..=255u8).collect();
    (
        proptest::sample::select(opcodes),
        0u8..=10,
        0u8..=10,
        -8i16..8,
        prop_oneof![-64i32..64, any::<i32>()],
    )
        .prop_map(|(op, dst, src, off, imm)| {
            let mut w = [0u8; 8];
            w[0] = op;
            w[1] = dst | (src << 4);
            w[2..4].copy_from_slice(&off.to_le_bytes());
            w[4..].copy_from_slice(&imm.to_le_bytes());
            w
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), mut mem in proptest::collection::vec(any::<u8>(), 0..32)) {
        run_bytes(&bytes, &mut mem);
    }

    #[test]
    fn near_valid_programs_never_panic(words in proptest::collection::vec(word(), 1..40), mut mem in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut bytes: Vec<u8> = words.concat();
        bytes.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]);
        run_bytes(&bytes, &mut mem);
    }

    #[test]
    fn arithmetic_matches_the_shared_semantics(op in proptest::sample::select(AluOp::ALL.to_vec()), a in any::<u64>(), b in any::<u64>(), wide in any::<bool>()) {
        let width = if wide { Width::W64 } else { Width::W32 };
        prop_assume!(op.valid(width, true));
        let prog = [
            Insn::Lddw { dst: Reg::R0, src: oxbpf_isa::LddwSrc::Imm64, imm: a },
            Insn::Lddw { dst: Reg::R1, src: oxbpf_isa::LddwSrc::Imm64, imm: b },
            Insn::Alu { width, op, dst: Reg::R0, src: Operand::Reg(Reg::R1) },
            Insn::Exit,
        ];
        let code = oxbpf_isa::encode_program(&prog);
        let got = Vm::new(&code, &Helpers::new()).unwrap().run(&mut []).unwrap();
        let want = if wide {
            oxbpf_isa::semantics::alu64(op, a, b)
        } else {
            oxbpf_isa::semantics::alu32(op, a, b)
        };
        prop_assert_eq!(got, want);
    }
}

/// Words drawn from mov/ALU/jump/load/store opcodes over few registers.
fn alu_word() -> impl Strategy<Value = [u8; 8]> {
    let opcodes: Vec<u8> = vec![
        0xbf, 0xbc, 0xbf, 0xbc, 0x07, 0x0f, 0x04, 0x0c, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x97,
        0x9f, 0x34, 0x3c, 0x94, 0x9c, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f, 0xa7, 0xaf,
        0xc7, 0xcf, 0x64, 0x6c, 0x74, 0x7c, 0xc4, 0xcc, 0xb7, 0xb4, 0x15, 0x1d, 0xa5, 0x25, 0x71,
        0x7b,
    ];
    (
        proptest::sample::select(opcodes),
        0u8..4,
        0u8..4,
        0i16..3,
        prop_oneof![-3i32..70, any::<i32>()],
        any::<bool>(),
    )
        .prop_map(|(op, dst, src, off, imm, sdiv)| {
            let off = match op {
                // sdiv/smod select with offset 1; loads and stores use the stack.
                0x37 | 0x3f | 0x97 | 0x9f | 0x34 | 0x3c | 0x94 | 0x9c => sdiv as i16,
                0x71 | 0x7b => -8 - off,
                0x15 | 0x1d | 0xa5 | 0x25 => off,
                _ => 0,
            };
            let (dst, src, imm) = match op {
                0x71 => (dst, 10, 0),
                0x7b => (10, src, 0),
                o if o & 0x08 != 0 && o != 0x7b => (dst, src, 0),
                _ => (dst, 0, imm),
            };
            let mut w = [0u8; 8];
            w[0] = op;
            w[1] = dst | (src << 4);
            w[2..4].copy_from_slice(&off.to_le_bytes());
            w[4..].copy_from_slice(&imm.to_le_bytes());
            w
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The uncounted fast path and the counted, budgeted path agree on r0 and errors.
    #[test]
    fn counted_and_uncounted_paths_agree(words in proptest::collection::vec(alu_word(), 1..30), seed in any::<u64>()) {
        let mut bytes: Vec<u8> = Vec::new();
        // Give r0..r3 varied starting values.
        for r in 0..4u8 {
            bytes.extend([0x18, r, 0, 0]);
            bytes.extend(((seed.rotate_left(r as u32 * 16)) as u32).to_le_bytes());
            bytes.extend([0, 0, 0, 0]);
            bytes.extend(((seed >> (r * 8)) as u32 ^ 0x8000_0001).to_le_bytes());
        }
        bytes.extend([0x7b, 0x0a, 0xf8, 0xff, 0, 0, 0, 0]);
        bytes.extend(words.concat());
        bytes.extend([0x95, 0, 0, 0, 0, 0, 0, 0]);
        let Ok(mut vm) = Vm::new(&bytes, &Helpers::new()) else { return Ok(()) };
        vm.set_budget(Some(100_000));
        let plain = vm.run(&mut []);
        if matches!(plain, Err(oxbpf_vm::VmError::BudgetExhausted { .. })) {
            return Ok(());
        }
        vm.set_budget(None);
        let fast = vm.run(&mut []);
        prop_assert_eq!(plain, fast);
    }
}
