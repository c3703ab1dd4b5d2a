//! The meaning of arithmetic and jump conditions, written once (RFC 9669 section 4).
//!
//! The interpreter calls these functions; later the verifier's constant folding
//! and the JIT's tests use them too.

use crate::insn::{AluOp, ByteOrder, JmpCond};

/// 64-bit ALU: the new value of `dst` for `dst op= src`.
#[inline(always)]
pub fn alu64(op: AluOp, dst: u64, src: u64) -> u64 {
    match op {
        AluOp::Add => dst.wrapping_add(src),
        AluOp::Sub => dst.wrapping_sub(src),
        AluOp::Mul => dst.wrapping_mul(src),
        AluOp::Div => dst.checked_div(src).unwrap_or(0),
        AluOp::Sdiv => {
            if src == 0 {
                0
            } else {
                (dst as i64).wrapping_div(src as i64) as u64
            }
        }
        AluOp::Mod => dst.checked_rem(src).unwrap_or(dst),
        AluOp::Smod => {
            if src == 0 {
                dst
            } else {
                (dst as i64).wrapping_rem(src as i64) as u64
            }
        }
        AluOp::Or => dst | src,
        AluOp::And => dst & src,
        AluOp::Xor => dst ^ src,
        AluOp::Lsh => dst.wrapping_shl(src as u32 & 63),
        AluOp::Rsh => dst.wrapping_shr(src as u32 & 63),
        AluOp::Arsh => ((dst as i64) >> (src as u32 & 63)) as u64,
        AluOp::Mov => src,
        AluOp::Movsx8 => src as i8 as i64 as u64,
        AluOp::Movsx16 => src as i16 as i64 as u64,
        AluOp::Movsx32 => src as i32 as i64 as u64,
    }
}

/// 32-bit ALU: operates on the low 32 bits and zero-extends the result.
#[inline(always)]
pub fn alu32(op: AluOp, dst: u64, src: u64) -> u64 {
    let (d, s) = (dst as u32, src as u32);
    let r: u32 = match op {
        AluOp::Add => d.wrapping_add(s),
        AluOp::Sub => d.wrapping_sub(s),
        AluOp::Mul => d.wrapping_mul(s),
        AluOp::Div => d.checked_div(s).unwrap_or(0),
        AluOp::Sdiv => {
            if s == 0 {
                0
            } else {
                (d as i32).wrapping_div(s as i32) as u32
            }
        }
        AluOp::Mod => d.checked_rem(s).unwrap_or(d),
        AluOp::Smod => {
            if s == 0 {
                d
            } else {
                (d as i32).wrapping_rem(s as i32) as u32
            }
        }
        AluOp::Or => d | s,
        AluOp::And => d & s,
        AluOp::Xor => d ^ s,
        AluOp::Lsh => d.wrapping_shl(s & 31),
        AluOp::Rsh => d.wrapping_shr(s & 31),
        AluOp::Arsh => ((d as i32) >> (s & 31)) as u32,
        AluOp::Mov => s,
        AluOp::Movsx8 => s as i8 as i32 as u32,
        AluOp::Movsx16 => s as i16 as i32 as u32,
        AluOp::Movsx32 => s,
    };
    r as u64
}

/// `dst = -dst` at 64 bits.
#[inline(always)]
pub fn neg64(dst: u64) -> u64 {
    dst.wrapping_neg()
}

/// `dst = -dst` at 32 bits, zero-extended.
#[inline(always)]
pub fn neg32(dst: u64) -> u64 {
    (dst as u32).wrapping_neg() as u64
}

