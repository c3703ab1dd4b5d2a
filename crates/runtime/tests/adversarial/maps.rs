//! Maps and tail calls: read-only (`.rodata`, `BPF_F_RDONLY_PROG`) values the
//! verifier takes as constants but a program changes (helpers, atomics,
//! lookups, `bpf_map_update_elem`), map arguments of the wrong size or kind,
//! `lddw` value offsets, and tail calls into programs of another type.
//!
//! The `rodata_update_*` and `tail_call_type_*` cases were accepted before
//! issue 14's fix and crashed the unchecked engines: `bpf_map_update_elem` on
//! a read-only map (the kernel's "write into map forbidden"), and tail calls
//! into a program of another type with a bigger context.

use oxbpf::object::ProgramType::{Kprobe, PerfEvent, SocketFilter as S, Syscall, Tracepoint, Xdp};

use super::{case, lookup, on_value, Case, ARRAY, HASH, PROGS, RODATA};

/// r6 = the u32 at `.rodata` offset 0 (0 to the verifier: the map is frozen).
const RODATA_CONST: &str = "r1 = map_idx_value(4, 0) ll\nr6 = *(u32 *)(r1 + 0)\n";

/// Writes through the array value at r0 + r6.
fn write_at_r6() -> String {
    format!(
        "{}r0 += r6\nr1 = 1\n*(u8 *)(r0 + 0) = r1\nout:\nr0 = 0\nexit",
        lookup(ARRAY, 0)
    )
}

