//! Stack and map memory: spill/fill type confusion (partial spills, 32-bit
//! spills of scalars and pointers, bytes overwritten by variable-offset
//! writes and helpers), variable stack offsets, and map value offsets from
//! variable indices.

use oxbpf::object::ProgramType::SocketFilter as S;

use super::{case, on_value, Case};

pub fn cases() -> Vec<Case> {
    vec![
        // One byte of a spilled map value pointer overwritten: the fill is
        // not that pointer any more.
        case(
            "partial_overwrite_of_spilled_pointer",
            "spill/fill: a partial write over a spilled pointer",
            S,
            on_value("*(u64 *)(r10 - 16) = r7\nr1 = 0x41\n*(u8 *)(r10 - 9) = r1\nr1 = *(u64 *)(r10 - 16)\nr0 = *(u8 *)(r1 + 0)"),
            None,
        ),
        // The low halves of two pointers spilled as u32s, filled as one u64.
        case(
            "spill_pointer_as_two_halves",
            "spill/fill: 32-bit spill of a pointer",
            S,
            on_value("*(u32 *)(r10 - 16) = r7\n*(u32 *)(r10 - 12) = r10\nr1 = *(u64 *)(r10 - 16)\nr0 = *(u8 *)(r1 + 0)"),
            None,
        ),
        // A known scalar spilled, its upper half overwritten with -1.
        case(
            "partial_overwrite_of_spilled_constant",
            "spill/fill: a partial write over a spilled constant",
            S,
            on_value("r1 = 0\n*(u64 *)(r10 - 16) = r1\n*(u32 *)(r10 - 12) = -1\nr6 = *(u64 *)(r10 - 16)\nr0 += r6\nr1 = *(u8 *)(r0 + 0)"),
            None,
        ),
        // A 32-bit spill of a bounded scalar, then the slot's upper half from
        // an unknown scalar, filled as u64.
        case(
            "spill32_then_fill64",
            "spill/fill: a 32-bit spill filled as 64 bits",
            S,
            on_value("r6 &= 7\n*(u32 *)(r10 - 16) = r6\n*(u32 *)(r10 - 12) = r8\nr6 = *(u64 *)(r10 - 16)\nr0 += r6\nr1 = *(u8 *)(r0 + 0)"),
            None,
        ),
        // A 64-bit spill of a scalar whose low half is bounded; the fill of
        // its upper half is unknown.
        case(
            "fill_upper_half_of_spilled_scalar",
            "spill/fill: a narrow fill at the upper half",
            S,
            on_value("if w6 > 7 goto out\n*(u64 *)(r10 - 16) = r6\nr6 = *(u32 *)(r10 - 12)\nr0 += r6\nr1 = *(u8 *)(r0 + 0)"),
            None,
        )
        .value(0xffff_ff00_0000_0000, 0),
        // A variable-offset write into a spilled pointer's bytes.
        case(
            "var_offset_write_over_spilled_pointer",
            "spill/fill: a variable-offset stack write over a spill",
            S,
            "*(u64 *)(r10 - 16) = r1\nr6 = *(u32 *)(r1 + 0)\nr6 &= 7\nr2 = r10\nr2 += -16\nr2 += r6\n*(u8 *)(r2 + 0) = 0x41\nr1 = *(u64 *)(r10 - 16)\nr0 = *(u32 *)(r1 + 0)\nexit",
            None,
        )
        .input(vec![0xff; 14 + 7], None),
        // A helper writes over a spilled pointer.
        case(
            "helper_overwrites_spilled_pointer",
            "spill/fill: helper memory output over a spill",
            S,
            on_value("*(u64 *)(r10 - 16) = r7\nr1 = r10\nr1 += -16\nr2 = 8\nr3 = r7\ncall bpf_probe_read_kernel\nr1 = *(u64 *)(r10 - 16)\nr0 = *(u8 *)(r1 + 0)"),
            None,
        ),
        case(
            "get_current_comm_over_spilled_pointer",
            "spill/fill: helper memory output over a spill",
            S,
            on_value("*(u64 *)(r10 - 16) = r7\nr1 = r10\nr1 += -16\nr2 = 8\ncall bpf_get_current_comm\nr1 = *(u64 *)(r10 - 16)\nr0 = *(u8 *)(r1 + 0)"),
            None,
        ),
        // Variable stack offsets reaching past either end of the frame.
        case(
            "stack_var_offset_above_frame",
            "variable stack offset",
            S,
            on_value("r6 &= 0x3ff\nr2 = r10\nr2 += -512\nr2 += r6\n*(u8 *)(r2 + 0) = 1"),
            None,
        ),
        case(
            "stack_var_offset_below_frame",
            "variable stack offset",
            S,
            on_value("r6 &= 0xfff\nr2 = r10\nr2 -= r6\n*(u8 *)(r2 - 1) = 1"),
            None,
        ),
        case(
            "ctx_var_offset",
            "context access at a variable offset",
            S,
            "r6 = *(u32 *)(r1 + 0)\nr6 &= 0xfff\nr1 += r6\nr0 = *(u32 *)(r1 + 0)\nexit",
            None,
        ),
        // Map value offsets from variable indices.
        case(
            "map_value_index_off_by_one",
            "map value offset from a variable index",
            S,
            on_value("r6 &= 15\nr0 += r6\nr1 = *(u64 *)(r0 + 0)"),
            None,
        ),
        case(
            "map_value_index_scaled_overflow",
            "map value offset from a scaled index",
            S,
            on_value("r6 = *(u32 *)(r7 + 0)\nif r6 > 16 goto out\nr1 = 0x1000000000000000 ll\nr6 *= r1\nr0 += r6\nr1 = *(u8 *)(r0 + 0)"),
            None,
        )
        .value(1, 0),
        case(
            "map_value_two_indices",
            "map value offset from two variable indices",
            S,
            on_value("r6 &= 8\nr8 &= 8\nr0 += r6\nr0 += r8\nr1 = *(u64 *)(r0 + 0)"),
            None,
        ),
        case(
            "map_value_index_then_negative_offset",
            "map value variable offset with a negative constant",
            S,
            on_value("r6 &= 7\nr0 += r6\nr1 = *(u8 *)(r0 - 1)"),
            None,
        )
        .value(0, 0),
    ]
}
