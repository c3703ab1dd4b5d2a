//! Statements: assignments, map updates and aggregations, control flow, and
//! the calls that send events to user space.

use oxbpf_isa::{AluOp, JmpCond, Operand, Reg, Size};

use super::{helper, Gen};
use crate::ast::*;
use crate::check::AGGREGATIONS;
use crate::error::TraceError;
use crate::types::{Event, MapDecl, MapKind, Ty, STRLEN};

/// The most instructions a program may have (the kernel's limit for privileged loaders).
const MAX_INSNS: usize = 1_000_000;

/// `BPF_ANY` for map updates.
const BPF_ANY: i64 = 0;

impl Gen<'_, '_> {
    /// Generates a statement list; true when control never reaches its end.
    /// Code after an unconditional jump could never run, and the verifier
    /// refuses such code, so none is generated.
    pub(crate) fn block(&mut self, stmts: &[Stmt]) -> Result<bool, TraceError> {
        for s in stmts {
            let (mark, span) = (self.asm.mark(), self.asm.span);
            self.asm.span = s.span;
            let ends = self.stmt(s)?;
            self.asm.release(mark);
            if self.asm.len() > MAX_INSNS {
                return Err(TraceError::Unsupported {
                    span: s.span,
                    what: format!("a program of more than {MAX_INSNS} instructions"),
                });
            }
            self.asm.span = span;
            if ends {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn stmt(&mut self, s: &Stmt) -> Result<bool, TraceError> {
        match &s.kind {
            StmtKind::Expr(Expr {
                kind: ExprKind::Call(name, _),
                ..
            }) if name == "exit" => {
                let id = self.event(Event::Exit);
                self.simple_event(id)?;
                self.asm.goto(self.exit);
                return Ok(true);
            }
            StmtKind::Expr(e) => self.effect(e)?,
            StmtKind::AssignVar { name, op, value } => {
                let off = self.locals[name];
                match self.env.locals[name] {
                    Ty::Str => self.string(value, off)?,
                    _ => {
                        self.int(value)?;
                        if let Some(op) = op {
                            let signed = matches!(self.env.locals[name], Ty::Int { signed: true });
                            self.asm.mov(Reg::R1, Reg::R0);
                            self.asm.load(Size::DW, Reg::R0, Reg::R10, off);
                            self.apply(*op, signed);
                        }
                        self.asm.store(Size::DW, Reg::R10, off, Reg::R0);
                    }
                }
            }
            StmtKind::AssignMap { map, op, value } => {
                let decl = self
                    .env
                    .map(&map.name)
                    .cloned()
                    .ok_or_else(|| self.bug("an undeclared map"))?;
                if let (ExprKind::Call(f, args), None) = (&value.kind, op) {
                    if AGGREGATIONS.contains(&f.as_str()) {
                        self.aggregate(&decl, map, args)?;
                        return Ok(false);
                    }
                }
                self.assign_map(&decl, map, *op, value)?;
            }
            StmtKind::If { cond, then, els } => {
                self.int(cond)?;
                let (other, done) = (self.asm.label(), self.asm.label());
                self.asm
                    .jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), other);
                let then_ends = self.block(then)?;
                if !then_ends {
                    self.asm.goto(done);
                }
                self.asm.bind(other);
                let else_ends = self.block(els)?;
                self.asm.bind(done);
                if then_ends && else_ends {
                    return Ok(true);
                }
            }
            StmtKind::Unroll { count, body } => {
                for _ in 0..*count {
                    if self.block(body)? {
                        return Ok(true);
                    }
                }
            }
            StmtKind::While { cond, body } => {
                let (top, done) = (self.asm.label(), self.asm.label());
                let outer = self.asm.in_loop.replace(s.span);
                self.asm.bind(top);
                self.int(cond)?;
                self.asm
                    .jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), done);
                self.loops.push((top, done));
                let ends = self.block(body)?;
                self.loops.pop();
                if !ends {
                    self.asm.goto(top);
                }
                self.asm.in_loop = outer;
                self.asm.bind(done);
            }
            StmtKind::Break | StmtKind::Continue => {
                let &(top, done) = self
                    .loops
                    .last()
                    .ok_or_else(|| self.bug("break outside a loop"))?;
                self.asm
                    .goto(if s.kind == StmtKind::Break { done } else { top });
                return Ok(true);
            }
            StmtKind::Return => {
                self.asm.goto(self.exit);
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn assign_map(
        &mut self,
        decl: &MapDecl,
        map: &MapRef,
        op: Option<BinOp>,
        value: &Expr,
    ) -> Result<(), TraceError> {
        let key = self.key(decl, map)?;
        let val = self.asm.alloc(decl.kind.value_size())?;
        match decl.kind {
            MapKind::Value(Ty::Str) => self.string(value, val)?,
            _ => {
                self.int(value)?;
                if let Some(op) = op {
                    // Read-modify-write: a missing element counts as 0.
                    self.asm.store(Size::DW, Reg::R10, val, Reg::R0);
                    self.lookup(decl, key);
                    let (missing, done) = (self.asm.label(), self.asm.label());
                    self.asm
                        .jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), missing);
                    self.asm.load(Size::DW, Reg::R0, Reg::R0, 0);
                    self.asm.goto(done);
                    self.asm.bind(missing);
                    self.asm.imm(Reg::R0, 0);
                    self.asm.bind(done);
                    self.asm.load(Size::DW, Reg::R1, Reg::R10, val);
                    self.apply(op, decl.signed);
                }
                self.asm.store(Size::DW, Reg::R10, val, Reg::R0);
            }
        }
        self.update(decl, key, val);
        Ok(())
    }

