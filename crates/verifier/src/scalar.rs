//! Abstract scalars: a tnum plus signed and unsigned ranges in 64 and 32 bits,
//! with the transfer functions of arithmetic and the refinement of jumps.

use std::fmt;

use oxbpf_isa::{semantics, AluOp, JmpCond, Width};

use crate::tnum::Tnum;

/// A set of 64-bit values: every value satisfies all nine constraints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scalar {
    /// Known bits.
    pub var: Tnum,
    pub smin: i64,
    pub smax: i64,
    pub umin: u64,
    pub umax: u64,
    pub s32min: i32,
    pub s32max: i32,
    pub u32min: u32,
    pub u32max: u32,
}

impl Scalar {
    /// Any value.
    pub const UNKNOWN: Scalar = Scalar {
        var: Tnum::UNKNOWN,
        smin: i64::MIN,
        smax: i64::MAX,
        umin: 0,
        umax: u64::MAX,
        s32min: i32::MIN,
        s32max: i32::MAX,
        u32min: 0,
        u32max: u32::MAX,
    };

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Scalar {
        Scalar {
            var: Tnum::constant(v),
            smin: v as i64,
            smax: v as i64,
            umin: v,
            umax: v,
            s32min: v as i32,
            s32max: v as i32,
            u32min: v as u32,
            u32max: v as u32,
        }
    }

    /// Any value in `0..=max`.
    pub fn upto(max: u64) -> Scalar {
        let mut s = Scalar::UNKNOWN;
        s.umax = max;
        s.sync();
        s
    }

    /// Any value of the tnum.
    pub fn from_tnum(t: Tnum) -> Scalar {
        let mut s = Scalar::UNKNOWN;
        s.var = t;
        s.sync();
        s
    }

    /// The value, if only one is possible.
    pub fn as_const(&self) -> Option<u64> {
        self.var.is_const().then_some(self.var.value)
    }

    /// The low 32 bits, if only one value is possible for them.
    pub fn as_const32(&self) -> Option<u32> {
        self.var
            .subreg()
            .is_const()
            .then_some(self.var.value as u32)
    }

    /// Whether no value satisfies every constraint (an impossible path).
    pub fn is_empty(&self) -> bool {
        self.umin > self.umax
            || self.smin > self.smax
            || self.u32min > self.u32max
            || self.s32min > self.s32max
            || !self.var.contains(self.var.value)
            || self.var.min() > self.umax
            || self.var.max() < self.umin
    }

    /// Whether every value of `other` is one of `self`'s.
    pub fn includes(&self, o: &Scalar) -> bool {
        self.umin <= o.umin
            && self.umax >= o.umax
            && self.smin <= o.smin
            && self.smax >= o.smax
            && self.u32min <= o.u32min
            && self.u32max >= o.u32max
            && self.s32min <= o.s32min
            && self.s32max >= o.s32max
            && self.var.includes(o.var)
    }

