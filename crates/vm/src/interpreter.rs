//! The interpreter loop.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use oxbpf_isa::semantics::{alu32, alu64, byte_order, jump32, jump64, neg32, neg64};
use oxbpf_isa::{AluOp, AtomicOp, ByteOrder, JmpCond};

use crate::error::VmError;
use crate::helpers::{HelperContext, HelperFn};
use crate::memory::{MemoryMap, MemoryView};
use crate::program::{atomic_op, Op, Program, K};

/// Bytes of stack per frame.
pub const STACK_FRAME: usize = 512;
/// Maximum number of frames (the kernel's MAX_CALL_FRAMES).
pub const MAX_FRAMES: usize = 8;
/// Total stack bytes for all frames.
pub const STACK_SIZE: usize = STACK_FRAME * MAX_FRAMES;

/// Observes execution one instruction at a time (for `--trace`).
pub trait Tracer {
    /// Called before the instruction at `pc` runs, with the registers at that point.
    fn step(&mut self, pc: usize, regs: &[u64; 11]);
    /// Called once when the program exits, with the final registers.
    fn finish(&mut self, regs: &[u64; 11]);
}

/// A tracer that does nothing; the fast path.
pub(crate) struct NoTrace;

impl Tracer for NoTrace {
    #[inline(always)]
    fn step(&mut self, _: usize, _: &[u64; 11]) {}
    #[inline(always)]
    fn finish(&mut self, _: &[u64; 11]) {}
}

#[derive(Clone, Copy, Default)]
struct Frame {
    ret: usize,
    saved: [u64; 4],
    fp: u64,
}

/// Inputs of one run.
pub(crate) struct RunArgs<'a> {
    pub regs: [u64; 5],
    pub map: &'a MemoryMap,
    /// The packet for legacy ld_abs/ld_ind: (address, length).
    pub packet: (u64, u64),
    pub stack_top: u64,
    pub budget: u64,
    /// The slot to start at: 0, or a callback's first instruction.
    pub start_pc: usize,
    /// Frames already in use below this run (callbacks run deeper).
    pub base_depth: usize,
}

/// Code addresses (`lddw` of a function, for callbacks) are this plus the slot.
pub const CODE_BASE: u64 = 0xc0de_0000_0000_0000;

/// How a run stopped early. Small and `Copy`, so building one on the loop's
/// cold paths costs the hot path nothing; [`Fault::into_error`] adds the details.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    OutOfBounds {
        pc: usize,
        addr: u64,
        len: usize,
        kind: &'static str,
    },
    MisalignedAtomic {
        pc: usize,
        addr: u64,
        len: usize,
    },
    BudgetExhausted {
        pc: usize,
        budget: u64,
    },
    BadCallx {
        pc: usize,
        value: u64,
    },
    Helper {
        pc: usize,
        id: u32,
    },
    CallDepth {
        pc: usize,
        max: usize,
    },
    JumpIntoLddw {
        index: usize,
        target: usize,
    },
    FellOffEnd {
        pc: usize,
    },
}

impl Fault {
    /// The public error, with where an address lies and a helper's message.
    pub(crate) fn into_error(self, map: &MemoryMap, helper_message: String) -> VmError {
        match self {
            Fault::OutOfBounds {
                pc,
                addr,
                len,
                kind,
            } => VmError::OutOfBounds {
                pc,
                addr,
                len,
                kind,
                where_: map.locate(addr, len as u64, !kind.contains("read")),
            },
            Fault::MisalignedAtomic { pc, addr, len } => {
                VmError::MisalignedAtomic { pc, addr, len }
            }
            Fault::BudgetExhausted { pc, budget } => VmError::BudgetExhausted { pc, budget },
            Fault::BadCallx { pc, value } => VmError::BadCallx { pc, value },
            Fault::Helper { pc, id } => VmError::Helper {
                pc,
                id,
                message: helper_message,
            },
            Fault::CallDepth { pc, max } => VmError::CallDepth { pc, max },
            Fault::JumpIntoLddw { index, target } => VmError::JumpIntoLddw { index, target },
            Fault::FellOffEnd { pc } => VmError::FellOffEnd { pc },
        }
    }
}

