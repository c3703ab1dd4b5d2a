//! The abstract machine state: registers, stack slots, call frames, and the
//! subsumption test that lets exploration prune a path.

use std::fmt;

use crate::precision::Marks;
use crate::scalar::Scalar;

/// Bytes of stack per frame.
pub const STACK_SIZE: usize = 512;
/// Most frames a call chain may have.
pub const MAX_FRAMES: usize = 8;

/// What a register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Never written: reading it is an error.
    Uninit,
    /// A number.
    Scalar,
    /// The program's context.
    Ctx,
    /// The stack of frame `frame`.
    Stack { frame: u8 },
    /// A value in map `map`; `null` until checked against 0.
    MapValue { map: u32, null: bool },
    /// A key of map `map` (a `for_each_map_elem` callback's argument).
    MapKey { map: u32 },
    /// The map itself, for helpers.
    ConstMap { map: u32 },
    /// An inner map from a map-of-maps lookup, or NULL.
    MapPtrOrNull { map: u32 },
    /// Packet data.
    Packet,
    /// The end of the packet data (only for comparisons).
    PacketEnd,
    /// The metadata in front of the packet.
    PacketMeta,
    /// `size` bytes returned by a helper (a ring buffer record); `null` until checked.
    Mem { size: u32, null: bool },
    /// The address of the function at `insn` (a callback).
    Func { insn: u32 },
    /// A socket (`struct bpf_sock`) from a lookup helper; `null` until checked.
    Sock { null: bool },
}

impl Kind {
    /// A number for hashing, distinct for distinct kinds.
    pub fn code(self) -> u64 {
        let (tag, a, b) = match self {
            Kind::Uninit => (0, 0, 0),
            Kind::Scalar => (1, 0, 0),
            Kind::Ctx => (2, 0, 0),
            Kind::Stack { frame } => (3, frame as u32, 0),
            Kind::MapValue { map, null } => (4, map, null as u32),
            Kind::MapKey { map } => (5, map, 0),
            Kind::ConstMap { map } => (6, map, 0),
            Kind::MapPtrOrNull { map } => (7, map, 0),
            Kind::Packet => (8, 0, 0),
            Kind::PacketEnd => (9, 0, 0),
            Kind::PacketMeta => (10, 0, 0),
            Kind::Mem { size, null } => (11, size, null as u32),
            Kind::Func { insn } => (12, insn, 0),
            Kind::Sock { null } => (13, null as u32, 0),
        };
        (tag << 56) ^ ((b as u64) << 32) ^ a as u64
    }

    /// Whether the register holds a pointer.
    pub fn is_pointer(self) -> bool {
        !matches!(self, Kind::Uninit | Kind::Scalar)
    }

    /// Whether the pointer may still be NULL.
    pub fn maybe_null(self) -> bool {
        matches!(
            self,
            Kind::MapValue { null: true, .. }
                | Kind::Mem { null: true, .. }
                | Kind::Sock { null: true }
                | Kind::MapPtrOrNull { .. }
        )
    }

    /// A short name, as the kernel's log prints it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Uninit => "uninitialized",
            Kind::Scalar => "scalar",
            Kind::Ctx => "ctx",
            Kind::Stack { .. } => "fp",
            Kind::MapValue { null: false, .. } => "map_value",
            Kind::MapValue { null: true, .. } => "map_value_or_null",
            Kind::MapKey { .. } => "map_key",
            Kind::ConstMap { .. } => "map_ptr",
            Kind::MapPtrOrNull { .. } => "map_ptr_or_null",
            Kind::Packet => "pkt",
            Kind::PacketEnd => "pkt_end",
            Kind::PacketMeta => "pkt_meta",
            Kind::Mem { null: false, .. } => "mem",
            Kind::Mem { null: true, .. } => "mem_or_null",
            Kind::Sock { null: false } => "sock",
            Kind::Sock { null: true } => "sock_or_null",
            Kind::Func { .. } => "func",
        }
    }
}