    /// Tightens the ranges and the tnum against each other until they agree.
    pub fn sync(&mut self) {
        // Nothing to tighten in a value that is entirely unknown.
        if *self == Scalar::UNKNOWN {
            return;
        }
        // A known value inside every range: the ranges become that value.
        if self.var.mask == 0 {
            let c = self.var.value;
            let inside = self.umin <= c
                && c <= self.umax
                && self.smin <= c as i64
                && c as i64 <= self.smax
                && self.u32min <= c as u32
                && c as u32 <= self.u32max
                && self.s32min <= c as i32
                && c as i32 <= self.s32max;
            if inside {
                *self = Scalar {
                    var: self.var,
                    smin: c as i64,
                    smax: c as i64,
                    umin: c,
                    umax: c,
                    s32min: c as i32,
                    s32max: c as i32,
                    u32min: c as u32,
                    u32max: c as u32,
                };
                return;
            }
        }
        for _ in 0..2 {
            let before = *self;
            // From the tnum.
            let sub = self.var.subreg();
            self.umin = self.umin.max(self.var.min());
            self.umax = self.umax.min(self.var.max());
            self.u32min = self.u32min.max(sub.min() as u32);
            self.u32max = self.u32max.min(sub.max() as u32);
            let (smin_t, smax_t) = signed_bounds(self.var.value, self.var.mask, 63);
            self.smin = self.smin.max(smin_t);
            self.smax = self.smax.min(smax_t);
            let (s32min_t, s32max_t) = signed_bounds(sub.value, sub.mask, 31);
            self.s32min = self.s32min.max(s32min_t as i32);
            self.s32max = self.s32max.min(s32max_t as i32);
            // 32-bit bounds from the 64-bit ones when the high halves agree.
            if self.umin >> 32 == self.umax >> 32 {
                self.u32min = self.u32min.max(self.umin as u32);
                self.u32max = self.u32max.min(self.umax as u32);
                if (self.umin as u32 as i32) <= (self.umax as u32 as i32) {
                    self.s32min = self.s32min.max(self.umin as i32);
                    self.s32max = self.s32max.min(self.umax as i32);
                }
            }
            if self.smin >> 32 == self.smax >> 32 && (self.smin as i32) <= (self.smax as i32) {
                self.s32min = self.s32min.max(self.smin as i32);
                self.s32max = self.s32max.min(self.smax as i32);
            }
            // Signed and unsigned 32-bit bounds from each other.
            if (self.u32min as i32) <= (self.u32max as i32) {
                self.s32min = self.s32min.max(self.u32min as i32);
                self.s32max = self.s32max.min(self.u32max as i32);
            }
            if (self.s32min as u32) <= (self.s32max as u32) {
                self.u32min = self.u32min.max(self.s32min as u32);
                self.u32max = self.u32max.min(self.s32max as u32);
            }
            // Signed and unsigned 64-bit bounds from each other.
            if (self.umin as i64) <= (self.umax as i64) {
                self.smin = self.smin.max(self.umin as i64);
                self.smax = self.smax.min(self.umax as i64);
            }
            if (self.smin as u64) <= (self.smax as u64) {
                self.umin = self.umin.max(self.smin as u64);
                self.umax = self.umax.min(self.smax as u64);
            }
            // 64-bit bounds from the 32-bit ones when the high halves are known.
            if self.umin >> 32 == self.umax >> 32 {
                let hi = self.umin & !0xffff_ffff;
                self.umin = self.umin.max(hi | self.u32min as u64);
                self.umax = self.umax.min(hi | self.u32max as u64);
            }
            // The tnum from the ranges.
            if self.umin <= self.umax {
                self.var = self.var.intersect(Tnum::range(self.umin, self.umax));
            }
            if self.u32min <= self.u32max {
                let low = self
                    .var
                    .subreg()
                    .intersect(Tnum::range(self.u32min as u64, self.u32max as u64));
                self.var = self.var.with_subreg(low);
            }
            if *self == before {
                break;
            }
        }
    }

    /// The low `bytes` bytes, zero-extended.
    pub fn truncate(&self, bytes: usize) -> Scalar {
        if bytes >= 8 {
            return *self;
        }
        // Loads make these all the time: computed once.
        static UNKNOWN_LOW: std::sync::LazyLock<[Scalar; 3]> =
            std::sync::LazyLock::new(|| [1, 2, 4].map(|b| Scalar::UNKNOWN.truncate_slow(b)));
        if let Some(c) = self.as_const() {
            return Scalar::constant(c & ((1u64 << (bytes * 8)) - 1));
        }
        if *self == Scalar::UNKNOWN {
            match bytes {
                1 => return UNKNOWN_LOW[0],
                2 => return UNKNOWN_LOW[1],
                4 => return UNKNOWN_LOW[2],
                _ => {}
            }
        }
        self.truncate_slow(bytes)
    }

    fn truncate_slow(&self, bytes: usize) -> Scalar {
        // Values loaded as bytes, halves or words, truncated again, start from
        // these tnums (known zero above 8, 16 or 32 bits): computed once, with
        // whether syncing them again changes nothing.
        static LOW_BITS: std::sync::LazyLock<[(Scalar, bool); 3]> =
            std::sync::LazyLock::new(|| {
                [0xff, 0xffff, 0xffff_ffff].map(|mask| {
                    let s = Scalar::from_tnum(Tnum { value: 0, mask });
                    let mut again = s;
                    again.sync();
                    (s, again == s)
                })
            });
        let t = self.var.cast(bytes);
        let (mut r, stable) = match (t.value, t.mask) {
            (0, 0xff) => LOW_BITS[0],
            (0, 0xffff) => LOW_BITS[1],
            (0, 0xffff_ffff) => LOW_BITS[2],
            _ => (Scalar::from_tnum(t), false),
        };
        let start = r;
        let bits = bytes * 8;
        let keep = (1u64 << bits) - 1;
        if self.umin <= self.umax
            && self.umax - self.umin <= keep
            && self.umin >> bits == self.umax >> bits
        {
            r.umin = r.umin.max(self.umin & keep);
            r.umax = r.umax.min(self.umax & keep);
        }
        if bytes == 4 {
            r.u32min = r.u32min.max(self.u32min);
            r.u32max = r.u32max.min(self.u32max);
            r.umin = r.umin.max(self.u32min as u64);
            r.umax = r.umax.min(self.u32max as u64);
        }
        // Nothing narrowed a scalar that syncing leaves alone: it is the result.
        if !(stable && r == start) {
            r.sync();
        }
        r
    }

