//! What verified code leaves to the engines and helpers: operations whose
//! x86 instructions trap or misbehave (division by zero, INT_MIN / -1,
//! misaligned atomics), legacy packet loads whose bounds are checked at run
//! time, and helpers handed arbitrary addresses. The verifier may accept
//! these; the unchecked engines must then run them as the checked ones do.

use oxbpf::object::ProgramType::{Kprobe, SocketFilter as S, Xdp};

use super::{case, lookup, on_value, Case, ARRAY};

pub fn cases() -> Vec<Case> {
    vec![
        // x86 `div` traps (#DE, SIGFPE) on a zero divisor; BPF gives 0.
        case(
            "div_by_zero_register",
            "division by a zero register (x86 #DE)",
            S,
            on_value("r1 = r6\nr1 &= 0\nr6 /= r1\nr0 = r6\nexit"),
            None,
        ),
        case(
            "mod32_by_zero_register",
            "32-bit modulo by a zero register (x86 #DE)",
            S,
            on_value("w1 = 0\nw6 %= w1\nr0 = r6\nexit"),
            None,
        ),
        // x86 `idiv` traps on INT_MIN / -1; BPF gives INT_MIN (and 0 for modulo).
        case(
            "sdiv64_int_min_by_minus_one_register",
            "signed division overflow (x86 #DE)",
            S,
            on_value("r1 = -1\nr6 s/= r1\nr0 = r6\nexit"),
            None,
        )
        .value(0x8000_0000_0000_0000, 0),
        case(
            "smod64_int_min_by_minus_one_register",
            "signed modulo overflow (x86 #DE)",
            S,
            on_value("r1 = -1\nr6 s%= r1\nr0 = r6\nexit"),
            None,
        )
        .value(0x8000_0000_0000_0000, 0),
        case(
            "sdiv32_int_min_by_minus_one_imm",
            "32-bit signed division overflow (x86 #DE)",
            S,
            on_value("w6 s/= -1\nr0 = r6\nexit"),
            None,
        )
        .value(0x8000_0000, 0),
        case(
            "smod32_int_min_by_minus_one_register",
            "32-bit signed modulo overflow (x86 #DE)",
            S,
            on_value("w1 = -1\nw6 s%= w1\nr0 = r6\nexit"),
            None,
        )
        .value(0x8000_0000, 0),
        // Legacy packet loads end the program when out of bounds.
        case(
            "ld_abs_far_offset",
            "ld_abs past the packet (run-time check)",
            S,
            "r6 = r1\nr0 = *(u32 *)skb[0x7ffffff0]\nr0 = 1\nexit",
            None,
        ),
        case(
            "ld_ind_negative_offset",
            "ld_ind before the packet (run-time check)",
            S,
            "r6 = r1\nr7 = -0x1000\nr0 = *(u8 *)skb[r7 + 0]\nr0 = 1\nexit",
            None,
        ),
        case(
            "ld_ind_unknown_offset",
            "ld_ind at an offset from the packet (run-time check)",
            S,
            "r6 = r1\nr7 = *(u32 *)(r1 + 0)\nr7 <<= 20\nr0 = *(u32 *)skb[r7 + 0]\nr0 = 1\nexit",
            None,
        ),
        // A misaligned atomic inside a map value.
        case(
            "atomic_misaligned_map_value",
            "misaligned atomic access",
            S,
            format!(
                "{}r1 = 1\nlock *(u64 *)(r0 + 4) += r1\nout:\nr0 = 0\nexit",
                lookup(ARRAY, 0)
            ),
            None,
        ),
        case(
            "atomic_var_offset_map_value",
            "atomic access at a variable, possibly misaligned offset",
            S,
            on_value("r6 &= 7\nr0 += r6\nr1 = 1\nlock *(u64 *)(r0 + 0) += r1"),
            None,
        ),
        // Registers other than r1 and r10 hold nothing defined at entry (the
        // unchecked JIT leaves them as they were).
        case(
            "read_r2_at_entry",
            "a register the program type does not set, read at entry",
            Xdp,
            "r0 = r2\nr0 &= 3\nexit",
            None,
        ),
        case(
            "read_r5_at_entry",
            "a register the program type does not set, read at entry",
            Kprobe,
            "r0 = r5\nexit",
            None,
        ),
        // Helpers that take arbitrary addresses must check them.
        case(
            "probe_read_kernel_wild_address",
            "helper handed an arbitrary source address",
            S,
            "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0x4141414141414141 ll\ncall bpf_probe_read_kernel\nr0 = 0\nexit",
            None,
        ),
        case(
            "probe_read_kernel_str_wild_address",
            "string helper handed an arbitrary source address",
            S,
            "r1 = r10\nr1 += -16\nr2 = 16\nr3 = 0x10 ll\ncall bpf_probe_read_kernel_str\nr0 = 0\nexit",
            None,
        ),
        case(
            "trace_printk_wild_string",
            "%s of an arbitrary address",
            Kprobe,
            "r1 = map_idx_value(4, 12) ll\nr2 = 3\nr3 = 0x4141414141414141 ll\ncall bpf_trace_printk\nr0 = 0\nexit",
            None,
        ),
        case(
            "snprintf_wild_string",
            "%s of an arbitrary address in bpf_snprintf's data",
            Kprobe,
            "r1 = 0x4141414141414141 ll\n*(u64 *)(r10 - 8) = r1\nr1 = r10\nr1 += -32\nr2 = 16\nr3 = map_idx_value(4, 12) ll\nr4 = r10\nr4 += -8\nr5 = 8\ncall bpf_snprintf\nr0 = 0\nexit",
            None,
        ),
    ]
}
