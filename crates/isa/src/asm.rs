//! The assembler: llvm-objdump / inline-asm syntax and the bpf_conformance syntax.
//!
//! Both dialects may be mixed line by line. A line is llvm syntax when it
//! assigns (`r0 = 1`, `r1 += r2`), stores (`*(u32 *)(r10 - 4) = r1`) or begins
//! with `if`, `goto`, `gotol` or `callx`; otherwise it is read as a conformance
//! mnemonic (`mov %r0, 1`, `jne %r1, 2, done`). `exit`, `call` and `lock` work in both.
//!
//! Labels are `name:` at the start of a line. Comments start with `#`, `//` or `;`.
//! Lines pasted from llvm-objdump (`  3:\tb7 00 ... \tr0 = 1`) are accepted: the
//! index and the bytes are skipped, and `<LBB0_2>` annotations are ignored.

use std::collections::HashMap;

use crate::asm_lexer::{tokenize, Tok, Token};
use crate::codec::encode_program;
use crate::error::IsaError;
use crate::helper_ids::helper_id;
use crate::insn::*;

/// A jump or call destination before label resolution.
#[derive(Clone, Debug)]
enum Target {
    /// A slot-relative offset as written (`+3`, `-1`).
    Rel(i64),
    /// A label and the column where it was named.
    Label(String, usize),
}

struct Stmt {
    insn: Insn,
    target: Option<Target>,
    line: usize,
    column: usize,
}

type Res<T> = Result<T, IsaError>;

/// Assembles text into instructions.
pub fn assemble(text: &str) -> Res<Vec<Insn>> {
    let mut stmts: Vec<Stmt> = Vec::new();
    let mut labels: HashMap<String, (usize, usize)> = HashMap::new();
    let mut slot = 0usize;
    for (n, raw_line) in text.lines().enumerate() {
        let line_no = n + 1;
        let (toks, label) = prepare_line(raw_line).map_err(|(column, message)| IsaError::Asm {
            line: line_no,
            column,
            message,
        })?;
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            line: line_no,
            end_column: raw_line.chars().count() + 1,
        };
        if let Some(name) = label {
            define(&mut labels, name, slot, line_no)?;
        }
        // Any number of `name:` labels may precede the instruction.
        while let (Some(Tok::Ident(name)), Some(Tok::Punct(":"))) = (p.peek_n(0), p.peek_n(1)) {
            let name = name.clone();
            p.pos += 2;
            define(&mut labels, name, slot, line_no)?;
        }
        if p.at_end() {
            continue;
        }
        let column = p.column();
        let (insn, target) = if is_llvm_line(&toks[p.pos..]) {
            p.llvm_stmt()?
        } else {
            p.conformance_stmt()?
        };
        p.done()?;
        slot += insn.slots();
        stmts.push(Stmt {
            insn,
            target,
            line: line_no,
            column,
        });
    }
    if !labels.contains_key("exit") {
        let mut s = 0;
        for st in &stmts {
            if st.insn == Insn::Exit {
                labels.insert("exit".to_string(), (s, st.line));
                break;
            }
            s += st.insn.slots();
        }
    }
    let mut out = Vec::with_capacity(stmts.len());
    let mut slot = 0usize;
    for st in stmts {
        let mut insn = st.insn;
        if let Some(target) = st.target {
            let (rel, column) = match target {
                Target::Rel(r) => (r, st.column),
                Target::Label(name, column) => {
                    let &(at, _) = labels.get(&name).ok_or_else(|| IsaError::Asm {
                        line: st.line,
                        column,
                        message: format!("undefined label `{name}`"),
                    })?;
                    (at as i64 - slot as i64 - 1, column)
                }
            };
            set_target(&mut insn, rel).map_err(|message| IsaError::Asm {
                line: st.line,
                column,
                message,
            })?;
        }
        slot += insn.slots();
        out.push(insn);
    }
    Ok(out)
}

/// Assembles text straight to bytecode.
pub fn assemble_bytes(text: &str) -> Res<Vec<u8>> {
    Ok(encode_program(&assemble(text)?))
}

fn define(
    labels: &mut HashMap<String, (usize, usize)>,
    name: String,
    slot: usize,
    line: usize,
) -> Res<()> {
    if let Some(&(_, first)) = labels.get(&name) {
        return Err(IsaError::Asm {
            line,
            column: 1,
            message: format!("label `{name}` is already defined on line {first}"),
        });
    }
    labels.insert(name, (slot, line));
    Ok(())
}