    /// Sign extension of the low `bytes` bytes.
    pub fn sign_extend(&self, bytes: usize) -> Scalar {
        if bytes >= 8 {
            return *self;
        }
        if let Some(v) = self.as_const() {
            return Scalar::constant(sext(v, bytes));
        }
        let t = self.truncate(bytes);
        let bits = bytes * 8;
        let half = 1u64 << (bits - 1);
        let mut r = Scalar::UNKNOWN;
        if t.umax < half {
            // The sign bit is clear: the value is unchanged.
            r = t;
        } else if t.umin >= half {
            // The sign bit is set: the high bits become ones.
            r.umin = sext(t.umin, bytes);
            r.umax = sext(t.umax, bytes);
        } else {
            let lim = half as i64;
            r.smin = -lim;
            r.smax = lim - 1;
        }
        r.sync();
        r
    }

    /// The result of `self op= src` at `width`.
    pub fn alu(&self, op: AluOp, width: Width, src: &Scalar) -> Scalar {
        match width {
            Width::W64 => self.alu64(op, src),
            Width::W32 => self.alu32(op, src),
        }
    }

    fn alu64(&self, op: AluOp, src: &Scalar) -> Scalar {
        if let (Some(a), Some(b)) = (self.as_const(), src.as_const()) {
            return Scalar::constant(semantics::alu64(op, a, b));
        }
        let mut r = Scalar::UNKNOWN;
        match op {
            AluOp::Mov => return *src,
            AluOp::Movsx8 => return src.sign_extend(1),
            AluOp::Movsx16 => return src.sign_extend(2),
            AluOp::Movsx32 => return src.sign_extend(4),
            AluOp::Add => {
                r.var = self.var.add(src.var);
                if let (Some(lo), Some(hi)) = (
                    self.smin.checked_add(src.smin),
                    self.smax.checked_add(src.smax),
                ) {
                    r.smin = lo;
                    r.smax = hi;
                }
                if let (Some(lo), Some(hi)) = (
                    self.umin.checked_add(src.umin),
                    self.umax.checked_add(src.umax),
                ) {
                    r.umin = lo;
                    r.umax = hi;
                }
            }
            AluOp::Sub => {
                r.var = self.var.sub(src.var);
                if let (Some(lo), Some(hi)) = (
                    self.smin.checked_sub(src.smax),
                    self.smax.checked_sub(src.smin),
                ) {
                    r.smin = lo;
                    r.smax = hi;
                }
                if self.umin >= src.umax {
                    r.umin = self.umin - src.umax;
                    r.umax = self.umax - src.umin;
                }
            }
            AluOp::Mul => {
                r.var = self.var.mul(src.var);
                if let Some(hi) = self.umax.checked_mul(src.umax) {
                    r.umin = self.umin * src.umin;
                    r.umax = hi;
                }
            }
            AluOp::And => {
                r.var = self.var.and(src.var);
                r.umax = self.umax.min(src.umax);
            }
            AluOp::Or => {
                r.var = self.var.or(src.var);
                r.umin = self.umin.max(src.umin);
            }
            AluOp::Xor => r.var = self.var.xor(src.var),
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
                if src.umax > 63 {
                    // The interpreter masks the amount; stay sound without tracking it.
                    return Scalar::UNKNOWN;
                }
                return self.shift(op, src.umin as u32, src.umax as u32, 64);
            }
            AluOp::Div => match self.umax.checked_div(src.umin) {
                Some(hi) => {
                    r.umin = self.umin / src.umax;
                    r.umax = hi;
                }
                None => r.umax = self.umax,
            },
            AluOp::Mod => {
                if src.umin > 0 {
                    r.umax = self.umax.min(src.umax - 1);
                } else {
                    r.umax = self.umax;
                }
            }
            AluOp::Sdiv | AluOp::Smod => {}
        }
        r.sync();
        r
    }

    /// Shift by an amount in `lo..=hi` (both below `bits`), at `bits` width.
    fn shift(&self, op: AluOp, lo: u32, hi: u32, bits: u32) -> Scalar {
        if lo != hi {
            let mut r = Scalar::UNKNOWN;
            if op == AluOp::Rsh {
                r.umax = self.umax >> lo;
                if bits == 32 {
                    r.umax = r.umax.min(u32::MAX as u64 >> lo);
                }
                r.sync();
            } else if bits == 32 {
                r = Scalar::upto(u32::MAX as u64);
            }
            return r;
        }
        let n = lo;
        let mut r = Scalar::UNKNOWN;
        match op {
            AluOp::Lsh => {
                r.var = self.var.lshift(n);
                if bits == 64 && self.umax.leading_zeros() >= n {
                    r.umin = self.umin << n;
                    r.umax = self.umax << n;
                }
            }
            AluOp::Rsh => {
                r.var = self.var.rshift(n);
                r.umin = self.umin >> n;
                r.umax = self.umax >> n;
            }
            _ => {
                r.var = self.var.arshift(n, bits);
                if bits == 64 {
                    r.smin = self.smin >> n;
                    r.smax = self.smax >> n;
                }
            }
        }
        r.sync();
        r
    }

    fn alu32(&self, op: AluOp, src: &Scalar) -> Scalar {
        if let (Some(a), Some(b)) = (self.as_const32(), src.as_const32()) {
            return Scalar::constant(semantics::alu32(op, a as u64, b as u64));
        }
        let a = self.truncate(4);
        let b = src.truncate(4);
        let r = match op {
            AluOp::Mov => b,
            AluOp::Movsx8 => b.sign_extend(1).truncate(4),
            AluOp::Movsx16 => b.sign_extend(2).truncate(4),
            AluOp::Movsx32 => b,
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
                if b.umax > 31 {
                    return Scalar::upto(u32::MAX as u64);
                }
                let base = if op == AluOp::Arsh { a } else { a.truncate(4) };
                base.shift(op, b.umin as u32, b.umax as u32, 32)
            }
            AluOp::Sdiv | AluOp::Smod => Scalar::UNKNOWN,
            _ => a.alu64(op, &b),
        };
        r.truncate(4)
    }

    /// `-self` at `width`.
    pub fn neg(&self, width: Width) -> Scalar {
        Scalar::constant(0).alu(AluOp::Sub, width, self)
    }

    /// Byte-order conversion of the low `bits`.
    pub fn byte_order(&self, order: oxbpf_isa::ByteOrder, bits: u8) -> Scalar {
        if let Some(v) = self.as_const() {
            return Scalar::constant(semantics::byte_order(order, bits, v));
        }
        let swaps = semantics::byte_order(order, 16, 0x0102) != 0x0102;
        let bytes = bits as usize / 8;
        if swaps {
            Scalar::upto(if bytes >= 8 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            })
        } else {
            self.truncate(bytes)
        }
    }
}

