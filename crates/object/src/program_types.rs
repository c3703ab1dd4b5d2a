//! Program types and the libbpf `SEC()` names that select them.

/// The kernel's program types (`enum bpf_prog_type`), with their ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgramType {
    SocketFilter,
    Kprobe,
    SchedCls,
    SchedAct,
    Tracepoint,
    Xdp,
    PerfEvent,
    CgroupSkb,
    CgroupSock,
    LwtIn,
    LwtOut,
    LwtXmit,
    SockOps,
    SkSkb,
    CgroupDevice,
    SkMsg,
    RawTracepoint,
    CgroupSockAddr,
    LwtSeg6local,
    LircMode2,
    SkReuseport,
    FlowDissector,
    CgroupSysctl,
    RawTracepointWritable,
    CgroupSockopt,
    Tracing,
    StructOps,
    Ext,
    Lsm,
    SkLookup,
    Syscall,
    Netfilter,
    /// A section name no convention covers.
    Unspec,
}

impl ProgramType {
    /// The kernel's numeric id.
    pub fn kernel_id(self) -> u32 {
        use ProgramType::*;
        match self {
            Unspec => 0,
            SocketFilter => 1,
            Kprobe => 2,
            SchedCls => 3,
            SchedAct => 4,
            Tracepoint => 5,
            Xdp => 6,
            PerfEvent => 7,
            CgroupSkb => 8,
            CgroupSock => 9,
            LwtIn => 10,
            LwtOut => 11,
            LwtXmit => 12,
            SockOps => 13,
            SkSkb => 14,
            CgroupDevice => 15,
            SkMsg => 16,
            RawTracepoint => 17,
            CgroupSockAddr => 18,
            LwtSeg6local => 19,
            LircMode2 => 20,
            SkReuseport => 21,
            FlowDissector => 22,
            CgroupSysctl => 23,
            RawTracepointWritable => 24,
            CgroupSockopt => 25,
            Tracing => 26,
            StructOps => 27,
            Ext => 28,
            Lsm => 29,
            SkLookup => 30,
            Syscall => 31,
            Netfilter => 32,
        }
    }

    /// bpftool's name for the type.
    pub fn name(self) -> &'static str {
        use ProgramType::*;
        match self {
            Unspec => "unspec",
            SocketFilter => "socket_filter",
            Kprobe => "kprobe",
            SchedCls => "sched_cls",
            SchedAct => "sched_act",
            Tracepoint => "tracepoint",
            Xdp => "xdp",
            PerfEvent => "perf_event",
            CgroupSkb => "cgroup_skb",
            CgroupSock => "cgroup_sock",
            LwtIn => "lwt_in",
            LwtOut => "lwt_out",
            LwtXmit => "lwt_xmit",
            SockOps => "sock_ops",
            SkSkb => "sk_skb",
            CgroupDevice => "cgroup_device",
            SkMsg => "sk_msg",
            RawTracepoint => "raw_tracepoint",
            CgroupSockAddr => "cgroup_sock_addr",
            LwtSeg6local => "lwt_seg6local",
            LircMode2 => "lirc_mode2",
            SkReuseport => "sk_reuseport",
            FlowDissector => "flow_dissector",
            CgroupSysctl => "cgroup_sysctl",
            RawTracepointWritable => "raw_tracepoint_writable",
            CgroupSockopt => "cgroup_sockopt",
            Tracing => "tracing",
            StructOps => "struct_ops",
            Ext => "ext",
            Lsm => "lsm",
            SkLookup => "sk_lookup",
            Syscall => "syscall",
            Netfilter => "netfilter",
        }
    }
}

/// How a `SEC()` name is matched.
#[derive(Clone, Copy)]
enum Form {
    /// The whole name, or the name followed by `/` and an optional attach target.
    Name,
    /// The name followed by `/` and a required attach target.
    Target,
}

use ProgramType as P;