fn set_target(insn: &mut Insn, rel: i64) -> Result<(), String> {
    let off16 = || {
        i16::try_from(rel)
            .map_err(|_| format!("jump offset {rel} does not fit in 16 bits; use gotol"))
    };
    let imm32 = || i32::try_from(rel).map_err(|_| format!("offset {rel} does not fit in 32 bits"));
    match insn {
        Insn::Ja { off } | Insn::Jmp { off, .. } => *off = off16()?,
        Insn::Ja32 { imm } => *imm = imm32()?,
        Insn::Call { imm, .. } => *imm = imm32()?,
        _ => return Err("this instruction takes no target".into()),
    }
    Ok(())
}

/// Removes comments and llvm-objdump decorations, then tokenizes.
/// Returns the tokens and a label taken from an objdump function header.
fn prepare_line(line: &str) -> Result<(Vec<Token>, Option<String>), (usize, String)> {
    let mut cut = line.len();
    for marker in ["#", "//", ";"] {
        if let Some(i) = line.find(marker) {
            cut = cut.min(i);
        }
    }
    let mut text = line[..cut].to_string();
    let trimmed = text.trim();
    if trimmed.starts_with("Disassembly of section") || trimmed.ends_with("file format elf64-bpf") {
        return Ok((Vec::new(), None));
    }
    // `0000000000000000 <name>:` function headers.
    if let Some((addr, rest)) = trimmed.split_once(' ') {
        if addr.chars().all(|c| c.is_ascii_hexdigit())
            && rest.starts_with('<')
            && rest.ends_with(">:")
        {
            return Ok((Vec::new(), Some(rest[1..rest.len() - 2].to_string())));
        }
    }
    // `  12:\tb7 01 00 00 01 00 00 00\tr1 = 1` objdump instruction lines.
    let lead = text.len() - text.trim_start().len();
    let body = &text[lead..];
    let digits = body.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && body[digits..].starts_with(':') {
        let mut rest = &body[digits + 1..];
        loop {
            let t = rest.trim_start();
            let is_byte = t.len() >= 2
                && t.as_bytes()[..2].iter().all(|b| b.is_ascii_hexdigit())
                && t.as_bytes().get(2).is_none_or(|b| b.is_ascii_whitespace());
            if !is_byte {
                break;
            }
            rest = &t[2..];
        }
        let start = line.len() - rest.len();
        text = format!("{}{}", " ".repeat(start), rest);
    }
    // Trailing `<LBB0_2>` symbol annotations.
    if let Some(open) = text.rfind('<') {
        let tail = text[open..].trim_end();
        if tail.ends_with('>')
            && tail.len() > 2
            && tail[1..tail.len() - 1]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c))
            && tail[1..]
                .chars()
                .next()
                .is_some_and(|c| !c.is_ascii_whitespace())
            && !tail[1..tail.len() - 1]
                .chars()
                .all(|c| c.is_ascii_digit() || "+-".contains(c))
        {
            text.truncate(open);
        }
    }
    Ok((tokenize(&text)?, None))
}

fn is_llvm_line(toks: &[Token]) -> bool {
    match toks.first().map(|t| &t.kind) {
        Some(Tok::Ident(w)) if ["if", "goto", "gotol", "callx"].contains(&w.as_str()) => true,
        Some(Tok::Punct("*")) => true,
        _ => toks.iter().any(|t| {
            matches!(&t.kind, Tok::Punct(p) if p.ends_with('=') && !matches!(*p, "==" | "!=" | ">=" | "<="))
        }),
    }
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    line: usize,
    end_column: usize,
}

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

/// Splits a `32`/`64` width suffix off a mnemonic.
fn split_width(m: &str) -> (&str, Width) {
    if let Some(base) = m.strip_suffix("32") {
        (base, Width::W32)
    } else if let Some(base) = m.strip_suffix("64") {
        (base, Width::W64)
    } else {
        (m, Width::W64)
    }
}

