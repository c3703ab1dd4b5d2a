//! Programs that call the kernel helpers with arbitrary arguments get errors or
//! results, never a panic, and never touch memory outside their regions.

use std::path::PathBuf;

use oxbpf::Runtime;
use oxbpf_isa::{encode_program, CallKind, Insn, LddwSrc, Reg};
use proptest::prelude::*;

const HELPERS: [i32; 30] = [
    1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 25, 26, 44, 45, 65, 87, 88, 89, 112, 113, 114, 115,
    125, 130, 131, 132, 133, 134,
];

fn runtime() -> Runtime {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/maps.o");
    Runtime::from_elf(&std::fs::read(p).unwrap()).unwrap()
}

/// r1..r5 from small numbers, map handles (via `lddw map_idx`) and stack addresses.
fn arg() -> impl Strategy<Value = (u8, u64)> {
    prop_oneof![
        (Just(0u8), any::<u64>()),
        (Just(0u8), 0u64..64),
        (Just(1u8), 0u64..16),  // map index
        (Just(2u8), 1u64..520), // offset below r10
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn helper_calls_with_arbitrary_arguments_never_panic(
        calls in proptest::collection::vec((proptest::sample::select(HELPERS.to_vec()), proptest::collection::vec(arg(), 5)), 1..6),
    ) {
        let rt = runtime();
        let mut prog = vec![];
        for (id, args) in &calls {
            for (r, (kind, v)) in args.iter().enumerate() {
                let dst = Reg::new(r as u8 + 1).unwrap();
                match kind {
                    0 => prog.push(Insn::Lddw { dst, src: LddwSrc::Imm64, imm: *v }),
                    1 => prog.push(Insn::Lddw { dst, src: LddwSrc::MapIdx, imm: *v }),
                    _ => {
                        prog.push(Insn::Alu { width: oxbpf_isa::Width::W64, op: oxbpf_isa::AluOp::Mov, dst, src: oxbpf_isa::Operand::Reg(Reg::R10) });
                        prog.push(Insn::Alu { width: oxbpf_isa::Width::W64, op: oxbpf_isa::AluOp::Sub, dst, src: oxbpf_isa::Operand::Imm(*v as i32) });
                    }
                }
            }
            prog.push(Insn::Call { kind: CallKind::Helper, imm: *id });
        }
        prog.push(Insn::Exit);
        // Load the program through the runtime's helpers by replacing a program's code.
        let mut obj = rt.object().clone();
        let p = obj.programs.iter_mut().find(|p| p.name == "use_maps").unwrap();
        p.insns = oxbpf_isa::raw_slots(&encode_program(&prog)).unwrap();
        let rt = Runtime::with_options(obj, oxbpf::Options { budget: Some(100_000), ..Default::default() }).unwrap();
        if let Ok(mut inst) = rt.instance("use_maps") {
            let _ = inst.test_run(&[0u8; 64], None);
        }
    }
}