/// One register: its kind, and for pointers the offset from the object's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg {
    pub kind: Kind,
    /// Fixed offset of a pointer.
    pub off: i64,
    /// A scalar's value, or a pointer's variable offset.
    pub val: Scalar,
    /// Pointers that share an id are checked (against NULL or the packet end) together.
    pub id: u32,
    /// Bytes of packet known to be readable from this pointer.
    pub range: i64,
    /// The reference this pointer carries (a reserved ring buffer record), or 0.
    pub ref_id: u32,
}

impl Reg {
    /// An uninitialized register.
    pub const UNINIT: Reg = Reg {
        kind: Kind::Uninit,
        off: 0,
        val: Scalar::UNKNOWN,
        id: 0,
        range: 0,
        ref_id: 0,
    };

    /// A scalar.
    pub fn scalar(val: Scalar) -> Reg {
        Reg {
            kind: Kind::Scalar,
            val,
            ..Reg::UNINIT
        }
    }

    /// Any number.
    pub fn unknown() -> Reg {
        Reg::scalar(Scalar::UNKNOWN)
    }

    /// A pointer of `kind` at offset 0.
    pub fn pointer(kind: Kind) -> Reg {
        Reg {
            kind,
            val: Scalar::constant(0),
            ..Reg::UNINIT
        }
    }

    /// Whether `self`, a state already proven safe, covers every value of `cur`.
    /// Ids (links between registers) must correspond one to one, through `ids`.
    /// An imprecise scalar (`precise` false: no safety check used its value)
    /// covers any scalar.
    pub fn subsumes(&self, cur: &Reg, ids: &mut IdMap, precise: bool) -> bool {
        match (self.kind, cur.kind) {
            (Kind::Uninit, _) => true,
            // A link to another register (same id) in the old state may have
            // refined both on a later comparison: the new one must share it,
            // even when imprecise (linked registers hold the same value, so a
            // precise partner's range then bounds this one too).
            (Kind::Scalar, Kind::Scalar) => {
                (self.id == 0 || ids.check(self.id, cur.id))
                    && (!precise || self.val.includes(&cur.val))
            }
            (a, b) if a == b => {
                self.off == cur.off
                    && self.val.includes(&cur.val)
                    && ids.check(self.ref_id, cur.ref_id)
                    && (!a.maybe_null() || ids.check(self.id, cur.id))
                    && match a {
                        Kind::Packet | Kind::PacketMeta => {
                            self.range <= cur.range && ids.check(self.id, cur.id)
                        }
                        _ => true,
                    }
            }
            _ => false,
        }
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Uninit => write!(f, "uninit"),
            Kind::Scalar => write!(f, "{}", self.val),
            k => {
                write!(f, "{}", k.name())?;
                let mut parts = Vec::new();
                match k {
                    Kind::MapValue { map, .. }
                    | Kind::MapKey { map }
                    | Kind::ConstMap { map }
                    | Kind::MapPtrOrNull { map } => parts.push(format!("map={map}")),
                    Kind::Mem { size, .. } => parts.push(format!("size={size}")),
                    Kind::Func { insn } => parts.push(format!("insn={insn}")),
                    Kind::Stack { frame } if frame > 0 => parts.push(format!("frame={frame}")),
                    _ => {}
                }
                if self.off != 0 {
                    parts.push(format!("off={}", self.off));
                }
                if self.val.as_const() != Some(0) {
                    parts.push(format!("var={}", self.val));
                }
                if self.id != 0 {
                    parts.push(format!("id={}", self.id));
                }
                if matches!(k, Kind::Packet | Kind::PacketMeta) {
                    parts.push(format!("r={}", self.range));
                }
                if self.ref_id != 0 {
                    parts.push(format!("ref={}", self.ref_id));
                }
                write!(f, "({})", parts.join(","))
            }
        }
    }
}

/// A correspondence between the ids of an old state and a new one.
#[derive(Default)]
pub struct IdMap(Vec<(u32, u32)>);

impl IdMap {
    /// Whether old id `a` may stand for new id `b` given the pairs seen so far.
    pub fn check(&mut self, a: u32, b: u32) -> bool {
        if a == 0 || b == 0 {
            return a == b;
        }
        for &(x, y) in &self.0 {
            if x == a || y == b {
                return x == a && y == b;
            }
        }
        self.0.push((a, b));
        true
    }
}

