//! Expressions: integers end in r0, strings are written to a 64-byte stack buffer.

use oxbpf_isa::{AluOp, Insn, JmpCond, Operand, Reg, Size, Width};

use super::{helper, Gen, START_MAP};
use crate::ast::*;
use crate::check::constant;
use crate::error::TraceError;
use crate::probe::Probe;
use crate::tracefs::FieldKind;
use crate::types::{MapDecl, Ty, STRLEN};

/// Offsets of the argument registers in x86-64 `struct pt_regs`: rdi, rsi, rdx, rcx, r8, r9.
const PT_REGS_ARGS: [i16; 6] = [112, 104, 96, 88, 72, 64];
/// Offset of rax in x86-64 `struct pt_regs`.
const PT_REGS_RAX: i16 = 80;

impl Gen<'_, '_> {
    /// Evaluates an integer expression into r0.
    pub(crate) fn int(&mut self, e: &Expr) -> Result<(), TraceError> {
        let saved = self.asm.span;
        self.asm.span = e.span;
        let r = self.int_inner(e);
        self.asm.span = saved;
        r
    }

    fn int_inner(&mut self, e: &Expr) -> Result<(), TraceError> {
        let a = &mut self.asm;
        match &e.kind {
            ExprKind::Int(n) => a.imm(Reg::R0, *n as i64),
            ExprKind::Positional(_) => {
                let v = constant(e, self.env.params).unwrap_or(0);
                a.imm(Reg::R0, v);
            }
            ExprKind::PosCount => a.imm(Reg::R0, self.env.params.len() as i64),
            ExprKind::Var(v) => {
                let off = self.locals[v];
                a.load(Size::DW, Reg::R0, Reg::R10, off);
            }
            ExprKind::Builtin(b) => self.builtin(b)?,
            ExprKind::Map(m) => {
                let decl = self.env.read_map(m)?.clone();
                let mark = self.asm.mark();
                let key = self.key(&decl, m)?;
                self.lookup(&decl, key);
                let done = self.asm.label();
                self.asm
                    .jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), done);
                self.asm.load(Size::DW, Reg::R0, Reg::R0, 0);
                self.asm.bind(done);
                self.asm.release(mark);
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r)?,
            ExprKind::Unary(op, x) => {
                self.int(x)?;
                let a = &mut self.asm;
                match op {
                    UnOp::Neg => a.push(Insn::Neg {
                        width: Width::W64,
                        dst: Reg::R0,
                    }),
                    UnOp::BitNot => a.alu(AluOp::Xor, Reg::R0, Operand::Imm(-1)),
                    UnOp::Not => {
                        let (t, done) = (a.label(), a.label());
                        a.jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), t);
                        a.imm(Reg::R0, 0);
                        a.goto(done);
                        a.bind(t);
                        a.imm(Reg::R0, 1);
                        a.bind(done);
                    }
                }
            }
            ExprKind::Ternary(c, x, y) => {
                self.int(c)?;
                let (els, done) = (self.asm.label(), self.asm.label());
                self.asm.jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), els);
                self.int(x)?;
                self.asm.goto(done);
                self.asm.bind(els);
                self.int(y)?;
                self.asm.bind(done);
            }
            ExprKind::Call(name, args) if name == "strncmp" => {
                let n = constant(&args[2], self.env.params)
                    .unwrap_or(0)
                    .clamp(0, STRLEN as i64);
                self.strcmp(&args[0], &args[1], n as usize, true)?;
            }
            ExprKind::Field(_, f) => {
                let field = self.env.field(f, e.span)?.clone();
                let FieldKind::Int { signed } = field.kind else {
                    return Err(self.bug("a string field read as an integer"));
                };
                let size = match field.size {
                    1 => Size::B,
                    2 => Size::H,
                    4 => Size::W,
                    _ => Size::DW,
                };
                let off = i16::try_from(field.offset).map_err(|_| TraceError::Unsupported {
                    span: e.span,
                    what: format!("field `{f}` at offset {}", field.offset),
                })?;
                let a = &mut self.asm;
                a.load(size, Reg::R0, Reg::R6, off);
                if signed && field.size < 8 {
                    let shift = 64 - 8 * field.size as i32;
                    a.alu(AluOp::Lsh, Reg::R0, Operand::Imm(shift));
                    a.alu(AluOp::Arsh, Reg::R0, Operand::Imm(shift));
                }
            }
            _ => return Err(self.bug("an expression without an integer value")),
        }
        Ok(())
    }

    pub(crate) fn bug(&self, what: &str) -> TraceError {
        TraceError::Unsupported {
            span: self.span(),
            what: format!("{what} (a compiler bug: the checker let it through)"),
        }
    }

    fn builtin(&mut self, b: &str) -> Result<(), TraceError> {
        let a = &mut self.asm;
        match b {
            "pid" | "tid" => {
                a.call(helper::PID_TGID);
                if b == "pid" {
                    a.alu(AluOp::Rsh, Reg::R0, Operand::Imm(32));
                } else {
                    a.push(Insn::Alu {
                        width: Width::W32,
                        op: AluOp::Mov,
                        dst: Reg::R0,
                        src: Operand::Reg(Reg::R0),
                    });
                }
            }
            "uid" | "gid" => {
                a.call(helper::UID_GID);
                if b == "gid" {
                    a.alu(AluOp::Rsh, Reg::R0, Operand::Imm(32));
                } else {
                    a.push(Insn::Alu {
                        width: Width::W32,
                        op: AluOp::Mov,
                        dst: Reg::R0,
                        src: Operand::Reg(Reg::R0),
                    });
                }
            }
            "nsecs" => a.call(helper::KTIME_NS),
            "elapsed" => {
                a.call(helper::KTIME_NS);
                a.map_value(Reg::R1, START_MAP);
                a.load(Size::DW, Reg::R1, Reg::R1, 0);
                a.alu(AluOp::Sub, Reg::R0, Operand::Reg(Reg::R1));
            }
            "cpu" => a.call(helper::CPU),
            "rand" => a.call(helper::PRANDOM),
            "cpid" => a.imm(Reg::R0, i64::from(self.env.cpid.unwrap_or(0))),
            "retval" => a.load(Size::DW, Reg::R0, Reg::R6, PT_REGS_RAX),
            _ => {
                let n: usize = b
                    .strip_prefix("arg")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| self.bug("an unknown builtin"))?;
                let off = match self.env.probe {
                    Probe::Uprobe { .. } => PT_REGS_ARGS[n.min(5)],
                    _ => 8 * n as i16,
                };
                self.asm.load(Size::DW, Reg::R0, Reg::R6, off);
            }
        }
        Ok(())
    }

    fn binary(&mut self, op: BinOp, l: &Expr, r: &Expr) -> Result<(), TraceError> {
        if matches!(op, BinOp::LogAnd | BinOp::LogOr) {
            let (short, done) = (self.asm.label(), self.asm.label());
            // &&: a zero operand decides; ||: a non-zero one does.
            let cond = if op == BinOp::LogAnd {
                JmpCond::Eq
            } else {
                JmpCond::Ne
            };
            self.int(l)?;
            self.asm.jump_if(cond, Reg::R0, Operand::Imm(0), short);
            self.int(r)?;
            self.asm.jump_if(cond, Reg::R0, Operand::Imm(0), short);
            let (pass, fail) = if op == BinOp::LogAnd { (1, 0) } else { (0, 1) };
            self.asm.imm(Reg::R0, pass);
            self.asm.goto(done);
            self.asm.bind(short);
            self.asm.imm(Reg::R0, fail);
            self.asm.bind(done);
            return Ok(());
        }
        let lt = self.env.ty(l)?;
        if lt == Ty::Str {
            self.strcmp(l, r, STRLEN, false)?;
            if op == BinOp::Ne {
                self.asm.alu(AluOp::Xor, Reg::R0, Operand::Imm(1));
            }
            return Ok(());
        }
        let signed = matches!(lt, Ty::Int { signed: true })
            && matches!(self.env.ty(r)?, Ty::Int { signed: true });
        let mark = self.asm.mark();
        let tmp = self.asm.alloc(8)?;
        self.int(l)?;
        self.asm.store(Size::DW, Reg::R10, tmp, Reg::R0);
        self.int(r)?;
        self.asm.mov(Reg::R1, Reg::R0);
        self.asm.load(Size::DW, Reg::R0, Reg::R10, tmp);
        self.asm.release(mark);
        self.apply(op, signed);
        Ok(())
    }

    /// r0 = r0 op r1.
    pub(crate) fn apply(&mut self, op: BinOp, signed: bool) {
        let a = &mut self.asm;
        let src = Operand::Reg(Reg::R1);
        let alu = match op {
            BinOp::Add => Some(AluOp::Add),
            BinOp::Sub => Some(AluOp::Sub),
            BinOp::Mul => Some(AluOp::Mul),
            BinOp::Div => Some(if signed { AluOp::Sdiv } else { AluOp::Div }),
            BinOp::Mod => Some(if signed { AluOp::Smod } else { AluOp::Mod }),
            BinOp::And => Some(AluOp::And),
            BinOp::Or => Some(AluOp::Or),
            BinOp::Xor => Some(AluOp::Xor),
            BinOp::Shl => Some(AluOp::Lsh),
            BinOp::Shr => Some(if signed { AluOp::Arsh } else { AluOp::Rsh }),
            _ => None,
        };
        if let Some(op) = alu {
            a.alu(op, Reg::R0, src);
            return;
        }
        let cond = match (op, signed) {
            (BinOp::Eq, _) => JmpCond::Eq,
            (BinOp::Ne, _) => JmpCond::Ne,
            (BinOp::Lt, false) => JmpCond::Lt,
            (BinOp::Le, false) => JmpCond::Le,
            (BinOp::Gt, false) => JmpCond::Gt,
            (BinOp::Ge, false) => JmpCond::Ge,
            (BinOp::Lt, true) => JmpCond::Slt,
            (BinOp::Le, true) => JmpCond::Sle,
            (BinOp::Gt, true) => JmpCond::Sgt,
            _ => JmpCond::Sge,
        };
        let (t, done) = (a.label(), a.label());
        a.jump_if(cond, Reg::R0, src, t);
        a.imm(Reg::R0, 0);
        a.goto(done);
        a.bind(t);
        a.imm(Reg::R0, 1);
        a.bind(done);
    }

    /// r0 = whether the strings agree in their first `n` bytes (up to a NUL);
    /// `strncmp`: r0 = 0 when they agree, 1 otherwise.
    fn strcmp(&mut self, l: &Expr, r: &Expr, n: usize, strncmp: bool) -> Result<(), TraceError> {
        let mark = self.asm.mark();
        let (x, y) = (self.asm.alloc(STRLEN)?, self.asm.alloc(STRLEN)?);
        self.string(l, x)?;
        self.string(r, y)?;
        if n == 0 {
            // Nothing to compare: equal (and no comparison code that could never run).
            self.asm.imm(Reg::R0, if strncmp { 0 } else { 1 });
            self.asm.release(mark);
            return Ok(());
        }
        let a = &mut self.asm;
        let (same, differ, done) = (a.label(), a.label(), a.label());
        for i in 0..n as i16 {
            a.load(Size::B, Reg::R1, Reg::R10, x + i);
            a.load(Size::B, Reg::R2, Reg::R10, y + i);
            a.jump_if(JmpCond::Ne, Reg::R1, Operand::Reg(Reg::R2), differ);
            a.jump_if(JmpCond::Eq, Reg::R1, Operand::Imm(0), same);
        }
        a.bind(same);
        a.imm(Reg::R0, if strncmp { 0 } else { 1 });
        a.goto(done);
        a.bind(differ);
        a.imm(Reg::R0, if strncmp { 1 } else { 0 });
        a.bind(done);
        self.asm.release(mark);
        Ok(())
    }

    /// Writes `text` (cut to 63 bytes) NUL-padded into the 64-byte buffer at `dst`.
    pub(crate) fn literal(&mut self, text: &str, dst: i16) {
        let mut bytes = [0u8; STRLEN];
        let n = text.len().min(STRLEN - 1);
        bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let v = i64::from_le_bytes(chunk.try_into().expect("8-byte chunks"));
            let off = dst + 8 * i as i16;
            if let Ok(v32) = i32::try_from(v) {
                self.asm.store_imm(Size::DW, Reg::R10, off, v32);
            } else {
                self.asm.imm(Reg::R1, v);
                self.asm.store(Size::DW, Reg::R10, off, Reg::R1);
            }
        }
    }

    /// Evaluates a string expression into the 64-byte stack buffer at `dst`.
    pub(crate) fn string(&mut self, e: &Expr, dst: i16) -> Result<(), TraceError> {
        let saved = self.asm.span;
        self.asm.span = e.span;
        let r = self.string_inner(e, dst);
        self.asm.span = saved;
        r
    }

    fn string_inner(&mut self, e: &Expr, dst: i16) -> Result<(), TraceError> {
        match &e.kind {
            ExprKind::Str(s) => self.literal(s, dst),
            ExprKind::Positional(n) => {
                let text = self
                    .env
                    .params
                    .get(*n as usize - 1)
                    .cloned()
                    .unwrap_or_default();
                self.literal(&text, dst);
            }
            ExprKind::Builtin(b) if b == "probe" => {
                let name = self.env.probe.name();
                self.literal(&name, dst);
            }
            ExprKind::Builtin(b) if b == "comm" => {
                self.asm.zero_stack(dst, STRLEN);
                self.asm.stack_addr(Reg::R1, dst);
                self.asm.imm(Reg::R2, 16);
                self.asm.call(helper::COMM);
            }
            ExprKind::Var(v) => {
                let off = self.locals[v];
                if off != dst {
                    self.copy_words(Reg::R10, off, dst, STRLEN);
                }
            }
            ExprKind::Map(m) => {
                let decl: MapDecl = self.env.read_map(m)?.clone();
                let mark = self.asm.mark();
                let key = self.key(&decl, m)?;
                self.lookup(&decl, key);
                self.asm.zero_stack(dst, STRLEN);
                let done = self.asm.label();
                self.asm
                    .jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), done);
                self.copy_words(Reg::R0, 0, dst, STRLEN);
                self.asm.bind(done);
                self.asm.release(mark);
            }
            ExprKind::Ternary(c, x, y) => {
                self.int(c)?;
                let (els, done) = (self.asm.label(), self.asm.label());
                self.asm.jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), els);
                self.string(x, dst)?;
                self.asm.goto(done);
                self.asm.bind(els);
                self.string(y, dst)?;
                self.asm.bind(done);
            }
            ExprKind::Call(name, args) if name == "str" => {
                let n = match args.get(1) {
                    Some(n) => constant(n, self.env.params).unwrap_or(STRLEN as i64),
                    None => STRLEN as i64,
                }
                .clamp(1, STRLEN as i64) as i16;
                match self.env.ty(&args[0])? {
                    Ty::Str => {
                        self.string(&args[0], dst)?;
                        if (n as usize) < STRLEN {
                            self.asm.store_imm(Size::B, Reg::R10, dst + n - 1, 0);
                            for i in n..STRLEN as i16 {
                                self.asm.store_imm(Size::B, Reg::R10, dst + i, 0);
                            }
                        }
                    }
                    _ => {
                        self.int(&args[0])?;
                        self.asm.zero_stack(dst, STRLEN);
                        self.asm.mov(Reg::R3, Reg::R0);
                        self.asm.stack_addr(Reg::R1, dst);
                        self.asm.imm(Reg::R2, n as i64);
                        self.asm.call(helper::PROBE_READ_STR);
                    }
                }
            }
            ExprKind::Field(_, f) => {
                let field = self.env.field(f, e.span)?.clone();
                let off = i16::try_from(field.offset).map_err(|_| TraceError::Unsupported {
                    span: e.span,
                    what: format!("field `{f}` at offset {}", field.offset),
                })?;
                self.asm.zero_stack(dst, STRLEN);
                match field.kind {
                    FieldKind::CharArray => {
                        let n = (field.size as usize).min(STRLEN - 1) as i16;
                        for i in 0..n {
                            self.asm.load(Size::B, Reg::R1, Reg::R6, off + i);
                            self.asm.store(Size::B, Reg::R10, dst + i, Reg::R1);
                        }
                    }
                    FieldKind::DataLocStr => {
                        // The low 16 bits are the string's offset in the record.
                        self.asm.load(Size::W, Reg::R3, Reg::R6, off);
                        self.asm.alu(AluOp::And, Reg::R3, Operand::Imm(0xffff));
                        self.asm.mov(Reg::R1, Reg::R6);
                        self.asm.alu(AluOp::Add, Reg::R1, Operand::Reg(Reg::R3));
                        self.asm.mov(Reg::R3, Reg::R1);
                        self.asm.stack_addr(Reg::R1, dst);
                        self.asm.imm(Reg::R2, STRLEN as i64);
                        self.asm.call(helper::PROBE_READ_STR);
                    }
                    _ => return Err(self.bug("an integer field read as a string")),
                }
            }
            _ => return Err(self.bug("an expression without a string value")),
        }
        Ok(())
    }

    /// Builds `m`'s key in a fresh stack buffer (room for a bucket included) and returns its offset.
    pub(crate) fn key(&mut self, decl: &MapDecl, m: &MapRef) -> Result<i16, TraceError> {
        let buf = self.asm.alloc(decl.key_size())?;
        if m.keys.is_empty() {
            self.asm.store_imm(Size::DW, Reg::R10, buf, 0);
        }
        let mut off = buf;
        for k in &m.keys {
            match self.env.ty(k)? {
                Ty::Str => {
                    self.string(k, off)?;
                    off += STRLEN as i16;
                }
                _ => {
                    self.int(k)?;
                    self.asm.store(Size::DW, Reg::R10, off, Reg::R0);
                    off += 8;
                }
            }
        }
        Ok(buf)
    }

    /// r0 = map_lookup_elem(map, key).
    pub(crate) fn lookup(&mut self, decl: &MapDecl, key: i16) {
        self.asm.map_ref(Reg::R1, decl.index);
        self.asm.stack_addr(Reg::R2, key);
        self.asm.call(helper::MAP_LOOKUP);
    }
}
