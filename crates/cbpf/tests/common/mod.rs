//! Random classic programs for the property tests.

use oxbpf_cbpf::check::check;
use oxbpf_cbpf::insn::{code, op::*};
use oxbpf_cbpf::{CbpfError, Insn};

/// Turns arbitrary instructions into a program the kernel's checker accepts,
/// ending in `ret`: constant divisors and shifts in range, scratch slots below
/// 16, jumps that stay inside, no ancillary loads, and every scratch slot
/// written before it is read.
pub fn make_valid(mut prog: Vec<Insn>, ret: Insn) -> Vec<Insn> {
    prog.push(ret);
    let len = prog.len();
    for (i, insn) in prog.iter_mut().enumerate().take(len - 1) {
        let c = insn.code;
        let room = (len - i - 2) as u32; // largest forward offset that stays inside
        if c == ALU | DIV | K || c == ALU | MOD | K {
            insn.k = insn.k.max(1);
        } else if c == ALU | LSH | K || c == ALU | RSH | K {
            insn.k %= 32;
        } else if matches!(
            c,
            code::LD_MEM | code::LDX_MEM | code::ST_MEM | code::STX_MEM
        ) {
            insn.k %= 16;
        } else if c == code::JMP_JA {
            insn.k %= room + 1;
        } else if c & 7 == JMP {
            insn.jt = (insn.jt as u32 % (room + 1)) as u8;
            insn.jf = (insn.jf as u32 % (room + 1)) as u8;
        } else if matches!(c, code::LD_W_ABS | code::LD_H_ABS | code::LD_B_ABS)
            && insn.k >= oxbpf_cbpf::check::SKF_AD_OFF
        {
            insn.k = 0x10;
        }
    }
    loop {
        match check(&prog) {
            Ok(()) => return prog,
            Err(CbpfError::UninitializedMem { index, slot }) => {
                // Turn the read into a write of the same slot.
                prog[index] = Insn::stmt(if index % 2 == 0 { ST } else { STX }, slot);
            }
            Err(e) => panic!("generator made an invalid program: {e}\n{prog:?}"),
        }
    }
}
