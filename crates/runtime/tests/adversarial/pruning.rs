//! Pruning: two paths join with scalars that differ only in a value some
//! later check depends on (through a spill, a 32-bit move, a comparison, a
//! call); a stored state that ignores that value (it was not marked precise)
//! would cut the unsafe path short. Also loops and callbacks that step an
//! offset further on each iteration.

use oxbpf::object::ProgramType::SocketFilter as S;

use super::{callback, case, lookup, on_value, Case, ARRAY};

/// Sets r9 to 0 on one path and 0x1000 on the other (the unsafe one taken
/// when r6 == 0, first or second in the order paths are explored), then `join`.
fn paths(unsafe_first: bool, join: &str) -> String {
    let (a, b) = if unsafe_first {
        ("0x1000", "0")
    } else {
        ("0", "0x1000")
    };
    let cond = if unsafe_first {
        "if r6 != 0 goto other"
    } else {
        "if r6 == 0 goto other"
    };
    on_value(&format!(
        "{cond}\nr9 = {a}\ngoto join\nother:\nr9 = {b}\njoin:\n{join}"
    ))
}

pub fn cases() -> Vec<Case> {
    let spill = "*(u64 *)(r10 - 16) = r9\nr2 = *(u64 *)(r10 - 16)\nr0 += r2\nr1 = *(u8 *)(r0 + 0)";
    vec![
        case(
            "prune_offset_through_spill",
            "CVE-2023-2163 class: imprecise scalar through a spill",
            S,
            paths(false, spill),
            None,
        ),
        case(
            "prune_offset_through_spill_other_order",
            "CVE-2023-2163 class: imprecise scalar through a spill",
            S,
            paths(true, spill),
            None,
        ),
        case(
            "prune_offset_through_mov32",
            "CVE-2023-2163 class: imprecise scalar through a 32-bit move",
            S,
            paths(false, "w1 = w9\nr0 += r1\nr1 = *(u8 *)(r0 + 0)"),
            None,
        ),
        // r8 is bounded only by r9: r9's value decides the access.
        case(
            "cve_2023_2163_bound_from_register_compare",
            "CVE-2023-2163: a register bounding another is not marked precise",
            S,
            paths(
                false,
                "if r8 > r9 goto out\nr0 += r8\nr1 = *(u8 *)(r0 + 0)",
            )
            .replace("r9 = 0\n", "r9 = 8\n"),
            None,
        )
        .value(0, 0x800),
        case(
            "prune_offset_through_call",
            "imprecise scalar passed to a subprogram",
            S,
            paths(false, "r1 = r9\nr2 = r7\ncall local f")
                + "\nf:\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\nexit",
            None,
        ),
        case(
            "prune_offset_through_alu_sum",
            "imprecise scalar through a sum of two registers",
            S,
            paths(false, "r1 = r8\nr1 &= 1\nr1 += r9\nr0 += r1\nr1 = *(u8 *)(r0 + 0)"),
            None,
        ),
        // A spilled pointer on one path, a number on the other.
        case(
            "prune_pointer_or_scalar_spill",
            "pruning: a join of a spilled pointer and a spilled number",
            S,
            on_value("if r6 == 0 goto num\n*(u64 *)(r10 - 16) = r7\ngoto join\nnum:\nr1 = 0x1000\n*(u64 *)(r10 - 16) = r1\njoin:\nr1 = *(u64 *)(r10 - 16)\nr0 = *(u8 *)(r1 + 0)"),
            None,
        ),
        // A bounded loop whose offset steps past the value.
        case(
            "loop_walks_off_the_value",
            "bounded loops: each iteration's state",
            S,
            on_value("r6 = 0\nloop:\nr1 = r7\nr1 += r6\nr2 = *(u32 *)(r1 + 0)\nr6 += 4\nif r6 < 32 goto loop"),
            None,
        ),
        // A bpf_loop callback advancing an offset in the caller's stack:
        // verified as if it ran once, the offset would look like 8.
        case(
            "bpf_loop_callback_iterations",
            "callbacks verified for one iteration only (kernel fix ab5cfac139ab, 2023)",
            S,
            callback(
                "*(u64 *)(r10 - 8) = 0\nr1 = 4\n",
                &format!(
                    "r3 = r10\nr3 += -8\nr4 = 0\ncall bpf_loop\n{}r6 = *(u64 *)(r10 - 8)\nr0 += r6\nr1 = *(u8 *)(r0 + 0)\nout:\nr0 = 0\nexit",
                    lookup(ARRAY, 0)
                ),
                "r3 = *(u64 *)(r2 + 0)\nr3 += 8\n*(u64 *)(r2 + 0) = r3\nr0 = 0\nexit",
            ),
            None,
        ),
    ]
}
