//! Context layouts per program type: which offsets of the context a program may
//! read or write, at which sizes, and which loads yield packet pointers.
//!
//! The layouts are the kernel's UAPI structures, as `crates/runtime`'s test runs
//! fill them (`struct xdp_md`, `struct __sk_buff`, `struct pt_regs`, ...).

use oxbpf_object::ProgramType;

use crate::state::Kind;

/// What a context load produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A number.
    Scalar,
    /// A pointer of this kind (packet pointers, flow keys).
    Pointer(Kind),
}

/// Size of `struct bpf_flow_keys`, which a flow dissector may write.
pub const FLOW_KEYS_SIZE: u32 = 56;

/// How a program type's context may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `struct xdp_md`.
    Xdp,
    /// `struct __sk_buff`, with the per-type permissions.
    Skb(SkbFlavor),
    /// A read-only structure of `size` bytes holding numbers only (pt_regs,
    /// tracepoint records, raw tracepoint arguments...); `exact8` when every
    /// access must be 8 bytes (BTF-typed u64 arguments).
    ReadOnly { size: i64, exact8: bool },
    /// `struct sk_msg_md`: packet pointers at 0 and 8, then numbers.
    SkMsg,
}

/// The program types that see a `struct __sk_buff`, by their permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkbFlavor {
    SocketFilter,
    Tc,
    CgroupSkb,
    Lwt,
    SkSkb,
    FlowDissector,
}

/// The context layout of a program type.
pub fn layout(t: ProgramType) -> Layout {
    use ProgramType as P;
    match t {
        P::Xdp => Layout::Xdp,
        P::SocketFilter => Layout::Skb(SkbFlavor::SocketFilter),
        P::SchedCls | P::SchedAct => Layout::Skb(SkbFlavor::Tc),
        P::CgroupSkb => Layout::Skb(SkbFlavor::CgroupSkb),
        P::LwtIn | P::LwtOut | P::LwtXmit | P::LwtSeg6local => Layout::Skb(SkbFlavor::Lwt),
        P::SkSkb => Layout::Skb(SkbFlavor::SkSkb),
        P::FlowDissector => Layout::Skb(SkbFlavor::FlowDissector),
        P::SkMsg => Layout::SkMsg,
        // struct pt_regs on x86-64.
        P::Kprobe => Layout::ReadOnly {
            size: 168,
            exact8: false,
        },
        // PERF_MAX_TRACE_SIZE.
        P::Tracepoint => Layout::ReadOnly {
            size: 2048,
            exact8: false,
        },
        // struct bpf_perf_event_data: pt_regs, sample_period, addr.
        P::PerfEvent => Layout::ReadOnly {
            size: 184,
            exact8: false,
        },
        // MAX_BPF_FUNC_ARGS u64 arguments.
        P::RawTracepoint | P::RawTracepointWritable => Layout::ReadOnly {
            size: 96,
            exact8: false,
        },
        P::Tracing | P::Lsm | P::Ext | P::StructOps => Layout::ReadOnly {
            size: 96,
            exact8: true,
        },
        // struct bpf_sk_lookup.
        P::SkLookup => Layout::ReadOnly {
            size: 72,
            exact8: false,
        },
        P::Syscall => Layout::ReadOnly {
            size: 65535,
            exact8: false,
        },
        // struct bpf_sock_ops, bpf_sock, bpf_sock_addr, bpf_cgroup_dev_ctx,
        // bpf_sysctl, bpf_sockopt, sk_reuseport_md, bpf_nf_ctx: numbers read
        // only (the few pointer fields read as numbers, which is safe).
        // Up to skb_hwtstamp (6.x).
        P::SockOps => Layout::ReadOnly {
            size: 224,
            exact8: false,
        },
        P::CgroupSock => Layout::ReadOnly {
            size: 80,
            exact8: false,
        },
        // Up to the sk pointer.
        P::CgroupSockAddr => Layout::ReadOnly {
            size: 72,
            exact8: false,
        },
        P::CgroupDevice => Layout::ReadOnly {
            size: 12,
            exact8: false,
        },
        P::CgroupSysctl => Layout::ReadOnly {
            size: 8,
            exact8: false,
        },
        P::CgroupSockopt => Layout::ReadOnly {
            size: 40,
            exact8: false,
        },
        P::SkReuseport => Layout::ReadOnly {
            size: 72,
            exact8: false,
        },
        P::Netfilter => Layout::ReadOnly {
            size: 16,
            exact8: true,
        },
        P::LircMode2 => Layout::ReadOnly {
            size: 4,
            exact8: false,
        },
        P::Unspec => Layout::ReadOnly {
            size: 0,
            exact8: false,
        },
    }
}

