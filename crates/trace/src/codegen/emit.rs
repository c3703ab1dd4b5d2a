//! An instruction buffer with labels, a span per instruction (for reporting
//! verifier rejections at the script's source), and the stack allocator.

use oxbpf_isa::{AluOp, CallKind, Insn, JmpCond, LddwSrc, Operand, RawInsn, Reg, Size, Width};

use crate::error::{Span, TraceError};

/// A jump target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

enum Item {
    Insn(Insn, Span, Option<Span>),
    Jump {
        cond: Option<(JmpCond, Reg, Operand)>,
        to: Label,
        span: Span,
        in_loop: Option<Span>,
    },
    Bind(Label),
}

/// A program's instruction slots with, per slot, where it came from.
pub struct Finished {
    pub insns: Vec<RawInsn>,
    /// The script span each slot was generated for.
    pub spans: Vec<Span>,
    /// The innermost `while` loop around each slot.
    pub loops: Vec<Option<Span>>,
}

/// The BPF stack: 512 bytes below r10.
const STACK: usize = 512;

/// Instructions under construction for one program.
#[derive(Default)]
pub struct Asm {
    items: Vec<Item>,
    labels: usize,
    /// The span new instructions are attributed to.
    pub span: Span,
    /// The innermost `while` loop around new instructions.
    pub in_loop: Option<Span>,
    /// Bytes of stack in use (growing down from r10).
    used: usize,
}

impl Asm {
    /// An empty program.
    pub fn new() -> Asm {
        Asm::default()
    }

    /// Instructions and labels so far (an upper bound on the slot count is twice this).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing was emitted yet.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends an instruction.
    pub fn push(&mut self, i: Insn) {
        self.items.push(Item::Insn(i, self.span, self.in_loop));
    }

    /// A fresh, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    /// Binds `l` here.
    pub fn bind(&mut self, l: Label) {
        self.items.push(Item::Bind(l));
    }

    /// `goto l`.
    pub fn goto(&mut self, l: Label) {
        self.items.push(Item::Jump {
            cond: None,
            to: l,
            span: self.span,
            in_loop: self.in_loop,
        });
    }

    /// `if dst cond src goto l`.
    pub fn jump_if(&mut self, cond: JmpCond, dst: Reg, src: Operand, l: Label) {
        self.items.push(Item::Jump {
            cond: Some((cond, dst, src)),
            to: l,
            span: self.span,
            in_loop: self.in_loop,
        });
    }

    /// `dst op= src` (64-bit).
    pub fn alu(&mut self, op: AluOp, dst: Reg, src: Operand) {
        self.push(Insn::Alu {
            width: Width::W64,
            op,
            dst,
            src,
        });
    }

    /// `dst = src`.
    pub fn mov(&mut self, dst: Reg, src: Reg) {
        self.alu(AluOp::Mov, dst, Operand::Reg(src));
    }

    /// `dst = v`, in one instruction when `v` fits 32 signed bits.
    pub fn imm(&mut self, dst: Reg, v: i64) {
        if let Ok(v32) = i32::try_from(v) {
            self.alu(AluOp::Mov, dst, Operand::Imm(v32));
        } else {
            self.push(Insn::Lddw {
                dst,
                src: LddwSrc::Imm64,
                imm: v as u64,
            });
        }
    }

    /// `dst = &map` (a map index of the compiled object).
    pub fn map_ref(&mut self, dst: Reg, map: usize) {
        self.push(Insn::Lddw {
            dst,
            src: LddwSrc::MapIdx,
            imm: map as u64,
        });
    }

    /// `dst = &map's value + off` (for one-entry array maps).
    pub fn map_value(&mut self, dst: Reg, map: usize) {
        self.push(Insn::Lddw {
            dst,
            src: LddwSrc::MapIdxValue,
            imm: map as u64,
        });
    }

    /// `call helper`.
    pub fn call(&mut self, helper: i32) {
        self.push(Insn::Call {
            kind: CallKind::Helper,
            imm: helper,
        });
    }

    /// `dst = *(u64 *)(src + off)`.
    pub fn load(&mut self, size: Size, dst: Reg, src: Reg, off: i16) {
        self.push(Insn::Ldx {
            size,
            signed: false,
            dst,
            src,
            off,
        });
    }

    /// `*(size *)(dst + off) = src`.
    pub fn store(&mut self, size: Size, dst: Reg, off: i16, src: Reg) {
        self.push(Insn::Stx {
            size,
            dst,
            off,
            src,
        });
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn store_imm(&mut self, size: Size, dst: Reg, off: i16, imm: i32) {
        self.push(Insn::St {
            size,
            dst,
            off,
            imm,
        });
    }

    /// `dst = r10 + off`.
    pub fn stack_addr(&mut self, dst: Reg, off: i16) {
        self.mov(dst, Reg::R10);
        self.alu(AluOp::Add, dst, Operand::Imm(off as i32));
    }

    /// Zeroes `len` (a multiple of 8) stack bytes at `off`.
    pub fn zero_stack(&mut self, off: i16, len: usize) {
        for i in (0..len).step_by(8) {
            self.store_imm(Size::DW, Reg::R10, off + i as i16, 0);
        }
    }

    /// Reserves `size` bytes (rounded up to 8) of stack; returns their offset from r10.
    pub fn alloc(&mut self, size: usize) -> Result<i16, TraceError> {
        let size = size.next_multiple_of(8);
        self.used += size;
        if self.used > STACK {
            return Err(TraceError::StackOverflow {
                span: self.span,
                needed: self.used,
            });
        }
        Ok(-(self.used as i16))
    }

    /// The current stack use, to release temporaries with [`Asm::release`].
    pub fn mark(&self) -> usize {
        self.used
    }

    /// Frees every stack slot reserved since `mark`.
    pub fn release(&mut self, mark: usize) {
        self.used = mark;
    }

    /// Resolves labels: the slots and, per slot, the span it came from and
    /// the innermost loop around it.
    pub fn finish(self) -> Result<Finished, TraceError> {
        let mut at = vec![usize::MAX; self.labels];
        let mut slot = 0;
        for item in &self.items {
            match item {
                Item::Insn(i, _, _) => slot += i.slots(),
                Item::Jump { .. } => slot += 1,
                Item::Bind(l) => at[l.0] = slot,
            }
        }
        let mut out = Vec::with_capacity(slot);
        let mut spans = Vec::with_capacity(slot);
        let mut loops = Vec::with_capacity(slot);
        for item in self.items {
            match item {
                Item::Insn(i, span, in_loop) => {
                    for r in i.encode() {
                        out.push(r);
                        spans.push(span);
                        loops.push(in_loop);
                    }
                }
                Item::Jump {
                    cond,
                    to,
                    span,
                    in_loop,
                } => {
                    let target = at[to.0];
                    let off = target as i64 - (out.len() as i64 + 1);
                    let off = i16::try_from(off).map_err(|_| TraceError::Unsupported {
                        span,
                        what: "a jump over more than 32767 instructions (a smaller unroll?)".into(),
                    })?;
                    let insn = match cond {
                        None => Insn::Ja { off },
                        Some((cond, dst, src)) => Insn::Jmp {
                            width: Width::W64,
                            cond,
                            dst,
                            src,
                            off,
                        },
                    };
                    out.extend(insn.encode());
                    spans.push(span);
                    loops.push(in_loop);
                }
                Item::Bind(_) => {}
            }
        }
        Ok(Finished {
            insns: out,
            spans,
            loops,
        })
    }
}
