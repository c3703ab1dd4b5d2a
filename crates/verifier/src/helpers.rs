//! Prototypes of the helpers oxbpf implements: argument and return types, and
//! which program types may call them.

use oxbpf_object::ProgramType;

/// What a helper argument must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Not used: the register is not read.
    Unused,
    /// Any initialized scalar.
    Scalar,
    /// Any initialized value (a scalar or a pointer the helper does not dereference).
    Anything,
    /// A map (from lddw).
    Map,
    /// A pointer to a key of the map in argument 1, initialized.
    MapKey,
    /// A pointer to a value of the map in argument 1, initialized.
    MapValue,
    /// A pointer to a value-sized buffer the helper fills.
    MapValueOut,
    /// The context pointer.
    Ctx,
    /// Readable memory whose size is the next argument.
    Mem,
    /// Writable memory, possibly uninitialized, whose size is the next argument.
    MemOut,
    /// The size of the memory in the previous argument: a bounded scalar, not zero.
    Size,
    /// Like `Size`, but zero is allowed.
    SizeOrZero,
    /// A constant size of the ring buffer record to reserve.
    ConstSize,
    /// A pointer to a NUL-terminated constant string in a read-only map.
    ConstStr,
    /// A callback function address.
    Func,
    /// A pointer to the stack, or NULL (the callback's context).
    StackOrNull,
    /// A reserved ring buffer record, which the call releases.
    RingbufRecord,
    /// Readable memory or NULL; the size follows.
    MemOrNull,
}

/// What a helper returns in r0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// A number.
    Integer,
    /// A pointer to a map value, or NULL.
    MapValueOrNull,
    /// A reserved ring buffer record of the size in argument 2, or NULL.
    RingbufOrNull,
}

/// Whether helper `id` changes the map in its first argument (update, delete,
/// push, pop): the kernel refuses these on maps read-only to programs.
pub fn changes_map(id: i32) -> bool {
    matches!(id, 2 | 3 | 87 | 88)
}

/// Who may call a helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Avail {
    /// Every program type.
    All,
    /// Tracing types (kprobe, tracepoint, perf_event, raw tracepoint, tracing, lsm, syscall).
    Tracing,
    /// Programs with an `__sk_buff` context.
    Skb,
    /// XDP programs.
    Xdp,
    /// Programs whose context carries a packet (skb and XDP).
    Packet,
}

/// A helper's prototype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proto {
    pub id: i32,
    pub name: &'static str,
    pub args: [Arg; 5],
    pub ret: Ret,
    pub avail: Avail,
    /// Whether unprivileged programs may call it.
    pub unprivileged: bool,
    /// Whether the call may move the packet, invalidating packet pointers.
    pub changes_packet: bool,
    /// For callback helpers: which argument is the callback, and the callback's
    /// arguments as register kinds are set up by the checker.
    pub callback: Option<usize>,
}

const fn p(id: i32, name: &'static str, args: [Arg; 5], ret: Ret, avail: Avail) -> Proto {
    Proto {
        id,
        name,
        args,
        ret,
        avail,
        unprivileged: false,
        changes_packet: false,
        callback: None,
    }
}

const fn unpriv(mut p: Proto) -> Proto {
    p.unprivileged = true;
    p
}

use Arg::*;

