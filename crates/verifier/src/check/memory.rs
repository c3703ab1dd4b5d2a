//! Memory and stack: loads, stores and atomics through every pointer kind,
//! stack slots (spills, fills, partial writes), `lddw` and legacy packet loads.

use super::*;

impl Checker<'_> {
    /// Checks that `[off + var, +size)` lies in `0..limit`.
    pub(super) fn bounds(
        reg: &Reg,
        regno: u8,
        off: i64,
        size: usize,
        limit: i64,
        what: What<'_>,
    ) -> Res<()> {
        let lo = reg.val.smin.saturating_add(off);
        if reg.val.umax > 1 << 29 || reg.val.smin < -(1 << 29) {
            return fail(
                Reason::OutOfBounds,
                format!("R{regno} ({what}) has an unbounded variable offset {}", reg.val),
                "bound the index before adding it (if (i >= N) return ...;), or mask it (i &= N - 1)",
            );
        }
        let hi = (reg.val.umax as i64).max(reg.val.smax) + off + size as i64;
        if lo < 0 {
            return fail(
                Reason::OutOfBounds,
                format!("R{regno} ({what}) access at offset {lo} is before the start"),
                "make sure the index cannot be negative (compare it unsigned, or check >= 0)",
            );
        }
        if hi > limit {
            return fail(
                Reason::OutOfBounds,
                format!(
                    "R{regno} ({what}) access of {size} bytes may reach offset {hi}, past the end ({limit} bytes)"
                ),
                format!("check the offset against the size ({limit}) before the access"),
            );
        }
        Ok(())
    }

    pub(super) fn null_fail<T>(reg: &Reg, regno: u8) -> Res<T> {
        let from = match reg.kind {
            Kind::MapValue { .. } => "bpf_map_lookup_elem",
            Kind::Mem { .. } => "bpf_ringbuf_reserve",
            Kind::Sock { .. } => "the socket lookup",
            _ => "the map-of-maps lookup",
        };
        fail(
            Reason::PossiblyNull,
            format!("R{regno} may be NULL here ({})", reg.kind.name()),
            format!("check the result of {from} against NULL (if (!p) return ...;) before dereferencing it"),
        )
    }

    pub(super) fn not_pointer<T>(reg: &Reg, regno: u8) -> Res<T> {
        if reg.kind == Kind::Scalar && reg.val.as_const() == Some(0) {
            return fail(
                Reason::InvalidMemAccess,
                format!("R{regno} is NULL (the number 0) and is dereferenced"),
                "only dereference pointers you got from the context, the stack, a map lookup or a helper",
            );
        }
        fail(
            Reason::InvalidMemAccess,
            format!("R{regno} is a {} ({}), not a pointer to memory", reg.kind.name(), reg),
            "only dereference pointers you got from the context, the stack, a map lookup or a helper",
        )
    }

    pub(super) fn stack_range(
        &mut self,
        func: usize,
        reg: &Reg,
        regno: u8,
        off: i64,
        size: usize,
    ) -> Res<(i64, i64)> {
        let wild = reg.val.smin < -(1 << 29) || reg.val.smax > 1 << 29;
        let (vmin, vmax) = if wild {
            (0, 0)
        } else {
            (reg.val.smin, reg.val.smax)
        };
        let lo = reg.off + off + vmin;
        let hi = reg.off + off + vmax + size as i64;
        if wild || lo < -(STACK_SIZE as i64) || hi > 0 {
            return fail(
                Reason::OutOfBounds,
                format!(
                    "R{regno} stack access at fp{lo:+} ({size} bytes) is outside the {STACK_SIZE}-byte stack frame"
                ),
                "stack offsets must be between fp-512 and fp-1 (use negative offsets from r10)",
            );
        }
        let func = self.cfg.subprog_of(func);
        self.depth[func] = self.depth[func].max((-lo) as usize);
        Ok((lo, hi))
    }

    pub(super) fn load(
        &mut self,
        st: &mut State,
        src: R,
        base: Reg,
        off: i16,
        size: Size,
        _pc: usize,
    ) -> Res<Reg> {
        let regno = src.num();
        let off = off as i64;
        let sz = size.bytes();
        let unknown = Reg::scalar(Scalar::UNKNOWN.truncate(sz));
        match base.kind {
            k if k.maybe_null() => Self::null_fail(&base, regno),
            Kind::Ctx => {
                if base.val.as_const() != Some(0) || base.off != 0 {
                    return fail(
                        Reason::ContextAccess,
                        format!("R{regno} is the context pointer moved by {}; context fields must be read through the unmodified pointer", if base.off != 0 { base.off.to_string() } else { base.val.to_string() }),
                        "read context fields as *(ctx + constant), not through a pointer you moved",
                    );
                }
                match context::access(self.prog_type, base.off + off, sz, false) {
                    Ok(Field::Scalar) => Ok(unknown),
                    Ok(Field::Pointer(kind)) => Ok(Reg::pointer(kind)),
                    Err(why) => fail(
                        Reason::ContextAccess,
                        format!("invalid context access: {why}"),
                        format!("see the fields of the {} context and their sizes", self.prog_type.name()),
                    ),
                }
            }
            Kind::Stack { frame } => {
                let func = st.frames[frame as usize].func;
                let (lo, hi) = self.stack_range(func, &base, regno, off, sz)?;
                let fr = &st.frames[frame as usize];
                if base.val.as_const().is_some() {
                    return self.stack_read(fr, lo, sz, regno);
                }
                if !self.opts.allows_uninit_stack() {
                    for b in lo..hi {
                        let (spi, k) = byte_pos(b);
                        if fr.slot(spi).bytes[k] == Byte::Invalid {
                            return uninit_stack(b, regno);
                        }
                    }
                }
                Ok(unknown)
            }
            Kind::MapValue { map, .. } => {
                let m = self.map(map);
                if m.write_only {
                    return fail(
                        Reason::WriteOnly,
                        format!("read from map `{}` forbidden: it is BPF_F_WRONLY_PROG", m.name),
                        "programs may only write this map's values",
                    );
                }
                Self::bounds(&base, regno, base.off + off, sz, m.value_size as i64, What::MapValue(&m.name))?;
                // Values of frozen read-only maps are known.
                if let (Some(data), Some(0)) = (&m.frozen, base.val.as_const()) {
                    let at = (base.off + off) as usize;
                    if let Some(b) = data.get(at..at + sz) {
                        let mut v = [0u8; 8];
                        v[..sz].copy_from_slice(b);
                        return Ok(Reg::scalar(Scalar::constant(u64::from_le_bytes(v))));
                    }
                }
                Ok(unknown)
            }
            Kind::MapKey { map } => {
                let m = self.map(map);
                Self::bounds(&base, regno, base.off + off, sz, m.key_size as i64, What::MapKey)?;
                Ok(unknown)
            }
            Kind::Mem { size: limit, .. } => {
                Self::bounds(&base, regno, base.off + off, sz, limit as i64, What::Memory)?;
                Ok(unknown)
            }
            // struct bpf_sock: 80 bytes of numbers, read-only.
            Kind::Sock { .. } => {
                Self::bounds(&base, regno, base.off + off, sz, 80, What::Memory)?;
                Ok(unknown)
            }
            Kind::Packet | Kind::PacketMeta => {
                self.packet_access(&base, regno, off, sz, false)?;
                Ok(unknown)
            }
            Kind::PacketEnd => fail(
                Reason::InvalidMemAccess,
                format!("R{regno} is data_end; it marks the end of the packet and cannot be read through"),
                "read through the data pointer after checking data + N <= data_end",
            ),
            Kind::ConstMap { .. } | Kind::Func { .. } => fail(
                Reason::InvalidMemAccess,
                format!("R{regno} ({}) cannot be dereferenced", base.kind.name()),
                "pass map pointers to helpers such as bpf_map_lookup_elem instead",
            ),
            _ => Self::not_pointer(&base, regno),
        }
    }

    pub(super) fn stack_read(&self, fr: &Frame, lo: i64, sz: usize, regno: u8) -> Res<Reg> {
        let (spi, k) = byte_pos(lo);
        let slot = fr.slot(spi);
        if k + sz > 8 {
            return fail(
                Reason::InvalidMemAccess,
                format!(
                    "R{regno} stack read at fp{lo:+} of {sz} bytes crosses an 8-byte slot boundary"
                ),
                "align stack accesses to their size",
            );
        }
        let bytes = &slot.bytes[k..k + sz];
        if let Some(spill) = slot.spill {
            if bytes.iter().all(|b| *b == Byte::Spill) {
                if spill.kind.is_pointer() {
                    if sz != 8 || k != 0 {
                        return fail(
                            Reason::InvalidMemAccess,
                            format!("R{regno} reads part of a spilled pointer at fp{lo:+}"),
                            "reload spilled pointers whole, as 8-byte loads",
                        );
                    }
                    return Ok(spill);
                }
                if k == 0 {
                    let mut v = spill;
                    v.val = spill.val.truncate(sz);
                    if sz < 8 {
                        v.id = 0;
                    }
                    return Ok(v);
                }
                return Ok(Reg::scalar(Scalar::UNKNOWN.truncate(sz)));
            }
        }
        if let Some(p) = bytes.iter().position(|b| *b == Byte::Invalid) {
            if !self.opts.allows_uninit_stack() {
                return uninit_stack(lo + p as i64, regno);
            }
        }
        if bytes.iter().all(|b| *b == Byte::Zero) {
            return Ok(Reg::scalar(Scalar::constant(0)));
        }
        if bytes.contains(&Byte::Spill) && slot.spill.is_some_and(|r| r.kind.is_pointer()) {
            return fail(
                Reason::InvalidMemAccess,
                format!("R{regno} reads part of a spilled pointer at fp{lo:+}"),
                "reload spilled pointers whole, as 8-byte loads",
            );
        }
        Ok(Reg::scalar(Scalar::UNKNOWN.truncate(sz)))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn store(
        &mut self,
        st: &mut State,
        dst: R,
        base: Reg,
        off: i16,
        size: Size,
        v: Reg,
        is_reg: bool,
    ) -> Res<()> {
        let regno = dst.num();
        let off = off as i64;
        let sz = size.bytes();
        let priv_ = self.opts.privileged;
        if v.kind.is_pointer() && !matches!(base.kind, Kind::Stack { .. }) && !priv_ {
            return fail(
                Reason::PointerLeak,
                format!(
                    "storing a pointer ({}) into {} leaks a kernel address",
                    v.kind.name(),
                    base.kind.name()
                ),
                "without privileges, pointers may only be spilled to the stack",
            );
        }
        let _ = is_reg;
        match base.kind {
            k if k.maybe_null() => Self::null_fail(&base, regno),
            Kind::Ctx => {
                if base.val.as_const() != Some(0) || base.off != 0 {
                    return fail(
                        Reason::ContextAccess,
                        format!("R{regno} is the context pointer moved by {}; context fields must be written through the unmodified pointer", base.off),
                        "write context fields as *(ctx + constant) = value",
                    );
                }
                context::access(self.prog_type, base.off + off, sz, true)
                    .map(|_| ())
                    .or_else(|why| {
                        fail(
                            Reason::ContextAccess,
                            format!("invalid context write: {why}"),
                            format!(
                                "see which {} context fields are writable",
                                self.prog_type.name()
                            ),
                        )
                    })
            }
            Kind::Stack { frame } => {
                let func = st.frames[frame as usize].func;
                let (lo, hi) = self.stack_range(func, &base, regno, off, sz)?;
                let fr = &mut st.frames[frame as usize];
                if base.val.as_const().is_some() {
                    return stack_write(fr, lo, sz, v, regno, priv_);
                }
                if v.kind.is_pointer() {
                    return fail(
                        Reason::InvalidMemAccess,
                        "spilling a pointer at a variable stack offset is not allowed",
                        "spill pointers at constant, 8-byte aligned offsets",
                    );
                }
                for b in lo..hi {
                    let (spi, k) = byte_pos(b);
                    let slot = fr.slot_mut(spi);
                    if slot.bytes[k] != Byte::Invalid {
                        destroy_spill(slot);
                        slot.bytes[k] = Byte::Misc;
                    }
                }
                Ok(())
            }
            Kind::MapValue { map, .. } => {
                let m = self.map(map);
                if m.read_only {
                    return fail(
                        Reason::ReadOnly,
                        format!("map `{}` is read-only for programs", m.name),
                        "write to a map that is not .rodata or BPF_F_RDONLY_PROG",
                    );
                }
                Self::bounds(
                    &base,
                    regno,
                    base.off + off,
                    sz,
                    m.value_size as i64,
                    What::MapValue(&m.name),
                )
            }
            Kind::Mem { size: limit, .. } => {
                Self::bounds(&base, regno, base.off + off, sz, limit as i64, What::Memory)
            }
            Kind::Packet | Kind::PacketMeta => self.packet_access(&base, regno, off, sz, true),
            Kind::MapKey { .. } => fail(
                Reason::ReadOnly,
                "map keys passed to callbacks are read-only",
                "copy the key to the stack before changing it",
            ),
            Kind::PacketEnd | Kind::ConstMap { .. } | Kind::Func { .. } | Kind::Sock { .. } => {
                fail(
                    Reason::InvalidMemAccess,
                    format!("R{regno} ({}) cannot be written through", base.kind.name()),
                    "write through pointers to the stack, map values or checked packet data",
                )
            }
            _ => Self::not_pointer(&base, regno),
        }
    }

    pub(super) fn atomic(
        &mut self,
        st: &mut State,
        size: Size,
        op: AtomicOp,
        dst: R,
        src: R,
        off: i16,
    ) -> Res<()> {
        let base = self.read(st, dst)?;
        let v = self.read(st, src)?;
        if v.kind != Kind::Scalar {
            return fail(
                Reason::PointerLeak,
                format!(
                    "R{} ({}) used as an atomic operand",
                    src.num(),
                    v.kind.name()
                ),
                "atomic operations work on numbers only",
            );
        }
        if op == AtomicOp::Cmpxchg {
            let r0 = self.read(st, R::R0)?;
            if r0.kind != Kind::Scalar {
                return fail(
                    Reason::PointerLeak,
                    "R0 holds a pointer in a compare-and-exchange",
                    "compare numbers only",
                );
            }
        }
        match base.kind {
            Kind::Stack { .. }
            | Kind::MapValue { null: false, .. }
            | Kind::Mem { null: false, .. } => {}
            k if k.maybe_null() => return Self::null_fail(&base, dst.num()),
            Kind::Ctx | Kind::Packet | Kind::PacketMeta => {
                return fail(
                    Reason::InvalidMemAccess,
                    format!(
                        "atomic operations on {} memory are not allowed",
                        base.kind.name()
                    ),
                    "use atomics on map values or the stack",
                )
            }
            _ => return Self::not_pointer(&base, dst.num()),
        }
        let at = base.off + off as i64;
        let sz = size.bytes() as i64;
        if at % sz != 0 || base.val.var.value % sz as u64 != 0 || base.val.var.mask % sz as u64 != 0
        {
            return fail(
                Reason::InvalidMemAccess,
                format!(
                    "the {sz}-byte atomic access at offset {at} (+{}) may be misaligned",
                    base.val
                ),
                format!("atomic operations need an address that is a multiple of {sz}"),
            );
        }
        // Read, then write, with the read's rules (the stack must be initialized).
        let old = self.load(st, dst, base, off, size, 0)?;
        if old.kind != Kind::Scalar {
            return fail(
                Reason::InvalidMemAccess,
                "atomic operation on a spilled pointer",
                "atomics work on numbers only",
            );
        }
        self.store(
            st,
            dst,
            base,
            off,
            size,
            Reg::unknown().truncated_to(size.bytes()),
            true,
        )?;
        let fetched = Reg::unknown().truncated_to(size.bytes());
        match op {
            AtomicOp::Cmpxchg => Self::write(st, R::R0, fetched)?,
            AtomicOp::Xchg
            | AtomicOp::Add { fetch: true }
            | AtomicOp::Or { fetch: true }
            | AtomicOp::And { fetch: true }
            | AtomicOp::Xor { fetch: true } => Self::write(st, src, fetched)?,
            _ => {}
        }
        Ok(())
    }

    pub(super) fn lddw(&mut self, src: LddwSrc, imm: u64, pc: usize) -> Res<Reg> {
        let idx = imm as u32;
        let map_ok = |this: &Self| -> Res<()> {
            if (idx as usize) < this.maps.len() {
                Ok(())
            } else {
                fail(
                    Reason::HelperArgument,
                    format!(
                        "lddw refers to map {idx}, but the program has {} maps",
                        this.maps.len()
                    ),
                    "load maps through an object file so the verifier knows their sizes",
                )
            }
        };
        Ok(match src {
            LddwSrc::Imm64 => Reg::scalar(Scalar::constant(imm)),
            LddwSrc::MapIdx | LddwSrc::MapFd => {
                map_ok(self)?;
                Reg::pointer(Kind::ConstMap { map: idx })
            }
            LddwSrc::MapIdxValue | LddwSrc::MapValue => {
                map_ok(self)?;
                let off = (imm >> 32) as i64;
                let m = self.map(idx);
                if m.map_type != 2 || m.max_entries != 1 {
                    return fail(
                        Reason::HelperArgument,
                        format!("lddw takes the address of a value of map `{}`, but only single-element arrays (global data) have one", m.name),
                        "look values up with bpf_map_lookup_elem, or use a global variable",
                    );
                }
                if off >= m.value_size as i64 {
                    return fail(
                        Reason::OutOfBounds,
                        format!(
                            "lddw points {off} bytes into map `{}`, whose value is {} bytes",
                            m.name, m.value_size
                        ),
                        "the offset must fall inside the map value",
                    );
                }
                let mut r = Reg::pointer(Kind::MapValue {
                    map: idx,
                    null: false,
                });
                r.off = off;
                r
            }
            LddwSrc::CodeAddr => Reg::pointer(Kind::Func {
                insn: (pc as i64 + 1 + imm as u32 as i32 as i64) as u32,
            }),
            LddwSrc::VarAddr => {
                return fail(
                    Reason::Unsupported,
                    "lddw of a kernel variable's address (BTF id) is not supported",
                    "read kernel data with bpf_probe_read_kernel",
                )
            }
        })
    }

    pub(super) fn ld_legacy(&mut self, st: &mut State, insn: Insn, size: Size) -> Res<()> {
        use ProgramType as P;
        if !matches!(self.prog_type, P::SocketFilter | P::SchedCls | P::SchedAct) {
            return fail(
                Reason::Unsupported,
                format!(
                    "legacy packet loads (ld_abs/ld_ind) are not allowed in {} programs",
                    self.prog_type.name()
                ),
                "use direct packet access or bpf_skb_load_bytes",
            );
        }
        if size == Size::DW {
            return fail(
                Reason::Decode,
                "legacy packet loads cannot be 8 bytes",
                "use a 1, 2 or 4 byte load",
            );
        }
        let r6 = self.read(st, R::R6)?;
        if r6.kind != Kind::Ctx || r6.off != 0 {
            return fail(
                Reason::InvalidMemAccess,
                "legacy packet loads need the context pointer in R6",
                "copy the context (r1 at entry) to r6 before the ld_abs/ld_ind",
            );
        }
        if let Insn::LdInd { src, .. } = insn {
            let s = self.read(st, src)?;
            if s.kind != Kind::Scalar {
                return fail(
                    Reason::InvalidMemAccess,
                    "the ld_ind index must be a number",
                    "index packets with numbers",
                );
            }
        }
        if let Some(&(_, at)) = st.refs.first() {
            return fail(
                Reason::ReferenceLeak,
                format!("a legacy packet load may end the program while the record reserved at {at} is held"),
                "submit or discard ring buffer records before ld_abs/ld_ind",
            );
        }
        for r in 1..=5 {
            st.cur_mut().regs[r] = Reg::UNINIT;
        }
        st.cur_mut().regs[0] = Reg::scalar(Scalar::upto((1u64 << (size.bytes() * 8)) - 1));
        Ok(())
    }
}