fn end_from_name(m: &str) -> Option<(ByteOrder, u8)> {
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
    fn err<T>(&self, column: usize, message: impl Into<String>) -> Res<T> {
        Err(IsaError::Asm {
            line: self.line,
            column,
            message: message.into(),
        })
    }

    fn peek_n(&self, n: usize) -> Option<&'a Tok> {
        self.toks.get(self.pos + n).map(|t| &t.kind)
    }

    fn peek(&self) -> Option<&'a Tok> {
        self.peek_n(0)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn column(&self) -> usize {
        self.toks
            .get(self.pos)
            .map_or(self.end_column, |t| t.column)
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "end of line".to_string(),
            Some(Tok::Ident(s)) => format!("`{s}`"),
            Some(Tok::Num(n)) => format!("`{n}`"),
            Some(Tok::Punct(p)) => format!("`{p}`"),
        }
    }

    fn done(&self) -> Res<()> {
        if self.at_end() {
            Ok(())
        } else {
            self.err(
                self.column(),
                format!("unexpected {} after instruction", self.describe()),
            )
        }
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(q)) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: &str) -> Res<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            self.err(
                self.column(),
                format!("expected `{p}`, found {}", self.describe()),
            )
        }
    }

    fn eat_ident(&mut self, name: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s == name) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_ident(&mut self, name: &str) -> Res<()> {
        if self.eat_ident(name) {
            Ok(())
        } else {
            self.err(
                self.column(),
                format!("expected `{name}`, found {}", self.describe()),
            )
        }
    }

    fn ident(&mut self, what: &str) -> Res<(&'a str, usize)> {
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

    fn is_reg_next(&self) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if parse_reg(s).is_some())
    }

    /// A register: `r1`, `w1`, `%r1` or `%w1`.
    fn reg(&mut self) -> Res<(Reg, Width)> {
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

    fn reg_width(&mut self, width: Width) -> Res<Reg> {
        let column = self.column();
        let (r, w) = self.reg()?;
        if w != width {
            return self.err(column, "mixes 32-bit (w) and 64-bit (r) registers");
        }
        Ok(r)
    }

    /// A signed integer with optional leading `-` or `+`.
    fn int(&mut self) -> Res<i128> {
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

    fn ranged(&mut self, lo: i128, hi: i128, what: &str) -> Res<i128> {
        let column = self.column();
        let v = self.int()?;
        if v < lo || v > hi {
            return self.err(column, format!("{what} {v} is out of range {lo}..={hi}"));
        }
        Ok(v)
    }

    /// A 32-bit immediate; values up to 2^32-1 wrap when `wrap` is set.
    fn imm32(&mut self, wrap: bool) -> Res<i32> {
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

    fn imm64(&mut self) -> Res<u64> {
        Ok(self.ranged(i64::MIN as i128, u64::MAX as i128, "immediate")? as u64)
    }

    fn off16(&mut self) -> Res<i16> {
        Ok(self.ranged(i16::MIN as i128, i16::MAX as i128, "offset")? as i16)
    }

    fn target(&mut self) -> Res<Target> {
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
    fn operand(&mut self, width: Width, wrap: bool) -> Res<Operand> {
        if self.is_reg_next() {
            Ok(Operand::Reg(self.reg_width(width)?))
        } else {
            Ok(Operand::Imm(self.imm32(wrap || width == Width::W32)?))
        }
    }

    /// `call N`, `call name`, `call local TARGET`, `call kfunc N`, `call %rN`.
    fn call(&mut self) -> Res<(Insn, Option<Target>)> {
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

    // ---- llvm dialect ----

    /// `(reg + off)` or `(reg - off)` or `(reg)`.
    fn paren_addr(&mut self) -> Res<(Reg, i16)> {
        self.expect_punct("(")?;
        let addr = self.addr_body()?;
        self.expect_punct(")")?;
        Ok(addr)
    }

    /// `reg`, `reg + off`, `reg - off` (the inside of an address).
    fn addr_body(&mut self) -> Res<(Reg, i16)> {
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
    fn deref_type(&mut self) -> Res<(Size, bool)> {
        self.expect_punct("*")?;
        self.cast_type_star()
    }

    /// `(type *)`.
    fn cast_type_star(&mut self) -> Res<(Size, bool)> {
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

    fn llvm_stmt(&mut self) -> Res<(Insn, Option<Target>)> {
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

    fn llvm_cond(&mut self) -> Res<JmpCond> {
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
    fn llvm_assign(
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

    // ---- conformance dialect ----

    /// `[%rN+off]`.
    fn bracket_addr(&mut self) -> Res<(Reg, i16)> {
        self.expect_punct("[")?;
        let addr = self.addr_body()?;
        self.expect_punct("]")?;
        Ok(addr)
    }

    fn comma(&mut self) -> Res<()> {
        self.expect_punct(",")
    }

    fn conformance_stmt(&mut self) -> Res<(Insn, Option<Target>)> {
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

    fn ldx(&mut self, size: Size, signed: bool) -> Res<(Insn, Option<Target>)> {
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
    fn conformance_atomic(&mut self) -> Res<(Insn, Option<Target>)> {
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

/// Parses a register name: `Some(Some(reg, width))` for a valid register,
/// `Some(None)` for a register-shaped name above r10, `None` for other names.
fn parse_reg(s: &str) -> Option<Option<(Reg, Width)>> {
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
