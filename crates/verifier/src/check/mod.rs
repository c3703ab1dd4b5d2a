//! Path exploration: abstract interpretation of every instruction along every
//! path, with pruning of states already proven safe.
//!
//! This module walks the paths and dispatches each instruction; the rules
//! live by concern in its submodules:
//! - `alu`: arithmetic on scalars and pointers;
//! - `memory`: loads, stores and atomics, stack slots, `lddw`;
//! - `packet`: packet pointers and the comparisons that bound them;
//! - `branches`: conditional jumps and the refinement of both sides;
//! - `calls`: BPF-to-BPF calls, callbacks, `exit` and return ranges;
//! - `helper_call`: helper arguments, references and return values;
//! - `prune`: stored states, forks and precision marks.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use oxbpf_isa::{
    AluOp, AtomicOp, CallKind, Insn, JmpCond, LddwSrc, Operand, Reg as R, Size, Syntax, Width,
};
use oxbpf_object::ProgramType;

use crate::context::{self, Field};
use crate::helpers::{self, Arg, Ret};
use crate::precision::{self, Marks, ARG_REGS, CALLER_SAVED};
use crate::report::{Reason, Rejection, Stats};
use crate::scalar::{self, Branch, Scalar};
use crate::state::{Byte, Cells, Frame, Kind, Packed, Reg, Slot, State, MAX_FRAMES, STACK_SIZE};
use crate::structure::Cfg;
use crate::{MapInfo, Options};

mod alu;
mod branches;
mod calls;
mod helper_call;
mod memory;
mod packet;
mod prune;

pub use calls::return_range;
use memory::{
    byte_pos, destroy_spill, spilled_pointer_byte, stack_pointer_leak, uninit_stack, What,
};
use prune::widen;

/// A failure inside exploration: reason, message and hint (the place is added by the caller).
struct Fail {
    reason: Reason,
    message: String,
    hint: String,
}

/// Boxed, so that the common `Ok` results stay small.
type Res<T> = Result<T, Box<Fail>>;

// Failures are rare: kept out of line, so the checking paths stay small.
#[cold]
#[inline(never)]
fn fail<T>(reason: Reason, message: impl Into<String>, hint: impl Into<String>) -> Res<T> {
    Err(Box::new(Fail {
        reason,
        message: message.into(),
        hint: hint.into(),
    }))
}

/// What a step of a path's history records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Note {
    /// A jump, call or return from `from` to `to`.
    Jump,
    /// A jump into or out of a callback (`bpf_loop`, `for_each_map_elem`).
    Callback,
    /// Instruction `from` accessed stack slot (frame, slot) through a register
    /// other than r10, at a constant offset.
    Stack(u8, u8),
}

/// One step of a path's history: a jump, call or return from `from` to
/// `to`, or a stack access through a copy of r10. Paths share their common
/// history: every node lives in one arena (`Checker::trail`) and links to the
/// one before it by index. Precision tracking walks it backwards.
#[derive(Clone, Copy)]
struct Trail {
    from: u32,
    to: u32,
    note: Note,
    /// The node before (an index into the arena plus one; 0: none).
    prev: u32,
}

/// Most path steps a rejection reports (the last ones before the failure).
const MAX_TRAIL: usize = 64;

/// A path in progress.
struct Path {
    state: State,
    pc: usize,
    /// The nearest stored state this path descends from.
    parent: Option<usize>,
    /// The newest node of the path's history (0: none).
    trail: u32,
    /// Instructions processed when the last state was stored on this path.
    last_store: u64,
}

/// A state stored at a prune point.
struct Stored {
    state: Packed,
    hash: u64,
    /// The slot it was stored at.
    pc: usize,
    parent: Option<usize>,
    /// Paths still being explored below this state (0: proven safe).
    branches: u32,
    hits: u32,
    misses: u32,
    /// The scalars whose values later checks depended on.
    marks: Marks,
    /// Every scalar counts as precise (precision could not be traced).
    exact: bool,
    /// The path's history when the state was stored.
    trail: u32,
    /// The next live state of the same instruction and hash (`NONE`: none).
    next_live: usize,
}

/// No stored state.
const NONE: usize = usize::MAX;

/// The stored states of one instruction.
#[derive(Default)]
struct Point {
    /// Proven-safe stored states (indices into `stored`).
    done: SafeList,
    /// How many entries of `Checker::live` (stored states still being
    /// explored below, one entry per hash) are of this instruction.
    live: u32,
    /// The most recently stored state.
    last: Option<usize>,
}

/// Stored states kept inline by a [`SafeList`] before it needs the heap.
const INLINE_SAFE: usize = 4;

