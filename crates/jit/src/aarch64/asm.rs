//! A small AArch64 assembler: exactly the instruction forms the JIT emits,
//! encoded as in the Arm Architecture Reference Manual (A64), with labels
//! and branch fixups.

use super::regs::Xreg;

/// Condition codes (the `cond` field of `b.cond`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Cond {
    /// Equal.
    Eq = 0,
    /// Not equal.
    Ne = 1,
    /// Unsigned >= (carry set).
    Hs = 2,
    /// Unsigned < (carry clear).
    Lo = 3,
    /// Unsigned >.
    Hi = 8,
    /// Unsigned <=.
    Ls = 9,
    /// Signed >=.
    Ge = 10,
    /// Signed <.
    Lt = 11,
    /// Signed >.
    Gt = 12,
    /// Signed <=.
    Le = 13,
}

impl Cond {
    /// The opposite condition.
    pub fn invert(self) -> Cond {
        match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Hs => Cond::Lo,
            Cond::Lo => Cond::Hs,
            Cond::Hi => Cond::Ls,
            Cond::Ls => Cond::Hi,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
            Cond::Gt => Cond::Le,
            Cond::Le => Cond::Gt,
        }
    }
}

/// Two-register ALU operations (shifted-register forms, shift 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    /// `add`
    Add,
    /// `sub`
    Sub,
    /// `and`
    And,
    /// `orr`
    Orr,
    /// `eor`
    Eor,
    /// `subs` (with `xzr` as destination: `cmp`)
    Subs,
    /// `ands` (with `xzr` as destination: `tst`)
    Ands,
    /// `orn` (with `xzr` as first source: `mvn`)
    Orn,
}

impl Alu {
    fn base(self) -> u32 {
        match self {
            Alu::Add => 0x0b00_0000,
            Alu::Sub => 0x4b00_0000,
            Alu::Subs => 0x6b00_0000,
            Alu::And => 0x0a00_0000,
            Alu::Orr => 0x2a00_0000,
            Alu::Eor => 0x4a00_0000,
            Alu::Ands => 0x6a00_0000,
            Alu::Orn => 0x2a20_0000,
        }
    }

    /// The logical-immediate opcode, for the logical operations.
    fn logical_imm(self) -> Option<u32> {
        Some(match self {
            Alu::And => 0x1200_0000,
            Alu::Orr => 0x3200_0000,
            Alu::Eor => 0x5200_0000,
            Alu::Ands => 0x7200_0000,
            _ => return None,
        })
    }
}

/// Register-controlled shifts and divisions (data-processing, two sources).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op2 {
    /// `udiv`
    Udiv = 0x0800,
    /// `sdiv`
    Sdiv = 0x0c00,
    /// `lslv` (`lsl` by a register)
    Lsl = 0x2000,
    /// `lsrv`
    Lsr = 0x2400,
    /// `asrv`
    Asr = 0x2800,
}

/// Access sizes of loads and stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// 8 bits.
    B = 0,
    /// 16 bits.
    H = 1,
    /// 32 bits.
    W = 2,
    /// 64 bits.
    X = 3,
}

/// Atomic memory operations of the LSE extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lse {
    /// `ldaddal`
    Add = 0x0000,
    /// `ldclral` (and-not)
    Clr = 0x1000,
    /// `ldeoral`
    Eor = 0x2000,
    /// `ldsetal` (or)
    Set = 0x3000,
    /// `swpal`
    Swp = 0x8000,
}

pub use crate::labels::Label;
use crate::labels::Labels;

/// How a branch names its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fix {
    /// `b`/`bl`: imm26 at bit 0.
    B26,
    /// `b.cond`/`cbz`/`cbnz`: imm19 at bit 5.
    B19,
}

/// Why the code could not be finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsmError {
    /// A label was used but never placed.
    Unplaced(Label),
    /// A branch's target is farther than its encoding reaches.
    OutOfRange,
}

/// The `N:immr:imms` fields of a logical immediate for `value` (of 32 or 64
/// bits), if it is one: a run of ones, rotated, repeated in elements of 2,
/// 4, 8, 16, 32 or 64 bits.
pub fn logical_imm(value: u64, w64: bool) -> Option<u32> {
    let v = if w64 {
        value
    } else {
        let low = value & 0xffff_ffff;
        low | low << 32
    };
    if v == 0 || v == u64::MAX {
        return None;
    }
    let mut size = 64u32;
    while size > 2 {
        let half = size / 2;
        let mask = (1u64 << half) - 1;
        if v & mask != (v >> half) & mask {
            break;
        }
        size = half;
    }
    let mask = if size == 64 {
        u64::MAX
    } else {
        (1u64 << size) - 1
    };
    let elem = v & mask;
    let ones = elem.count_ones();
    let run = if ones == 64 {
        u64::MAX
    } else {
        (1u64 << ones) - 1
    };
    // elem = ror(run, immr) within `size` bits.
    let immr = (0..size).find(|&r| {
        let rotated = if r == 0 {
            run
        } else {
            ((run >> r) | (run << (size - r))) & mask
        };
        rotated == elem
    })?;
    let n = (size == 64) as u32;
    let imms = ((!(size * 2 - 1)) & 0x3f) | (ones - 1);
    Some(n << 22 | immr << 16 | imms << 10)
}

