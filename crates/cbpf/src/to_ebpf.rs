//! Translation of classic BPF to eBPF, after the kernel's `bpf_convert_filter`
//! (net/core/filter.c), and a runner for the result on oxbpf's VM.
//!
//! Register use follows the kernel: `A` lives in `w0`, `X` in `w7`, the
//! context in `r6`, `r8` is scratch, and `M[k]` is the 32-bit stack word at
//! `r10 - (4k + 4)`. Packet loads are the legacy `ld_abs`/`ld_ind`
//! instructions, which read the first memory region and end the program with 0
//! when the bytes are not there. All arithmetic is 32-bit.
//!
//! Where userland has no `sk_buff`, the translation's context is: `r1` = the
//! packet and `r2` = its length on the wire (`len`), which the prologue copies
//! into `r9`. Two choices follow libpcap rather than the kernel, so that the
//! translation means exactly what [`crate::interp`] means: a shift by
//! `X >= 32` gives 0 (the kernel leaves it to the CPU), and `ld [x + k]` with
//! `k >= 2^31` rejects the packet (the kernel reads `k` as a negative offset).
//!
//! ```
//! use oxbpf_cbpf::{listing, to_ebpf::EbpfFilter};
//!
//! // tcpdump -ddd ip
//! let prog = listing::parse_ddd("4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n").unwrap();
//! let mut filter = EbpfFilter::new(&prog).unwrap();
//! let mut frame = [0u8; 34];
//! frame[12] = 0x08;
//! assert_eq!(filter.run(&frame, 34), 262144);
//! ```

use oxbpf_isa::{AluOp, Insn as E, JmpCond, Operand, Reg, Size, Width};
use oxbpf_vm::{Helpers, NoTrace, Program, Region, Vm};

use crate::check::check;
use crate::error::CbpfError;
use crate::insn::{code, op, Insn};

/// The accumulator.
pub const REG_A: Reg = Reg::R0;
/// The index register.
pub const REG_X: Reg = Reg::R7;
/// The context (the packet).
pub const REG_CTX: Reg = Reg::R6;
/// Scratch.
pub const REG_TMP: Reg = Reg::R8;
/// The packet's length on the wire.
pub const REG_LEN: Reg = Reg::R9;

/// An eBPF instruction whose jump target is still a classic index.
enum Item {
    Done(E),
    Jmp {
        cond: JmpCond,
        src: Operand,
        target: usize,
    },
    Ja {
        target: usize,
    },
}

