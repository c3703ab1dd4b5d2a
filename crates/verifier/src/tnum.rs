//! Tristate numbers: 64-bit values where each bit is known 0, known 1 or unknown.
//!
//! A tnum is `(value, mask)`: bits set in `mask` are unknown, the others equal
//! the bit in `value` (whose masked bits are always 0).

use std::fmt;

/// A set of 64-bit values described bit by bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tnum {
    /// The known bits (unknown bits are 0 here).
    pub value: u64,
    /// The unknown bits.
    pub mask: u64,
}

#[allow(clippy::should_implement_trait)]
impl Tnum {
    /// Every value.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// The smallest tnum holding every value in `min..=max`.
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum {
            value: min & !delta,
            mask: delta,
        }
    }

    /// Whether every bit is known.
    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Whether `v` is one of the values.
    pub const fn contains(self, v: u64) -> bool {
        v & !self.mask == self.value
    }

    /// Whether every value of `other` is also a value of `self`.
    pub const fn includes(self, other: Tnum) -> bool {
        other.mask & !self.mask == 0 && other.value & !self.mask == self.value
    }

    /// The smallest value.
    pub const fn min(self) -> u64 {
        self.value
    }

    /// The largest value.
    pub const fn max(self) -> u64 {
        self.value | self.mask
    }

    /// Sum.
    pub fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: sv & !mu,
            mask: mu,
        }
    }

    /// Difference.
    pub fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: dv & !mu,
            mask: mu,
        }
    }

    /// Bitwise and.
    pub fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }

    /// Bitwise or.
    pub fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v,
            mask: mu & !v,
        }
    }

    /// Bitwise exclusive or.
    pub fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// Product, by shift-and-add over the bits of `self`.
    pub fn mul(self, b: Tnum) -> Tnum {
        let mut a = self;
        let mut b = b;
        let acc_v = a.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::constant(0);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.add(Tnum {
                    value: 0,
                    mask: b.mask,
                });
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.add(Tnum {
                    value: 0,
                    mask: b.value | b.mask,
                });
            }
            a = a.rshift(1);
            b = b.lshift(1);
        }
        Tnum::constant(acc_v).add(acc_m)
    }

    /// Left shift by a known amount (below 64).
    pub fn lshift(self, n: u32) -> Tnum {
        Tnum {
            value: self.value << n,
            mask: self.mask << n,
        }
    }

    /// Logical right shift by a known amount (below 64).
    pub fn rshift(self, n: u32) -> Tnum {
        Tnum {
            value: self.value >> n,
            mask: self.mask >> n,
        }
    }

    /// Arithmetic right shift of the low `bits` (32 or 64) by a known amount;
    /// a 32-bit result is zero-extended.
    pub fn arshift(self, n: u32, bits: u32) -> Tnum {
        if bits == 32 {
            Tnum {
                value: ((self.value as i32) >> n) as u32 as u64,
                mask: ((self.mask as i32) >> n) as u32 as u64,
            }
        } else {
            Tnum {
                value: ((self.value as i64) >> n) as u64,
                mask: ((self.mask as i64) >> n) as u64,
            }
        }
    }

    /// The values both tnums hold (the caller knows the sets overlap).
    pub fn intersect(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// Whether some value is in both.
    pub const fn overlaps(self, b: Tnum) -> bool {
        let known = !self.mask & !b.mask;
        (self.value ^ b.value) & known == 0
    }

    /// The smallest tnum holding both.
    pub fn union(self, b: Tnum) -> Tnum {
        let mu = self.mask | b.mask | (self.value ^ b.value);
        Tnum {
            value: self.value & !mu,
            mask: mu,
        }
    }

    /// Truncation to the low `bytes` bytes, zero-extended.
    pub fn cast(self, bytes: usize) -> Tnum {
        if bytes >= 8 {
            return self;
        }
        let keep = (1u64 << (bytes * 8)) - 1;
        Tnum {
            value: self.value & keep,
            mask: self.mask & keep,
        }
    }

    /// The low 32 bits, zero-extended.
    pub fn subreg(self) -> Tnum {
        self.cast(4)
    }

    /// `self` with its low 32 bits replaced by those of `low`.
    pub fn with_subreg(self, low: Tnum) -> Tnum {
        let high = Tnum {
            value: self.value & !0xffff_ffff,
            mask: self.mask & !0xffff_ffff,
        };
        high.or(low.subreg())
    }
}

