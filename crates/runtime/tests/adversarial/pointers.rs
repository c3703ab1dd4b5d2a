//! Pointers: arithmetic on `*_OR_NULL` pointers, NULL checks that do not
//! cover the register used, pointer leaks to unprivileged loaders, ALU
//! operations that turn pointers into numbers (and back), atomics on
//! spilled pointers.

use oxbpf::object::ProgramType::SocketFilter as S;

use super::{case, lookup, on_value, Case, ARRAY, HASH, RINGBUF};

/// `on_value` on key 0 of `hash`, whose lookups may return NULL (array
/// lookups with a constant key do not, and comparing them with 0 is itself
/// refused to unprivileged loaders).
fn on_hash_value(body: &str) -> String {
    on_value(body).replace("r1 = map_idx(1) ll", "r1 = map_idx(0) ll")
}

/// Looks up key `key` of `hash` (only key 0 exists) without a NULL check.
fn lookup_unchecked(key: u32) -> String {
    format!(
        "r1 = {key}\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr1 = map_idx({HASH}) ll\ncall bpf_map_lookup_elem\n"
    )
}

pub fn cases() -> Vec<Case> {
    vec![
        // Arithmetic on a map_value_or_null pointer before the NULL check:
        // NULL + 8 passes the check and is dereferenced.
        case(
            "cve_2022_23222_or_null_arith",
            "CVE-2022-23222: *_OR_NULL pointer arithmetic",
            S,
            format!(
                "{}r0 += 8\nif r0 == 0 goto out\nr1 = *(u64 *)(r0 + 0)\nout:\nr0 = 0\nexit",
                lookup_unchecked(5)
            ),
            None,
        ),
        case(
            "or_null_arith_on_copy_checked",
            "CVE-2022-23222 class: the NULL check of a moved copy",
            S,
            format!(
                "{}r1 = r0\nr1 += 8\nif r1 == 0 goto out\nr1 = *(u64 *)(r0 + 0)\nout:\nr0 = 0\nexit",
                lookup_unchecked(5)
            ),
            None,
        ),
        // Two lookups: the check of the first does not cover the second.
        case(
            "or_null_id_confusion",
            "NULL-check ids of distinct lookups",
            S,
            format!(
                "{}r6 = r0\n{}r1 = r0\nif r6 == 0 goto out\nr1 = *(u64 *)(r1 + 0)\nout:\nr0 = 0\nexit",
                lookup_unchecked(0),
                lookup_unchecked(5)
            ),
            None,
        ),
        // A 32-bit test of a 64-bit pointer is not a NULL check of it.
        case(
            "or_null_jmp32_check",
            "NULL check through a JMP32 comparison",
            S,
            format!(
                "{}if w0 != 0 goto out\nr1 = *(u64 *)(r0 + 0)\nout:\nr0 = 0\nexit",
                lookup_unchecked(5)
            ),
            None,
        ),
        // NULL checked, but the pointer passed through a spill in between.
        case(
            "or_null_spilled_before_check",
            "NULL-check propagation to spilled copies",
            S,
            format!(
                "{}*(u64 *)(r10 - 16) = r0\nr6 = r0\n{}if r6 == 0 goto out\nr1 = *(u64 *)(r10 - 16)\nr1 = *(u64 *)(r1 + 0)\nout:\nr0 = 0\nexit",
                lookup_unchecked(5),
                lookup_unchecked(0).replace("call bpf_map_lookup_elem\n", "call bpf_map_lookup_elem\nr6 = r0\n")
            ),
            None,
        ),
        case(
            "leak_pointer_into_map_unpriv",
            "pointer leak to a map (unprivileged)",
            S,
            on_hash_value("*(u64 *)(r7 + 0) = r10"),
            None,
        )
        .leak(),
        case(
            "leak_pointer_return_unpriv",
            "pointer leak through r0 (unprivileged)",
            S,
            "r0 = r10\nexit",
            None,
        )
        .leak(),
        case(
            "leak_pointer_through_helper_unpriv",
            "pointer leak through a helper's value argument (unprivileged)",
            S,
            format!(
                "*(u64 *)(r10 - 16) = r10\n*(u64 *)(r10 - 24) = r10\nr1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -24\nr4 = 0\nr1 = map_idx({ARRAY}) ll\ncall bpf_map_update_elem\nr0 = 0\nexit"
            ),
            None,
        )
        .leak(),
        case(
            "leak_pointer_comparison_unpriv",
            "pointer comparison (unprivileged)",
            S,
            format!("{}if r0 > r10 goto big\nr0 = 0\nexit\nbig:\nr0 = 1\nexit\nout:\nr0 = 0\nexit", lookup(HASH, 0)),
            None,
        )
        .leak(),
        case(
            "leak_pointer_difference_unpriv",
            "pointer difference as a number (unprivileged)",
            S,
            on_hash_value("r1 = r10\nr1 -= r7\n*(u64 *)(r7 + 0) = r1"),
            None,
        )
        .leak(),
        case(
            "leak_pointer_through_ringbuf_output_unpriv",
            "pointer leak through a helper's memory argument (unprivileged)",
            S,
            format!("*(u64 *)(r10 - 8) = r10\nr1 = map_idx({RINGBUF}) ll\nr2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall bpf_ringbuf_output\nr0 = 0\nexit"),
            None,
        )
        .leak(),
        case(
            "leak_pointer_var_offset_stack_read_unpriv",
            "pointer bytes read at a variable stack offset (unprivileged)",
            S,
            on_hash_value("*(u64 *)(r10 - 16) = r10\nr6 &= 7\nr2 = r10\nr2 += -16\nr2 += r6\nr1 = *(u8 *)(r2 + 0)\n*(u64 *)(r7 + 0) = r1"),
            None,
        )
        .leak(),
        // The difference of unrelated pointers used as an offset.
        case(
            "pointer_difference_as_offset",
            "pointer minus pointer",
            S,
            on_value("r6 = r10\nr6 -= r7\nr0 += r6\nr1 = *(u8 *)(r0 + 0)"),
            None,
        ),
        // ALU32 on a pointer truncates it.
        case(
            "alu32_on_stack_pointer",
            "32-bit ALU on a pointer",
            S,
            "*(u64 *)(r10 - 8) = 0\nr2 = r10\nw2 += 0\nr0 = *(u64 *)(r2 - 8)\nexit",
            None,
        ),
        case(
            "bswap_pointer",
            "byte swap of a pointer",
            S,
            "*(u64 *)(r10 - 8) = 0\nr2 = r10\nr2 = be64 r2\nr2 = be64 r2\nr0 = *(u64 *)(r2 - 8)\nexit",
            None,
        ),
        case(
            "neg_pointer_twice",
            "negation of a pointer",
            S,
            "*(u64 *)(r10 - 8) = 0\nr2 = r10\nr2 = -r2\nr2 = -r2\nr0 = *(u64 *)(r2 - 8)\nexit",
            None,
        ),
        case(
            "scalar_minus_pointer",
            "scalar minus pointer, negated back",
            S,
            "*(u64 *)(r10 - 8) = 0\nr2 = 8\nr2 -= r10\nr3 = 0\nr3 -= r2\nr0 = *(u64 *)(r3 + 0)\nexit",
            None,
        ),
        case(
            "pointer_and_mask",
            "bitwise AND of a pointer",
            S,
            on_value("r0 &= -4096\nr1 = *(u8 *)(r0 + 0)"),
            None,
        ),
        // Atomics on a stack slot that holds a spilled pointer change the
        // pointer the verifier believes is still there.
        case(
            "atomic_add_to_spilled_pointer",
            "atomic op on a spilled pointer",
            S,
            "*(u64 *)(r10 - 8) = r1\nr2 = 0x10000\nlock *(u64 *)(r10 - 8) += r2\nr1 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r1 + 0)\nexit",
            None,
        ),
        case(
            "atomic_xchg_spilled_pointer",
            "atomic exchange into a spilled pointer's slot",
            S,
            "*(u64 *)(r10 - 8) = r1\nr2 = 0x1000\nr2 = xchg_64(r10 - 8, r2)\nr1 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r1 + 0)\nexit",
            None,
        ),
        case(
            "atomic_cmpxchg_spilled_pointer",
            "atomic compare-exchange into a spilled pointer's slot",
            S,
            "*(u64 *)(r10 - 8) = r1\nr0 = r1\nr2 = 0x1000\nr0 = cmpxchg_64(r10 - 8, r0, r2)\nr1 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r1 + 0)\nexit",
            None,
        ),
        case(
            "atomic_fetch_add_spilled_map_pointer",
            "atomic fetch-add on a spilled map value pointer",
            S,
            on_value("*(u64 *)(r10 - 8) = r7\nr1 = 0x1000\nr1 = atomic_fetch_add((u64 *)(r10 - 8), r1)\nr2 = *(u64 *)(r10 - 8)\nr0 = *(u64 *)(r2 + 0)"),
            None,
        ),
    ]
}
