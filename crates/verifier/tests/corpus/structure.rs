//! Structure: decoding, jumps, functions, reachability, call depth, stack size.

use oxbpf_object::ProgramType::{SocketFilter as S, Xdp};
use oxbpf_verifier::Reason as R;

use super::{acc, rej, Case};

pub fn cases() -> Vec<Case> {
    let mut v = vec![
        acc("minimal", S, "r0 = 0\nexit"),
        acc("ja_forward", S, "r0 = 0\nif r1 != 0 goto +1\ngoto +1\nr0 = 1\nexit"),
        acc("gotol_forward", S, "r0 = 0\nif r1 != 0 goto +1\ngotol +1\nr0 = 1\nexit"),
        acc("jump_over_lddw", S, "r0 = 0\nif r1 != 0 goto +2\nr1 = 0x1122334455667788 ll\nexit"),
        rej("ja_skips_code", S, "r0 = 0\ngoto +1\nr0 = 1\nexit", R::Unreachable),
        acc("lddw_then_exit", S, "r0 = 0x1122334455667788 ll\nr0 = 0\nexit"),
        acc("two_exits", S, "r0 = 0\nif r1 == 0 goto +1\nexit\nr0 = 1\nexit"),
        acc("cond_to_exit", S, "r0 = 1\nr2 = 5\nif r2 > 3 goto +1\nr0 = 2\nexit"),
        acc("ends_with_goto_back", S, "r0 = 0\ngoto +1\nexit\ngoto -2"),
        // clang drops an unused return value: the subprogram exits with r0
        // unset, which the kernel accepts as long as the caller does not read it.
        acc("subprog_r0_unset_unread", S, "call local f\nr0 = 0\nexit\nf:\nr1 = 1\nexit"),
        rej("subprog_r0_unset_read", S, "call local f\nexit\nf:\nr1 = 1\nexit", R::UninitRegister),
        acc(
            "local_call",
            S,
            "r1 = 5\ncall local f\nexit\nf:\nr0 = r1\nexit",
        ),
        acc(
            "local_call_chain",
            S,
            "call local f\nexit\nf:\ncall local g\nexit\ng:\nr0 = 3\nexit",
        ),
        acc(
            "callee_uses_own_stack",
            S,
            "call local f\nexit\nf:\n*(u64 *)(r10 - 8) = 1\nr0 = *(u64 *)(r10 - 8)\nexit",
        ),
        acc(
            "callee_reads_caller_stack",
            S,
            "*(u64 *)(r10 - 8) = 7\nr1 = r10\nr1 += -8\ncall local f\nexit\nf:\nr0 = *(u64 *)(r1 + 0)\nexit",
        ),
        acc(
            "callee_writes_caller_stack",
            S,
            "r1 = r10\nr1 += -8\ncall local f\nr0 = *(u64 *)(r10 - 8)\nexit\nf:\n*(u64 *)(r1 + 0) = 3\nr0 = 0\nexit",
        ),
        acc("stack_512", S, "*(u64 *)(r10 - 512) = 0\nr0 = 0\nexit"),
        rej("empty_after_exit_dead", S, "r0 = 0\nexit\nr0 = 1\nexit", R::Unreachable),
        rej("falls_off_end", S, "r0 = 0", R::FallThrough),
        rej("falls_off_after_cond", S, "r0 = 0\nif r0 == 0 goto +1\nexit\nr0 = 1", R::FallThrough),
        rej("jump_past_end", S, "r0 = 0\ngoto +5\nexit", R::JumpOutOfRange),
        rej("jump_before_start", S, "r0 = 0\ngoto -3\nexit", R::JumpOutOfRange),
        rej("cond_jump_past_end", S, "r0 = 0\nif r0 == 0 goto +9\nexit", R::JumpOutOfRange),
        rej(
            "jump_into_lddw",
            S,
            "r0 = 0\ngoto +1\nr1 = 0x1122334455667788 ll\nexit",
            R::JumpIntoLddw,
        ),
        rej(
            "cond_into_lddw",
            S,
            "r0 = 0\nif r0 == 1 goto +1\nr1 = 0x1122334455667788 ll\nexit",
            R::JumpIntoLddw,
        ),
        rej("unreachable_tail", S, "r0 = 0\ngoto +1\nr0 = 1\nexit\nr0 = 2\nexit", R::Unreachable),
        rej(
            "jump_into_other_function",
            S,
            "call local f\nif r0 == 0 goto +2\nexit\nf:\nr0 = 0\nexit",
            R::JumpOutOfRange,
        ),
        rej(
            "function_falls_into_next",
            S,
            "call local f\nexit\nf:\nr0 = 1",
            R::FallThrough,
        ),
        rej("call_past_end", S, "call local +5\nexit", R::JumpOutOfRange),
        rej("stack_520", S, "*(u64 *)(r10 - 520) = 0\nr0 = 0\nexit", R::OutOfBounds),
        rej(
            "combined_stack_too_large",
            S,
            "*(u64 *)(r10 - 512) = 0\ncall local f\nexit\nf:\n*(u64 *)(r10 - 16) = 0\nr0 = 0\nexit",
            R::StackTooLarge,
        ),
        rej("kfunc_call", S, "call kfunc 1234\nr0 = 0\nexit", R::Unsupported),
        rej("callx", S, "r1 = 5\ncallx r1\nr0 = 0\nexit", R::Unsupported),
        // Refused wherever it is, like the kernel does (even unreachable).
        rej("callx_unreachable", S, "r0 = 0\nexit\nr1 = 5\ncallx r1\nexit", R::Unsupported),
        rej("callx_after_exit_path", S, "r0 = 0\nif r0 == 0 goto +2\nr1 = 5\ncallx r1\nexit", R::Unsupported),
        rej("btf_var_lddw", S, "r1 = btf_var(77) ll\nr0 = 0\nexit", R::Unsupported),
        rej("lddw_missing_map", S, "r1 = map_idx(99) ll\nr0 = 0\nexit", R::HelperArgument),
        rej("recursion_too_deep", S, "call local f\nexit\nf:\ncall local f\nexit", R::CallDepth),
        rej("return_own_stack", S, "call local f\nexit\nf:\nr0 = r10\nexit", R::InvalidMemAccess),
        rej(
            "callee_r6_uninit",
            S,
            "r6 = 1\ncall local f\nexit\nf:\nr0 = r6\nexit",
            R::UninitRegister,
        ),
        rej(
            "caller_r1_clobbered",
            S,
            "r1 = 1\ncall local f\nr0 = r1\nexit\nf:\nr0 = 0\nexit",
            R::UninitRegister,
        ),
        acc(
            "caller_r6_kept",
            S,
            "r6 = 1\ncall local f\nr0 = r6\nexit\nf:\nr0 = 0\nexit",
        ),
    ];
    // Eight nested frames are allowed, nine are not.
    for depth in [7usize, 8] {
        let mut asm = String::from("call local f1\nexit\n");
        for k in 1..=depth {
            if k < depth {
                asm.push_str(&format!("f{k}:\ncall local f{}\nexit\n", k + 1));
            } else {
                asm.push_str(&format!("f{k}:\nr0 = 0\nexit\n"));
            }
        }
        let name = format!("call_depth_{}", depth + 1);
        v.push(if depth < 8 {
            acc(name, Xdp, asm)
        } else {
            rej(name, Xdp, asm, R::CallDepth)
        });
    }
    // Reserved fields must be zero: raw encodings through lddw-free forms.
    v
}
