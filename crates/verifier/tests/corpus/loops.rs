//! Loops: bounded loops explored to the end, infinite loops, the complexity
//! limit, back-edges without privileges.

use oxbpf_object::ProgramType::SocketFilter as S;
use oxbpf_verifier::Reason as R;

use super::{acc, rej, Case};

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for n in [1, 2, 10, 100, 1000] {
        let mut a = acc(
            format!("counted_loop_{n}"),
            S,
            format!("r0 = 0\nr1 = 0\nl:\nr0 += r1\nr1 += 1\nif r1 < {n} goto l\nexit"),
        );
        let mut b = acc(
            format!("countdown_loop_{n}"),
            S,
            format!("r0 = 0\nr1 = {n}\nl:\nr0 += 2\nr1 -= 1\nif r1 != 0 goto l\nexit"),
        );
        if n == 1000 {
            let why = "the kernel gives up on this path with ENOSPC (its per-path jump history limit) after 3003 instructions; oxbpf explores all 1000 iterations";
            a = a.kernel_differs(why);
            b = b.kernel_differs(why);
        }
        v.push(a);
        v.push(b);
        v.push(
            rej(
                format!("counted_loop_{n}_unpriv"),
                S,
                format!("r0 = 0\nr1 = 0\nl:\nr0 += r1\nr1 += 1\nif r1 < {n} goto l\nexit"),
                R::BackEdge,
            )
            .unpriv(),
        );
    }
    // Loops that index an array: the index stays in bounds on every iteration.
    let lookup = "r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr1 = map_idx(1) ll\ncall bpf_map_lookup_elem\nif r0 == 0 goto out\n";
    for (name, bound, ok) in [("array_loop_16", 16, true), ("array_loop_17", 17, false)] {
        let asm = format!("{lookup}r1 = 0\nl:\nr2 = r0\nr2 += r1\n*(u8 *)(r2 + 0) = 0\nr1 += 1\nif r1 < {bound} goto l\nout:\nr0 = 0\nexit");
        v.push(if ok {
            acc(name, S, asm)
        } else {
            rej(name, S, asm, R::OutOfBounds)
        });
    }
    v.extend([
        rej("self_loop", S, "r0 = 0\nl:\ngoto l", R::InfiniteLoop),
        rej("loop_same_state", S, "r0 = 0\nl:\nr1 = 5\ngoto l", R::InfiniteLoop),
        rej("loop_never_exits", S, "r0 = 0\nr1 = 0\nl:\nr1 += 1\ngoto l", R::TooComplex),
        rej("loop_unknown_bound", S, "r0 = 0\nr6 = *(u32 *)(r1 + 0)\nr1 = 0\nl:\nr1 += 1\nif r1 != r6 goto l\nexit", R::TooComplex),
        rej("loop_wrong_direction", S, "r0 = 0\nr1 = 10\nl:\nr1 += 1\nif r1 > 5 goto l\nexit", R::TooComplex),
        acc("loop_with_break", S, "r0 = 0\nr1 = 0\nl:\nr1 += 1\nif r1 == 50 goto done\nif r1 < 100 goto l\ndone:\nexit"),
        acc("nested_loops", S, "r0 = 0\nr1 = 0\no:\nr2 = 0\ni:\nr0 += 1\nr2 += 1\nif r2 < 10 goto i\nr1 += 1\nif r1 < 10 goto o\nexit"),
        acc("diamond_chain_10", S, &*diamonds(10)),
        acc("dead_temp_diamonds_40", S, &*dead_temp_diamonds(40)),
        acc("diamond_chain_20", S, &*diamonds(20)),
        acc("diamond_chain_30", S, &*diamonds(30)),
        acc("loop_over_stack", S, "r1 = 0\nl:\nr2 = r10\nr2 += -64\nr2 += r1\n*(u8 *)(r2 + 0) = 1\nr1 += 1\nif r1 < 64 goto l\nr0 = *(u64 *)(r10 - 64)\nexit"),
        rej("loop_over_stack_too_far", S, "r1 = 0\nl:\nr2 = r10\nr2 += -64\nr2 += r1\n*(u8 *)(r2 + 0) = 1\nr1 += 1\nif r1 < 65 goto l\nr0 = 0\nexit", R::OutOfBounds),
        acc("bpf_loop_many", S, "r1 = 1000000\nr2 = code_addr(+6) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit\nr0 = 0\nexit")
            .no_kernel("callbacks need BTF func_info, which the assembly corpus does not carry"),
    ]);
    v
}

/// `n` diamonds deciding on a temporary that is dead at the join: liveness
/// makes both arms' states equal there, so the 2^n paths collapse to 2n.
fn dead_temp_diamonds(n: usize) -> String {
    let mut s = String::from("r6 = *(u32 *)(r1 + 0)\nr0 = 0\n");
    for k in 0..n {
        s.push_str(&format!(
            "r8 = r6\nr8 &= {}\nif r8 != 0 goto +2\nr7 = 1\ngoto +1\nr7 = 2\nr0 += 1\n",
            1u32 << (k % 31)
        ));
    }
    s.push_str("exit");
    s
}

/// `n` sequential if/else diamonds on an unknown value: 2^n paths, which
/// pruning at each join keeps linear.
fn diamonds(n: usize) -> String {
    let mut s = String::from("r6 = *(u32 *)(r1 + 0)\nr0 = 0\n");
    for k in 0..n {
        s.push_str(&format!(
            "if r6 & {} goto +2\nr0 += 1\ngoto +1\nr0 += 2\n",
            1u32 << (k % 31)
        ));
        s.push_str("r0 &= 255\n");
    }
    s.push_str("exit");
    s
}
