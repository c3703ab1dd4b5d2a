//! What a program's section name asks of `BPF_PROG_LOAD` beyond its type:
//! the expected attach type, load flags, and the kernel BTF function or
//! type a tracing program attaches to.

/// Load-time attributes derived from a section name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadHints {
    /// `enum bpf_attach_type` for `expected_attach_type`.
    pub expected_attach_type: u32,
    /// `prog_flags` (sleepable, XDP frags).
    pub prog_flags: u32,
    /// A name to look up in the kernel's BTF for `attach_btf_id`.
    pub btf_target: Option<String>,
}

const BPF_F_SLEEPABLE: u32 = 1 << 4;
const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// Section prefixes and their expected attach types, most specific first.
const ATTACH: &[(&str, u32)] = &[
    ("cgroup_skb/ingress", 0),
    ("cgroup_skb/egress", 1),
    ("cgroup/sock_create", 2),
    ("cgroup/sock_release", 34),
    ("sockops", 3),
    ("sk_skb/stream_parser", 4),
    ("sk_skb/stream_verdict", 5),
    ("sk_skb/verdict", 38),
    ("cgroup/dev", 6),
    ("sk_msg", 7),
    ("cgroup/bind4", 8),
    ("cgroup/bind6", 9),
    ("cgroup/connect4", 10),
    ("cgroup/connect6", 11),
    ("cgroup/post_bind4", 12),
    ("cgroup/post_bind6", 13),
    ("cgroup/sendmsg4", 14),
    ("cgroup/sendmsg6", 15),
    ("cgroup/recvmsg4", 19),
    ("cgroup/recvmsg6", 20),
    ("cgroup/getpeername4", 29),
    ("cgroup/getpeername6", 30),
    ("cgroup/getsockname4", 31),
    ("cgroup/getsockname6", 32),
    ("cgroup/sysctl", 18),
    ("cgroup/getsockopt", 21),
    ("cgroup/setsockopt", 22),
    ("flow_dissector", 17),
    ("tp_btf", 23),
    ("fentry", 24),
    ("fexit", 25),
    ("fmod_ret", 26),
    ("lsm", 27),
    ("iter", 28),
    ("sk_lookup", 36),
    ("xdp", 37),
    ("kprobe.multi", 42),
    ("kretprobe.multi", 42),
    ("kprobe.session", 56),
    ("uprobe.multi", 48),
    ("uretprobe.multi", 48),
    ("tcx/ingress", 46),
    ("tcx/egress", 47),
    ("netkit/primary", 54),
    ("netkit/peer", 55),
];

/// The load hints for a program in `section`.
pub fn load_hints(section: &str) -> LoadHints {
    let mut hints = LoadHints::default();
    let (head, target) = match section.split_once('/') {
        Some((h, t)) => (h, Some(t)),
        None => (section, None),
    };
    let base = head.strip_suffix(".s").unwrap_or(head);
    if base != head {
        hints.prog_flags |= BPF_F_SLEEPABLE;
    }
    if head == "syscall" {
        hints.prog_flags |= BPF_F_SLEEPABLE;
    }
    if head == "xdp.frags" {
        hints.prog_flags |= BPF_F_XDP_HAS_FRAGS;
    }
    let base = if head == "xdp.frags" { "xdp" } else { base };
    let rebuilt = match target {
        Some(t) => format!("{base}/{t}"),
        None => base.to_string(),
    };
    if let Some(&(_, t)) = ATTACH
        .iter()
        .find(|(p, _)| rebuilt == *p || rebuilt.starts_with(&format!("{p}/")))
    {
        hints.expected_attach_type = t;
    }
    let target = target.filter(|t| !t.is_empty());
    hints.btf_target = match (base, target) {
        ("tp_btf", Some(t)) => Some(format!("btf_trace_{t}")),
        ("fentry" | "fexit" | "fmod_ret", Some(t)) => Some(t.to_string()),
        ("lsm", Some(t)) => Some(format!("bpf_lsm_{t}")),
        ("iter", Some(t)) => Some(format!("bpf_iter_{t}")),
        _ => None,
    };
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_give_attach_types_flags_and_targets() {
        let h = load_hints("cgroup/connect4");
        assert_eq!((h.expected_attach_type, h.prog_flags), (10, 0));
        let h = load_hints("xdp.frags");
        assert_eq!((h.expected_attach_type, h.prog_flags), (37, 1 << 5));
        let h = load_hints("fentry.s/do_unlinkat");
        assert_eq!(h.expected_attach_type, 24);
        assert_eq!(h.prog_flags, 1 << 4);
        assert_eq!(h.btf_target.as_deref(), Some("do_unlinkat"));
        assert_eq!(
            load_hints("tp_btf/sched_switch").btf_target.as_deref(),
            Some("btf_trace_sched_switch")
        );
        assert_eq!(
            load_hints("lsm/file_open").btf_target.as_deref(),
            Some("bpf_lsm_file_open")
        );
        assert_eq!(load_hints("socket"), LoadHints::default());
        assert_eq!(load_hints("kprobe/x").expected_attach_type, 0);
    }
}
