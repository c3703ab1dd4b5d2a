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

mod conformance;
mod lexer;
mod llvm;
mod parser;

use std::collections::HashMap;

use crate::codec::encode_program;
use crate::error::IsaError;
use crate::insn::*;
use lexer::Tok;
use lexer::{tokenize, Token};
use parser::{Parser, Res, Target};

struct Stmt {
    insn: Insn,
    target: Option<Target>,
    line: usize,
    column: usize,
}

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