/// Machine code under construction: 32-bit little-endian words.
#[derive(Default)]
pub struct Asm {
    /// The bytes emitted so far.
    pub code: Vec<u8>,
    /// Labels, and the branch fields that name them.
    labels: Labels<Fix>,
}

fn sf(w64: bool) -> u32 {
    (w64 as u32) << 31
}

fn rd_rn(rd: Xreg, rn: Xreg) -> u32 {
    rn.num() << 5 | rd.num()
}

impl Asm {
    /// An empty buffer with room for about `bytes` bytes and `labels` labels.
    pub fn with_capacity(bytes: usize, labels: usize) -> Asm {
        Asm {
            code: Vec::with_capacity(bytes),
            labels: Labels::with_capacity(labels),
        }
    }

    /// Current offset.
    pub fn pos(&self) -> usize {
        self.code.len()
    }

    /// A new, unplaced label.
    pub fn label(&mut self) -> Label {
        self.labels.label()
    }

    /// Places `l` at the current offset.
    pub fn bind(&mut self, l: Label) {
        self.labels.bind(l, self.code.len());
    }

    /// Where `l` was placed, if it has been.
    pub fn offset_of(&self, l: Label) -> Option<usize> {
        self.labels.offset_of(l)
    }

    /// Resolves every branch; fails if a label was never placed or is out of reach.
    pub fn finish(mut self) -> Result<Vec<u8>, AsmError> {
        let code = &mut self.code;
        self.labels.resolve(AsmError::Unplaced, |at, target, fix| {
            let words = (target as i64 - at as i64) / 4;
            let mut w = u32::from_le_bytes([code[at], code[at + 1], code[at + 2], code[at + 3]]);
            match fix {
                Fix::B26 if (-(1 << 25)..1 << 25).contains(&words) => {
                    w |= words as u32 & 0x03ff_ffff;
                }
                Fix::B19 if (-(1 << 18)..1 << 18).contains(&words) => {
                    w |= (words as u32 & 0x7ffff) << 5;
                }
                _ => return Err(AsmError::OutOfRange),
            }
            code[at..at + 4].copy_from_slice(&w.to_le_bytes());
            Ok(())
        })?;
        Ok(self.code)
    }

    /// Emits one instruction word.
    pub fn word(&mut self, w: u32) {
        self.code.extend_from_slice(&w.to_le_bytes());
    }

    fn branch(&mut self, w: u32, l: Label, fix: Fix) {
        self.labels.use_at(self.code.len(), l, fix);
        self.word(w);
    }

    /// `b label`
    pub fn b(&mut self, l: Label) {
        self.branch(0x1400_0000, l, Fix::B26);
    }

    /// `bl label`
    pub fn bl(&mut self, l: Label) {
        self.branch(0x9400_0000, l, Fix::B26);
    }

    /// `b.cond label`
    pub fn b_cond(&mut self, c: Cond, l: Label) {
        self.branch(0x5400_0000 | c as u32, l, Fix::B19);
    }

    /// `cbz`/`cbnz rt, label` (`nonzero`: cbnz).
    pub fn cbz(&mut self, w64: bool, nonzero: bool, rt: Xreg, l: Label) {
        self.branch(
            0x3400_0000 | sf(w64) | (nonzero as u32) << 24 | rt.num(),
            l,
            Fix::B19,
        );
    }

    /// `blr rn`
    pub fn blr(&mut self, rn: Xreg) {
        self.word(0xd63f_0000 | rn.num() << 5);
    }

    /// `ret` (to x30)
    pub fn ret(&mut self) {
        self.word(0xd65f_03c0);
    }

    /// `brk #0`
    pub fn brk(&mut self) {
        self.word(0xd420_0000);
    }

    /// `dmb ish`
    pub fn dmb_ish(&mut self) {
        self.word(0xd503_3bbf);
    }

    /// `op rd, rn, rm` (shifted-register form, no shift).
    pub fn alu_rr(&mut self, op: Alu, w64: bool, rd: Xreg, rn: Xreg, rm: Xreg) {
        self.word(op.base() | sf(w64) | rm.num() << 16 | rd_rn(rd, rn));
    }

