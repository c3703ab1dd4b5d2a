//! Calls: stack pointers escaping their frame (returned by a callee, stored
//! into the caller's stack, or a callback's), callbacks and callees writing
//! the caller's stack out of bounds, stack depth over 512 bytes across
//! frames, recursion through callbacks, registers clobbered by calls.

use oxbpf::object::ProgramType::SocketFilter as S;

use super::{callback, case, on_value, Case, ARRAY};

/// A subprogram `g(p, ctx)`: spills ctx at its own r10 - 8, writes 0x1000
/// through `p`, fills and dereferences. If `p` points at g's own frame (a
/// dangling pointer into a dead callee frame at the same depth), the fill
/// is 0x1000, not the context.
const G: &str = "g:\n*(u64 *)(r10 - 8) = r2\nr3 = 0x1000\n*(u64 *)(r1 + 0) = r3\nr2 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r2 + 0)\nexit";

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "callee_returns_own_stack_pointer",
            "stack pointer escaping its frame through r0",
            S,
            format!("r6 = r1\ncall local f\nr1 = r0\nr2 = r6\ncall local g\nr0 = 0\nexit\nf:\n*(u64 *)(r10 - 8) = 0\nr0 = r10\nr0 += -8\nexit\n{G}"),
            None,
        ),
        case(
            "callee_stores_own_stack_pointer_in_caller",
            "stack pointer of a callee spilled into the caller's frame",
            S,
            format!("r6 = r1\n*(u64 *)(r10 - 8) = 0\nr1 = r10\nr1 += -8\ncall local f\nr1 = *(u64 *)(r10 - 8)\nr2 = r6\ncall local g\nr0 = 0\nexit\nf:\n*(u64 *)(r10 - 8) = 0\nr2 = r10\nr2 += -8\n*(u64 *)(r1 + 0) = r2\nr0 = 0\nexit\n{G}"),
            None,
        ),
        case(
            "callback_stores_own_stack_pointer_in_parent",
            "callback stack pointer escaping through its context",
            S,
            callback(
                "r6 = r1\n*(u64 *)(r10 - 8) = 0\nr1 = 1\n",
                &format!("r3 = r10\nr3 += -8\nr4 = 0\ncall bpf_loop\nr1 = *(u64 *)(r10 - 8)\nr2 = r6\ncall local g\nr0 = 0\nexit\n{G}"),
                "*(u64 *)(r10 - 8) = 0\nr3 = r10\nr3 += -8\n*(u64 *)(r2 + 0) = r3\nr0 = 0\nexit",
            ),
            None,
        ),
        case(
            "bpf_loop_callback_writes_parent_stack_above",
            "callback writing the parent's stack out of bounds",
            S,
            callback(
                "*(u64 *)(r10 - 8) = 0\nr1 = 1\n",
                "r3 = r10\nr3 += -8\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit",
                "r3 = 1\n*(u64 *)(r2 + 8) = r3\nr0 = 0\nexit",
            ),
            None,
        ),
        case(
            "bpf_loop_callback_index_scaled_below",
            "callback index scaling a parent-stack offset",
            S,
            callback(
                "*(u64 *)(r10 - 8) = 0\nr1 = 100\n",
                "r3 = r10\nr3 += -8\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit",
                "r1 <<= 6\nr2 -= r1\nr3 = 1\n*(u8 *)(r2 + 0) = r3\nr0 = 0\nexit",
            ),
            None,
        ),
        case(
            "callee_writes_caller_stack_above",
            "callee writing the caller's stack out of bounds",
            S,
            "*(u64 *)(r10 - 8) = 0\nr1 = r10\nr1 += -8\ncall local f\nr0 = 0\nexit\nf:\nr2 = 1\n*(u64 *)(r1 + 8) = r2\nr0 = 0\nexit",
            None,
        ),
        case(
            "for_each_map_elem_value_oob",
            "callback reading past its map value",
            S,
            callback(
                &format!("r1 = map_idx({ARRAY}) ll\n"),
                "r3 = 0\nr4 = 0\ncall bpf_for_each_map_elem\nr0 = 0\nexit",
                "r0 = *(u64 *)(r3 + 16)\nr0 = 0\nexit",
            ),
            None,
        ),
        case(
            "for_each_map_elem_key_write",
            "callback writing its read-only key",
            S,
            callback(
                &format!("r1 = map_idx({ARRAY}) ll\n"),
                "r3 = 0\nr4 = 0\ncall bpf_for_each_map_elem\nr0 = 0\nexit",
                "r0 = 0x1000\n*(u32 *)(r2 + 0) = r0\nr0 = 0\nexit",
            ),
            None,
        ),
        case(
            "callback_stack_over_512",
            "stack depth across a callback frame",
            S,
            callback(
                "*(u64 *)(r10 - 512) = 0\nr1 = 1\n",
                "r3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit",
                "*(u64 *)(r10 - 512) = 0\nr0 = 0\nexit",
            ),
            None,
        ),
        case(
            "subprogram_stack_over_512",
            "stack depth across bpf-to-bpf calls",
            S,
            "*(u64 *)(r10 - 400) = 0\ncall local f\nr0 = 0\nexit\nf:\n*(u64 *)(r10 - 400) = 0\nr0 = 0\nexit",
            None,
        ),
        case(
            "recursive_callback",
            "recursion through a callback calling bpf_loop on itself",
            S,
            callback(
                "r1 = 2\n",
                "r3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit",
                "cb:\nr1 = 2\nr2 = code_addr(-2) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit",
            ),
            None,
        ),
        case(
            "subprogram_arg_is_map_value",
            "argument types passed to subprograms",
            S,
            on_value("r1 = r7\ncall local f") + "\nf:\nr0 = *(u64 *)(r1 + 100)\nexit",
            None,
        ),
        case(
            "caller_uses_clobbered_r2",
            "caller-saved registers after a bpf-to-bpf call",
            S,
            "*(u64 *)(r10 - 8) = 0\nr2 = r10\nr2 += -8\ncall local f\nr0 = *(u64 *)(r2 + 0)\nexit\nf:\nr2 = 0x1000\nr0 = 0\nexit",
            None,
        ),
        case(
            "r1_after_helper_call",
            "caller-saved registers after a helper call",
            S,
            "*(u64 *)(r10 - 8) = 0\nr1 = r10\nr1 += -8\ncall bpf_ktime_get_ns\nr0 = *(u64 *)(r1 + 0)\nexit",
            None,
        ),
    ]
}
