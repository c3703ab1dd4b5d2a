//! Packets: pointers kept across helpers that move the packet (directly, in a
//! subprogram, in a callback), range checks that do not bound the access
//! (off by one, against the wrong pointer, JMP32, reversed), and offsets
//! from packet bytes.

use oxbpf::object::ProgramType::{SchedCls as Tc, Xdp};

use super::{callback, case, Case};

/// r2 = data, r3 = data_end, and r2 + 8 <= r3 checked (else exit 2).
const CHECK8: &str =
    "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 8\nif r4 > r3 goto out\n";
const END: &str = "out:\nr0 = 2\nexit";

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "xdp_adjust_head_spilled_packet_pointer",
            "packet pointer spilled across a packet-changing helper",
            Xdp,
            format!("r6 = r1\n{CHECK8}*(u64 *)(r10 - 8) = r2\nr1 = r6\nr2 = 8\ncall bpf_xdp_adjust_head\nr2 = *(u64 *)(r10 - 8)\nr0 = *(u64 *)(r2 + 0)\n{END}"),
            None,
        ),
        case(
            "xdp_adjust_tail_stale_data_end",
            "data_end kept across bpf_xdp_adjust_tail",
            Xdp,
            format!("r6 = r1\nr7 = *(u32 *)(r1 + 0)\nr8 = *(u32 *)(r1 + 4)\nr1 = r6\nr2 = -8\ncall bpf_xdp_adjust_tail\nr4 = r7\nr4 += 14\nif r4 > r8 goto out\nr0 = *(u8 *)(r7 + 13)\n{END}"),
            None,
        ),
        case(
            "subprogram_changes_packet_data",
            "packet-changing helper in a subprogram (kernel fix 51081a3f25c7, 2024)",
            Xdp,
            format!("r6 = r1\n{CHECK8}r7 = r2\nr1 = r6\ncall local f\nr0 = *(u64 *)(r7 + 0)\n{END}\nf:\nr2 = 8\ncall bpf_xdp_adjust_head\nr0 = 0\nexit"),
            None,
        ),
        case(
            "bpf_loop_callback_changes_packet",
            "packet-changing helper in a callback, through a spilled context",
            Xdp,
            callback(
                &format!("*(u64 *)(r10 - 8) = r1\n{CHECK8}r7 = r2\nr1 = 1\n"),
                &format!("r3 = r10\nr3 += -8\nr4 = 0\ncall bpf_loop\nr0 = *(u64 *)(r7 + 0)\n{END}"),
                "r1 = *(u64 *)(r2 + 0)\nr2 = 8\ncall bpf_xdp_adjust_head\nr0 = 0\nexit",
            ),
            None,
        ),
        case(
            "skb_pull_data_stale_pointer",
            "packet pointer kept across bpf_skb_pull_data",
            Tc,
            "r6 = r1\nr2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr4 = r2\nr4 += 8\nif r4 > r3 goto out\nr7 = r2\nr1 = r6\nr2 = 0\ncall bpf_skb_pull_data\nr0 = *(u64 *)(r7 + 0)\nout:\nr0 = 0\nexit",
            None,
        ),
        case(
            "packet_off_by_one",
            "packet range off by one",
            Xdp,
            format!("{CHECK8}r0 = *(u64 *)(r2 + 1)\n{END}"),
            None,
        ),
        case(
            "packet_end_arithmetic",
            "arithmetic on data_end",
            Xdp,
            format!("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr3 += 8\nr4 = r2\nr4 += 16\nif r4 > r3 goto out\nr0 = *(u64 *)(r2 + 8)\n{END}"),
            None,
        ),
        case(
            "packet_var_offset_after_check",
            "packet offset added after the range check",
            Xdp,
            format!("{CHECK8}r5 = *(u8 *)(r2 + 0)\nr2 += r5\nr0 = *(u8 *)(r2 + 0)\n{END}"),
            None,
        ),
        case(
            "packet_meta_unchecked",
            "data_meta read without a check against data",
            Xdp,
            format!("r2 = *(u32 *)(r1 + 8)\nr0 = *(u8 *)(r2 + 0)\n{END}"),
            None,
        ),
        case(
            "packet_jmp32_range_check",
            "packet range from a 32-bit comparison",
            Xdp,
            format!("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 4000\nif w4 > w3 goto out\nr0 = *(u8 *)(r2 + 3999)\n{END}"),
            None,
        ),
        case(
            "packet_len_from_end_minus_data",
            "packet offset from data_end - data",
            Xdp,
            format!("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr5 = r3\nr5 -= r2\nr2 += r5\nr0 = *(u8 *)(r2 + 0)\n{END}"),
            None,
        ),
        case(
            "packet_reversed_check",
            "packet range check in the wrong direction",
            Xdp,
            format!("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 4000\nif r4 >= r3 goto ok\ngoto out\nok:\nr0 = *(u8 *)(r2 + 3999)\n{END}"),
            None,
        ),
        case(
            "packet_checked_against_meta",
            "packet range checked against data_meta",
            Xdp,
            format!("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 8)\nr4 = r2\nr4 += 4000\nif r4 > r3 goto ok\ngoto out\nok:\nr0 = *(u8 *)(r2 + 3999)\n{END}"),
            None,
        ),
    ]
}
