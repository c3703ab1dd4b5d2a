//! Loading: decoding once, validating control flow and resolving helpers into
//! a compact form the interpreter loop runs without further decoding.

use oxbpf_isa::{
    decode_program, AluOp, AtomicOp, ByteOrder, CallKind, Insn, JmpCond, LddwSrc, Operand, Size,
    Width,
};

use crate::error::VmError;
use crate::helpers::{HelperFn, Helpers};

/// Pre-decoded operation kinds: one per (operation, width, operand kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[rustfmt::skip]
#[allow(missing_docs)]
pub(crate) enum K {
    Add64I, Add64R, Sub64I, Sub64R, Mul64I, Mul64R, Div64I, Div64R, Sdiv64I, Sdiv64R,
    Mod64I, Mod64R, Smod64I, Smod64R, Or64I, Or64R, And64I, And64R, Xor64I, Xor64R,
    Lsh64I, Lsh64R, Rsh64I, Rsh64R, Arsh64I, Arsh64R, Mov64I, Mov64R,
    Movsx8x64, Movsx16x64, Movsx32x64, Neg64,
    Add32I, Add32R, Sub32I, Sub32R, Mul32I, Mul32R, Div32I, Div32R, Sdiv32I, Sdiv32R,
    Mod32I, Mod32R, Smod32I, Smod32R, Or32I, Or32R, And32I, And32R, Xor32I, Xor32R,
    Lsh32I, Lsh32R, Rsh32I, Rsh32R, Arsh32I, Arsh32R, Mov32I, Mov32R,
    Movsx8x32, Movsx16x32, Neg32,
    Le16, Le32, Le64, Be16, Be32, Be64, Swap16, Swap32, Swap64,
    Ja,
    Jeq64I, Jeq64R, Jgt64I, Jgt64R, Jge64I, Jge64R, Jset64I, Jset64R, Jne64I, Jne64R,
    Jsgt64I, Jsgt64R, Jsge64I, Jsge64R, Jlt64I, Jlt64R, Jle64I, Jle64R, Jslt64I, Jslt64R,
    Jsle64I, Jsle64R,
    Jeq32I, Jeq32R, Jgt32I, Jgt32R, Jge32I, Jge32R, Jset32I, Jset32R, Jne32I, Jne32R,
    Jsgt32I, Jsgt32R, Jsge32I, Jsge32R, Jlt32I, Jlt32R, Jle32I, Jle32R, Jslt32I, Jslt32R,
    Jsle32I, Jsle32R,
    CallHelper, CallLocal, Callx, Exit,
    LdxB, LdxH, LdxW, LdxDW, LdxsB, LdxsH, LdxsW,
    StB, StH, StW, StDW, StxB, StxH, StxW, StxDW,
    Atomic32, Atomic64,
    Lddw, LdAbsB, LdAbsH, LdAbsW, LdIndB, LdIndH, LdIndW,
    /// The second slot of an lddw; never executed (jumps into it are rejected).
    LddwHi,
    /// Placed after the last instruction: reaching it means falling off the end.
    End,
}

/// One pre-decoded slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    pub kind: K,
    pub dst: u8,
    pub src: u8,
    /// Memory offset, or jump/call displacement in slots.
    pub off: i32,
    /// Immediate, sign-extended to 64 bits; lddw's full value; a helper's table index.
    pub imm: u64,
}

/// A validated, pre-decoded program.
#[derive(Clone)]
pub struct Program {
    pub(crate) ops: Vec<Op>,
    /// The decoded instruction at each slot (`None` for lddw second halves), for tracing.
    pub(crate) insns: Vec<Option<Insn>>,
    /// Helpers called by immediate id, indexed by `Op::imm` of `CallHelper`.
    pub(crate) helper_table: Vec<(u32, HelperFn)>,
    /// All registered helpers, for `callx`.
    pub(crate) helpers: Helpers,
    /// Bytes of stack the program's runs get (see [`Program::stack_size`]).
    pub(crate) stack_size: usize,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("slots", &self.insns.len())
            .field("helpers", &self.helpers)
            .finish()
    }
}