/// What one stack byte holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Byte {
    /// Never written.
    Invalid,
    /// Some number.
    Misc,
    /// Known zero.
    Zero,
    /// Part of a spilled register.
    Spill,
}

/// Eight stack bytes, possibly holding a spilled register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    pub bytes: [Byte; 8],
    /// The spilled register, when `bytes` are (partly) `Spill`.
    pub spill: Option<Reg>,
}

impl Slot {
    /// An unwritten slot.
    pub const EMPTY: Slot = Slot {
        bytes: [Byte::Invalid; 8],
        spill: None,
    };

    fn subsumes(&self, cur: &Slot, ids: &mut IdMap, precise: bool) -> bool {
        // An imprecise spilled scalar is only some number: its bytes count as Misc.
        let loose = !precise && self.spill.is_some_and(|r| r.kind == Kind::Scalar);
        for k in 0..8 {
            let old = match self.bytes[k] {
                Byte::Spill if loose => Byte::Misc,
                b => b,
            };
            let ok = match (old, cur.bytes[k]) {
                (Byte::Invalid, _) => true,
                (Byte::Misc, Byte::Misc | Byte::Zero) => true,
                (Byte::Misc, Byte::Spill) => cur.spill.is_some_and(|r| r.kind == Kind::Scalar),
                (Byte::Zero, Byte::Zero) => true,
                (Byte::Zero, Byte::Spill) => cur
                    .spill
                    .is_some_and(|r| r.kind == Kind::Scalar && r.val.as_const() == Some(0)),
                (Byte::Spill, Byte::Spill) => true,
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        match (&self.spill, &cur.spill) {
            (Some(a), b) if loose => {
                a.id == 0 || b.is_some_and(|b| b.kind == Kind::Scalar && ids.check(a.id, b.id))
            }
            (Some(a), Some(b)) => a.subsumes(b, ids, true),
            (Some(_), None) => false,
            _ => true,
        }
    }
}

/// One function's frame: its registers and stack.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub regs: [Reg; 11],
    /// Slots from the frame pointer downwards: `stack[0]` is `fp-8 .. fp-1`.
    pub stack: Vec<Slot>,
    /// Where the caller continues (`None` for the entry frame).
    pub return_to: Option<usize>,
    /// The function's first slot.
    pub func: usize,
    /// For a callback frame: the helper call that runs it and the callback's arguments.
    pub callback: Option<Box<(usize, [Reg; 5])>>,
}

impl Frame {
    /// A frame whose registers are uninitialized except r10.
    pub fn new(frame: u8, func: usize, return_to: Option<usize>) -> Frame {
        let mut regs = [Reg::UNINIT; 11];
        regs[10] = Reg::pointer(Kind::Stack { frame });
        Frame {
            regs,
            stack: Vec::new(),
            return_to,
            func,
            callback: None,
        }
    }

    /// The slot holding byte `fp + off` (`off` negative), growing the stack as needed.
    pub fn slot_mut(&mut self, spi: usize) -> &mut Slot {
        if self.stack.len() <= spi {
            self.stack.resize(spi + 1, Slot::EMPTY);
        }
        &mut self.stack[spi]
    }

    /// The slot `spi`, or an empty one.
    pub fn slot(&self, spi: usize) -> Slot {
        self.stack.get(spi).copied().unwrap_or(Slot::EMPTY)
    }

    /// `regs` and `stack` are the precision marks of this frame (all set: exact).
    fn subsumes(&self, cur: &Frame, ids: &mut IdMap, regs: u16, stack: u64) -> bool {
        if self.func != cur.func || self.return_to != cur.return_to {
            return false;
        }
        if !self
            .regs
            .iter()
            .zip(&cur.regs)
            .enumerate()
            .all(|(r, (a, b))| a.subsumes(b, ids, regs & (1 << r) != 0))
        {
            return false;
        }
        let n = self.stack.len().max(cur.stack.len());
        (0..n).all(|k| {
            let precise = k >= 64 || stack & (1 << k) != 0;
            self.slot(k).subsumes(&cur.slot(k), ids, precise)
        })
    }
}

/// The whole abstract state: call frames plus the references held.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub frames: Vec<Frame>,
    /// Ids of reserved ring buffer records not yet submitted or discarded, with
    /// the instruction that reserved them.
    pub refs: Vec<(u32, usize)>,
}

