//! Scalar bounds: 32/64-bit range propagation, JMP32 refinement, sign
//! extension (ldsx, movsx), signed division and shifts. Each program ends by
//! adding a scalar the verifier may misjudge to a 16-byte map value pointer
//! (r0) and accessing it; the runs give it the value that escapes.

use oxbpf::object::ProgramType::SocketFilter as S;

use super::{case, on_value, Case};

/// Adds r6 to the value pointer and reads a byte through it.
const USE_R6: &str = "r0 += r6\nr1 = *(u8 *)(r0 + 0)";

pub fn cases() -> Vec<Case> {
    vec![
        // The 32-bit bounds of a register were derived from its 64-bit ones
        // after a JMP32 (__reg_bound_offset32): r6 in [1, 2^32+1] with w6 == 1
        // was taken to be 1, so (r6 - 1) >> 32 was "0" but is 1 for 2^32+1.
        case(
            "cve_2020_8835_jmp32_bound_offset",
            "CVE-2020-8835: 32-bit bounds from a JMP32 on a 64-bit range",
            S,
            on_value(&format!(
                "if r6 < 1 goto out\nr1 = 0x100000001 ll\nif r6 > r1 goto out\nif w6 != 1 goto out\nr6 -= 1\nr6 >>= 32\nr6 <<= 16\n{USE_R6}"
            )),
            None,
        )
        .value(0x1_0000_0001, 0),
        // ALU32 AND of a register whose low half is known with one in [0, 1]:
        // the kernel's scalar32_min_max_and kept stale 32-bit bounds.
        case(
            "cve_2021_3490_alu32_and",
            "CVE-2021-3490: ALU32 bitwise AND bounds",
            S,
            on_value(&format!(
                "if w6 > 1 goto out\nr1 = 0x100000001 ll\nr8 &= r1\nr8 |= 1\nw8 &= w6\nw8 -= 1\nr6 = r8\n{USE_R6}"
            )),
            None,
        )
        .value(0, 0x1_0000_0001),
        case(
            "cve_2021_3490_alu32_or",
            "CVE-2021-3490: ALU32 bitwise OR bounds",
            S,
            on_value(&format!(
                "if w6 > 1 goto out\nr1 = 0xfffffffe ll\nr8 &= r1\nw8 |= w6\nif w8 > 1 goto out\nw8 += -1\nr6 = r8\n{USE_R6}"
            )),
            None,
        )
        .value(0, 0),
        case(
            "cve_2021_3490_alu32_xor",
            "CVE-2021-3490: ALU32 bitwise XOR bounds",
            S,
            on_value(&format!(
                "if w6 > 1 goto out\nw8 = 1\nw8 ^= w6\nw8 -= 1\nr6 = r8\n{USE_R6}"
            )),
            None,
        )
        .value(1, 0),
        // 32-bit bounds wrongly derived from a 64-bit signed range [-1, 0].
        case(
            "cve_2021_31440_u32_from_s64",
            "CVE-2021-31440: 32-bit bounds derived from 64-bit ones",
            S,
            on_value(&format!(
                "if r6 s> 0 goto out\nif r6 s< -1 goto out\nw6 = w6\n{USE_R6}"
            )),
            None,
        ),
        // A 32-bit mov immediate is zero-extended, a 64-bit compare immediate
        // sign-extended: w6 = -1 is 0xffffffff, never -1 as a 64-bit value.
        case(
            "cve_2017_16995_mov32_imm_sign",
            "CVE-2017-16995: sign extension of 32-bit immediates",
            S,
            "w6 = -1\nif r6 != -1 goto bad\nr0 = 0\nexit\nbad:\nr0 = *(u64 *)(r10 + 8)\nexit",
            None,
        ),
        // A 32-bit register move must reset the 64-bit bounds.
        case(
            "cve_2017_16996_mov32_reg_bounds",
            "CVE-2017-16996: 64-bit bounds kept over a 32-bit move",
            S,
            on_value(&format!(
                "r1 = 0xffffffff00000000 ll\nif r6 < r1 goto out\nw6 = w6\nr6 -= r1\nr6 >>= 32\nr6 <<= 12\n{USE_R6}"
            )),
            None,
        ),
        // 32-bit shifts computed on 64-bit bounds without truncating first.
        case(
            "cve_2018_18445_rsh32_truncation",
            "CVE-2018-18445: 32-bit shift bounds not truncated",
            S,
            on_value(&format!(
                "r1 = 0x100000000 ll\nif r6 < r1 goto out\nr1 = 0x1000000ff ll\nif r6 > r1 goto out\nw6 >>= 1\nr6 -= 0x7fffffff\nr6 -= 1\n{USE_R6}"
            )),
            None,
        )
        .value(0x1_0000_0000, 0),
        // Modulo by a zero register keeps the dividend; for w registers the
        // upper half is zeroed. Verified code shifting the upper half down
        // indexes with it: every engine must zero it.
        case(
            "cve_2021_3444_mod32_by_zero",
            "CVE-2021-3444: mod32 by zero must zero-extend",
            S,
            on_value(&format!("r1 = 0\nw6 %= w1\nr6 >>= 32\n{USE_R6}")),
            None,
        )
        .value(u64::MAX, 0),
        case(
            "cve_2021_3600_div32_by_zero",
            "CVE-2021-3600: div32 by zero truncation",
            S,
            on_value(&format!("r1 = 0\nw6 /= w1\nr6 += 15\n{USE_R6}")),
            None,
        ),
        // OR with a constant sets bits the signed 32-bit range must include.
        case(
            "cve_2020_27194_or32_signed_bounds",
            "CVE-2020-27194: scalar32_min_max_or signed bounds",
            S,
            on_value(&format!(
                "w6 |= 0x40000000\nif w6 s< 0x100 goto use\ngoto out\nuse:\n{USE_R6}"
            )),
            None,
        ),
        // Only a signed upper bound: negative values pass.
        case(
            "signed_upper_bound_only",
            "CVE-2017-16995 class: signed vs unsigned comparison",
            S,
            on_value(&format!("if r6 s> 15 goto out\n{USE_R6}")),
            None,
        ),
        // Subtracting from a small value underflows.
        case(
            "sub_underflow_offset",
            "CVE-2017-17864 class: arithmetic wrap in bounds",
            S,
            on_value(&format!("r6 &= 15\nr6 -= 16\n{USE_R6}")),
            None,
        ),
        // Multiplication past 2^64 wraps.
        case(
            "mul_overflow_offset",
            "CVE-2017-17863 class: multiplication overflow in bounds",
            S,
            on_value(&format!(
                "r6 &= 3\nr1 = 0x4000000000000000 ll\nr6 *= r1\nr6 >>= 50\n{USE_R6}"
            )),
            None,
        )
        .value(1, 0),
        case(
            "neg_of_bounded",
            "negation bounds",
            S,
            on_value(&format!("r6 &= 15\nr6 = -r6\n{USE_R6}")),
            None,
        ),
        // A load-sign-extend yields negative values.
        case(
            "ldsx8_negative",
            "ldsx sign-extension bounds",
            S,
            on_value(&format!(
                "r6 = *(s8 *)(r7 + 0)\nif r6 s> 15 goto out\n{USE_R6}"
            )),
            None,
        ),
        case(
            "ldsx32_w_compare",
            "ldsx sign-extension with a JMP32 check",
            S,
            on_value(&format!(
                "r6 = *(s32 *)(r7 + 0)\nif w6 s< 16 goto use\ngoto out\nuse:\n{USE_R6}"
            )),
            None,
        ),
        case(
            "movsx8_negative",
            "movsx sign-extension bounds",
            S,
            on_value(&format!("r6 &= 255\nr6 = (s8)r6\nif r6 s> 15 goto out\n{USE_R6}")),
            None,
        ),
        // A 32-bit movsx zero-extends into the upper half.
        case(
            "movsx16_w_zero_extends",
            "movsx sign-extension of w registers",
            S,
            on_value(&format!(
                "w6 = (s16)w6\nif w6 s> 15 goto out\n{USE_R6}"
            )),
            None,
        ),
        case(
            "arsh32_then_add",
            "arithmetic shift of w registers",
            S,
            on_value(&format!("w6 s>>= 31\nr6 += 1\n{USE_R6}")),
            None,
        ),
        // S64_MIN / -1 is S64_MIN, not a positive number.
        case(
            "sdiv_int_min_by_minus_one",
            "signed division overflow",
            S,
            on_value(&format!(
                "if r6 s> -1 goto out\nr6 s/= -1\nif r6 s> 8 goto out\n{USE_R6}"
            )),
            None,
        )
        .value(0x8000_0000_0000_0000, 0),
        case(
            "smod_negative_result",
            "signed modulo bounds",
            S,
            on_value(&format!("r6 s%= 8\n{USE_R6}")),
            None,
        ),
        case(
            "sdiv32_int_min",
            "32-bit signed division overflow",
            S,
            on_value(&format!(
                "w6 s/= -1\nif w6 s> 8 goto out\nif w6 s< -8 goto use\ngoto out\nuse:\n{USE_R6}"
            )),
            None,
        )
        .value(0x8000_0000, 0),
        // JMP32 bounds say nothing about the upper half.
        case(
            "jmp32_signed_leaves_upper_half",
            "JMP32 refinement of a 64-bit register",
            S,
            on_value(&format!(
                "if w6 s> 15 goto out\nif w6 s< 0 goto out\n{USE_R6}"
            )),
            None,
        )
        .value(0xffff_ffff_0000_0000, 0),
        case(
            "jmp32_unsigned_leaves_upper_half",
            "JMP32 refinement of a 64-bit register",
            S,
            on_value(&format!("if w6 > 15 goto out\n{USE_R6}")),
            None,
        )
        .value(0xffff_ffff_0000_0000, 0),
        case(
            "jmp32_eq_leaves_upper_half",
            "JMP32 refinement of a 64-bit register",
            S,
            on_value(&format!("if w6 != 0 goto out\n{USE_R6}")),
            None,
        )
        .value(0x1_0000_0000, 0),
        // Shift amounts are taken modulo the width by the engines.
        case(
            "lsh_by_unknown_amount",
            "shift by a register of unknown amount",
            S,
            on_value(&format!("r8 &= 127\nr6 = 1\nr6 <<= r8\n{USE_R6}")),
            None,
        )
        .value(0, 64 + 12),
        case(
            "rsh32_by_register",
            "32-bit shift by a register",
            S,
            on_value(&format!("r8 &= 63\nw6 = -1\nw6 >>= w8\n{USE_R6}")),
            None,
        )
        .value(0, 32 + 4),
        case(
            "pointer_plus_large_constant",
            "pointer offset wrap",
            S,
            on_value("r1 = 0xfffffffffffffff0 ll\nr0 += r1\nr1 = *(u8 *)(r0 + 0)"),
            None,
        ),
    ]
}
