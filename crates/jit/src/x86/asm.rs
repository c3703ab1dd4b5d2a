//! A small x86-64 assembler: exactly the instruction forms the JIT emits,
//! with labels and rel32/rel8 fixups.

use super::regs::Gpr;

/// A memory operand `[base + disp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mem {
    /// Base register.
    pub base: Gpr,
    /// Signed displacement.
    pub disp: i32,
}

/// `[base + disp]`.
pub fn mem(base: Gpr, disp: i32) -> Mem {
    Mem { base, disp }
}

/// Condition codes (the low nibble of `jcc`/`setcc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Cond {
    /// Below (unsigned <).
    B = 0x2,
    /// Above or equal (unsigned >=).
    Ae = 0x3,
    /// Equal.
    E = 0x4,
    /// Not equal.
    Ne = 0x5,
    /// Below or equal (unsigned <=).
    Be = 0x6,
    /// Above (unsigned >).
    A = 0x7,
    /// Less (signed <).
    L = 0xc,
    /// Greater or equal (signed >=).
    Ge = 0xd,
    /// Less or equal (signed <=).
    Le = 0xe,
    /// Greater (signed >).
    G = 0xf,
}

/// The `/digit` of group-1 ALU instructions (`81 /digit`), and their `r/m, reg` opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    /// `add`
    Add,
    /// `or`
    Or,
    /// `and`
    And,
    /// `sub`
    Sub,
    /// `xor`
    Xor,
    /// `cmp`
    Cmp,
}

impl Alu {
    fn digit(self) -> u8 {
        match self {
            Alu::Add => 0,
            Alu::Or => 1,
            Alu::And => 4,
            Alu::Sub => 5,
            Alu::Xor => 6,
            Alu::Cmp => 7,
        }
    }

    /// The `op r/m, reg` opcode.
    fn rm_reg(self) -> u8 {
        self.digit() << 3 | 0x01
    }
}

/// Shift kinds (`C1 /digit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    /// `shl`
    Shl = 4,
    /// `shr`
    Shr = 5,
    /// `sar`
    Sar = 7,
}

/// Operand sizes of loads and stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// 8 bits.
    B,
    /// 16 bits.
    H,
    /// 32 bits.
    W,
    /// 64 bits.
    Q,
}

pub use crate::labels::Label;
use crate::labels::Labels;

/// Machine code under construction.
#[derive(Default)]
pub struct Asm {
    /// The bytes emitted so far.
    pub code: Vec<u8>,
    /// Labels, and the rel32 fields that name them.
    labels: Labels<()>,
}

impl Asm {
    /// An empty buffer.
    pub fn new() -> Asm {
        Asm::default()
    }

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

    /// Resolves every fixup; fails if a label was never placed.
    pub fn finish(mut self) -> Result<Vec<u8>, Label> {
        let code = &mut self.code;
        self.labels.resolve(
            |l| l,
            |at, target, ()| {
                let rel = target as i64 - (at as i64 + 4);
                code[at..at + 4].copy_from_slice(&(rel as i32).to_le_bytes());
                Ok(())
            },
        )?;
        Ok(self.code)
    }

    fn b(&mut self, byte: u8) {
        self.code.push(byte);
    }

    fn d32(&mut self, v: i32) {
        self.code.extend_from_slice(&v.to_le_bytes());
    }

    /// Emits a REX prefix when needed (or when `force`, for byte registers spl..dil).
    fn rex(&mut self, w: bool, r: u8, x: u8, b: u8, force: bool) {
        let rex = 0x40 | (w as u8) << 3 | (r >> 3 & 1) << 2 | (x >> 3 & 1) << 1 | (b >> 3 & 1);
        if rex != 0x40 || force {
            self.b(rex);
        }
    }

    fn modrm_reg(&mut self, reg: u8, rm: u8) {
        self.b(0xc0 | (reg & 7) << 3 | (rm & 7));
    }

    fn modrm_mem(&mut self, reg: u8, m: Mem) {
        let base = m.base as u8;
        let (md, disp8) = if m.disp == 0 && base & 7 != 5 {
            (0x00, None)
        } else if (-128..=127).contains(&m.disp) {
            (0x40, Some(m.disp as i8))
        } else {
            (0x80, None)
        };
        self.b(md | (reg & 7) << 3 | (base & 7));
        if base & 7 == 4 {
            self.b(0x24); // SIB: no index, base = rsp/r12
        }
        match (md, disp8) {
            (0x40, Some(d)) => self.b(d as u8),
            (0x80, _) => self.d32(m.disp),
            _ => {}
        }
    }

