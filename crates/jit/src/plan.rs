//! What every back end decides the same way: the analysis of a program
//! before code generation (function entries, block leaders, loop heads, the
//! registers functions save), which accesses need run-time checks, the
//! constant-blinding keys, and the shape of the compiler's output.

use oxbpf_isa::{AtomicOp, CallKind, Insn, LddwSrc, Reg, Size};
use oxbpf_vm::{Program, CODE_BASE};

/// The compiler's output, before it is sealed into executable memory.
pub(crate) struct Compiled {
    pub code: Vec<u8>,
    /// Per slot: offset of the function entry starting there, or `u32::MAX`.
    pub entries: Vec<u32>,
    /// Per slot: offset of its code in the body.
    pub slot_offsets: Vec<u32>,
    /// Offset just past the last slot's code.
    pub body_end: u32,
    /// Offset of the direct entry `fn(r1, r2) -> r0` (its context and stack built in).
    pub direct_entry: u32,
}

/// Addresses the direct entry builds in: the run context and the top of the stack.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fixed {
    pub ctx: u64,
    pub stack_top: u64,
    /// The program can neither fault nor call the host (unchecked, no helpers,
    /// no legacy packet loads, no way to fall off the end): the direct entry
    /// then needs no context and no unwind point.
    pub lean: bool,
    /// Charge back-edges to the budget.
    pub budget: bool,
}

/// Programs of this many slots or more are refused: slot numbers travel in
/// 24 bits of the memory checks' reports (see [`crate::context::check_info`]).
pub(crate) const MAX_SLOTS: usize = 1 << 24;

/// Kinds of memory access, as the checks report them (`kind` in `check_info`).
pub(crate) const READ: u64 = 0;
/// A store.
pub(crate) const WRITE: u64 = 1;
/// An atomic read-modify-write.
pub(crate) const ATOMIC: u64 = 2;

/// Bytes of an access of `size`, and the index of that size in the
/// context's limit tables (1, 2, 4, 8 bytes: 0..3).
pub(crate) fn size_of(size: Size) -> (u64, i32) {
    match size {
        Size::B => (1, 0),
        Size::H => (2, 1),
        Size::W => (4, 2),
        Size::DW => (8, 3),
    }
}

/// The index into the context's limit tables for an access: `size_index + 4 * write`.
pub(crate) fn lim_index(size_index: i32, kind: u64) -> i32 {
    size_index + if kind == READ { 0 } else { 4 }
}

/// Whether a checked-mode access at `[base + off]` of `len` bytes needs no
/// run-time check: it lies in the current stack frame, named through r10,
/// which no instruction of the program writes.
pub(crate) fn in_frame(base: Reg, off: i16, len: u64, writes_r10: bool) -> bool {
    let off = off as i32;
    base == Reg::R10 && !writes_r10 && off >= -512 && off + len as i32 <= 0
}

/// Constant-blinding keys: a splitmix64 sequence from a random seed.
pub(crate) struct Blinder(u64);

impl Blinder {
    /// A sequence seeded from the OS's random numbers and the time.
    pub(crate) fn new() -> Blinder {
        Blinder(seed())
    }