/// Sign extension of the low `bytes` bytes of `v`.
fn sext(v: u64, bytes: usize) -> u64 {
    let shift = 64 - bytes * 8;
    (((v << shift) as i64) >> shift) as u64
}

/// The signed range of a tnum restricted to bits `0..=sign`.
fn signed_bounds(value: u64, mask: u64, sign: u32) -> (i64, i64) {
    let bit = 1u64 << sign;
    let ext = |v: u64| -> i64 {
        if sign == 63 {
            v as i64
        } else {
            v as u32 as i32 as i64
        }
    };
    if mask & bit != 0 {
        // The sign is unknown: the minimum sets it, the maximum clears it.
        (ext(value | bit), ext((value | mask) & !bit))
    } else {
        (ext(value), ext(value | mask))
    }
}

/// What a conditional jump decides for a pair of scalars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branch {
    /// Always taken.
    Taken,
    /// Never taken.
    NotTaken,
    /// Either.
    Unknown,
}

/// Whether `a cond b` is decided by the ranges alone.
pub fn branch_taken(cond: JmpCond, width: Width, a: &Scalar, b: &Scalar) -> Branch {
    let decided = |t: bool| if t { Branch::Taken } else { Branch::NotTaken };
    let (va, vb) = match width {
        Width::W64 => (a.as_const(), b.as_const()),
        Width::W32 => (a.as_const32().map(u64::from), b.as_const32().map(u64::from)),
    };
    if let (Some(x), Some(y)) = (va, vb) {
        return decided(match width {
            Width::W64 => semantics::jump64(cond, x, y),
            Width::W32 => semantics::jump32(cond, x, y),
        });
    }
    let (umin_a, umax_a, smin_a, smax_a, umin_b, umax_b, smin_b, smax_b, ta, tb) = match width {
        Width::W64 => (
            a.umin, a.umax, a.smin, a.smax, b.umin, b.umax, b.smin, b.smax, a.var, b.var,
        ),
        Width::W32 => (
            a.u32min as u64,
            a.u32max as u64,
            a.s32min as i64,
            a.s32max as i64,
            b.u32min as u64,
            b.u32max as u64,
            b.s32min as i64,
            b.s32max as i64,
            a.var.subreg(),
            b.var.subreg(),
        ),
    };
    let disjoint = umax_a < umin_b || umin_a > umax_b || smax_a < smin_b || smin_a > smax_b;
    match cond {
        JmpCond::Eq | JmpCond::Ne => {
            let differ = disjoint || !ta.overlaps(tb);
            if differ {
                decided(cond == JmpCond::Ne)
            } else {
                Branch::Unknown
            }
        }
        JmpCond::Set => {
            if ta.and(tb).value != 0 {
                Branch::Taken
            } else if ta.max() & tb.max() == 0 {
                Branch::NotTaken
            } else {
                Branch::Unknown
            }
        }
        JmpCond::Gt => order(umin_a > umax_b, umax_a <= umin_b),
        JmpCond::Ge => order(umin_a >= umax_b, umax_a < umin_b),
        JmpCond::Lt => order(umax_a < umin_b, umin_a >= umax_b),
        JmpCond::Le => order(umax_a <= umin_b, umin_a > umax_b),
        JmpCond::Sgt => order(smin_a > smax_b, smax_a <= smin_b),
        JmpCond::Sge => order(smin_a >= smax_b, smax_a < smin_b),
        JmpCond::Slt => order(smax_a < smin_b, smin_a >= smax_b),
        JmpCond::Sle => order(smax_a <= smin_b, smin_a > smax_b),
    }
}

