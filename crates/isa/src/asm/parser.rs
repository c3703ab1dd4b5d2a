//! The token cursor shared by both dialects: registers, numbers, targets, calls.

use super::lexer::{Tok, Token};
use crate::error::IsaError;
use crate::helper_ids::helper_id;
use crate::insn::*;

/// A jump or call destination before label resolution.
#[derive(Clone, Debug)]
pub(super) enum Target {
    /// A slot-relative offset as written (`+3`, `-1`).
    Rel(i64),
    /// A label and the column where it was named.
    Label(String, usize),
}

pub(super) type Res<T> = Result<T, IsaError>;

pub(super) struct Parser<'a> {
    pub toks: &'a [Token],
    pub pos: usize,
    pub line: usize,
    pub end_column: usize,
}

/// Splits a `32`/`64` width suffix off a mnemonic.
pub(super) fn split_width(m: &str) -> (&str, Width) {
    if let Some(base) = m.strip_suffix("32") {
        (base, Width::W32)
    } else if let Some(base) = m.strip_suffix("64") {
        (base, Width::W64)
    } else {
        (m, Width::W64)
    }
}

pub(super) fn end_from_name(m: &str) -> Option<(ByteOrder, u8)> {
    let (order, bits) = if let Some(b) = m.strip_prefix("le") {
        (ByteOrder::Le, b)
    } else if let Some(b) = m.strip_prefix("be") {
        (ByteOrder::Be, b)
    } else if let Some(b) = m.strip_prefix("bswap").or_else(|| m.strip_prefix("swap")) {
        (ByteOrder::Swap, b)
    } else {
        return None;
    };
    match bits {
        "16" => Some((order, 16)),
        "32" => Some((order, 32)),
        "64" => Some((order, 64)),
        _ => None,
    }
}

impl<'a> Parser<'a> {
    pub(super) fn err<T>(&self, column: usize, message: impl Into<String>) -> Res<T> {
        Err(IsaError::Asm {
            line: self.line,
            column,
            message: message.into(),
        })
    }