/// Translates a classic program, which must pass [`check`], into eBPF.
pub fn to_ebpf(prog: &[Insn]) -> Result<Vec<E>, CbpfError> {
    check(prog)?;
    let mut items: Vec<Item> = Vec::with_capacity(prog.len() * 2 + 4);
    let done = |items: &mut Vec<Item>, e: E| items.push(Item::Done(e));
    // Prologue, as the kernel's: clear A and X, keep the context.
    done(&mut items, alu(AluOp::Xor, REG_A, Operand::Reg(REG_A)));
    done(&mut items, alu(AluOp::Xor, REG_X, Operand::Reg(REG_X)));
    done(&mut items, mov64(REG_CTX, Reg::R1));
    done(&mut items, mov64(REG_LEN, Reg::R2));
    let mut starts = Vec::with_capacity(prog.len());
    for (i, insn) in prog.iter().enumerate() {
        starts.push(items.len());
        let k = insn.k;
        let kimm = Operand::Imm(k as i32);
        let c = insn.code;
        let mut emit = |e: E| items.push(Item::Done(e));
        match c {
            code::LD_W_ABS | code::LD_H_ABS | code::LD_B_ABS => emit(E::LdAbs {
                size: size_of(c),
                imm: k as i32,
            }),
            code::LD_W_IND | code::LD_H_IND | code::LD_B_IND => {
                if k <= i32::MAX as u32 {
                    emit(E::LdInd {
                        size: size_of(c),
                        src: REG_X,
                        imm: k as i32,
                    });
                } else {
                    // X + k is past any packet shorter than 2 GiB.
                    emit(alu(AluOp::Mov, REG_A, Operand::Imm(0)));
                    emit(E::Exit);
                }
            }
            code::LD_W_LEN => emit(alu(AluOp::Mov, REG_A, Operand::Reg(REG_LEN))),
            code::LDX_W_LEN => emit(alu(AluOp::Mov, REG_X, Operand::Reg(REG_LEN))),
            code::LD_IMM => emit(alu(AluOp::Mov, REG_A, kimm)),
            code::LDX_IMM => emit(alu(AluOp::Mov, REG_X, kimm)),
            code::LD_MEM | code::LDX_MEM => emit(E::Ldx {
                size: Size::W,
                signed: false,
                dst: if c == code::LD_MEM { REG_A } else { REG_X },
                src: Reg::R10,
                off: stack_off(k),
            }),
            code::ST_MEM | code::STX_MEM => emit(E::Stx {
                size: Size::W,
                dst: Reg::R10,
                off: stack_off(k),
                src: if c == code::ST_MEM { REG_A } else { REG_X },
            }),
            code::LDX_B_MSH => {
                // X = 4 * (P[k] & 0xf), keeping A in the scratch register.
                emit(mov64(REG_TMP, REG_A));
                emit(E::LdAbs {
                    size: Size::B,
                    imm: k as i32,
                });
                emit(alu(AluOp::And, REG_A, Operand::Imm(0xf)));
                emit(alu(AluOp::Lsh, REG_A, Operand::Imm(2)));
                emit(mov64(REG_X, REG_A));
                emit(mov64(REG_A, REG_TMP));
            }
            code::MISC_TAX => emit(mov64(REG_X, REG_A)),
            code::MISC_TXA => emit(mov64(REG_A, REG_X)),
            code::RET_K => {
                emit(alu(AluOp::Mov, REG_A, kimm));
                emit(E::Exit);
            }
            code::RET_A => emit(E::Exit),
            code::ALU_NEG => emit(E::Neg {
                width: Width::W32,
                dst: REG_A,
            }),
            code::JMP_JA => items.push(Item::Ja {
                target: i + 1 + k as usize,
            }),
            _ if c & 0x07 == op::ALU => {
                let aop = match c & 0xf0 {
                    op::ADD => AluOp::Add,
                    op::SUB => AluOp::Sub,
                    op::MUL => AluOp::Mul,
                    op::DIV => AluOp::Div,
                    op::MOD => AluOp::Mod,
                    op::AND => AluOp::And,
                    op::OR => AluOp::Or,
                    op::XOR => AluOp::Xor,
                    op::LSH => AluOp::Lsh,
                    _ => AluOp::Rsh,
                };
                if c & op::X == 0 {
                    emit(alu(aop, REG_A, kimm));
                } else {
                    if matches!(aop, AluOp::Div | AluOp::Mod) {
                        // As the kernel: X == 0 ends the program with 0.
                        emit(jmp(JmpCond::Ne, REG_X, Operand::Imm(0), 2));
                        emit(alu(AluOp::Xor, REG_A, Operand::Reg(REG_A)));
                        emit(E::Exit);
                    } else if matches!(aop, AluOp::Lsh | AluOp::Rsh) {
                        // As libpcap: a shift by 32 or more gives 0.
                        emit(jmp(JmpCond::Lt, REG_X, Operand::Imm(32), 2));
                        emit(alu(AluOp::Mov, REG_A, Operand::Imm(0)));
                        emit(E::Ja { off: 1 });
                    }
                    emit(alu(aop, REG_A, Operand::Reg(REG_X)));
                }
            }
            _ => {
                // Conditional jumps (check() admitted only these).
                let mut cond = match c & 0xf0 {
                    op::JEQ => JmpCond::Eq,
                    op::JGT => JmpCond::Gt,
                    op::JGE => JmpCond::Ge,
                    _ => JmpCond::Set,
                };
                let src = if c & op::X != 0 {
                    Operand::Reg(REG_X)
                } else if (k as i32) < 0 {
                    // eBPF immediates are sign-extended; compare against the
                    // zero-extended constant in a register instead.
                    emit(alu(AluOp::Mov, REG_TMP, kimm));
                    Operand::Reg(REG_TMP)
                } else {
                    kimm
                };
                let t = i + 1 + insn.jt as usize;
                let f = i + 1 + insn.jf as usize;
                let inverse = match cond {
                    JmpCond::Eq => Some(JmpCond::Ne),
                    JmpCond::Gt => Some(JmpCond::Le),
                    JmpCond::Ge => Some(JmpCond::Lt),
                    _ => None,
                };
                match inverse {
                    Some(inv) if insn.jt == 0 => {
                        cond = inv;
                        items.push(Item::Jmp {
                            cond,
                            src,
                            target: f,
                        });
                    }
                    _ => {
                        items.push(Item::Jmp {
                            cond,
                            src,
                            target: t,
                        });
                        if insn.jf != 0 {
                            items.push(Item::Ja { target: f });
                        }
                    }
                }
            }
        }
    }
    // Resolve classic targets to eBPF offsets.
    let mut out = Vec::with_capacity(items.len());
    for (pos, item) in items.into_iter().enumerate() {
        let rel = |target: usize, index: usize| -> Result<i64, CbpfError> {
            let to = *starts.get(target).ok_or(CbpfError::JumpOutOfRange {
                index,
                target: target as u64,
                len: prog.len(),
            })?;
            Ok(to as i64 - pos as i64 - 1)
        };
        let index = starts.partition_point(|&s| s <= pos).saturating_sub(1);
        out.push(match item {
            Item::Done(e) => e,
            Item::Ja { target } => {
                let off = rel(target, index)?;
                match i16::try_from(off) {
                    Ok(off) => E::Ja { off },
                    Err(_) => E::Ja32 { imm: off as i32 },
                }
            }
            Item::Jmp { cond, src, target } => {
                let off = i16::try_from(rel(target, index)?)
                    .map_err(|_| CbpfError::JumpTooFar { index })?;
                jmp(cond, REG_A, src, off)
            }
        });
    }
    Ok(out)
}

