//! The classic BPF interpreter, with libpcap's `bpf_filter` semantics.
//!
//! The machine has an accumulator `A`, an index register `X` and sixteen
//! scratch words `M[0..16]`, all 32 bits and all zero at the start. Packet
//! loads are big-endian; a load that reaches past the captured bytes ends the
//! program with 0 (the packet is rejected), as does a division or modulo by
//! `X == 0`. A shift by `X >= 32` gives 0, as in libpcap 1.10. `len` is the
//! packet's length on the wire, not the captured length.
//!
//! ```
//! use oxbpf_cbpf::{interp, insn::op, Insn};
//!
//! // Accept IPv4 over Ethernet (ethertype 0x0800), reject the rest.
//! let prog = [
//!     Insn::stmt(op::LD | op::H | op::ABS, 12),
//!     Insn::jump(op::JMP | op::JEQ | op::K, 0x800, 0, 1),
//!     Insn::stmt(op::RET | op::K, 262144),
//!     Insn::stmt(op::RET | op::K, 0),
//! ];
//! let mut frame = [0u8; 60];
//! frame[12] = 0x08;
//! assert_eq!(interp::run(&prog, &frame, 60), 262144);
//! assert_eq!(interp::run(&prog, &frame[..13], 60), 0); // truncated: rejected
//! ```

use crate::error::CbpfError;
use crate::insn::{code, op, Insn};

/// Runs `prog` on `packet` (the captured bytes) whose length on the wire was
/// `wirelen`, and returns the filter's result: 0 rejects the packet, anything
/// else is the number of bytes to keep.
///
/// Never panics: a program that is not valid (see [`crate::check()`]) rejects
/// the packet when it reaches the bad instruction. Use [`try_run`] to learn why.
pub fn run(prog: &[Insn], packet: &[u8], wirelen: u32) -> u32 {
    try_run(prog, packet, wirelen).unwrap_or(0)
}

/// Like [`run`], but reports an invalid instruction that the run reached
/// (unknown opcode, jump outside the program, memory slot past 15, or running
/// past the last instruction) as an error naming its index.
pub fn try_run(prog: &[Insn], packet: &[u8], wirelen: u32) -> Result<u32, CbpfError> {
    if prog.is_empty() {
        return Err(CbpfError::EmptyProgram);
    }
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; op::MEMWORDS as usize];
    let mut pc = 0usize;
    loop {
        let Some(&insn) = prog.get(pc) else {
            return Err(CbpfError::FallsOffEnd {
                index: prog.len() - 1,
            });
        };
        let index = pc;
        pc += 1;
        let k = insn.k;
        let slot = |k: u32| -> Result<usize, CbpfError> {
            if k < op::MEMWORDS {
                Ok(k as usize)
            } else {
                Err(CbpfError::BadMemSlot { index, slot: k })
            }
        };
        macro_rules! load {
            ($off:expr, $n:expr) => {
                match packet_load(packet, $off, $n) {
                    Some(v) => v,
                    None => return Ok(0),
                }
            };
        }
        match insn.code {
            // Returns.
            code::RET_K => return Ok(k),
            code::RET_A => return Ok(a),
            // Loads into A.
            code::LD_W_ABS => a = load!(Some(k), 4),
            code::LD_H_ABS => a = load!(Some(k), 2),
            code::LD_B_ABS => a = load!(Some(k), 1),
            code::LD_W_IND => a = load!(x.checked_add(k), 4),
            code::LD_H_IND => a = load!(x.checked_add(k), 2),
            code::LD_B_IND => a = load!(x.checked_add(k), 1),
            code::LD_W_LEN => a = wirelen,
            code::LD_IMM => a = k,
            code::LD_MEM => a = mem[slot(k)?],
            // Loads into X.
            code::LDX_W_LEN => x = wirelen,
            code::LDX_IMM => x = k,
            code::LDX_MEM => x = mem[slot(k)?],
            code::LDX_B_MSH => x = (load!(Some(k), 1) & 0xf) << 2,
            // Stores.
            code::ST_MEM => mem[slot(k)?] = a,
            code::STX_MEM => mem[slot(k)?] = x,
            // Register moves.
            code::MISC_TAX => x = a,
            code::MISC_TXA => a = x,
            // Arithmetic.
            code::ALU_NEG => a = a.wrapping_neg(),
            c if c & 0xff07 == op::ALU => {
                let src = if c & op::X != 0 { x } else { k };
                a = match alu(c & 0xf0, a, src) {
                    Some(Some(v)) => v,
                    Some(None) => return Ok(0),
                    None => return Err(CbpfError::BadOpcode { index, code: c }),
                };
            }
            // Jumps (always forward).
            code::JMP_JA => {
                pc = jump(pc, k as u64, prog.len(), index)?;
            }
            c if c & 0xff07 == op::JMP => {
                let src = if c & op::X != 0 { x } else { k };
                let taken = match c & 0xf0 {
                    op::JEQ => a == src,
                    op::JGT => a > src,
                    op::JGE => a >= src,
                    op::JSET => a & src != 0,
                    _ => return Err(CbpfError::BadOpcode { index, code: c }),
                };
                let off = if taken { insn.jt } else { insn.jf };
                pc = jump(pc, off as u64, prog.len(), index)?;
            }
            c => return Err(CbpfError::BadOpcode { index, code: c }),
        }
    }
}

/// `n` big-endian bytes at `off`, or `None` past the end of the packet (or when
/// computing the offset overflowed, which `off == None` means).
#[inline(always)]
fn packet_load(packet: &[u8], off: Option<u32>, n: usize) -> Option<u32> {
    let off = off? as usize;
    let bytes = packet.get(off..off.checked_add(n)?)?;
    Some(bytes.iter().fold(0u32, |v, &b| (v << 8) | b as u32))
}

/// The new pc after a forward jump of `off` from `pc` (already past the jump).
#[inline(always)]
fn jump(pc: usize, off: u64, len: usize, index: usize) -> Result<usize, CbpfError> {
    let target = pc as u64 + off;
    if target < len as u64 {
        Ok(target as usize)
    } else {
        Err(CbpfError::JumpOutOfRange { index, target, len })
    }
}

/// One ALU operation (`op` is the `BPF_OP` field). `None`: no such operation;
/// `Some(None)`: division or modulo by zero, which rejects the packet.
#[inline(always)]
pub fn alu(op: u16, a: u32, src: u32) -> Option<Option<u32>> {
    Some(Some(match op {
        op::ADD => a.wrapping_add(src),
        op::SUB => a.wrapping_sub(src),
        op::MUL => a.wrapping_mul(src),
        op::DIV => match a.checked_div(src) {
            Some(v) => v,
            None => return Some(None),
        },
        op::MOD => match a.checked_rem(src) {
            Some(v) => v,
            None => return Some(None),
        },
        op::AND => a & src,
        op::OR => a | src,
        op::XOR => a ^ src,
        op::LSH => a.checked_shl(src).unwrap_or(0),
        op::RSH => a.checked_shr(src).unwrap_or(0),
        _ => return None,
    }))
}
