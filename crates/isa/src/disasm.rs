//! Printing instructions in llvm-objdump syntax and in the kernel verifier's syntax.

use std::fmt::{self, Write as _};

use crate::codec::decode_program;
use crate::error::IsaError;
use crate::helper_ids::helper_name;
use crate::insn::*;

/// Which textual syntax to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Syntax {
    /// llvm-objdump and clang inline-asm syntax: `r1 += 5`, `if r1 > 5 goto +2`.
    #[default]
    Llvm,
    /// The kernel verifier log's syntax: `(07) r1 += 5`, `if r1 > 0x5 goto pc+2`.
    Kernel,
}

fn reg_name(width: Width, r: Reg) -> String {
    match width {
        Width::W32 => format!("w{}", r.num()),
        Width::W64 => format!("r{}", r.num()),
    }
}

fn alu_symbol(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+=",
        AluOp::Sub => "-=",
        AluOp::Mul => "*=",
        AluOp::Div => "/=",
        AluOp::Sdiv => "s/=",
        AluOp::Or => "|=",
        AluOp::And => "&=",
        AluOp::Lsh => "<<=",
        AluOp::Rsh => ">>=",
        AluOp::Mod => "%=",
        AluOp::Smod => "s%=",
        AluOp::Xor => "^=",
        AluOp::Arsh => "s>>=",
        AluOp::Mov | AluOp::Movsx8 | AluOp::Movsx16 | AluOp::Movsx32 => "=",
    }
}

/// The comparison symbol of a jump condition, as both syntaxes print it.
pub fn cond_symbol(cond: JmpCond) -> &'static str {
    match cond {
        JmpCond::Eq => "==",
        JmpCond::Gt => ">",
        JmpCond::Ge => ">=",
        JmpCond::Set => "&",
        JmpCond::Ne => "!=",
        JmpCond::Sgt => "s>",
        JmpCond::Sge => "s>=",
        JmpCond::Lt => "<",
        JmpCond::Le => "<=",
        JmpCond::Slt => "s<",
        JmpCond::Sle => "s<=",
    }
}

fn atomic_name(op: AtomicOp) -> &'static str {
    match op {
        AtomicOp::Add { .. } => "add",
        AtomicOp::Or { .. } => "or",
        AtomicOp::And { .. } => "and",
        AtomicOp::Xor { .. } => "xor",
        AtomicOp::Xchg => "xchg",
        AtomicOp::Cmpxchg => "cmpxchg",
    }
}

fn atomic_symbol(op: AtomicOp) -> &'static str {
    match op {
        AtomicOp::Add { .. } => "+=",
        AtomicOp::Or { .. } => "|=",
        AtomicOp::And { .. } => "&=",
        AtomicOp::Xor { .. } => "^=",
        AtomicOp::Xchg | AtomicOp::Cmpxchg => "?",
    }
}

fn signed_off(off: i16, spaced: bool) -> String {
    match (spaced, off < 0) {
        (true, true) => format!(" - {}", -(off as i32)),
        (true, false) => format!(" + {off}"),
        (false, _) => format!(" {off:+}"),
    }
}

fn mem(size: Size, signed: bool, reg: Reg, off: i16, spaced: bool) -> String {
    format!(
        "*({} *)({}{})",
        size.c_type(signed),
        reg,
        signed_off(off, spaced)
    )
}

fn split_imm(imm: u64) -> (u32, u32) {
    (imm as u32, (imm >> 32) as u32)
}

/// An instruction paired with a syntax, printable with `{}`.
pub struct Display<'a> {
    insn: &'a Insn,
    syntax: Syntax,
}

impl Insn {
    /// Prints the instruction in the given syntax (the kernel's without the index prefix).
    pub fn display(&self, syntax: Syntax) -> Display<'_> {
        Display { insn: self, syntax }
    }
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_llvm(f, self)
    }
}

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.syntax {
            Syntax::Llvm => write_llvm(f, self.insn),
            Syntax::Kernel => {
                let opcode = self.insn.encode()[0].opcode;
                write!(f, "({opcode:02x}) ")?;
                write_kernel(f, self.insn)
            }
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, width: Width, src: Operand) -> fmt::Result {
    match src {
        Operand::Reg(r) => f.write_str(&reg_name(width, r)),
        Operand::Imm(i) => write!(f, "{i}"),
    }
}