/// libbpf's section-name conventions, most specific first.
const SECTIONS: &[(&str, ProgramType, Form)] = &[
    ("socket", P::SocketFilter, Form::Name),
    ("sk_reuseport/migrate", P::SkReuseport, Form::Name),
    ("sk_reuseport", P::SkReuseport, Form::Name),
    ("kprobe.multi", P::Kprobe, Form::Target),
    ("kretprobe.multi", P::Kprobe, Form::Target),
    ("uprobe.multi.s", P::Kprobe, Form::Name),
    ("uprobe.multi", P::Kprobe, Form::Name),
    ("uretprobe.multi.s", P::Kprobe, Form::Name),
    ("uretprobe.multi", P::Kprobe, Form::Name),
    ("kprobe", P::Kprobe, Form::Name),
    ("kretprobe", P::Kprobe, Form::Name),
    ("uprobe.s", P::Kprobe, Form::Name),
    ("uprobe", P::Kprobe, Form::Name),
    ("uretprobe.s", P::Kprobe, Form::Name),
    ("uretprobe", P::Kprobe, Form::Name),
    ("ksyscall", P::Kprobe, Form::Target),
    ("kretsyscall", P::Kprobe, Form::Target),
    ("usdt.s", P::Kprobe, Form::Name),
    ("usdt", P::Kprobe, Form::Name),
    ("tcx/ingress", P::SchedCls, Form::Name),
    ("tcx/egress", P::SchedCls, Form::Name),
    ("tc/ingress", P::SchedCls, Form::Name),
    ("tc/egress", P::SchedCls, Form::Name),
    ("netkit/primary", P::SchedCls, Form::Name),
    ("netkit/peer", P::SchedCls, Form::Name),
    ("tc", P::SchedCls, Form::Name),
    ("classifier", P::SchedCls, Form::Name),
    ("action", P::SchedAct, Form::Name),
    ("tracepoint", P::Tracepoint, Form::Target),
    ("tp", P::Tracepoint, Form::Target),
    ("raw_tracepoint.w", P::RawTracepointWritable, Form::Target),
    ("raw_tp.w", P::RawTracepointWritable, Form::Target),
    ("raw_tracepoint", P::RawTracepoint, Form::Target),
    ("raw_tp", P::RawTracepoint, Form::Target),
    ("tp_btf", P::Tracing, Form::Target),
    ("fentry.s", P::Tracing, Form::Target),
    ("fmod_ret.s", P::Tracing, Form::Target),
    ("fexit.s", P::Tracing, Form::Target),
    ("fentry", P::Tracing, Form::Target),
    ("fmod_ret", P::Tracing, Form::Target),
    ("fexit", P::Tracing, Form::Target),
    ("iter.s", P::Tracing, Form::Target),
    ("iter", P::Tracing, Form::Target),
    ("freplace", P::Ext, Form::Target),
    ("lsm.s", P::Lsm, Form::Target),
    ("lsm_cgroup", P::Lsm, Form::Target),
    ("lsm", P::Lsm, Form::Target),
    ("xdp.frags/devmap", P::Xdp, Form::Name),
    ("xdp/devmap", P::Xdp, Form::Name),
    ("xdp.frags/cpumap", P::Xdp, Form::Name),
    ("xdp/cpumap", P::Xdp, Form::Name),
    ("xdp.frags", P::Xdp, Form::Name),
    ("xdp", P::Xdp, Form::Name),
    ("perf_event", P::PerfEvent, Form::Name),
    ("lwt_in", P::LwtIn, Form::Name),
    ("lwt_out", P::LwtOut, Form::Name),
    ("lwt_xmit", P::LwtXmit, Form::Name),
    ("lwt_seg6local", P::LwtSeg6local, Form::Name),
    ("sockops", P::SockOps, Form::Name),
    ("sk_skb/stream_parser", P::SkSkb, Form::Name),
    ("sk_skb/stream_verdict", P::SkSkb, Form::Name),
    ("sk_skb/verdict", P::SkSkb, Form::Name),
    ("sk_skb", P::SkSkb, Form::Name),
    ("sk_msg", P::SkMsg, Form::Name),
    ("lirc_mode2", P::LircMode2, Form::Name),
    ("flow_dissector", P::FlowDissector, Form::Name),
    ("cgroup_skb/ingress", P::CgroupSkb, Form::Name),
    ("cgroup_skb/egress", P::CgroupSkb, Form::Name),
    ("cgroup/skb", P::CgroupSkb, Form::Name),
    ("cgroup/sock_create", P::CgroupSock, Form::Name),
    ("cgroup/sock_release", P::CgroupSock, Form::Name),
    ("cgroup/sock", P::CgroupSock, Form::Name),
    ("cgroup/post_bind4", P::CgroupSock, Form::Name),
    ("cgroup/post_bind6", P::CgroupSock, Form::Name),
    ("cgroup/bind4", P::CgroupSockAddr, Form::Name),
    ("cgroup/bind6", P::CgroupSockAddr, Form::Name),
    ("cgroup/connect4", P::CgroupSockAddr, Form::Name),
    ("cgroup/connect6", P::CgroupSockAddr, Form::Name),
    ("cgroup/connect_unix", P::CgroupSockAddr, Form::Name),
    ("cgroup/sendmsg4", P::CgroupSockAddr, Form::Name),
    ("cgroup/sendmsg6", P::CgroupSockAddr, Form::Name),
    ("cgroup/sendmsg_unix", P::CgroupSockAddr, Form::Name),
    ("cgroup/recvmsg4", P::CgroupSockAddr, Form::Name),
    ("cgroup/recvmsg6", P::CgroupSockAddr, Form::Name),
    ("cgroup/recvmsg_unix", P::CgroupSockAddr, Form::Name),
    ("cgroup/getpeername4", P::CgroupSockAddr, Form::Name),
    ("cgroup/getpeername6", P::CgroupSockAddr, Form::Name),
    ("cgroup/getpeername_unix", P::CgroupSockAddr, Form::Name),
    ("cgroup/getsockname4", P::CgroupSockAddr, Form::Name),
    ("cgroup/getsockname6", P::CgroupSockAddr, Form::Name),
    ("cgroup/getsockname_unix", P::CgroupSockAddr, Form::Name),
    ("cgroup/sysctl", P::CgroupSysctl, Form::Name),
    ("cgroup/getsockopt", P::CgroupSockopt, Form::Name),
    ("cgroup/setsockopt", P::CgroupSockopt, Form::Name),
    ("cgroup/dev", P::CgroupDevice, Form::Name),
    ("struct_ops.s", P::StructOps, Form::Target),
    ("struct_ops", P::StructOps, Form::Name),
    ("sk_lookup", P::SkLookup, Form::Name),
    ("syscall", P::Syscall, Form::Name),
    ("netfilter", P::Netfilter, Form::Name),
];