/// A point's proven-safe stored states, in the order a `Vec` with
/// `push`/`swap_remove` would keep them: the first few inline (most
/// instructions have one or two, and a heap list for each would cost an
/// allocation per instruction), the rest in `more`.
#[derive(Default)]
struct SafeList {
    inline: [usize; INLINE_SAFE],
    /// Entries used in `inline`; `more` is empty unless it is full.
    n: u8,
    more: Vec<usize>,
}

impl SafeList {
    fn len(&self) -> usize {
        self.n as usize + self.more.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, k: usize) -> usize {
        let n = self.n as usize;
        if k < n {
            self.inline[k]
        } else {
            self.more[k - n]
        }
    }

    fn set(&mut self, k: usize, v: usize) {
        let n = self.n as usize;
        if k < n {
            self.inline[k] = v;
        } else {
            self.more[k - n] = v;
        }
    }

    fn push(&mut self, v: usize) {
        let n = self.n as usize;
        if n < INLINE_SAFE {
            self.inline[n] = v;
            self.n += 1;
        } else {
            self.more.push(v);
        }
    }

    /// Removes entry `k`, moving the last entry into its place.
    fn swap_remove(&mut self, k: usize) {
        let len = self.len();
        let last = match self.more.pop() {
            Some(v) => v,
            None => {
                self.n -= 1;
                self.inline[self.n as usize]
            }
        };
        if k + 1 < len {
            self.set(k, last);
        }
    }
}

/// The key of a live stored state: its instruction and its state's hash.
#[derive(Clone, Copy, PartialEq, Eq)]
struct LiveKey {
    pc: u32,
    hash: u64,
}

