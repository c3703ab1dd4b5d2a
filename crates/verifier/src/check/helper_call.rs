//! Helper calls: arguments against the prototypes, map compatibility,
//! references, and the return value.

use super::*;

impl Checker<'_> {
    pub(super) fn helper_call(&mut self, path: &mut Path, id: i32, next: usize) -> Res<bool> {
        let pc = path.pc;
        let name = oxbpf_isa::helper_name(id).unwrap_or("unknown");
        let Some(proto) = helpers::proto(id) else {
            return fail(
                Reason::UnknownHelper,
                format!("helper {id} (bpf_{name}) is not a kernel helper"),
                "call a helper of the kernel's UAPI (ids 1 to 211), or a kfunc",
            );
        };
        if !proto.available_to(self.prog_type) {
            return fail(
                Reason::HelperUnavailable,
                format!(
                    "bpf_{} is not available to {} programs",
                    proto.name,
                    self.prog_type.name()
                ),
                "use a helper this program type may call, or change the program type (SEC name)",
            );
        }
        if !self.opts.privileged && !proto.unprivileged() {
            let cap = match proto.cap {
                helpers::Cap::Perfmon => "CAP_PERFMON",
                _ => "CAP_BPF",
            };
            return fail(
                Reason::HelperUnavailable,
                format!("bpf_{} needs {cap}", proto.name),
                "load the program with privileges, or avoid this helper",
            );
        }
        if let Some(what) = proto.args.iter().find_map(|a| match a {
            Arg::Unmodelled(what) => Some(*what),
            _ => None,
        }) {
            return fail(
                Reason::Unsupported,
                format!(
                    "bpf_{} takes {what}, which oxbpf's verifier does not model yet",
                    proto.name
                ),
                "the kernel may accept this program; oxbpf cannot judge it",
            );
        }
        let st = &mut path.state;
        let mut map: Option<u32> = None;
        let mut mem: Option<(usize, Reg, bool)> = None;
        let mut ret_size: Option<u64> = None;
        let mut callback: Option<usize> = None;
        let mut release: Option<u32> = None;
        let mut sock: Option<Reg> = None;
        let mut mem_in_out = false;
        let frame = st.frames.len() - 1;
        for (k, arg) in proto.args.iter().enumerate() {
            let regno = k + 1;
            if *arg == Arg::Unused {
                continue;
            }
            let r = self.read(st, R::new(regno as u8).expect("r1-r5"))?;
            // Sizes, constants, and numbers standing for NULL are checked by value.
            if r.kind == Kind::Scalar
                && matches!(
                    arg,
                    Arg::Mem
                        | Arg::MemOut
                        | Arg::MemInOut
                        | Arg::MemOrNull
                        | Arg::MemOutOrNull
                        | Arg::MapValueOrNull
                        | Arg::CtxOrNull
                        | Arg::Size
                        | Arg::SizeOrZero
                        | Arg::ConstSize
                        | Arg::StackOrNull
                )
            {
                self.want.set_reg(frame, regno as u8);
            }
            let bad = |what: &str| -> Res<()> {
                fail(
                    Reason::HelperArgument,
                    format!(
                        "bpf_{} argument {regno} (R{regno}) must be {what}, but it is {r}",
                        proto.name
                    ),
                    format!("pass {what} as argument {regno} of bpf_{}", proto.name),
                )
            };
            match arg {
                Arg::Unused | Arg::Unmodelled(_) => {}
                Arg::Anything | Arg::KernelPtr => {}
                Arg::Map => match r.kind {
                    Kind::ConstMap { map: m } => {
                        self.check_map_compat(proto.id, m)?;
                        let info = self.map(m);
                        if let Some(other) = info.holds.iter().find(|&&t| t != self.prog_type) {
                            return fail(
                                Reason::HelperArgument,
                                format!(
                                    "program array `{}` holds {} programs, which {} programs cannot tail-call",
                                    info.name,
                                    other.name(),
                                    self.prog_type.name()
                                ),
                                "the kernel ties a program array to one program type: put only programs of the caller's type in it",
                            );
                        }
                        if helpers::changes_map(proto.id) && info.read_only {
                            return fail(
                                Reason::ReadOnly,
                                format!(
                                    "write into map `{}` forbidden: bpf_{} changes it, and it is read-only for programs",
                                    info.name, proto.name
                                ),
                                "a .rodata or BPF_F_RDONLY_PROG map cannot be updated, deleted from, pushed to or popped by a program",
                            );
                        }
                        map = Some(m);
                    }
                    _ => bad("a map (from a map reference)")?,
                },
                Arg::MapValueOrNull if r.kind == Kind::Scalar && r.val.as_const() == Some(0) => {}
                Arg::MapKey | Arg::MapValue | Arg::MapValueOut | Arg::MapValueOrNull => {
                    let m = map.expect("map arguments come first");
                    let info = self.map(m);
                    let (size, write) = match arg {
                        Arg::MapKey => (info.key_size, false),
                        Arg::MapValue | Arg::MapValueOrNull => (info.value_size, false),
                        _ => (info.value_size, true),
                    };
                    let what = if *arg == Arg::MapKey { "key" } else { "value" };
                    if !r.kind.is_pointer() {
                        bad(&format!(
                            "a pointer to the {size}-byte {what} of map `{}`",
                            info.name
                        ))?;
                    }
                    self.helper_mem(st, &r, regno, size as u64, size as u64, write)
                        .map_err(|f| {
                            Box::new(Fail {
                                message: format!(
                                    "the {what} for map `{}` must be {size} readable bytes: {}",
                                    self.map(m).name,
                                    f.message
                                ),
                                ..*f
                            })
                        })?;
                }
                Arg::CtxOrNull if r.kind == Kind::Scalar && r.val.as_const() == Some(0) => {}
                Arg::Ctx | Arg::CtxOrNull => {
                    if r.kind != Kind::Ctx || r.off != 0 {
                        bad("the context pointer (r1 at program entry)")?;
                    }
                }
                Arg::Fixed { size, write } => {
                    if !r.kind.is_pointer() || r.kind.maybe_null() {
                        if r.kind.maybe_null() {
                            Self::null_fail(&r, regno as u8)?;
                        }
                        bad(&format!("a pointer to {size} bytes of memory"))?;
                    }
                    self.helper_mem(st, &r, regno, *size as u64, *size as u64, *write)?;
                }
                Arg::Sock | Arg::SockRelease => {
                    if r.kind.maybe_null() {
                        Self::null_fail(&r, regno as u8)?;
                    }
                    if r.kind != (Kind::Sock { null: false }) {
                        bad("a socket (from a socket lookup, checked against NULL)")?;
                    }
                    if *arg == Arg::SockRelease {
                        if r.ref_id == 0 {
                            return fail(
                                Reason::InvalidRelease,
                                format!("bpf_{} needs a socket a lookup acquired, but R{regno} is {r}", proto.name),
                                "release only sockets from bpf_sk_lookup_tcp/udp or bpf_skc_lookup_tcp",
                            );
                        }
                        release = Some(r.ref_id);
                    } else if sock.is_none() {
                        sock = Some(r);
                    }
                }
                Arg::Mem | Arg::MemOut | Arg::MemInOut | Arg::MemOrNull | Arg::MemOutOrNull => {
                    if matches!(arg, Arg::MemOrNull | Arg::MemOutOrNull)
                        && r.kind == Kind::Scalar
                        && r.val.as_const() == Some(0)
                    {
                        mem = None;
                        continue;
                    }
                    if !r.kind.is_pointer() || r.kind.maybe_null() {
                        if r.kind.maybe_null() {
                            Self::null_fail(&r, regno as u8)?;
                        }
                        bad("a pointer to memory")?;
                    }
                    if *arg == Arg::MemInOut {
                        // Read first (initialized), then written below with the size.
                        mem_in_out = true;
                    }
                    mem = Some((
                        regno,
                        r,
                        matches!(arg, Arg::MemOut | Arg::MemInOut | Arg::MemOutOrNull),
                    ));
                }
                Arg::Size | Arg::SizeOrZero => {
                    if r.kind != Kind::Scalar {
                        bad("a size (a number)")?;
                    }
                    if r.val.smin < 0 {
                        return fail(
                            Reason::HelperArgument,
                            format!(
                                "bpf_{} size R{regno} may be negative ({})",
                                proto.name, r.val
                            ),
                            "bound the size: if (len < 0 || len > sizeof(buf)) return ...;",
                        );
                    }
                    if r.val.umin == 0 && *arg == Arg::Size {
                        return fail(
                            Reason::HelperArgument,
                            format!("bpf_{} size R{regno} may be zero ({})", proto.name, r.val),
                            "check that the size is at least 1 before the call",
                        );
                    }
                    if let Some((mreg, m, write)) = mem {
                        if mem_in_out {
                            self.helper_mem(st, &m, mreg, r.val.umax, r.val.umin, false)?;
                        }
                        self.helper_mem(st, &m, mreg, r.val.umax, r.val.umin, write)?;
                    }
                }
                Arg::ConstSize => {
                    if r.kind != Kind::Scalar || r.val.as_const().is_none() {
                        bad("a constant size")?;
                    }
                    ret_size = r.val.as_const();
                }
                Arg::ConstStr => {
                    self.check_const_str(&r, regno, proto.name)?;
                }
                Arg::Func => match r.kind {
                    Kind::Func { insn } => callback = Some(insn as usize),
                    _ => bad("a callback function address")?,
                },
                Arg::StackOrNull => {
                    let ok = matches!(r.kind, Kind::Stack { .. })
                        || (r.kind == Kind::Scalar && r.val.as_const() == Some(0));
                    if !ok {
                        bad("a pointer to the stack, or NULL")?;
                    }
                }
                Arg::RingbufRecord => {
                    if !matches!(r.kind, Kind::Mem { null: false, .. }) || r.ref_id == 0 {
                        if r.kind.maybe_null() {
                            Self::null_fail(&r, regno as u8)?;
                        }
                        return fail(
                            Reason::InvalidRelease,
                            format!("bpf_{} needs a record from bpf_ringbuf_reserve, but R{regno} is {r}", proto.name),
                            "pass the pointer bpf_ringbuf_reserve returned (after the NULL check)",
                        );
                    }
                    if r.off != 0 || r.val.as_const() != Some(0) {
                        return fail(
                            Reason::InvalidRelease,
                            format!(
                                "R{regno} points {} bytes into the record, not at its start",
                                r.off
                            ),
                            "pass the record pointer itself, not an offset into it",
                        );
                    }
                    release = Some(r.ref_id);
                }
            }
        }
        if id == 12 {
            if let Some(&(_, at)) = st.refs.first() {
                return fail(
                    Reason::ReferenceLeak,
                    format!(
                        "bpf_tail_call may end the program while {} is held",
                        self.reference_at(at)
                    ),
                    "release every reference (ring buffer records, sockets) before the tail call",
                );
            }
        }
        if let Some(id) = release {
            st.refs.retain(|(r, _)| *r != id);
            st.for_each_reg(|r| {
                if r.ref_id == id {
                    *r = Reg::unknown();
                }
            });
        }
        if proto.changes_packet {
            st.for_each_reg(|r| {
                if matches!(r.kind, Kind::Packet | Kind::PacketEnd | Kind::PacketMeta) {
                    *r = Reg::unknown();
                }
            });
        }
        let args: [Reg; 5] = std::array::from_fn(|k| st.cur().regs[k + 1]);
        for r in 1..=5 {
            st.cur_mut().regs[r] = Reg::UNINIT;
        }
        let r0 = match proto.ret {
            Ret::Integer | Ret::KernelPtr => match id {
                7 => Reg::scalar(Scalar::upto(u32::MAX as u64)),
                _ => Reg::unknown(),
            },
            Ret::Void => Reg::UNINIT,
            Ret::MapValue => {
                let m = map.expect("storage helpers take a map");
                let mut r = Reg::pointer(Kind::MapValue {
                    map: m,
                    null: false,
                });
                r.id = self.new_id();
                r
            }
            Ret::SockOrNull => {
                let mut r = Reg::pointer(Kind::Sock { null: true });
                r.id = self.new_id();
                if proto.acquires {
                    r.ref_id = r.id;
                    path.state.refs.push((r.ref_id, pc));
                } else if let Some(parent) = sock {
                    // Derived from a socket (sk_fullsock, tcp_sock): released with it.
                    r.ref_id = parent.ref_id;
                }
                r
            }
            Ret::MapValueOrNull => {
                let m = map.expect("lookup takes a map");
                let info = self.map(m);
                // An array lookup with a constant in-range key cannot fail.
                let array = matches!(info.map_type, 2 | 6) && info.key_size == 4;
                let never_null = array
                    && info.inner.is_none()
                    && const_stack_key(&path.state, &args[1])
                        .is_some_and(|k| k < info.max_entries as u64);

                let mut r = if let Some(inner) = info.inner {
                    Reg::pointer(Kind::MapPtrOrNull { map: inner })
                } else if matches!(info.map_type, 12 | 13) {
                    // The lookup returns an inner map, whose kind only its template says.
                    return fail(
                        Reason::HelperArgument,
                        format!(
                            "map `{}` is a map of maps without an inner map template",
                            info.name
                        ),
                        "declare the inner map (__array(values, ...)), as the kernel needs one to create the map",
                    );
                } else {
                    Reg::pointer(Kind::MapValue {
                        map: m,
                        null: !never_null,
                    })
                };
                r.id = self.new_id();
                r
            }
            Ret::RingbufOrNull => {
                let size = ret_size.unwrap_or(0);
                let mut r = Reg::pointer(Kind::Mem {
                    size: size.min(u32::MAX as u64) as u32,
                    null: true,
                });
                r.id = self.new_id();
                r.ref_id = r.id;
                path.state.refs.push((r.ref_id, pc));
                r
            }
        };
        path.state.cur_mut().regs[0] = r0;
        if let (Some(m), Kind::Stack { frame: kf }, Some(c)) =
            (map, args[1].kind, args[1].val.as_const())
        {
            let info = self.map(m);
            if proto.ret == Ret::MapValueOrNull && matches!(info.map_type, 2 | 6) {
                // Whether the key is a constant in range decides NULL or not.
                if let Some(spi) = precision::slot_of(args[1].off + c as i64) {
                    self.want.set_slot(kf as usize, spi);
                }
            }
        }
        self.flush_want(path);
        if let (Some(func), Some(k)) = (callback, proto.callback) {
            let _ = k;
            let cb_args = match id {
                181 => [
                    Reg::scalar(Scalar::upto(1 << 23)),
                    args[2],
                    Reg::UNINIT,
                    Reg::UNINIT,
                    Reg::UNINIT,
                ],
                _ => {
                    let m = map.expect("for_each takes a map");
                    [
                        Reg::pointer(Kind::ConstMap { map: m }),
                        Reg::pointer(Kind::MapKey { map: m }),
                        Reg::pointer(Kind::MapValue {
                            map: m,
                            null: false,
                        }),
                        args[2],
                        Reg::UNINIT,
                    ]
                }
            };
            // Zero iterations: the call simply returns.
            let mut after = path.state.clone();
            after.cur_mut().regs[0] = Reg::unknown();
            self.fork(path, after, next, Note::Jump);
            return self.enter_callback(path, pc, func, cb_args);
        }
        path.pc = next;
        Ok(true)
    }

    pub(super) fn check_map_compat(&self, helper: i32, m: u32) -> Res<()> {
        let t = self.map(m).map_type;
        let name = oxbpf_object::map_type_name(t);
        let ok = helpers::map_types_for(helper).is_none_or(|ts| ts.contains(&t))
            && helpers::map_allows(t, helper);
        if ok {
            Ok(())
        } else {
            let hname = oxbpf_isa::helper_name(helper).unwrap_or("?");
            fail(
                Reason::HelperArgument,
                format!(
                    "bpf_{hname} cannot be used with map `{}`, a {name} map",
                    self.map(m).name
                ),
                "use the helpers meant for this map type",
            )
        }
    }

    /// What the reference acquired at instruction `at` is, for messages.
    pub(super) fn reference_at(&self, at: usize) -> String {
        match self.cfg.insns.get(at).copied().flatten() {
            Some(Insn::Call {
                kind: CallKind::Helper,
                imm: 131,
            }) => format!("the ring buffer record reserved at instruction {at}"),
            Some(Insn::Call {
                kind: CallKind::Helper,
                imm,
            }) => format!(
                "the socket bpf_{} acquired at instruction {at}",
                oxbpf_isa::helper_name(imm).unwrap_or("?")
            ),
            _ => format!("the reference acquired at instruction {at}"),
        }
    }

    pub(super) fn check_const_str(&self, r: &Reg, regno: usize, helper: &str) -> Res<()> {
        let bad = || {
            fail(
                Reason::HelperArgument,
                format!("bpf_{helper} argument {regno} must point to a constant string in a read-only map, but it is {r}"),
                "pass a string literal (clang puts it in .rodata)",
            )
        };
        let Kind::MapValue { map, null: false } = r.kind else {
            return bad();
        };
        let m = self.map(map);
        let (Some(data), Some(0)) = (&m.frozen, r.val.as_const()) else {
            return bad();
        };
        let start = r.off.max(0) as usize;
        if !data.get(start..).is_some_and(|d| d.contains(&0)) {
            return fail(
                Reason::HelperArgument,
                format!(
                    "the string for bpf_{helper} is not NUL-terminated inside map `{}`",
                    m.name
                ),
                "end the string with a NUL byte",
            );
        }
        Ok(())
    }

    /// Checks a helper's access to `max` bytes (at least `min` are used) through `r`.
    pub(super) fn helper_mem(
        &mut self,
        st: &mut State,
        r: &Reg,
        regno: usize,
        max: u64,
        min: u64,
        write: bool,
    ) -> Res<()> {
        let regno8 = regno as u8;
        if max > 1 << 29 {
            return fail(
                Reason::HelperArgument,
                format!("the size for R{regno} is unbounded (up to {max})"),
                "bound the size against the buffer's size before the call",
            );
        }
        let _ = min;
        if max == 0 {
            return Ok(());
        }
        let size = max as usize;
        match r.kind {
            Kind::Stack { frame } => {
                let func = st.frames[frame as usize].func;
                let (lo, hi) = self.stack_range(func, r, regno8, 0, size)?;
                let fr = &mut st.frames[frame as usize];
                for b in lo..hi {
                    let (spi, k) = byte_pos(b);
                    if write {
                        let slot = fr.slot_mut(spi);
                        if slot.spill.is_some() {
                            destroy_spill(slot);
                        }
                        slot.bytes[k] = Byte::Misc;
                    } else if fr.slot(spi).bytes[k] == Byte::Invalid {
                        if !self.opts.allows_uninit_stack() {
                            return uninit_stack(b, regno8);
                        }
                    } else if !self.opts.privileged && spilled_pointer_byte(&fr.slot(spi), k) {
                        return stack_pointer_leak(b, regno8);
                    }
                }
                Ok(())
            }
            Kind::MapValue { map, null: false } => {
                let m = self.map(map);
                if write && m.read_only {
                    return fail(
                        Reason::ReadOnly,
                        format!("map `{}` is read-only", m.name),
                        "write into a writable buffer",
                    );
                }
                if !write && m.write_only {
                    return fail(
                        Reason::WriteOnly,
                        format!(
                            "read from map `{}` forbidden: it is BPF_F_WRONLY_PROG",
                            m.name
                        ),
                        "pass a buffer the program may read",
                    );
                }
                Self::bounds(
                    r,
                    regno8,
                    r.off,
                    size,
                    m.value_size as i64,
                    What::MapValue(&m.name),
                )
            }
            Kind::MapKey { map } => {
                if write {
                    return fail(
                        Reason::ReadOnly,
                        "map keys are read-only",
                        "write into a stack buffer",
                    );
                }
                Self::bounds(
                    r,
                    regno8,
                    r.off,
                    size,
                    self.map(map).key_size as i64,
                    What::MapKey,
                )
            }
            Kind::Mem {
                size: limit,
                null: false,
            } => Self::bounds(r, regno8, r.off, size, limit as i64, What::Memory),
            Kind::Packet | Kind::PacketMeta => self.packet_access(r, regno8, 0, size, write),
            k if k.maybe_null() => Self::null_fail(r, regno8),
            _ => fail(
                Reason::HelperArgument,
                format!("R{regno} must point to {size} bytes of memory, but it is {r}"),
                "pass a pointer to a stack buffer or a map value",
            ),
        }
    }
}

/// The 4-byte key a stack pointer points at, when it is a known constant.
fn const_stack_key(st: &State, key: &Reg) -> Option<u64> {
    let Kind::Stack { frame } = key.kind else {
        return None;
    };
    let off = key.off + key.val.as_const()? as i64;
    if off >= 0 || off < -(STACK_SIZE as i64) {
        return None;
    }
    let (spi, k) = byte_pos(off);
    let slot = st.frames.get(frame as usize)?.slot(spi);
    let bytes = slot.bytes.get(k..k + 4)?;
    if bytes.iter().all(|b| *b == Byte::Zero) {
        return Some(0);
    }
    // A spill of exactly the key's four bytes (as the kernel requires).
    let spill4 = slot.bytes[..4].iter().all(|b| *b == Byte::Spill)
        && !slot.bytes[4..].contains(&Byte::Spill);
    match slot.spill {
        Some(r) if k == 0 && r.kind == Kind::Scalar && spill4 => {
            r.val.as_const().map(|v| v & 0xffff_ffff)
        }
        _ => None,
    }
}
