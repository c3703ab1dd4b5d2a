//! Packet access: data + N <= data_end before every access, per program type.

use oxbpf_object::ProgramType::{CgroupSkb, SchedCls as Tc, SocketFilter as S, Xdp};
use oxbpf_verifier::Reason as R;

use super::{acc, rej, Case};

/// r2 = data, r3 = data_end for XDP (xdp_md) or __sk_buff.
fn load(xdp: bool) -> &'static str {
    if xdp {
        "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\n"
    } else {
        "r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\n"
    }
}

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    // Check N bytes, then access `size` bytes at `off`: fine iff off + size <= N.
    for (ty, tname, xdp) in [(Xdp, "xdp", true), (Tc, "tc", false)] {
        for n in [1i64, 2, 4, 8, 14, 20, 34] {
            for (size, sz) in [("u8", 1i64), ("u16", 2), ("u32", 4), ("u64", 8)] {
                for off in [0, n - sz, n - sz + 1] {
                    if off < 0 || (off != 0 && off == n - sz + 1 && n - sz + 1 < 0) {
                        continue;
                    }
                    let ok = off + sz <= n;
                    let asm = format!(
                        "{}r4 = r2\nr4 += {n}\nif r4 > r3 goto out\nr0 = *({size} *)(r2 + {off})\nout:\nr0 = 0\nexit",
                        load(xdp)
                    );
                    let name = format!("{tname}_check{n}_{size}_at{off}");
                    if v.iter().any(|c: &Case| c.name == name) {
                        continue;
                    }
                    v.push(if ok {
                        acc(name, ty, asm)
                    } else {
                        rej(name, ty, asm, R::PacketBounds)
                    });
                }
            }
        }
    }
    let x = load(true);
    v.extend([
        rej("xdp_no_check", Xdp, format!("{x}r0 = *(u8 *)(r2 + 0)\nr0 = 2\nexit"), R::PacketBounds),
        rej("xdp_check_wrong_branch", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r4 > r3 goto +2\nr0 = 2\nexit\nr0 = *(u8 *)(r2 + 0)\nexit"), R::PacketBounds),
        acc("xdp_check_ge", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r4 >= r3 goto out\nr0 = *(u64 *)(r2 + 0)\nout:\nr0 = 2\nexit")),
        acc("xdp_check_lt_taken", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r4 < r3 goto +2\nr0 = 2\nexit\nr0 = *(u32 *)(r2 + 4)\nr0 = 2\nexit")),
        acc("xdp_check_le_taken", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r4 <= r3 goto +2\nr0 = 2\nexit\nr0 = *(u32 *)(r2 + 4)\nr0 = 2\nexit")),
        acc("xdp_check_end_first", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r3 < r4 goto out\nr0 = *(u64 *)(r2 + 0)\nout:\nr0 = 2\nexit")),
        acc("xdp_check_end_ge", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r3 >= r4 goto +2\nr0 = 2\nexit\nr0 = *(u64 *)(r2 + 0)\nr0 = 2\nexit")),
        acc("xdp_access_through_checked", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r4 > r3 goto out\nr0 = *(u32 *)(r4 - 4)\nout:\nr0 = 2\nexit")),
        rej("xdp_access_past_checked", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r4 > r3 goto out\nr0 = *(u32 *)(r4 + 0)\nout:\nr0 = 2\nexit"), R::PacketBounds),
        acc("xdp_write_checked", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r4 > r3 goto out\n*(u32 *)(r2 + 0) = 1\nout:\nr0 = 2\nexit")),
        acc("xdp_var_offset_checked", Xdp, format!("{x}r5 = *(u32 *)(r1 + 12)\nr5 &= 15\nr2 += r5\nr4 = r2\nr4 += 4\nif r4 > r3 goto out\nr0 = *(u32 *)(r2 + 0)\nout:\nr0 = 2\nexit")),
        rej("xdp_var_offset_stale_check", Xdp, format!("{x}r4 = r2\nr4 += 4\nif r4 > r3 goto out\nr5 = *(u32 *)(r1 + 12)\nr5 &= 15\nr2 += r5\nr0 = *(u8 *)(r2 + 0)\nout:\nr0 = 2\nexit"), R::PacketBounds),
        rej("xdp_var_offset_unbounded", Xdp, format!("{x}r5 = *(u32 *)(r1 + 12)\nr2 += r5\nr4 = r2\nr4 += 4\nif r4 > r3 goto out\nr0 = *(u32 *)(r2 + 0)\nout:\nr0 = 2\nexit"), R::PacketBounds),
        rej("xdp_read_data_end", Xdp, format!("{x}r0 = *(u8 *)(r3 + 0)\nr0 = 2\nexit"), R::InvalidMemAccess),
        rej("xdp_data_end_arith", Xdp, format!("{x}r3 += 1\nr0 = 2\nexit"), R::PointerArithmetic),
        rej("xdp_negative_offset", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r4 > r3 goto out\nr0 = *(u8 *)(r2 - 1)\nout:\nr0 = 2\nexit"), R::PacketBounds),
        acc("xdp_meta_checked", Xdp, "r2 = *(u32 *)(r1 + 8)\nr3 = *(u32 *)(r1 + 0)\nr4 = r2\nr4 += 4\nif r4 > r3 goto out\nr0 = *(u32 *)(r2 + 0)\nout:\nr0 = 2\nexit"),
        rej("xdp_meta_unchecked", Xdp, "r2 = *(u32 *)(r1 + 8)\nr0 = *(u32 *)(r2 + 0)\nr0 = 2\nexit", R::PacketBounds),
        rej("xdp_adjust_head_invalidates", Xdp, format!("{x}r4 = r2\nr4 += 8\nif r4 > r3 goto out\nr6 = r2\nr2 = 0\ncall bpf_xdp_adjust_head\nr0 = *(u8 *)(r6 + 0)\nout:\nr0 = 2\nexit"), R::InvalidMemAccess),
        acc("xdp_adjust_head_reload", Xdp, "r6 = r1\nr2 = 0\ncall bpf_xdp_adjust_head\nr2 = *(u32 *)(r6 + 0)\nr3 = *(u32 *)(r6 + 4)\nr4 = r2\nr4 += 1\nif r4 > r3 goto out\nr0 = *(u8 *)(r2 + 0)\nout:\nr0 = 2\nexit"),
        rej("cgroup_skb_write_packet", CgroupSkb, format!("{}r4 = r2\nr4 += 8\nif r4 > r3 goto out\n*(u8 *)(r2 + 0) = 1\nout:\nr0 = 1\nexit", load(false)), R::ReadOnly),
        acc("cgroup_skb_read_packet", CgroupSkb, format!("{}r4 = r2\nr4 += 8\nif r4 > r3 goto out\nr0 = *(u8 *)(r2 + 0)\nout:\nr0 = 1\nexit", load(false))),
        rej("socket_filter_no_direct_access", S, "r2 = *(u32 *)(r1 + 76)\nr0 = 0\nexit", R::ContextAccess),
        acc("ld_abs_socket", S, "r6 = r1\nr0 = *(u16 *)skb[12]\nexit"),
        acc("ld_ind_socket", S, "r6 = r1\nr7 = 2\nr0 = *(u8 *)skb[r7 + 14]\nexit"),
        rej("ld_abs_needs_r6_ctx", S, "r0 = *(u16 *)skb[12]\nexit", R::UninitRegister),
        rej("ld_abs_in_xdp", Xdp, "r6 = r1\nr0 = *(u16 *)skb[12]\nexit", R::Unsupported),
        rej("ld_abs_clobbers_r1", S, "r6 = r1\nr0 = *(u16 *)skb[12]\nr0 = r1\nexit", R::UninitRegister),
        acc("pkt_pointer_compare_priv", Xdp, format!("{x}if r2 == r3 goto +0\nr0 = 2\nexit")),
        acc("pkt_len_from_pointers", Xdp, format!("{x}r3 -= r2\nr0 = r3\nexit")),
    ]);
    v
}