impl std::hash::Hash for LiveKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // The state hash is already mixed; fold the instruction in.
        h.write_u64(self.hash ^ (self.pc as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The exploration of one program.
pub(crate) struct Checker<'a> {
    cfg: &'a Cfg,
    prog_type: ProgramType,
    /// The allowed return values at exit, when checked.
    ret_range: Option<(i64, i64)>,
    maps: &'a [MapInfo],
    opts: &'a Options,
    stored: Vec<Stored>,
    /// The registers and stack slots of the stored states.
    cells: Cells,
    /// The stored states of each instruction that has any.
    points: Vec<Point>,
    /// The index in `points` of each slot's (`u32::MAX`: none yet).
    point_of: Vec<u32>,
    /// Stored states still being explored below, by instruction and hash:
    /// the newest, which links to the others of the same key
    /// (`Stored::next_live`). One map for all instructions, so that an
    /// instruction's first stored state costs no allocation.
    live: HashMap<LiveKey, usize, BuildHasherDefault<IdHasher>>,
    /// Every path's history (see [`Trail`]).
    trail: Vec<Trail>,
    pending: Vec<Path>,
    next_id: u32,
    pub stats: Stats,
    pub log: Option<String>,
    /// Deepest stack use per function, in bytes.
    depth: Vec<usize>,
    /// Calls between functions seen: (caller, callee).
    calls: Vec<(usize, usize)>,
    /// Precision the current instruction asks for (flushed by `precise`).
    want: Marks,
}

fn reg_name(r: usize) -> String {
    format!("R{r}")
}

impl<'a> Checker<'a> {
    pub(crate) fn new(
        cfg: &'a Cfg,
        prog_type: ProgramType,
        section: &str,
        maps: &'a [MapInfo],
        opts: &'a Options,
    ) -> Self {
        Checker {
            cfg,
            prog_type,
            ret_range: return_range(prog_type, section),
            maps,
            opts,
            stored: Vec::with_capacity(32),
            cells: Cells::with_capacity(256),
            points: Vec::with_capacity(cfg.prune.iter().filter(|&&p| p).count() + 1),
            point_of: vec![u32::MAX; cfg.insns.len()],
            live: HashMap::with_capacity_and_hasher(32, Default::default()),
            trail: Vec::with_capacity(cfg.insns.len().min(1 << 16)),
            pending: Vec::with_capacity(16),
            next_id: 1,
            stats: Stats::default(),
            log: opts.log.then(String::new),
            depth: vec![0; cfg.subprogs.len()],
            calls: Vec::new(),
            want: Marks::default(),
        }
    }

    fn new_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// Explores every path; the rejection of the first unsafe one.
    pub(crate) fn run(&mut self) -> Result<(), Box<Rejection>> {
        let start = Instant::now();
        let mut entry = Frame::new(0, 0, None);
        entry.regs[1] = Reg::pointer(Kind::Ctx);
        if self.prog_type == ProgramType::Unspec {
            // oxbpf's plain convention passes the input length in r2.
            entry.regs[2] = Reg::unknown();
        }
        self.pending.push(Path {
            state: State {
                frames: vec![entry],
                refs: Vec::new(),
            },
            pc: 0,
            parent: None,
            trail: 0,
            last_store: 0,
        });
        let r = self.explore();
        self.stats.time = start.elapsed();
        r?;
        self.check_stack_depth()
    }

    fn explore(&mut self) -> Result<(), Box<Rejection>> {
        while let Some(mut path) = self.pending.pop() {
            loop {
                self.stats.insns_processed += 1;
                if self.stats.insns_processed > self.opts.max_insns {
                    return Err(self.reject(
                        &path,
                        Fail {
                            reason: Reason::TooComplex,
                            message: format!(
                                "the verifier processed {} instructions without finishing; the limit is {}",
                                self.opts.max_insns, self.opts.max_insns
                            ),
                            hint: "bound loops with small constants, or use bpf_loop for long iterations".into(),
                        },
                    ));
                }
                if self.cfg.prune[path.pc] {
                    match self.visit(&mut path, false) {
                        Ok(true) => {
                            self.stats.states_pruned += 1;
                            self.finish(path.parent);
                            break;
                        }
                        Ok(false) => {}
                        Err(f) => return Err(self.reject(&path, *f)),
                    }
                }
                let pc = path.pc;
                match self.step(&mut path) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.finish(path.parent);
                        break;
                    }
                    Err(f) => {
                        path.pc = pc;
                        return Err(self.reject(&path, *f));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks the stored states at the path's slot. `Ok(true)` when one covers the path.
    fn visit(&mut self, path: &mut Path, callback_entry: bool) -> Res<bool> {
        let pc = path.pc;
        let since = self.stats.insns_processed - path.last_store;
        let store = callback_entry
            || since >= 8
            || self.point_of[pc] == u32::MAX
            || self.points[self.point_of[pc] as usize].last.is_none();
        if !store {
            // Nothing stored here to compare with, and nothing to store.
            let point = &self.points[self.point_of[pc] as usize];
            if point.live == 0 && point.done.is_empty() {
                return Ok(false);
            }
        }
        // Dead registers are never read again: forget them so states can match.
        let live = self.cfg.live[pc];
        for (r, reg) in path.state.cur_mut().regs.iter_mut().take(10).enumerate() {
            if live & (1 << r) == 0 && reg.kind != Kind::Uninit {
                *reg = Reg::UNINIT;
            }
        }
        path.state.clear_singular_ids();
        let pt = self.point(pc);
        // The hash finds live states and files a new one: without either it is not needed.
        let hash = if store || self.points[pt].live > 0 {
            path.state.fast_hash()
        } else {
            0
        };
        let key = LiveKey {
            pc: pc as u32,
            hash,
        };
        if !callback_entry {
            // A state still being explored below (a loop's earlier iteration)
            // that equals this one: the loop can repeat forever.
            if let Some(&head) = self.live.get(&key) {
                if self
                    .same_hash(head)
                    .any(|i| self.stored[i].state.equals(&self.cells, &path.state))
                {
                    return fail(
                        Reason::InfiniteLoop,
                        format!("infinite loop: instruction {pc} is reached again in exactly the same state"),
                        "make sure the loop's condition depends on a value that changes every iteration",
                    );
                }
            }
        } else {
            // A callback runs a bounded number of times: an earlier entry still
            // being explored covers this one.
            // Its precision marks are not complete yet: compare exactly, and
            // let this path's ancestors count every scalar as precise.
            let covered = self.points[pt].live > 0
                && self.live.iter().any(|(k, &head)| {
                    k.pc == key.pc
                        && self.same_hash(head).any(|i| {
                            self.stored[i]
                                .state
                                .subsumes(&self.cells, &path.state, None)
                        })
                });
            if covered {
                self.all_precise(path.parent);
                return Ok(true);
            }
        }
        let mut k = 0;
        while k < self.points[pt].done.len() {
            let idx = self.points[pt].done.get(k);
            let s = &mut self.stored[idx];
            let marks = (!s.exact).then_some(s.marks);
            if s.state.subsumes(&self.cells, &path.state, marks.as_ref()) {
                s.hits += 1;
                // This path is safe because the stored state was: its
                // ancestors need the same values precise.
                match marks {
                    Some(m) => self.precise(path, m),
                    None => self.all_precise(path.parent),
                }
                return Ok(true);
            }
            s.misses += 1;
            if s.misses > s.hits * 3 + 3 {
                self.points[pt].done.swap_remove(k);
                continue;
            }
            k += 1;
        }
        if store {
            let idx = self.stored.len();
            self.stored.push(Stored {
                state: Packed::pack(&path.state, &mut self.cells),
                hash,
                pc,
                parent: path.parent,
                branches: 1,
                hits: 0,
                misses: 0,
                marks: Marks::default(),
                exact: false,
                trail: path.trail,
                next_live: NONE,
            });
            let point = &mut self.points[pt];
            match self.live.insert(key, idx) {
                Some(head) => self.stored[idx].next_live = head,
                None => point.live += 1,
            }
            point.last = Some(idx);
            path.parent = Some(idx);
            path.last_store = self.stats.insns_processed;
            self.stats.states_explored += 1;
        }
        Ok(false)
    }

    fn reject(&self, path: &Path, f: Fail) -> Box<Rejection> {
        let pc = path.pc;
        let insn_text = self
            .cfg
            .insns
            .get(pc)
            .copied()
            .flatten()
            .map_or_else(String::new, |i| {
                format!("{pc}: {}", i.display(Syntax::Kernel))
            });
        let mut trail = Vec::new();
        let mut t = path.trail;
        while let Some(node) = self.node(t) {
            if trail.len() == MAX_TRAIL {
                break;
            }
            if !matches!(node.note, Note::Stack(..)) {
                trail.push((node.from as usize, node.to as usize));
            }
            t = node.prev;
        }
        trail.reverse();
        Box::new(Rejection {
            reason: f.reason,
            insn: pc,
            insn_text,
            message: f.message,
            hint: f.hint,
            state: dump_state(&path.state),
            path: trail,
            source: None,
        })
    }

    fn check_stack_depth(&mut self) -> Result<(), Box<Rejection>> {
        // Longest chain of rounded frame sizes from the entry.
        fn chain(c: &Checker<'_>, f: usize, seen: &mut Vec<usize>) -> usize {
            let own = c.depth[f].div_ceil(16) * 16;
            seen.push(f);
            let mut best = 0;
            for &(a, b) in &c.calls {
                if a == f && !seen.contains(&b) {
                    best = best.max(chain(c, b, seen));
                }
            }
            seen.pop();
            own + best
        }
        let total = chain(self, 0, &mut Vec::new());
        self.stats.stack_depth = total as u64;
        if total > STACK_SIZE {
            return Err(Rejection::structural(
                Reason::StackTooLarge,
                0,
                format!("the deepest call chain uses {total} bytes of stack; at most {STACK_SIZE} are allowed"),
                "move large buffers into a per-CPU array map, or inline fewer functions",
            ));
        }
        Ok(())
    }

    // ---- registers ----

    fn read(&self, st: &State, r: R) -> Res<Reg> {
        let reg = st.cur().regs[r.num() as usize];
        if reg.kind == Kind::Uninit {
            let n = r.num();
            let hint = if (1..=5).contains(&n) {
                format!("R{n} is clobbered by calls and starts uninitialized; set it before this instruction")
            } else {
                format!("assign R{n} a value on every path that reaches this instruction")
            };
            return fail(
                Reason::UninitRegister,
                format!("R{n} is read here but was never written on this path"),
                hint,
            );
        }
        Ok(reg)
    }

    fn write(st: &mut State, r: R, v: Reg) -> Res<()> {
        if r == R::R10 {
            return fail(
                Reason::FramePointerWrite,
                "R10 is the frame pointer, which is read-only",
                "copy it to another register first (r1 = r10) and change the copy",
            );
        }
        st.cur_mut().regs[r.num() as usize] = v;
        Ok(())
    }

    fn src_value(&self, st: &State, src: Operand, width: Width) -> Res<Reg> {
        Ok(match src {
            Operand::Reg(r) => self.read(st, r)?,
            Operand::Imm(i) => Reg::scalar(Scalar::constant(match width {
                Width::W64 => i as i64 as u64,
                Width::W32 => i as u32 as u64,
            })),
        })
    }

    // ---- one instruction ----

    /// Executes the instruction at `path.pc`. `Ok(false)` when the path ends.
    fn step(&mut self, path: &mut Path) -> Res<bool> {
        let pc = path.pc;
        let insn = self.cfg.insns[pc].expect("structure checked every slot");
        if let Some(log) = &mut self.log {
            let _ = writeln!(log, "{pc}: {}", insn.display(Syntax::Kernel));
        }
        let next = pc + insn.slots();
        match insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                self.alu(&mut path.state, width, op, dst, src)?;
                self.flush_want(path);
                path.pc = next;
            }
            Insn::Neg { width, dst } => {
                let d = self.read(&path.state, dst)?;
                let v = self.number_of(d, dst, "negating")?;
                Self::write(&mut path.state, dst, Reg::scalar(v.neg(width)))?;
                path.pc = next;
            }
            Insn::End { order, bits, dst } => {
                let d = self.read(&path.state, dst)?;
                let v = self.number_of(d, dst, "byte-swapping")?;
                Self::write(&mut path.state, dst, Reg::scalar(v.byte_order(order, bits)))?;
                path.pc = next;
            }
            Insn::Ja { .. } | Insn::Ja32 { .. } => {
                let off = insn.jump_offset().unwrap_or(0);
                self.goto(path, (pc as i64 + 1 + off) as usize);
            }
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let target = (pc as i64 + 1 + off as i64) as usize;
                return self.jump(path, width, cond, dst, src, target, next);
            }
            Insn::Ldx {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let base = self.read(&path.state, src)?;
                let v = self.load(&mut path.state, src, base, off, size, pc)?;
                self.note_stack(path, src, &base, off);
                let v = if signed && v.kind == Kind::Scalar {
                    Reg::scalar(v.val.sign_extend(size.bytes()))
                } else {
                    v
                };
                Self::write(&mut path.state, dst, v)?;
                path.pc = next;
            }
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => {
                let base = self.read(&path.state, dst)?;
                let v = Reg::scalar(Scalar::constant(imm as i64 as u64).truncate(size.bytes()));
                self.store(&mut path.state, dst, base, off, size, v, false)?;
                self.note_stack(path, dst, &base, off);
                path.pc = next;
            }
            Insn::Stx {
                size,
                dst,
                off,
                src,
            } => {
                let base = self.read(&path.state, dst)?;
                let v = self.read(&path.state, src)?;
                self.store(&mut path.state, dst, base, off, size, v, true)?;
                self.note_stack(path, dst, &base, off);
                path.pc = next;
            }
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => {
                self.atomic(&mut path.state, size, op, dst, src, off)?;
                path.pc = next;
            }
            Insn::Lddw { dst, src, imm } => {
                let v = self.lddw(src, imm, pc)?;
                Self::write(&mut path.state, dst, v)?;
                path.pc = next;
            }
            Insn::LdAbs { size, .. } | Insn::LdInd { size, .. } => {
                self.ld_legacy(&mut path.state, insn, size)?;
                path.pc = next;
            }
            Insn::Call {
                kind: CallKind::Local,
                imm,
            } => {
                let target = (pc as i64 + 1 + imm as i64) as usize;
                self.local_call(path, target, next)?;
            }
            Insn::Call {
                kind: CallKind::Helper,
                imm,
            } => {
                return self.helper_call(path, imm, next);
            }
            Insn::Call {
                kind: CallKind::Kfunc,
                ..
            }
            | Insn::Callx { .. } => {
                return fail(
                    Reason::Unsupported,
                    "calls through kfuncs or callx are not supported",
                    "call a helper by its constant id",
                );
            }
            Insn::Exit => return self.exit(path),
        }
        if let Some(log) = &mut self.log {
            let _ = writeln!(log, "    {}", dump_regs(path.state.cur()).join(" "));
        }
        Ok(true)
    }

    // ---- memory ----

    fn map(&self, m: u32) -> &MapInfo {
        &self.maps[m as usize]
    }

    // ---- jumps ----

    // ---- calls ----
}

fn dump_regs(f: &Frame) -> Vec<String> {
    f.regs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind != Kind::Uninit)
        .map(|(i, r)| format!("{}={}", reg_name(i), r))
        .collect()
}

/// The registers and initialized stack of the innermost frame.
fn dump_state(st: &State) -> Vec<String> {
    let f = st.cur();
    let mut out = dump_regs(f);
    for (spi, slot) in f.stack.iter().enumerate() {
        if slot.bytes.iter().all(|b| *b == Byte::Invalid) {
            continue;
        }
        let off = -8 * (spi as i64 + 1);
        let text = match slot.spill {
            Some(r) => format!("fp{off}={r}"),
            None => {
                let s: String = slot
                    .bytes
                    .iter()
                    .map(|b| match b {
                        Byte::Invalid => '?',
                        Byte::Misc => 'm',
                        Byte::Zero => '0',
                        Byte::Spill => 'r',
                    })
                    .collect();
                format!("fp{off}={s}")
            }
        };
        out.push(text);
    }
    if st.frames.len() > 1 {
        out.push(format!(
            "(frame {} of {})",
            st.frames.len() - 1,
            st.frames.len()
        ));
    }
    out
}