fn order(always: bool, never: bool) -> Branch {
    if always {
        Branch::Taken
    } else if never {
        Branch::NotTaken
    } else {
        Branch::Unknown
    }
}

/// The condition that holds on the fall-through side of a jump on `cond`.
pub fn negate(cond: JmpCond) -> Option<JmpCond> {
    Some(match cond {
        JmpCond::Eq => JmpCond::Ne,
        JmpCond::Ne => JmpCond::Eq,
        JmpCond::Gt => JmpCond::Le,
        JmpCond::Le => JmpCond::Gt,
        JmpCond::Ge => JmpCond::Lt,
        JmpCond::Lt => JmpCond::Ge,
        JmpCond::Sgt => JmpCond::Sle,
        JmpCond::Sle => JmpCond::Sgt,
        JmpCond::Sge => JmpCond::Slt,
        JmpCond::Slt => JmpCond::Sge,
        JmpCond::Set => return None,
    })
}

/// The condition `b cond' a` equivalent to `a cond b`.
pub fn swap(cond: JmpCond) -> JmpCond {
    match cond {
        JmpCond::Gt => JmpCond::Lt,
        JmpCond::Lt => JmpCond::Gt,
        JmpCond::Ge => JmpCond::Le,
        JmpCond::Le => JmpCond::Ge,
        JmpCond::Sgt => JmpCond::Slt,
        JmpCond::Slt => JmpCond::Sgt,
        JmpCond::Sge => JmpCond::Sle,
        JmpCond::Sle => JmpCond::Sge,
        c => c,
    }
}

/// Narrows `a` and `b` to the values for which `a cond b` holds at `width`.
/// `set_false` is the negated `Set` condition (`a & b == 0`).
pub fn refine(cond: JmpCond, set_false: bool, width: Width, a: &mut Scalar, b: &mut Scalar) {
    match width {
        Width::W64 => refine64(cond, set_false, a, b),
        Width::W32 => refine32(cond, set_false, a, b),
    }
    a.sync();
    b.sync();
}