impl State {
    /// The innermost frame.
    pub fn cur(&self) -> &Frame {
        self.frames.last().expect("at least one frame")
    }

    /// The innermost frame, mutably.
    pub fn cur_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("at least one frame")
    }

    /// Whether `self`, proven safe, covers every execution from `cur`, given
    /// the precision marks of `self` (`None`: every scalar is precise).
    pub fn subsumes(&self, cur: &State, marks: Option<&Marks>) -> bool {
        let mut ids = IdMap::default();
        self.frames.len() == cur.frames.len()
            && self.refs.len() == cur.refs.len()
            && self
                .refs
                .iter()
                .zip(&cur.refs)
                .all(|(a, b)| a.1 == b.1 && ids.check(a.0, b.0))
            && self
                .frames
                .iter()
                .zip(&cur.frames)
                .enumerate()
                .all(|(f, (a, b))| match marks {
                    Some(m) => a.subsumes(b, &mut ids, m.regs[f], m.stack[f]),
                    None => a.subsumes(b, &mut ids, u16::MAX, u64::MAX),
                })
    }

    /// A cheap hash, equal for equal states (it reads only some fields).
    pub fn fast_hash(&self) -> u64 {
        #[inline]
        fn mix(h: u64, v: u64) -> u64 {
            (h.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
        }
        // One word per register: its kind, offset and the scalar's main bounds.
        #[inline]
        fn word(r: &Reg) -> u64 {
            if r.kind == Kind::Uninit {
                return 0;
            }
            r.kind.code()
                ^ (r.off as u64).rotate_left(17)
                ^ r.val.var.value
                ^ r.val.var.mask.rotate_left(29)
                ^ r.val.umin.rotate_left(7)
                ^ (r.val.smax as u64).rotate_left(41)
        }
        let mut h = self.refs.len() as u64;
        for f in &self.frames {
            h = mix(h, f.func as u64);
            // Only the registers that hold something (at prune points the dead
            // ones have been cleared), each with its number; r10 is the frame's own.
            for (r, reg) in f.regs[..10].iter().enumerate() {
                if reg.kind != Kind::Uninit {
                    h = mix(h, word(reg) ^ (r as u64) << 60);
                }
            }
            for (k, slot) in f.stack.iter().enumerate() {
                if slot.bytes == [Byte::Invalid; 8] {
                    continue;
                }
                let bytes = u64::from_le_bytes(slot.bytes.map(|b| b as u8));
                h = mix(
                    h,
                    bytes ^ (k as u64) << 56 ^ slot.spill.as_ref().map_or(0, word),
                );
            }
        }
        h
    }

    /// Forgets scalar links (ids) that only one register carries: they can no
    /// longer refine anything, and would only stop pruning.
    pub fn clear_singular_ids(&mut self) {
        // Counts per id, in a fixed table (states rarely link many registers).
        const CAP: usize = 32;
        let mut seen = [(0u32, 0u32); CAP];
        let mut len = 0;
        let mut overflow = false;
        self.for_each_reg(|r| {
            if r.kind == Kind::Scalar && r.id != 0 {
                match seen[..len].iter_mut().find(|(id, _)| *id == r.id) {
                    Some((_, n)) => *n += 1,
                    None if len < CAP => {
                        seen[len] = (r.id, 1);
                        len += 1;
                    }
                    None => overflow = true,
                }
            }
        });
        if len == 0 || overflow {
            // None to clear, or too many to count here: keep them all (safe:
            // an id only ever restricts pruning).
            return;
        }
        let seen = &seen[..len];
        if seen.iter().all(|&(_, n)| n > 1) {
            return;
        }
        self.for_each_reg(|r| {
            if r.kind == Kind::Scalar
                && r.id != 0
                && seen.iter().any(|&(id, n)| id == r.id && n == 1)
            {
                r.id = 0;
            }
        });
    }

    /// Every register and spilled register, in every frame, mutably.
    pub fn for_each_reg(&mut self, mut f: impl FnMut(&mut Reg)) {
        for fr in &mut self.frames {
            for r in fr.regs.iter_mut() {
                f(r);
            }
            for s in fr.stack.iter_mut() {
                if let Some(r) = s.spill.as_mut() {
                    f(r);
                }
            }
        }
    }
}