fn alu(op: AluOp, dst: Reg, src: Operand) -> E {
    E::Alu {
        width: Width::W32,
        op,
        dst,
        src,
    }
}

fn mov64(dst: Reg, src: Reg) -> E {
    E::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Operand::Reg(src),
    }
}

fn jmp(cond: JmpCond, dst: Reg, src: Operand, off: i16) -> E {
    E::Jmp {
        width: Width::W64,
        cond,
        dst,
        src,
        off,
    }
}

fn size_of(c: u16) -> Size {
    match c & 0x18 {
        op::H => Size::H,
        op::B => Size::B,
        _ => Size::W,
    }
}

/// The frame-pointer offset of `M[k]` (`k < 16`, checked).
fn stack_off(k: u32) -> i16 {
    -((k as i16) * 4 + 4)
}

/// A classic filter translated to eBPF and loaded into oxbpf's VM.
#[derive(Debug)]
pub struct EbpfFilter {
    vm: Vm,
}

impl EbpfFilter {
    /// Checks, translates and loads `prog`.
    pub fn new(prog: &[Insn]) -> Result<EbpfFilter, CbpfError> {
        let ebpf = to_ebpf(prog)?;
        let bytes = oxbpf_isa::encode_program(&ebpf);
        let program =
            Program::new(&bytes, &Helpers::new()).map_err(|e| CbpfError::Load(e.to_string()))?;
        Ok(EbpfFilter {
            vm: Vm::from_program(program),
        })
    }

    /// Runs the filter on `packet` (captured bytes) with wire length `wirelen`;
    /// the result means what [`crate::interp::run`]'s does.
    pub fn run(&mut self, packet: &[u8], wirelen: u32) -> u32 {
        let region = Region::readable(packet);
        let args = [region.addr(), wirelen as u64, 0, 0, 0];
        // A checked, translated program cannot fault; if the VM ever did, the
        // packet is rejected like any failed load.
        self.vm
            .run_with(&args, &[region], &mut NoTrace)
            .map_or(0, |r| r as u32)
    }
}

/// A classic filter translated to eBPF and compiled by oxbpf's x86-64 JIT.
#[cfg(target_arch = "x86_64")]
pub struct JitFilter {
    jit: oxbpf_jit::JitProgram,
}

#[cfg(target_arch = "x86_64")]
impl std::fmt::Debug for JitFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitFilter").finish_non_exhaustive()
    }
}

#[cfg(target_arch = "x86_64")]
impl JitFilter {
    /// Checks, translates and compiles `prog`.
    pub fn new(prog: &[Insn]) -> Result<JitFilter, CbpfError> {
        let ebpf = to_ebpf(prog)?;
        let bytes = oxbpf_isa::encode_program(&ebpf);
        let program =
            Program::new(&bytes, &Helpers::new()).map_err(|e| CbpfError::Load(e.to_string()))?;
        let options = oxbpf_jit::Options {
            mode: oxbpf_jit::Mode::Unchecked,
            constant_blinding: false,
            ..Default::default()
        };
        // SAFETY: `program` is our own translation of a program that passed
        // `check`, and such translations touch memory in two ways only: the
        // legacy packet loads, which the JIT bounds-checks against the packet
        // in every mode (out of bounds ends the run with 0), and 32-bit
        // stack words at the constant offsets r10-4 .. r10-64 of the single
        // 512-byte frame, each written before it is read (the checker's
        // `check_load_and_stores`). There are no calls, no pointers from
        // registers and no backward jumps.
        let jit = unsafe { oxbpf_jit::JitProgram::compile_with_mode(program, &options) }
            .map_err(|e| CbpfError::Load(e.to_string()))?;
        Ok(JitFilter { jit })
    }

    /// Runs the filter; the result means what [`crate::interp::run`]'s does.
    pub fn run(&mut self, packet: &[u8], wirelen: u32) -> u32 {
        let region = Region::readable(packet);
        let args = [region.addr(), wirelen as u64, 0, 0, 0];
        self.jit.run_with(&args, &[region]).map_or(0, |r| r as u32)
    }
}