    /// `op dst, src` (register-register group-1 ALU).
    pub fn alu_rr(&mut self, op: Alu, w64: bool, dst: Gpr, src: Gpr) {
        self.rex(w64, src as u8, 0, dst as u8, false);
        self.b(op.rm_reg());
        self.modrm_reg(src as u8, dst as u8);
    }

    /// `op dst, imm` (sign-extended imm32 in 64-bit form).
    pub fn alu_ri(&mut self, op: Alu, w64: bool, dst: Gpr, imm: i32) {
        self.rex(w64, 0, 0, dst as u8, false);
        if (-128..=127).contains(&imm) {
            self.b(0x83);
            self.modrm_reg(op.digit(), dst as u8);
            self.b(imm as i8 as u8);
        } else {
            self.b(0x81);
            self.modrm_reg(op.digit(), dst as u8);
            self.d32(imm);
        }
    }

    /// `op dst, [m]`.
    pub fn alu_rm(&mut self, op: Alu, w64: bool, dst: Gpr, m: Mem) {
        self.rex(w64, dst as u8, 0, m.base as u8, false);
        self.b(op.rm_reg() + 2);
        self.modrm_mem(dst as u8, m);
    }

    /// `op [m], imm` with the given operand width (B, W or Q).
    pub fn alu_mi(&mut self, op: Alu, width: Width, m: Mem, imm: i32) {
        match width {
            Width::B => {
                self.rex(false, 0, 0, m.base as u8, false);
                self.b(0x80);
                self.modrm_mem(op.digit(), m);
                self.b(imm as u8);
            }
            _ => {
                self.rex(width == Width::Q, 0, 0, m.base as u8, false);
                let short = (-128..=127).contains(&imm);
                self.b(if short { 0x83 } else { 0x81 });
                self.modrm_mem(op.digit(), m);
                if short {
                    self.b(imm as i8 as u8);
                } else {
                    self.d32(imm);
                }
            }
        }
    }

    /// `lock op [m], src` for add/or/and/xor.
    pub fn lock_alu_mr(&mut self, op: Alu, w64: bool, m: Mem, src: Gpr) {
        self.b(0xf0);
        self.rex(w64, src as u8, 0, m.base as u8, false);
        self.b(op.rm_reg());
        self.modrm_mem(src as u8, m);
    }

    /// `lock xadd [m], src`.
    pub fn lock_xadd(&mut self, w64: bool, m: Mem, src: Gpr) {
        self.b(0xf0);
        self.rex(w64, src as u8, 0, m.base as u8, false);
        self.b(0x0f);
        self.b(0xc1);
        self.modrm_mem(src as u8, m);
    }

    /// `xchg [m], src` (implicitly locked).
    pub fn xchg_mr(&mut self, w64: bool, m: Mem, src: Gpr) {
        self.rex(w64, src as u8, 0, m.base as u8, false);
        self.b(0x87);
        self.modrm_mem(src as u8, m);
    }

    /// `lock cmpxchg [m], src`.
    pub fn lock_cmpxchg(&mut self, w64: bool, m: Mem, src: Gpr) {
        self.b(0xf0);
        self.rex(w64, src as u8, 0, m.base as u8, false);
        self.b(0x0f);
        self.b(0xb1);
        self.modrm_mem(src as u8, m);
    }

    /// `mov dst, src` (32-bit form zero-extends).
    pub fn mov_rr(&mut self, w64: bool, dst: Gpr, src: Gpr) {
        self.rex(w64, src as u8, 0, dst as u8, false);
        self.b(0x89);
        self.modrm_reg(src as u8, dst as u8);
    }

