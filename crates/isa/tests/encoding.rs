//! Encoding, decoding and printing, as tables of (instruction, bytes, llvm text, kernel text).

use oxbpf_isa::*;

fn hex(insn: &Insn) -> String {
    let mut out = Vec::new();
    insn.encode_into(&mut out);
    out.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn r(n: u8) -> Reg {
    Reg::new(n).unwrap()
}

fn alu(width: Width, op: AluOp, dst: u8, src: Operand) -> Insn {
    Insn::Alu {
        width,
        op,
        dst: r(dst),
        src,
    }
}

use Operand::{Imm, Reg as X};
use Width::{W32, W64};

#[test]
fn every_class_encodes_decodes_and_prints() {
    let table: Vec<(Insn, &str, &str, &str)> = vec![
        (
            alu(W64, AluOp::Add, 1, Imm(5)),
            "07 01 00 00 05 00 00 00",
            "r1 += 5",
            "(07) r1 += 5",
        ),
        (
            alu(W32, AluOp::Sub, 2, X(r(3))),
            "1c 32 00 00 00 00 00 00",
            "w2 -= w3",
            "(1c) w2 -= w3",
        ),
        (
            alu(W64, AluOp::Mul, 0, Imm(-3)),
            "27 00 00 00 fd ff ff ff",
            "r0 *= -3",
            "(27) r0 *= -3",
        ),
        (
            alu(W64, AluOp::Div, 4, X(r(5))),
            "3f 54 00 00 00 00 00 00",
            "r4 /= r5",
            "(3f) r4 /= r5",
        ),
        (
            alu(W64, AluOp::Sdiv, 4, X(r(5))),
            "3f 54 01 00 00 00 00 00",
            "r4 s/= r5",
            "(3f) r4 s/= r5",
        ),
        (
            alu(W32, AluOp::Smod, 4, Imm(7)),
            "94 04 01 00 07 00 00 00",
            "w4 s%= 7",
            "(94) w4 s%= 7",
        ),
        (
            alu(W64, AluOp::Mod, 1, Imm(3)),
            "97 01 00 00 03 00 00 00",
            "r1 %= 3",
            "(97) r1 %= 3",
        ),
        (
            alu(W64, AluOp::Or, 1, X(r(2))),
            "4f 21 00 00 00 00 00 00",
            "r1 |= r2",
            "(4f) r1 |= r2",
        ),
        (
            alu(W32, AluOp::And, 1, Imm(255)),
            "54 01 00 00 ff 00 00 00",
            "w1 &= 255",
            "(54) w1 &= 255",
        ),
        (
            alu(W64, AluOp::Lsh, 1, Imm(3)),
            "67 01 00 00 03 00 00 00",
            "r1 <<= 3",
            "(67) r1 <<= 3",
        ),
        (
            alu(W64, AluOp::Rsh, 1, X(r(2))),
            "7f 21 00 00 00 00 00 00",
            "r1 >>= r2",
            "(7f) r1 >>= r2",
        ),
        (
            alu(W64, AluOp::Arsh, 1, Imm(2)),
            "c7 01 00 00 02 00 00 00",
            "r1 s>>= 2",
            "(c7) r1 s>>= 2",
        ),
        (
            alu(W32, AluOp::Xor, 1, X(r(1))),
            "ac 11 00 00 00 00 00 00",
            "w1 ^= w1",
            "(ac) w1 ^= w1",
        ),
        (
            alu(W64, AluOp::Mov, 6, X(r(1))),
            "bf 16 00 00 00 00 00 00",
            "r6 = r1",
            "(bf) r6 = r1",
        ),
        (
            alu(W32, AluOp::Mov, 0, Imm(-1)),
            "b4 00 00 00 ff ff ff ff",
            "w0 = -1",
            "(b4) w0 = -1",
        ),
        (
            alu(W64, AluOp::Movsx8, 1, X(r(2))),
            "bf 21 08 00 00 00 00 00",
            "r1 = (s8)r2",
            "(bf) r1 = (s8)r2",
        ),
        (
            alu(W32, AluOp::Movsx16, 1, X(r(2))),
            "bc 21 10 00 00 00 00 00",
            "w1 = (s16)w2",
            "(bc) w1 = (s16)w2",
        ),
        (
            alu(W64, AluOp::Movsx32, 1, X(r(2))),
            "bf 21 20 00 00 00 00 00",
            "r1 = (s32)r2",
            "(bf) r1 = (s32)r2",
        ),
        (
            Insn::Neg {
                width: W64,
                dst: r(3),
            },
            "87 03 00 00 00 00 00 00",
            "r3 = -r3",
            "(87) r3 = -r3",
        ),
        (
            Insn::End {
                order: ByteOrder::Le,
                bits: 16,
                dst: r(1),
            },
            "d4 01 00 00 10 00 00 00",
            "r1 = le16 r1",
            "(d4) r1 = le16 r1",
        ),
        (
            Insn::End {
                order: ByteOrder::Be,
                bits: 32,
                dst: r(1),
            },
            "dc 01 00 00 20 00 00 00",
            "r1 = be32 r1",
            "(dc) r1 = be32 r1",
        ),
        (
            Insn::End {
                order: ByteOrder::Swap,
                bits: 64,
                dst: r(1),
            },
            "d7 01 00 00 40 00 00 00",
            "r1 = bswap64 r1",
            "(d7) r1 = bswap64 r1",
        ),
        (
            Insn::Ja { off: 3 },
            "05 00 03 00 00 00 00 00",
            "goto +3",
            "(05) goto pc+3",
        ),
        (
            Insn::Ja32 { imm: -70000 },
            "06 00 00 00 90 ee fe ff",
            "gotol -70000",
            "(06) gotol pc-70000",
        ),
        (
            Insn::Jmp {
                width: W64,
                cond: JmpCond::Ge,
                dst: r(0),
                src: Imm(4),
                off: 3,
            },
            "35 00 03 00 04 00 00 00",
            "if r0 >= 4 goto +3",
            "(35) if r0 >= 0x4 goto pc+3",
        ),
        (
            Insn::Jmp {
                width: W32,
                cond: JmpCond::Slt,
                dst: r(1),
                src: X(r(2)),
                off: -2,
            },
            "ce 21 fe ff 00 00 00 00",
            "if w1 s< w2 goto -2",
            "(ce) if w1 s< w2 goto pc-2",
        ),
        (
            Insn::Jmp {
                width: W64,
                cond: JmpCond::Set,
                dst: r(1),
                src: Imm(1),
                off: 1,
            },
            "45 01 01 00 01 00 00 00",
            "if r1 & 1 goto +1",
            "(45) if r1 & 0x1 goto pc+1",
        ),
        (
            Insn::Call {
                kind: CallKind::Helper,
                imm: 1,
            },
            "85 00 00 00 01 00 00 00",
            "call 1",
            "(85) call bpf_map_lookup_elem#1",
        ),
        (
            Insn::Call {
                kind: CallKind::Local,
                imm: 4,
            },
            "85 10 00 00 04 00 00 00",
            "call local +4",
            "(85) call pc+4",
        ),
        (
            Insn::Call {
                kind: CallKind::Kfunc,
                imm: 1234,
            },
            "85 20 00 00 d2 04 00 00",
            "call kfunc 1234",
            "(85) call kernel-function#1234",
        ),
        (
            Insn::Callx { reg: r(2) },
            "8d 02 00 00 00 00 00 00",
            "callx r2",
            "(8d) callx r2",
        ),
        (Insn::Exit, "95 00 00 00 00 00 00 00", "exit", "(95) exit"),
        (
            Insn::Ldx {
                size: Size::W,
                signed: false,
                dst: r(0),
                src: r(1),
                off: 4,
            },
            "61 10 04 00 00 00 00 00",
            "r0 = *(u32 *)(r1 + 4)",
            "(61) r0 = *(u32 *)(r1 +4)",
        ),
        (
            Insn::Ldx {
                size: Size::B,
                signed: true,
                dst: r(0),
                src: r(10),
                off: -8,
            },
            "91 a0 f8 ff 00 00 00 00",
            "r0 = *(s8 *)(r10 - 8)",
            "(91) r0 = *(s8 *)(r10 -8)",
        ),
        (
            Insn::St {
                size: Size::DW,
                dst: r(10),
                off: -8,
                imm: 0,
            },
            "7a 0a f8 ff 00 00 00 00",
            "*(u64 *)(r10 - 8) = 0",
            "(7a) *(u64 *)(r10 -8) = 0",
        ),
        (
            Insn::Stx {
                size: Size::H,
                dst: r(10),
                off: -2,
                src: r(1),
            },
            "6b 1a fe ff 00 00 00 00",
            "*(u16 *)(r10 - 2) = r1",
            "(6b) *(u16 *)(r10 -2) = r1",
        ),
        (
            Insn::Atomic {
                size: Size::DW,
                op: AtomicOp::Add { fetch: false },
                dst: r(1),
                src: r(2),
                off: 0,
            },
            "db 21 00 00 00 00 00 00",
            "lock *(u64 *)(r1 + 0) += r2",
            "(db) lock *(u64 *)(r1 +0) += r2",
        ),
        (
            Insn::Atomic {
                size: Size::W,
                op: AtomicOp::Or { fetch: true },
                dst: r(1),
                src: r(2),
                off: 8,
            },
            "c3 21 08 00 41 00 00 00",
            "w2 = atomic_fetch_or((u32 *)(r1 + 8), w2)",
            "(c3) r2 = atomic_fetch_or((u32 *)(r1 +8), r2)",
        ),
        (
            Insn::Atomic {
                size: Size::DW,
                op: AtomicOp::Xchg,
                dst: r(1),
                src: r(2),
                off: 0,
            },
            "db 21 00 00 e1 00 00 00",
            "r2 = xchg_64(r1 + 0, r2)",
            "(db) r2 = atomic64_xchg((u64 *)(r1 +0), r2)",
        ),
        (
            Insn::Atomic {
                size: Size::W,
                op: AtomicOp::Cmpxchg,
                dst: r(1),
                src: r(2),
                off: -4,
            },
            "c3 21 fc ff f1 00 00 00",
            "w0 = cmpxchg32_32(r1 - 4, w0, w2)",
            "(c3) r0 = atomic_cmpxchg((u32 *)(r1 -4), r0, r2)",
        ),
        (
            Insn::Lddw {
                dst: r(1),
                src: LddwSrc::Imm64,
                imm: 0x1122334455667788,
            },
            "18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11",
            "r1 = 0x1122334455667788 ll",
            "(18) r1 = 0x1122334455667788",
        ),
        (
            Insn::Lddw {
                dst: r(1),
                src: LddwSrc::MapFd,
                imm: 3,
            },
            "18 11 00 00 03 00 00 00 00 00 00 00 00 00 00 00",
            "r1 = map_fd(3) ll",
            "(18) r1 = map[fd:3]",
        ),
        (
            Insn::Lddw {
                dst: r(2),
                src: LddwSrc::MapValue,
                imm: 3 | (16 << 32),
            },
            "18 22 00 00 03 00 00 00 00 00 00 00 10 00 00 00",
            "r2 = map_value(3, 16) ll",
            "(18) r2 = map_value[fd:3]+16",
        ),
        (
            Insn::Lddw {
                dst: r(1),
                src: LddwSrc::VarAddr,
                imm: 77,
            },
            "18 31 00 00 4d 00 00 00 00 00 00 00 00 00 00 00",
            "r1 = btf_var(77) ll",
            "(18) r1 = btf_var[id:77]",
        ),
        (
            Insn::Lddw {
                dst: r(1),
                src: LddwSrc::CodeAddr,
                imm: 5,
            },
            "18 41 00 00 05 00 00 00 00 00 00 00 00 00 00 00",
            "r1 = code_addr(+5) ll",
            "(18) r1 = func[pc+5]",
        ),
        (
            Insn::Lddw {
                dst: r(1),
                src: LddwSrc::MapIdx,
                imm: 0,
            },
            "18 51 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "r1 = map_idx(0) ll",
            "(18) r1 = map[idx:0]",
        ),
        (
            Insn::Lddw {
                dst: r(1),
                src: LddwSrc::MapIdxValue,
                imm: 1 | (8 << 32),
            },
            "18 61 00 00 01 00 00 00 00 00 00 00 08 00 00 00",
            "r1 = map_idx_value(1, 8) ll",
            "(18) r1 = map_value[idx:1]+8",
        ),
        (
            Insn::LdAbs {
                size: Size::H,
                imm: 12,
            },
            "28 00 00 00 0c 00 00 00",
            "r0 = *(u16 *)skb[12]",
            "(28) r0 = *(u16 *)skb[12]",
        ),
        (
            Insn::LdInd {
                size: Size::B,
                src: r(7),
                imm: 14,
            },
            "50 70 00 00 0e 00 00 00",
            "r0 = *(u8 *)skb[r7 + 14]",
            "(50) r0 = *(u8 *)skb[r7 + 14]",
        ),
    ];
    for (insn, bytes, llvm, kernel) in table {
        assert_eq!(hex(&insn), bytes, "encoding of {insn:?}");
        assert_eq!(insn.to_string(), llvm, "llvm text of {insn:?}");
        assert_eq!(
            insn.display(Syntax::Kernel).to_string(),
            kernel,
            "kernel text of {insn:?}"
        );
        let mut code = Vec::new();
        insn.encode_into(&mut code);
        let decoded = decode_program(&code).unwrap();
        assert_eq!(decoded, vec![(0, insn)], "decoding {bytes}");
        assert_eq!(assemble(llvm).unwrap(), vec![insn], "assembling `{llvm}`");
    }
}

fn decode_err(bytes: &[u8]) -> String {
    decode_program(bytes).unwrap_err().to_string()
}

#[test]
fn decoding_rejects_malformed_instructions_by_index() {
    let exit = [0x95, 0, 0, 0, 0, 0, 0, 0];
    let with = |second: [u8; 8]| [exit, second].concat();
    for (bytes, want) in [
        (
            with([0xff, 0, 0, 0, 0, 0, 0, 0]),
            "instruction 1: unknown opcode 0xff",
        ),
        (
            with([0xb7, 0x0b, 0, 0, 0, 0, 0, 0]),
            "instruction 1: invalid dst register r11",
        ),
        (
            with([0xbf, 0xc1, 0, 0, 0, 0, 0, 0]),
            "instruction 1: invalid src register r12",
        ),
        (
            with([0x18, 0x01, 0, 0, 1, 0, 0, 0]),
            "instruction 1: lddw is truncated",
        ),
        (
            with([0x07, 0x21, 0, 0, 1, 0, 0, 0]),
            "instruction 1: opcode 0x07 requires src to be 0, found 2",
        ),
        (
            with([0x0f, 0x21, 0, 0, 1, 0, 0, 0]),
            "instruction 1: opcode 0x0f requires imm to be 0, found 1",
        ),
        (
            with([0x95, 0, 0, 0, 1, 0, 0, 0]),
            "instruction 1: opcode 0x95 requires imm to be 0, found 1",
        ),
        (
            with([0x37, 0x01, 2, 0, 1, 0, 0, 0]),
            "instruction 1: opcode 0x37 requires off to be 0 or 1, found 2",
        ),
        (
            with([0xbc, 0x21, 32, 0, 0, 0, 0, 0]),
            "requires off to be 0, 8 or 16, found 32",
        ),
        (
            with([0xd4, 0x01, 0, 0, 8, 0, 0, 0]),
            "requires imm to be 16, 32 or 64, found 8",
        ),
        (
            with([0xdb, 0x21, 0, 0, 0x10, 0, 0, 0]),
            "requires imm to be an atomic operation, found 16",
        ),
        (
            with([0x85, 0x30, 0, 0, 1, 0, 0, 0]),
            "requires src to be 0, 1 or 2, found 3",
        ),
        (
            with([0x99, 0, 0, 0, 0, 0, 0, 0]),
            "instruction 1: unknown opcode 0x99",
        ),
        (
            with([0x06, 0, 1, 0, 0, 0, 0, 0]),
            "opcode 0x06 requires off to be 0, found 1",
        ),
        (
            [
                exit.as_slice(),
                &[0x18, 0, 0, 0, 0, 0, 0, 0],
                &[0, 0, 1, 0, 0, 0, 0, 0],
            ]
            .concat(),
            "instruction 2: opcode 0x00 requires off of lddw second half to be 0, found 1",
        ),
        (vec![0x95, 0, 0], "bytecode length 3 is not a multiple of 8"),
    ] {
        let err = decode_err(&bytes);
        assert!(err.contains(want), "got `{err}`, want `{want}`");
    }
}

#[test]
fn assembler_reports_line_and_column() {
    for (text, want) in [
        ("r0 = 1\nr1 += r12\n", "line 2, column 7: no register `r12`"),
        (
            "exit\ngoto nowhere\n",
            "line 2, column 6: undefined label `nowhere`",
        ),
        (
            "r1 = 0x100000000\n",
            "line 1, column 6: immediate 4294967296 does not fit",
        ),
        (
            "w1 += r2\n",
            "line 1, column 7: mixes 32-bit (w) and 64-bit (r) registers",
        ),
        ("frob %r1, 2\n", "line 1, column 1: unknown mnemonic `frob`"),
        (
            "a:\na:\nexit\n",
            "line 2, column 1: label `a` is already defined on line 1",
        ),
        (
            "r0 = *(u24 *)(r1 + 0)\n",
            "line 1, column 8: unknown type `u24`",
        ),
        ("r0 = 1 $\n", "line 1, column 8: unexpected character `$`"),
    ] {
        let err = assemble(text).unwrap_err().to_string();
        assert!(err.contains(want), "got `{err}`, want `{want}`");
    }
}

#[test]
fn assembler_accepts_both_dialects_labels_and_objdump_listings() {
    let conformance = "mov %r0, 0\nloop:\nadd32 %r0, 3\njlt %r0, 9, loop\nexit\n";
    let llvm = "  w0 = 0\nLBB0_1:\n  w0 += 3 // comment\n  if r0 < 9 goto LBB0_1\n  exit\n";
    let objdump = "0000000000000000 <prog>:\n       0:\tb4 00 00 00 00 00 00 00\tw0 = 0\n       1:\t04 00 00 00 03 00 00 00\tw0 += 3\n       2:\ta5 00 fe ff 09 00 00 00\tif r0 < 0x9 goto -0x2 <prog+0x8>\n       3:\t95 00 00 00 00 00 00 00\texit\n";
    let a = assemble_bytes(conformance).unwrap();
    // The conformance `mov` is 64-bit; the llvm text uses w0, so compare the rest.
    assert_eq!(&assemble_bytes(llvm).unwrap()[8..], &a[8..]);
    assert_eq!(
        assemble_bytes(objdump).unwrap(),
        assemble_bytes(llvm).unwrap()
    );
    // Helper calls by name.
    assert_eq!(
        assemble("call bpf_ktime_get_ns").unwrap(),
        vec![Insn::Call {
            kind: CallKind::Helper,
            imm: 5
        }]
    );
}
