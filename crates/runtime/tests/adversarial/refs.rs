//! References: ring buffer records used after `bpf_ringbuf_submit` or
//! `_discard` through copies (registers, stack spills, callees), released
//! twice, or reserved with a size that depends on the path.

use oxbpf::object::ProgramType::SocketFilter as S;

use super::{case, Case, RINGBUF};

/// Reserves a 16-byte record into r0 (r6 too), exiting with 0 when NULL.
fn reserve() -> String {
    format!(
        "r1 = map_idx({RINGBUF}) ll\nr2 = 16\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto out\nr6 = r0\n"
    )
}

const SUBMIT_R6: &str = "r1 = r6\nr2 = 0\ncall bpf_ringbuf_submit\n";
const END: &str = "out:\nr0 = 0\nexit";

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "ringbuf_write_after_submit_via_spill",
            "use after release: a spilled copy of the record",
            S,
            format!(
                "{}*(u64 *)(r10 - 8) = r6\n{SUBMIT_R6}r1 = *(u64 *)(r10 - 8)\n*(u64 *)(r1 + 0) = 1\n{END}",
                reserve()
            ),
            None,
        ),
        case(
            "ringbuf_write_after_discard_via_copy",
            "use after release: a register copy of the record",
            S,
            format!(
                "{}r7 = r6\nr1 = r6\nr2 = 0\ncall bpf_ringbuf_discard\n*(u64 *)(r7 + 8) = 1\n{END}",
                reserve()
            ),
            None,
        ),
        case(
            "ringbuf_double_submit_via_spill",
            "double release through a spilled copy",
            S,
            format!(
                "{}*(u64 *)(r10 - 8) = r6\n{SUBMIT_R6}r1 = *(u64 *)(r10 - 8)\nr2 = 0\ncall bpf_ringbuf_submit\n{END}",
                reserve()
            ),
            None,
        ),
        // The callee releases; the caller writes after the call.
        case(
            "ringbuf_released_in_callee",
            "use after release in a subprogram",
            S,
            format!(
                "{}r1 = r6\ncall local f\n*(u64 *)(r6 + 0) = 1\n{END}\nf:\nr2 = 0\ncall bpf_ringbuf_submit\nr0 = 0\nexit",
                reserve()
            ),
            None,
        ),
        // Released on one path, used after the paths join.
        case(
            "ringbuf_released_on_one_path",
            "use after release on one of two paths",
            S,
            format!(
                "r9 = *(u32 *)(r1 + 0)\n{}if r9 == 0 goto keep\n{SUBMIT_R6}goto join\nkeep:\nr1 = r6\nr2 = 0\ncall bpf_ringbuf_discard\njoin:\n*(u64 *)(r6 + 0) = 1\n{END}",
                reserve()
            ),
            None,
        ),
        // The size of the record depends on the path; the access fits one.
        case(
            "ringbuf_reserve_size_by_path",
            "reference size from a path-dependent constant",
            S,
            format!(
                "r9 = *(u32 *)(r1 + 0)\nr2 = 64\nif r9 != 0 goto go\nr2 = 8\ngo:\nr1 = map_idx({RINGBUF}) ll\nr3 = 0\ncall bpf_ringbuf_reserve\nif r0 == 0 goto out\n*(u64 *)(r0 + 32) = 1\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\n{END}"
            ),
            None,
        ),
        // A released record handed to a helper that reads it.
        case(
            "ringbuf_output_from_released_record",
            "use after release as a helper argument",
            S,
            format!(
                "{}{SUBMIT_R6}r1 = map_idx({RINGBUF}) ll\nr2 = r6\nr3 = 16\nr4 = 0\ncall bpf_ringbuf_output\n{END}",
                reserve()
            ),
            None,
        ),
    ]
}
