//! Property tests: decode(encode(i)) = i and assemble(disassemble(p)) = p.

use oxbpf_isa::*;
use proptest::prelude::*;

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..=10).prop_map(|n| Reg::new(n).unwrap())
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn size() -> impl Strategy<Value = Size> {
    proptest::sample::select(Size::ALL.to_vec())
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        reg().prop_map(Operand::Reg),
        any::<i32>().prop_map(Operand::Imm)
    ]
}

/// Any instruction RFC 9669 defines.
fn insn() -> impl Strategy<Value = Insn> {
    let alu = (
        width(),
        proptest::sample::select(AluOp::ALL.to_vec()),
        reg(),
        operand(),
    )
        .prop_filter_map("undefined alu form", |(width, op, dst, src)| {
            op.valid(width, matches!(src, Operand::Reg(_)))
                .then_some(Insn::Alu {
                    width,
                    op,
                    dst,
                    src,
                })
        });
    let jmp = (
        width(),
        proptest::sample::select(JmpCond::ALL.to_vec()),
        reg(),
        operand(),
        any::<i16>(),
    )
        .prop_map(|(width, cond, dst, src, off)| Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        });
    let end = (
        proptest::sample::select(vec![ByteOrder::Le, ByteOrder::Be, ByteOrder::Swap]),
        proptest::sample::select(vec![16u8, 32, 64]),
        reg(),
    )
        .prop_map(|(order, bits, dst)| Insn::End { order, bits, dst });
    let call = (
        proptest::sample::select(vec![CallKind::Helper, CallKind::Local, CallKind::Kfunc]),
        any::<i32>(),
    )
        .prop_map(|(kind, imm)| Insn::Call { kind, imm });
    let ldx =
        (size(), any::<bool>(), reg(), reg(), any::<i16>()).prop_map(|(size, s, dst, src, off)| {
            Insn::Ldx {
                size,
                signed: s && size != Size::DW,
                dst,
                src,
                off,
            }
        });
    let st =
        (size(), reg(), any::<i16>(), any::<i32>()).prop_map(|(size, dst, off, imm)| Insn::St {
            size,
            dst,
            off,
            imm,
        });
    let stx = (size(), reg(), any::<i16>(), reg()).prop_map(|(size, dst, off, src)| Insn::Stx {
        size,
        dst,
        off,
        src,
    });
    let atomic = (
        proptest::sample::select(vec![Size::W, Size::DW]),
        proptest::sample::select(AtomicOp::ALL.to_vec()),
        reg(),
        reg(),
        any::<i16>(),
    )
        .prop_map(|(size, op, dst, src, off)| Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        });
    let lddw = (
        reg(),
        proptest::sample::select(LddwSrc::ALL.to_vec()),
        any::<u64>(),
    )
        .prop_map(|(dst, src, imm)| Insn::Lddw { dst, src, imm });
    let small = proptest::sample::select(vec![Size::B, Size::H, Size::W]);
    let ld = prop_oneof![
        (small.clone(), any::<i32>()).prop_map(|(size, imm)| Insn::LdAbs { size, imm }),
        (small, reg(), any::<i32>()).prop_map(|(size, src, imm)| Insn::LdInd { size, src, imm }),
    ];
    let misc = prop_oneof![
        (width(), reg()).prop_map(|(width, dst)| Insn::Neg { width, dst }),
        any::<i16>().prop_map(|off| Insn::Ja { off }),
        any::<i32>().prop_map(|imm| Insn::Ja32 { imm }),
        reg().prop_map(|reg| Insn::Callx { reg }),
        Just(Insn::Exit),
    ];
    prop_oneof![alu, jmp, end, call, ldx, st, stx, atomic, lddw, ld, misc]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn decode_inverts_encode(i in insn()) {
        let code = encode_program(&[i]);
        prop_assert_eq!(decode_program(&code).unwrap(), vec![(0, i)]);
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn assemble_inverts_disassemble(p in proptest::collection::vec(insn(), 1..40)) {
        let code = encode_program(&p);
        let text: String = p.iter().map(|i| format!("{i}\n")).collect();
        prop_assert_eq!(assemble_bytes(&text).unwrap(), code.clone());
        // The objdump-style listing with indices and bytes assembles back too.
        let listing = disassemble(&code, Syntax::Llvm).unwrap();
        prop_assert_eq!(assemble_bytes(&listing).unwrap(), code);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(prog) = decode_program(&bytes) {
            let insns: Vec<Insn> = prog.into_iter().map(|(_, i)| i).collect();
            prop_assert_eq!(encode_program(&insns), bytes.clone());
        }
        let _ = disassemble(&bytes, Syntax::Kernel);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n\t]{0,200}") {
        let _ = assemble(&text);
    }
}
