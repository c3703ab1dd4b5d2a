//! Helpers: argument types, key and value sizes against the map, (mem, size)
//! pairs, ring buffer references, callbacks, availability per program type.

use oxbpf_object::ProgramType::{Kprobe, SchedCls as Tc, SocketFilter as S, Xdp};
use oxbpf_verifier::Reason as R;

use super::{acc, rej, uninit_read, Case};

/// A key of `n` initialized bytes at fp-16 in r2, and map `map` in r1.
fn key(map: u32, n: usize) -> String {
    let mut s = String::new();
    for k in 0..n {
        s.push_str(&format!("*(u8 *)(r10 - {}) = 0\n", 16 - k));
    }
    s.push_str(&format!("r2 = r10\nr2 += -16\nr1 = map_idx({map}) ll\n"));
    s
}

/// Why callback cases are not loaded into the kernel.
const CALLBACK: &str = "callbacks need BTF func_info, which the assembly corpus does not carry";

const RESERVE: &str = "r1 = map_idx(2) ll\nr2 = 16\nr3 = 0\ncall bpf_ringbuf_reserve\n";

/// bpf_sk_lookup_tcp(ctx, &tuple (12 zero bytes), 12, BPF_F_CURRENT_NETNS, 0) into r0.
const SK_LOOKUP: &str = "*(u64 *)(r10 - 16) = 0\n*(u32 *)(r10 - 8) = 0\nr2 = r10\nr2 += -16\nr3 = 12\nr4 = -1\nr5 = 0\ncall bpf_sk_lookup_tcp\n";

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    // Keys: map 0 and 1 take 4-byte keys; fewer initialized bytes is an uninitialized read.
    for map in [0u32, 1] {
        for n in [1usize, 2, 3, 4, 8] {
            let asm = format!("{}call bpf_map_lookup_elem\nr0 = 0\nexit", key(map, n));
            let name = format!("lookup_map{map}_key_{n}_bytes");
            if n >= 4 {
                v.push(acc(name, S, asm));
            } else {
                v.extend(uninit_read(name, S, asm));
            }
        }
        v.push(acc(
            format!("delete_map{map}"),
            S,
            format!("{}call bpf_map_delete_elem\nr0 = 0\nexit", key(map, 4)),
        ));
        v.push(acc(
            format!("update_map{map}"),
            S,
            format!(
                "*(u64 *)(r10 - 40) = 0\n*(u64 *)(r10 - 32) = 0\n{}r3 = r10\nr3 += -40\nr4 = 0\ncall bpf_map_update_elem\nr0 = 0\nexit",
                key(map, 4)
            ),
        ));
    }
    v.extend(uninit_read("update_value_short", S, format!("*(u64 *)(r10 - 40) = 0\n{}r3 = r10\nr3 += -40\nr4 = 0\ncall bpf_map_update_elem\nr0 = 0\nexit", key(1, 4))));
    v.extend([
        rej("update_value_past_stack", S, format!("*(u64 *)(r10 - 8) = 0\n{}r3 = r10\nr3 += -8\nr4 = 0\ncall bpf_map_update_elem\nr0 = 0\nexit", key(1, 4)), R::OutOfBounds),
        rej("lookup_key_scalar", S, "r1 = map_idx(0) ll\nr2 = 0\ncall bpf_map_lookup_elem\nr0 = 0\nexit", R::HelperArgument),
        rej("lookup_key_null_map_value", S, format!("{}call bpf_map_lookup_elem\nr2 = r0\nr1 = map_idx(0) ll\ncall bpf_map_lookup_elem\nr0 = 0\nexit", key(0, 4)), R::PossiblyNull),
        acc("lookup_key_from_map_value", S, format!("{}call bpf_map_lookup_elem\nif r0 == 0 goto out\nr2 = r0\nr1 = map_idx(0) ll\ncall bpf_map_lookup_elem\nout:\nr0 = 0\nexit", key(0, 4))),
        rej("lookup_not_a_map", S, "*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = 0\ncall bpf_map_lookup_elem\nr0 = 0\nexit", R::HelperArgument),
        rej("lookup_ringbuf", S, format!("{}call bpf_map_lookup_elem\nr0 = 0\nexit", key(2, 4)), R::HelperArgument),
        rej("lookup_args_clobbered", S, format!("{}call bpf_map_lookup_elem\nr0 = r2\nexit", key(0, 4)), R::UninitRegister),
        acc("lookup_r6_kept", S, format!("r6 = 7\n{}call bpf_map_lookup_elem\nr0 = r6\nexit", key(0, 4))),
        rej("lookup_result_arith_before_check", S, format!("{}call bpf_map_lookup_elem\nr0 += 0\nr0 = 0\nexit", key(0, 4)), R::PossiblyNull),
        acc("ringbuf_reserve_submit", S, format!("{RESERVE}if r0 == 0 goto out\n*(u64 *)(r0 + 8) = 1\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nout:\nr0 = 0\nexit")),
        acc("ringbuf_reserve_discard", S, format!("{RESERVE}if r0 == 0 goto out\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_discard\nout:\nr0 = 0\nexit")),
        rej("ringbuf_leak", S, format!("{RESERVE}if r0 == 0 goto out\n*(u64 *)(r0 + 0) = 1\nout:\nr0 = 0\nexit"), R::ReferenceLeak),
        rej("ringbuf_leak_one_path", S, format!("r6 = r1\n{RESERVE}if r0 == 0 goto out\nr7 = *(u32 *)(r6 + 0)\nr1 = r0\nif r7 == 0 goto out\nr2 = 0\ncall bpf_ringbuf_submit\nout:\nr0 = 0\nexit"), R::ReferenceLeak),
        rej("ringbuf_submit_unchecked", S, format!("{RESERVE}r1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nr0 = 0\nexit"), R::PossiblyNull),
        rej("ringbuf_double_submit", S, format!("{RESERVE}if r0 == 0 goto out\nr6 = r0\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nr1 = r6\nr2 = 0\ncall bpf_ringbuf_submit\nout:\nr0 = 0\nexit"), R::InvalidRelease),
        rej("ringbuf_use_after_submit", S, format!("{RESERVE}if r0 == 0 goto out\nr6 = r0\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nr0 = *(u64 *)(r6 + 0)\nout:\nr0 = 0\nexit"), R::InvalidMemAccess),
        rej("ringbuf_out_of_record", S, format!("{RESERVE}if r0 == 0 goto out\n*(u64 *)(r0 + 16) = 1\nr1 = r0\nr2 = 0\ncall bpf_ringbuf_submit\nout:\nr0 = 0\nexit"), R::OutOfBounds),
        rej("ringbuf_submit_offset", S, format!("{RESERVE}if r0 == 0 goto out\nr1 = r0\nr1 += 8\nr2 = 0\ncall bpf_ringbuf_submit\nout:\nr0 = 0\nexit"), R::InvalidRelease),
        rej("ringbuf_submit_stack", S, "*(u64 *)(r10 - 8) = 0\nr1 = r10\nr1 += -8\nr2 = 0\ncall bpf_ringbuf_submit\nr0 = 0\nexit", R::InvalidRelease),
        rej("ringbuf_reserve_var_size", S, "r2 = *(u32 *)(r1 + 0)\nr1 = map_idx(2) ll\nr3 = 0\ncall bpf_ringbuf_reserve\nr0 = 0\nexit", R::HelperArgument),
        rej("ringbuf_reserve_wrong_map", S, "r1 = map_idx(0) ll\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nr0 = 0\nexit", R::HelperArgument),
        acc("ringbuf_output_stack", S, "*(u64 *)(r10 - 8) = 0\nr1 = map_idx(2) ll\nr2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall bpf_ringbuf_output\nr0 = 0\nexit"),
        rej("ringbuf_output_too_long", S, "*(u64 *)(r10 - 8) = 0\nr1 = map_idx(2) ll\nr2 = r10\nr2 += -8\nr3 = 16\nr4 = 0\ncall bpf_ringbuf_output\nr0 = 0\nexit", R::OutOfBounds),
        acc("ringbuf_output_zero_size", S, "*(u64 *)(r10 - 8) = 0\nr1 = map_idx(2) ll\nr2 = r10\nr2 += -8\nr3 = 0\nr4 = 0\ncall bpf_ringbuf_output\nr0 = 0\nexit"),
        rej("ringbuf_output_negative_size", S, "*(u64 *)(r10 - 8) = 0\nr1 = map_idx(2) ll\nr2 = r10\nr2 += -8\nr3 = -1\nr4 = 0\ncall bpf_ringbuf_output\nr0 = 0\nexit", R::HelperArgument),
        rej("ringbuf_output_unbounded", S, "*(u64 *)(r10 - 8) = 0\nr3 = *(u32 *)(r1 + 0)\nr1 = map_idx(2) ll\nr2 = r10\nr2 += -8\nr4 = 0\ncall bpf_ringbuf_output\nr0 = 0\nexit", R::HelperArgument),
        acc("ringbuf_output_bounded", S, "*(u64 *)(r10 - 8) = 0\nr3 = *(u32 *)(r1 + 0)\nr3 &= 7\nr3 += 1\nr1 = map_idx(2) ll\nr2 = r10\nr2 += -8\nr4 = 0\ncall bpf_ringbuf_output\nr0 = 0\nexit"),
        acc("ringbuf_query", S, "r1 = map_idx(2) ll\nr2 = 0\ncall bpf_ringbuf_query\nr0 = 0\nexit"),
        acc("tail_call", S, "r2 = map_idx(3) ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit"),
        // A program array holds one program type: a target verified against
        // another context layout must not run on the caller's.
        acc("tail_call_same_type", Xdp, "r2 = map_idx(8) ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit"),
        rej("tail_call_other_type", S, "r2 = map_idx(8) ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit", R::HelperArgument)
            .no_kernel("the kernel sets a program array's type when the first program is put in it; this corpus loads none"),
        rej("tail_call_wrong_map", S, "r2 = map_idx(0) ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit", R::HelperArgument),
        rej("tail_call_not_ctx", S, "r1 = r10\nr2 = map_idx(3) ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit", R::HelperArgument),
        rej("tail_call_with_record", S, format!("r6 = r1\n{RESERVE}if r0 == 0 goto out\nr7 = r0\nr1 = r6\nr2 = map_idx(3) ll\nr3 = 0\ncall bpf_tail_call\nr1 = r7\nr2 = 0\ncall bpf_ringbuf_discard\nout:\nr0 = 0\nexit"), R::ReferenceLeak),
        acc("queue_push_pop", S, "*(u64 *)(r10 - 8) = 0\nr1 = map_idx(5) ll\nr2 = r10\nr2 += -8\nr3 = 0\ncall bpf_map_push_elem\nr1 = map_idx(5) ll\nr2 = r10\nr2 += -8\ncall bpf_map_pop_elem\nr0 = 0\nexit"),
        acc("queue_pop_uninit_ok", S, "r1 = map_idx(5) ll\nr2 = r10\nr2 += -8\ncall bpf_map_peek_elem\nr0 = *(u64 *)(r10 - 8)\nexit"),
        rej("queue_lookup", S, format!("{}call bpf_map_lookup_elem\nr0 = 0\nexit", key(5, 4)), R::HelperArgument),
        rej("push_on_hash", S, "*(u64 *)(r10 - 8) = 0\nr1 = map_idx(0) ll\nr2 = r10\nr2 += -8\nr3 = 0\ncall bpf_map_push_elem\nr0 = 0\nexit", R::HelperArgument),
        acc("perf_event_output", S, "*(u64 *)(r10 - 8) = 0\nr2 = map_idx(6) ll\nr3 = 0xffffffff ll\nr4 = r10\nr4 += -8\nr5 = 8\ncall bpf_perf_event_output\nr0 = 0\nexit"),
        acc("trace_printk_rodata", Kprobe, "r1 = map_idx_value(4, 0) ll\nr2 = 6\nr3 = 1\ncall bpf_trace_printk\nr0 = 0\nexit"),
        acc("trace_printk_stack", S, "*(u64 *)(r10 - 8) = 0\nr1 = r10\nr1 += -8\nr2 = 8\ncall bpf_trace_printk\nr0 = 0\nexit"),
        acc("snprintf", Kprobe, "*(u64 *)(r10 - 8) = 5\nr1 = r10\nr1 += -24\nr2 = 16\nr3 = map_idx_value(4, 0) ll\nr4 = r10\nr4 += -8\nr5 = 8\ncall bpf_snprintf\nr0 = 0\nexit"),
        rej("snprintf_fmt_on_stack", Kprobe, "*(u64 *)(r10 - 8) = 0\nr1 = r10\nr1 += -24\nr2 = 16\nr3 = r10\nr3 += -8\nr4 = 0\nr5 = 0\ncall bpf_snprintf\nr0 = 0\nexit", R::HelperArgument),
        acc("strncmp", S, "*(u64 *)(r10 - 8) = 0\nr1 = r10\nr1 += -8\nr2 = 8\nr3 = map_idx_value(4, 0) ll\ncall bpf_strncmp\nr0 = 0\nexit"),
        acc("probe_read_kernel", Kprobe, "r1 = r10\nr1 += -16\nr2 = 16\nr3 = 0\ncall bpf_probe_read_kernel\nr0 = *(u64 *)(r10 - 8)\nexit"),
        rej("probe_read_legacy_in_xdp", Xdp, "r1 = r10\nr1 += -16\nr2 = 16\nr3 = 0\ncall bpf_probe_read\nr0 = 2\nexit", R::HelperUnavailable),
        acc("probe_read_user_in_xdp", Xdp, "r1 = r10\nr1 += -16\nr2 = 16\nr3 = 0\ncall bpf_probe_read_user\nr0 = 2\nexit"),
        acc("probe_read_kernel_in_xdp", Xdp, "r1 = r10\nr1 += -16\nr2 = 16\nr3 = 0\ncall bpf_probe_read_kernel\nr0 = 2\nexit"),
        rej("probe_read_size_unbounded", Kprobe, "r2 = *(u64 *)(r1 + 112)\nr1 = r10\nr1 += -16\nr3 = 0\ncall bpf_probe_read_kernel\nr0 = 0\nexit", R::HelperArgument),
        rej("probe_read_past_stack", Kprobe, "r1 = r10\nr1 += -16\nr2 = 32\nr3 = 0\ncall bpf_probe_read_kernel\nr0 = 0\nexit", R::OutOfBounds),
        acc("get_current_comm", Kprobe, "r1 = r10\nr1 += -16\nr2 = 16\ncall bpf_get_current_comm\nr0 = 0\nexit"),
        acc("ktime", S, "call bpf_ktime_get_ns\nexit"),
        acc("prandom_bounded", S, "call bpf_get_prandom_u32\nr0 >>= 31\nexit"),
        acc("smp_id", S, "call bpf_get_smp_processor_id\nexit"),
        acc("pid_tgid", Kprobe, "call bpf_get_current_pid_tgid\nexit"),
        acc("skb_load_bytes", S, "r2 = 0\nr3 = r10\nr3 += -16\nr4 = 14\ncall bpf_skb_load_bytes\nr0 = *(u32 *)(r10 - 16)\nexit"),
        rej("skb_load_bytes_in_xdp", Xdp, "r2 = 0\nr3 = r10\nr3 += -16\nr4 = 14\ncall bpf_skb_load_bytes\nr0 = 2\nexit", R::HelperUnavailable),
        rej("xdp_adjust_head_in_tc", Tc, "r2 = 0\ncall bpf_xdp_adjust_head\nr0 = 0\nexit", R::HelperUnavailable),
        rej("unknown_helper", S, "call 9999\nr0 = 0\nexit", R::UnknownHelper),
        // Every kernel helper has a prototype: the verdict is the kernel's,
        // whether or not oxbpf's runtime implements the helper.
        acc("skb_store_bytes", Tc, "*(u32 *)(r10 - 4) = 0\nr2 = 14\nr3 = r10\nr3 += -4\nr4 = 4\nr5 = 0\ncall bpf_skb_store_bytes\nr0 = 0\nexit"),
        rej("skb_store_bytes_uninit_size", Tc, "*(u32 *)(r10 - 4) = 0\nr2 = 14\nr3 = r10\nr3 += -4\nr5 = 0\ncall bpf_skb_store_bytes\nr0 = 0\nexit", R::UninitRegister),
        rej("skb_store_bytes_in_xdp", Xdp, "*(u32 *)(r10 - 4) = 0\nr2 = 14\nr3 = r10\nr3 += -4\nr4 = 4\nr5 = 0\ncall bpf_skb_store_bytes\nr0 = 0\nexit", R::HelperUnavailable),
        acc("fib_lookup", Xdp, format!("{}r2 = r10\nr2 += -64\nr3 = 64\nr4 = 0\ncall bpf_fib_lookup\nr0 = 2\nexit", (1..=8).map(|k| format!("*(u64 *)(r10 - {}) = 0\n", k * 8)).collect::<String>())),
        acc("redirect", Xdp, "r1 = 1\nr2 = 0\ncall bpf_redirect\nexit"),
        acc("csum_diff", Tc, "*(u64 *)(r10 - 8) = 0\nr1 = 0\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = 8\nr5 = 0\ncall bpf_csum_diff\nr0 = 0\nexit"),
        acc("jiffies64", Xdp, "call bpf_jiffies64\nr0 = 2\nexit"),
        // bpf_tail_call and bpf_ringbuf_submit return nothing: r0 is unreadable after them.
        rej("tail_call_r0_unreadable", S, "r2 = map_idx(3) ll\nr3 = 0\ncall bpf_tail_call\nexit", R::UninitRegister),
        // Socket lookups acquire a reference that every path must release.
        acc("sk_lookup_release", Tc, format!("{SK_LOOKUP}if r0 == 0 goto out\nr1 = r0\ncall bpf_sk_release\nout:\nr0 = 0\nexit")),
        acc("sk_lookup_read_family", Tc, format!("{SK_LOOKUP}if r0 == 0 goto out\nr7 = *(u32 *)(r0 + 4)\nr1 = r0\ncall bpf_sk_release\nr0 = r7\nexit\nout:\nr0 = 0\nexit")),
        rej("sk_lookup_leak", Tc, format!("{SK_LOOKUP}r0 = 0\nexit"), R::ReferenceLeak),
        rej("sk_lookup_null_unchecked", Tc, format!("{SK_LOOKUP}r1 = r0\ncall bpf_sk_release\nr0 = 0\nexit"), R::PossiblyNull),
        rej("sk_use_after_release", Tc, format!("{SK_LOOKUP}if r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall bpf_sk_release\nr0 = *(u32 *)(r6 + 4)\nexit\nout:\nr0 = 0\nexit"), R::InvalidMemAccess),
        rej("sk_write", Tc, format!("{SK_LOOKUP}if r0 == 0 goto out\nr6 = r0\n*(u32 *)(r0 + 4) = 1\nr1 = r6\ncall bpf_sk_release\nout:\nr0 = 0\nexit"), R::InvalidMemAccess),
        rej("sk_past_end", Tc, format!("{SK_LOOKUP}if r0 == 0 goto out\nr7 = *(u32 *)(r0 + 80)\nr1 = r0\ncall bpf_sk_release\nout:\nr0 = 0\nexit"), R::OutOfBounds),
        acc("sk_fullsock_derived", Tc, format!("{SK_LOOKUP}if r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall bpf_sk_fullsock\nif r0 == 0 goto rel\nr7 = *(u32 *)(r0 + 0)\nrel:\nr1 = r6\ncall bpf_sk_release\nout:\nr0 = 0\nexit")),
        // As in the kernel, releasing a pointer derived from the socket releases the socket.
        acc("sk_release_derived", Tc, format!("{SK_LOOKUP}if r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall bpf_sk_fullsock\nif r0 == 0 goto rel\nr1 = r0\ncall bpf_sk_release\nr0 = 0\nexit\nrel:\nr1 = r6\ncall bpf_sk_release\nout:\nr0 = 0\nexit")),
        rej("sk_release_twice", Tc, format!("{SK_LOOKUP}if r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall bpf_sk_release\nr1 = r6\ncall bpf_sk_release\nout:\nr0 = 0\nexit"), R::HelperArgument),
        rej("get_current_comm_unprivileged", S, "r1 = r10\nr1 += -16\nr2 = 16\ncall bpf_get_current_comm\nr0 = 0\nexit", R::HelperUnavailable).unpriv(),
        rej("spin_lock_unmodelled", S, "r1 = map_idx_value(4, 0) ll\ncall bpf_spin_lock\nr0 = 0\nexit", R::Unsupported),
        acc("bpf_loop", S, "r1 = 4\nr2 = code_addr(+6) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit\nr0 = 0\nexit")
            .no_kernel(CALLBACK),
        acc("bpf_loop_ctx_stack", S, "*(u64 *)(r10 - 8) = 0\nr1 = 4\nr2 = code_addr(+7) ll\nr3 = r10\nr3 += -8\nr4 = 0\ncall bpf_loop\nr0 = *(u64 *)(r10 - 8)\nexit\nr3 = *(u64 *)(r2 + 0)\nr3 += r1\n*(u64 *)(r2 + 0) = r3\nr0 = 0\nexit")
            .no_kernel(CALLBACK),
        rej("bpf_loop_callback_ret_2", S, "r1 = 4\nr2 = code_addr(+6) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit\nr0 = 2\nexit", R::ReturnValue)
            .no_kernel(CALLBACK),
        rej("bpf_loop_callback_uninit_r3", S, "r1 = 4\nr2 = code_addr(+6) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit\nr0 = r3\nexit", R::UninitRegister)
            .no_kernel(CALLBACK),
        rej("bpf_loop_not_func", S, "r1 = 4\nr2 = 0\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit", R::HelperArgument)
            .no_kernel(CALLBACK),
        rej("bpf_loop_ctx_scalar", S, "r1 = 4\nr2 = code_addr(+6) ll\nr3 = 1\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit\nr0 = 0\nexit", R::HelperArgument)
            .no_kernel(CALLBACK),
        rej("bpf_loop_callback_bad_access", S, "r1 = 4\nr2 = code_addr(+6) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nr0 = 0\nexit\nr0 = *(u64 *)(r2 + 0)\nr0 = 0\nexit", R::InvalidMemAccess)
            .no_kernel(CALLBACK),
        acc("for_each_map_elem", S, "r1 = map_idx(1) ll\nr2 = code_addr(+6) ll\nr3 = 0\nr4 = 0\ncall bpf_for_each_map_elem\nr0 = 0\nexit\nr0 = *(u32 *)(r2 + 0)\nr0 = *(u64 *)(r3 + 8)\nr0 = 0\nexit")
            .no_kernel(CALLBACK),
        rej("for_each_value_past_end", S, "r1 = map_idx(1) ll\nr2 = code_addr(+6) ll\nr3 = 0\nr4 = 0\ncall bpf_for_each_map_elem\nr0 = 0\nexit\nr0 = *(u64 *)(r3 + 16)\nr0 = 0\nexit", R::OutOfBounds)
            .no_kernel(CALLBACK),
        rej("for_each_key_write", S, "r1 = map_idx(1) ll\nr2 = code_addr(+6) ll\nr3 = 0\nr4 = 0\ncall bpf_for_each_map_elem\nr0 = 0\nexit\n*(u32 *)(r2 + 0) = 1\nr0 = 0\nexit", R::ReadOnly)
            .no_kernel(CALLBACK),
    ]);
    v
}
