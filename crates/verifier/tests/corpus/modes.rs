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
    ]);
    v
}
