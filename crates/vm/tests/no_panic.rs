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