fn write_alu(
    f: &mut fmt::Formatter<'_>,
    width: Width,
    op: AluOp,
    dst: Reg,
    src: Operand,
) -> fmt::Result {
    let d = reg_name(width, dst);
    let cast = match op {
        AluOp::Movsx8 => "(s8)",
        AluOp::Movsx16 => "(s16)",
        AluOp::Movsx32 => "(s32)",
        _ => "",
    };
    write!(f, "{d} {} {cast}", alu_symbol(op))?;
    write_operand(f, width, src)
}

fn end_name(order: ByteOrder) -> &'static str {
    match order {
        ByteOrder::Le => "le",
        ByteOrder::Be => "be",
        ByteOrder::Swap => "bswap",
    }
}

fn atomic_width(size: Size) -> Width {
    if size == Size::DW {
        Width::W64
    } else {
        Width::W32
    }
}

fn write_llvm(f: &mut fmt::Formatter<'_>, insn: &Insn) -> fmt::Result {
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => write_alu(f, width, op, dst, src),
        Insn::Neg { width, dst } => {
            let d = reg_name(width, dst);
            write!(f, "{d} = -{d}")
        }
        Insn::End { order, bits, dst } => write!(f, "{dst} = {}{bits} {dst}", end_name(order)),
        Insn::Ja { off } => write!(f, "goto {off:+}"),
        Insn::Ja32 { imm } => write!(f, "gotol {imm:+}"),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            write!(f, "if {} {} ", reg_name(width, dst), cond_symbol(cond))?;
            write_operand(f, width, src)?;
            write!(f, " goto {off:+}")
        }
        Insn::Call { kind, imm } => match kind {
            CallKind::Helper => write!(f, "call {imm}"),
            CallKind::Local => write!(f, "call local {imm:+}"),
            CallKind::Kfunc => write!(f, "call kfunc {imm}"),
        },
        Insn::Callx { reg } => write!(f, "callx {reg}"),
        Insn::Exit => f.write_str("exit"),
        Insn::Ldx {
            size,
            signed,
            dst,
            src,
            off,
        } => write!(f, "{dst} = {}", mem(size, signed, src, off, true)),
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => write!(f, "{} = {imm}", mem(size, false, dst, off, true)),
        Insn::Stx {
            size,
            dst,
            off,
            src,
        } => write!(f, "{} = {src}", mem(size, false, dst, off, true)),
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let w = atomic_width(size);
            let s = reg_name(w, src);
            let addr = format!("{dst}{}", signed_off(off, true));
            let bits = size.bytes() * 8;
            match op {
                AtomicOp::Add { fetch: false }
                | AtomicOp::Or { fetch: false }
                | AtomicOp::And { fetch: false }
                | AtomicOp::Xor { fetch: false } => write!(
                    f,
                    "lock {} {} {s}",
                    mem(size, false, dst, off, true),
                    atomic_symbol(op)
                ),
                AtomicOp::Xchg if w == Width::W32 => write!(f, "{s} = xchg32_32({addr}, {s})"),
                AtomicOp::Xchg => write!(f, "{s} = xchg_64({addr}, {s})"),
                AtomicOp::Cmpxchg => {
                    let r0 = reg_name(w, Reg::R0);
                    let name = if w == Width::W32 {
                        "cmpxchg32_32"
                    } else {
                        "cmpxchg_64"
                    };
                    write!(f, "{r0} = {name}({addr}, {r0}, {s})")
                }
                _ => write!(
                    f,
                    "{s} = atomic_fetch_{}((u{bits} *)({addr}), {s})",
                    atomic_name(op)
                ),
            }
        }
        Insn::Lddw { dst, src, imm } => {
            let (lo, hi) = split_imm(imm);
            match src {
                LddwSrc::Imm64 => write!(f, "{dst} = {imm:#x} ll"),
                LddwSrc::CodeAddr if hi == 0 => {
                    write!(f, "{dst} = {}({:+}) ll", src.name(), lo as i32)
                }
                _ if hi == 0 => write!(f, "{dst} = {}({lo}) ll", src.name()),
                _ => write!(f, "{dst} = {}({lo}, {hi}) ll", src.name()),
            }
        }
        Insn::LdAbs { size, imm } => write!(f, "r0 = *({} *)skb[{imm}]", size.c_type(false)),
        Insn::LdInd { size, src, imm } => {
            let sign = if imm < 0 { '-' } else { '+' };
            write!(
                f,
                "r0 = *({} *)skb[{src} {sign} {}]",
                size.c_type(false),
                (imm as i64).abs()
            )
        }
    }
}