    /// The next key.
    pub(crate) fn next_key(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn seed() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    if n == 8 {
        u64::from_ne_bytes(buf) ^ t
    } else {
        t ^ (&buf as *const _ as u64)
    }
}

/// Whether `insn` itself writes register `r` (not counting what a callee does).
pub(crate) fn writes_reg(insn: &Insn, r: Reg) -> bool {
    match *insn {
        Insn::Alu { dst, .. } | Insn::Neg { dst, .. } | Insn::End { dst, .. } => dst == r,
        Insn::Ldx { dst, .. } | Insn::Lddw { dst, .. } => dst == r,
        Insn::Atomic {
            op: AtomicOp::Cmpxchg,
            ..
        } => r == Reg::R0,
        Insn::Atomic { op, src, .. } => {
            src == r
                && matches!(
                    op,
                    AtomicOp::Xchg
                        | AtomicOp::Add { fetch: true }
                        | AtomicOp::Or { fetch: true }
                        | AtomicOp::And { fetch: true }
                        | AtomicOp::Xor { fetch: true }
                )
        }
        _ => false,
    }
}

/// Whether some instruction writes r10 (then r10-based accesses are checked too).
pub(crate) fn writes_r10(prog: &Program) -> bool {
    (0..prog.len())
        .filter_map(|s| prog.insn(s))
        .any(|i| writes_reg(i, Reg::R10))
}

/// The registers of r6..r9 (by number) that some instruction writes: the
/// ones a function must save (one never written keeps the caller's value).
pub(crate) fn written_callee_saved(prog: &Program) -> Vec<u8> {
    (6u8..=9)
        .filter(|&n| {
            let r = Reg::new(n).expect("r6..r9");
            (0..prog.len()).any(|s| prog.insn(s).is_some_and(|i| writes_reg(i, r)))
        })
        .collect()
}

/// Slots that a jump from a later (or the same) slot targets.
pub(crate) fn loop_heads(prog: &Program) -> Vec<bool> {
    let len = prog.len();
    let mut out = vec![false; len];
    for slot in 0..len {
        let off = match prog.insn(slot) {
            Some(Insn::Ja { off }) | Some(Insn::Jmp { off, .. }) => *off as i64,
            Some(Insn::Ja32 { imm }) => *imm as i64,
            _ => continue,
        };
        let t = slot as i64 + 1 + off;
        if (0..=slot as i64).contains(&t) {
            out[t as usize] = true;
        }
    }
    out
}

/// Slots where control can arrive other than from the slot before.
pub(crate) fn leaders(prog: &Program) -> Vec<bool> {
    let len = prog.len();
    let mut out = vec![false; len + 1];
    let mut mark = |from: usize, rel: i64| {
        let t = from as i64 + 1 + rel;
        if (0..len as i64).contains(&t) {
            out[t as usize] = true;
        }
    };
    for slot in 0..len {
        match prog.insn(slot) {
            Some(Insn::Ja { off }) | Some(Insn::Jmp { off, .. }) => mark(slot, *off as i64),
            Some(Insn::Ja32 { imm }) => mark(slot, *imm as i64),
            Some(Insn::Call {
                kind: CallKind::Local,
                imm,
            }) => mark(slot, *imm as i64),
            Some(Insn::Lddw {
                src: LddwSrc::CodeAddr,
                ..
            }) => {
                if let Some(v) = prog.lddw_value(slot) {
                    let t = v.wrapping_sub(CODE_BASE).min(len as u64) as i64;
                    mark(slot, t - slot as i64 - 1);
                }
            }
            _ => {}
        }
    }
    out
}

/// Slots other than 0 where a function starts: local-call targets and the
/// code addresses an lddw loads (callbacks). May hold duplicates and slots
/// past the end, which back ends skip.
pub(crate) fn function_entries(prog: &Program) -> Vec<usize> {
    let mut out = Vec::new();
    for slot in 0..prog.len() {
        match prog.insn(slot) {
            Some(Insn::Call {
                kind: CallKind::Local,
                imm,
            }) => out.push((slot as i64 + 1 + *imm as i64) as usize),
            Some(Insn::Lddw {
                src: LddwSrc::CodeAddr,
                ..
            }) => {
                if let Some(v) = prog.lddw_value(slot) {
                    out.push(v.wrapping_sub(CODE_BASE) as usize);
                }
            }
            _ => {}
        }
    }
    out
}

/// The constant r1 holds after `insn` at `slot`, given what it held before
/// (`None` at block leaders): known array-map handles are inlined from it.
pub(crate) fn r1_after(
    prog: &Program,
    slot: usize,
    insn: &Insn,
    before: Option<u64>,
) -> Option<u64> {
    match insn {
        Insn::Lddw { dst: Reg::R1, .. } => prog.lddw_value(slot),
        Insn::Call {
            kind: CallKind::Local,
            ..
        } => None,
        _ if writes_reg(insn, Reg::R1) => None,
        _ => before,
    }
}