/// Byte-order conversion of the low `bits` of `dst`; the result is zero-extended.
#[inline(always)]
pub fn byte_order(order: ByteOrder, bits: u8, dst: u64) -> u64 {
    let swap = match order {
        ByteOrder::Le => cfg!(target_endian = "big"),
        ByteOrder::Be => cfg!(target_endian = "little"),
        ByteOrder::Swap => true,
    };
    match (bits, swap) {
        (16, false) => dst as u16 as u64,
        (16, true) => (dst as u16).swap_bytes() as u64,
        (32, false) => dst as u32 as u64,
        (32, true) => (dst as u32).swap_bytes() as u64,
        (_, false) => dst,
        (_, true) => dst.swap_bytes(),
    }
}

/// Whether a 64-bit conditional jump is taken.
#[inline(always)]
pub fn jump64(cond: JmpCond, a: u64, b: u64) -> bool {
    match cond {
        JmpCond::Eq => a == b,
        JmpCond::Ne => a != b,
        JmpCond::Gt => a > b,
        JmpCond::Ge => a >= b,
        JmpCond::Lt => a < b,
        JmpCond::Le => a <= b,
        JmpCond::Set => a & b != 0,
        JmpCond::Sgt => (a as i64) > (b as i64),
        JmpCond::Sge => (a as i64) >= (b as i64),
        JmpCond::Slt => (a as i64) < (b as i64),
        JmpCond::Sle => (a as i64) <= (b as i64),
    }
}

/// Whether a 32-bit conditional jump (JMP32) is taken; only low halves are compared.
#[inline(always)]
pub fn jump32(cond: JmpCond, a: u64, b: u64) -> bool {
    let (a, b) = (a as u32, b as u32);
    match cond {
        JmpCond::Eq => a == b,
        JmpCond::Ne => a != b,
        JmpCond::Gt => a > b,
        JmpCond::Ge => a >= b,
        JmpCond::Lt => a < b,
        JmpCond::Le => a <= b,
        JmpCond::Set => a & b != 0,
        JmpCond::Sgt => (a as i32) > (b as i32),
        JmpCond::Sge => (a as i32) >= (b as i32),
        JmpCond::Slt => (a as i32) < (b as i32),
        JmpCond::Sle => (a as i32) <= (b as i32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_and_modulo_edge_cases() {
        for (op, d, s, want) in [
            (AluOp::Div, 7u64, 0u64, 0u64),
            (AluOp::Sdiv, 7, 0, 0),
            (AluOp::Mod, 7, 0, 7),
            (AluOp::Smod, (-7i64) as u64, 0, (-7i64) as u64),
            (AluOp::Sdiv, i64::MIN as u64, u64::MAX, i64::MIN as u64),
            (AluOp::Smod, i64::MIN as u64, u64::MAX, 0),
            (AluOp::Smod, (-7i64) as u64, 3, (-1i64) as u64),
            (AluOp::Sdiv, (-7i64) as u64, 2, (-3i64) as u64),
        ] {
            assert_eq!(alu64(op, d, s), want, "{op:?} {d:#x} {s:#x}");
        }
        assert_eq!(alu32(AluOp::Mod, 0xffff_ffff_0000_0007, 0), 7);
        assert_eq!(alu32(AluOp::Sdiv, 0x8000_0000, 0xffff_ffff), 0x8000_0000);
    }

    #[test]
    fn shifts_mask_their_amount() {
        assert_eq!(alu64(AluOp::Lsh, 1, 65), 2);
        assert_eq!(alu32(AluOp::Lsh, 1, 33), 2);
        assert_eq!(alu32(AluOp::Arsh, 0x8000_0000, 4), 0xf800_0000);
        assert_eq!(alu64(AluOp::Arsh, 1 << 63, 63), u64::MAX);
    }

    #[test]
    fn byte_orders() {
        assert_eq!(byte_order(ByteOrder::Be, 16, 0x1122_3344), 0x4433);
        assert_eq!(
            byte_order(ByteOrder::Le, 32, 0x1122_3344_5566_7788),
            0x5566_7788
        );
        assert_eq!(
            byte_order(ByteOrder::Swap, 64, 0x0102_0304_0506_0708),
            0x0807_0605_0403_0201
        );
    }
}