/// The helpers oxbpf runs (see `crates/runtime/src/helpers.rs`).
pub const PROTOS: &[Proto] = &[
    unpriv(p(
        1,
        "map_lookup_elem",
        [Map, MapKey, Unused, Unused, Unused],
        Ret::MapValueOrNull,
        Avail::All,
    )),
    unpriv(p(
        2,
        "map_update_elem",
        [Map, MapKey, MapValue, Scalar, Unused],
        Ret::Integer,
        Avail::All,
    )),
    unpriv(p(
        3,
        "map_delete_elem",
        [Map, MapKey, Unused, Unused, Unused],
        Ret::Integer,
        Avail::All,
    )),
    p(
        4,
        "probe_read",
        [MemOut, Size, Anything, Unused, Unused],
        Ret::Integer,
        Avail::Tracing,
    ),
    p(
        112,
        "probe_read_user",
        [MemOut, Size, Anything, Unused, Unused],
        Ret::Integer,
        Avail::All,
    ),
    p(
        113,
        "probe_read_kernel",
        [MemOut, Size, Anything, Unused, Unused],
        Ret::Integer,
        Avail::All,
    ),
    p(
        45,
        "probe_read_str",
        [MemOut, Size, Anything, Unused, Unused],
        Ret::Integer,
        Avail::Tracing,
    ),
    p(
        114,
        "probe_read_user_str",
        [MemOut, Size, Anything, Unused, Unused],
        Ret::Integer,
        Avail::All,
    ),
    p(
        115,
        "probe_read_kernel_str",
        [MemOut, Size, Anything, Unused, Unused],
        Ret::Integer,
        Avail::All,
    ),
    unpriv(p(5, "ktime_get_ns", [Unused; 5], Ret::Integer, Avail::All)),
    p(
        125,
        "ktime_get_boot_ns",
        [Unused; 5],
        Ret::Integer,
        Avail::All,
    ),
    unpriv(p(
        7,
        "get_prandom_u32",
        [Unused; 5],
        Ret::Integer,
        Avail::All,
    )),
    unpriv(p(
        8,
        "get_smp_processor_id",
        [Unused; 5],
        Ret::Integer,
        Avail::All,
    )),
    p(
        14,
        "get_current_pid_tgid",
        [Unused; 5],
        Ret::Integer,
        Avail::All,
    ),
    p(
        15,
        "get_current_uid_gid",
        [Unused; 5],
        Ret::Integer,
        Avail::All,
    ),
    p(
        16,
        "get_current_comm",
        [MemOut, Size, Unused, Unused, Unused],
        Ret::Integer,
        Avail::All,
    ),
    p(
        6,
        "trace_printk",
        [Mem, Size, Unused, Unused, Unused],
        Ret::Integer,
        Avail::All,
    ),
    p(
        87,
        "map_push_elem",
        [Map, MapValue, Scalar, Unused, Unused],
        Ret::Integer,
        Avail::All,
    ),
    p(
        88,
        "map_pop_elem",
        [Map, MapValueOut, Unused, Unused, Unused],
        Ret::Integer,
        Avail::All,
    ),
    p(
        89,
        "map_peek_elem",
        [Map, MapValueOut, Unused, Unused, Unused],
        Ret::Integer,
        Avail::All,
    ),
    unpriv(p(
        130,
        "ringbuf_output",
        // The kernel takes ARG_CONST_SIZE_OR_ZERO: an empty record is allowed.
        [Map, Mem, SizeOrZero, Scalar, Unused],
        Ret::Integer,
        Avail::All,
    )),
    unpriv(p(
        131,
        "ringbuf_reserve",
        [Map, ConstSize, Scalar, Unused, Unused],
        Ret::RingbufOrNull,
        Avail::All,
    )),
    unpriv(p(
        132,
        "ringbuf_submit",
        [RingbufRecord, Scalar, Unused, Unused, Unused],
        Ret::Integer,
        Avail::All,
    )),
    unpriv(p(
        133,
        "ringbuf_discard",
        [RingbufRecord, Scalar, Unused, Unused, Unused],
        Ret::Integer,
        Avail::All,
    )),
    unpriv(p(
        134,
        "ringbuf_query",
        [Map, Scalar, Unused, Unused, Unused],
        Ret::Integer,
        Avail::All,
    )),
    unpriv(p(
        26,
        "skb_load_bytes",
        [Ctx, Scalar, MemOut, Size, Unused],
        Ret::Integer,
        Avail::Skb,
    )),
    Proto {
        changes_packet: true,
        ..p(
            44,
            "xdp_adjust_head",
            [Ctx, Scalar, Unused, Unused, Unused],
            Ret::Integer,
            Avail::Xdp,
        )
    },
    Proto {
        changes_packet: true,
        ..p(
            65,
            "xdp_adjust_tail",
            [Ctx, Scalar, Unused, Unused, Unused],
            Ret::Integer,
            Avail::Xdp,
        )
    },
    unpriv(p(
        12,
        "tail_call",
        [Ctx, Map, Scalar, Unused, Unused],
        Ret::Integer,
        Avail::All,
    )),
    p(
        165,
        "snprintf",
        [MemOut, Size, ConstStr, MemOrNull, SizeOrZero],
        Ret::Integer,
        Avail::All,
    ),
    p(
        25,
        "perf_event_output",
        [Ctx, Map, Scalar, Mem, Size],
        Ret::Integer,
        Avail::All,
    ),
    Proto {
        callback: Some(1),
        ..p(
            164,
            "for_each_map_elem",
            [Map, Func, StackOrNull, Scalar, Unused],
            Ret::Integer,
            Avail::All,
        )
    },
    Proto {
        callback: Some(1),
        ..p(
            181,
            "loop",
            [Scalar, Func, StackOrNull, Scalar, Unused],
            Ret::Integer,
            Avail::All,
        )
    },
    p(
        182,
        "strncmp",
        [Mem, Size, ConstStr, Unused, Unused],
        Ret::Integer,
        Avail::All,
    ),
];

/// The prototype of helper `id`, if oxbpf implements it.
pub fn proto(id: i32) -> Option<&'static Proto> {
    PROTOS.iter().find(|p| p.id == id)
}

/// Whether programs of type `t` may call a helper available to `avail`.
pub fn available(avail: Avail, t: ProgramType) -> bool {
    use ProgramType as P;
    let skb = matches!(
        t,
        P::SocketFilter
            | P::SchedCls
            | P::SchedAct
            | P::CgroupSkb
            | P::LwtIn
            | P::LwtOut
            | P::LwtXmit
            | P::LwtSeg6local
            | P::SkSkb
            | P::FlowDissector
    );
    match avail {
        Avail::All => true,
        Avail::Tracing => matches!(
            t,
            P::Kprobe
                | P::Tracepoint
                | P::PerfEvent
                | P::RawTracepoint
                | P::RawTracepointWritable
                | P::Tracing
                | P::Lsm
                | P::Syscall
        ),
        Avail::Skb => skb,
        Avail::Xdp => t == P::Xdp,
        Avail::Packet => skb || t == P::Xdp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prototypes_match_the_kernel_ids() {
        for p in PROTOS {
            assert_eq!(
                oxbpf_isa::helper_name(p.id),
                Some(p.name),
                "helper {}",
                p.id
            );
        }
        assert!(proto(9999).is_none());
    }

    #[test]
    fn availability() {
        assert!(available(Avail::Tracing, ProgramType::Kprobe));
        assert!(!available(Avail::Tracing, ProgramType::Xdp));
        assert!(available(Avail::Skb, ProgramType::SocketFilter));
        assert!(!available(Avail::Xdp, ProgramType::SchedCls));
    }
}
