//! The llvm-objdump / clang inline-asm dialect: `r0 = 1`, `if r1 > 5 goto +2`,
//! `*(u32 *)(r10 - 4) = r1`, `lock *(u64 *)(r1 + 0) += r2`.

use super::lexer::Tok;
use super::parser::{end_from_name, Parser, Res, Target};
use crate::insn::*;

fn size_from_type(name: &str) -> Option<(Size, bool)> {
    Some(match name {
        "u8" => (Size::B, false),
        "u16" => (Size::H, false),
        "u32" => (Size::W, false),
        "u64" => (Size::DW, false),
        "s8" => (Size::B, true),
        "s16" => (Size::H, true),
        "s32" => (Size::W, true),
        _ => return None,
    })
}

impl Parser<'_> {
    /// `(reg + off)` or `(reg - off)` or `(reg)`.
    pub(super) fn paren_addr(&mut self) -> Res<(Reg, i16)> {
        self.expect_punct("(")?;
        let addr = self.addr_body()?;
        self.expect_punct(")")?;
        Ok(addr)
    }

    /// `reg`, `reg + off`, `reg - off` (the inside of an address).
    pub(super) fn addr_body(&mut self) -> Res<(Reg, i16)> {
        let (r, w) = self.reg()?;
        if w == Width::W32 {
            return self.err(self.column(), "addresses use 64-bit registers");
        }
        let off = if matches!(self.peek(), Some(Tok::Punct("+" | "-"))) {
            self.off16()?
        } else {
            0
        };
        Ok((r, off))
    }

    /// `*(type *)` prefix; returns the size and signedness.
    pub(super) fn deref_type(&mut self) -> Res<(Size, bool)> {
        self.expect_punct("*")?;
        self.cast_type_star()
    }

    /// `(type *)`.
    pub(super) fn cast_type_star(&mut self) -> Res<(Size, bool)> {
        self.expect_punct("(")?;
        let (name, column) = self.ident("a type such as u32")?;
        let Some(t) = size_from_type(name) else {
            return self.err(
                column,
                format!("unknown type `{name}`; expected u8, u16, u32, u64, s8, s16 or s32"),
            );
        };
        self.expect_punct("*")?;
        self.expect_punct(")")?;
        Ok(t)
    }

    pub(super) fn llvm_stmt(&mut self) -> Res<(Insn, Option<Target>)> {
        let column = self.column();
        if self.eat_ident("if") {
            let (dst, width) = self.reg()?;
            let cond = self.llvm_cond()?;
            let src = self.operand(width, false)?;
            self.expect_ident("goto")?;
            let t = self.target()?;
            return Ok((
                Insn::Jmp {
                    width,
                    cond,
                    dst,
                    src,
                    off: 0,
                },
                Some(t),
            ));
        }
        if self.eat_ident("goto") {
            return Ok((Insn::Ja { off: 0 }, Some(self.target()?)));
        }
        if self.eat_ident("gotol") {
            return Ok((Insn::Ja32 { imm: 0 }, Some(self.target()?)));
        }
        if self.eat_ident("callx") {
            let (reg, _) = self.reg()?;
            return Ok((Insn::Callx { reg }, None));
        }
        if self.eat_ident("call") {
            return self.call();
        }
        if self.eat_ident("exit") {
            return Ok((Insn::Exit, None));
        }
        if self.eat_ident("lock") {
            let (size, signed) = self.deref_type()?;
            let (dst, off) = self.paren_addr()?;
            if signed || !matches!(size, Size::W | Size::DW) {
                return self.err(column, "atomic operations work on u32 or u64");
            }
            let opcol = self.column();
            let op = match self.peek() {
                Some(Tok::Punct("+=")) => AtomicOp::Add { fetch: false },
                Some(Tok::Punct("|=")) => AtomicOp::Or { fetch: false },
                Some(Tok::Punct("&=")) => AtomicOp::And { fetch: false },
                Some(Tok::Punct("^=")) => AtomicOp::Xor { fetch: false },
                _ => {
                    return self.err(
                        opcol,
                        format!(
                            "expected `+=`, `|=`, `&=` or `^=`, found {}",
                            self.describe()
                        ),
                    )
                }
            };
            self.pos += 1;
            let (src, _) = self.reg()?;
            return Ok((
                Insn::Atomic {
                    size,
                    op,
                    dst,
                    src,
                    off,
                },
                None,
            ));
        }
        if matches!(self.peek(), Some(Tok::Punct("*"))) {
            let (size, signed) = self.deref_type()?;
            if signed {
                return self.err(column, "stores take an unsigned type");
            }
            let (dst, off) = self.paren_addr()?;
            self.expect_punct("=")?;
            if self.is_reg_next() {
                let (src, _) = self.reg()?;
                return Ok((
                    Insn::Stx {
                        size,
                        dst,
                        off,
                        src,
                    },
                    None,
                ));
            }
            let imm = self.imm32(size != Size::DW)?;
            return Ok((
                Insn::St {
                    size,
                    dst,
                    off,
                    imm,
                },
                None,
            ));
        }
        let (dst, width) = self.reg()?;
        let opcol = self.column();
        let op = match self.peek() {
            Some(Tok::Punct("=")) => {
                self.pos += 1;
                return self.llvm_assign(dst, width, column);
            }
            Some(Tok::Punct("+=")) => AluOp::Add,
            Some(Tok::Punct("-=")) => AluOp::Sub,
            Some(Tok::Punct("*=")) => AluOp::Mul,
            Some(Tok::Punct("/=")) => AluOp::Div,
            Some(Tok::Punct("|=")) => AluOp::Or,
            Some(Tok::Punct("&=")) => AluOp::And,
            Some(Tok::Punct("<<=")) => AluOp::Lsh,
            Some(Tok::Punct(">>=")) => AluOp::Rsh,
            Some(Tok::Punct("%=")) => AluOp::Mod,
            Some(Tok::Punct("^=")) => AluOp::Xor,
            Some(Tok::Ident(s)) if s == "s" => {
                let op = match self.peek_n(1) {
                    Some(Tok::Punct(">>=")) => AluOp::Arsh,
                    Some(Tok::Punct("/=")) => AluOp::Sdiv,
                    Some(Tok::Punct("%=")) => AluOp::Smod,
                    _ => return self.err(opcol, "expected `s>>=`, `s/=` or `s%=`"),
                };
                self.pos += 1;
                op
            }
            _ => {
                return self.err(
                    opcol,
                    format!("expected an assignment operator, found {}", self.describe()),
                )
            }
        };
        self.pos += 1;
        let src = self.operand(width, false)?;
        Ok((
            Insn::Alu {
                width,
                op,
                dst,
                src,
            },
            None,
        ))
    }

    pub(super) fn llvm_cond(&mut self) -> Res<JmpCond> {
        let column = self.column();
        let signed = self.eat_ident("s");
        let cond = match (signed, self.peek()) {
            (false, Some(Tok::Punct("=="))) => JmpCond::Eq,
            (false, Some(Tok::Punct("!="))) => JmpCond::Ne,
            (false, Some(Tok::Punct("&"))) => JmpCond::Set,
            (false, Some(Tok::Punct(">"))) => JmpCond::Gt,
            (false, Some(Tok::Punct(">="))) => JmpCond::Ge,
            (false, Some(Tok::Punct("<"))) => JmpCond::Lt,
            (false, Some(Tok::Punct("<="))) => JmpCond::Le,
            (true, Some(Tok::Punct(">"))) => JmpCond::Sgt,
            (true, Some(Tok::Punct(">="))) => JmpCond::Sge,
            (true, Some(Tok::Punct("<"))) => JmpCond::Slt,
            (true, Some(Tok::Punct("<="))) => JmpCond::Sle,
            _ => {
                return self.err(
                    column,
                    format!(
                        "expected a comparison such as `==` or `s<`, found {}",
                        self.describe()
                    ),
                )
            }
        };
        self.pos += 1;
        Ok(cond)
    }

    /// The right-hand side of `dst = ...`.
    pub(super) fn llvm_assign(
        &mut self,
        dst: Reg,
        width: Width,
        column: usize,
    ) -> Res<(Insn, Option<Target>)> {
        let same_reg = |p: &mut Self| -> Res<()> {
            let c = p.column();
            let (r, w) = p.reg()?;
            if r != dst || w != width {
                return p.err(c, "the operand must be the destination register");
            }
            Ok(())
        };
        // r1 = -r1
        if matches!(self.peek(), Some(Tok::Punct("-")))
            && matches!(self.peek_n(1), Some(Tok::Ident(_)))
        {
            self.pos += 1;
            same_reg(self)?;
            return Ok((Insn::Neg { width, dst }, None));
        }
        // Loads: r0 = *(u32 *)(r1 + 4) and r0 = *(u16 *)skb[...]
        if matches!(self.peek(), Some(Tok::Punct("*"))) {
            let (size, signed) = self.deref_type()?;
            if self.eat_ident("skb") {
                if signed || size == Size::DW || dst != Reg::R0 {
                    return self.err(column, "packet loads are `r0 = *(u8|u16|u32 *)skb[...]`");
                }
                self.expect_punct("[")?;
                let insn = if self.is_reg_next() {
                    let (src, _) = self.reg()?;
                    let imm = if matches!(self.peek(), Some(Tok::Punct("+" | "-"))) {
                        self.imm32(false)?
                    } else {
                        0
                    };
                    Insn::LdInd { size, src, imm }
                } else {
                    Insn::LdAbs {
                        size,
                        imm: self.imm32(false)?,
                    }
                };
                self.expect_punct("]")?;
                return Ok((insn, None));
            }
            let (src, off) = self.paren_addr()?;
            if width == Width::W32 && (signed || size == Size::DW) {
                return self.err(column, "a 32-bit destination loads u8, u16 or u32");
            }
            return Ok((
                Insn::Ldx {
                    size,
                    signed,
                    dst,
                    src,
                    off,
                },
                None,
            ));
        }
        // Sign-extending moves: r1 = (s8)r2
        if self.eat_punct("(") {
            let (name, c) = self.ident("s8, s16 or s32")?;
            let op = match name {
                "s8" => AluOp::Movsx8,
                "s16" => AluOp::Movsx16,
                "s32" if width == Width::W64 => AluOp::Movsx32,
                _ => return self.err(c, format!("cannot sign-extend from `{name}` here")),
            };
            self.expect_punct(")")?;
            let src = self.reg_width(width)?;
            return Ok((
                Insn::Alu {
                    width,
                    op,
                    dst,
                    src: Operand::Reg(src),
                },
                None,
            ));
        }
        if let Some(Tok::Ident(name)) = self.peek() {
            let fcol = self.column();
            if let Some((order, bits)) = end_from_name(name) {
                self.pos += 1;
                same_reg(self)?;
                if width == Width::W32 {
                    return self.err(column, "byte swaps use 64-bit register names");
                }
                return Ok((Insn::End { order, bits, dst }, None));
            }
            if let Some(src) = LddwSrc::ALL.iter().copied().find(|s| s.name() == name) {
                self.pos += 1;
                self.expect_punct("(")?;
                let lo = self.ranged(i32::MIN as i128, u32::MAX as i128, "value")? as u32 as u64;
                let hi = if self.eat_punct(",") {
                    self.ranged(i32::MIN as i128, u32::MAX as i128, "value")? as u32 as u64
                } else {
                    0
                };
                self.expect_punct(")")?;
                self.expect_ident("ll")?;
                return Ok((
                    Insn::Lddw {
                        dst,
                        src,
                        imm: lo | (hi << 32),
                    },
                    None,
                ));
            }
            let atomic = match name.as_str() {
                "atomic_fetch_add" => Some(AtomicOp::Add { fetch: true }),
                "atomic_fetch_or" => Some(AtomicOp::Or { fetch: true }),
                "atomic_fetch_and" => Some(AtomicOp::And { fetch: true }),
                "atomic_fetch_xor" => Some(AtomicOp::Xor { fetch: true }),
                _ => None,
            };
            if let Some(op) = atomic {
                self.pos += 1;
                self.expect_punct("(")?;
                let (size, signed) = self.cast_type_star()?;
                let (adst, off) = self.paren_addr()?;
                self.expect_punct(",")?;
                same_reg(self)?;
                self.expect_punct(")")?;
                let want = if width == Width::W32 {
                    Size::W
                } else {
                    Size::DW
                };
                if signed || size != want {
                    return self.err(
                        fcol,
                        "the access type must match the register width (u32 with w, u64 with r)",
                    );
                }
                return Ok((
                    Insn::Atomic {
                        size,
                        op,
                        dst: adst,
                        src: dst,
                        off,
                    },
                    None,
                ));
            }
            let xchg = match name.as_str() {
                "xchg_64" => Some((AtomicOp::Xchg, Width::W64)),
                "xchg32_32" => Some((AtomicOp::Xchg, Width::W32)),
                "cmpxchg_64" => Some((AtomicOp::Cmpxchg, Width::W64)),
                "cmpxchg32_32" => Some((AtomicOp::Cmpxchg, Width::W32)),
                _ => None,
            };
            if let Some((op, w)) = xchg {
                self.pos += 1;
                if w != width {
                    return self.err(fcol, "the destination width does not match the operation");
                }
                self.expect_punct("(")?;
                let (adst, off) = self.addr_body()?;
                self.expect_punct(",")?;
                if op == AtomicOp::Cmpxchg {
                    if dst != Reg::R0 {
                        return self.err(column, "cmpxchg compares with and writes r0");
                    }
                    same_reg(self)?;
                    self.expect_punct(",")?;
                    let src = self.reg_width(width)?;
                    self.expect_punct(")")?;
                    let size = if w == Width::W32 { Size::W } else { Size::DW };
                    return Ok((
                        Insn::Atomic {
                            size,
                            op,
                            dst: adst,
                            src,
                            off,
                        },
                        None,
                    ));
                }
                same_reg(self)?;
                self.expect_punct(")")?;
                let size = if w == Width::W32 { Size::W } else { Size::DW };
                return Ok((
                    Insn::Atomic {
                        size,
                        op,
                        dst: adst,
                        src: dst,
                        off,
                    },
                    None,
                ));
            }
        }
        if self.is_reg_next() {
            let src = self.reg_width(width)?;
            return Ok((
                Insn::Alu {
                    width,
                    op: AluOp::Mov,
                    dst,
                    src: Operand::Reg(src),
                },
                None,
            ));
        }
        // r1 = imm ll (lddw) or r1 = imm (mov)
        let save = self.pos;
        let v = self.int()?;
        if self.eat_ident("ll") {
            if width == Width::W32 {
                return self.err(column, "64-bit loads (`ll`) need an r register");
            }
            self.pos = save;
            let imm = self.imm64()?;
            self.pos += 1;
            return Ok((
                Insn::Lddw {
                    dst,
                    src: LddwSrc::Imm64,
                    imm,
                },
                None,
            ));
        }
        let _ = v;
        self.pos = save;
        let imm = self.imm32(width == Width::W32)?;
        Ok((
            Insn::Alu {
                width,
                op: AluOp::Mov,
                dst,
                src: Operand::Imm(imm),
            },
            None,
        ))
    }
}
