//! Precision marks: which scalars of a stored state had values that a later
//! safety decision depended on, and the backward rules that find them.
//!
//! A scalar is imprecise unless marked. When a check uses a scalar's value
//! (an offset added to a pointer, a helper's size, a decided branch, a
//! checked return value), exploration walks back along the current path and
//! marks every register and stack slot that value was computed from, in each
//! stored state the walk passes. Pruning then compares only marked scalars by
//! value: an unmarked scalar in a stored state covers any scalar.

use oxbpf_isa::{AluOp, CallKind, Insn, Operand, Reg as R, Size};

use crate::state::MAX_FRAMES;

/// Marked registers and stack slots, per frame (by call depth).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// Bit `r` of `regs[f]`: register `r` of frame `f`.
    pub regs: [u16; MAX_FRAMES],
    /// Bit `spi` of `stack[f]`: slot `spi` (`fp-8*(spi+1)`) of frame `f`.
    pub stack: [u64; MAX_FRAMES],
}

impl Marks {
    /// Marks for register `r` of frame `f`.
    pub fn reg(f: usize, r: u8) -> Marks {
        let mut m = Marks::default();
        m.set_reg(f, r);
        m
    }

    /// Whether nothing is marked.
    pub fn is_empty(&self) -> bool {
        self.regs.iter().all(|&r| r == 0) && self.stack.iter().all(|&s| s == 0)
    }

    /// Marks register `r` of frame `f`.
    pub fn set_reg(&mut self, f: usize, r: u8) {
        if f < MAX_FRAMES && r < 16 {
            self.regs[f] |= 1 << r;
        }
    }

    /// Whether register `r` of frame `f` is marked.
    pub fn has_reg(&self, f: usize, r: u8) -> bool {
        f < MAX_FRAMES && r < 16 && self.regs[f] & (1 << r) != 0
    }

    /// Unmarks register `r` of frame `f`.
    pub fn clear_reg(&mut self, f: usize, r: u8) {
        if f < MAX_FRAMES && r < 16 {
            self.regs[f] &= !(1 << r);
        }
    }

    /// Marks stack slot `spi` of frame `f`.
    pub fn set_slot(&mut self, f: usize, spi: usize) {
        if f < MAX_FRAMES && spi < 64 {
            self.stack[f] |= 1 << spi;
        }
    }

    /// Whether stack slot `spi` of frame `f` is marked.
    pub fn has_slot(&self, f: usize, spi: usize) -> bool {
        f < MAX_FRAMES && spi < 64 && self.stack[f] & (1 << spi) != 0
    }

    /// Unmarks stack slot `spi` of frame `f`.
    pub fn clear_slot(&mut self, f: usize, spi: usize) {
        if f < MAX_FRAMES && spi < 64 {
            self.stack[f] &= !(1 << spi);
        }
    }

    /// The marks of `self` that `other` lacks.
    pub fn minus(&self, other: &Marks) -> Marks {
        let mut out = *self;
        for f in 0..MAX_FRAMES {
            out.regs[f] &= !other.regs[f];
            out.stack[f] &= !other.stack[f];
        }
        out
    }

    /// Adds the marks of `other`.
    pub fn add(&mut self, other: &Marks) {
        for f in 0..MAX_FRAMES {
            self.regs[f] |= other.regs[f];
            self.stack[f] |= other.stack[f];
        }
    }

    /// Moves the marks of frame `from` onto frame `to` for the registers in
    /// `regs` (bit mask), and clears frame `from`.
    pub fn move_frame(&mut self, from: usize, to: usize, regs: u16) {
        if from >= MAX_FRAMES || to >= MAX_FRAMES {
            return;
        }
        self.regs[to] |= self.regs[from] & regs;
        self.regs[from] = 0;
        self.stack[from] = 0;
    }
}

/// Registers r1-r5, the arguments a call passes.
pub const ARG_REGS: u16 = 0b11_1110;
/// Registers r0-r5, which a call defines or clobbers.
pub const CALLER_SAVED: u16 = 0b11_1111;

/// The stack slot of byte `fp + off` (`off` negative), if inside a frame.
pub fn slot_of(off: i64) -> Option<usize> {
    (-512..0).contains(&off).then(|| ((-off - 1) / 8) as usize)
}

