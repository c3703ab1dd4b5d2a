//! The interpreter's semantics, one table row per behaviour.

use oxbpf_cbpf::insn::op::*;
use oxbpf_cbpf::interp::{run, try_run};
use oxbpf_cbpf::{CbpfError, Insn};

fn s(code: u16, k: u32) -> Insn {
    Insn::stmt(code, k)
}

fn j(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn::jump(code, k, jt, jf)
}

const RET_A: Insn = Insn::stmt(RET | A, 0);

/// A 16-byte packet: 0x00 0x11 0x22 ... 0xff.
fn packet() -> Vec<u8> {
    (0..16u8).map(|i| i * 0x11).collect()
}

#[test]
fn loads_and_arithmetic() {
    let pkt = packet();
    let cases: Vec<(&str, Vec<Insn>, u32)> = vec![
        ("ret k", vec![s(RET | K, 99)], 99),
        ("ld w abs", vec![s(LD | W | ABS, 1), RET_A], 0x11223344),
        ("ld h abs", vec![s(LD | H | ABS, 14), RET_A], 0xeeff),
        ("ld b abs", vec![s(LD | B | ABS, 15), RET_A], 0xff),
        (
            "ld w abs last word",
            vec![s(LD | W | ABS, 12), RET_A],
            0xccddeeff,
        ),
        (
            "ld w abs past end",
            vec![s(LD | W | ABS, 13), s(RET | K, 1)],
            0,
        ),
        (
            "ld b abs at len",
            vec![s(LD | B | ABS, 16), s(RET | K, 1)],
            0,
        ),
        (
            "ld b abs huge",
            vec![s(LD | B | ABS, u32::MAX), s(RET | K, 1)],
            0,
        ),
        (
            "ld ind",
            vec![s(LDX | IMM, 2), s(LD | H | IND, 3), RET_A],
            0x5566,
        ),
        (
            "ld ind b",
            vec![s(LDX | IMM, 15), s(LD | B | IND, 0), RET_A],
            0xff,
        ),
        (
            "ld ind w",
            vec![s(LDX | IMM, 4), s(LD | W | IND, 8), RET_A],
            0xccddeeff,
        ),
        (
            "ld ind past end",
            vec![s(LDX | IMM, 10), s(LD | W | IND, 4), s(RET | K, 1)],
            0,
        ),
        (
            "ld ind overflow",
            vec![s(LDX | IMM, 2), s(LD | B | IND, u32::MAX), s(RET | K, 1)],
            0,
        ),
        ("ld len is wirelen", vec![s(LD | W | LEN, 0), RET_A], 1500),
        (
            "ldx len",
            vec![s(LDX | W | LEN, 0), s(MISC | TXA, 0), RET_A],
            1500,
        ),
        ("ld imm", vec![s(LD | IMM, 0xdeadbeef), RET_A], 0xdeadbeef),
        (
            "ldx msh",
            vec![s(LDX | B | MSH, 4), s(MISC | TXA, 0), RET_A],
            4 * (0x44 & 0xf),
        ),
        (
            "ldx msh past end",
            vec![s(LDX | B | MSH, 16), s(RET | K, 1)],
            0,
        ),
        (
            "st/ld mem",
            vec![
                s(LD | IMM, 7),
                s(ST, 3),
                s(LD | IMM, 0),
                s(LD | MEM, 3),
                RET_A,
            ],
            7,
        ),
        (
            "stx/ldx mem",
            vec![
                s(LDX | IMM, 9),
                s(STX, 15),
                s(LDX | IMM, 0),
                s(LDX | MEM, 15),
                s(MISC | TXA, 0),
                RET_A,
            ],
            9,
        ),
        (
            "mem starts zero",
            vec![s(LD | IMM, 5), s(LD | MEM, 0), RET_A],
            0,
        ),
        (
            "tax",
            vec![
                s(LD | IMM, 4),
                s(MISC | TAX, 0),
                s(LD | IMM, 0),
                s(MISC | TXA, 0),
                RET_A,
            ],
            4,
        ),
        (
            "add k",
            vec![s(LD | IMM, u32::MAX), s(ALU | ADD | K, 2), RET_A],
            1,
        ),
        (
            "sub k",
            vec![s(LD | IMM, 1), s(ALU | SUB | K, 2), RET_A],
            u32::MAX,
        ),
        (
            "mul k",
            vec![s(LD | IMM, 0x10000), s(ALU | MUL | K, 0x10001), RET_A],
            0x10000,
        ),
        (
            "div k",
            vec![s(LD | IMM, 100), s(ALU | DIV | K, 7), RET_A],
            14,
        ),
        (
            "mod k",
            vec![s(LD | IMM, 100), s(ALU | MOD | K, 7), RET_A],
            2,
        ),
        (
            "and k",
            vec![s(LD | IMM, 0xff0f), s(ALU | AND | K, 0x0ff0), RET_A],
            0x0f00,
        ),
        (
            "or k",
            vec![s(LD | IMM, 0xf0), s(ALU | OR | K, 0x0f), RET_A],
            0xff,
        ),
        (
            "xor k",
            vec![s(LD | IMM, 0xff), s(ALU | XOR | K, 0x0f), RET_A],
            0xf0,
        ),
        (
            "lsh k",
            vec![s(LD | IMM, 1), s(ALU | LSH | K, 31), RET_A],
            0x8000_0000,
        ),
        (
            "rsh k",
            vec![s(LD | IMM, 0x8000_0000), s(ALU | RSH | K, 31), RET_A],
            1,
        ),
        (
            "neg",
            vec![s(LD | IMM, 1), s(ALU | NEG, 0), RET_A],
            u32::MAX,
        ),
        (
            "add x",
            vec![s(LDX | IMM, 3), s(LD | IMM, 4), s(ALU | ADD | X, 0), RET_A],
            7,
        ),
        (
            "div x",
            vec![s(LDX | IMM, 3), s(LD | IMM, 10), s(ALU | DIV | X, 0), RET_A],
            3,
        ),
        (
            "div x by zero rejects",
            vec![s(LD | IMM, 10), s(ALU | DIV | X, 0), s(RET | K, 1)],
            0,
        ),
        (
            "mod x by zero rejects",
            vec![s(LD | IMM, 10), s(ALU | MOD | X, 0), s(RET | K, 1)],
            0,
        ),
        (
            "div k by zero rejects",
            vec![s(LD | IMM, 10), s(ALU | DIV | K, 0), s(RET | K, 1)],
            0,
        ),
        (
            "lsh x 32 is 0",
            vec![s(LDX | IMM, 32), s(LD | IMM, 1), s(ALU | LSH | X, 0), RET_A],
            0,
        ),
        (
            "rsh x 40 is 0",
            vec![s(LDX | IMM, 40), s(LD | IMM, 8), s(ALU | RSH | X, 0), RET_A],
            0,
        ),
        (
            "lsh x 4",
            vec![s(LDX | IMM, 4), s(LD | IMM, 1), s(ALU | LSH | X, 0), RET_A],
            16,
        ),
    ];
    for (name, prog, want) in cases {
        assert_eq!(run(&prog, &pkt, 1500), want, "{name}");
    }
}

