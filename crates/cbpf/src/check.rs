//! The kernel's checker for classic BPF: `bpf_check_classic` and
//! `check_load_and_stores` in net/core/filter.c, which `SO_ATTACH_FILTER`
//! and `bpf_prog_create` run before accepting a program.

use crate::error::CbpfError;
use crate::insn::{code, op, Insn};

/// The kernel's limit on program length (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// Offset where the kernel's ancillary loads start (`SKF_AD_OFF`, -0x1000).
pub const SKF_AD_OFF: u32 = 0xffff_f000;

/// The highest ancillary field the kernel knows (`SKF_AD_VLAN_TPID`, 60);
/// the fields are 4 bytes apart.
const SKF_AD_LAST: u32 = 60;

/// Checks `prog` with the kernel's rules, returning the first violation:
///
/// - 1 to 4096 instructions;
/// - only opcodes the kernel knows;
/// - no division or modulo by the constant 0, no constant shift by 32 or more;
/// - scratch memory slots below 16;
/// - every jump lands inside the program;
/// - absolute loads at or past `SKF_AD_OFF` name a known ancillary field;
/// - the last instruction is a `ret`;
/// - no memory slot is read on a path where it was not written first.
pub fn check(prog: &[Insn]) -> Result<(), CbpfError> {
    let len = prog.len();
    if len == 0 {
        return Err(CbpfError::EmptyProgram);
    }
    if len > MAX_INSNS {
        return Err(CbpfError::TooLong {
            len,
            max: MAX_INSNS,
        });
    }
    for (index, insn) in prog.iter().enumerate() {
        let c = insn.code;
        let k = insn.k;
        if !code::is_known(c) {
            return Err(CbpfError::BadOpcode { index, code: c });
        }
        let alu_k = |o: u16| c == op::ALU | o | op::K;
        if alu_k(op::DIV) || alu_k(op::MOD) {
            if k == 0 {
                return Err(CbpfError::DivByZero { index });
            }
        } else if alu_k(op::LSH) || alu_k(op::RSH) {
            if k >= 32 {
                return Err(CbpfError::ShiftTooLarge { index, k });
            }
        } else if matches!(
            c,
            code::LD_MEM | code::LDX_MEM | code::ST_MEM | code::STX_MEM
        ) {
            if k >= op::MEMWORDS {
                return Err(CbpfError::BadMemSlot { index, slot: k });
            }
        } else if c == code::JMP_JA {
            let target = index as u64 + 1 + k as u64;
            if target >= len as u64 {
                return Err(CbpfError::JumpOutOfRange { index, target, len });
            }
        } else if c & 0x07 == op::JMP {
            for off in [insn.jt, insn.jf] {
                let target = index as u64 + 1 + off as u64;
                if target >= len as u64 {
                    return Err(CbpfError::JumpOutOfRange { index, target, len });
                }
            }
        } else if matches!(c, code::LD_W_ABS | code::LD_H_ABS | code::LD_B_ABS)
            && k >= SKF_AD_OFF
            && !is_ancillary(k)
        {
            return Err(CbpfError::UnknownAncillary { index, k });
        }
    }
    let last = prog[len - 1].code;
    if last != code::RET_K && last != code::RET_A {
        return Err(CbpfError::FallsOffEnd { index: len - 1 });
    }
    check_load_and_stores(prog)
}

/// Whether `k` names one of the kernel's ancillary fields (`SKF_AD_OFF + n`).
pub fn is_ancillary(k: u32) -> bool {
    let n = k.wrapping_sub(SKF_AD_OFF);
    k >= SKF_AD_OFF && n <= SKF_AD_LAST && n % 4 == 0
}

/// The kernel's `check_load_and_stores`: one pass in program order carrying
/// the set of slots written so far; a jump narrows the set at its targets and
/// the instruction after it starts from what the jumps into it allow. The
/// program must already have passed the other checks (jumps in range, slots
/// below 16).
fn check_load_and_stores(prog: &[Insn]) -> Result<(), CbpfError> {
    let mut masks = vec![u16::MAX; prog.len()];
    let mut valid: u16 = 0;
    for (pc, insn) in prog.iter().enumerate() {
        valid &= masks[pc];
        let c = insn.code;
        match c {
            code::ST_MEM | code::STX_MEM => valid |= 1 << insn.k,
            code::LD_MEM | code::LDX_MEM if valid & (1 << insn.k) == 0 => {
                return Err(CbpfError::UninitializedMem {
                    index: pc,
                    slot: insn.k,
                });
            }
            code::JMP_JA => {
                masks[pc + 1 + insn.k as usize] &= valid;
                valid = u16::MAX;
            }
            _ if c & 0x07 == op::JMP => {
                masks[pc + 1 + insn.jt as usize] &= valid;
                masks[pc + 1 + insn.jf as usize] &= valid;
                valid = u16::MAX;
            }
            _ => {}
        }
    }
    Ok(())
}
