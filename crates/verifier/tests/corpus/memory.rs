//! Memory: stack slots (spill, fill, partial writes, uninitialized reads),
//! map values (NULL checks, bounds, read-only maps), context layouts.

use oxbpf_object::ProgramType::{
    CgroupSkb, Kprobe, PerfEvent, RawTracepoint, SchedCls as Tc, SocketFilter as S, Tracepoint, Xdp,
};
use oxbpf_verifier::Reason as R;

use super::{acc, rej, uninit_read, Case};

/// Looks up key 0 of map `map` into r0 (NULL-checked when `check`).
fn lookup(map: u32, check: bool) -> String {
    let mut s = format!(
        "r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr1 = map_idx({map}) ll\ncall bpf_map_lookup_elem\n"
    );
    if check {
        s.push_str("if r0 == 0 goto out\n");
    }
    s
}

/// Key 0 on the stack at r10 - 4, its address in r2.
const KEY: &str = "r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\n";

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    // Stack: every size at aligned offsets in and out of the frame.
    for (size, n) in [("u8", 1i32), ("u16", 2), ("u32", 4), ("u64", 8)] {
        let offs: std::collections::BTreeSet<i32> = [n, 8, 16, 256, 512].into();
        for off in offs {
            v.push(acc(
                format!("stack_{size}_at_{off}"),
                S,
                format!(
                    "r1 = 3\n*({size} *)(r10 - {off}) = r1\nr0 = *({size} *)(r10 - {off})\nexit"
                ),
            ));
            v.push(acc(
                format!("stack_st_{size}_at_{off}"),
                S,
                format!("*({size} *)(r10 - {off}) = 5\nr0 = *({size} *)(r10 - {off})\nexit"),
            ));
            v.extend(uninit_read(
                format!("stack_uninit_{size}_at_{off}"),
                S,
                format!("r0 = *({size} *)(r10 - {off})\nexit"),
            ));
        }
        for off in [0, -8, 520, 513 + n] {
            let at = if off <= 0 {
                format!("+ {}", -off)
            } else {
                format!("- {off}")
            };
            v.push(rej(
                format!("stack_out_{size}_at_{off}"),
                S,
                format!("r1 = 3\n*({size} *)(r10 {at}) = r1\nr0 = 0\nexit"),
                R::OutOfBounds,
            ));
        }
    }
    v.extend(uninit_read(
        "partial_init_read",
        S,
        "*(u32 *)(r10 - 8) = 0\nr0 = *(u64 *)(r10 - 8)\nexit",
    ));
    v.extend(uninit_read("stack_var_offset_uninit", S, "*(u64 *)(r10 - 16) = 0\nr2 = *(u32 *)(r1 + 0)\nr2 &= 15\nr3 = r10\nr3 += -16\nr3 += r2\nr0 = *(u8 *)(r3 + 0)\nexit"));
    v.extend(uninit_read(
        "atomic_stack_uninit",
        S,
        "r1 = 1\nlock *(u64 *)(r10 - 8) += r1\nr0 = 0\nexit",
    ));
    v.extend([
        acc("spill_fill_ctx_use", S, "*(u64 *)(r10 - 8) = r1\nr1 = 0\nr1 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r1 + 0)\nexit"),
        rej("spill_ctx_narrow", S, "*(u32 *)(r10 - 8) = r1\nr0 = 0\nexit", R::InvalidMemAccess),
        rej("spill_ctx_misaligned", S, "*(u64 *)(r10 - 12) = r1\nr0 = 0\nexit", R::InvalidMemAccess),
        rej("fill_ctx_narrow", S, "*(u64 *)(r10 - 8) = r1\nr0 = *(u32 *)(r10 - 8)\nexit", R::InvalidMemAccess),
        acc("overwrite_spill_whole", S, "*(u64 *)(r10 - 8) = r1\n*(u64 *)(r10 - 8) = 0\nr0 = *(u64 *)(r10 - 8)\nexit"),
        acc("partial_overwrite_scalar_spill", S, "r1 = 5\n*(u64 *)(r10 - 8) = r1\n*(u8 *)(r10 - 8) = 1\nr0 = *(u64 *)(r10 - 8)\nexit"),
        acc("two_halves_init", S, "*(u32 *)(r10 - 8) = 0\n*(u32 *)(r10 - 4) = 1\nr0 = *(u64 *)(r10 - 8)\nexit"),
        acc("zero_bytes_read_as_zero", S, "*(u32 *)(r10 - 8) = 0\n*(u32 *)(r10 - 4) = 0\nr0 = *(u64 *)(r10 - 8)\nexit"),
        rej("deref_filled_zero", S, "*(u64 *)(r10 - 8) = 0\nr1 = *(u64 *)(r10 - 8)\nr0 = *(u8 *)(r1 + 0)\nexit", R::InvalidMemAccess),
        acc("stack_var_offset_read", S, "*(u64 *)(r10 - 16) = 0\n*(u64 *)(r10 - 8) = 0\nr2 = *(u32 *)(r1 + 0)\nr2 &= 7\nr3 = r10\nr3 += -16\nr3 += r2\nr0 = *(u8 *)(r3 + 0)\nexit"),
        rej("stack_var_offset_out", S, "r2 = *(u32 *)(r1 + 0)\nr2 &= 31\nr3 = r10\nr3 += -16\nr3 += r2\n*(u8 *)(r3 + 0) = 0\nr0 = 0\nexit", R::OutOfBounds),
        rej("stack_var_offset_unbounded", S, "r2 = *(u32 *)(r1 + 0)\nr3 = r10\nr3 += r2\n*(u8 *)(r3 + 0) = 0\nr0 = 0\nexit", R::OutOfBounds),
        rej("stack_cross_slot", S, "*(u64 *)(r10 - 16) = 0\n*(u64 *)(r10 - 8) = 0\nr0 = *(u64 *)(r10 - 12)\nexit", R::InvalidMemAccess),
        rej("scalar_deref", S, "r1 = 1000\nr0 = *(u64 *)(r1 + 0)\nexit", R::InvalidMemAccess),
        rej("null_deref", S, "r1 = 0\nr0 = *(u64 *)(r1 + 0)\nexit", R::InvalidMemAccess),
        rej("map_ptr_deref", S, "r1 = map_idx(0) ll\nr0 = *(u64 *)(r1 + 0)\nexit", R::InvalidMemAccess)
            .kernel_differs("the kernel lets privileged programs read struct bpf_map fields through a map pointer (BTF-typed); oxbpf does not model struct bpf_map"),
        rej("store_through_scalar", S, "r1 = 1000\n*(u64 *)(r1 + 0) = 1\nr0 = 0\nexit", R::InvalidMemAccess),
    ]);
    // Map values: NULL checks and bounds (map 0: 8-byte values, map 1: 16-byte values).
    for (size, n) in [("u8", 1i64), ("u16", 2), ("u32", 4), ("u64", 8)] {
        for (map, vsize) in [(0u32, 8i64), (1, 16)] {
            let offs: std::collections::BTreeSet<i64> =
                [0, vsize - n, vsize - n + 1, vsize, -n].into();
            for off in offs {
                let ok = off >= 0 && off + n <= vsize && off % n == 0;
                if off % n != 0 && off >= 0 && off + n <= vsize {
                    continue;
                }
                let asm = format!(
                    "{}r0 = *({size} *)(r0 {} {})\nout:\nr0 = 0\nexit",
                    lookup(map, true),
                    if off < 0 { "-" } else { "+" },
                    off.abs()
                );
                let name = format!("map{map}_read_{size}_at_{off}");
                v.push(if ok {
                    acc(name, S, asm)
                } else {
                    rej(name, S, asm, R::OutOfBounds)
                });
            }
            // An array lookup with a constant in-range key never fails; a hash lookup may.
            let name = format!("map{map}_no_null_check_{size}");
            let asm = format!(
                "{}r0 = *({size} *)(r0 + 0)\nr0 = 0\nexit",
                lookup(map, false)
            );
            v.push(if map == 1 {
                acc(name, S, asm)
            } else {
                rej(name, S, asm, R::PossiblyNull)
            });
            v.push(acc(
                format!("map{map}_write_{size}"),
                S,
                format!(
                    "{}*({size} *)(r0 + 0) = 1\nout:\nr0 = 0\nexit",
                    lookup(map, true)
                ),
            ));
        }
    }
    v.extend([
        rej("map_null_arith", S, format!("{}r0 += 4\nr0 = 0\nexit", lookup(0, false)), R::PossiblyNull),
        acc("map_null_check_ne", S, format!("{}if r0 != 0 goto +2\nr0 = 0\nexit\nr0 = *(u64 *)(r0 + 0)\nr0 = 0\nexit", lookup(0, false))),
        acc("map_null_check_copy", S, format!("{}r6 = r0\nif r0 == 0 goto out\nr0 = *(u64 *)(r6 + 0)\nout:\nr0 = 0\nexit", lookup(0, false))),
        rej("map_null_branch_deref", S, format!("{}if r0 != 0 goto +2\nr0 = *(u64 *)(r0 + 0)\nexit\nr0 = 0\nexit", lookup(0, false)), R::InvalidMemAccess),
        acc("map_spilled_value", S, format!("{}*(u64 *)(r10 - 16) = r0\nr1 = *(u64 *)(r10 - 16)\nr0 = *(u64 *)(r1 + 0)\nout:\nr0 = 0\nexit", lookup(0, true))),
        acc("atomic_add_map", S, format!("{}r1 = 1\nlock *(u64 *)(r0 + 0) += r1\nout:\nr0 = 0\nexit", lookup(0, true))),
        acc("atomic_fetch_map", S, format!("{}r1 = 1\nr1 = atomic_fetch_add((u64 *)(r0 + 0), r1)\nout:\nr0 = 0\nexit", lookup(0, true))),
        acc("atomic_xchg_stack", S, "*(u64 *)(r10 - 8) = 0\nr1 = 2\nr1 = xchg_64(r10 - 8, r1)\nr0 = r1\nexit"),
        acc("atomic_cmpxchg_stack", S, "*(u64 *)(r10 - 8) = 0\nr0 = 0\nr1 = 2\nr0 = cmpxchg_64(r10 - 8, r0, r1)\nexit"),
        rej("atomic_ctx", S, "r2 = 1\nlock *(u32 *)(r1 + 0) += r2\nr0 = 0\nexit", R::InvalidMemAccess),
        rej("atomic_out_of_bounds", S, format!("{}r1 = 1\nlock *(u64 *)(r0 + 8) += r1\nout:\nr0 = 0\nexit", lookup(0, true)), R::OutOfBounds),
        acc("rodata_read_const", S, "r1 = map_idx_value(4, 0) ll\nr0 = *(u8 *)(r1 + 8)\nexit"),
        acc("rodata_const_as_bound", S, format!("r6 = map_idx_value(4, 0) ll\nr6 = *(u8 *)(r6 + 8)\nr6 -= 30\n{}r0 += r6\nr0 = *(u8 *)(r0 + 0)\nout:\nr0 = 0\nexit", lookup(1, true))),
        rej("rodata_write", S, "r1 = map_idx_value(4, 0) ll\n*(u8 *)(r1 + 0) = 1\nr0 = 0\nexit", R::ReadOnly),
        // Map access flags: helpers that change a map are refused on maps
        // read-only to programs ("write into map forbidden"), and values of
        // BPF_F_WRONLY_PROG maps cannot be read.
        rej("rodata_update_elem", S, format!("{KEY}r3 = r10\nr3 += -24\n*(u64 *)(r10 - 24) = 0\n*(u64 *)(r10 - 16) = 0\nr1 = map_idx(4) ll\nr4 = 0\ncall bpf_map_update_elem\nr0 = 0\nexit"), R::ReadOnly),
        rej("rodata_delete_elem", S, format!("{KEY}r1 = map_idx(4) ll\ncall bpf_map_delete_elem\nr0 = 0\nexit"), R::ReadOnly),
        // The soundness hole this rule closes: change a "constant", then use it as an offset.
        rej("rodata_update_then_const_offset", S, format!("{KEY}r3 = r10\nr3 += -24\n*(u64 *)(r10 - 24) = 0\n*(u64 *)(r10 - 16) = -1\nr1 = map_idx(4) ll\nr4 = 0\ncall bpf_map_update_elem\nr6 = map_idx_value(4, 0) ll\nr6 = *(u8 *)(r6 + 8)\nr6 -= 30\n{}r0 += r6\nr0 = *(u8 *)(r0 + 0)\nout:\nr0 = 0\nexit", lookup(1, true)), R::ReadOnly),
        rej("rdonly_queue_push", S, "*(u64 *)(r10 - 8) = 0\nr1 = map_idx(9) ll\nr2 = r10\nr2 += -8\nr3 = 0\ncall bpf_map_push_elem\nr0 = 0\nexit", R::ReadOnly),
        rej("rdonly_queue_pop", S, "r1 = map_idx(9) ll\nr2 = r10\nr2 += -8\ncall bpf_map_pop_elem\nr0 = 0\nexit", R::ReadOnly),
        acc("rdonly_queue_peek", S, "r1 = map_idx(9) ll\nr2 = r10\nr2 += -8\ncall bpf_map_peek_elem\nr0 = 0\nexit"),
        acc("wronly_value_write", S, format!("{}r1 = 7\n*(u64 *)(r0 + 0) = r1\nout:\nr0 = 0\nexit", lookup(7, true))),
        rej("wronly_value_read", S, format!("{}r0 = *(u64 *)(r0 + 0)\nout:\nr0 = 0\nexit", lookup(7, true)), R::WriteOnly),
        rej("wronly_value_to_helper", S, format!("{}r3 = r0\nr2 = r10\nr2 += -4\nr1 = map_idx(0) ll\nr4 = 0\ncall bpf_map_update_elem\nout:\nr0 = 0\nexit", lookup(7, true)), R::WriteOnly),
        rej("rodata_past_end", S, "r1 = map_idx_value(4, 0) ll\nr0 = *(u8 *)(r1 + 16)\nexit", R::OutOfBounds),
        acc("map_value_lddw", S, "r1 = map_idx_value(4, 8) ll\nr0 = *(u64 *)(r1 + 0)\nexit"),
        rej("map_value_lddw_past", S, "r1 = map_idx_value(4, 8) ll\nr0 = *(u64 *)(r1 + 4)\nexit", R::OutOfBounds),
        rej("map_value_lddw_multi_entry", S, "r1 = map_idx_value(1, 0) ll\nr0 = *(u64 *)(r1 + 0)\nexit", R::HelperArgument),
        rej("array_lookup_key_out_of_range", S, "r1 = 9\n*(u32 *)(r10 - 8) = r1\nr2 = r10\nr2 += -8\nr1 = map_idx(1) ll\ncall bpf_map_lookup_elem\nr0 = *(u8 *)(r0 + 0)\nr0 = 0\nexit", R::PossiblyNull),
        rej("array_lookup_key_spilled_u64", S, "r1 = 3\n*(u64 *)(r10 - 8) = r1\nr2 = r10\nr2 += -8\nr1 = map_idx(1) ll\ncall bpf_map_lookup_elem\nr0 = *(u8 *)(r0 + 0)\nr0 = 0\nexit", R::PossiblyNull),
        acc("array_lookup_key_spilled_u32", S, "r1 = 3\n*(u32 *)(r10 - 8) = r1\nr2 = r10\nr2 += -8\nr1 = map_idx(1) ll\ncall bpf_map_lookup_elem\nr0 = *(u8 *)(r0 + 0)\nr0 = 0\nexit"),
    ]);
    // Contexts.
    v.push(rej(
        "xdp_ctx_read_20",
        Xdp,
        "r2 = *(u32 *)(r1 + 20)\nr0 = 2\nexit",
        R::ContextAccess,
    ));
    for off in [0, 4, 8, 12, 16] {
        v.push(acc(
            format!("xdp_ctx_read_{off}"),
            Xdp,
            format!("r2 = *(u32 *)(r1 + {off})\nr0 = 2\nexit"),
        ));
        v.push(rej(
            format!("xdp_ctx_write_{off}"),
            Xdp,
            format!("r2 = 0\n*(u32 *)(r1 + {off}) = r2\nr0 = 2\nexit"),
            R::ContextAccess,
        ));
    }
    v.extend([
        rej(
            "xdp_ctx_read_24",
            Xdp,
            "r2 = *(u32 *)(r1 + 24)\nr0 = 2\nexit",
            R::ContextAccess,
        ),
        rej(
            "xdp_ctx_read_u64",
            Xdp,
            "r2 = *(u64 *)(r1 + 0)\nr0 = 2\nexit",
            R::ContextAccess,
        ),
        rej(
            "xdp_ctx_read_u16",
            Xdp,
            "r2 = *(u16 *)(r1 + 0)\nr0 = 2\nexit",
            R::ContextAccess,
        ),
        rej(
            "xdp_ctx_misaligned",
            Xdp,
            "r2 = *(u32 *)(r1 + 2)\nr0 = 2\nexit",
            R::ContextAccess,
        ),
        rej(
            "ctx_negative",
            Xdp,
            "r2 = *(u32 *)(r1 - 4)\nr0 = 2\nexit",
            R::ContextAccess,
        ),
        acc("ctx_st_imm", Tc, "*(u32 *)(r1 + 8) = 1\nr0 = 0\nexit"),
        rej(
            "ctx_st_imm_read_only_field",
            Tc,
            "*(u32 *)(r1 + 0) = 1\nr0 = 0\nexit",
            R::ContextAccess,
        ),
        acc(
            "ctx_store_pointer",
            Tc,
            "*(u32 *)(r1 + 8) = r1\nr0 = 0\nexit",
        ),
        rej(
            "ctx_store_pointer_unpriv",
            S,
            "*(u32 *)(r1 + 48) = r1\nr0 = 0\nexit",
            R::PointerLeak,
        )
        .unpriv(),
        rej(
            "ctx_modified_then_read",
            Xdp,
            "r1 += 4\nr2 = *(u32 *)(r1 + 0)\nr0 = 2\nexit",
            R::ContextAccess,
        ),
    ]);
    // struct __sk_buff: reads per type, writes per field.
    let skb_reads: &[(i32, &str)] = &[
        (0, "len"),
        (4, "pkt_type"),
        (8, "mark"),
        (12, "queue_mapping"),
        (16, "protocol"),
        (32, "priority"),
        (36, "ingress_ifindex"),
        (40, "ifindex"),
        (44, "tc_index"),
        (48, "cb0"),
        (64, "cb4"),
        (68, "hash"),
    ];
    for (off, field) in skb_reads {
        for (ty, tname) in [(S, "sock"), (Tc, "tc"), (CgroupSkb, "cgskb")] {
            v.push(acc(
                format!("skb_{tname}_read_{field}"),
                ty,
                format!("r2 = *(u32 *)(r1 + {off})\nr0 = 0\nexit"),
            ));
        }
        v.push(acc(
            format!("skb_tc_read_u16_{field}"),
            Tc,
            format!("r2 = *(u16 *)(r1 + {off})\nr0 = 0\nexit"),
        ));
    }
    for (off, field, tc_ok) in [
        (8, "mark", true),
        (32, "priority", true),
        (44, "tc_index", true),
        (48, "cb0", true),
        (60, "cb3", true),
        (0, "len", false),
        (4, "pkt_type", false),
        (68, "hash", false),
        (76, "data", false),
    ] {
        let asm = format!("r2 = 1\n*(u32 *)(r1 + {off}) = r2\nr0 = 0\nexit");
        let name = format!("skb_tc_write_{field}");
        v.push(if tc_ok {
            acc(name, Tc, asm.clone())
        } else {
            rej(name, Tc, asm.clone(), R::ContextAccess)
        });
        let cb = field.starts_with("cb");
        let name = format!("skb_sock_write_{field}");
        v.push(if cb {
            acc(name, S, asm)
        } else {
            rej(name, S, asm, R::ContextAccess)
        });
    }
    v.extend([
        rej(
            "skb_sock_read_data",
            S,
            "r2 = *(u32 *)(r1 + 76)\nr0 = 0\nexit",
            R::ContextAccess,
        ),
        acc(
            "skb_tc_read_data",
            Tc,
            "r2 = *(u32 *)(r1 + 76)\nr0 = 0\nexit",
        ),
        rej(
            "skb_read_past_end",
            Tc,
            "r2 = *(u32 *)(r1 + 192)\nr0 = 0\nexit",
            R::ContextAccess,
        ),
        rej(
            "skb_read_u64_field",
            Tc,
            "r2 = *(u64 *)(r1 + 8)\nr0 = 0\nexit",
            R::ContextAccess,
        ),
        acc(
            "skb_read_tstamp",
            Tc,
            "r2 = *(u64 *)(r1 + 152)\nr0 = 0\nexit",
        ),
        rej(
            "skb_sock_tc_classid",
            S,
            "r2 = *(u32 *)(r1 + 72)\nr0 = 0\nexit",
            R::ContextAccess,
        ),
        rej(
            "skb_data_narrow",
            Tc,
            "r2 = *(u16 *)(r1 + 76)\nr0 = 0\nexit",
            R::ContextAccess,
        ),
        acc(
            "kprobe_read_regs",
            Kprobe,
            "r2 = *(u64 *)(r1 + 112)\nr0 = 0\nexit",
        ),
        acc(
            "kprobe_read_narrow",
            Kprobe,
            "r2 = *(u32 *)(r1 + 104)\nr0 = 0\nexit",
        ),
        rej(
            "kprobe_write",
            Kprobe,
            "r2 = 0\n*(u64 *)(r1 + 112) = r2\nr0 = 0\nexit",
            R::ContextAccess,
        ),
        rej(
            "kprobe_past_pt_regs",
            Kprobe,
            "r2 = *(u64 *)(r1 + 168)\nr0 = 0\nexit",
            R::ContextAccess,
        ),
        acc(
            "tracepoint_read",
            Tracepoint,
            "r2 = *(u64 *)(r1 + 16)\nr0 = 0\nexit",
        ),
        rej(
            "tracepoint_write",
            Tracepoint,
            "r2 = 0\n*(u64 *)(r1 + 16) = r2\nr0 = 0\nexit",
            R::ContextAccess,
        ),
        acc(
            "raw_tp_read_arg",
            RawTracepoint,
            "r2 = *(u64 *)(r1 + 8)\nr0 = 0\nexit",
        ),
        rej(
            "raw_tp_past_args",
            RawTracepoint,
            "r2 = *(u64 *)(r1 + 96)\nr0 = 0\nexit",
            R::ContextAccess,
        ),
        acc(
            "perf_event_sample_period",
            PerfEvent,
            "r2 = *(u64 *)(r1 + 168)\nr0 = 0\nexit",
        ),
        rej(
            "perf_event_write",
            PerfEvent,
            "r2 = 0\n*(u64 *)(r1 + 168) = r2\nr0 = 0\nexit",
            R::ContextAccess,
        ),
    ]);
    v
}