    /// map_update_elem(map, key, value, BPF_ANY).
    fn update(&mut self, decl: &MapDecl, key: i16, val: i16) {
        self.asm.map_ref(Reg::R1, decl.index);
        self.asm.stack_addr(Reg::R2, key);
        self.asm.stack_addr(Reg::R3, val);
        self.asm.imm(Reg::R4, BPF_ANY);
        self.asm.call(helper::MAP_UPDATE);
    }

    fn aggregate(&mut self, decl: &MapDecl, map: &MapRef, args: &[Expr]) -> Result<(), TraceError> {
        let key = self.key(decl, map)?;
        let v = self.asm.alloc(8)?;
        match args.first() {
            Some(a) => self.int(a)?,
            None => self.asm.imm(Reg::R0, 1),
        }
        self.asm.store(Size::DW, Reg::R10, v, Reg::R0);
        let bucket = key + decl.user_key_size() as i16;
        match decl.kind {
            MapKind::Hist => {
                self.log2_bucket();
                self.asm.store(Size::DW, Reg::R10, bucket, Reg::R0);
                self.asm.imm(Reg::R0, 1);
                self.asm.store(Size::DW, Reg::R10, v, Reg::R0);
            }
            MapKind::Lhist { min, max, step } => {
                self.linear_bucket(min, max, step);
                self.asm.store(Size::DW, Reg::R10, bucket, Reg::R0);
                self.asm.imm(Reg::R0, 1);
                self.asm.store(Size::DW, Reg::R10, v, Reg::R0);
            }
            _ => {}
        }
        let val = self.asm.alloc(16)?;
        self.lookup(decl, key);
        let (fresh, done) = (self.asm.label(), self.asm.label());
        self.asm
            .jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), fresh);
        let a = &mut self.asm;
        a.load(Size::DW, Reg::R2, Reg::R10, v);
        match decl.kind {
            MapKind::Count | MapKind::Sum | MapKind::Hist | MapKind::Lhist { .. } => {
                a.load(Size::DW, Reg::R1, Reg::R0, 0);
                a.alu(AluOp::Add, Reg::R1, Operand::Reg(Reg::R2));
                a.store(Size::DW, Reg::R0, 0, Reg::R1);
            }
            MapKind::Avg | MapKind::Stats => {
                a.load(Size::DW, Reg::R1, Reg::R0, 0);
                a.alu(AluOp::Add, Reg::R1, Operand::Imm(1));
                a.store(Size::DW, Reg::R0, 0, Reg::R1);
                a.load(Size::DW, Reg::R1, Reg::R0, 8);
                a.alu(AluOp::Add, Reg::R1, Operand::Reg(Reg::R2));
                a.store(Size::DW, Reg::R0, 8, Reg::R1);
            }
            MapKind::Min | MapKind::Max => {
                // [value, set]: another CPU's update leaves this CPU's slot unset.
                let write = a.label();
                a.load(Size::DW, Reg::R1, Reg::R0, 8);
                a.jump_if(JmpCond::Eq, Reg::R1, Operand::Imm(0), write);
                a.load(Size::DW, Reg::R1, Reg::R0, 0);
                let keep = if decl.kind == MapKind::Min {
                    JmpCond::Sle
                } else {
                    JmpCond::Sge
                };
                a.jump_if(keep, Reg::R1, Operand::Reg(Reg::R2), done);
                a.bind(write);
                a.store(Size::DW, Reg::R0, 0, Reg::R2);
                a.store_imm(Size::DW, Reg::R0, 8, 1);
            }
            MapKind::Value(_) => return Err(self.bug("an aggregation into a value map")),
        }
        self.asm.goto(done);
        self.asm.bind(fresh);
        let a = &mut self.asm;
        a.load(Size::DW, Reg::R2, Reg::R10, v);
        match decl.kind {
            MapKind::Avg | MapKind::Stats => {
                a.store_imm(Size::DW, Reg::R10, val, 1);
                a.store(Size::DW, Reg::R10, val + 8, Reg::R2);
            }
            MapKind::Min | MapKind::Max => {
                a.store(Size::DW, Reg::R10, val, Reg::R2);
                a.store_imm(Size::DW, Reg::R10, val + 8, 1);
            }
            _ => {
                a.store(Size::DW, Reg::R10, val, Reg::R2);
                a.store_imm(Size::DW, Reg::R10, val + 8, 0);
            }
        }
        self.update(decl, key, val);
        self.asm.bind(done);
        Ok(())
    }

    /// r0 = hist bucket of r0: 0 for negative, 1 for 0, else floor(log2(r0)) + 2.
    fn log2_bucket(&mut self) {
        let a = &mut self.asm;
        let (neg, zero, done) = (a.label(), a.label(), a.label());
        a.jump_if(JmpCond::Slt, Reg::R0, Operand::Imm(0), neg);
        a.jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), zero);
        a.mov(Reg::R1, Reg::R0);
        a.imm(Reg::R2, 2);
        for shift in [32, 16, 8, 4, 2, 1] {
            let skip = a.label();
            a.mov(Reg::R3, Reg::R1);
            a.alu(AluOp::Rsh, Reg::R3, Operand::Imm(shift));
            a.jump_if(JmpCond::Eq, Reg::R3, Operand::Imm(0), skip);
            a.mov(Reg::R1, Reg::R3);
            a.alu(AluOp::Add, Reg::R2, Operand::Imm(shift));
            a.bind(skip);
        }
        a.mov(Reg::R0, Reg::R2);
        a.goto(done);
        a.bind(neg);
        a.imm(Reg::R0, 0);
        a.goto(done);
        a.bind(zero);
        a.imm(Reg::R0, 1);
        a.bind(done);
    }

    /// r0 = lhist bucket of r0: 0 below `min`, then one per `step`, then the overflow bucket.
    fn linear_bucket(&mut self, min: i64, max: i64, step: i64) {
        let a = &mut self.asm;
        let buckets = (max - min) / step;
        let (below, above, done) = (a.label(), a.label(), a.label());
        a.imm(Reg::R1, min);
        a.jump_if(JmpCond::Slt, Reg::R0, Operand::Reg(Reg::R1), below);
        a.imm(Reg::R1, min + buckets * step);
        a.jump_if(JmpCond::Sge, Reg::R0, Operand::Reg(Reg::R1), above);
        a.imm(Reg::R1, min);
        a.alu(AluOp::Sub, Reg::R0, Operand::Reg(Reg::R1));
        a.imm(Reg::R1, step);
        a.alu(AluOp::Div, Reg::R0, Operand::Reg(Reg::R1));
        a.alu(AluOp::Add, Reg::R0, Operand::Imm(1));
        a.goto(done);
        a.bind(below);
        a.imm(Reg::R0, 0);
        a.goto(done);
        a.bind(above);
        a.imm(Reg::R0, buckets + 1);
        a.bind(done);
    }

    /// An expression statement: a call for its effect, or a value computed and dropped.
    fn effect(&mut self, e: &Expr) -> Result<(), TraceError> {
        let ExprKind::Call(name, args) = &e.kind else {
            return match self.env.ty(e)? {
                Ty::Str => {
                    let buf = self.asm.alloc(STRLEN)?;
                    self.string(e, buf)
                }
                Ty::Int { .. } => self.int(e),
                Ty::Void => Ok(()),
            };
        };
        let map_name = |a: &Expr| match &a.kind {
            ExprKind::Map(m) => m.name.clone(),
            _ => String::new(),
        };
        match name.as_str() {
            "printf" => {
                let ExprKind::Str(fmt) = &args[0].kind else {
                    return Err(self.bug("printf without a literal format"));
                };
                let format = crate::types::parse_format(fmt).map_err(|m| self.bug(&m))?;
                let tys = args[1..]
                    .iter()
                    .map(|a| self.env.ty(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let id = self.event(Event::Printf {
                    format,
                    args: tys.clone(),
                });
                let len = 8 + tys.iter().map(|t| t.size()).sum::<usize>();
                let rec = self.asm.alloc(len)?;
                self.asm.imm(Reg::R0, id as i64);
                self.asm.store(Size::DW, Reg::R10, rec, Reg::R0);
                let mut off = rec + 8;
                for (a, t) in args[1..].iter().zip(tys) {
                    if t == Ty::Str {
                        self.string(a, off)?;
                    } else {
                        self.int(a)?;
                        self.asm.store(Size::DW, Reg::R10, off, Reg::R0);
                    }
                    off += t.size() as i16;
                }
                self.output(rec, len)?;
            }
            "print" => {
                if let ExprKind::Map(m) = &args[0].kind {
                    if m.keys.is_empty() {
                        let id = self.event(Event::PrintMap {
                            map: m.name.clone(),
                        });
                        return self.simple_event(id);
                    }
                }
                let ty = self.env.ty(&args[0])?;
                let id = self.event(Event::PrintValue { ty });
                let rec = self.asm.alloc(8 + ty.size())?;
                self.asm.imm(Reg::R0, id as i64);
                self.asm.store(Size::DW, Reg::R10, rec, Reg::R0);
                if ty == Ty::Str {
                    self.string(&args[0], rec + 8)?;
                } else {
                    self.int(&args[0])?;
                    self.asm.store(Size::DW, Reg::R10, rec + 8, Reg::R0);
                }
                self.output(rec, 8 + ty.size())?;
            }
            "time" => {
                let format = match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Str(f)) => f.clone(),
                    _ => "%H:%M:%S\n".into(),
                };
                let id = self.event(Event::Time { format });
                self.simple_event(id)?;
            }
            "clear" | "zero" => {
                let map = map_name(&args[0]);
                let id = self.event(if name == "clear" {
                    Event::Clear { map }
                } else {
                    Event::Zero { map }
                });
                self.simple_event(id)?;
            }
            "delete" => {
                let ExprKind::Map(m) = &args[0].kind else {
                    return Err(self.bug("delete of a non-map"));
                };
                let decl = self
                    .env
                    .map(&m.name)
                    .cloned()
                    .ok_or_else(|| self.bug("an undeclared map"))?;
                if decl.kind.bucketed() {
                    return Err(TraceError::Unsupported {
                        span: e.span,
                        what: format!(
                            "delete() on the {} map @{}; use clear()",
                            decl.kind.name(),
                            m.name
                        ),
                    });
                }
                let key = self.key(&decl, m)?;
                self.asm.map_ref(Reg::R1, decl.index);
                self.asm.stack_addr(Reg::R2, key);
                self.asm.call(helper::MAP_DELETE);
            }
            _ => match self.env.ty(e)? {
                Ty::Str => {
                    let buf = self.asm.alloc(STRLEN)?;
                    self.string(e, buf)?;
                }
                _ => self.int(e)?,
            },
        }
        Ok(())
    }

    /// Sends a record holding only the event id.
    fn simple_event(&mut self, id: usize) -> Result<(), TraceError> {
        let rec = self.asm.alloc(8)?;
        self.asm.imm(Reg::R0, id as i64);
        self.asm.store(Size::DW, Reg::R10, rec, Reg::R0);
        self.output(rec, 8)?;
        Ok(())
    }
}