    /// `mov rd, rm` (`orr rd, zr, rm`; the 32-bit form clears the upper half).
    pub fn mov(&mut self, w64: bool, rd: Xreg, rm: Xreg) {
        self.alu_rr(Alu::Orr, w64, rd, Xreg(31), rm);
    }

    /// `mov rd, sp` / `mov sp, rn` (`add rd, rn, #0`, where 31 is `sp`).
    pub fn mov_sp(&mut self, rd: Xreg, rn: Xreg) {
        self.add_imm12(true, false, rd, rn, 0);
    }

    /// `add`/`sub rd, rn, #imm12` (31 is `sp` in both places).
    pub fn add_imm12(&mut self, w64: bool, sub: bool, rd: Xreg, rn: Xreg, imm12: u32) {
        debug_assert!(imm12 < 4096);
        self.word(
            0x1100_0000 | sf(w64) | (sub as u32) << 30 | (imm12 & 0xfff) << 10 | rd_rn(rd, rn),
        );
    }

    /// `adds`/`subs rd, rn, #imm12` (`cmn`/`cmp` with `xzr` as destination).
    pub fn adds_imm12(&mut self, w64: bool, sub: bool, rd: Xreg, rn: Xreg, imm12: u32) {
        debug_assert!(imm12 < 4096);
        self.word(
            0x3100_0000 | sf(w64) | (sub as u32) << 30 | (imm12 & 0xfff) << 10 | rd_rn(rd, rn),
        );
    }

    /// A logical operation with an immediate, when `imm` is encodable.
    pub fn logical_imm(&mut self, op: Alu, w64: bool, rd: Xreg, rn: Xreg, imm: u64) -> bool {
        let (Some(base), Some(fields)) = (op.logical_imm(), logical_imm(imm, w64)) else {
            return false;
        };
        self.word(base | sf(w64) | fields | rd_rn(rd, rn));
        true
    }

    /// `movz`/`movn`/`movk rd, #imm16, lsl #(16 * hw)` (`kind`: 0 movn, 2 movz, 3 movk).
    pub fn movw(&mut self, kind: u32, w64: bool, rd: Xreg, imm16: u16, hw: u32) {
        self.word(0x1280_0000 | sf(w64) | kind << 29 | hw << 21 | (imm16 as u32) << 5 | rd.num());
    }

    /// `rd = value` in the fewest `movz`/`movn`/`movk` (the 32-bit form
    /// clears the upper half).
    pub fn mov_imm(&mut self, w64: bool, rd: Xreg, value: u64) {
        let halves = if w64 { 4 } else { 2 };
        let v = if w64 { value } else { value & 0xffff_ffff };
        let part = |i: u32| (v >> (16 * i)) as u16;
        let ones = (0..halves).filter(|&i| part(i) == 0xffff).count();
        let zeros = (0..halves).filter(|&i| part(i) == 0).count();
        let inverted = ones > zeros;
        let fill = if inverted { 0xffff } else { 0 };
        let mut parts: Vec<u32> = (0..halves).filter(|&i| part(i) != fill).collect();
        if parts.is_empty() {
            parts.push(0);
        }
        for (n, &i) in parts.iter().enumerate() {
            let p = part(i);
            match (n, inverted) {
                (0, true) => self.movw(0, w64, rd, !p, i),
                (0, false) => self.movw(2, w64, rd, p, i),
                _ => self.movw(3, w64, rd, p, i),
            }
        }
    }

    /// `ubfm`/`sbfm rd, rn, #immr, #imms` (`signed`: sbfm).
    pub fn bfm(&mut self, signed: bool, w64: bool, rd: Xreg, rn: Xreg, immr: u32, imms: u32) {
        let base = if signed { 0x1300_0000 } else { 0x5300_0000 };
        let n = (w64 as u32) << 22;
        self.word(base | sf(w64) | n | immr << 16 | imms << 10 | rd_rn(rd, rn));
    }

    /// A shift by a constant: `lsl`, `lsr` or `asr` (`kind`: 0, 1, 2).
    pub fn shift_imm(&mut self, kind: u32, w64: bool, rd: Xreg, rn: Xreg, sh: u32) {
        let size = if w64 { 64 } else { 32 };
        let sh = sh % size;
        match kind {
            0 => self.bfm(false, w64, rd, rn, (size - sh) % size, size - 1 - sh),
            1 => self.bfm(false, w64, rd, rn, sh, size - 1),
            _ => self.bfm(true, w64, rd, rn, sh, size - 1),
        }
    }

