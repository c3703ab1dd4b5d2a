//! The kernel checker's accept/reject table.

use oxbpf_cbpf::check::{check, is_ancillary, SKF_AD_OFF};
use oxbpf_cbpf::insn::op::*;
use oxbpf_cbpf::listing::parse_ddd;
use oxbpf_cbpf::Insn;

fn s(code: u16, k: u32) -> Insn {
    Insn::stmt(code, k)
}

fn j(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn::jump(code, k, jt, jf)
}

const RET0: Insn = Insn::stmt(RET | K, 0);

#[test]
fn accepts() {
    let cases: Vec<(&str, Vec<Insn>)> = vec![
        ("ret k", vec![RET0]),
        ("ret a", vec![s(RET | A, 0)]),
        ("div by 3", vec![s(ALU | DIV | K, 3), RET0]),
        ("div by x", vec![s(ALU | DIV | X, 0), RET0]),
        ("lsh 31", vec![s(ALU | LSH | K, 31), RET0]),
        ("mem 15", vec![s(ST, 15), s(LD | MEM, 15), RET0]),
        ("jump to last", vec![j(JMP | JEQ | K, 0, 1, 0), RET0, RET0]),
        ("ja to last", vec![s(JMP | JA, 1), RET0, RET0]),
        (
            "ancillary protocol",
            vec![s(LD | H | ABS, SKF_AD_OFF), RET0],
        ),
        (
            "ancillary vlan tpid",
            vec![s(LD | W | ABS, SKF_AD_OFF + 60), RET0],
        ),
        (
            "store on both paths",
            vec![
                j(JMP | JEQ | K, 0, 0, 2),
                s(ST, 1),
                s(JMP | JA, 1),
                s(STX, 1),
                s(LDX | MEM, 1),
                RET0,
            ],
        ),
        ("4096 insns", vec![RET0; 4096]),
    ];
    for (name, prog) in cases {
        assert!(check(&prog).is_ok(), "{name}: {:?}", check(&prog));
    }
}

#[test]
fn rejects() {
    let cases: Vec<(Vec<Insn>, &str)> = vec![
        (vec![], "the program is empty"),
        (vec![RET0; 4097], "the program has 4097 instructions, more than the limit of 4096"),
        (vec![s(0x08, 0), RET0], "instruction 0: unknown opcode 0x0008"),
        (vec![s(ALU | NEG | X, 0), RET0], "instruction 0: unknown opcode 0x008c"),
        (vec![s(JMP | JA | X, 0), RET0], "instruction 0: unknown opcode 0x000d"),
        (vec![s(0x106, 0)], "instruction 0: unknown opcode 0x0106"),
        (vec![s(ALU | DIV | K, 0), RET0], "instruction 0: division by the constant 0"),
        (vec![s(ALU | MOD | K, 0), RET0], "instruction 0: division by the constant 0"),
        (vec![RET0, s(ALU | LSH | K, 32), RET0], "instruction 1: shift by 32, which is 32 or more"),
        (vec![s(ALU | RSH | K, 99), RET0], "instruction 0: shift by 99, which is 32 or more"),
        (vec![s(ST, 16), RET0], "instruction 0: memory slot M[16] does not exist (there are 16)"),
        (vec![s(LDX | MEM, 1000), RET0], "instruction 0: memory slot M[1000] does not exist (there are 16)"),
        (vec![s(JMP | JA, 1), RET0], "instruction 0: jump to 2 is outside the program (2 instructions)"),
        (vec![j(JMP | JGT | X, 0, 0, 1), RET0], "instruction 0: jump to 2 is outside the program (2 instructions)"),
        (vec![j(JMP | JSET | K, 0, 5, 0), RET0], "instruction 0: jump to 6 is outside the program (2 instructions)"),
        (vec![s(LD | IMM, 0)], "instruction 0: execution can run past the end of the program"),
        (vec![RET0, s(MISC | TAX, 0)], "instruction 1: execution can run past the end of the program"),
        (
            vec![s(LD | B | ABS, SKF_AD_OFF + 2), RET0],
            "instruction 0: load at 0xfffff002 is in the kernel's ancillary area but names no field it knows",
        ),
        (
            vec![s(LD | W | ABS, SKF_AD_OFF + 64), RET0],
            "instruction 0: load at 0xfffff040 is in the kernel's ancillary area but names no field it knows",
        ),
        (vec![s(LD | MEM, 0), RET0], "instruction 0: M[0] may be read before it is written"),
        (
            vec![j(JMP | JEQ | K, 0, 0, 1), s(ST, 3), s(LD | MEM, 3), RET0],
            "instruction 2: M[3] may be read before it is written",
        ),
        (
            // Written on one path only.
            vec![j(JMP | JEQ | K, 0, 0, 2), s(ST, 1), s(JMP | JA, 1), s(STX, 2), s(LDX | MEM, 1), RET0],
            "instruction 4: M[1] may be read before it is written",
        ),
    ];
    for (prog, want) in cases {
        let err = check(&prog).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn ancillary_offsets() {
    assert!(is_ancillary(SKF_AD_OFF));
    assert!(is_ancillary(SKF_AD_OFF + 44));
    assert!(!is_ancillary(SKF_AD_OFF + 45));
    assert!(!is_ancillary(SKF_AD_OFF - 4));
    assert!(!is_ancillary(12));
}

#[test]
fn accepts_every_tcpdump_golden() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/goldens/tcpdump");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ddd") {
            let prog = parse_ddd(&std::fs::read_to_string(&path).unwrap()).unwrap();
            check(&prog).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 25);
}
