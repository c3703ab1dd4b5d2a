//! Prototypes of every kernel helper: argument and return types, which
//! program types may call each one, and the capability it needs. The table
//! itself is generated from the kernel's prototypes (see `data/helpers.tsv`);
//! this module says what its types mean.
//!
//! The verifier judges for the kernel: a helper oxbpf's userspace runtime
//! cannot run is still accepted here, and the runtime refuses such a program
//! when it loads it, naming the helper.

use oxbpf_object::ProgramType;

/// What a helper argument must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Not used: the register is not read.
    Unused,
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
    /// A pointer to an initialized value-sized buffer of the map in argument 1, or NULL.
    MapValueOrNull,
    /// The context pointer.
    Ctx,
    /// The context pointer or NULL.
    CtxOrNull,
    /// Readable memory whose size is the next argument.
    Mem,
    /// Writable memory, possibly uninitialized, whose size is the next argument.
    MemOut,
    /// Initialized memory the helper reads and writes; the size follows.
    MemInOut,
    /// Readable memory or NULL; the size follows.
    MemOrNull,
    /// Writable memory or NULL; the size follows.
    MemOutOrNull,
    /// Memory of a fixed size: written by the helper, or read when `write` is false.
    Fixed { size: u32, write: bool },
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
    /// A socket pointer (from a socket lookup), checked against NULL.
    Sock,
    /// A socket pointer a lookup acquired, which the call releases.
    SockRelease,
    /// A kernel-typed (BTF) pointer. This verifier keeps kernel pointers as
    /// numbers, so any initialized value passes: the kernel checks the type.
    KernelPtr,
    /// An argument kind the verifier does not model yet (dynptrs, timers,
    /// spin locks, kptrs, some callbacks): calls are refused as unsupported.
    Unmodelled(&'static str),
}

/// What a helper returns in r0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// A number.
    Integer,
    /// Nothing: r0 is not readable after the call.
    Void,
    /// A pointer to a value of the map in argument 1, or NULL.
    MapValueOrNull,
    /// A pointer to a value of the map in argument 1.
    MapValue,
    /// A reserved ring buffer record of the size in argument 2, or NULL.
    RingbufOrNull,
    /// A socket, or NULL: acquired (to be released) when the helper acquires,
    /// else tied to the socket passed in.
    SockOrNull,
    /// A kernel-typed pointer, which this verifier keeps as a number.
    KernelPtr,
}

/// The capability the kernel's base prototypes ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// None: unprivileged programs may call it.
    None,
    /// CAP_BPF.
    Bpf,
    /// CAP_PERFMON.
    Perfmon,
    /// A helper of particular program types, with their privileges.
    ProgramType,
}

/// A helper's prototype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proto {
    pub id: i32,
    /// The kernel's name without `bpf_`.
    pub name: &'static str,
    pub args: [Arg; 5],
    pub ret: Ret,
    /// The program types that may call it: bit `t` for kernel program type id `t`.
    pub types: u64,
    pub cap: Cap,
    /// Whether the call may move the packet, invalidating packet pointers.
    pub changes_packet: bool,
    /// Whether only GPL-compatible programs may call it.
    pub gpl_only: bool,
    /// Whether the call acquires a reference (a socket, a ring buffer record)
    /// that every path must release.
    pub acquires: bool,
    /// For callback helpers: which argument is the callback.
    pub callback: Option<usize>,
}

impl Proto {
    /// Whether programs of type `t` may call it.
    pub fn available_to(&self, t: ProgramType) -> bool {
        // Programs of no kernel type (oxbpf's own sections) get the base
        // helpers every type has: netfilter programs have exactly those.
        let t = if t == ProgramType::Unspec {
            ProgramType::Netfilter
        } else {
            t
        };
        let id = t.kernel_id();
        id < 64 && self.types & (1 << id) != 0
    }

    /// Whether an unprivileged loader may call it.
    pub fn unprivileged(&self) -> bool {
        matches!(self.cap, Cap::None | Cap::ProgramType)
    }
}

/// Every kernel helper, ids 1 to 211.
pub const PROTOS: &[Proto] = crate::helper_table::TABLE;

/// The prototype of helper `id`.
pub fn proto(id: i32) -> Option<&'static Proto> {
    usize::try_from(id)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| PROTOS.get(i))
}

/// Whether helper `id` changes the map in its first argument (update, delete,
/// push, pop): the kernel refuses these on maps read-only to programs.
pub fn changes_map(id: i32) -> bool {
    matches!(id, 2 | 3 | 87 | 88)
}