    pub(super) fn peek_n(&self, n: usize) -> Option<&'a Tok> {
        self.toks.get(self.pos + n).map(|t| &t.kind)
    }

    pub(super) fn peek(&self) -> Option<&'a Tok> {
        self.peek_n(0)
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub(super) fn column(&self) -> usize {
        self.toks
            .get(self.pos)
            .map_or(self.end_column, |t| t.column)
    }

    pub(super) fn describe(&self) -> String {
        match self.peek() {
            None => "end of line".to_string(),
            Some(Tok::Ident(s)) => format!("`{s}`"),
            Some(Tok::Num(n)) => format!("`{n}`"),
            Some(Tok::Punct(p)) => format!("`{p}`"),
        }
    }

    pub(super) fn done(&self) -> Res<()> {
        if self.at_end() {
            Ok(())
        } else {
            self.err(
                self.column(),
                format!("unexpected {} after instruction", self.describe()),
            )
        }
    }

    pub(super) fn eat_punct(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(q)) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect_punct(&mut self, p: &str) -> Res<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            self.err(
                self.column(),
                format!("expected `{p}`, found {}", self.describe()),
            )
        }
    }

    pub(super) fn eat_ident(&mut self, name: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s == name) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect_ident(&mut self, name: &str) -> Res<()> {
        if self.eat_ident(name) {
            Ok(())
        } else {
            self.err(
                self.column(),
                format!("expected `{name}`, found {}", self.describe()),
            )
        }
    }

    pub(super) fn ident(&mut self, what: &str) -> Res<(&'a str, usize)> {
        let column = self.column();
        match self.peek() {
            Some(Tok::Ident(s)) => {
                self.pos += 1;
                Ok((s.as_str(), column))
            }
            _ => self.err(
                column,
                format!("expected {what}, found {}", self.describe()),
            ),
        }
    }

    pub(super) fn is_reg_next(&self) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if parse_reg(s).is_some())
    }

    /// A register: `r1`, `w1`, `%r1` or `%w1`.
    pub(super) fn reg(&mut self) -> Res<(Reg, Width)> {
        let column = self.column();
        if let Some(Tok::Ident(s)) = self.peek() {
            if let Some(r) = parse_reg(s) {
                self.pos += 1;
                return r.ok_or(()).or_else(|()| {
                    self.err(
                        column,
                        format!("no register `{s}`; registers are r0 to r10"),
                    )
                });
            }
        }
        self.err(
            column,
            format!("expected a register, found {}", self.describe()),
        )
    }

    pub(super) fn reg_width(&mut self, width: Width) -> Res<Reg> {
        let column = self.column();
        let (r, w) = self.reg()?;
        if w != width {
            return self.err(column, "mixes 32-bit (w) and 64-bit (r) registers");
        }
        Ok(r)
    }

    /// A signed integer with optional leading `-` or `+`.
    pub(super) fn int(&mut self) -> Res<i128> {
        let column = self.column();
        let neg = if self.eat_punct("-") {
            true
        } else {
            self.eat_punct("+");
            false
        };
        match self.peek() {
            Some(Tok::Num(n)) if *n <= u64::MAX as u128 => {
                self.pos += 1;
                Ok(if neg { -(*n as i128) } else { *n as i128 })
            }
            Some(Tok::Num(_)) => self.err(column, "number does not fit in 64 bits"),
            _ => self.err(
                column,
                format!("expected a number, found {}", self.describe()),
            ),
        }
    }

    pub(super) fn ranged(&mut self, lo: i128, hi: i128, what: &str) -> Res<i128> {
        let column = self.column();
        let v = self.int()?;
        if v < lo || v > hi {
            return self.err(column, format!("{what} {v} is out of range {lo}..={hi}"));
        }
        Ok(v)
    }

    /// A 32-bit immediate; values up to 2^32-1 wrap when `wrap` is set.
    pub(super) fn imm32(&mut self, wrap: bool) -> Res<i32> {
        if wrap {
            Ok(self.ranged(i32::MIN as i128, u32::MAX as i128, "immediate")? as u32 as i32)
        } else {
            let column = self.column();
            let v = self.int()?;
            if v < i32::MIN as i128 || v > i32::MAX as i128 {
                return self.err(
                    column,
                    format!("immediate {v} does not fit in a sign-extended 32-bit field; use a 64-bit load (`ll`)"),
                );
            }
            Ok(v as i32)
        }
    }

    pub(super) fn imm64(&mut self) -> Res<u64> {
        Ok(self.ranged(i64::MIN as i128, u64::MAX as i128, "immediate")? as u64)
    }

    pub(super) fn off16(&mut self) -> Res<i16> {
        Ok(self.ranged(i16::MIN as i128, i16::MAX as i128, "offset")? as i16)
    }

    pub(super) fn target(&mut self) -> Res<Target> {
        match self.peek() {
            Some(Tok::Ident(s)) if parse_reg(s).is_none() => {
                let column = self.column();
                self.pos += 1;
                Ok(Target::Label(s.clone(), column))
            }
            _ => Ok(Target::Rel(
                self.ranged(i32::MIN as i128, i32::MAX as i128, "offset")? as i64,
            )),
        }
    }

    /// Register or immediate operand of an ALU op or jump.
    pub(super) fn operand(&mut self, width: Width, wrap: bool) -> Res<Operand> {
        if self.is_reg_next() {
            Ok(Operand::Reg(self.reg_width(width)?))
        } else {
            Ok(Operand::Imm(self.imm32(wrap || width == Width::W32)?))
        }
    }

    /// `call N`, `call name`, `call local TARGET`, `call kfunc N`, `call %rN`.
    pub(super) fn call(&mut self) -> Res<(Insn, Option<Target>)> {
        if self.eat_ident("local") {
            let t = self.target()?;
            return Ok((
                Insn::Call {
                    kind: CallKind::Local,
                    imm: 0,
                },
                Some(t),
            ));
        }
        if self.eat_ident("kfunc") {
            let imm = self.imm32(true)?;
            return Ok((
                Insn::Call {
                    kind: CallKind::Kfunc,
                    imm,
                },
                None,
            ));
        }
        if self.is_reg_next() {
            let (reg, _) = self.reg()?;
            return Ok((Insn::Callx { reg }, None));
        }
        if let Some(Tok::Ident(name)) = self.peek() {
            let column = self.column();
            let Some(imm) = helper_id(name) else {
                return self.err(column, format!("unknown helper `{name}`"));
            };
            self.pos += 1;
            return Ok((
                Insn::Call {
                    kind: CallKind::Helper,
                    imm,
                },
                None,
            ));
        }
        let imm = self.imm32(true)?;
        Ok((
            Insn::Call {
                kind: CallKind::Helper,
                imm,
            },
            None,
        ))
    }
}

/// `Some(None)` for a register-shaped name above r10, `None` for other names.
pub(super) fn parse_reg(s: &str) -> Option<Option<(Reg, Width)>> {
    let s = s.strip_prefix('%').unwrap_or(s);
    let (width, digits) = if let Some(d) = s.strip_prefix('r') {
        (Width::W64, d)
    } else if let Some(d) = s.strip_prefix('w') {
        (Width::W32, d)
    } else {
        return None;
    };
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = digits.parse().ok()?;
    Some(Reg::new(n).map(|r| (r, width)))
}