/// Runs `prog`; returns r0 and the number of instructions executed.
#[inline(always)]
pub(crate) fn execute<T: Tracer, const COUNT: bool>(
    prog: &Program,
    args: RunArgs<'_>,
    tracer: &mut T,
    helper_message: &mut String,
) -> Result<(u64, u64), Fault> {
    let ops = &prog.ops[..];
    let map = args.map;
    // Sixteen entries so `& 15` indexing needs no bounds check; r11..r15 are never named.
    let mut reg = [0u64; 16];
    reg[1..6].copy_from_slice(&args.regs);
    reg[10] = args.stack_top;
    let mut frames = [Frame::default(); MAX_FRAMES];
    let mut depth = 0usize;
    let mut remaining = args.budget;
    let mut pc = args.start_pc;

    macro_rules! r {
        ($i:expr) => {
            // SAFETY: register fields come from decoded `Reg`s (0..=10) or are 0,
            // and `reg` has 16 entries.
            *unsafe { reg.get_unchecked_mut($i as usize) }
        };
    }
    macro_rules! load {
        ($ty:ty, $op:expr, $pc:expr) => {{
            let addr = r!($op.src).wrapping_add($op.off as i64 as u64);
            let size = std::mem::size_of::<$ty>();
            match map.translate(addr, size as u64, false) {
                // SAFETY: `translate` checked that the bytes lie in a live region.
                Some(p) => unsafe { (p as *const $ty).read_unaligned() },
                None => {
                    return Err(Fault::OutOfBounds {
                        pc: $pc,
                        addr,
                        len: size,
                        kind: "read",
                    })
                }
            }
        }};
    }
    macro_rules! store {
        ($ty:ty, $op:expr, $val:expr, $pc:expr) => {{
            let addr = r!($op.dst).wrapping_add($op.off as i64 as u64);
            let size = std::mem::size_of::<$ty>();
            let value = $val as $ty;
            match map.translate(addr, size as u64, true) {
                // SAFETY: `translate` checked that the bytes lie in a live writable region.
                Some(p) => unsafe { (p as *mut $ty).write_unaligned(value) },
                None => {
                    return Err(Fault::OutOfBounds {
                        pc: $pc,
                        addr,
                        len: size,
                        kind: "write",
                    })
                }
            }
        }};
    }
    // Branch-free: a taken/not-taken that depends on the program's data would
    // otherwise mispredict here and again at the next dispatch.
    macro_rules! jump {
        ($cond:expr, $op:expr) => {{
            let mask = ($cond as u64).wrapping_neg();
            pc = pc.wrapping_add((($op.off as i64 as u64) & mask) as usize);
        }};
    }

    loop {
        debug_assert!(pc < ops.len());
        // SAFETY: `Program::new` checked every jump and call target to lie inside the
        // program and ended `ops` with an `End` sentinel, so `pc` (a validated
        // target, a saved return address, or the slot after a non-`End` op) is in bounds.
        let op: &Op = unsafe { ops.get_unchecked(pc) };
        let here = pc;
        tracer.step(here, reg[..11].try_into().expect("eleven registers"));
        if COUNT {
            if remaining == 0 {
                return Err(Fault::BudgetExhausted {
                    pc: here,
                    budget: args.budget,
                });
            }
            remaining -= 1;
        }
        pc += 1;
        let d = op.dst;
        let s = op.src;
        let imm = op.imm;
        match op.kind {
            K::Add64I => r!(d) = alu64(AluOp::Add, r!(d), imm),
            K::Add64R => r!(d) = alu64(AluOp::Add, r!(d), r!(s)),
            K::Sub64I => r!(d) = alu64(AluOp::Sub, r!(d), imm),
            K::Sub64R => r!(d) = alu64(AluOp::Sub, r!(d), r!(s)),
            K::Mul64I => r!(d) = alu64(AluOp::Mul, r!(d), imm),
            K::Mul64R => r!(d) = alu64(AluOp::Mul, r!(d), r!(s)),
            K::Div64I => r!(d) = alu64(AluOp::Div, r!(d), imm),
            K::Div64R => r!(d) = alu64(AluOp::Div, r!(d), r!(s)),
            K::Sdiv64I => r!(d) = alu64(AluOp::Sdiv, r!(d), imm),
            K::Sdiv64R => r!(d) = alu64(AluOp::Sdiv, r!(d), r!(s)),
            K::Mod64I => r!(d) = alu64(AluOp::Mod, r!(d), imm),
            K::Mod64R => r!(d) = alu64(AluOp::Mod, r!(d), r!(s)),
            K::Smod64I => r!(d) = alu64(AluOp::Smod, r!(d), imm),
            K::Smod64R => r!(d) = alu64(AluOp::Smod, r!(d), r!(s)),
            K::Or64I => r!(d) = alu64(AluOp::Or, r!(d), imm),
            K::Or64R => r!(d) = alu64(AluOp::Or, r!(d), r!(s)),
            K::And64I => r!(d) = alu64(AluOp::And, r!(d), imm),
            K::And64R => r!(d) = alu64(AluOp::And, r!(d), r!(s)),
            K::Xor64I => r!(d) = alu64(AluOp::Xor, r!(d), imm),
            K::Xor64R => r!(d) = alu64(AluOp::Xor, r!(d), r!(s)),
            K::Lsh64I => r!(d) = alu64(AluOp::Lsh, r!(d), imm),
            K::Lsh64R => r!(d) = alu64(AluOp::Lsh, r!(d), r!(s)),
            K::Rsh64I => r!(d) = alu64(AluOp::Rsh, r!(d), imm),
            K::Rsh64R => r!(d) = alu64(AluOp::Rsh, r!(d), r!(s)),
            K::Arsh64I => r!(d) = alu64(AluOp::Arsh, r!(d), imm),
            K::Arsh64R => r!(d) = alu64(AluOp::Arsh, r!(d), r!(s)),
            K::Mov64I => r!(d) = imm,
            K::Mov64R => r!(d) = r!(s),
            K::Movsx8x64 => r!(d) = alu64(AluOp::Movsx8, 0, r!(s)),
            K::Movsx16x64 => r!(d) = alu64(AluOp::Movsx16, 0, r!(s)),
            K::Movsx32x64 => r!(d) = alu64(AluOp::Movsx32, 0, r!(s)),
            K::Neg64 => r!(d) = neg64(r!(d)),
            K::Add32I => r!(d) = alu32(AluOp::Add, r!(d), imm),
            K::Add32R => r!(d) = alu32(AluOp::Add, r!(d), r!(s)),
            K::Sub32I => r!(d) = alu32(AluOp::Sub, r!(d), imm),
            K::Sub32R => r!(d) = alu32(AluOp::Sub, r!(d), r!(s)),
            K::Mul32I => r!(d) = alu32(AluOp::Mul, r!(d), imm),
            K::Mul32R => r!(d) = alu32(AluOp::Mul, r!(d), r!(s)),
            K::Div32I => r!(d) = alu32(AluOp::Div, r!(d), imm),
            K::Div32R => r!(d) = alu32(AluOp::Div, r!(d), r!(s)),
            K::Sdiv32I => r!(d) = alu32(AluOp::Sdiv, r!(d), imm),
            K::Sdiv32R => r!(d) = alu32(AluOp::Sdiv, r!(d), r!(s)),
            K::Mod32I => r!(d) = alu32(AluOp::Mod, r!(d), imm),
            K::Mod32R => r!(d) = alu32(AluOp::Mod, r!(d), r!(s)),
            K::Smod32I => r!(d) = alu32(AluOp::Smod, r!(d), imm),
            K::Smod32R => r!(d) = alu32(AluOp::Smod, r!(d), r!(s)),
            K::Or32I => r!(d) = alu32(AluOp::Or, r!(d), imm),
            K::Or32R => r!(d) = alu32(AluOp::Or, r!(d), r!(s)),
            K::And32I => r!(d) = alu32(AluOp::And, r!(d), imm),
            K::And32R => r!(d) = alu32(AluOp::And, r!(d), r!(s)),
            K::Xor32I => r!(d) = alu32(AluOp::Xor, r!(d), imm),
            K::Xor32R => r!(d) = alu32(AluOp::Xor, r!(d), r!(s)),
            K::Lsh32I => r!(d) = alu32(AluOp::Lsh, r!(d), imm),
            K::Lsh32R => r!(d) = alu32(AluOp::Lsh, r!(d), r!(s)),
            K::Rsh32I => r!(d) = alu32(AluOp::Rsh, r!(d), imm),
            K::Rsh32R => r!(d) = alu32(AluOp::Rsh, r!(d), r!(s)),
            K::Arsh32I => r!(d) = alu32(AluOp::Arsh, r!(d), imm),
            K::Arsh32R => r!(d) = alu32(AluOp::Arsh, r!(d), r!(s)),
            K::Mov32I => r!(d) = imm as u32 as u64,
            K::Mov32R => r!(d) = r!(s) as u32 as u64,
            K::Movsx8x32 => r!(d) = alu32(AluOp::Movsx8, 0, r!(s)),
            K::Movsx16x32 => r!(d) = alu32(AluOp::Movsx16, 0, r!(s)),
            K::Neg32 => r!(d) = neg32(r!(d)),
            K::Le16 => r!(d) = byte_order(ByteOrder::Le, 16, r!(d)),
            K::Le32 => r!(d) = byte_order(ByteOrder::Le, 32, r!(d)),
            K::Le64 => r!(d) = byte_order(ByteOrder::Le, 64, r!(d)),
            K::Be16 => r!(d) = byte_order(ByteOrder::Be, 16, r!(d)),
            K::Be32 => r!(d) = byte_order(ByteOrder::Be, 32, r!(d)),
            K::Be64 => r!(d) = byte_order(ByteOrder::Be, 64, r!(d)),
            K::Swap16 => r!(d) = byte_order(ByteOrder::Swap, 16, r!(d)),
            K::Swap32 => r!(d) = byte_order(ByteOrder::Swap, 32, r!(d)),
            K::Swap64 => r!(d) = byte_order(ByteOrder::Swap, 64, r!(d)),
            K::Ja => jump!(true, op),
            K::Jeq64I => jump!(jump64(JmpCond::Eq, r!(d), imm), op),
            K::Jeq64R => jump!(jump64(JmpCond::Eq, r!(d), r!(s)), op),
            K::Jgt64I => jump!(jump64(JmpCond::Gt, r!(d), imm), op),
            K::Jgt64R => jump!(jump64(JmpCond::Gt, r!(d), r!(s)), op),
            K::Jge64I => jump!(jump64(JmpCond::Ge, r!(d), imm), op),
            K::Jge64R => jump!(jump64(JmpCond::Ge, r!(d), r!(s)), op),
            K::Jset64I => jump!(jump64(JmpCond::Set, r!(d), imm), op),
            K::Jset64R => jump!(jump64(JmpCond::Set, r!(d), r!(s)), op),
            K::Jne64I => jump!(jump64(JmpCond::Ne, r!(d), imm), op),
            K::Jne64R => jump!(jump64(JmpCond::Ne, r!(d), r!(s)), op),
            K::Jsgt64I => jump!(jump64(JmpCond::Sgt, r!(d), imm), op),
            K::Jsgt64R => jump!(jump64(JmpCond::Sgt, r!(d), r!(s)), op),
            K::Jsge64I => jump!(jump64(JmpCond::Sge, r!(d), imm), op),
            K::Jsge64R => jump!(jump64(JmpCond::Sge, r!(d), r!(s)), op),
            K::Jlt64I => jump!(jump64(JmpCond::Lt, r!(d), imm), op),
            K::Jlt64R => jump!(jump64(JmpCond::Lt, r!(d), r!(s)), op),
            K::Jle64I => jump!(jump64(JmpCond::Le, r!(d), imm), op),
            K::Jle64R => jump!(jump64(JmpCond::Le, r!(d), r!(s)), op),
            K::Jslt64I => jump!(jump64(JmpCond::Slt, r!(d), imm), op),
            K::Jslt64R => jump!(jump64(JmpCond::Slt, r!(d), r!(s)), op),
            K::Jsle64I => jump!(jump64(JmpCond::Sle, r!(d), imm), op),
            K::Jsle64R => jump!(jump64(JmpCond::Sle, r!(d), r!(s)), op),
            K::Jeq32I => jump!(jump32(JmpCond::Eq, r!(d), imm), op),
            K::Jeq32R => jump!(jump32(JmpCond::Eq, r!(d), r!(s)), op),
            K::Jgt32I => jump!(jump32(JmpCond::Gt, r!(d), imm), op),
            K::Jgt32R => jump!(jump32(JmpCond::Gt, r!(d), r!(s)), op),
            K::Jge32I => jump!(jump32(JmpCond::Ge, r!(d), imm), op),
            K::Jge32R => jump!(jump32(JmpCond::Ge, r!(d), r!(s)), op),
            K::Jset32I => jump!(jump32(JmpCond::Set, r!(d), imm), op),
            K::Jset32R => jump!(jump32(JmpCond::Set, r!(d), r!(s)), op),
            K::Jne32I => jump!(jump32(JmpCond::Ne, r!(d), imm), op),
            K::Jne32R => jump!(jump32(JmpCond::Ne, r!(d), r!(s)), op),
            K::Jsgt32I => jump!(jump32(JmpCond::Sgt, r!(d), imm), op),
            K::Jsgt32R => jump!(jump32(JmpCond::Sgt, r!(d), r!(s)), op),
            K::Jsge32I => jump!(jump32(JmpCond::Sge, r!(d), imm), op),
            K::Jsge32R => jump!(jump32(JmpCond::Sge, r!(d), r!(s)), op),
            K::Jlt32I => jump!(jump32(JmpCond::Lt, r!(d), imm), op),
            K::Jlt32R => jump!(jump32(JmpCond::Lt, r!(d), r!(s)), op),
            K::Jle32I => jump!(jump32(JmpCond::Le, r!(d), imm), op),
            K::Jle32R => jump!(jump32(JmpCond::Le, r!(d), r!(s)), op),
            K::Jslt32I => jump!(jump32(JmpCond::Slt, r!(d), imm), op),
            K::Jslt32R => jump!(jump32(JmpCond::Slt, r!(d), r!(s)), op),
            K::Jsle32I => jump!(jump32(JmpCond::Sle, r!(d), imm), op),
            K::Jsle32R => jump!(jump32(JmpCond::Sle, r!(d), r!(s)), op),
            K::LdxB => r!(d) = load!(u8, op, here) as u64,
            K::LdxH => r!(d) = load!(u16, op, here) as u64,
            K::LdxW => r!(d) = load!(u32, op, here) as u64,
            K::LdxDW => r!(d) = load!(u64, op, here),
            K::LdxsB => r!(d) = load!(i8, op, here) as i64 as u64,
            K::LdxsH => r!(d) = load!(i16, op, here) as i64 as u64,
            K::LdxsW => r!(d) = load!(i32, op, here) as i64 as u64,
            K::StB => store!(u8, op, imm, here),
            K::StH => store!(u16, op, imm, here),
            K::StW => store!(u32, op, imm, here),
            K::StDW => store!(u64, op, imm, here),
            K::StxB => store!(u8, op, r!(s), here),
            K::StxH => store!(u16, op, r!(s), here),
            K::StxW => store!(u32, op, r!(s), here),
            K::StxDW => store!(u64, op, r!(s), here),
            K::Lddw => {
                r!(d) = imm;
                pc += 1;
            }
            K::Atomic32 | K::Atomic64 => atomic(&mut reg, op, map, here)?,
            K::LdAbsB | K::LdAbsH | K::LdAbsW | K::LdIndB | K::LdIndH | K::LdIndW => {
                match packet_load(&reg, op, args.packet) {
                    Some(v) => reg[0] = v,
                    None => {
                        // As in the kernel: an out-of-bounds packet load ends the program with 0.
                        reg[0] = 0;
                        tracer.finish(reg[..11].try_into().expect("eleven registers"));
                        return Ok((0, args.budget - remaining));
                    }
                }
            }
            K::CallHelper => {
                let (id, f) = &prog.helper_table[imm as usize];
                let site = CallSite {
                    prog,
                    map,
                    packet: args.packet,
                    fp: reg[10],
                    frames_used: args.base_depth + depth + 1,
                    budget: remaining,
                    pc: here,
                };
                let (r0, used) = call_helper::<COUNT>(f, *id, &reg, &site, helper_message)?;
                reg[0] = r0;
                if COUNT {
                    remaining -= used;
                }
            }
            K::Callx => {
                let value = r!(d);
                let f = u32::try_from(value)
                    .ok()
                    .and_then(|id| prog.helpers.get(id))
                    .ok_or(Fault::BadCallx { pc: here, value })?;
                let site = CallSite {
                    prog,
                    map,
                    packet: args.packet,
                    fp: reg[10],
                    frames_used: args.base_depth + depth + 1,
                    budget: remaining,
                    pc: here,
                };
                let (r0, used) =
                    call_helper::<COUNT>(f, value as u32, &reg, &site, helper_message)?;
                reg[0] = r0;
                if COUNT {
                    remaining -= used;
                }
            }
            K::CallLocal => {
                if args.base_depth + depth + 1 >= MAX_FRAMES {
                    return Err(Fault::CallDepth {
                        pc: here,
                        max: MAX_FRAMES,
                    });
                }
                frames[depth] = Frame {
                    ret: pc,
                    saved: [reg[6], reg[7], reg[8], reg[9]],
                    fp: reg[10],
                };
                depth += 1;
                reg[10] = reg[10].wrapping_sub(STACK_FRAME as u64);
                pc = (pc as i64 + op.off as i64) as usize;
            }
            K::Exit => {
                if depth == 0 {
                    tracer.finish(reg[..11].try_into().expect("eleven registers"));
                    return Ok((reg[0], args.budget - remaining));
                }
                depth -= 1;
                let f = frames[depth];
                reg[6..10].copy_from_slice(&f.saved);
                reg[10] = f.fp;
                pc = f.ret;
            }
            K::LddwHi => {
                return Err(Fault::JumpIntoLddw {
                    index: here - 1,
                    target: here,
                })
            }
            K::End => return Err(Fault::FellOffEnd { pc: here }),
        }
    }
}