fn alu_kind(width: Width, op: AluOp, reg: bool) -> K {
    use K::*;
    let (i, r) = match (width, op) {
        (Width::W64, AluOp::Add) => (Add64I, Add64R),
        (Width::W64, AluOp::Sub) => (Sub64I, Sub64R),
        (Width::W64, AluOp::Mul) => (Mul64I, Mul64R),
        (Width::W64, AluOp::Div) => (Div64I, Div64R),
        (Width::W64, AluOp::Sdiv) => (Sdiv64I, Sdiv64R),
        (Width::W64, AluOp::Mod) => (Mod64I, Mod64R),
        (Width::W64, AluOp::Smod) => (Smod64I, Smod64R),
        (Width::W64, AluOp::Or) => (Or64I, Or64R),
        (Width::W64, AluOp::And) => (And64I, And64R),
        (Width::W64, AluOp::Xor) => (Xor64I, Xor64R),
        (Width::W64, AluOp::Lsh) => (Lsh64I, Lsh64R),
        (Width::W64, AluOp::Rsh) => (Rsh64I, Rsh64R),
        (Width::W64, AluOp::Arsh) => (Arsh64I, Arsh64R),
        (Width::W64, AluOp::Mov) => (Mov64I, Mov64R),
        (Width::W64, AluOp::Movsx8) => (Movsx8x64, Movsx8x64),
        (Width::W64, AluOp::Movsx16) => (Movsx16x64, Movsx16x64),
        (Width::W64, AluOp::Movsx32) => (Movsx32x64, Movsx32x64),
        (Width::W32, AluOp::Add) => (Add32I, Add32R),
        (Width::W32, AluOp::Sub) => (Sub32I, Sub32R),
        (Width::W32, AluOp::Mul) => (Mul32I, Mul32R),
        (Width::W32, AluOp::Div) => (Div32I, Div32R),
        (Width::W32, AluOp::Sdiv) => (Sdiv32I, Sdiv32R),
        (Width::W32, AluOp::Mod) => (Mod32I, Mod32R),
        (Width::W32, AluOp::Smod) => (Smod32I, Smod32R),
        (Width::W32, AluOp::Or) => (Or32I, Or32R),
        (Width::W32, AluOp::And) => (And32I, And32R),
        (Width::W32, AluOp::Xor) => (Xor32I, Xor32R),
        (Width::W32, AluOp::Lsh) => (Lsh32I, Lsh32R),
        (Width::W32, AluOp::Rsh) => (Rsh32I, Rsh32R),
        (Width::W32, AluOp::Arsh) => (Arsh32I, Arsh32R),
        (Width::W32, AluOp::Mov) => (Mov32I, Mov32R),
        (Width::W32, AluOp::Movsx8) => (Movsx8x32, Movsx8x32),
        // The decoder rejects a 32-bit movsx32; treat as movsx16 never happens.
        (Width::W32, AluOp::Movsx16 | AluOp::Movsx32) => (Movsx16x32, Movsx16x32),
    };
    if reg {
        r
    } else {
        i
    }
}

