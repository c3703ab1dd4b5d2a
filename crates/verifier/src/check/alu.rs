//! ALU instructions and scalars: arithmetic on numbers, and pointer arithmetic.

use super::*;

impl Checker<'_> {
    /// A register's value as a number: a pointer becomes an unknown number
    /// when privileged, and is an error otherwise.
    pub(super) fn number_of(&self, d: Reg, dst: R, what: &str) -> Res<Scalar> {
        if d.kind == Kind::Scalar {
            return Ok(d.val);
        }
        if self.opts.privileged {
            return Ok(Scalar::UNKNOWN);
        }
        fail(
            Reason::PointerLeak,
            format!(
                "R{} is a pointer ({}); {what} it would expose its address",
                dst.num(),
                d.kind.name()
            ),
            "without privileges only numbers can be negated or byte-swapped",
        )
    }

    pub(super) fn alu(
        &mut self,
        st: &mut State,
        width: Width,
        op: AluOp,
        dst: R,
        src: Operand,
    ) -> Res<()> {
        if dst == R::R10 {
            return Self::write(st, dst, Reg::UNINIT);
        }
        if matches!(op, AluOp::Div | AluOp::Sdiv | AluOp::Mod | AluOp::Smod)
            && src == Operand::Imm(0)
        {
            return fail(
                Reason::DivisionByZero,
                "division or modulo by the constant 0",
                "divide by a nonzero constant, or by a register (x / 0 is 0 and x % 0 is x in eBPF)",
            );
        }
        let s = self.src_value(st, src, width)?;
        let priv_ = self.opts.privileged;
        if matches!(
            op,
            AluOp::Mov | AluOp::Movsx8 | AluOp::Movsx16 | AluOp::Movsx32
        ) {
            let v = if s.kind == Kind::Scalar {
                let mut v = Reg::scalar(Scalar::UNKNOWN.alu(op, width, &s.val));
                if op == AluOp::Mov && width == Width::W64 && v.val.as_const().is_none() {
                    // Tie the copies so a later comparison refines both.
                    let id = if s.id != 0 { s.id } else { self.new_id() };
                    if let Operand::Reg(r) = src {
                        st.cur_mut().regs[r.num() as usize].id = id;
                    }
                    v.id = id;
                }
                v
            } else if op == AluOp::Mov && width == Width::W64 {
                s
            } else if priv_ {
                // A partial or sign-extended copy of a pointer is just a number.
                Reg::unknown().truncated(width)
            } else {
                return fail(
                    Reason::PointerLeak,
                    format!(
                        "a partial copy of a pointer ({}) is not allowed without privileges",
                        s.kind.name()
                    ),
                    "copy pointers whole with a 64-bit move",
                );
            };
            return Self::write(st, dst, v);
        }
        let d = self.read(st, dst)?;
        // Only formatted for an error message.
        let opname = || {
            oxbpf_isa::Insn::Alu {
                width,
                op,
                dst,
                src,
            }
            .to_string()
        };
        match (d.kind, s.kind) {
            (Kind::Scalar, Kind::Scalar) => {
                let v = d.val.alu(op, width, &s.val);
                Self::write(st, dst, Reg::scalar(v))
            }
            (k, Kind::Scalar) if k.is_pointer() => {
                // The offset's value becomes part of the pointer.
                if let Operand::Reg(r) = src {
                    self.want_reg(st, r.num());
                }
                let v = self.ptr_arith(d, s.val, op, width, dst.num(), &opname, false)?;
                Self::write(st, dst, v)
            }
            (Kind::Scalar, k) if k.is_pointer() && op == AluOp::Sub && width == Width::W32 && priv_ => {
                // 32-bit arithmetic with a pointer yields a meaningless number.
                Self::write(st, dst, Reg::unknown().truncated(width))
            }
            (Kind::Scalar, k) if k.is_pointer() && op == AluOp::Add && width == Width::W64 => {
                self.want_reg(st, dst.num());
                let v = self.ptr_arith(s, d.val, op, width, dst.num(), &opname, true)?;
                Self::write(st, dst, v)
            }
            (a, b) if a.is_pointer() && b.is_pointer() && op == AluOp::Sub => {
                // The difference of two pointers is a number (privileged only).
                if !priv_ {
                    return fail(
                        Reason::PointerLeak,
                        format!("subtracting pointers ({} - {}) is not allowed without privileges", a.name(), b.name()),
                        "compute offsets from numbers instead",
                    );
                }
                Self::write(st, dst, Reg::unknown().truncated(width))
            }
            (a, b) => fail(
                Reason::PointerArithmetic,
                format!(
                    "`{}` mixes a {} and a {}; only pointer += number and pointer -= number are allowed",
                    opname(),
                    a.name(),
                    b.name()
                ),
                "do arithmetic on numbers, and only add or subtract them from pointers",
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn ptr_arith(
        &mut self,
        p: Reg,
        n: Scalar,
        op: AluOp,
        width: Width,
        dst: u8,
        opname: &dyn Fn() -> String,
        swapped: bool,
    ) -> Res<Reg> {
        let name = p.kind.name();
        if width == Width::W32
            || !matches!(op, AluOp::Add | AluOp::Sub)
            || (swapped && op == AluOp::Sub)
        {
            return fail(
                Reason::PointerArithmetic,
                format!(
                    "`{}` on R{dst}, a pointer ({name}): only 64-bit += and -= are allowed on pointers",
                    opname()
                ),
                "do the arithmetic on a number, then add it to the pointer",
            );
        }
        match p.kind {
            k if k.maybe_null() => {
                return fail(
                    Reason::PossiblyNull,
                    format!("arithmetic on R{dst}, which may be NULL ({name})"),
                    "compare the pointer with 0 first (if (!p) return ...;), then offset it",
                )
            }
            Kind::ConstMap { .. } | Kind::Func { .. } | Kind::PacketEnd | Kind::Sock { .. } => {
                return fail(
                    Reason::PointerArithmetic,
                    format!("arithmetic on R{dst} ({name}) is not allowed"),
                    "this pointer can only be passed on or compared, not offset",
                )
            }
            _ => {}
        }
        let mut r = p;
        let n = if op == AluOp::Sub {
            n.neg(Width::W64)
        } else {
            n
        };
        if let Some(c) = n.as_const() {
            let off = p.off.checked_add(c as i64).filter(|o| o.abs() < 1 << 29);
            match off {
                Some(o) => r.off = o,
                None => {
                    return fail(
                        Reason::PointerArithmetic,
                        format!(
                            "R{dst} ({name}) offset {} is too large",
                            p.off as i128 + c as i64 as i128
                        ),
                        "pointer offsets must stay within +-2^29",
                    )
                }
            }
        } else {
            if !self.opts.privileged && matches!(p.kind, Kind::Stack { .. }) {
                return fail(
                    Reason::PointerArithmetic,
                    "variable stack offsets are not allowed without privileges",
                    "index the stack with constants",
                );
            }
            r.val = p.val.alu(AluOp::Add, Width::W64, &n);
            if matches!(p.kind, Kind::Packet | Kind::PacketMeta) {
                r.id = self.new_id();
                r.range = 0;
            }
        }
        Ok(r)
    }
}

impl Reg {
    pub(super) fn truncated(self, width: Width) -> Reg {
        match width {
            Width::W64 => self,
            Width::W32 => self.truncated_to(4),
        }
    }

    pub(super) fn truncated_to(mut self, bytes: usize) -> Reg {
        self.val = self.val.truncate(bytes);
        self
    }
}