/// Where a helper is called from: what a callback into the program needs.
struct CallSite<'a> {
    prog: &'a Program,
    map: &'a MemoryMap,
    packet: (u64, u64),
    /// The caller's frame pointer; callbacks run in frames below it.
    fp: u64,
    frames_used: usize,
    /// Instructions left to the run (counted runs only).
    budget: u64,
    pc: usize,
}

/// Runs a helper with r1..r5; returns r0 and the instructions its callbacks
/// executed. Its error message goes to `message`.
///
/// Kept out of the interpreter loop (and building the callback closure here)
/// so that the loop's registers stay in registers.
#[inline(never)]
fn call_helper<const COUNT: bool>(
    f: &HelperFn,
    id: u32,
    reg: &[u64; 16],
    site: &CallSite<'_>,
    message: &mut String,
) -> Result<(u64, u64), Fault> {
    let mut remaining = site.budget;
    let mut callback = |addr: u64, a: [u64; 5]| {
        run_callback::<COUNT>(
            site.prog,
            site.map,
            site.packet,
            site.fp,
            site.frames_used,
            &mut remaining,
            addr,
            a,
        )
    };
    let mut ctx = HelperContext {
        memory: MemoryView { map: site.map },
        callback: &mut callback,
    };
    let r0 = f(&mut ctx, [reg[1], reg[2], reg[3], reg[4], reg[5]]).map_err(|m| {
        *message = m;
        Fault::Helper { pc: site.pc, id }
    })?;
    Ok((r0, site.budget - remaining))
}