#[test]
fn jumps() {
    let pkt = packet();
    // A = k_a; if (A op k) ret 1 else ret 2.
    let cond = |a: u32, code: u16, k: u32| {
        vec![
            s(LD | IMM, a),
            j(JMP | code, k, 0, 1),
            s(RET | K, 1),
            s(RET | K, 2),
        ]
    };
    let cases = [
        ("jeq taken", cond(5, JEQ | K, 5), 1),
        ("jeq not taken", cond(5, JEQ | K, 6), 2),
        ("jgt is unsigned", cond(0x8000_0000, JGT | K, 1), 1),
        ("jgt equal", cond(5, JGT | K, 5), 2),
        ("jge equal", cond(5, JGE | K, 5), 1),
        ("jge less", cond(4, JGE | K, 5), 2),
        ("jset", cond(0b1010, JSET | K, 0b0010), 1),
        ("jset none", cond(0b1010, JSET | K, 0b0101), 2),
    ];
    for (name, prog, want) in cases {
        assert_eq!(run(&prog, &pkt, 16), want, "{name}");
    }
    // Register source.
    let prog = [
        s(LDX | IMM, 7),
        s(LD | IMM, 7),
        j(JMP | JEQ | X, 0, 1, 0),
        s(RET | K, 2),
        s(RET | K, 1),
    ];
    assert_eq!(run(&prog, &pkt, 16), 1);
    // ja skips.
    let prog = [s(JMP | JA, 1), s(RET | K, 2), s(RET | K, 3)];
    assert_eq!(run(&prog, &pkt, 16), 3);
}

#[test]
fn bad_programs_are_errors_not_panics() {
    let pkt = packet();
    let cases: Vec<(Vec<Insn>, &str)> = vec![
        (vec![], "the program is empty"),
        (
            vec![s(LD | IMM, 1)],
            "instruction 0: execution can run past the end of the program",
        ),
        (
            vec![s(JMP | JA, 5), s(RET | K, 1)],
            "instruction 0: jump to 6 is outside the program (2 instructions)",
        ),
        (
            vec![s(JMP | JA, u32::MAX), s(RET | K, 1)],
            "instruction 0: jump to 4294967296 is outside the program (2 instructions)",
        ),
        (
            vec![j(JMP | JEQ | K, 0, 9, 9), s(RET | K, 1)],
            "instruction 0: jump to 10 is outside the program (2 instructions)",
        ),
        (
            vec![s(LD | MEM, 16), s(RET | K, 1)],
            "instruction 0: memory slot M[16] does not exist (there are 16)",
        ),
        (
            vec![s(ST, 99), s(RET | K, 1)],
            "instruction 0: memory slot M[99] does not exist (there are 16)",
        ),
        (
            vec![s(LD | IMM, 0), s(0xffff, 0)],
            "instruction 1: unknown opcode 0xffff",
        ),
        (
            vec![s(0x104, 1), s(RET | K, 1)],
            "instruction 0: unknown opcode 0x0104",
        ),
        (
            vec![s(ALU | 0xf0, 0), s(RET | K, 1)],
            "instruction 0: unknown opcode 0x00f4",
        ),
        (
            vec![j(JMP | 0x70, 0, 0, 0), s(RET | K, 1)],
            "instruction 0: unknown opcode 0x0075",
        ),
    ];
    for (prog, want) in cases {
        let err: CbpfError = try_run(&prog, &pkt, 16).unwrap_err();
        assert_eq!(err.to_string(), want);
        assert_eq!(run(&prog, &pkt, 16), 0);
    }
}

#[test]
fn tcpdump_ip_filter() {
    // `tcpdump -ddd ip` on Ethernet.
    let prog = [s(0x28, 12), j(0x15, 0x800, 0, 1), s(0x6, 262144), s(0x6, 0)];
    let mut frame = vec![0u8; 64];
    frame[12] = 0x08;
    assert_eq!(run(&prog, &frame, 64), 262144);
    frame[12] = 0x86;
    frame[13] = 0xdd;
    assert_eq!(run(&prog, &frame, 64), 0);
}
