//! Return values per program type, and the unprivileged mode's rules.

use oxbpf_object::ProgramType::{
    CgroupSkb, CgroupSock, Kprobe, SchedCls as Tc, SocketFilter as S, Xdp,
};
use oxbpf_verifier::Reason as R;

use super::{acc, rej, Case};

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (ty, tname) in [(CgroupSkb, "cgroup_skb"), (CgroupSock, "cgroup_sock")] {
        for r in [0i64, 1] {
            v.push(acc(
                format!("{tname}_returns_{r}"),
                ty,
                format!("r0 = {r}\nexit"),
            ));
        }
        for r in [2i64, -1, 100] {
            v.push(rej(
                format!("{tname}_returns_{r}"),
                ty,
                format!("r0 = {r}\nexit"),
                R::ReturnValue,
            ));
        }
        v.push(rej(
            format!("{tname}_returns_unknown"),
            ty,
            "call bpf_get_prandom_u32\nexit",
            R::ReturnValue,
        ));
        v.push(acc(
            format!("{tname}_returns_masked"),
            ty,
            "call bpf_get_prandom_u32\nr0 &= 1\nexit",
        ));
        v.push(rej(
            format!("{tname}_returns_pointer"),
            ty,
            "r0 = r10\nexit",
            R::ReturnValue,
        ));
    }
    for (ty, tname) in [(Xdp, "xdp"), (Tc, "tc"), (S, "socket"), (Kprobe, "kprobe")] {
        for r in [0i64, 2, 7, -1] {
            v.push(acc(
                format!("{tname}_returns_{r}"),
                ty,
                format!("r0 = {r}\nexit"),
            ));
        }
        v.push(acc(
            format!("{tname}_returns_unknown"),
            ty,
            "call bpf_ktime_get_ns\nexit",
        ));
        v.push(rej(
            format!("{tname}_returns_uninit"),
            ty,
            "exit",
            R::UninitRegister,
        ));
    }
    let lookup = "r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr1 = map_idx(0) ll\ncall bpf_map_lookup_elem\nif r0 == 0 goto out\n";
    v.extend([
        acc("unpriv_simple", S, "r0 = 0\nexit").unpriv(),
        acc("unpriv_cgroup_skb", CgroupSkb, "r0 = 1\nexit").unpriv(),
        rej("unpriv_xdp", Xdp, "r0 = 2\nexit", R::HelperUnavailable).unpriv(),
        rej("unpriv_kprobe", Kprobe, "r0 = 0\nexit", R::HelperUnavailable).unpriv(),
        acc("unpriv_map_lookup", S, format!("{lookup}r1 = *(u64 *)(r0 + 0)\nout:\nr0 = 0\nexit")).unpriv(),
        acc("unpriv_null_check", S, format!("{lookup}*(u64 *)(r0 + 0) = 1\nout:\nr0 = 0\nexit")).unpriv(),
        rej("unpriv_leak_into_map", S, format!("{lookup}*(u64 *)(r0 + 0) = r10\nout:\nr0 = 0\nexit"), R::PointerLeak).unpriv(),
        acc("priv_pointer_into_map", S, format!("{lookup}*(u64 *)(r0 + 0) = r10\nout:\nr0 = 0\nexit")),
        rej("unpriv_return_pointer", S, "r0 = r10\nexit", R::PointerLeak).unpriv(),
        acc("priv_return_pointer", S, "r0 = r10\nexit"),
        rej("unpriv_pointer_compare", S, "r0 = 0\nr2 = r10\nif r2 > r1 goto +0\nexit", R::PointerComparison).unpriv(),
        acc("priv_pointer_compare", S, "r0 = 0\nr2 = r10\nif r2 > r1 goto +0\nexit"),
        rej("unpriv_pointer_vs_number", S, "r0 = 0\nif r1 == 5 goto +0\nexit", R::PointerComparison).unpriv(),
        rej("unpriv_pointer_sub", S, "r2 = r10\nr2 -= r10\nr0 = 0\nexit", R::PointerLeak).unpriv(),
        rej("unpriv_partial_pointer_copy", S, "w2 = w10\nr0 = 0\nexit", R::PointerLeak).unpriv(),
        rej("unpriv_trace_printk", S, "*(u64 *)(r10 - 8) = 0\nr1 = r10\nr1 += -8\nr2 = 8\ncall bpf_trace_printk\nr0 = 0\nexit", R::HelperUnavailable).unpriv(),
        acc("unpriv_ktime", S, "call bpf_ktime_get_ns\nr0 = 0\nexit").unpriv(),
        rej("unpriv_var_stack", S, "r2 = *(u32 *)(r1 + 0)\nr2 &= 7\nr3 = r10\nr3 += -8\nr3 += r2\nr0 = 0\nexit", R::PointerArithmetic).unpriv(),
        rej("unpriv_uninit_stack", S, "r0 = *(u64 *)(r10 - 8)\nexit", R::UninitStack).unpriv(),
        acc("unpriv_spill_pointer", S, "*(u64 *)(r10 - 8) = r1\nr1 = *(u64 *)(r10 - 8)\nr0 = 0\nexit").unpriv(),
        rej("unpriv_helper_reads_spilled_pointer", S, "*(u64 *)(r10 - 8) = r10\nr1 = map_idx(2) ll\nr2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall bpf_ringbuf_output\nr0 = 0\nexit", R::PointerLeak).unpriv(),
        rej("unpriv_map_value_holds_spilled_pointer", S, "*(u64 *)(r10 - 16) = r10\n*(u32 *)(r10 - 4) = 0\nr1 = map_idx(0) ll\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -16\nr4 = 0\ncall bpf_map_update_elem\nr0 = 0\nexit", R::PointerLeak).unpriv(),
        acc("priv_map_value_holds_spilled_pointer", S, "*(u64 *)(r10 - 16) = r10\n*(u32 *)(r10 - 4) = 0\nr1 = map_idx(0) ll\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -16\nr4 = 0\ncall bpf_map_update_elem\nr0 = 0\nexit"),
    ]);
    // Return values that depend on the attach type (the section name).
    use oxbpf_object::ProgramType::{CgroupSockAddr, Tracing};
    for (name, ty, section, r0, ok) in [
        (
            "ret_cgroup_skb_egress_3",
            CgroupSkb,
            "cgroup_skb/egress",
            3,
            true,
        ),
        (
            "ret_cgroup_skb_egress_4",
            CgroupSkb,
            "cgroup_skb/egress",
            4,
            false,
        ),
        (
            "ret_cgroup_skb_ingress_2",
            CgroupSkb,
            "cgroup_skb/ingress",
            2,
            false,
        ),
        (
            "ret_sock_addr_recvmsg4_1",
            CgroupSockAddr,
            "cgroup/recvmsg4",
            1,
            true,
        ),
        (
            "ret_sock_addr_recvmsg4_0",
            CgroupSockAddr,
            "cgroup/recvmsg4",
            0,
            false,
        ),
        (
            "ret_sock_addr_recvmsg6_0",
            CgroupSockAddr,
            "cgroup/recvmsg6",
            0,
            false,
        ),
        (
            "ret_sock_addr_bind4_3",
            CgroupSockAddr,
            "cgroup/bind4",
            3,
            true,
        ),
        (
            "ret_sock_addr_bind6_4",
            CgroupSockAddr,
            "cgroup/bind6",
            4,
            false,
        ),
        (
            "ret_sock_addr_connect4_0",
            CgroupSockAddr,
            "cgroup/connect4",
            0,
            true,
        ),
        (
            "ret_sock_addr_connect4_3",
            CgroupSockAddr,
            "cgroup/connect4",
            3,
            false,
        ),
        (
            "ret_sock_addr_sendmsg4_2",
            CgroupSockAddr,
            "cgroup/sendmsg4",
            2,
            false,
        ),
    ] {
        let asm = format!("r0 = {r0}\nexit");
        let case = if ok {
            acc(name, ty, asm)
        } else {
            rej(name, ty, asm, R::ReturnValue)
        };
        v.push(case.section(section));
    }
    // Tracing programs attach through BTF, which the assembly corpus has not.
    let why = "fentry, fexit and iter programs need a BTF attach target";
    for (name, section, r0, ok) in [
        ("ret_fentry_0", "fentry/do_nanosleep", 0, true),
        ("ret_fentry_1", "fentry/do_nanosleep", 1, false),
        ("ret_fexit_1", "fexit/do_nanosleep", 1, false),
        ("ret_iter_1", "iter/task", 1, true),
        ("ret_iter_2", "iter/task", 2, false),
        ("ret_fmod_ret_any", "fmod_ret/do_nanosleep", -22, true),
    ] {
        let asm = format!("r0 = {r0}\nexit");
        let case = if ok {
            acc(name, Tracing, asm)
        } else {
            rej(name, Tracing, asm, R::ReturnValue)
        };
        v.push(case.section(section).no_kernel(why));
    }
    v
}