/// Runs the function at code address `addr` (for a helper such as `bpf_loop`)
/// in a new frame below `fp`, with r1..r5 = `a`; returns its r0.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn run_callback<const COUNT: bool>(
    prog: &Program,
    map: &MemoryMap,
    packet: (u64, u64),
    fp: u64,
    frames_used: usize,
    remaining: &mut u64,
    addr: u64,
    a: [u64; 5],
) -> Result<u64, String> {
    let target = addr.wrapping_sub(CODE_BASE) as usize;
    if addr < CODE_BASE || prog.insn(target).is_none() {
        return Err(format!("{addr:#x} is not the address of a function"));
    }
    if frames_used >= MAX_FRAMES {
        return Err(format!("a callback would exceed {MAX_FRAMES} frames"));
    }
    let mut message = String::new();
    let sub = RunArgs {
        regs: a,
        map,
        packet,
        stack_top: fp.wrapping_sub(STACK_FRAME as u64),
        budget: *remaining,
        start_pc: target,
        base_depth: frames_used,
    };
    match execute::<NoTrace, COUNT>(prog, sub, &mut NoTrace, &mut message) {
        Ok((r0, used)) => {
            if COUNT {
                *remaining -= used;
            }
            Ok(r0)
        }
        Err(fault) => Err(format!("in callback: {}", fault.into_error(map, message))),
    }
}