/// A state kept at a prune point: like [`State`], but each frame keeps only
/// the registers that hold something (unwritten and dead ones are left out),
/// so that the many states of a long loop take less memory. The registers
/// and stack slots of every packed state live in one [`Cells`] arena, so
/// that storing a state costs no allocation of its own.
#[derive(Clone, Debug)]
pub struct Packed {
    /// The entry frame, kept inline: most states have no other.
    first: PackedFrame,
    /// The frames of calls, outermost first.
    rest: Vec<PackedFrame>,
    refs: Vec<(u32, usize)>,
}

/// The arena of packed states' cells: each frame's kept registers in register
/// order (each as the `spill` of a cell), then its stack slots.
#[derive(Debug, Default)]
pub struct Cells {
    /// Fixed-capacity chunks: the arena grows by adding one, so nothing is
    /// ever copied to a larger buffer (a single growing vector spent much of
    /// a million-instruction verification copying itself and faulting in the
    /// pages of each new buffer).
    chunks: Vec<Vec<Slot>>,
}

/// Cells per chunk (a frame has at most 11 registers and 64 stack slots).
const CHUNK: usize = 4096;

impl Cells {
    /// An arena with room for `n` cells before it needs a second chunk.
    pub fn with_capacity(n: usize) -> Cells {
        Cells {
            chunks: vec![Vec::with_capacity(n.max(CHUNK))],
        }
    }

    /// The chunk the next `n` cells go in, started afresh when the current
    /// one lacks room for all of them.
    fn room(&mut self, n: usize) -> usize {
        let last = self.chunks.len() - 1;
        let chunk = &self.chunks[last];
        if chunk.len() + n <= chunk.capacity() {
            return last;
        }
        self.chunks.push(Vec::with_capacity(n.max(CHUNK)));
        last + 1
    }
}

#[derive(Clone, Debug)]
struct PackedFrame {
    /// Bit `r`: register `r` is kept (it is not uninitialized).
    kept: u16,
    /// The arena chunk holding the frame's cells.
    chunk: usize,
    /// Where the frame's cells start in that chunk.
    at: usize,
    /// How many cells it has (kept registers plus stack slots).
    len: usize,
    return_to: Option<usize>,
    func: usize,
    callback: Option<Box<(usize, [Reg; 5])>>,
}

impl PackedFrame {
    fn nregs(&self) -> usize {
        self.kept.count_ones() as usize
    }

    fn cells<'c>(&self, cells: &'c Cells) -> &'c [Slot] {
        cells
            .chunks
            .get(self.chunk)
            .and_then(|c| c.get(self.at..self.at + self.len))
            .unwrap_or(&[])
    }

    /// The stack slots.
    fn stack<'c>(&self, cells: &'c Cells) -> &'c [Slot] {
        self.cells(cells).get(self.nregs()..).unwrap_or(&[])
    }

    fn slot(&self, cells: &Cells, spi: usize) -> Slot {
        self.stack(cells).get(spi).copied().unwrap_or(Slot::EMPTY)
    }

    /// The kept registers, in register order.
    fn kept_regs<'c>(&self, cells: &'c Cells) -> impl Iterator<Item = &'c Reg> + 'c {
        let c = self.cells(cells);
        c[..self.nregs().min(c.len())]
            .iter()
            .filter_map(|c| c.spill.as_ref())
    }

    /// The registers of the frame with their numbers.
    fn regs<'c>(&self, cells: &'c Cells) -> impl Iterator<Item = (usize, &'c Reg)> + 'c {
        let kept = self.kept;
        (0..11)
            .filter(move |r| kept & (1 << r) != 0)
            .zip(self.kept_regs(cells))
    }
}

