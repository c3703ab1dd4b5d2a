//! The bpf_conformance dialect: `mov %r0, 1`, `jne %r1, 2, done`,
//! `ldxw %r0, [%r1+4]`, `lock fetch add [%r10-8], %r1`.

use super::parser::{end_from_name, split_width, Parser, Res, Target};
use crate::insn::*;

fn size_from_suffix(s: &str) -> Option<Size> {
    Some(match s {
        "b" => Size::B,
        "h" => Size::H,
        "w" => Size::W,
        "dw" => Size::DW,
        _ => return None,
    })
}

fn cond_from_name(s: &str) -> Option<JmpCond> {
    Some(match s {
        "jeq" => JmpCond::Eq,
        "jgt" => JmpCond::Gt,
        "jge" => JmpCond::Ge,
        "jset" => JmpCond::Set,
        "jne" => JmpCond::Ne,
        "jsgt" => JmpCond::Sgt,
        "jsge" => JmpCond::Sge,
        "jlt" => JmpCond::Lt,
        "jle" => JmpCond::Le,
        "jslt" => JmpCond::Slt,
        "jsle" => JmpCond::Sle,
        _ => return None,
    })
}

fn alu_from_name(s: &str) -> Option<AluOp> {
    Some(match s {
        "add" => AluOp::Add,
        "sub" => AluOp::Sub,
        "mul" => AluOp::Mul,
        "div" => AluOp::Div,
        "sdiv" => AluOp::Sdiv,
        "or" => AluOp::Or,
        "and" => AluOp::And,
        "lsh" => AluOp::Lsh,
        "rsh" => AluOp::Rsh,
        "mod" => AluOp::Mod,
        "smod" => AluOp::Smod,
        "xor" => AluOp::Xor,
        "mov" => AluOp::Mov,
        "arsh" => AluOp::Arsh,
        _ => return None,
    })
}