/// Carries marks from after `insn` to before it, for an instruction executed
/// in frame `f` that falls through or jumps within its function. `stack` is
/// the stack slot (frame, slot) the instruction accessed through a register
/// other than r10, when it did so at a constant offset.
///
/// The rules over-approximate: a mark is dropped only where the instruction
/// gives the value a fresh origin (a constant, a helper's result, memory that
/// is not a stack slot), and otherwise passed on to everything the value was
/// computed from.
pub fn transfer(insn: &Insn, f: usize, stack: Option<(u8, u8)>, m: &mut Marks) {
    let slot_at = |base: R, off: i16| -> Option<(usize, usize)> {
        if base == R::R10 {
            slot_of(off as i64).map(|s| (f, s))
        } else {
            stack.map(|(fr, s)| (fr as usize, s as usize))
        }
    };
    match *insn {
        Insn::Alu { op, dst, src, .. } => {
            let d = dst.num();
            if !m.has_reg(f, d) {
                return;
            }
            if matches!(
                op,
                AluOp::Mov | AluOp::Movsx8 | AluOp::Movsx16 | AluOp::Movsx32
            ) {
                m.clear_reg(f, d);
            }
            if let Operand::Reg(s) = src {
                m.set_reg(f, s.num());
            }
        }
        Insn::Neg { .. } | Insn::End { .. } | Insn::Ja { .. } | Insn::Ja32 { .. } => {}
        Insn::Jmp { dst, src, .. } => {
            // The refined range of either side depends on both.
            if let Operand::Reg(s) = src {
                if m.has_reg(f, dst.num()) || m.has_reg(f, s.num()) {
                    m.set_reg(f, dst.num());
                    m.set_reg(f, s.num());
                }
            }
        }
        Insn::Ldx { dst, src, off, .. } => {
            let d = dst.num();
            if !m.has_reg(f, d) {
                return;
            }
            m.clear_reg(f, d);
            if let Some((fr, spi)) = slot_at(src, off) {
                m.set_slot(fr, spi);
            }
        }
        Insn::St { size, dst, off, .. } => {
            if let Some((fr, spi)) = slot_at(dst, off) {
                if m.has_slot(fr, spi) && size == Size::DW {
                    m.clear_slot(fr, spi);
                }
            }
        }
        Insn::Stx {
            size,
            dst,
            off,
            src,
        } => {
            if let Some((fr, spi)) = slot_at(dst, off) {
                if m.has_slot(fr, spi) {
                    // A narrower store keeps the rest of the slot's bytes.
                    if size == Size::DW {
                        m.clear_slot(fr, spi);
                    }
                    m.set_reg(f, src.num());
                }
            }
        }
        // Atomics on a marked slot keep its mark and the operand's (over-approximated).
        Insn::Atomic { .. } => {}
        Insn::Lddw { dst, .. } => m.clear_reg(f, dst.num()),
        Insn::LdAbs { .. } | Insn::LdInd { .. } => {
            if f < MAX_FRAMES {
                m.regs[f] &= !CALLER_SAVED;
            }
        }
        Insn::Call {
            kind: CallKind::Helper,
            ..
        } => {
            if f < MAX_FRAMES {
                m.regs[f] &= !CALLER_SAVED;
            }
        }
        // Local calls and exits are crossed by the walk, which moves marks between frames.
        Insn::Call { .. } | Insn::Callx { .. } | Insn::Exit => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(text: &str) -> Insn {
        oxbpf_isa::assemble(text).expect("assembles")[0]
    }

    #[test]
    fn rules_carry_marks_to_the_sources() {
        // (instruction, marks after, marks before), for frame 0, as register lists.
        for (text, after, before) in [
            ("r1 = r2", vec![1], vec![2]),
            ("r1 = 5", vec![1], vec![]),
            ("r1 += r3", vec![1], vec![1, 3]),
            ("r1 += 3", vec![1], vec![1]),
            ("w1 <<= w4", vec![1], vec![1, 4]),
            ("r1 = -r1", vec![1], vec![1]),
            ("if r1 > r2 goto +1", vec![2], vec![1, 2]),
            ("if r1 > 3 goto +1", vec![1], vec![1]),
            ("r1 = *(u32 *)(r2 + 0)", vec![1], vec![]),
            ("call 1", vec![0, 6], vec![6]),
            ("r1 = 7 ll", vec![1], vec![]),
            ("r5 = r6", vec![6], vec![6]),
        ] {
            let mut m = Marks::default();
            for r in after {
                m.set_reg(0, r);
            }
            transfer(&insn(text), 0, None, &mut m);
            let got: Vec<u8> = (0..11).filter(|&r| m.has_reg(0, r)).collect();
            assert_eq!(got, before, "{text}");
        }
    }

    #[test]
    fn stack_rules_follow_spills_and_fills() {
        // A fill from fp-16 marks slot 1; the 8-byte spill there moves it to the source.
        let mut m = Marks::reg(0, 3);
        transfer(&insn("r3 = *(u64 *)(r10 - 16)"), 0, None, &mut m);
        assert!(m.has_slot(0, 1) && !m.has_reg(0, 3));
        transfer(&insn("*(u64 *)(r10 - 16) = r7"), 0, None, &mut m);
        assert!(!m.has_slot(0, 1) && m.has_reg(0, 7));
        // A 4-byte store keeps the slot marked (its other bytes still count).
        let mut m = Marks::default();
        m.set_slot(0, 0);
        transfer(&insn("*(u32 *)(r10 - 8) = r2"), 0, None, &mut m);
        assert!(m.has_slot(0, 0) && m.has_reg(0, 2));
        // Through another register, the recorded slot (here the caller's) is used.
        let mut m = Marks::reg(1, 4);
        transfer(&insn("r4 = *(u64 *)(r1 + 0)"), 1, Some((0, 2)), &mut m);
        assert!(m.has_slot(0, 2) && !m.has_reg(1, 4));
    }

    #[test]
    fn marks_move_between_frames() {
        let mut m = Marks::reg(1, 2);
        m.set_reg(1, 7);
        m.set_slot(1, 3);
        m.move_frame(1, 0, ARG_REGS);
        assert!(m.has_reg(0, 2) && !m.has_reg(0, 7) && !m.has_slot(1, 3));
        assert_eq!(m.minus(&Marks::reg(0, 2)), Marks::default());
    }
}