fn jmp_kind(width: Width, cond: JmpCond, reg: bool) -> K {
    use K::*;
    let (i, r) = match (width, cond) {
        (Width::W64, JmpCond::Eq) => (Jeq64I, Jeq64R),
        (Width::W64, JmpCond::Gt) => (Jgt64I, Jgt64R),
        (Width::W64, JmpCond::Ge) => (Jge64I, Jge64R),
        (Width::W64, JmpCond::Set) => (Jset64I, Jset64R),
        (Width::W64, JmpCond::Ne) => (Jne64I, Jne64R),
        (Width::W64, JmpCond::Sgt) => (Jsgt64I, Jsgt64R),
        (Width::W64, JmpCond::Sge) => (Jsge64I, Jsge64R),
        (Width::W64, JmpCond::Lt) => (Jlt64I, Jlt64R),
        (Width::W64, JmpCond::Le) => (Jle64I, Jle64R),
        (Width::W64, JmpCond::Slt) => (Jslt64I, Jslt64R),
        (Width::W64, JmpCond::Sle) => (Jsle64I, Jsle64R),
        (Width::W32, JmpCond::Eq) => (Jeq32I, Jeq32R),
        (Width::W32, JmpCond::Gt) => (Jgt32I, Jgt32R),
        (Width::W32, JmpCond::Ge) => (Jge32I, Jge32R),
        (Width::W32, JmpCond::Set) => (Jset32I, Jset32R),
        (Width::W32, JmpCond::Ne) => (Jne32I, Jne32R),
        (Width::W32, JmpCond::Sgt) => (Jsgt32I, Jsgt32R),
        (Width::W32, JmpCond::Sge) => (Jsge32I, Jsge32R),
        (Width::W32, JmpCond::Lt) => (Jlt32I, Jlt32R),
        (Width::W32, JmpCond::Le) => (Jle32I, Jle32R),
        (Width::W32, JmpCond::Slt) => (Jslt32I, Jslt32R),
        (Width::W32, JmpCond::Sle) => (Jsle32I, Jsle32R),
    };
    if reg {
        r
    } else {
        i
    }
}

fn op(kind: K, dst: u8, src: u8, off: i32, imm: u64) -> Op {
    Op {
        kind,
        dst,
        src,
        off,
        imm,
    }
}

fn operand(src: Operand) -> (bool, u8, u64) {
    match src {
        Operand::Reg(r) => (true, r.num(), 0),
        Operand::Imm(i) => (false, 0, i as i64 as u64),
    }
}

impl Program {
    /// Decodes and validates `bytecode`, resolving helper calls against `helpers`.
    pub fn new(bytecode: &[u8], helpers: &Helpers) -> Result<Program, VmError> {
        Program::with_resolver(bytecode, helpers, &|_, _| None)
    }

