//! The classic BPF instruction (`struct sock_filter`) and its opcode fields.

/// One classic BPF instruction, as `struct sock_filter` lays it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    /// Class, size, mode and operation bits.
    pub code: u16,
    /// Jump offset when the condition holds.
    pub jt: u8,
    /// Jump offset when the condition fails.
    pub jf: u8,
    /// The generic field: constant, offset or memory slot.
    pub k: u32,
}

impl Insn {
    /// A non-jump instruction.
    pub const fn stmt(code: u16, k: u32) -> Insn {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A conditional jump.
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// The 8-byte wire form (host byte order, as the kernel and libpcap use it).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0; 8];
        b[0..2].copy_from_slice(&self.code.to_ne_bytes());
        b[2] = self.jt;
        b[3] = self.jf;
        b[4..8].copy_from_slice(&self.k.to_ne_bytes());
        b
    }

    /// Reads the 8-byte wire form.
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// The instruction class (`BPF_CLASS`).
    pub const fn class(self) -> u16 {
        self.code & 0x07
    }
}

/// Opcode field values, as in `<linux/filter.h>` and `<pcap/bpf.h>`.
pub mod op {
    // Classes.
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ST: u16 = 0x02;
    pub const STX: u16 = 0x03;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const MISC: u16 = 0x07;
    // Load sizes.
    pub const W: u16 = 0x00;
    pub const H: u16 = 0x08;
    pub const B: u16 = 0x10;
    // Load modes.
    pub const IMM: u16 = 0x00;
    pub const ABS: u16 = 0x20;
    pub const IND: u16 = 0x40;
    pub const MEM: u16 = 0x60;
    pub const LEN: u16 = 0x80;
    pub const MSH: u16 = 0xa0;
    // ALU operations.
    pub const ADD: u16 = 0x00;
    pub const SUB: u16 = 0x10;
    pub const MUL: u16 = 0x20;
    pub const DIV: u16 = 0x30;
    pub const OR: u16 = 0x40;
    pub const AND: u16 = 0x50;
    pub const LSH: u16 = 0x60;
    pub const RSH: u16 = 0x70;
    pub const NEG: u16 = 0x80;
    pub const MOD: u16 = 0x90;
    pub const XOR: u16 = 0xa0;
    // Jump operations.
    pub const JA: u16 = 0x00;
    pub const JEQ: u16 = 0x10;
    pub const JGT: u16 = 0x20;
    pub const JGE: u16 = 0x30;
    pub const JSET: u16 = 0x40;
    // Sources.
    pub const K: u16 = 0x00;
    pub const X: u16 = 0x08;
    /// `ret a` (RET class source field).
    pub const A: u16 = 0x10;
    // MISC operations.
    pub const TAX: u16 = 0x00;
    pub const TXA: u16 = 0x80;
    /// Number of scratch memory slots (`BPF_MEMWORDS`).
    pub const MEMWORDS: u32 = 16;
}

/// Every opcode the kernel accepts (`bpf_check_classic`'s table), as full
/// 16-bit codes, for use in `match` patterns.
pub mod code {
    use super::op::*;

    /// `ld [k]`
    pub const LD_W_ABS: u16 = LD | W | ABS;
    /// `ldh [k]`
    pub const LD_H_ABS: u16 = LD | H | ABS;
    /// `ldb [k]`
    pub const LD_B_ABS: u16 = LD | B | ABS;
    /// `ld [x + k]`
    pub const LD_W_IND: u16 = LD | W | IND;
    /// `ldh [x + k]`
    pub const LD_H_IND: u16 = LD | H | IND;
    /// `ldb [x + k]`
    pub const LD_B_IND: u16 = LD | B | IND;
    /// `ld #pktlen`
    pub const LD_W_LEN: u16 = LD | W | LEN;
    /// `ld #k`
    pub const LD_IMM: u16 = LD | IMM;
    /// `ld M[k]`
    pub const LD_MEM: u16 = LD | MEM;
    /// `ldx #pktlen`
    pub const LDX_W_LEN: u16 = LDX | W | LEN;
    /// `ldx #k`
    pub const LDX_IMM: u16 = LDX | IMM;
    /// `ldx M[k]`
    pub const LDX_MEM: u16 = LDX | MEM;
    /// `ldxb 4*([k]&0xf)`
    pub const LDX_B_MSH: u16 = LDX | B | MSH;
    /// `st M[k]`
    pub const ST_MEM: u16 = ST;
    /// `stx M[k]`
    pub const STX_MEM: u16 = STX;
    /// `tax`
    pub const MISC_TAX: u16 = MISC | TAX;
    /// `txa`
    pub const MISC_TXA: u16 = MISC | TXA;
    /// `ret #k`
    pub const RET_K: u16 = RET | K;
    /// `ret a`
    pub const RET_A: u16 = RET | A;
    /// `neg`
    pub const ALU_NEG: u16 = ALU | NEG;
    /// `ja k`
    pub const JMP_JA: u16 = JMP | JA;

    /// Whether the kernel's checker knows `code` at all.
    pub const fn is_known(code: u16) -> bool {
        match code {
            LD_W_ABS | LD_H_ABS | LD_B_ABS | LD_W_IND | LD_H_IND | LD_B_IND | LD_W_LEN | LD_IMM
            | LD_MEM | LDX_W_LEN | LDX_IMM | LDX_MEM | LDX_B_MSH | ST_MEM | STX_MEM | MISC_TAX
            | MISC_TXA | RET_K | RET_A | ALU_NEG | JMP_JA => true,
            _ => {
                let src = code & X;
                let rest = code & !X;
                if code > 0xff || (src != 0 && src != X) {
                    return false;
                }
                match rest & 0x07 {
                    ALU => matches!(
                        rest & 0xf0,
                        ADD | SUB | MUL | DIV | MOD | AND | OR | XOR | LSH | RSH
                    ),
                    JMP => matches!(rest & 0xf0, JEQ | JGT | JGE | JSET),
                    _ => false,
                }
            }
        }
    }
}