fn refine64(cond: JmpCond, set_false: bool, a: &mut Scalar, b: &mut Scalar) {
    match cond {
        JmpCond::Eq => {
            let t = a.var.intersect(b.var);
            a.umin = a.umin.max(b.umin);
            a.umax = a.umax.min(b.umax);
            a.smin = a.smin.max(b.smin);
            a.smax = a.smax.min(b.smax);
            if a.var.overlaps(b.var) {
                a.var = t;
            } else {
                a.umin = 1;
                a.umax = 0;
            }
            let (u32min, u32max) = (a.u32min.max(b.u32min), a.u32max.min(b.u32max));
            let (s32min, s32max) = (a.s32min.max(b.s32min), a.s32max.min(b.s32max));
            a.u32min = u32min;
            a.u32max = u32max;
            a.s32min = s32min;
            a.s32max = s32max;
            *b = *a;
        }
        JmpCond::Ne => {
            if let Some(c) = b.as_const() {
                exclude64(a, c);
            }
            if let Some(c) = a.as_const() {
                exclude64(b, c);
            }
        }
        JmpCond::Set => {
            if set_false {
                if let Some(c) = b.as_const() {
                    a.var = a.var.and(Tnum::constant(!c));
                }
                if let Some(c) = a.as_const() {
                    b.var = b.var.and(Tnum::constant(!c));
                }
            } else if let Some(c) = b.as_const() {
                if c.is_power_of_two() {
                    a.var = a.var.or(Tnum::constant(c));
                }
            }
        }
        JmpCond::Gt => {
            a.umin = a.umin.max(b.umin.saturating_add(1));
            b.umax = b.umax.min(a.umax.saturating_sub(1));
            if a.umax == 0 || b.umin == u64::MAX {
                a.umin = 1;
                a.umax = 0;
            }
        }
        JmpCond::Ge => {
            a.umin = a.umin.max(b.umin);
            b.umax = b.umax.min(a.umax);
        }
        JmpCond::Lt | JmpCond::Le | JmpCond::Slt | JmpCond::Sle => {
            refine64(swap(cond), false, b, a);
        }
        JmpCond::Sgt => {
            if a.smax == i64::MIN || b.smin == i64::MAX {
                a.smin = 1;
                a.smax = 0;
            } else {
                a.smin = a.smin.max(b.smin + 1);
                b.smax = b.smax.min(a.smax - 1);
            }
        }
        JmpCond::Sge => {
            a.smin = a.smin.max(b.smin);
            b.smax = b.smax.min(a.smax);
        }
    }
}

fn exclude64(a: &mut Scalar, c: u64) {
    if a.umin == c {
        a.umin = a.umin.wrapping_add(1);
        if a.umin == 0 {
            a.umin = 1;
            a.umax = 0;
        }
    } else if a.umax == c {
        if a.umax == 0 {
            a.umin = 1;
        } else {
            a.umax -= 1;
        }
    }
    if a.smin == c as i64 && a.smin < i64::MAX {
        a.smin += 1;
    } else if a.smax == c as i64 && a.smax > i64::MIN {
        a.smax -= 1;
    }
}

fn refine32(cond: JmpCond, set_false: bool, a: &mut Scalar, b: &mut Scalar) {
    match cond {
        JmpCond::Eq => {
            a.u32min = a.u32min.max(b.u32min);
            a.u32max = a.u32max.min(b.u32max);
            a.s32min = a.s32min.max(b.s32min);
            a.s32max = a.s32max.min(b.s32max);
            b.u32min = a.u32min;
            b.u32max = a.u32max;
            b.s32min = a.s32min;
            b.s32max = a.s32max;
            let (sa, sb) = (a.var.subreg(), b.var.subreg());
            if sa.overlaps(sb) {
                let t = sa.intersect(sb);
                a.var = a.var.with_subreg(t);
                b.var = b.var.with_subreg(t);
            } else {
                a.u32min = 1;
                a.u32max = 0;
            }
        }
        JmpCond::Ne => {
            if let Some(c) = b.as_const32() {
                exclude32(a, c);
            }
            if let Some(c) = a.as_const32() {
                exclude32(b, c);
            }
        }
        JmpCond::Set => {
            if set_false {
                if let Some(c) = b.as_const32() {
                    a.var = a.var.and(Tnum::constant(!(c as u64)));
                }
            }
        }
        JmpCond::Gt => {
            if a.u32max == 0 || b.u32min == u32::MAX {
                a.u32min = 1;
                a.u32max = 0;
            } else {
                a.u32min = a.u32min.max(b.u32min + 1);
                b.u32max = b.u32max.min(a.u32max - 1);
            }
        }
        JmpCond::Ge => {
            a.u32min = a.u32min.max(b.u32min);
            b.u32max = b.u32max.min(a.u32max);
        }
        JmpCond::Lt | JmpCond::Le | JmpCond::Slt | JmpCond::Sle => {
            refine32(swap(cond), false, b, a);
        }
        JmpCond::Sgt => {
            if a.s32max == i32::MIN || b.s32min == i32::MAX {
                a.s32min = 1;
                a.s32max = 0;
            } else {
                a.s32min = a.s32min.max(b.s32min + 1);
                b.s32max = b.s32max.min(a.s32max - 1);
            }
        }
        JmpCond::Sge => {
            a.s32min = a.s32min.max(b.s32min);
            b.s32max = b.s32max.min(a.s32max);
        }
    }
}