/// Checks an access of `size` bytes at `off` in the context; returns what a load yields,
/// or a sentence saying why the access is not allowed.
pub fn access(t: ProgramType, off: i64, size: usize, write: bool) -> Result<Field, String> {
    let sz = size as i64;
    if off < 0 || off % sz != 0 {
        return Err(format!(
            "a {size}-byte context access at offset {off} is misaligned or negative"
        ));
    }
    let kind = if write { "write" } else { "read" };
    match layout(t) {
        Layout::Xdp => {
            if off + sz > 24 {
                return Err(format!(
                    "offset {off} is past the end of struct xdp_md (24 bytes)"
                ));
            }
            if write {
                return Err("struct xdp_md is read-only".into());
            }
            if size != 4 {
                return Err("fields of struct xdp_md must be read as 4 bytes".into());
            }
            Ok(match off {
                0 => Field::Pointer(Kind::Packet),
                4 => Field::Pointer(Kind::PacketEnd),
                8 => Field::Pointer(Kind::PacketMeta),
                20 => {
                    return Err("xdp_md.egress_ifindex is only readable by devmap programs".into())
                }
                _ => Field::Scalar,
            })
        }
        Layout::Skb(flavor) => skb_access(flavor, off, size, write),
        Layout::SkMsg => {
            if write || off + sz > 72 {
                return Err(format!(
                    "a {kind} at offset {off} of struct sk_msg_md is not allowed"
                ));
            }
            match off {
                0 | 8 if size != 8 => {
                    Err("sk_msg_md.data and data_end must be read as 8 bytes".into())
                }
                0 => Ok(Field::Pointer(Kind::Packet)),
                8 => Ok(Field::Pointer(Kind::PacketEnd)),
                _ => Ok(Field::Scalar),
            }
        }
        Layout::ReadOnly {
            size: total,
            exact8,
        } => {
            if total == 0 {
                return Err(format!(
                    "program type {} has no context oxbpf knows",
                    t.name()
                ));
            }
            if write {
                let fields = writable_fields(t);
                let inside = fields
                    .iter()
                    .any(|&(at, len)| off >= at && off + sz <= at + len);
                if !inside {
                    return Err(if fields.is_empty() {
                        format!("the {} context is read-only", t.name())
                    } else {
                        format!(
                            "offset {off} of the {} context is not a field programs may write",
                            t.name()
                        )
                    });
                }
                if size != 4 {
                    return Err(format!(
                        "writable fields of the {} context are written as 4 bytes",
                        t.name()
                    ));
                }
            }
            if off + sz > total {
                return Err(format!(
                    "offset {off} (+{size}) is past the end of the {} context ({total} bytes)",
                    t.name()
                ));
            }
            if exact8 && size != 8 {
                return Err(format!(
                    "{} context arguments must be read as 8 bytes",
                    t.name()
                ));
            }
            Ok(Field::Scalar)
        }
    }
}

/// The (offset, length) ranges of a numbers-only context that programs may
/// write, as the kernel's `is_valid_access` of each type allows them (u32
/// stores): `bpf_sock_ops` reply and sk_txhash; `bpf_sock_addr`
/// user_ip4, user_ip6, user_port, msg_src_ip4 and msg_src_ip6; `bpf_sock`
/// bound_dev_if, mark and priority; `bpf_sysctl` file_pos; `bpf_sockopt`
/// level, optname, optlen and retval. The kernel narrows some of these by
/// attach type (sendmsg's msg_src_ip4, for one); oxbpf allows them for every
/// attach type of the program type.
pub fn writable_fields(t: ProgramType) -> &'static [(i64, i64)] {
    use ProgramType as P;
    match t {
        P::SockOps => &[(4, 4), (164, 4)],
        P::CgroupSockAddr => &[(4, 4), (8, 16), (24, 4), (40, 4), (44, 16)],
        P::CgroupSock => &[(0, 4), (16, 4), (20, 4)],
        P::CgroupSysctl => &[(4, 4)],
        P::CgroupSockopt => &[(24, 16)],
        _ => &[],
    }
}

/// `struct __sk_buff` offsets used below.
mod skb {
    pub const MARK: i64 = 8;
    pub const QUEUE_MAPPING: i64 = 12;
    pub const PRIORITY: i64 = 32;
    pub const TC_INDEX: i64 = 44;
    pub const CB: i64 = 48;
    pub const CB_END: i64 = 68;
    pub const TC_CLASSID: i64 = 72;
    pub const DATA: i64 = 76;
    pub const DATA_END: i64 = 80;
    pub const DATA_META: i64 = 140;
    pub const FLOW_KEYS: i64 = 144;
    pub const TSTAMP: i64 = 152;
    pub const SK: i64 = 168;
    pub const HWTSTAMP: i64 = 184;
    pub const SIZE: i64 = 192;
}