impl Parser<'_> {
    /// `[%rN+off]`.
    pub(super) fn bracket_addr(&mut self) -> Res<(Reg, i16)> {
        self.expect_punct("[")?;
        let addr = self.addr_body()?;
        self.expect_punct("]")?;
        Ok(addr)
    }

    pub(super) fn comma(&mut self) -> Res<()> {
        self.expect_punct(",")
    }

    pub(super) fn conformance_stmt(&mut self) -> Res<(Insn, Option<Target>)> {
        let (m, column) = self.ident("an instruction mnemonic")?;
        let m = m.to_ascii_lowercase();
        let m = m.as_str();
        match m {
            "exit" => return Ok((Insn::Exit, None)),
            "call" => return self.call(),
            "callx" => {
                let (reg, _) = self.reg()?;
                return Ok((Insn::Callx { reg }, None));
            }
            "ja" => return Ok((Insn::Ja { off: 0 }, Some(self.target()?))),
            "ja32" | "gotol" => return Ok((Insn::Ja32 { imm: 0 }, Some(self.target()?))),
            "lddw" => {
                let (dst, _) = self.reg()?;
                self.comma()?;
                let imm = self.imm64()?;
                return Ok((
                    Insn::Lddw {
                        dst,
                        src: LddwSrc::Imm64,
                        imm,
                    },
                    None,
                ));
            }
            "lock" => return self.conformance_atomic(),
            _ => {}
        }
        if let Some((order, bits)) = end_from_name(m) {
            let (dst, _) = self.reg()?;
            return Ok((Insn::End { order, bits, dst }, None));
        }
        if let Some(rest) = m.strip_prefix("movsx") {
            let (from, width) = match rest {
                "832" => (AluOp::Movsx8, Width::W32),
                "1632" => (AluOp::Movsx16, Width::W32),
                "864" => (AluOp::Movsx8, Width::W64),
                "1664" => (AluOp::Movsx16, Width::W64),
                "3264" => (AluOp::Movsx32, Width::W64),
                _ => return self.err(column, format!("unknown mnemonic `{m}`")),
            };
            let (dst, _) = self.reg()?;
            self.comma()?;
            let (src, _) = self.reg()?;
            return Ok((
                Insn::Alu {
                    width,
                    op: from,
                    dst,
                    src: Operand::Reg(src),
                },
                None,
            ));
        }
        if let Some(s) = m.strip_prefix("ldxs").and_then(size_from_suffix) {
            if s != Size::DW {
                return self.ldx(s, true);
            }
        }
        if let Some(s) = m.strip_prefix("ldx").and_then(size_from_suffix) {
            return self.ldx(s, false);
        }
        if let Some(size) = m.strip_prefix("stx").and_then(size_from_suffix) {
            let (dst, off) = self.bracket_addr()?;
            self.comma()?;
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
        if let Some(size) = m.strip_prefix("st").and_then(size_from_suffix) {
            let (dst, off) = self.bracket_addr()?;
            self.comma()?;
            let imm = self.imm32(true)?;
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
        if let Some(size) = m.strip_prefix("ldabs").and_then(size_from_suffix) {
            if size != Size::DW {
                let imm = self.imm32(true)?;
                return Ok((Insn::LdAbs { size, imm }, None));
            }
        }
        if let Some(size) = m.strip_prefix("ldind").and_then(size_from_suffix) {
            if size != Size::DW {
                let (src, _) = self.reg()?;
                self.comma()?;
                let imm = self.imm32(true)?;
                return Ok((Insn::LdInd { size, src, imm }, None));
            }
        }
        let (base, width) = split_width(m);
        if base == "neg" {
            let (dst, _) = self.reg()?;
            return Ok((Insn::Neg { width, dst }, None));
        }
        if let Some(cond) = cond_from_name(base) {
            let (dst, _) = self.reg()?;
            self.comma()?;
            let src = if self.is_reg_next() {
                Operand::Reg(self.reg()?.0)
            } else {
                Operand::Imm(self.imm32(true)?)
            };
            self.comma()?;
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
        if let Some(op) = alu_from_name(base) {
            let (dst, _) = self.reg()?;
            self.comma()?;
            let src = if self.is_reg_next() {
                Operand::Reg(self.reg()?.0)
            } else {
                Operand::Imm(self.imm32(true)?)
            };
            return Ok((
                Insn::Alu {
                    width,
                    op,
                    dst,
                    src,
                },
                None,
            ));
        }
        self.err(column, format!("unknown mnemonic `{m}`"))
    }

    pub(super) fn ldx(&mut self, size: Size, signed: bool) -> Res<(Insn, Option<Target>)> {
        let (dst, _) = self.reg()?;
        self.comma()?;
        let (src, off) = self.bracket_addr()?;
        Ok((
            Insn::Ldx {
                size,
                signed,
                dst,
                src,
                off,
            },
            None,
        ))
    }

    /// `lock [fetch] add|or|and|xor|xchg|cmpxchg[32] [%rD+off], %rS`.
    pub(super) fn conformance_atomic(&mut self) -> Res<(Insn, Option<Target>)> {
        let fetch = self.eat_ident("fetch");
        let (name, column) = self.ident("an atomic operation")?;
        let (base, width) = split_width(name);
        let op = match base {
            "add" => AtomicOp::Add { fetch },
            "or" => AtomicOp::Or { fetch },
            "and" => AtomicOp::And { fetch },
            "xor" => AtomicOp::Xor { fetch },
            "xchg" => AtomicOp::Xchg,
            "cmpxchg" => AtomicOp::Cmpxchg,
            _ => return self.err(column, format!("unknown atomic operation `{name}`")),
        };
        let size = if width == Width::W32 {
            Size::W
        } else {
            Size::DW
        };
        let (dst, off) = self.bracket_addr()?;
        self.comma()?;
        let (src, _) = self.reg()?;
        Ok((
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            },
            None,
        ))
    }
}