/// What a bounded access is into, for messages.
#[derive(Clone, Copy)]
pub(super) enum What<'a> {
    MapValue(&'a str),
    MapKey,
    Memory,
}

impl std::fmt::Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            What::MapValue(name) => write!(f, "value of map `{name}`"),
            What::MapKey => write!(f, "map key"),
            What::Memory => write!(f, "memory"),
        }
    }
}

/// The slot index and the byte within it of stack byte `fp + off` (`off` < 0).
pub(super) fn byte_pos(off: i64) -> (usize, usize) {
    let depth = (-off - 1) as usize;
    (depth / 8, 7 - depth % 8)
}

pub(super) fn uninit_stack<T>(off: i64, regno: u8) -> Res<T> {
    fail(
        Reason::UninitStack,
        format!("R{regno} reads stack byte fp{off:+}, which was never written on this path"),
        "initialize the whole buffer first (e.g. = {} or __builtin_memset), including struct padding",
    )
}

/// Whether byte `k` of `slot` is part of a spilled pointer.
pub(super) fn spilled_pointer_byte(slot: &Slot, k: usize) -> bool {
    slot.bytes[k] == Byte::Spill && slot.spill.is_some_and(|r| r.kind.is_pointer())
}

/// A helper would read a spilled pointer's bytes as data (unprivileged).
pub(super) fn stack_pointer_leak<T>(off: i64, regno: u8) -> Res<T> {
    fail(
        Reason::PointerLeak,
        format!("R{regno} hands a helper stack byte fp{off:+}, part of a spilled pointer, which leaks a kernel address"),
        "without privileges, pass helpers buffers holding numbers only",
    )
}