fn skb_access(flavor: SkbFlavor, off: i64, size: usize, write: bool) -> Result<Field, String> {
    use SkbFlavor as F;
    let sz = size as i64;
    if off + sz > skb::SIZE {
        return Err(format!(
            "offset {off} is past the end of struct __sk_buff ({} bytes)",
            skb::SIZE
        ));
    }
    let field = |start: i64, len: i64| off >= start && off < start + len;
    let name = match flavor {
        F::SocketFilter => "socket filters",
        F::Tc => "tc programs",
        F::CgroupSkb => "cgroup skb programs",
        F::Lwt => "lwt programs",
        F::SkSkb => "sk_skb programs",
        F::FlowDissector => "flow dissectors",
    };
    // Pointer fields: exact size, read only, per flavor.
    for (at, len, kind) in [
        (skb::DATA, 4, Kind::Packet),
        (skb::DATA_END, 4, Kind::PacketEnd),
        (skb::DATA_META, 4, Kind::PacketMeta),
        (
            skb::FLOW_KEYS,
            8,
            Kind::Mem {
                size: FLOW_KEYS_SIZE,
                null: false,
            },
        ),
    ] {
        if !field(at, len) {
            continue;
        }
        let allowed = match (at, flavor) {
            (skb::FLOW_KEYS, f) => f == F::FlowDissector,
            (skb::DATA_META, f) => f == F::Tc,
            (_, F::SocketFilter) => false,
            _ => true,
        };
        if !allowed {
            return Err(format!(
                "{name} cannot access __sk_buff at offset {off}: the field is not available to them{}",
                if flavor == F::SocketFilter && at != skb::FLOW_KEYS {
                    " (read packet bytes with bpf_skb_load_bytes or a legacy ld_abs load)"
                } else {
                    ""
                }
            ));
        }
        if write {
            return Err(format!(
                "__sk_buff at offset {off} is a read-only pointer field"
            ));
        }
        if off != at || sz != len {
            return Err(format!(
                "the pointer field at __sk_buff offset {at} must be read whole ({len} bytes)"
            ));
        }
        return Ok(Field::Pointer(kind));
    }
    if flavor == F::FlowDissector {
        return Err(format!(
            "flow dissectors may only read __sk_buff data, data_end and flow_keys, not offset {off}"
        ));
    }
    if field(skb::SK, 8) {
        return Err("__sk_buff.sk is a socket pointer, which oxbpf does not model".into());
    }
    if field(skb::TC_CLASSID, 4) && matches!(flavor, F::SocketFilter | F::CgroupSkb) {
        return Err(format!("{name} cannot access __sk_buff.tc_classid"));
    }
    let wide = field(skb::TSTAMP, 8) || field(skb::HWTSTAMP, 8);
    if wide && (off % 8 != 0 || size != 8) {
        return Err("__sk_buff.tstamp and hwtstamp must be accessed as 8 bytes".into());
    }
    if !wide && size == 8 {
        return Err(format!(
            "__sk_buff at offset {off} is a 4-byte field; an 8-byte access spans two fields"
        ));
    }
    if write {
        let cb = off >= skb::CB && off + sz <= skb::CB_END;
        let ok = cb
            || match flavor {
                F::SocketFilter => false,
                F::Tc => {
                    (size == 4
                        && [
                            skb::MARK,
                            skb::TC_INDEX,
                            skb::PRIORITY,
                            skb::TC_CLASSID,
                            skb::QUEUE_MAPPING,
                        ]
                        .contains(&off))
                        || off == skb::TSTAMP
                }
                F::CgroupSkb => {
                    (size == 4 && [skb::MARK, skb::PRIORITY].contains(&off)) || off == skb::TSTAMP
                }
                F::Lwt | F::SkSkb => {
                    size == 4 && [skb::MARK, skb::PRIORITY, skb::TC_INDEX].contains(&off)
                }
                F::FlowDissector => false,
            };
        if !ok {
            return Err(format!(
                "{name} may not write __sk_buff at offset {off} ({size} bytes)"
            ));
        }
    }
    Ok(Field::Scalar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdp_md_fields() {
        let t = ProgramType::Xdp;
        assert_eq!(access(t, 0, 4, false), Ok(Field::Pointer(Kind::Packet)));
        assert_eq!(access(t, 4, 4, false), Ok(Field::Pointer(Kind::PacketEnd)));
        assert_eq!(access(t, 12, 4, false), Ok(Field::Scalar));
        assert!(access(t, 0, 8, false).is_err());
        assert!(access(t, 0, 4, true).is_err());
        assert!(access(t, 24, 4, false).is_err());
    }

    #[test]
    fn sk_buff_permissions_depend_on_the_type() {
        let tc = ProgramType::SchedCls;
        let sf = ProgramType::SocketFilter;
        assert_eq!(access(tc, 76, 4, false), Ok(Field::Pointer(Kind::Packet)));
        assert!(access(sf, 76, 4, false).is_err());
        assert!(access(sf, 48, 4, true).is_ok());
        assert!(access(sf, 8, 4, true).is_err());
        assert!(access(tc, 8, 4, true).is_ok());
        assert!(access(tc, 0, 2, false).is_ok());
        assert!(access(tc, 0, 8, false).is_err());
        assert!(access(tc, 152, 8, false).is_ok());
        let fd = ProgramType::FlowDissector;
        assert!(matches!(
            access(fd, 144, 8, false),
            Ok(Field::Pointer(Kind::Mem { size: 56, .. }))
        ));
    }

    #[test]
    fn tracing_contexts_are_read_only() {
        assert!(access(ProgramType::Kprobe, 112, 8, false).is_ok());
        assert!(access(ProgramType::Kprobe, 112, 8, true).is_err());
        assert!(access(ProgramType::Kprobe, 168, 8, false).is_err());
        assert!(access(ProgramType::Tracing, 8, 4, false).is_err());
    }
}
