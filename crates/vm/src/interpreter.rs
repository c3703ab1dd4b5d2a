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
    /// Whether [`Tracer::step`] does anything. An inactive tracer lets the
    /// loop run fused instruction pairs as one.
    const ACTIVE: bool = true;
    /// Called before the instruction at `pc` runs, with the registers at that point.
    fn step(&mut self, pc: usize, regs: &[u64; 11]);
    /// Called once when the program exits, with the final registers.
    fn finish(&mut self, regs: &[u64; 11]);
}

/// A tracer that does nothing: the fast path, in which the loop may run
/// adjacent instructions fused. Pass this rather than a tracer of your own
/// whose methods do nothing (an own tracer is [`Tracer::ACTIVE`] by default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTrace;

impl Tracer for NoTrace {
    const ACTIVE: bool = false;
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

/// Runs `prog`; returns r0 and the number of instructions executed. Without
/// `CHECKED`, loads and stores go straight to their addresses: only for
/// programs a verifier proved to stay inside the memory they are given.
#[inline(always)]
pub(crate) fn execute<T: Tracer, const COUNT: bool, const CHECKED: bool>(
    prog: &Program,
    args: RunArgs<'_>,
    tracer: &mut T,
    helper_message: &mut String,
) -> Result<(u64, u64), Fault> {
    let ops = &prog.ops[..];
    let map = args.map;
    // Sixteen entries so `& 15` indexing needs no bounds check; r11..r15 are never named.
    // The registers live where a store to them cannot be mistaken for the
    // op loads of the program's first 248 slots: a load whose address matches
    // a recent store's in the low 12 bits waits for it. They go 128 bytes
    // below the ops, modulo 4 KiB, inside a 4 KiB + 128 window of this frame.
    let mut window = [const { std::mem::MaybeUninit::<u64>::uninit() }; 512 + 16];
    let want = (ops.as_ptr() as usize).wrapping_sub(128) & 4095;
    let have = window.as_ptr() as usize & 4095;
    let at = (want.wrapping_sub(have) & 4095) / 8;
    let slots = &mut window[at..at + 16];
    for slot in slots.iter_mut() {
        slot.write(0);
    }
    // SAFETY: the sixteen slots were just initialised, and `MaybeUninit<u64>`
    // has the layout of `u64`.
    let reg: &mut [u64; 16] = unsafe { &mut *(slots.as_mut_ptr() as *mut [u64; 16]) };
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
    macro_rules! load_at {
        ($ty:ty, $addr:expr, $pc:expr) => {{
            let addr: u64 = $addr;
            let size = std::mem::size_of::<$ty>();
            let p = if CHECKED {
                map.translate(addr, size as u64, false)
            } else {
                Some(addr as *mut u8)
            };
            match p {
                // SAFETY: `translate` checked that the bytes lie in a live region,
                // or (unchecked) the verifier proved it.
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
    macro_rules! load {
        ($ty:ty, $op:expr, $pc:expr) => {
            load_at!($ty, r!($op.src).wrapping_add($op.off as i64 as u64), $pc)
        };
    }
    macro_rules! store_at {
        ($ty:ty, $addr:expr, $val:expr, $pc:expr) => {{
            let addr: u64 = $addr;
            let size = std::mem::size_of::<$ty>();
            let value = $val as $ty;
            let p = if CHECKED {
                map.translate(addr, size as u64, true)
            } else {
                Some(addr as *mut u8)
            };
            match p {
                // SAFETY: `translate` checked that the bytes lie in a live writable
                // region, or (unchecked) the verifier proved it.
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
    macro_rules! store {
        ($ty:ty, $op:expr, $val:expr, $pc:expr) => {{
            let value = $val;
            store_at!(
                $ty,
                r!($op.dst).wrapping_add($op.off as i64 as u64),
                value,
                $pc
            )
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

    // A fused jump over `mov dst, imm`: when the jump is not taken the mov
    // runs; either way the next slot is the one after the mov. Branch-free.
    macro_rules! skip_mov {
        ($cond:expr, $op:expr) => {{
            if T::ACTIVE {
                jump!($cond, $op)
            } else {
                let taken = $cond;
                // A counted run charges the mov only when it runs, and leaves
                // it to its own dispatch (which stops the run) when the budget
                // has nothing left for it.
                if !(COUNT && !taken && remaining == 0) {
                    if COUNT {
                        remaining -= !taken as u64;
                    }
                    // SAFETY: `fuse` only marks a jump followed by a mov slot.
                    let next: &Op = unsafe { ops.get_unchecked(pc) };
                    let keep = r!(next.dst);
                    r!(next.dst) = if taken { keep } else { next.imm };
                    pc += 1;
                }
            }
        }};
    }

    // A fused pair (or, with `extra = 2`, triple): the first op alone when
    // tracing, or when a counted run's budget cannot pay for the rest (the
    // next op's dispatch then stops the run where an unfused run stops);
    // otherwise the whole group's effect (`$second`, given the next op), then
    // the slot after the pair.
    macro_rules! fused {
        ($first:expr, |$n:ident| $second:expr) => {
            fused!(extra = 1; $first, |$n| $second)
        };
        (extra = $extra:expr; $first:expr, |$n:ident| $second:expr) => {{
            if T::ACTIVE || (COUNT && remaining < $extra) {
                $first;
            } else {
                if COUNT {
                    remaining -= $extra;
                }
                // SAFETY: `fuse` only marks an op whose next slot holds the pair's second op.
                let $n: Op = *unsafe { ops.get_unchecked(pc) };
                pc += 1;
                $second;
            }
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
        // `d += s`, then the next slot's load based on `d`.
        macro_rules! add_load {
            ($ty:ty) => {
                fused!(r!(d) = r!(d).wrapping_add(r!(s)), |n| {
                    let v = r!(d).wrapping_add(r!(s));
                    let x = load_at!($ty, v.wrapping_add(n.off as i64 as u64), here + 1);
                    r!(d) = v;
                    r!(n.dst) = x as u64;
                })
            };
        }
        // `d += s`, then the next slot's store based on `d` of a register
        // other than `d`.
        macro_rules! add_store {
            ($ty:ty) => {
                fused!(r!(d) = r!(d).wrapping_add(r!(s)), |n| {
                    let v = r!(d).wrapping_add(r!(s));
                    let x = r!(n.src);
                    r!(d) = v;
                    store_at!($ty, v.wrapping_add(n.off as i64 as u64), x, here + 1);
                })
            };
        }
        // `d = s; d += z`, then a load at `d + off` (three slots).
        macro_rules! mov_add_load {
            ($ty:ty) => {
                fused!(extra = 2; r!(d) = r!(s), |n| {
                    // SAFETY: `fuse` marks this kind only two slots before another op.
                    let m: Op = *unsafe { ops.get_unchecked(pc) };
                    pc += 1;
                    let v = r!(s).wrapping_add(r!(n.src));
                    let x = load_at!($ty, v.wrapping_add(m.off as i64 as u64), here + 2);
                    r!(d) = v;
                    r!(m.dst) = x as u64;
                })
            };
        }
        // `d = s; d += z`, then a store at `d + off` of a register other than `d`.
        macro_rules! mov_add_store {
            ($ty:ty) => {
                fused!(extra = 2; r!(d) = r!(s), |n| {
                    // SAFETY: `fuse` marks this kind only two slots before another op.
                    let m: Op = *unsafe { ops.get_unchecked(pc) };
                    pc += 1;
                    let v = r!(s).wrapping_add(r!(n.src));
                    let x = r!(m.src);
                    r!(d) = v;
                    store_at!($ty, v.wrapping_add(m.off as i64 as u64), x, here + 2);
                })
            };
        }
        // `mov d, imm`, then the next slot's conditional jump, which
        // (`fuse` guarantees) does not read `d`: the jump is decided first.
        macro_rules! mov_jump {
            ($jump:ident, $cond:expr, |$n:ident| $rhs:expr) => {
                fused!(r!(d) = imm, |$n| {
                    let taken = $jump($cond, r!($n.dst), $rhs);
                    r!(d) = imm;
                    jump!(taken, $n)
                })
            };
        }
        // A load into `d`, then the next slot's conditional jump on `d`
        // (whose other operand, `fuse` guarantees, is not `d`).
        macro_rules! load_jump {
            ($ty:ty, $jump:ident, $cond:expr, |$n:ident| $rhs:expr) => {
                fused!(r!(d) = load!($ty, op, here) as u64, |$n| {
                    let rhs = $rhs;
                    let v = load!($ty, op, here) as u64;
                    r!(d) = v;
                    jump!($jump($cond, v, rhs), $n)
                })
            };
        }
        // `d += imm`, then the next slot's conditional jump on `d`.
        macro_rules! add_jump {
            ($alu:ident, $jump:ident, $cond:expr, |$n:ident| $rhs:expr) => {
                fused!(r!(d) = $alu(AluOp::Add, r!(d), imm), |$n| {
                    let rhs = $rhs;
                    let v = $alu(AluOp::Add, r!(d), imm);
                    r!(d) = v;
                    jump!($jump($cond, v, rhs), $n)
                })
            };
        }
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
            K::Atomic32 | K::Atomic64 => atomic::<CHECKED>(reg, op, map, here)?,
            K::LdAbsB | K::LdAbsH | K::LdAbsW | K::LdIndB | K::LdIndH | K::LdIndW => {
                match packet_load(reg, op, args.packet) {
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
                let (r0, used) = call_helper::<COUNT, CHECKED>(f, *id, reg, &site, helper_message)?;
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
                    call_helper::<COUNT, CHECKED>(f, value as u32, reg, &site, helper_message)?;
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
            K::Jeq64IS => skip_mov!(jump64(JmpCond::Eq, r!(d), imm), op),
            K::Jeq64RS => skip_mov!(jump64(JmpCond::Eq, r!(d), r!(s)), op),
            K::Jgt64IS => skip_mov!(jump64(JmpCond::Gt, r!(d), imm), op),
            K::Jgt64RS => skip_mov!(jump64(JmpCond::Gt, r!(d), r!(s)), op),
            K::Jge64IS => skip_mov!(jump64(JmpCond::Ge, r!(d), imm), op),
            K::Jge64RS => skip_mov!(jump64(JmpCond::Ge, r!(d), r!(s)), op),
            K::Jset64IS => skip_mov!(jump64(JmpCond::Set, r!(d), imm), op),
            K::Jset64RS => skip_mov!(jump64(JmpCond::Set, r!(d), r!(s)), op),
            K::Jne64IS => skip_mov!(jump64(JmpCond::Ne, r!(d), imm), op),
            K::Jne64RS => skip_mov!(jump64(JmpCond::Ne, r!(d), r!(s)), op),
            K::Jsgt64IS => skip_mov!(jump64(JmpCond::Sgt, r!(d), imm), op),
            K::Jsgt64RS => skip_mov!(jump64(JmpCond::Sgt, r!(d), r!(s)), op),
            K::Jsge64IS => skip_mov!(jump64(JmpCond::Sge, r!(d), imm), op),
            K::Jsge64RS => skip_mov!(jump64(JmpCond::Sge, r!(d), r!(s)), op),
            K::Jlt64IS => skip_mov!(jump64(JmpCond::Lt, r!(d), imm), op),
            K::Jlt64RS => skip_mov!(jump64(JmpCond::Lt, r!(d), r!(s)), op),
            K::Jle64IS => skip_mov!(jump64(JmpCond::Le, r!(d), imm), op),
            K::Jle64RS => skip_mov!(jump64(JmpCond::Le, r!(d), r!(s)), op),
            K::Jslt64IS => skip_mov!(jump64(JmpCond::Slt, r!(d), imm), op),
            K::Jslt64RS => skip_mov!(jump64(JmpCond::Slt, r!(d), r!(s)), op),
            K::Jsle64IS => skip_mov!(jump64(JmpCond::Sle, r!(d), imm), op),
            K::Jsle64RS => skip_mov!(jump64(JmpCond::Sle, r!(d), r!(s)), op),
            K::Jeq32IS => skip_mov!(jump32(JmpCond::Eq, r!(d), imm), op),
            K::Jeq32RS => skip_mov!(jump32(JmpCond::Eq, r!(d), r!(s)), op),
            K::Jgt32IS => skip_mov!(jump32(JmpCond::Gt, r!(d), imm), op),
            K::Jgt32RS => skip_mov!(jump32(JmpCond::Gt, r!(d), r!(s)), op),
            K::Jge32IS => skip_mov!(jump32(JmpCond::Ge, r!(d), imm), op),
            K::Jge32RS => skip_mov!(jump32(JmpCond::Ge, r!(d), r!(s)), op),
            K::Jset32IS => skip_mov!(jump32(JmpCond::Set, r!(d), imm), op),
            K::Jset32RS => skip_mov!(jump32(JmpCond::Set, r!(d), r!(s)), op),
            K::Jne32IS => skip_mov!(jump32(JmpCond::Ne, r!(d), imm), op),
            K::Jne32RS => skip_mov!(jump32(JmpCond::Ne, r!(d), r!(s)), op),
            K::Jsgt32IS => skip_mov!(jump32(JmpCond::Sgt, r!(d), imm), op),
            K::Jsgt32RS => skip_mov!(jump32(JmpCond::Sgt, r!(d), r!(s)), op),
            K::Jsge32IS => skip_mov!(jump32(JmpCond::Sge, r!(d), imm), op),
            K::Jsge32RS => skip_mov!(jump32(JmpCond::Sge, r!(d), r!(s)), op),
            K::Jlt32IS => skip_mov!(jump32(JmpCond::Lt, r!(d), imm), op),
            K::Jlt32RS => skip_mov!(jump32(JmpCond::Lt, r!(d), r!(s)), op),
            K::Jle32IS => skip_mov!(jump32(JmpCond::Le, r!(d), imm), op),
            K::Jle32RS => skip_mov!(jump32(JmpCond::Le, r!(d), r!(s)), op),
            K::Jslt32IS => skip_mov!(jump32(JmpCond::Slt, r!(d), imm), op),
            K::Jslt32RS => skip_mov!(jump32(JmpCond::Slt, r!(d), r!(s)), op),
            K::Jsle32IS => skip_mov!(jump32(JmpCond::Sle, r!(d), imm), op),
            K::Jsle32RS => skip_mov!(jump32(JmpCond::Sle, r!(d), r!(s)), op),
            K::MovJeq64I => mov_jump!(jump64, JmpCond::Eq, |n| n.imm),
            K::MovJeq64R => mov_jump!(jump64, JmpCond::Eq, |n| r!(n.src)),
            K::MovJgt64I => mov_jump!(jump64, JmpCond::Gt, |n| n.imm),
            K::MovJgt64R => mov_jump!(jump64, JmpCond::Gt, |n| r!(n.src)),
            K::MovJge64I => mov_jump!(jump64, JmpCond::Ge, |n| n.imm),
            K::MovJge64R => mov_jump!(jump64, JmpCond::Ge, |n| r!(n.src)),
            K::MovJset64I => mov_jump!(jump64, JmpCond::Set, |n| n.imm),
            K::MovJset64R => mov_jump!(jump64, JmpCond::Set, |n| r!(n.src)),
            K::MovJne64I => mov_jump!(jump64, JmpCond::Ne, |n| n.imm),
            K::MovJne64R => mov_jump!(jump64, JmpCond::Ne, |n| r!(n.src)),
            K::MovJsgt64I => mov_jump!(jump64, JmpCond::Sgt, |n| n.imm),
            K::MovJsgt64R => mov_jump!(jump64, JmpCond::Sgt, |n| r!(n.src)),
            K::MovJsge64I => mov_jump!(jump64, JmpCond::Sge, |n| n.imm),
            K::MovJsge64R => mov_jump!(jump64, JmpCond::Sge, |n| r!(n.src)),
            K::MovJlt64I => mov_jump!(jump64, JmpCond::Lt, |n| n.imm),
            K::MovJlt64R => mov_jump!(jump64, JmpCond::Lt, |n| r!(n.src)),
            K::MovJle64I => mov_jump!(jump64, JmpCond::Le, |n| n.imm),
            K::MovJle64R => mov_jump!(jump64, JmpCond::Le, |n| r!(n.src)),
            K::MovJslt64I => mov_jump!(jump64, JmpCond::Slt, |n| n.imm),
            K::MovJslt64R => mov_jump!(jump64, JmpCond::Slt, |n| r!(n.src)),
            K::MovJsle64I => mov_jump!(jump64, JmpCond::Sle, |n| n.imm),
            K::MovJsle64R => mov_jump!(jump64, JmpCond::Sle, |n| r!(n.src)),
            K::MovJeq32I => mov_jump!(jump32, JmpCond::Eq, |n| n.imm),
            K::MovJeq32R => mov_jump!(jump32, JmpCond::Eq, |n| r!(n.src)),
            K::MovJgt32I => mov_jump!(jump32, JmpCond::Gt, |n| n.imm),
            K::MovJgt32R => mov_jump!(jump32, JmpCond::Gt, |n| r!(n.src)),
            K::MovJge32I => mov_jump!(jump32, JmpCond::Ge, |n| n.imm),
            K::MovJge32R => mov_jump!(jump32, JmpCond::Ge, |n| r!(n.src)),
            K::MovJset32I => mov_jump!(jump32, JmpCond::Set, |n| n.imm),
            K::MovJset32R => mov_jump!(jump32, JmpCond::Set, |n| r!(n.src)),
            K::MovJne32I => mov_jump!(jump32, JmpCond::Ne, |n| n.imm),
            K::MovJne32R => mov_jump!(jump32, JmpCond::Ne, |n| r!(n.src)),
            K::MovJsgt32I => mov_jump!(jump32, JmpCond::Sgt, |n| n.imm),
            K::MovJsgt32R => mov_jump!(jump32, JmpCond::Sgt, |n| r!(n.src)),
            K::MovJsge32I => mov_jump!(jump32, JmpCond::Sge, |n| n.imm),
            K::MovJsge32R => mov_jump!(jump32, JmpCond::Sge, |n| r!(n.src)),
            K::MovJlt32I => mov_jump!(jump32, JmpCond::Lt, |n| n.imm),
            K::MovJlt32R => mov_jump!(jump32, JmpCond::Lt, |n| r!(n.src)),
            K::MovJle32I => mov_jump!(jump32, JmpCond::Le, |n| n.imm),
            K::MovJle32R => mov_jump!(jump32, JmpCond::Le, |n| r!(n.src)),
            K::MovJslt32I => mov_jump!(jump32, JmpCond::Slt, |n| n.imm),
            K::MovJslt32R => mov_jump!(jump32, JmpCond::Slt, |n| r!(n.src)),
            K::MovJsle32I => mov_jump!(jump32, JmpCond::Sle, |n| n.imm),
            K::MovJsle32R => mov_jump!(jump32, JmpCond::Sle, |n| r!(n.src)),
            K::LdxBJeq64I => load_jump!(u8, jump64, JmpCond::Eq, |n| n.imm),
            K::LdxBJeq64R => load_jump!(u8, jump64, JmpCond::Eq, |n| r!(n.src)),
            K::LdxBJne64I => load_jump!(u8, jump64, JmpCond::Ne, |n| n.imm),
            K::LdxBJne64R => load_jump!(u8, jump64, JmpCond::Ne, |n| r!(n.src)),
            K::LdxBJgt64I => load_jump!(u8, jump64, JmpCond::Gt, |n| n.imm),
            K::LdxBJgt64R => load_jump!(u8, jump64, JmpCond::Gt, |n| r!(n.src)),
            K::LdxBJge64I => load_jump!(u8, jump64, JmpCond::Ge, |n| n.imm),
            K::LdxBJge64R => load_jump!(u8, jump64, JmpCond::Ge, |n| r!(n.src)),
            K::LdxBJlt64I => load_jump!(u8, jump64, JmpCond::Lt, |n| n.imm),
            K::LdxBJlt64R => load_jump!(u8, jump64, JmpCond::Lt, |n| r!(n.src)),
            K::LdxBJle64I => load_jump!(u8, jump64, JmpCond::Le, |n| n.imm),
            K::LdxBJle64R => load_jump!(u8, jump64, JmpCond::Le, |n| r!(n.src)),
            K::LdxBJeq32I => load_jump!(u8, jump32, JmpCond::Eq, |n| n.imm),
            K::LdxBJeq32R => load_jump!(u8, jump32, JmpCond::Eq, |n| r!(n.src)),
            K::LdxBJne32I => load_jump!(u8, jump32, JmpCond::Ne, |n| n.imm),
            K::LdxBJne32R => load_jump!(u8, jump32, JmpCond::Ne, |n| r!(n.src)),
            K::LdxBJgt32I => load_jump!(u8, jump32, JmpCond::Gt, |n| n.imm),
            K::LdxBJgt32R => load_jump!(u8, jump32, JmpCond::Gt, |n| r!(n.src)),
            K::LdxBJge32I => load_jump!(u8, jump32, JmpCond::Ge, |n| n.imm),
            K::LdxBJge32R => load_jump!(u8, jump32, JmpCond::Ge, |n| r!(n.src)),
            K::LdxBJlt32I => load_jump!(u8, jump32, JmpCond::Lt, |n| n.imm),
            K::LdxBJlt32R => load_jump!(u8, jump32, JmpCond::Lt, |n| r!(n.src)),
            K::LdxBJle32I => load_jump!(u8, jump32, JmpCond::Le, |n| n.imm),
            K::LdxBJle32R => load_jump!(u8, jump32, JmpCond::Le, |n| r!(n.src)),
            K::LdxHJeq64I => load_jump!(u16, jump64, JmpCond::Eq, |n| n.imm),
            K::LdxHJeq64R => load_jump!(u16, jump64, JmpCond::Eq, |n| r!(n.src)),
            K::LdxHJne64I => load_jump!(u16, jump64, JmpCond::Ne, |n| n.imm),
            K::LdxHJne64R => load_jump!(u16, jump64, JmpCond::Ne, |n| r!(n.src)),
            K::LdxHJeq32I => load_jump!(u16, jump32, JmpCond::Eq, |n| n.imm),
            K::LdxHJeq32R => load_jump!(u16, jump32, JmpCond::Eq, |n| r!(n.src)),
            K::LdxHJne32I => load_jump!(u16, jump32, JmpCond::Ne, |n| n.imm),
            K::LdxHJne32R => load_jump!(u16, jump32, JmpCond::Ne, |n| r!(n.src)),
            K::LdxWJeq64I => load_jump!(u32, jump64, JmpCond::Eq, |n| n.imm),
            K::LdxWJeq64R => load_jump!(u32, jump64, JmpCond::Eq, |n| r!(n.src)),
            K::LdxWJne64I => load_jump!(u32, jump64, JmpCond::Ne, |n| n.imm),
            K::LdxWJne64R => load_jump!(u32, jump64, JmpCond::Ne, |n| r!(n.src)),
            K::LdxWJgt64I => load_jump!(u32, jump64, JmpCond::Gt, |n| n.imm),
            K::LdxWJgt64R => load_jump!(u32, jump64, JmpCond::Gt, |n| r!(n.src)),
            K::LdxWJge64I => load_jump!(u32, jump64, JmpCond::Ge, |n| n.imm),
            K::LdxWJge64R => load_jump!(u32, jump64, JmpCond::Ge, |n| r!(n.src)),
            K::LdxWJlt64I => load_jump!(u32, jump64, JmpCond::Lt, |n| n.imm),
            K::LdxWJlt64R => load_jump!(u32, jump64, JmpCond::Lt, |n| r!(n.src)),
            K::LdxWJle64I => load_jump!(u32, jump64, JmpCond::Le, |n| n.imm),
            K::LdxWJle64R => load_jump!(u32, jump64, JmpCond::Le, |n| r!(n.src)),
            K::LdxWJeq32I => load_jump!(u32, jump32, JmpCond::Eq, |n| n.imm),
            K::LdxWJeq32R => load_jump!(u32, jump32, JmpCond::Eq, |n| r!(n.src)),
            K::LdxWJne32I => load_jump!(u32, jump32, JmpCond::Ne, |n| n.imm),
            K::LdxWJne32R => load_jump!(u32, jump32, JmpCond::Ne, |n| r!(n.src)),
            K::LdxWJgt32I => load_jump!(u32, jump32, JmpCond::Gt, |n| n.imm),
            K::LdxWJgt32R => load_jump!(u32, jump32, JmpCond::Gt, |n| r!(n.src)),
            K::LdxWJge32I => load_jump!(u32, jump32, JmpCond::Ge, |n| n.imm),
            K::LdxWJge32R => load_jump!(u32, jump32, JmpCond::Ge, |n| r!(n.src)),
            K::LdxWJlt32I => load_jump!(u32, jump32, JmpCond::Lt, |n| n.imm),
            K::LdxWJlt32R => load_jump!(u32, jump32, JmpCond::Lt, |n| r!(n.src)),
            K::LdxWJle32I => load_jump!(u32, jump32, JmpCond::Le, |n| n.imm),
            K::LdxWJle32R => load_jump!(u32, jump32, JmpCond::Le, |n| r!(n.src)),
            K::Add64IJeq64I => add_jump!(alu64, jump64, JmpCond::Eq, |n| n.imm),
            K::Add64IJeq64R => add_jump!(alu64, jump64, JmpCond::Eq, |n| r!(n.src)),
            K::Add64IJne64I => add_jump!(alu64, jump64, JmpCond::Ne, |n| n.imm),
            K::Add64IJne64R => add_jump!(alu64, jump64, JmpCond::Ne, |n| r!(n.src)),
            K::Add64IJgt64I => add_jump!(alu64, jump64, JmpCond::Gt, |n| n.imm),
            K::Add64IJgt64R => add_jump!(alu64, jump64, JmpCond::Gt, |n| r!(n.src)),
            K::Add64IJge64I => add_jump!(alu64, jump64, JmpCond::Ge, |n| n.imm),
            K::Add64IJge64R => add_jump!(alu64, jump64, JmpCond::Ge, |n| r!(n.src)),
            K::Add64IJlt64I => add_jump!(alu64, jump64, JmpCond::Lt, |n| n.imm),
            K::Add64IJlt64R => add_jump!(alu64, jump64, JmpCond::Lt, |n| r!(n.src)),
            K::Add64IJle64I => add_jump!(alu64, jump64, JmpCond::Le, |n| n.imm),
            K::Add64IJle64R => add_jump!(alu64, jump64, JmpCond::Le, |n| r!(n.src)),
            K::Add64IJsgt64I => add_jump!(alu64, jump64, JmpCond::Sgt, |n| n.imm),
            K::Add64IJsgt64R => add_jump!(alu64, jump64, JmpCond::Sgt, |n| r!(n.src)),
            K::Add64IJslt64I => add_jump!(alu64, jump64, JmpCond::Slt, |n| n.imm),
            K::Add64IJslt64R => add_jump!(alu64, jump64, JmpCond::Slt, |n| r!(n.src)),
            K::Add32IJeq32I => add_jump!(alu32, jump32, JmpCond::Eq, |n| n.imm),
            K::Add32IJeq32R => add_jump!(alu32, jump32, JmpCond::Eq, |n| r!(n.src)),
            K::Add32IJne32I => add_jump!(alu32, jump32, JmpCond::Ne, |n| n.imm),
            K::Add32IJne32R => add_jump!(alu32, jump32, JmpCond::Ne, |n| r!(n.src)),
            K::Add32IJgt32I => add_jump!(alu32, jump32, JmpCond::Gt, |n| n.imm),
            K::Add32IJgt32R => add_jump!(alu32, jump32, JmpCond::Gt, |n| r!(n.src)),
            K::Add32IJge32I => add_jump!(alu32, jump32, JmpCond::Ge, |n| n.imm),
            K::Add32IJge32R => add_jump!(alu32, jump32, JmpCond::Ge, |n| r!(n.src)),
            K::Add32IJlt32I => add_jump!(alu32, jump32, JmpCond::Lt, |n| n.imm),
            K::Add32IJlt32R => add_jump!(alu32, jump32, JmpCond::Lt, |n| r!(n.src)),
            K::Add32IJle32I => add_jump!(alu32, jump32, JmpCond::Le, |n| n.imm),
            K::Add32IJle32R => add_jump!(alu32, jump32, JmpCond::Le, |n| r!(n.src)),
            K::Add32IJsgt32I => add_jump!(alu32, jump32, JmpCond::Sgt, |n| n.imm),
            K::Add32IJsgt32R => add_jump!(alu32, jump32, JmpCond::Sgt, |n| r!(n.src)),
            K::Add32IJslt32I => add_jump!(alu32, jump32, JmpCond::Slt, |n| n.imm),
            K::Add32IJslt32R => add_jump!(alu32, jump32, JmpCond::Slt, |n| r!(n.src)),
            // The other fused pairs; the closure gives the pair's whole
            // effect. Mov pairs: the second op writes `d` and reads it at most
            // as its own dst.
            K::MovAdd64R => fused!(r!(d) = r!(s), |n| r!(d) = r!(s).wrapping_add(r!(n.src))),
            K::MovSub64R => fused!(r!(d) = r!(s), |n| r!(d) = r!(s).wrapping_sub(r!(n.src))),
            K::MovRsh64R => fused!(r!(d) = r!(s), |n| r!(d) =
                alu64(AluOp::Rsh, r!(s), r!(n.src))),
            K::MovAdd64I => fused!(r!(d) = r!(s), |n| r!(d) = r!(s).wrapping_add(n.imm)),
            K::MovLsh64I => fused!(r!(d) = r!(s), |n| r!(d) = alu64(AluOp::Lsh, r!(s), n.imm)),
            K::MovRsh64I => fused!(r!(d) = r!(s), |n| r!(d) = alu64(AluOp::Rsh, r!(s), n.imm)),
            K::MovAnd64I => fused!(r!(d) = r!(s), |n| r!(d) = r!(s) & n.imm),
            K::MovAnd32I => fused!(r!(d) = r!(s) as u32 as u64, |n| {
                r!(d) = alu32(AluOp::And, r!(s), n.imm)
            }),
            K::MovMod32R => fused!(r!(d) = r!(s) as u32 as u64, |n| {
                r!(d) = alu32(AluOp::Mod, r!(s), r!(n.src))
            }),
            // `w_d = w_s; w_d *= w_d`.
            K::MovMul32R => fused!(r!(d) = r!(s) as u32 as u64, |_n| {
                r!(d) = alu32(AluOp::Mul, r!(s), r!(s))
            }),
            // The second op's source is not `d`.
            K::MovMov64R => fused!(r!(d) = r!(s), |n| {
                let (x, y) = (r!(s), r!(n.src));
                r!(d) = x;
                r!(n.dst) = y;
            }),
            // Two movs of immediates (each slot's `imm` is its value).
            K::MovIMovI => fused!(r!(d) = imm, |n| {
                r!(d) = imm;
                r!(n.dst) = n.imm;
            }),
            K::MovIJa => fused!(r!(d) = imm, |n| {
                r!(d) = imm;
                pc = pc.wrapping_add(n.off as i64 as usize);
            }),
            // `d |= a; d |= b`, neither a nor b being d.
            K::OrOr64R => fused!(r!(d) |= r!(s), |n| r!(d) = r!(d) | r!(s) | r!(n.src)),
            // `d <<= imm; x >>= d`, x not d.
            K::LshRsh64IR => fused!(r!(d) = alu64(AluOp::Lsh, r!(d), imm), |n| {
                let v = alu64(AluOp::Lsh, r!(d), imm);
                let x = alu64(AluOp::Rsh, r!(n.dst), v);
                r!(d) = v;
                r!(n.dst) = x;
            }),
            K::LdxBLdxB => fused!(r!(d) = load!(u8, op, here) as u64, |n| {
                let x = load!(u8, op, here);
                let y = load!(u8, n, here + 1);
                r!(d) = x as u64;
                r!(n.dst) = y as u64;
            }),
            K::AddLdxB => add_load!(u8),
            K::AddLdxH => add_load!(u16),
            K::AddLdxW => add_load!(u32),
            K::AddLdxDW => add_load!(u64),
            K::AddStxB => add_store!(u8),
            K::AddStxH => add_store!(u16),
            K::AddStxW => add_store!(u32),
            K::AddStxDW => add_store!(u64),
            K::MovAddLdxB => mov_add_load!(u8),
            K::MovAddLdxH => mov_add_load!(u16),
            K::MovAddLdxW => mov_add_load!(u32),
            K::MovAddLdxDW => mov_add_load!(u64),
            K::MovAddStxB => mov_add_store!(u8),
            K::MovAddStxH => mov_add_store!(u16),
            K::MovAddStxW => mov_add_store!(u32),
            K::MovAddStxDW => mov_add_store!(u64),
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
fn call_helper<const COUNT: bool, const CHECKED: bool>(
    f: &HelperFn,
    id: u32,
    reg: &[u64; 16],
    site: &CallSite<'_>,
    message: &mut String,
) -> Result<(u64, u64), Fault> {
    let mut remaining = site.budget;
    let mut callback = |addr: u64, a: [u64; 5]| {
        run_callback::<COUNT, CHECKED>(
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
fn run_callback<const COUNT: bool, const CHECKED: bool>(
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
    match execute::<NoTrace, COUNT, CHECKED>(prog, sub, &mut NoTrace, &mut message) {
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
fn atomic<const CHECKED: bool>(
    reg: &mut [u64; 16],
    op: &Op,
    map: &MemoryMap,
    pc: usize,
) -> Result<(), Fault> {
    let (d, s) = (op.dst as usize & 15, op.src as usize & 15);
    let wide = op.kind == K::Atomic64;
    let addr = reg[d].wrapping_add(op.off as i64 as u64);
    let len = if wide { 8 } else { 4 };
    let p = if CHECKED {
        map.translate(addr, len, true).ok_or(Fault::OutOfBounds {
            pc,
            addr,
            len: len as usize,
            kind: "atomic",
        })?
    } else {
        addr as *mut u8
    };
    if addr % len != 0 {
        return Err(Fault::MisalignedAtomic {
            pc,
            addr,
            len: len as usize,
        });
    }
    let aop = atomic_op(op.imm);
    let (old, fetch_to) = if wide {
        // SAFETY: p is 8-byte aligned and inside a live writable region
        // (checked, or proven by the verifier).
        let a = unsafe { AtomicU64::from_ptr(p as *mut u64) };
        atomic64(a, aop, reg[s], reg[0])
    } else {
        // SAFETY: p is 4-byte aligned and inside a live writable region
        // (checked, or proven by the verifier).
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