    /// Like [`Program::new`]; `resolve` gives the 64-bit value to load for each
    /// `lddw` pseudo form other than a plain immediate (a map handle, the address
    /// of a map value), or `None` when it cannot.
    pub fn with_resolver(
        bytecode: &[u8],
        helpers: &Helpers,
        resolve: &dyn Fn(LddwSrc, u64) -> Option<u64>,
    ) -> Result<Program, VmError> {
        let decoded = decode_program(bytecode)?;
        if decoded.is_empty() {
            return Err(VmError::EmptyProgram);
        }
        let len = bytecode.len() / 8;
        let mut insns: Vec<Option<Insn>> = vec![None; len];
        for &(slot, insn) in &decoded {
            insns[slot] = Some(insn);
        }
        let mut ops = Vec::with_capacity(len + 1);
        let mut helper_table: Vec<(u32, HelperFn)> = Vec::new();
        let check_target = |index: usize, rel: i64| -> Result<(), VmError> {
            let target = index as i64 + 1 + rel;
            if target < 0 || target >= len as i64 {
                return Err(VmError::JumpOutOfRange { index, target, len });
            }
            if insns[target as usize].is_none() {
                return Err(VmError::JumpIntoLddw {
                    index,
                    target: target as usize,
                });
            }
            Ok(())
        };
        for &(index, insn) in &decoded {
            let o = match insn {
                Insn::Alu {
                    width,
                    op: aop,
                    dst,
                    src,
                } => {
                    let (reg, s, imm) = operand(src);
                    op(alu_kind(width, aop, reg), dst.num(), s, 0, imm)
                }
                Insn::Neg { width, dst } => {
                    let k = if width == Width::W64 {
                        K::Neg64
                    } else {
                        K::Neg32
                    };
                    op(k, dst.num(), 0, 0, 0)
                }
                Insn::End { order, bits, dst } => {
                    let k = match (order, bits) {
                        (ByteOrder::Le, 16) => K::Le16,
                        (ByteOrder::Le, 32) => K::Le32,
                        (ByteOrder::Le, _) => K::Le64,
                        (ByteOrder::Be, 16) => K::Be16,
                        (ByteOrder::Be, 32) => K::Be32,
                        (ByteOrder::Be, _) => K::Be64,
                        (ByteOrder::Swap, 16) => K::Swap16,
                        (ByteOrder::Swap, 32) => K::Swap32,
                        (ByteOrder::Swap, _) => K::Swap64,
                    };
                    op(k, dst.num(), 0, 0, 0)
                }
                Insn::Ja { off } => {
                    check_target(index, off as i64)?;
                    op(K::Ja, 0, 0, off as i32, 0)
                }
                Insn::Ja32 { imm } => {
                    check_target(index, imm as i64)?;
                    op(K::Ja, 0, 0, imm, 0)
                }
                Insn::Jmp {
                    width,
                    cond,
                    dst,
                    src,
                    off,
                } => {
                    check_target(index, off as i64)?;
                    let (reg, s, imm) = operand(src);
                    op(jmp_kind(width, cond, reg), dst.num(), s, off as i32, imm)
                }
                Insn::Call {
                    kind: CallKind::Helper,
                    imm,
                } => {
                    let id = imm as u32;
                    let f = helpers
                        .get(id)
                        .ok_or(VmError::UnknownHelper { index, id: imm })?;
                    let slot = match helper_table.iter().position(|(i, _)| *i == id) {
                        Some(s) => s,
                        None => {
                            helper_table.push((id, f.clone()));
                            helper_table.len() - 1
                        }
                    };
                    op(K::CallHelper, 0, 0, 0, slot as u64)
                }
                Insn::Call {
                    kind: CallKind::Local,
                    imm,
                } => {
                    check_target(index, imm as i64)?;
                    op(K::CallLocal, 0, 0, imm, 0)
                }
                Insn::Call {
                    kind: CallKind::Kfunc,
                    ..
                } => {
                    return Err(VmError::Unsupported {
                        index,
                        what: "a kfunc call",
                    })
                }
                Insn::Callx { reg } => op(K::Callx, reg.num(), 0, 0, 0),
                Insn::Exit => op(K::Exit, 0, 0, 0, 0),
                Insn::Ldx {
                    size,
                    signed,
                    dst,
                    src,
                    off,
                } => {
                    let k = match (size, signed) {
                        (Size::B, false) => K::LdxB,
                        (Size::H, false) => K::LdxH,
                        (Size::W, false) => K::LdxW,
                        (Size::DW, _) => K::LdxDW,
                        (Size::B, true) => K::LdxsB,
                        (Size::H, true) => K::LdxsH,
                        (Size::W, true) => K::LdxsW,
                    };
                    op(k, dst.num(), src.num(), off as i32, 0)
                }
                Insn::St {
                    size,
                    dst,
                    off,
                    imm,
                } => {
                    let k = [K::StB, K::StH, K::StW, K::StDW][size_index(size)];
                    op(k, dst.num(), 0, off as i32, imm as i64 as u64)
                }
                Insn::Stx {
                    size,
                    dst,
                    off,
                    src,
                } => {
                    let k = [K::StxB, K::StxH, K::StxW, K::StxDW][size_index(size)];
                    op(k, dst.num(), src.num(), off as i32, 0)
                }
                Insn::Atomic {
                    size,
                    op: aop,
                    dst,
                    src,
                    off,
                } => {
                    let k = if size == Size::DW {
                        K::Atomic64
                    } else {
                        K::Atomic32
                    };
                    op(k, dst.num(), src.num(), off as i32, aop.imm() as u32 as u64)
                }
                Insn::Lddw { dst, src, imm } => {
                    match src {
                        LddwSrc::Imm64 => op(K::Lddw, dst.num(), 0, 0, imm),
                        LddwSrc::CodeAddr => {
                            let rel = imm as u32 as i32 as i64;
                            check_target(index, rel)?;
                            let target = (index as i64 + 1 + rel) as u64;
                            op(
                                K::Lddw,
                                dst.num(),
                                0,
                                0,
                                crate::interpreter::CODE_BASE + target,
                            )
                        }
                        other => match resolve(other, imm) {
                            Some(v) => op(K::Lddw, dst.num(), 0, 0, v),
                            None => return Err(VmError::Unsupported {
                                index,
                                what:
                                    "an lddw of a map, variable or code address (relocate it first)",
                            }),
                        },
                    }
                }
                Insn::LdAbs { size, imm } => {
                    let k = [K::LdAbsB, K::LdAbsH, K::LdAbsW, K::LdAbsW][size_index(size)];
                    op(k, 0, 0, 0, imm as i64 as u64)
                }
                Insn::LdInd { size, src, imm } => {
                    let k = [K::LdIndB, K::LdIndH, K::LdIndW, K::LdIndW][size_index(size)];
                    op(k, 0, src.num(), 0, imm as i64 as u64)
                }
            };
            ops.push(o);
            if insn.slots() == 2 {
                ops.push(op(K::LddwHi, 0, 0, 0, 0));
            }
        }
        ops.push(op(K::End, 0, 0, 0, 0));
        // Only calls and callbacks take frames below the first.
        let calls = decoded.iter().any(|(_, i)| {
            matches!(
                i,
                Insn::Call {
                    kind: CallKind::Local,
                    ..
                } | Insn::Lddw {
                    src: LddwSrc::CodeAddr,
                    ..
                }
            )
        });
        let stack_size = if calls {
            crate::interpreter::STACK_SIZE
        } else {
            crate::interpreter::STACK_FRAME
        };
        Ok(Program {
            ops,
            insns,
            helper_table,
            helpers: helpers.clone(),
            stack_size,
        })
    }

