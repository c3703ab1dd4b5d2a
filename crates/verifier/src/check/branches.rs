//! Conditional jumps: deciding them from the ranges, and refining both sides.

use super::*;

impl Checker<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn jump(
        &mut self,
        path: &mut Path,
        width: Width,
        cond: JmpCond,
        dst: R,
        src: Operand,
        target: usize,
        next: usize,
    ) -> Res<bool> {
        let st = &path.state;
        let a = self.read(st, dst)?;
        let b = self.src_value(st, src, width)?;
        let src_reg = match src {
            Operand::Reg(r) => Some(r),
            Operand::Imm(_) => None,
        };
        let frame = path.state.frames.len() - 1;
        // Both sides of a scalar comparison, for precision marks.
        let mut operands = Marks::reg(frame, dst.num());
        if let Some(r) = src_reg {
            operands.set_reg(frame, r.num());
        }
        // A comparison the ranges decide continues on one side, without copies;
        // the decision depends on the values, which become precise.
        if a.kind == Kind::Scalar && b.kind == Kind::Scalar {
            match scalar::branch_taken(cond, width, &a.val, &b.val) {
                Branch::Taken => {
                    self.precise(path, operands);
                    self.goto(path, target);
                    return Ok(true);
                }
                Branch::NotTaken => {
                    self.precise(path, operands);
                    self.goto(path, next);
                    return Ok(true);
                }
                Branch::Unknown => {}
            }
        }
        let mut taken = path.state.clone();
        // The fall-through side is refined in place.
        let fall = &mut path.state;
        let mut feasible = (true, true);
        match (a.kind, b.kind) {
            // The ranges did not decide it (see above): refine both sides.
            (Kind::Scalar, Kind::Scalar) => {
                feasible.0 = refine_regs(&mut taken, cond, false, width, dst, src_reg, a, b);
                let (neg, set_false) = match scalar::negate(cond) {
                    Some(c) => (c, false),
                    None => (JmpCond::Set, true),
                };
                feasible.1 = refine_regs(&mut *fall, neg, set_false, width, dst, src_reg, a, b);
            }
            (k, Kind::Scalar) | (Kind::Scalar, k) if k.is_pointer() => {
                let (p, n, preg) = if a.kind.is_pointer() {
                    (a, b, dst)
                } else {
                    (b, a, src_reg.unwrap_or(dst))
                };
                // Whether the number is 0 decides what the comparison means.
                self.want = operands;
                let zero = n.val.as_const() == Some(0)
                    && matches!(cond, JmpCond::Eq | JmpCond::Ne)
                    && width == Width::W64;
                if zero && p.kind.maybe_null() {
                    let (null_side, ok_side) = if cond == JmpCond::Eq {
                        (&mut taken, &mut *fall)
                    } else {
                        (&mut *fall, &mut taken)
                    };
                    mark_null(null_side, p, preg, true);
                    mark_null(ok_side, p, preg, false);
                } else if !self.opts.privileged {
                    return fail(
                        Reason::PointerComparison,
                        format!("comparing a pointer ({}) with a number is not allowed without privileges", p.kind.name()),
                        "compare pointers only with NULL (0), after a map lookup",
                    );
                } else if zero {
                    // A valid pointer is never NULL.
                    if cond == JmpCond::Eq {
                        feasible.0 = false;
                    } else {
                        feasible.1 = false;
                    }
                }
            }
            (ka, kb) => {
                let pkt = self.packet_compare(&mut taken, &mut *fall, cond, width, a, b);
                if !pkt && !self.opts.privileged {
                    return fail(
                        Reason::PointerComparison,
                        format!(
                            "comparing pointers ({} and {}) is not allowed without privileges",
                            ka.name(),
                            kb.name()
                        ),
                        "without privileges only packet pointers can be compared with data_end",
                    );
                }
            }
        }
        if feasible != (true, true) && a.kind == Kind::Scalar && b.kind == Kind::Scalar {
            // The ranges ruled a side out.
            self.want = operands;
        }
        self.flush_want(path);
        match feasible {
            (true, true) => {
                self.fork(path, taken, target, Note::Jump);
                self.goto(path, next);
            }
            (true, false) => {
                path.state = taken;
                self.goto(path, target);
            }
            (false, true) => self.goto(path, next),
            // Neither side is possible: this path cannot happen.
            (false, false) => return Ok(false),
        }
        Ok(true)
    }
}

/// Narrows both sides of a scalar comparison; whether the branch is possible.
#[allow(clippy::too_many_arguments)]
fn refine_regs(
    st: &mut State,
    cond: JmpCond,
    set_false: bool,
    width: Width,
    dst: R,
    src: Option<R>,
    a: Reg,
    b: Reg,
) -> bool {
    let mut va = a.val;
    let mut vb = b.val;
    scalar::refine(cond, set_false, width, &mut va, &mut vb);
    if va.is_empty() || vb.is_empty() {
        return false;
    }
    let apply = |st: &mut State, reg: Reg, val: Scalar, r: R| {
        if reg.id != 0 {
            st.for_each_reg(|x| {
                if x.kind == Kind::Scalar && x.id == reg.id {
                    x.val = val;
                }
            });
        }
        st.cur_mut().regs[r.num() as usize].val = val;
    };
    apply(st, a, va, dst);
    if let Some(s) = src {
        apply(st, b, vb, s);
    }
    true
}

/// On one side of a NULL check: the pointer (and its copies) are NULL or valid.
fn mark_null(st: &mut State, p: Reg, _r: R, null: bool) {
    let id = p.id;
    let mut released = None;
    st.for_each_reg(|x| {
        if x.id == id && x.kind.maybe_null() && x.kind == p.kind {
            if null {
                // A NULL acquired pointer holds nothing; one derived from
                // another's reference (ref_id of another id) releases nothing.
                if x.ref_id != 0 && x.ref_id == x.id {
                    released = Some(x.ref_id);
                }
                *x = Reg::scalar(Scalar::constant(0));
            } else {
                x.kind = match x.kind {
                    Kind::MapValue { map, .. } => Kind::MapValue { map, null: false },
                    Kind::Mem { size, .. } => Kind::Mem { size, null: false },
                    Kind::Sock { .. } => Kind::Sock { null: false },
                    Kind::MapPtrOrNull { map } => Kind::ConstMap { map },
                    k => k,
                };
            }
        }
    });
    if let Some(r) = released {
        st.refs.retain(|(x, _)| *x != r);
    }
}