fn exclude32(a: &mut Scalar, c: u32) {
    if a.u32min == c && c < u32::MAX {
        a.u32min += 1;
    } else if a.u32max == c && c > 0 {
        a.u32max -= 1;
    } else if a.u32min == c && a.u32max == c {
        a.u32min = 1;
        a.u32max = 0;
    }
    if a.s32min == c as i32 && a.s32min < i32::MAX {
        a.s32min += 1;
    } else if a.s32max == c as i32 && a.s32max > i32::MIN {
        a.s32max -= 1;
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = self.as_const() {
            return write!(f, "{}", v as i64);
        }
        let mut parts = Vec::new();
        if self.smin != i64::MIN {
            parts.push(format!("smin={}", self.smin));
        }
        if self.smax != i64::MAX {
            parts.push(format!("smax={}", self.smax));
        }
        if self.umin != 0 {
            parts.push(format!("umin={}", self.umin));
        }
        if self.umax != u64::MAX {
            parts.push(format!("umax={}", self.umax));
        }
        if self.s32min != i32::MIN && self.s32min as i64 != self.smin {
            parts.push(format!("smin32={}", self.s32min));
        }
        if self.s32max != i32::MAX && self.s32max as i64 != self.smax {
            parts.push(format!("smax32={}", self.s32max));
        }
        if self.u32min != 0 && self.u32min as u64 != self.umin {
            parts.push(format!("umin32={}", self.u32min));
        }
        if self.u32max != u32::MAX && self.u32max as u64 != self.umax {
            parts.push(format!("umax32={}", self.u32max));
        }
        if self.var != Tnum::UNKNOWN {
            parts.push(format!("var_off={}", self.var));
        }
        write!(f, "scalar({})", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncating_a_value_that_fits_keeps_it() {
        for max in [0xff, 0xffff, 0xffff_ffff] {
            let v = Scalar::from_tnum(Tnum {
                value: 0,
                mask: max,
            });
            assert_eq!(v.truncate(4), v, "mask {max:#x}");
            // A narrower range within the same tnum keeps its bounds too.
            let mut narrow = v;
            narrow.umax = 10;
            narrow.sync();
            assert_eq!(narrow.truncate(4).umax, 10);
        }
        // Bits above the width are dropped.
        let wide = Scalar::from_tnum(Tnum {
            value: 0x1_0000_0000,
            mask: 0xff,
        });
        assert_eq!(wide.truncate(4), Scalar::upto(0xff));
    }

    fn range(lo: u64, hi: u64) -> Scalar {
        let mut s = Scalar::UNKNOWN;
        s.umin = lo;
        s.umax = hi;
        s.sync();
        s
    }

    /// Checks that the abstract result holds the concrete results of samples.
    fn holds(a: &Scalar, b: &Scalar, op: AluOp, width: Width) {
        let r = a.alu(op, width, b);
        let sa = [a.umin, a.umax, a.umin / 2 + a.umax / 2];
        let sb = [b.umin, b.umax, b.umin / 2 + b.umax / 2];
        for x in sa {
            for y in sb {
                if !a.var.contains(x) || !b.var.contains(y) {
                    continue;
                }
                let v = match width {
                    Width::W64 => semantics::alu64(op, x, y),
                    Width::W32 => semantics::alu32(op, x, y),
                };
                let c = Scalar::constant(v);
                assert!(
                    r.includes(&c),
                    "{op:?} {width:?} {x:#x} {y:#x} = {v:#x} not in {r}"
                );
            }
        }
    }

    #[test]
    fn constants_fold_through_isa_semantics() {
        let a = Scalar::constant(7);
        let b = Scalar::constant(3);
        assert_eq!(a.alu(AluOp::Sub, Width::W64, &b).as_const(), Some(4));
        assert_eq!(
            b.alu(AluOp::Sub, Width::W32, &a).as_const(),
            Some(0xffff_fffc)
        );
        assert_eq!(
            a.alu(AluOp::Lsh, Width::W64, &Scalar::constant(65))
                .as_const(),
            Some(14)
        );
        assert_eq!(a.neg(Width::W64).as_const(), Some(-7i64 as u64));
    }

    #[test]
    fn ranges_are_sound_for_every_operation() {
        let vals = [
            range(0, 10),
            range(5, 300),
            range(0, u32::MAX as u64),
            Scalar::UNKNOWN,
            Scalar::constant(3),
            range(1 << 40, (1 << 40) + 8),
        ];
        for a in &vals {
            for b in &vals {
                for op in AluOp::ALL {
                    for w in [Width::W64, Width::W32] {
                        holds(a, b, op, w);
                    }
                }
            }
        }
    }

    #[test]
    fn and_with_mask_bounds_the_result() {
        let r = Scalar::UNKNOWN.alu(AluOp::And, Width::W64, &Scalar::constant(0xff));
        assert_eq!((r.umin, r.umax, r.smin, r.smax), (0, 255, 0, 255));
        let r = Scalar::UNKNOWN.alu(AluOp::Rsh, Width::W64, &Scalar::constant(56));
        assert_eq!(r.umax, 255);
        let r = Scalar::UNKNOWN.alu(AluOp::Mov, Width::W32, &Scalar::UNKNOWN);
        assert_eq!(r.umax, u32::MAX as u64);
    }

    #[test]
    fn jumps_refine_both_sides() {
        let mut a = Scalar::UNKNOWN;
        let mut b = Scalar::constant(10);
        refine(JmpCond::Lt, false, Width::W64, &mut a, &mut b);
        assert_eq!((a.umin, a.umax), (0, 9));
        let mut a = range(0, 100);
        let mut b = Scalar::constant(10);
        refine(JmpCond::Ge, false, Width::W64, &mut a, &mut b);
        assert_eq!((a.umin, a.umax), (10, 100));
        let mut a = Scalar::UNKNOWN;
        let mut b = Scalar::constant(-5i64 as u64);
        refine(JmpCond::Sgt, false, Width::W64, &mut a, &mut b);
        assert_eq!(a.smin, -4);
        let mut a = range(0, 5);
        let mut b = Scalar::constant(0);
        refine(JmpCond::Ne, false, Width::W64, &mut a, &mut b);
        assert_eq!(a.umin, 1);
        let mut a = Scalar::UNKNOWN;
        let mut b = Scalar::constant(7);
        refine(JmpCond::Eq, false, Width::W32, &mut a, &mut b);
        assert_eq!(a.as_const32(), Some(7));
        let mut a = range(0, 255);
        let mut b = Scalar::constant(1);
        refine(JmpCond::Set, true, Width::W64, &mut a, &mut b);
        assert_eq!(a.var.value & 1 | a.var.mask & 1, 0);
    }

    #[test]
    fn impossible_branches_are_empty() {
        let mut a = range(0, 5);
        let mut b = Scalar::constant(10);
        refine(JmpCond::Gt, false, Width::W64, &mut a, &mut b);
        assert!(a.is_empty() || b.is_empty());
        assert_eq!(
            branch_taken(JmpCond::Gt, Width::W64, &range(0, 5), &Scalar::constant(10)),
            Branch::NotTaken
        );
        assert_eq!(
            branch_taken(JmpCond::Lt, Width::W64, &range(0, 5), &Scalar::constant(10)),
            Branch::Taken
        );
        assert_eq!(
            branch_taken(JmpCond::Eq, Width::W64, &range(0, 5), &Scalar::constant(3)),
            Branch::Unknown
        );
    }

    #[test]
    fn sign_extension_and_truncation() {
        let s = Scalar::constant(0x80).sign_extend(1);
        assert_eq!(s.as_const(), Some(-128i64 as u64));
        let s = range(0, 0x7f).sign_extend(1);
        assert_eq!((s.umin, s.umax), (0, 0x7f));
        let s = Scalar::UNKNOWN.sign_extend(2);
        assert_eq!((s.smin, s.smax), (-32768, 32767));
        let t = range(0x1_0000_0005, 0x1_0000_0009).truncate(4);
        assert_eq!((t.umin, t.umax), (5, 9));
    }
}