impl Packed {
    /// Packs a state, its cells into `cells`.
    pub fn pack(st: &State, cells: &mut Cells) -> Packed {
        let mut pack = |f: &Frame| {
            // An unwritten register is always exactly `Reg::UNINIT`.
            let mut kept = 0u16;
            for (r, reg) in f.regs.iter().enumerate() {
                if reg.kind != Kind::Uninit {
                    kept |= 1 << r;
                }
            }
            let chunk = cells.room(kept.count_ones() as usize + f.stack.len());
            let cells = &mut cells.chunks[chunk];
            let at = cells.len();
            cells.extend(
                f.regs
                    .iter()
                    .filter(|r| r.kind != Kind::Uninit)
                    .map(|r| Slot {
                        bytes: [Byte::Invalid; 8],
                        spill: Some(*r),
                    }),
            );
            cells.extend_from_slice(&f.stack);
            PackedFrame {
                kept,
                chunk,
                at,
                len: cells.len() - at,
                return_to: f.return_to,
                func: f.func,
                callback: f.callback.clone(),
            }
        };
        Packed {
            first: pack(&st.frames[0]),
            rest: st.frames[1..].iter().map(pack).collect(),
            refs: st.refs.clone(),
        }
    }

    /// The frames, outermost first.
    fn frames(&self) -> impl Iterator<Item = &PackedFrame> + '_ {
        std::iter::once(&self.first).chain(self.rest.iter())
    }

    fn len(&self) -> usize {
        1 + self.rest.len()
    }

    /// The state again.
    pub fn unpack(&self, cells: &Cells) -> State {
        State {
            frames: self
                .frames()
                .map(|p| {
                    let mut regs = [Reg::UNINIT; 11];
                    for (r, reg) in p.regs(cells) {
                        regs[r] = *reg;
                    }
                    Frame {
                        regs,
                        stack: p.stack(cells).to_vec(),
                        return_to: p.return_to,
                        func: p.func,
                        callback: p.callback.clone(),
                    }
                })
                .collect(),
            refs: self.refs.clone(),
        }
    }

    /// Whether the packed state equals `cur` exactly.
    pub fn equals(&self, cells: &Cells, cur: &State) -> bool {
        self.refs == cur.refs
            && self.len() == cur.frames.len()
            && self.frames().zip(&cur.frames).all(|(p, f)| {
                p.func == f.func
                    && p.return_to == f.return_to
                    && p.callback == f.callback
                    && p.stack(cells) == &f.stack[..]
                    && {
                        let mut kept = p.kept_regs(cells);
                        f.regs.iter().enumerate().all(|(r, reg)| {
                            if p.kept & (1 << r) != 0 {
                                kept.next() == Some(reg)
                            } else {
                                reg.kind == Kind::Uninit
                            }
                        })
                    }
            })
    }

    /// [`State::subsumes`] for the packed state.
    pub fn subsumes(&self, cells: &Cells, cur: &State, marks: Option<&Marks>) -> bool {
        let mut ids = IdMap::default();
        if self.len() != cur.frames.len()
            || self.refs.len() != cur.refs.len()
            || !self
                .refs
                .iter()
                .zip(&cur.refs)
                .all(|(a, b)| a.1 == b.1 && ids.check(a.0, b.0))
        {
            return false;
        }
        self.frames()
            .zip(&cur.frames)
            .enumerate()
            .all(|(f, (old, cur))| {
                let (regs, stack) = match marks {
                    Some(m) => (m.regs[f], m.stack[f]),
                    None => (u16::MAX, u64::MAX),
                };
                if old.func != cur.func || old.return_to != cur.return_to {
                    return false;
                }
                if !old
                    .regs(cells)
                    .all(|(r, a)| a.subsumes(&cur.regs[r], &mut ids, regs & (1 << r) != 0))
                {
                    return false;
                }
                let n = old.stack(cells).len().max(cur.stack.len());
                (0..n).all(|k| {
                    let precise = k >= 64 || stack & (1 << k) != 0;
                    old.slot(cells, k).subsumes(&cur.slot(k), &mut ids, precise)
                })
            })
    }
}