    /// `udiv`, `sdiv`, `lslv`, `lsrv`, `asrv rd, rn, rm`.
    pub fn op2(&mut self, op: Op2, w64: bool, rd: Xreg, rn: Xreg, rm: Xreg) {
        self.word(0x1ac0_0000 | op as u32 | sf(w64) | rm.num() << 16 | rd_rn(rd, rn));
    }

    /// `madd`/`msub rd, rn, rm, ra` (`sub`: msub): rd = ra ± rn * rm.
    pub fn madd(&mut self, sub: bool, w64: bool, rd: Xreg, rn: Xreg, rm: Xreg, ra: Xreg) {
        self.word(
            0x1b00_0000
                | sf(w64)
                | rm.num() << 16
                | (sub as u32) << 15
                | ra.num() << 10
                | rd_rn(rd, rn),
        );
    }

    /// `rev16`, `rev` (32-bit: `bits` 16 or 32; 64-bit: `rev` only).
    pub fn rev(&mut self, w64: bool, bits: u32, rd: Xreg, rn: Xreg) {
        let opc = match (w64, bits) {
            (_, 16) => 1,
            (false, _) => 2,
            (true, _) => 3,
        };
        self.word(0x5ac0_0000 | sf(w64) | opc << 10 | rd_rn(rd, rn));
    }

    /// A load or store at `[rn + imm]`, when some immediate form holds the
    /// offset: `ldr`/`str` with a scaled unsigned offset, or `ldur`/`stur`.
    /// `opc`: 0 store, 1 load, 2 load sign-extended to 64 bits.
    pub fn ldst_imm(&mut self, w: Width, opc: u32, rt: Xreg, rn: Xreg, imm: i32) -> bool {
        let size = w as u32;
        let scale = 1i32 << size;
        let base = size << 30 | 0x3800_0000 | opc << 22 | rd_rn(rt, rn);
        if imm >= 0 && imm % scale == 0 && imm / scale < 4096 {
            self.word(base | 0x0100_0000 | ((imm / scale) as u32) << 10);
            true
        } else if (-256..256).contains(&imm) {
            self.word(base | (imm as u32 & 0x1ff) << 12);
            true
        } else {
            false
        }
    }

    /// A load or store at `[rn + rm]`.
    pub fn ldst_reg(&mut self, w: Width, opc: u32, rt: Xreg, rn: Xreg, rm: Xreg) {
        let size = w as u32;
        self.word(size << 30 | 0x3820_6800 | opc << 22 | rm.num() << 16 | rd_rn(rt, rn));
    }

    /// `stp rt, rt2, [sp, #-16]!`
    pub fn push_pair(&mut self, rt: Xreg, rt2: Xreg) {
        self.word(0xa9bf_0000 | rt2.num() << 10 | 31 << 5 | rt.num());
    }

    /// `ldp rt, rt2, [sp], #16`
    pub fn pop_pair(&mut self, rt: Xreg, rt2: Xreg) {
        self.word(0xa8c1_0000 | rt2.num() << 10 | 31 << 5 | rt.num());
    }

    /// `stp`/`ldp rt, rt2, [sp, #off]` (`off`: a multiple of 8 below 512).
    pub fn pair_sp(&mut self, load: bool, rt: Xreg, rt2: Xreg, off: u32) {
        let base = if load { 0xa940_0000 } else { 0xa900_0000 };
        self.word(base | (off / 8) << 15 | rt2.num() << 10 | 31 << 5 | rt.num());
    }

    /// `ldaxr rt, [rn]`
    pub fn ldaxr(&mut self, w64: bool, rt: Xreg, rn: Xreg) {
        self.word(0x885f_fc00 | (w64 as u32) << 30 | rd_rn(rt, rn));
    }

    /// `stlxr ws, rt, [rn]`
    pub fn stlxr(&mut self, w64: bool, rs: Xreg, rt: Xreg, rn: Xreg) {
        self.word(0x8800_fc00 | (w64 as u32) << 30 | rs.num() << 16 | rd_rn(rt, rn));
    }

    /// An LSE atomic with acquire and release: `ld<op>al`/`swpal rs, rt, [rn]`.
    pub fn lse(&mut self, op: Lse, w64: bool, rs: Xreg, rt: Xreg, rn: Xreg) {
        self.word(0xb8e0_0000 | (w64 as u32) << 30 | rs.num() << 16 | op as u32 | rd_rn(rt, rn));
    }

    /// `casal rs, rt, [rn]`: compares with and returns into `rs`.
    pub fn casal(&mut self, w64: bool, rs: Xreg, rt: Xreg, rn: Xreg) {
        self.word(0x88e0_fc00 | (w64 as u32) << 30 | rs.num() << 16 | rd_rn(rt, rn));
    }
}