fn write_kernel(f: &mut fmt::Formatter<'_>, insn: &Insn) -> fmt::Result {
    match *insn {
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            write!(f, "if {} {} ", reg_name(width, dst), cond_symbol(cond))?;
            match src {
                Operand::Reg(r) => f.write_str(&reg_name(width, r))?,
                Operand::Imm(i) => write!(f, "{:#x}", i as u32)?,
            }
            write!(f, " goto pc{off:+}")
        }
        Insn::Ja { off } => write!(f, "goto pc{off:+}"),
        Insn::Ja32 { imm } => write!(f, "gotol pc{imm:+}"),
        Insn::Call { kind, imm } => match kind {
            CallKind::Helper => match helper_name(imm) {
                Some(name) => write!(f, "call bpf_{name}#{imm}"),
                None => write!(f, "call unknown#{imm}"),
            },
            CallKind::Local => write!(f, "call pc{imm:+}"),
            CallKind::Kfunc => write!(f, "call kernel-function#{imm}"),
        },
        Insn::Ldx {
            size,
            signed,
            dst,
            src,
            off,
        } => write!(f, "{dst} = {}", mem(size, signed, src, off, false)),
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => write!(f, "{} = {imm}", mem(size, false, dst, off, false)),
        Insn::Stx {
            size,
            dst,
            off,
            src,
        } => write!(f, "{} = {src}", mem(size, false, dst, off, false)),
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let addr = mem(size, false, dst, off, false);
            let addr = addr.trim_start_matches('*');
            let suffix = if size == Size::DW { "64" } else { "" };
            match op {
                AtomicOp::Add { fetch: false }
                | AtomicOp::Or { fetch: false }
                | AtomicOp::And { fetch: false }
                | AtomicOp::Xor { fetch: false } => {
                    write!(f, "lock *{addr} {} {src}", atomic_symbol(op))
                }
                AtomicOp::Xchg => write!(f, "{src} = atomic{suffix}_xchg({addr}, {src})"),
                AtomicOp::Cmpxchg => {
                    write!(f, "r0 = atomic{suffix}_cmpxchg({addr}, r0, {src})")
                }
                _ => write!(
                    f,
                    "{src} = atomic{suffix}_fetch_{}({addr}, {src})",
                    atomic_name(op)
                ),
            }
        }
        Insn::Lddw { dst, src, imm } => {
            let (lo, hi) = split_imm(imm);
            match src {
                LddwSrc::Imm64 => write!(f, "{dst} = {imm:#x}"),
                LddwSrc::MapFd => write!(f, "{dst} = map[fd:{lo}]"),
                LddwSrc::MapIdx => write!(f, "{dst} = map[idx:{lo}]"),
                LddwSrc::MapValue => write!(f, "{dst} = map_value[fd:{lo}]+{hi}"),
                LddwSrc::MapIdxValue => write!(f, "{dst} = map_value[idx:{lo}]+{hi}"),
                LddwSrc::VarAddr => write!(f, "{dst} = btf_var[id:{lo}]"),
                LddwSrc::CodeAddr => write!(f, "{dst} = func[pc{:+}]", lo as i32),
            }
        }
        _ => write_llvm(f, insn),
    }
}

/// Disassembles bytecode into a listing, one instruction per line.
///
/// llvm syntax prints `slot: bytes  text` like llvm-objdump; kernel syntax prints
/// `slot: (opcode) text` like the verifier log.
pub fn disassemble(bytes: &[u8], syntax: Syntax) -> Result<String, IsaError> {
    let mut out = String::new();
    for (slot, insn) in decode_program(bytes)? {
        match syntax {
            Syntax::Llvm => {
                for (i, raw) in insn.encode().iter().enumerate() {
                    let hex: Vec<String> =
                        raw.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
                    let _ = write!(out, "{:>6}:\t{}", slot + i, hex.join(" "));
                    if i == 0 {
                        let _ = write!(out, "\t{insn}");
                    }
                    out.push('\n');
                }
            }
            Syntax::Kernel => {
                let _ = writeln!(out, "{slot}: {}", insn.display(Syntax::Kernel));
            }
        }
    }
    Ok(out)
}