    /// Loads the 64-bit constant `v` with the shortest encoding.
    pub fn mov_imm64(&mut self, dst: Gpr, v: u64) {
        if v == 0 {
            self.alu_rr(Alu::Xor, false, dst, dst);
        } else if v <= u32::MAX as u64 {
            self.mov_ri32(dst, v as u32);
        } else if v as i64 >= i32::MIN as i64 && v as i64 <= i32::MAX as i64 {
            self.rex(true, 0, 0, dst as u8, false);
            self.b(0xc7);
            self.modrm_reg(0, dst as u8);
            self.d32(v as i32);
        } else {
            self.rex(true, 0, 0, dst as u8, false);
            self.b(0xb8 + (dst as u8 & 7));
            self.code.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// `mov dst32, imm32` (zero-extends).
    pub fn mov_ri32(&mut self, dst: Gpr, v: u32) {
        self.rex(false, 0, 0, dst as u8, false);
        self.b(0xb8 + (dst as u8 & 7));
        self.d32(v as i32);
    }

    /// `movabs dst, imm64` (always the 10-byte form, for constant blinding).
    pub fn movabs(&mut self, dst: Gpr, v: u64) {
        self.rex(true, 0, 0, dst as u8, false);
        self.b(0xb8 + (dst as u8 & 7));
        self.code.extend_from_slice(&v.to_le_bytes());
    }

    /// Zero- or sign-extending load of `width` from `[m]` into `dst`.
    pub fn load(&mut self, width: Width, signed: bool, dst: Gpr, m: Mem) {
        let (d, b) = (dst as u8, m.base as u8);
        match (width, signed) {
            (Width::B, false) => {
                self.rex(false, d, 0, b, false);
                self.code.extend_from_slice(&[0x0f, 0xb6]);
            }
            (Width::H, false) => {
                self.rex(false, d, 0, b, false);
                self.code.extend_from_slice(&[0x0f, 0xb7]);
            }
            (Width::W, false) => {
                self.rex(false, d, 0, b, false);
                self.b(0x8b);
            }
            (Width::Q, _) => {
                self.rex(true, d, 0, b, false);
                self.b(0x8b);
            }
            (Width::B, true) => {
                self.rex(true, d, 0, b, false);
                self.code.extend_from_slice(&[0x0f, 0xbe]);
            }
            (Width::H, true) => {
                self.rex(true, d, 0, b, false);
                self.code.extend_from_slice(&[0x0f, 0xbf]);
            }
            (Width::W, true) => {
                self.rex(true, d, 0, b, false);
                self.b(0x63);
            }
        }
        self.modrm_mem(d, m);
    }

    /// Store of the low `width` of `src` to `[m]`.
    pub fn store(&mut self, width: Width, m: Mem, src: Gpr) {
        let (s, b) = (src as u8, m.base as u8);
        match width {
            Width::B => {
                self.rex(false, s, 0, b, (4..8).contains(&s));
                self.b(0x88);
            }
            Width::H => {
                self.b(0x66);
                self.rex(false, s, 0, b, false);
                self.b(0x89);
            }
            Width::W => {
                self.rex(false, s, 0, b, false);
                self.b(0x89);
            }
            Width::Q => {
                self.rex(true, s, 0, b, false);
                self.b(0x89);
            }
        }
        self.modrm_mem(s, m);
    }

    /// Store of an immediate (sign-extended imm32 for the 64-bit form).
    pub fn store_imm(&mut self, width: Width, m: Mem, imm: i32) {
        let b = m.base as u8;
        match width {
            Width::B => {
                self.rex(false, 0, 0, b, false);
                self.b(0xc6);
                self.modrm_mem(0, m);
                self.b(imm as u8);
            }
            Width::H => {
                self.b(0x66);
                self.rex(false, 0, 0, b, false);
                self.b(0xc7);
                self.modrm_mem(0, m);
                self.code.extend_from_slice(&(imm as u16).to_le_bytes());
            }
            Width::W | Width::Q => {
                self.rex(width == Width::Q, 0, 0, b, false);
                self.b(0xc7);
                self.modrm_mem(0, m);
                self.d32(imm);
            }
        }
    }

    /// `lea dst, [m]`.
    pub fn lea(&mut self, dst: Gpr, m: Mem) {
        self.rex(true, dst as u8, 0, m.base as u8, false);
        self.b(0x8d);
        self.modrm_mem(dst as u8, m);
    }

    /// `lea dst, [a + b]`.
    pub fn lea_rr(&mut self, dst: Gpr, a: Gpr, b: Gpr) {
        // rsp cannot be an index; the JIT never uses it as one.
        debug_assert_ne!(b, Gpr::Rsp);
        self.rex(true, dst as u8, b as u8, a as u8, false);
        self.b(0x8d);
        if a as u8 & 7 == 5 {
            self.b(0x44 | (dst as u8 & 7) << 3);
            self.b((b as u8 & 7) << 3 | (a as u8 & 7));
            self.b(0);
        } else {
            self.b(0x04 | (dst as u8 & 7) << 3);
            self.b((b as u8 & 7) << 3 | (a as u8 & 7));
        }
    }

    /// Shift by an immediate.
    pub fn shift_ri(&mut self, op: Shift, w64: bool, dst: Gpr, imm: u8) {
        self.rex(w64, 0, 0, dst as u8, false);
        self.b(0xc1);
        self.modrm_reg(op as u8, dst as u8);
        self.b(imm);
    }

    /// Shift by `cl`.
    pub fn shift_cl(&mut self, op: Shift, w64: bool, dst: Gpr) {
        self.rex(w64, 0, 0, dst as u8, false);
        self.b(0xd3);
        self.modrm_reg(op as u8, dst as u8);
    }

    /// `imul dst, src`.
    pub fn imul_rr(&mut self, w64: bool, dst: Gpr, src: Gpr) {
        self.rex(w64, dst as u8, 0, src as u8, false);
        self.code.extend_from_slice(&[0x0f, 0xaf]);
        self.modrm_reg(dst as u8, src as u8);
    }

    /// `imul dst, src, imm`.
    pub fn imul_rri(&mut self, w64: bool, dst: Gpr, src: Gpr, imm: i32) {
        self.rex(w64, dst as u8, 0, src as u8, false);
        if (-128..=127).contains(&imm) {
            self.b(0x6b);
            self.modrm_reg(dst as u8, src as u8);
            self.b(imm as i8 as u8);
        } else {
            self.b(0x69);
            self.modrm_reg(dst as u8, src as u8);
            self.d32(imm);
        }
    }

    /// `neg dst`.
    pub fn neg(&mut self, w64: bool, dst: Gpr) {
        self.rex(w64, 0, 0, dst as u8, false);
        self.b(0xf7);
        self.modrm_reg(3, dst as u8);
    }

    /// `div src` (unsigned) or `idiv src` (signed) of rdx:rax.
    pub fn div(&mut self, w64: bool, signed: bool, src: Gpr) {
        self.rex(w64, 0, 0, src as u8, false);
        self.b(0xf7);
        self.modrm_reg(if signed { 7 } else { 6 }, src as u8);
    }

    /// `cqo` (64-bit) or `cdq` (32-bit): sign-extend rax into rdx.
    pub fn sign_extend_rax(&mut self, w64: bool) {
        if w64 {
            self.b(0x48);
        }
        self.b(0x99);
    }

    /// `test a, b`.
    pub fn test_rr(&mut self, w64: bool, a: Gpr, b: Gpr) {
        self.rex(w64, b as u8, 0, a as u8, false);
        self.b(0x85);
        self.modrm_reg(b as u8, a as u8);
    }

    /// `test a, imm` (sign-extended imm32 in 64-bit form).
    pub fn test_ri(&mut self, w64: bool, a: Gpr, imm: i32) {
        self.rex(w64, 0, 0, a as u8, false);
        self.b(0xf7);
        self.modrm_reg(0, a as u8);
        self.d32(imm);
    }

    /// `bswap r`.
    pub fn bswap(&mut self, w64: bool, r: Gpr) {
        self.rex(w64, 0, 0, r as u8, false);
        self.b(0x0f);
        self.b(0xc8 + (r as u8 & 7));
    }

    /// `ror r16, 8`: swaps the two low bytes.
    pub fn ror16_8(&mut self, r: Gpr) {
        self.b(0x66);
        self.rex(false, 0, 0, r as u8, false);
        self.b(0xc1);
        self.modrm_reg(1, r as u8);
        self.b(8);
    }

    /// `movzx dst32, src16` or `movzx dst32, src8`.
    pub fn movzx_rr(&mut self, bits: u8, dst: Gpr, src: Gpr) {
        let force = bits == 8 && (4..8).contains(&(src as u8));
        self.rex(false, dst as u8, 0, src as u8, force);
        self.b(0x0f);
        self.b(if bits == 8 { 0xb6 } else { 0xb7 });
        self.modrm_reg(dst as u8, src as u8);
    }

    /// `movsx dst, src{8,16}` or `movsxd dst, src32`, into 32 or 64 bits.
    pub fn movsx_rr(&mut self, w64: bool, bits: u8, dst: Gpr, src: Gpr) {
        let force = bits == 8 && (4..8).contains(&(src as u8));
        self.rex(w64, dst as u8, 0, src as u8, force);
        match bits {
            8 => self.code.extend_from_slice(&[0x0f, 0xbe]),
            16 => self.code.extend_from_slice(&[0x0f, 0xbf]),
            _ => self.b(0x63),
        }
        self.modrm_reg(dst as u8, src as u8);
    }

    /// `mov dst, [m]` (64-bit).
    pub fn mov_rm(&mut self, dst: Gpr, m: Mem) {
        self.load(Width::Q, false, dst, m);
    }

    /// `mov [m], src` (64-bit).
    pub fn mov_mr(&mut self, m: Mem, src: Gpr) {
        self.store(Width::Q, m, src);
    }

    /// `inc`/`dec dword [m]`.
    pub fn incdec32_m(&mut self, inc: bool, m: Mem) {
        self.rex(false, 0, 0, m.base as u8, false);
        self.b(0xff);
        self.modrm_mem(if inc { 0 } else { 1 }, m);
    }

    /// `push r`.
    pub fn push(&mut self, r: Gpr) {
        self.rex(false, 0, 0, r as u8, false);
        self.b(0x50 + (r as u8 & 7));
    }

    /// `pop r`.
    pub fn pop(&mut self, r: Gpr) {
        self.rex(false, 0, 0, r as u8, false);
        self.b(0x58 + (r as u8 & 7));
    }

    /// `push qword [m]`.
    pub fn push_m(&mut self, m: Mem) {
        self.rex(false, 0, 0, m.base as u8, false);
        self.b(0xff);
        self.modrm_mem(6, m);
    }

    /// `pop qword [m]`.
    pub fn pop_m(&mut self, m: Mem) {
        self.rex(false, 0, 0, m.base as u8, false);
        self.b(0x8f);
        self.modrm_mem(0, m);
    }

    /// `call r`.
    pub fn call_r(&mut self, r: Gpr) {
        self.rex(false, 0, 0, r as u8, false);
        self.b(0xff);
        self.modrm_reg(2, r as u8);
    }

    /// `call qword [m]`.
    pub fn call_m(&mut self, m: Mem) {
        self.rex(false, 0, 0, m.base as u8, false);
        self.b(0xff);
        self.modrm_mem(2, m);
    }

    /// `call label`.
    pub fn call(&mut self, l: Label) {
        self.b(0xe8);
        self.rel32(l);
    }

    /// `ret`.
    pub fn ret(&mut self) {
        self.b(0xc3);
    }

    fn rel32(&mut self, l: Label) {
        self.labels.use_at(self.code.len(), l, ());
        self.d32(0);
    }

    /// `jmp label` (rel8 when the label is already placed and near).
    pub fn jmp(&mut self, l: Label) {
        if let Some(t) = self.offset_of(l) {
            let rel = t as i64 - (self.pos() as i64 + 2);
            if rel >= -128 {
                self.b(0xeb);
                self.b(rel as i8 as u8);
                return;
            }
        }
        self.b(0xe9);
        self.rel32(l);
    }

    /// `jcc label` (rel8 when the label is already placed and near).
    pub fn jcc(&mut self, c: Cond, l: Label) {
        if let Some(t) = self.offset_of(l) {
            let rel = t as i64 - (self.pos() as i64 + 2);
            if rel >= -128 {
                self.b(0x70 + c as u8);
                self.b(rel as i8 as u8);
                return;
            }
        }
        self.b(0x0f);
        self.b(0x80 + c as u8);
        self.rel32(l);
    }

    /// `int3`, as padding that traps.
    pub fn int3(&mut self) {
        self.b(0xcc);
    }

    /// Multi-byte `nop`s up to the next multiple of `align` bytes.
    pub fn align(&mut self, align: usize) {
        // The recommended nop forms of 1 to 8 bytes.
        const NOPS: [&[u8]; 8] = [
            &[0x90],
            &[0x66, 0x90],
            &[0x0f, 0x1f, 0x00],
            &[0x0f, 0x1f, 0x40, 0x00],
            &[0x0f, 0x1f, 0x44, 0x00, 0x00],
            &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
            &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
            &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
        ];
        let mut gap = (align - self.pos() % align) % align;
        while gap > 0 {
            let n = gap.min(8);
            self.code.extend_from_slice(NOPS[n - 1]);
            gap -= n;
        }
    }
}