/// The program type a section name selects, and the attach target it names (the
/// part after the convention's prefix and `/`, such as `syscalls/sys_enter_execve`).
pub fn classify(section: &str) -> (ProgramType, Option<String>) {
    for &(name, ty, form) in SECTIONS {
        if section == name {
            if let Form::Name = form {
                return (ty, None);
            }
            continue;
        }
        if let Some(rest) = section.strip_prefix(name).and_then(|r| r.strip_prefix('/')) {
            let target = (!rest.is_empty()).then(|| rest.to_string());
            return (ty, target);
        }
    }
    // Older loaders (libbpf before 1.0, iproute2, the kernel's samples) took
    // these names as prefixes: `xdp1`, `socket1`, `xdp_prog`, `classifier_x`.
    for &(prefix, ty) in LEGACY_PREFIXES {
        if section.starts_with(prefix) {
            return (ty, None);
        }
    }
    (ProgramType::Unspec, None)
}

/// Section-name prefixes older loaders accepted, most specific first.
const LEGACY_PREFIXES: &[(&str, ProgramType)] = &[
    ("socket", P::SocketFilter),
    ("sockops", P::SockOps),
    ("sk_skb", P::SkSkb),
    ("sk_msg", P::SkMsg),
    ("xdp", P::Xdp),
    ("classifier", P::SchedCls),
    ("action", P::SchedAct),
    ("perf_event", P::PerfEvent),
    ("lwt_in", P::LwtIn),
    ("lwt_out", P::LwtOut),
    ("lwt_xmit", P::LwtXmit),
    ("lwt_seg6local", P::LwtSeg6local),
    ("cgroup_skb", P::CgroupSkb),
    ("flow_dissector", P::FlowDissector),
    ("lirc_mode2", P::LircMode2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_names_select_types_and_targets() {
        for (sec, ty, target) in [
            ("socket", P::SocketFilter, None),
            ("xdp", P::Xdp, None),
            ("xdp.frags", P::Xdp, None),
            ("tc", P::SchedCls, None),
            ("classifier", P::SchedCls, None),
            (
                "tracepoint/syscalls/sys_enter_execve",
                P::Tracepoint,
                Some("syscalls/sys_enter_execve"),
            ),
            (
                "tp/sched/sched_switch",
                P::Tracepoint,
                Some("sched/sched_switch"),
            ),
            ("raw_tp/sys_enter", P::RawTracepoint, Some("sys_enter")),
            ("kprobe/do_unlinkat", P::Kprobe, Some("do_unlinkat")),
            ("kretprobe/do_unlinkat", P::Kprobe, Some("do_unlinkat")),
            (
                "uprobe//usr/bin/bash:readline",
                P::Kprobe,
                Some("/usr/bin/bash:readline"),
            ),
            ("usdt", P::Kprobe, None),
            ("fentry/do_unlinkat", P::Tracing, Some("do_unlinkat")),
            ("perf_event", P::PerfEvent, None),
            ("cgroup_skb/ingress", P::CgroupSkb, None),
            ("sk_msg", P::SkMsg, None),
            ("lsm/file_open", P::Lsm, Some("file_open")),
            ("iter/task", P::Tracing, Some("task")),
            ("tracepoint", P::Unspec, None),
            ("mystery", P::Unspec, None),
            // Older loaders' prefixes.
            ("xdp1", P::Xdp, None),
            ("xdp_prog", P::Xdp, None),
            ("socket1", P::SocketFilter, None),
            ("sockops_x", P::SockOps, None),
            ("classifier_ingress", P::SchedCls, None),
            ("action2", P::SchedAct, None),
            ("sk_skb2", P::SkSkb, None),
        ] {
            assert_eq!(classify(sec), (ty, target.map(String::from)), "{sec}");
        }
    }
}