/// Calls bpf_map_update_elem(`.rodata`, 0, value) with a 16-byte value
/// whose first u32 is `first`.
fn update_rodata(first: u32) -> String {
    format!(
        "r1 = {first}\n*(u64 *)(r10 - 24) = r1\n*(u64 *)(r10 - 16) = 0\n*(u32 *)(r10 - 4) = 0\nr1 = map_idx({RODATA}) ll\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -24\nr4 = 0\ncall bpf_map_update_elem\n"
    )
}

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "rodata_update_then_offset",
            "(a) bpf_map_update_elem on a frozen read-only map, then its \"constant\" as an offset",
            S,
            format!("{}{RODATA_CONST}{}", update_rodata(0x10000), write_at_r6()),
            None,
        ),
        case(
            "rodata_update_then_helper_size",
            "(a) bpf_map_update_elem on a frozen read-only map, then its \"constant\" as a helper's size",
            S,
            format!(
                "{}r1 = map_idx_value(4, 0) ll\nr2 = *(u32 *)(r1 + 4)\nr1 = r10\nr1 += -8\nr3 = 0\ncall bpf_probe_read_kernel\nr0 = 0\nexit",
                update_rodata(0)
                    .replace("r1 = 0\n*(u64 *)(r10 - 24) = r1\n", "r1 = 0x1000000000000 ll\n*(u64 *)(r10 - 24) = r1\n")
            ),
            None,
        ),
        case(
            "atomic_add_to_rodata_then_offset",
            "atomic write to a read-only map, then its \"constant\" as an offset",
            S,
            format!(
                "r1 = map_idx_value(4, 0) ll\nr2 = 0x10000\nlock *(u32 *)(r1 + 0) += w2\n{RODATA_CONST}{}",
                write_at_r6()
            ),
            Some(oxbpf_verifier::Reason::ReadOnly),
        ),
        case(
            "helper_writes_rodata_then_offset",
            "helper output into a read-only map, then its \"constant\" as an offset",
            S,
            format!(
                "{}r3 = r0\nr1 = map_idx_value(4, 0) ll\nr2 = 4\ncall bpf_probe_read_kernel\n{RODATA_CONST}{}",
                lookup(ARRAY, 0),
                write_at_r6()
            ),
            Some(oxbpf_verifier::Reason::ReadOnly),
        ),
        case(
            "rodata_lookup_pointer_write",
            "store through a looked-up read-only value, then its \"constant\" as an offset",
            S,
            format!(
                "{}r1 = 0x10000\n*(u32 *)(r0 + 0) = r1\n{RODATA_CONST}{}",
                lookup(RODATA, 0),
                write_at_r6()
            ),
            Some(oxbpf_verifier::Reason::ReadOnly),
        ),
        case(
            "map_update_value_too_short",
            "helper reading past a map value",
            S,
            format!(
                "{}r3 = r0\nr3 += 8\nr1 = map_idx({ARRAY}) ll\nr2 = r10\nr2 += -4\nr4 = 0\ncall bpf_map_update_elem\nout:\nr0 = 0\nexit",
                lookup(HASH, 0)
            ),
            None,
        ),
        case(
            "map_lookup_key_above_frame",
            "map key past the top of the stack",
            S,
            format!("*(u16 *)(r10 - 2) = 0\nr2 = r10\nr2 += -2\nr1 = map_idx({ARRAY}) ll\ncall bpf_map_lookup_elem\nr0 = 0\nexit"),
            None,
        ),
        case(
            "prog_array_lookup",
            "map_lookup_elem on a program array",
            S,
            format!("{}r0 = *(u64 *)(r0 + 0)\nout:\nr0 = 0\nexit", lookup(PROGS, 0)),
            None,
        ),
        case(
            "map_pointer_arithmetic",
            "arithmetic on a map pointer",
            S,
            format!("*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = map_idx({ARRAY}) ll\nr1 += 8\ncall bpf_map_lookup_elem\nr0 = 0\nexit"),
            None,
        ),
        case(
            "lddw_map_value_offset_straddles_end",
            "lddw map value offset near the end of the value",
            S,
            "r1 = map_idx_value(5, 12) ll\nr0 = *(u64 *)(r1 + 0)\nexit",
            None,
        ),
        case(
            "lddw_map_value_offset_past_end",
            "lddw map value offset past the value",
            S,
            "r1 = map_idx_value(5, 4096) ll\nr0 = *(u8 *)(r1 + 0)\nexit",
            None,
        ),
        case(
            "map_value_store_through_lddw_negative",
            "negative access before an lddw map value",
            S,
            "r1 = map_idx_value(5, 0) ll\nr2 = 1\n*(u64 *)(r1 - 8) = r2\nr0 = 0\nexit",
            None,
        ),
        case(
            "tail_call_type_xdp_into_syscall",
            "(b) tail call from XDP into a syscall program reading far into its context",
            Xdp,
            format!("r2 = map_idx({PROGS}) ll\nr3 = 0\ncall bpf_tail_call\nr0 = 2\nexit"),
            None,
        )
        .tail_target("syscall_target", Syscall, "r0 = *(u64 *)(r1 + 32000)\nexit", 0),
        case(
            "tail_call_type_socket_filter_into_syscall",
            "(b) tail call from a socket filter into a syscall program",
            S,
            format!("r2 = map_idx({PROGS}) ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit"),
            None,
        )
        .tail_target("syscall_target", Syscall, "r0 = *(u64 *)(r1 + 32000)\nexit", 0),
        case(
            "tail_call_type_kprobe_into_tracepoint",
            "(b) tail call from a kprobe into a tracepoint program",
            Kprobe,
            format!("r2 = map_idx({PROGS}) ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit"),
            None,
        )
        .tail_target("tracepoint_target", Tracepoint, "r0 = *(u64 *)(r1 + 2040)\nexit", 0),
        case(
            "tail_call_type_kprobe_into_perf_event",
            "(b) tail call from a kprobe into a perf_event program (8 bytes more context)",
            Kprobe,
            format!("r2 = map_idx({PROGS}) ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit"),
            None,
        )
        .tail_target("perf_event_target", PerfEvent, "r0 = *(u64 *)(r1 + 176)\nexit", 0),
        case(
            "tail_call_into_rejected_target",
            "a tail-call target the verifier rejects must not run unchecked",
            S,
            format!("r2 = map_idx({PROGS}) ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit"),
            None,
        )
        .tail_target("oob_target", S, on_value("r1 = 1\n*(u64 *)(r7 + 16) = r1"), 0),
    ]
}