/// An atomic read-modify-write (kept out of the loop: it is rare and large).
#[inline(never)]
fn atomic(reg: &mut [u64; 16], op: &Op, map: &MemoryMap, pc: usize) -> Result<(), Fault> {
    let (d, s) = (op.dst as usize & 15, op.src as usize & 15);
    let wide = op.kind == K::Atomic64;
    let addr = reg[d].wrapping_add(op.off as i64 as u64);
    let len = if wide { 8 } else { 4 };
    let p = map.translate(addr, len, true).ok_or(Fault::OutOfBounds {
        pc,
        addr,
        len: len as usize,
        kind: "atomic",
    })?;
    if addr % len != 0 {
        return Err(Fault::MisalignedAtomic {
            pc,
            addr,
            len: len as usize,
        });
    }
    let aop = atomic_op(op.imm);
    let (old, fetch_to) = if wide {
        // SAFETY: p is 8-byte aligned and inside a live writable region.
        let a = unsafe { AtomicU64::from_ptr(p as *mut u64) };
        atomic64(a, aop, reg[s], reg[0])
    } else {
        // SAFETY: p is 4-byte aligned and inside a live writable region.
        let a = unsafe { AtomicU32::from_ptr(p as *mut u32) };
        let (old, to) = atomic32(a, aop, reg[s] as u32, reg[0] as u32);
        (old as u64, to)
    };
    match fetch_to {
        Some(0) => reg[0] = old,
        Some(_) => reg[s] = old,
        None => {}
    }
    Ok(())
}

