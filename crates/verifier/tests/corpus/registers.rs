//! Registers: initialization, the frame pointer, scalar arithmetic and its
//! ranges, pointer arithmetic rules.

use oxbpf_object::ProgramType::{SocketFilter as S, Xdp};
use oxbpf_verifier::Reason as R;

use super::{acc, rej, Case};

const OPS: [&str; 12] = [
    "+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "%=", "^=", "s>>=", "=",
];

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (k, op) in OPS.iter().enumerate() {
        for w in ["r", "w"] {
            v.push(acc(
                format!("alu_{w}_imm_{k}"),
                S,
                format!("r0 = 7\n{w}0 {op} 3\nexit"),
            ));
            v.push(acc(
                format!("alu_{w}_reg_{k}"),
                S,
                format!("r0 = 7\nr1 = 3\n{w}0 {op} {w}1\nexit"),
            ));
            v.push(rej(
                format!("alu_{w}_uninit_src_{k}"),
                S,
                format!("r0 = 7\n{w}0 {op} {w}2\nexit"),
                R::UninitRegister,
            ));
            v.push(rej(
                format!("alu_{w}_fp_dst_{k}"),
                S,
                format!("{w}10 {op} 1\nr0 = 0\nexit"),
                R::FramePointerWrite,
            ));
        }
        if *op != "=" && *op != "+=" && *op != "-=" {
            v.push(rej(
                format!("ptr_alu_forbidden_{k}"),
                S,
                format!("r2 = r1\nr2 {op} 4\nr0 = 0\nexit"),
                R::PointerArithmetic,
            ));
        }
    }
    // Results of arithmetic, checked through an array index that must stay in bounds
    // (map 1: array, 16-byte values). Each program computes an index and reads value[idx].
    let lookup = "r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr1 = map_idx(1) ll\ncall bpf_map_lookup_elem\nif r0 == 0 goto out\n";
    let tail = "r0 += r6\nr0 = *(u8 *)(r0 + 0)\nout:\nr0 = 0\nexit";
    let index_cases: &[(&str, &str, bool)] = &[
        ("and_mask_15", "r6 &= 15", true),
        ("and_mask_16", "r6 &= 16", false),
        ("and_mask_31", "r6 &= 31", false),
        ("mod_16", "r6 %= 16", true),
        ("mod_17", "r6 %= 17", false),
        ("rsh_28", "r6 >>= 28", true),
        ("rsh_27", "r6 >>= 27", false),
        ("w_rsh_28", "w6 >>= 28", true),
        ("w_rsh_27", "w6 >>= 27", false),
        ("and_then_add", "r6 &= 7\nr6 += 8", true),
        ("and_then_add_too_far", "r6 &= 7\nr6 += 9", false),
        ("and_then_mul", "r6 &= 3\nr6 *= 5", true),
        ("and_then_mul_far", "r6 &= 3\nr6 *= 6", false),
        ("and_then_lsh", "r6 &= 3\nr6 <<= 2", true),
        ("and_then_lsh_far", "r6 &= 3\nr6 <<= 3", false),
        ("and_then_sub", "r6 &= 7\nr6 -= 0", true),
        ("const_15", "r6 = 15", true),
        ("const_16", "r6 = 16", false),
        ("const_neg", "r6 = -1", false),
        ("u8_load_shift", "r6 = 255\nr6 >>= 4", true),
        ("or_sets_high", "r6 &= 1\nr6 |= 16", false),
        ("xor_small", "r6 &= 7\nr6 ^= 8", true),
        ("div_small", "r6 &= 63\nr6 /= 4", true),
        ("div_not_enough", "r6 &= 127\nr6 /= 4", false),
        ("neg_unbounded", "r6 &= 7\nr6 = -r6", false),
        ("unknown", "r6 += 0", false),
        ("movsx8_mask", "r6 = (s8)r6\nr6 &= 15", true),
        ("movsx8_negative", "r6 &= 255\nr6 = (s8)r6", false),
        ("w_mov_zero_extends", "w6 = w6\nr6 >>= 28", true),
        ("be16_mask", "r6 &= 15\nr6 = be16 r6\nr6 &= 15", true),
        ("bswap_unbounded", "r6 &= 15\nr6 = be64 r6", false),
        ("arsh_of_small", "r6 &= 15\nr6 s>>= 1", true),
        ("cond_lt_16", "if r6 < 16 goto +1\nr6 = 0", true),
        ("cond_le_15", "if r6 <= 15 goto +1\nr6 = 0", true),
        ("cond_le_16", "if r6 <= 16 goto +1\nr6 = 0", false),
        ("cond_gt_15_fall", "if r6 > 15 goto out", true),
        ("cond_ge_16_fall", "if r6 >= 16 goto out", true),
        ("cond_ge_17_fall", "if r6 >= 17 goto out", false),
        (
            "cond_signed_only",
            "r6 = (s32)r6\nif r6 s> 15 goto out",
            false,
        ),
        (
            "cond_signed_both",
            "r6 = (s32)r6\nif r6 s> 15 goto out\nif r6 s< 0 goto out",
            true,
        ),
        ("cond_w_lt", "if w6 < 16 goto +1\nw6 = 0", true),
        ("cond_eq_const", "if r6 == 3 goto +1\nr6 = 0", true),
        ("cond_ne_fall_const", "if r6 != 12 goto out", true),
        ("cond_set_fall", "r6 &= 31\nif r6 & 16 goto out", true),
        ("cond_reg_bound", "r7 = 16\nif r6 >= r7 goto out", true),
        (
            "cond_reg_bound_loose",
            "r7 = 17\nif r6 >= r7 goto out",
            false,
        ),
        ("linked_copy", "r7 = r6\nif r7 > 15 goto out", true),
        (
            "copy_after_check_unlinked",
            "if r6 > 15 goto out\nr6 += 1",
            false,
        ),
        (
            "both_branches",
            "if r6 > 7 goto +2\nr6 += 8\ngoto +1\nr6 = 15",
            true,
        ),
        (
            "spilled_bound",
            "r6 &= 15\n*(u64 *)(r10 - 16) = r6\nr6 = *(u64 *)(r10 - 16)",
            true,
        ),
        (
            "spilled_narrow",
            "r6 &= 15\n*(u32 *)(r10 - 16) = r6\nr6 = *(u32 *)(r10 - 16)",
            true,
        ),
        (
            "stack_byte_load",
            "*(u8 *)(r10 - 16) = r6\nr6 = *(u8 *)(r10 - 16)\nr6 >>= 4",
            true,
        ),
    ];
    for (name, code, ok) in index_cases {
        let asm = format!("r6 = r1\nr6 = *(u32 *)(r6 + 0)\n{lookup}{code}\n{tail}");
        let untracked = ["mod_16", "div_small"].contains(name);
        let name = format!("index_{name}");
        v.push(if *ok && untracked {
            acc(name, S, asm).kernel_differs(
                "the kernel does not track ranges through / and % by constants (the result is unbounded for it); oxbpf does",
            )
        } else if *ok {
            acc(name, S, asm)
        } else {
            rej(name, S, asm, R::OutOfBounds)
        });
    }
    v.extend([
        rej("read_uninit_r0_exit", S, "exit", R::UninitRegister),
        rej("read_uninit_r3", S, "r0 = r3\nexit", R::UninitRegister),
        rej(
            "read_uninit_in_cond",
            S,
            "r0 = 0\nif r4 > 1 goto +0\nexit",
            R::UninitRegister,
        ),
        rej(
            "uninit_store_src",
            S,
            "*(u64 *)(r10 - 8) = r5\nr0 = 0\nexit",
            R::UninitRegister,
        ),
        rej(
            "uninit_base",
            S,
            "r0 = *(u64 *)(r7 + 0)\nexit",
            R::UninitRegister,
        ),
        acc("neg_pointer", S, "r1 = -r1\nr0 = 0\nexit"),
        rej(
            "neg_pointer_unpriv",
            S,
            "r1 = -r1\nr0 = 0\nexit",
            R::PointerLeak,
        )
        .unpriv(),
        acc("bswap_pointer", S, "r1 = be64 r1\nr0 = 0\nexit"),
        rej(
            "bswap_pointer_unpriv",
            S,
            "r1 = be64 r1\nr0 = 0\nexit",
            R::PointerLeak,
        )
        .unpriv(),
        rej(
            "bswap_pointer_deref",
            S,
            "r1 = be64 r1\nr0 = *(u8 *)(r1 + 0)\nexit",
            R::InvalidMemAccess,
        ),
        rej(
            "ptr32_add",
            S,
            "w1 += 4\nr0 = 0\nexit",
            R::PointerArithmetic,
        ),
        rej(
            "scalar_minus_ptr",
            S,
            "r2 = 4\nr2 -= r1\nr0 = 0\nexit",
            R::PointerArithmetic,
        ),
        rej(
            "ptr_plus_ptr",
            S,
            "r2 = r1\nr2 += r1\nr0 = 0\nexit",
            R::PointerArithmetic,
        ),
        acc(
            "ptr_minus_ptr",
            Xdp,
            "r2 = *(u32 *)(r1 + 4)\nr3 = *(u32 *)(r1 + 0)\nr2 -= r3\nr0 = 2\nexit",
        ),
        acc(
            "ptr_plus_const",
            S,
            "r2 = r10\nr2 += -8\n*(u64 *)(r2 + 0) = 1\nr0 = 0\nexit",
        ),
        acc(
            "const_plus_ptr",
            S,
            "r2 = -8\nr2 += r10\n*(u64 *)(r2 + 0) = 1\nr0 = 0\nexit",
        ),
        acc(
            "ptr_copy_back",
            S,
            "r2 = r10\nr2 += -16\nr2 += 8\n*(u64 *)(r2 + 0) = 1\nr0 = *(u64 *)(r10 - 8)\nexit",
        ),
        rej(
            "map_ptr_arith",
            S,
            "r1 = map_idx(0) ll\nr1 += 8\nr0 = 0\nexit",
            R::PointerArithmetic,
        ),
        rej(
            "ctx_var_offset",
            S,
            "r2 = r1\nr3 = *(u32 *)(r1 + 0)\nr2 += r3\nr0 = *(u32 *)(r2 + 0)\nexit",
            R::ContextAccess,
        ),
        acc(
            "ctx_var_offset_unused",
            S,
            "r2 = r1\nr3 = *(u32 *)(r1 + 0)\nr2 += r3\nr0 = 0\nexit",
        ),
        acc("div_by_zero_defined", S, "r0 = 7\nr1 = 0\nr0 /= r1\nexit"),
        rej(
            "mod_by_zero_imm",
            S,
            "r0 = 7\nw0 %= 0\nexit",
            R::DivisionByZero,
        ),
        rej(
            "div_by_zero_imm",
            S,
            "r0 = 7\nr0 /= 0\nexit",
            R::DivisionByZero,
        ),
        acc(
            "mod_by_zero_reg_defined",
            S,
            "r0 = 7\nr1 = 0\nw0 %= w1\nexit",
        ),
        acc("sdiv", S, "r0 = -7\nr0 s/= 2\nexit"),
        acc("smod", S, "r0 = -7\nr0 s%= 2\nexit"),
        acc("movsx16", S, "r0 = 0x8000\nr0 = (s16)r0\nexit"),
        acc("movsx32", S, "r0 = 0x80000000 ll\nr0 = (s32)r0\nexit"),
        acc("w_movsx8", S, "w0 = 0x80\nw0 = (s8)w0\nexit"),
        acc("le16", S, "r0 = 0x1234\nr0 = le16 r0\nexit"),
        acc("bswap16", S, "r0 = 0x1234\nr0 = bswap16 r0\nexit"),
        acc("neg32", S, "w0 = 5\nw0 = -w0\nexit"),
        acc(
            "ptr_spill_fill",
            S,
            "*(u64 *)(r10 - 8) = r1\nr2 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r2 + 0)\nexit",
        ),
        acc("ptr_copy_deref", S, "r2 = r1\nr0 = *(u32 *)(r2 + 0)\nexit"),
        acc("w_copy_of_pointer_is_number", S, "w2 = w1\nr0 = 0\nexit"),
        rej(
            "w_copy_of_pointer_no_deref",
            S,
            "w2 = w1\nr0 = *(u32 *)(r2 + 0)\nexit",
            R::InvalidMemAccess,
        ),
    ]);
    v
}
