//! Precision tracking: values that reach a safety check after a join must
//! keep the join's states apart (each of these would be wrongly accepted if
//! precision were dropped), and values no check uses must not (the pruning
//! cases would run into the complexity limit without it).

use oxbpf_object::ProgramType::{CgroupSkb, SocketFilter as S};
use oxbpf_verifier::Reason as R;

use super::{acc, rej, Case};

/// A diamond on bit 0 of an unknown number (r6): the fall-through side runs
/// `first` (and is explored first), the jump side runs `second`; both meet at `join:`.
fn diamond(first: &str, second: &str) -> String {
    format!("r6 = *(u32 *)(r1 + 0)\nif r6 & 1 goto second\n{first}\ngoto join\nsecond:\n{second}\njoin:\n")
}

/// A join choosing r7, then r7 used as a stack offset from fp-8 (one byte read).
fn offset_use(a: i32, b: i32, between: &str) -> String {
    format!(
        "*(u64 *)(r10 - 8) = 0\n{}{between}\nr2 = r10\nr2 += -8\nr2 += r7\nr0 = *(u8 *)(r2 + 0)\nexit",
        diamond(&format!("r7 = {a}"), &format!("r7 = {b}"))
    )
}

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    // The chosen value becomes a stack offset: 100 is past the frame.
    v.push(acc("prec_offset_both_safe", S, offset_use(4, 2, "")));
    v.push(rej(
        "prec_offset_after_join",
        S,
        offset_use(4, 100, ""),
        R::OutOfBounds,
    ));
    // The same, with the value passing through ALU work, a 32-bit move and a copy.
    v.push(rej(
        "prec_offset_through_alu",
        S,
        offset_use(2, 50, "r8 = r7\nr8 <<= 1\nw9 = w8\nr7 = r9\nr7 += 1"),
        R::OutOfBounds,
    ));
    // Through a spill and a fill of the stack.
    v.push(rej(
        "prec_offset_through_spill",
        S,
        offset_use(
            4,
            100,
            "*(u64 *)(r10 - 16) = r7\nr7 = 0\nr7 = *(u64 *)(r10 - 16)",
        ),
        R::OutOfBounds,
    ));
    // The arms spill the value themselves: the stored state's slot must be precise.
    v.push(rej(
        "prec_offset_spilled_in_arms",
        S,
        format!(
            "*(u64 *)(r10 - 8) = 0\n{}r7 = *(u64 *)(r10 - 16)\nr2 = r10\nr2 += -8\nr2 += r7\nr0 = *(u8 *)(r2 + 0)\nexit",
            diamond("*(u64 *)(r10 - 16) = 4", "r3 = 100\n*(u64 *)(r10 - 16) = r3")
        ),
        R::OutOfBounds,
    ));
    // A spill through a copy of the frame pointer (the history records the slot).
    v.push(rej(
        "prec_offset_spill_via_fp_copy",
        S,
        offset_use(
            4,
            100,
            "r4 = r10\nr4 += -16\n*(u64 *)(r4 + 0) = r7\nr7 = 0\nr7 = *(u64 *)(r10 - 16)",
        ),
        R::OutOfBounds,
    ));
    // A callee stores the value into the caller's stack, the caller reads it back.
    v.push(rej(
        "prec_offset_via_callee_store",
        S,
        format!(
            "*(u64 *)(r10 - 8) = 0\n{}r2 = r7\nr1 = r10\nr1 += -16\ncall local put\nr7 = *(u64 *)(r10 - 16)\nr2 = r10\nr2 += -8\nr2 += r7\nr0 = *(u8 *)(r2 + 0)\nexit\nput:\n*(u64 *)(r1 + 0) = r2\nr0 = 0\nexit",
            diamond("r7 = 4", "r7 = 100")
        ),
        R::OutOfBounds,
    ));
    // A callee returns a value computed from its argument.
    v.push(rej(
        "prec_offset_via_callee_return",
        S,
        format!(
            "*(u64 *)(r10 - 8) = 0\n{}r1 = r7\ncall local id\nr2 = r10\nr2 += -8\nr2 += r0\nr0 = *(u8 *)(r2 + 0)\nexit\nid:\nr0 = r1\nr0 += 0\nexit",
            diamond("r7 = 4", "r7 = 100")
        ),
        R::OutOfBounds,
    ));
    // A callee uses the value: the caller's stored state needs it precise.
    v.push(rej(
        "prec_offset_used_in_callee",
        S,
        format!(
            "{}r1 = r7\ncall local use\nr0 = 0\nexit\nuse:\n*(u64 *)(r10 - 8) = 0\nr2 = r10\nr2 += -8\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\nexit",
            diamond("r7 = 4", "r7 = 100")
        ),
        R::OutOfBounds,
    ));
    // A branch the first path's value decided.
    v.push(rej(
        "prec_decided_branch",
        S,
        format!(
            "{}if r7 == 0 goto safe\nr0 = *(u64 *)(r10 + 0)\nexit\nsafe:\nr0 = 0\nexit",
            diamond("r7 = 0", "r7 = 1")
        ),
        R::OutOfBounds,
    ));
    v.push(rej(
        "prec_decided_branch_two_regs",
        S,
        format!(
            "r8 = 5\n{}if r7 < r8 goto safe\nr0 = *(u64 *)(r10 + 0)\nexit\nsafe:\nr0 = 0\nexit",
            diamond("r7 = 1", "r7 = 9")
        ),
        R::OutOfBounds,
    ));
    // A checked return value.
    v.push(acc(
        "prec_return_both_in_range",
        CgroupSkb,
        format!("{}r0 = r7\nexit", diamond("r7 = 1", "r7 = 0")),
    ));
    v.push(rej(
        "prec_return_after_join",
        CgroupSkb,
        format!("{}r0 = r7\nexit", diamond("r7 = 1", "r7 = 2")),
        R::ReturnValue,
    ));
    // A helper's size.
    v.push(rej(
        "prec_helper_size_after_join",
        S,
        format!(
            "{}r1 = r10\nr1 += -8\nr2 = r7\nr3 = 0\ncall bpf_probe_read_kernel\nr0 = 0\nexit",
            diamond("r7 = 8", "r7 = 16")
        ),
        R::OutOfBounds,
    ));
    // A constant array key: in range the lookup cannot fail, out of range it can.
    v.push(rej(
        "prec_const_key_after_join",
        S,
        format!(
            "{}*(u32 *)(r10 - 8) = r7\nr2 = r10\nr2 += -8\nr1 = map_idx(1) ll\ncall bpf_map_lookup_elem\nr0 = *(u64 *)(r0 + 0)\nr0 = 0\nexit",
            diamond("r7 = 0", "r7 = 10")
        ),
        R::PossiblyNull,
    ));
    // Linked registers: the bound on r8 bounds r7 only where r7 is a copy of r8.
    v.push(rej(
        "prec_linked_copy_bound",
        S,
        format!(
            "r8 = *(u32 *)(r1 + 4)\n*(u64 *)(r10 - 8) = 0\n{}if r8 > 7 goto out\nr2 = r10\nr2 += -8\nr2 += r7\nr0 = *(u8 *)(r2 + 0)\nout:\nr0 = 0\nexit",
            diamond("r7 = r8", "r7 = *(u32 *)(r1 + 8)")
        ),
        R::OutOfBounds,
    ));
    v.push(acc(
        "prec_linked_copy_bound_both",
        S,
        format!(
            "r8 = *(u32 *)(r1 + 4)\n*(u64 *)(r10 - 8) = 0\n{}if r8 > 7 goto out\nr2 = r10\nr2 += -8\nr2 += r7\nr0 = *(u8 *)(r2 + 0)\nout:\nr0 = 0\nexit",
            diamond("r7 = r8", "r7 = r8\nr9 = 0")
        ),
    ));
    // A value checked only after a second, unrelated diamond.
    v.push(rej(
        "prec_offset_after_two_joins",
        S,
        offset_use(
            4,
            100,
            "if r6 & 2 goto b2\nr8 = 1\ngoto j2\nb2:\nr8 = 2\nj2:\nr8 += 1",
        ),
        R::OutOfBounds,
    ));
    // Through negation and a byte swap.
    v.push(rej(
        "prec_offset_through_neg",
        S,
        offset_use(-4, -100, "r7 = -r7"),
        R::OutOfBounds,
    ));
    v.push(rej(
        "prec_offset_through_be16",
        S,
        offset_use(0x0400, 0x6400, "r7 = be16 r7"),
        R::OutOfBounds,
    ));
    // Ranges, not constants: r7 in [0, 3] on one side, [0, 127] on the other.
    v.push(rej(
        "prec_offset_range_after_join",
        S,
        format!(
            "r8 = *(u32 *)(r1 + 4)\n*(u64 *)(r10 - 8) = 0\n{}r2 = r10\nr2 += -8\nr2 += r7\nr0 = *(u8 *)(r2 + 0)\nexit",
            diamond("r7 = r8\nr7 &= 3", "r7 = r8\nr7 &= 127")
        ),
        R::OutOfBounds,
    ));
    v.push(acc(
        "prec_offset_range_both_safe",
        S,
        format!(
            "r8 = *(u32 *)(r1 + 4)\n*(u64 *)(r10 - 8) = 0\n{}r2 = r10\nr2 += -8\nr2 += r7\nr0 = *(u8 *)(r2 + 0)\nexit",
            diamond("r7 = r8\nr7 &= 3", "r7 = r8\nr7 &= 7")
        ),
    ));
    // A 32-bit comparison the value decided.
    v.push(rej(
        "prec_decided_branch_32",
        S,
        format!(
            "{}if w7 == 1 goto safe\nr0 = *(u64 *)(r10 + 0)\nexit\nsafe:\nr0 = 0\nexit",
            diamond("r7 = 1", "r7 = 2")
        ),
        R::OutOfBounds,
    ));
    v.push(acc(
        "prec_decided_branch_32_high_bits",
        S,
        format!(
            "{}if w7 == 1 goto safe\nr0 = *(u64 *)(r10 + 0)\nexit\nsafe:\nr0 = 0\nexit",
            diamond("r7 = 1", "r7 = 0x100000001 ll")
        ),
    ));
    // A path pruned at `p` hands the stored state's precise r7 up to its own
    // ancestors: the state stored at `q` must then keep r7 = 100 out.
    v.push(rej(
        "prec_pruned_path_passes_marks_up",
        S,
        "*(u64 *)(r10 - 8) = 0\nr6 = *(u32 *)(r1 + 0)\nif r6 & 1 goto xr\nr7 = 4\ngoto p\nxr:\nif r6 & 2 goto vb\nr7 = 4\ngoto q\nvb:\nr7 = 100\nq:\nr9 = 1\ngoto p\np:\nr2 = r10\nr2 += -8\nr2 += r7\nr0 = *(u8 *)(r2 + 0)\nexit",
        R::OutOfBounds,
    ));
    // Pruning that precision makes possible.
    for n in [20, 30] {
        v.push(acc(
            format!("prec_const_diamonds_{n}"),
            S,
            const_diamonds(n),
        ));
    }
    v.push(acc(
        "prec_loop_imprecise_counter_copy",
        S,
        "r9 = r1\nr0 = 0\nr1 = 0\nl:\nr6 = *(u32 *)(r9 + 0)\nif r6 & 1 goto b\nr0 += r1\ngoto j\nb:\nr0 ^= r1\nj:\nr7 = r1\nr1 += 1\nif r1 < 100 goto l\nr0 += r7\nexit",
    ));
    v.push(acc(
        "prec_loop_imprecise_spill",
        S,
        "r9 = r1\n*(u64 *)(r10 - 8) = 0\nr1 = 0\nl:\nr6 = *(u32 *)(r9 + 0)\nr2 = *(u64 *)(r10 - 8)\nif r6 & 1 goto b\nr2 += r1\ngoto j\nb:\nr2 ^= r1\nj:\n*(u64 *)(r10 - 8) = r2\nr1 += 1\nif r1 < 100 goto l\nr0 = *(u64 *)(r10 - 8)\nexit",
    ));
    // A counter copy that reaches an offset after the loop stays precise; the
    // copy is taken on the side explored later.
    for (name, bound, ok) in [
        ("prec_loop_counter_copy_offset_in_bounds", 8, true),
        ("prec_loop_counter_copy_reaches_offset", 12, false),
    ] {
        let asm = format!("r9 = r1\n*(u64 *)(r10 - 8) = 0\nr7 = 0\nr1 = 0\nl:\nr6 = *(u32 *)(r9 + 0)\nif r6 & 1 goto b\nr7 = 2\ngoto j\nb:\nr7 = r1\nj:\nr1 += 1\nif r1 < {bound} goto l\nr2 = r10\nr2 += -8\nr2 += r7\nr0 = *(u8 *)(r2 + 0)\nexit");
        v.push(if ok {
            acc(name, S, asm)
        } else {
            rej(name, S, asm, R::OutOfBounds)
        });
    }
    v
}

/// `n` diamonds, each writing a different constant to r7, which only the
/// (unchecked) return value uses: 2^n paths that pruning collapses.
pub fn const_diamonds(n: usize) -> String {
    let mut s = String::from("r6 = *(u32 *)(r1 + 0)\nr7 = 0\n");
    for k in 0..n {
        s.push_str(&format!(
            "if r6 & {} goto +2\nr7 = {}\ngoto +1\nr7 = {}\n",
            1u32 << (k % 31),
            2 * k,
            2 * k + 1
        ));
    }
    s.push_str("r0 = r7\nexit");
    s
}