impl fmt::Display for Tnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#x}; {:#x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value a small tnum holds, for brute-force checks.
    fn members(t: Tnum) -> Vec<u64> {
        let bits: Vec<u32> = (0..64).filter(|b| t.mask >> b & 1 != 0).collect();
        (0..1u64 << bits.len())
            .map(|i| {
                let mut v = t.value;
                for (k, b) in bits.iter().enumerate() {
                    if i >> k & 1 != 0 {
                        v |= 1 << b;
                    }
                }
                v
            })
            .collect()
    }

    fn samples() -> Vec<Tnum> {
        vec![
            Tnum::constant(0),
            Tnum::constant(5),
            Tnum::constant(u64::MAX),
            Tnum { value: 4, mask: 3 },
            Tnum {
                value: 0x10,
                mask: 0x5,
            },
            Tnum {
                value: 1 << 63,
                mask: 0x3,
            },
            Tnum::range(3, 9),
        ]
    }

    #[test]
    fn operations_hold_every_concrete_result() {
        type Op = (&'static str, fn(Tnum, Tnum) -> Tnum, fn(u64, u64) -> u64);
        let ops: [Op; 6] = [
            ("add", Tnum::add, u64::wrapping_add),
            ("sub", Tnum::sub, u64::wrapping_sub),
            ("and", Tnum::and, |a, b| a & b),
            ("or", Tnum::or, |a, b| a | b),
            ("xor", Tnum::xor, |a, b| a ^ b),
            ("mul", Tnum::mul, u64::wrapping_mul),
        ];
        for a in samples() {
            for b in samples() {
                for (name, op, f) in ops {
                    let r = op(a, b);
                    for x in members(a) {
                        for y in members(b) {
                            assert!(r.contains(f(x, y)), "{name} {a} {b}: {x:#x},{y:#x}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn range_covers_its_bounds_tightly() {
        assert_eq!(Tnum::range(0, 7), Tnum { value: 0, mask: 7 });
        assert_eq!(Tnum::range(8, 8), Tnum::constant(8));
        assert_eq!(Tnum::range(0, u64::MAX), Tnum::UNKNOWN);
        let t = Tnum::range(3, 9);
        assert!((3..=9).all(|v| t.contains(v)));
        assert_eq!(t.max(), 15);
    }

    #[test]
    fn shifts_casts_and_subregisters() {
        let t = Tnum {
            value: 0x10,
            mask: 0x1,
        };
        assert_eq!(
            t.lshift(4),
            Tnum {
                value: 0x100,
                mask: 0x10
            }
        );
        assert_eq!(t.rshift(4), Tnum { value: 1, mask: 0 });
        let neg = Tnum::constant(0x8000_0000);
        assert_eq!(neg.arshift(4, 32), Tnum::constant(0xf800_0000));
        assert_eq!(
            Tnum::constant(1 << 63).arshift(63, 64),
            Tnum::constant(u64::MAX)
        );
        assert_eq!(
            Tnum::constant(0x1234_5678_9abc).cast(2),
            Tnum::constant(0x9abc)
        );
        let w = Tnum::constant(0xffff_ffff_0000_0000).with_subreg(Tnum::constant(7));
        assert_eq!(w, Tnum::constant(0xffff_ffff_0000_0007));
    }

    #[test]
    fn inclusion_intersection_and_union() {
        let wide = Tnum {
            value: 0,
            mask: 0xff,
        };
        let narrow = Tnum {
            value: 0x10,
            mask: 0x3,
        };
        assert!(wide.includes(narrow));
        assert!(!narrow.includes(wide));
        assert_eq!(wide.intersect(Tnum::constant(3)), Tnum::constant(3));
        assert!(!Tnum::constant(1).overlaps(Tnum::constant(2)));
        let u = Tnum::constant(1).union(Tnum::constant(2));
        assert!(u.contains(1) && u.contains(2));
    }
}