pub(super) fn destroy_spill(slot: &mut Slot) {
    if slot.spill.take().is_some() {
        for b in slot.bytes.iter_mut() {
            if *b == Byte::Spill {
                *b = Byte::Misc;
            }
        }
    }
}

fn stack_write(fr: &mut Frame, lo: i64, sz: usize, v: Reg, regno: u8, priv_: bool) -> Res<()> {
    let (spi, k) = byte_pos(lo);
    if k + sz > 8 {
        return fail(
            Reason::InvalidMemAccess,
            format!(
                "R{regno} stack write at fp{lo:+} of {sz} bytes crosses an 8-byte slot boundary"
            ),
            "align stack accesses to their size",
        );
    }
    let slot = fr.slot_mut(spi);
    if v.kind.is_pointer() {
        if sz != 8 || k != 0 {
            return fail(
                Reason::InvalidMemAccess,
                format!("a pointer can only be spilled as 8 bytes at an aligned offset, not {sz} bytes at fp{lo:+}"),
                "spill pointers with 8-byte stores to 8-byte aligned stack offsets",
            );
        }
        *slot = Slot {
            bytes: [Byte::Spill; 8],
            spill: Some(v),
        };
        return Ok(());
    }
    if let Some(old) = slot.spill {
        if old.kind.is_pointer() && !(sz == 8 && k == 0) && !priv_ {
            return fail(
                Reason::PointerLeak,
                format!("overwriting part of a spilled pointer at fp{lo:+}"),
                "overwrite spilled pointers whole",
            );
        }
    }
    if k == 0 && (sz == 8 || v.val.as_const() != Some(0)) {
        // A scalar spill: the bytes it covers remember the value.
        let keep_rest = sz < 8 && slot.spill.is_none();
        let mut bytes = if keep_rest {
            slot.bytes
        } else {
            [Byte::Misc; 8]
        };
        if !keep_rest && sz < 8 {
            bytes = slot
                .bytes
                .map(|b| if b == Byte::Spill { Byte::Misc } else { b });
        }
        for b in bytes.iter_mut().take(sz) {
            *b = Byte::Spill;
        }
        let mut val = v;
        val.val = v.val.truncate(sz);
        if sz < 8 {
            val.id = 0;
        }
        *slot = Slot {
            bytes,
            spill: Some(val),
        };
        return Ok(());
    }
    destroy_spill(slot);
    let byte = if v.val.as_const() == Some(0) {
        Byte::Zero
    } else {
        Byte::Misc
    };
    for b in &mut slot.bytes[k..k + sz] {
        *b = byte;
    }
    Ok(())
}