/// A legacy ld_abs/ld_ind: the big-endian value, or `None` when the bytes lie
/// outside the packet.
#[inline(never)]
fn packet_load(reg: &[u64; 16], op: &Op, (pkt, pkt_len): (u64, u64)) -> Option<u64> {
    let (len, ind) = match op.kind {
        K::LdAbsB => (1, false),
        K::LdAbsH => (2, false),
        K::LdAbsW => (4, false),
        K::LdIndB => (1, true),
        K::LdIndH => (2, true),
        _ => (4, true),
    };
    let base = if ind {
        reg[op.src as usize & 15] as u32 as i64
    } else {
        0
    };
    let off = base.wrapping_add(op.imm as i64);
    if off < 0 || off as u64 + len > pkt_len {
        return None;
    }
    // SAFETY: the packet is the run's first region, lent for the whole run,
    // and the `len` bytes at `off` lie inside it (checked just above).
    let bytes =
        unsafe { std::slice::from_raw_parts((pkt + off as u64) as *const u8, len as usize) };
    Some(bytes.iter().fold(0, |v, &b| v << 8 | b as u64))
}

/// Defines `$name(atomic, op, src, r0)`: applies the operation and returns the
/// old value and which register receives it (`Some(0)` for r0, `Some(1)` for
/// the source register, `None` without fetch).
macro_rules! atomic_fn {
    ($name:ident, $atomic:ty, $word:ty) => {
        fn $name(a: &$atomic, op: AtomicOp, src: $word, r0: $word) -> ($word, Option<u8>) {
            let o = Ordering::SeqCst;
            match op {
                AtomicOp::Add { fetch } => (a.fetch_add(src, o), fetch.then_some(1)),
                AtomicOp::Or { fetch } => (a.fetch_or(src, o), fetch.then_some(1)),
                AtomicOp::And { fetch } => (a.fetch_and(src, o), fetch.then_some(1)),
                AtomicOp::Xor { fetch } => (a.fetch_xor(src, o), fetch.then_some(1)),
                AtomicOp::Xchg => (a.swap(src, o), Some(1)),
                AtomicOp::Cmpxchg => {
                    let old = match a.compare_exchange(r0, src, o, o) {
                        Ok(v) | Err(v) => v,
                    };
                    (old, Some(0))
                }
            }
        }
    };
}

atomic_fn!(atomic64, AtomicU64, u64);
atomic_fn!(atomic32, AtomicU32, u32);