    /// Bytes of stack each run gets, ending at r10: one 512-byte frame, or all
    /// eight when the program makes BPF-to-BPF calls or passes callbacks.
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// Number of 8-byte slots.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Whether the program has no slots (never true for a loaded program).
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// The 64-bit value an `lddw` at `slot` loads, after resolving pseudo forms
    /// (code addresses are [`crate::CODE_BASE`] plus the target slot).
    pub fn lddw_value(&self, slot: usize) -> Option<u64> {
        let op = self.ops.get(slot)?;
        (op.kind == K::Lddw).then_some(op.imm)
    }

    /// The helper a `call` at `slot` resolves to: its id and function.
    pub fn helper_at(&self, slot: usize) -> Option<(u32, &HelperFn)> {
        let op = self.ops.get(slot)?;
        if op.kind != K::CallHelper {
            return None;
        }
        self.helper_table
            .get(op.imm as usize)
            .map(|(id, f)| (*id, f))
    }

    /// Every registered helper (what `callx` may reach).
    pub fn helpers(&self) -> &Helpers {
        &self.helpers
    }

    /// The instruction starting at `slot`, if one starts there.
    pub fn insn(&self, slot: usize) -> Option<&Insn> {
        self.insns.get(slot).and_then(|i| i.as_ref())
    }
}

fn size_index(size: Size) -> usize {
    match size {
        Size::B => 0,
        Size::H => 1,
        Size::W => 2,
        Size::DW => 3,
    }
}

/// The atomic operation encoded in an `Atomic32`/`Atomic64` op's immediate.
pub(crate) fn atomic_op(imm: u64) -> AtomicOp {
    AtomicOp::from_imm(imm as i32).unwrap_or(AtomicOp::Add { fetch: false })
}