/// The map types (kernel ids) helper `id` accepts, where it restricts them.
pub fn map_types_for(id: i32) -> Option<&'static [u32]> {
    Some(match id {
        12 => &[3],                       // tail_call: prog array
        22 | 25 | 55 | 111 | 121 => &[4], // perf event array
        27 => &[7],                       // get_stackid: stack trace
        33 | 37 => &[8],                  // cgroup array
        51 => &[14, 16, 17, 25],          // redirect_map: devmap, cpumap, xskmap, devmap_hash
        52 | 53 | 60 => &[15],            // sockmap
        70..=72 => &[18],                 // sockhash
        81 => &[19, 21],                  // get_local_storage: cgroup storage
        82 => &[15, 18, 20],              // sk_select_reuseport
        87 | 89 => &[22, 23, 30],         // push, peek: queue, stack, bloom filter
        88 => &[22, 23],                  // pop
        107 | 108 => &[24],               // sk storage
        130..=134 | 198 => &[27],         // ring buffer
        145 | 146 => &[28],               // inode storage
        156 | 157 => &[29],               // task storage
        195 => &[5, 6, 10],               // map_lookup_percpu_elem: per-CPU maps
        209 => &[31],                     // user ring buffer
        210 | 211 => &[32],               // cgroup storage (cgrp)
        _ => return None,
    })
}

/// Whether map type `t` (a kernel id) allows helper `id`, where the map
/// type restricts its helpers, as the kernel's check_map_func_compatibility does.
pub fn map_allows(t: u32, id: i32) -> bool {
    match t {
        3 => id == 12,
        4 => matches!(id, 22 | 25 | 55 | 111 | 121),
        7 => id == 27,
        8 => matches!(id, 33 | 37),
        14 | 17 | 25 => matches!(id, 1 | 51),
        16 => id == 51,
        15 => matches!(id, 1..=3 | 52 | 53 | 60 | 82),
        18 => matches!(id, 1..=3 | 70..=72 | 82),
        19 | 21 => id == 81,
        20 => id == 82,
        22 | 23 => matches!(id, 87..=89),
        24 => matches!(id, 107 | 108 | 194),
        27 => matches!(id, 130..=134 | 198),
        28 => matches!(id, 145 | 146 | 194),
        29 => matches!(id, 156 | 157 | 194),
        30 => matches!(id, 87 | 89),
        31 => id == 209,
        32 => matches!(id, 210 | 211 | 194),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prototypes_match_the_kernel_ids() {
        assert_eq!(PROTOS.len(), 211);
        for p in PROTOS {
            assert_eq!(
                oxbpf_isa::helper_name(p.id),
                Some(p.name),
                "helper {}",
                p.id
            );
            assert_eq!(proto(p.id), Some(p));
        }
        assert!(proto(0).is_none());
        assert!(proto(212).is_none());
        assert!(proto(-1).is_none());
    }

    #[test]
    fn availability_follows_the_kernel_dispatchers() {
        let p = |id| proto(id).unwrap();
        assert!(p(1).available_to(ProgramType::Xdp));
        assert!(p(4).available_to(ProgramType::Kprobe));
        assert!(!p(4).available_to(ProgramType::Xdp));
        assert!(p(9).available_to(ProgramType::SchedCls));
        assert!(!p(9).available_to(ProgramType::Xdp));
        assert!(p(44).available_to(ProgramType::Xdp));
        assert!(p(69).available_to(ProgramType::Xdp)); // fib_lookup
        assert!(p(26).available_to(ProgramType::SocketFilter));
        assert!(p(1).unprivileged() && !p(6).unprivileged());
        // bpf_tail_call returns nothing; ring buffer records are acquired.
        assert_eq!(p(12).ret, Ret::Void);
        assert!(p(131).acquires && p(84).acquires);
        assert!(p(12).changes_packet && p(9).changes_packet && !p(26).changes_packet);
    }

    #[test]
    fn sized_arguments_follow_their_memory() {
        for p in PROTOS {
            for (k, a) in p.args.iter().enumerate() {
                if matches!(a, Arg::Size | Arg::SizeOrZero) {
                    let prev = p.args[k - 1];
                    assert!(
                        matches!(
                            prev,
                            Arg::Mem
                                | Arg::MemOut
                                | Arg::MemInOut
                                | Arg::MemOrNull
                                | Arg::MemOutOrNull
                        ),
                        "{}: argument {} is a size after {prev:?}",
                        p.name,
                        k + 1
                    );
                }
            }
        }
    }
}
