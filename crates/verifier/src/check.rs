//! Path exploration: abstract interpretation of every instruction along every
//! path, with pruning of states already proven safe.

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

    /// A path ended: its stored ancestors have one branch fewer to explore;
    /// those with none left are proven safe and can prune later paths.
    fn finish(&mut self, mut parent: Option<usize>) {
        while let Some(p) = parent {
            let s = &mut self.stored[p];
            s.branches -= 1;
            if s.branches > 0 {
                break;
            }
            let (pc, hash) = (s.pc, s.hash);
            parent = s.parent;
            // Unlink it from the live states of its hash.
            let pt = self.point_of[pc] as usize;
            let next = std::mem::replace(&mut self.stored[p].next_live, NONE);
            let key = LiveKey {
                pc: pc as u32,
                hash,
            };
            match self.live.get(&key).copied() {
                Some(head) if head == p => {
                    if next == NONE {
                        self.live.remove(&key);
                        self.points[pt].live -= 1;
                    } else {
                        self.live.insert(key, next);
                    }
                }
                Some(head) => {
                    let mut i = head;
                    while self.stored[i].next_live != NONE {
                        if self.stored[i].next_live == p {
                            self.stored[i].next_live = next;
                            break;
                        }
                        i = self.stored[i].next_live;
                    }
                }
                None => {}
            }
            self.points[pt].done.push(p);
        }
    }

    /// Queues `state` at `pc` as another branch of `path`.
    fn fork(&mut self, path: &Path, state: State, pc: usize, note: Note) {
        if let Some(p) = path.parent {
            self.stored[p].branches += 1;
        }
        let trail = self.push_trail(path.pc, pc, note, path.trail);
        self.pending.push(Path {
            state,
            pc,
            parent: path.parent,
            trail,
            last_store: path.last_store,
        });
        self.stats.peak_states = self.stats.peak_states.max(self.pending.len() as u64);
    }

    /// The live stored states linked from `head` (same instruction and hash).
    fn same_hash(&self, head: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(head), |&i| {
            Some(self.stored[i].next_live).filter(|&n| n != NONE)
        })
    }

    /// The stored states of slot `pc`, created on first use.
    fn point(&mut self, pc: usize) -> usize {
        let k = self.point_of[pc];
        if k != u32::MAX {
            return k as usize;
        }
        self.points.push(Point::default());
        self.point_of[pc] = (self.points.len() - 1) as u32;
        self.points.len() - 1
    }

    /// Adds a history node after `prev`; its reference.
    fn push_trail(&mut self, from: usize, to: usize, note: Note, prev: u32) -> u32 {
        self.trail.push(Trail {
            from: from as u32,
            to: to as u32,
            note,
            prev,
        });
        self.trail.len() as u32
    }

    /// The history node `t` refers to.
    fn node(&self, t: u32) -> Option<Trail> {
        (t != 0).then(|| self.trail[t as usize - 1])
    }

    fn goto(&mut self, path: &mut Path, to: usize) {
        self.goto_noted(path, to, Note::Jump);
    }

    fn goto_noted(&mut self, path: &mut Path, to: usize, note: Note) {
        path.trail = self.push_trail(path.pc, to, note, path.trail);
        path.pc = to;
    }

    /// Records that the instruction at `path.pc` accessed the stack through
    /// `reg` (not r10) as `base + off`, when the slot is known.
    fn note_stack(&mut self, path: &mut Path, reg: R, base: &Reg, off: i16) {
        let Kind::Stack { frame } = base.kind else {
            return;
        };
        if reg == R::R10 {
            return;
        }
        let Some(c) = base.val.as_const() else {
            return;
        };
        let Some(spi) = precision::slot_of(base.off + c as i64 + off as i64) else {
            return;
        };
        path.trail = self.push_trail(path.pc, path.pc, Note::Stack(frame, spi as u8), path.trail);
    }

    /// Asks for register `r` of the innermost frame to be precise.
    fn want_reg(&mut self, st: &State, r: u8) {
        self.want.set_reg(st.frames.len() - 1, r);
    }

    /// Marks what the current instruction asked for (`want`) as precise.
    fn flush_want(&mut self, path: &Path) {
        if !self.want.is_empty() {
            let m = std::mem::take(&mut self.want);
            self.precise(path, m);
        }
    }

    /// Every stored state from `parent` up counts every scalar as precise.
    fn all_precise(&mut self, mut parent: Option<usize>) {
        while let Some(p) = parent {
            let s = &mut self.stored[p];
            if s.exact {
                break;
            }
            s.exact = true;
            self.stats.precision_fallbacks += 1;
            parent = s.parent;
        }
    }

    /// Marks `m`, precision the state before `path.pc` needs, in the stored
    /// states of the path: walks the path's history backwards, carrying the
    /// marks to the registers and stack slots the values came from, and adds
    /// them to each stored state it passes. Stops where nothing new is marked.
    fn precise(&mut self, path: &Path, mut m: Marks) {
        let Some(mut b) = path.parent else {
            return;
        };
        let mut pc = path.pc;
        let mut head = path.trail;
        let mut f = path.state.frames.len() - 1;
        loop {
            let s = &mut self.stored[b];
            if s.pc == pc && s.trail == head {
                if s.exact {
                    return;
                }
                let new = m.minus(&s.marks);
                if new.is_empty() {
                    return;
                }
                s.marks.add(&new);
                m = new;
                match s.parent {
                    Some(p) => b = p,
                    None => return,
                }
            }
            if m.is_empty() {
                return;
            }
            self.stats.precision_steps += 1;
            // One instruction back.
            match self.node(head) {
                Some(t) if t.to as usize == pc && !matches!(t.note, Note::Stack(..)) => {
                    let from = t.from as usize;
                    head = t.prev;
                    let insn = self.cfg.insns.get(from).copied().flatten();
                    match (t.note, insn) {
                        (
                            Note::Jump,
                            Some(Insn::Call {
                                kind: CallKind::Local,
                                ..
                            }),
                        ) if f > 0 => {
                            // Into the caller: the callee's r1-r5 were its arguments.
                            m.move_frame(f, f - 1, ARG_REGS);
                            f -= 1;
                        }
                        (Note::Jump, Some(Insn::Exit)) if f + 1 < MAX_FRAMES => {
                            // Back into the callee: the caller's r0 is its result.
                            let r0 = m.has_reg(f, 0);
                            m.regs[f] &= !CALLER_SAVED;
                            m.regs[f + 1] = 0;
                            m.stack[f + 1] = 0;
                            if r0 {
                                m.set_reg(f + 1, 0);
                            }
                            f += 1;
                        }
                        (
                            Note::Jump,
                            Some(
                                Insn::Jmp { .. }
                                | Insn::Ja { .. }
                                | Insn::Ja32 { .. }
                                | Insn::Call {
                                    kind: CallKind::Helper,
                                    ..
                                },
                            ),
                        ) => {}
                        _ => return self.all_precise(Some(b)),
                    }
                    pc = from;
                }
                _ => {
                    if pc == 0 {
                        return self.all_precise(Some(b));
                    }
                    pc -= 1;
                    if pc > 0 && self.cfg.insns[pc].is_none() {
                        pc -= 1;
                    }
                }
            }
            let mut note = None;
            if let Some(t) = self.node(head) {
                if let (Note::Stack(fr, spi), true) = (t.note, t.from as usize == pc) {
                    note = Some((fr, spi));
                    head = t.prev;
                }
            }
            if let Some(insn) = &self.cfg.insns[pc] {
                precision::transfer(insn, f, note, &mut m);
            }
        }
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

    /// A register's value as a number: a pointer becomes an unknown number
    /// when privileged, and is an error otherwise.
    fn number_of(&self, d: Reg, dst: R, what: &str) -> Res<Scalar> {
        if d.kind == Kind::Scalar {
            return Ok(d.val);
        }
        if self.opts.privileged {
            return Ok(Scalar::UNKNOWN);
        }
        fail(
            Reason::PointerLeak,
            format!(
                "R{} is a pointer ({}); {what} it would expose its address",
                dst.num(),
                d.kind.name()
            ),
            "without privileges only numbers can be negated or byte-swapped",
        )
    }

    fn alu(&mut self, st: &mut State, width: Width, op: AluOp, dst: R, src: Operand) -> Res<()> {
        if dst == R::R10 {
            return Self::write(st, dst, Reg::UNINIT);
        }
        if matches!(op, AluOp::Div | AluOp::Sdiv | AluOp::Mod | AluOp::Smod)
            && src == Operand::Imm(0)
        {
            return fail(
                Reason::DivisionByZero,
                "division or modulo by the constant 0",
                "divide by a nonzero constant, or by a register (x / 0 is 0 and x % 0 is x in eBPF)",
            );
        }
        let s = self.src_value(st, src, width)?;
        let priv_ = self.opts.privileged;
        if matches!(
            op,
            AluOp::Mov | AluOp::Movsx8 | AluOp::Movsx16 | AluOp::Movsx32
        ) {
            let v = if s.kind == Kind::Scalar {
                let mut v = Reg::scalar(Scalar::UNKNOWN.alu(op, width, &s.val));
                if op == AluOp::Mov && width == Width::W64 && v.val.as_const().is_none() {
                    // Tie the copies so a later comparison refines both.
                    let id = if s.id != 0 { s.id } else { self.new_id() };
                    if let Operand::Reg(r) = src {
                        st.cur_mut().regs[r.num() as usize].id = id;
                    }
                    v.id = id;
                }
                v
            } else if op == AluOp::Mov && width == Width::W64 {
                s
            } else if priv_ {
                // A partial or sign-extended copy of a pointer is just a number.
                Reg::unknown().truncated(width)
            } else {
                return fail(
                    Reason::PointerLeak,
                    format!(
                        "a partial copy of a pointer ({}) is not allowed without privileges",
                        s.kind.name()
                    ),
                    "copy pointers whole with a 64-bit move",
                );
            };
            return Self::write(st, dst, v);
        }
        let d = self.read(st, dst)?;
        // Only formatted for an error message.
        let opname = || {
            oxbpf_isa::Insn::Alu {
                width,
                op,
                dst,
                src,
            }
            .to_string()
        };
        match (d.kind, s.kind) {
            (Kind::Scalar, Kind::Scalar) => {
                let v = d.val.alu(op, width, &s.val);
                Self::write(st, dst, Reg::scalar(v))
            }
            (k, Kind::Scalar) if k.is_pointer() => {
                // The offset's value becomes part of the pointer.
                if let Operand::Reg(r) = src {
                    self.want_reg(st, r.num());
                }
                let v = self.ptr_arith(d, s.val, op, width, dst.num(), &opname, false)?;
                Self::write(st, dst, v)
            }
            (Kind::Scalar, k) if k.is_pointer() && op == AluOp::Sub && width == Width::W32 && priv_ => {
                // 32-bit arithmetic with a pointer yields a meaningless number.
                Self::write(st, dst, Reg::unknown().truncated(width))
            }
            (Kind::Scalar, k) if k.is_pointer() && op == AluOp::Add && width == Width::W64 => {
                self.want_reg(st, dst.num());
                let v = self.ptr_arith(s, d.val, op, width, dst.num(), &opname, true)?;
                Self::write(st, dst, v)
            }
            (a, b) if a.is_pointer() && b.is_pointer() && op == AluOp::Sub => {
                // The difference of two pointers is a number (privileged only).
                if !priv_ {
                    return fail(
                        Reason::PointerLeak,
                        format!("subtracting pointers ({} - {}) is not allowed without privileges", a.name(), b.name()),
                        "compute offsets from numbers instead",
                    );
                }
                Self::write(st, dst, Reg::unknown().truncated(width))
            }
            (a, b) => fail(
                Reason::PointerArithmetic,
                format!(
                    "`{}` mixes a {} and a {}; only pointer += number and pointer -= number are allowed",
                    opname(),
                    a.name(),
                    b.name()
                ),
                "do arithmetic on numbers, and only add or subtract them from pointers",
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ptr_arith(
        &mut self,
        p: Reg,
        n: Scalar,
        op: AluOp,
        width: Width,
        dst: u8,
        opname: &dyn Fn() -> String,
        swapped: bool,
    ) -> Res<Reg> {
        let name = p.kind.name();
        if width == Width::W32
            || !matches!(op, AluOp::Add | AluOp::Sub)
            || (swapped && op == AluOp::Sub)
        {
            return fail(
                Reason::PointerArithmetic,
                format!(
                    "`{}` on R{dst}, a pointer ({name}): only 64-bit += and -= are allowed on pointers",
                    opname()
                ),
                "do the arithmetic on a number, then add it to the pointer",
            );
        }
        match p.kind {
            k if k.maybe_null() => {
                return fail(
                    Reason::PossiblyNull,
                    format!("arithmetic on R{dst}, which may be NULL ({name})"),
                    "compare the pointer with 0 first (if (!p) return ...;), then offset it",
                )
            }
            Kind::ConstMap { .. } | Kind::Func { .. } | Kind::PacketEnd | Kind::Sock { .. } => {
                return fail(
                    Reason::PointerArithmetic,
                    format!("arithmetic on R{dst} ({name}) is not allowed"),
                    "this pointer can only be passed on or compared, not offset",
                )
            }
            _ => {}
        }
        let mut r = p;
        let n = if op == AluOp::Sub {
            n.neg(Width::W64)
        } else {
            n
        };
        if let Some(c) = n.as_const() {
            let off = p.off.checked_add(c as i64).filter(|o| o.abs() < 1 << 29);
            match off {
                Some(o) => r.off = o,
                None => {
                    return fail(
                        Reason::PointerArithmetic,
                        format!(
                            "R{dst} ({name}) offset {} is too large",
                            p.off as i128 + c as i64 as i128
                        ),
                        "pointer offsets must stay within +-2^29",
                    )
                }
            }
        } else {
            if !self.opts.privileged && matches!(p.kind, Kind::Stack { .. }) {
                return fail(
                    Reason::PointerArithmetic,
                    "variable stack offsets are not allowed without privileges",
                    "index the stack with constants",
                );
            }
            r.val = p.val.alu(AluOp::Add, Width::W64, &n);
            if matches!(p.kind, Kind::Packet | Kind::PacketMeta) {
                r.id = self.new_id();
                r.range = 0;
            }
        }
        Ok(r)
    }

    // ---- memory ----

    fn map(&self, m: u32) -> &MapInfo {
        &self.maps[m as usize]
    }

    /// Checks that `[off + var, +size)` lies in `0..limit`.
    fn bounds(reg: &Reg, regno: u8, off: i64, size: usize, limit: i64, what: What<'_>) -> Res<()> {
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

    fn null_fail<T>(reg: &Reg, regno: u8) -> Res<T> {
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

    fn not_pointer<T>(reg: &Reg, regno: u8) -> Res<T> {
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

    fn stack_range(
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

    fn load(
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

    fn stack_read(&self, fr: &Frame, lo: i64, sz: usize, regno: u8) -> Res<Reg> {
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

    fn packet_access(&self, base: &Reg, regno: u8, off: i64, sz: usize, write: bool) -> Res<()> {
        let which = if base.kind == Kind::PacketMeta {
            "metadata"
        } else {
            "packet"
        };
        if write && !packet_writable(self.prog_type) {
            return fail(
                Reason::ReadOnly,
                format!("{} programs cannot write packet data directly", self.prog_type.name()),
                "use a helper such as bpf_skb_store_bytes, or a program type that may write packets",
            );
        }
        if base.val.smin < 0 {
            return fail(
                Reason::PacketBounds,
                format!(
                    "R{regno} {which} pointer's variable offset may be negative ({})",
                    base.val
                ),
                "make sure the value added to the packet pointer cannot be negative",
            );
        }
        if base.val.umax >= 0xffff {
            return fail(
                Reason::PacketBounds,
                format!(
                    "R{regno} {which} pointer has an unbounded variable offset ({})",
                    base.val
                ),
                "bound the offset (e.g. off &= 0xff) before adding it to the packet pointer",
            );
        }
        let start = base.off + off;
        let end = start + sz as i64;
        if start < 0 || end > base.range {
            let checked = if base.range > 0 {
                format!("only {} bytes from this pointer are checked", base.range)
            } else {
                "no bytes from this pointer are checked yet".to_string()
            };
            let limit = if base.kind == Kind::PacketMeta {
                "data"
            } else {
                "data_end"
            };
            return fail(
                Reason::PacketBounds,
                format!(
                    "R{regno} {which} access at offset {start} ({sz} bytes) is not proven to be inside the {which}: {checked}"
                ),
                format!("compare first: if (ptr + {end} > {limit}) return ...; and access only what the check covers"),
            );
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
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

    fn atomic(
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

    fn lddw(&mut self, src: LddwSrc, imm: u64, pc: usize) -> Res<Reg> {
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

    fn ld_legacy(&mut self, st: &mut State, insn: Insn, size: Size) -> Res<()> {
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

    // ---- jumps ----

    #[allow(clippy::too_many_arguments)]
    fn jump(
        &mut self,
        path: &mut Path,
        width: Width,
        cond: JmpCond,
        dst: R,
        src: Operand,
        target: usize,
        next: usize,
    ) -> Res<bool> {
        let st = &path.state;
        let a = self.read(st, dst)?;
        let b = self.src_value(st, src, width)?;
        let src_reg = match src {
            Operand::Reg(r) => Some(r),
            Operand::Imm(_) => None,
        };
        let frame = path.state.frames.len() - 1;
        // Both sides of a scalar comparison, for precision marks.
        let mut operands = Marks::reg(frame, dst.num());
        if let Some(r) = src_reg {
            operands.set_reg(frame, r.num());
        }
        // A comparison the ranges decide continues on one side, without copies;
        // the decision depends on the values, which become precise.
        if a.kind == Kind::Scalar && b.kind == Kind::Scalar {
            match scalar::branch_taken(cond, width, &a.val, &b.val) {
                Branch::Taken => {
                    self.precise(path, operands);
                    self.goto(path, target);
                    return Ok(true);
                }
                Branch::NotTaken => {
                    self.precise(path, operands);
                    self.goto(path, next);
                    return Ok(true);
                }
                Branch::Unknown => {}
            }
        }
        let mut taken = path.state.clone();
        // The fall-through side is refined in place.
        let fall = &mut path.state;
        let mut feasible = (true, true);
        match (a.kind, b.kind) {
            // The ranges did not decide it (see above): refine both sides.
            (Kind::Scalar, Kind::Scalar) => {
                feasible.0 = refine_regs(&mut taken, cond, false, width, dst, src_reg, a, b);
                let (neg, set_false) = match scalar::negate(cond) {
                    Some(c) => (c, false),
                    None => (JmpCond::Set, true),
                };
                feasible.1 = refine_regs(&mut *fall, neg, set_false, width, dst, src_reg, a, b);
            }
            (k, Kind::Scalar) | (Kind::Scalar, k) if k.is_pointer() => {
                let (p, n, preg) = if a.kind.is_pointer() {
                    (a, b, dst)
                } else {
                    (b, a, src_reg.unwrap_or(dst))
                };
                // Whether the number is 0 decides what the comparison means.
                self.want = operands;
                let zero = n.val.as_const() == Some(0)
                    && matches!(cond, JmpCond::Eq | JmpCond::Ne)
                    && width == Width::W64;
                if zero && p.kind.maybe_null() {
                    let (null_side, ok_side) = if cond == JmpCond::Eq {
                        (&mut taken, &mut *fall)
                    } else {
                        (&mut *fall, &mut taken)
                    };
                    mark_null(null_side, p, preg, true);
                    mark_null(ok_side, p, preg, false);
                } else if !self.opts.privileged {
                    return fail(
                        Reason::PointerComparison,
                        format!("comparing a pointer ({}) with a number is not allowed without privileges", p.kind.name()),
                        "compare pointers only with NULL (0), after a map lookup",
                    );
                } else if zero {
                    // A valid pointer is never NULL.
                    if cond == JmpCond::Eq {
                        feasible.0 = false;
                    } else {
                        feasible.1 = false;
                    }
                }
            }
            (ka, kb) => {
                let pkt = self.packet_compare(&mut taken, &mut *fall, cond, width, a, b);
                if !pkt && !self.opts.privileged {
                    return fail(
                        Reason::PointerComparison,
                        format!(
                            "comparing pointers ({} and {}) is not allowed without privileges",
                            ka.name(),
                            kb.name()
                        ),
                        "without privileges only packet pointers can be compared with data_end",
                    );
                }
            }
        }
        if feasible != (true, true) && a.kind == Kind::Scalar && b.kind == Kind::Scalar {
            // The ranges ruled a side out.
            self.want = operands;
        }
        self.flush_want(path);
        match feasible {
            (true, true) => {
                self.fork(path, taken, target, Note::Jump);
                self.goto(path, next);
            }
            (true, false) => {
                path.state = taken;
                self.goto(path, target);
            }
            (false, true) => self.goto(path, next),
            // Neither side is possible: this path cannot happen.
            (false, false) => return Ok(false),
        }
        Ok(true)
    }

    /// Refines packet pointers compared with the packet end; whether it applied.
    fn packet_compare(
        &mut self,
        taken: &mut State,
        fall: &mut State,
        cond: JmpCond,
        width: Width,
        a: Reg,
        b: Reg,
    ) -> bool {
        if width != Width::W64 {
            return false;
        }
        // Normalize to `pkt <cond> end`.
        let (pkt, cond) = match (a.kind, b.kind) {
            (Kind::Packet, Kind::PacketEnd) | (Kind::PacketMeta, Kind::Packet) => (a, cond),
            (Kind::PacketEnd, Kind::Packet) | (Kind::Packet, Kind::PacketMeta) => {
                (b, scalar::swap(cond))
            }
            _ => return false,
        };
        let good = match cond {
            // pkt > end jumps when out of bounds: the fall-through is safe.
            JmpCond::Gt | JmpCond::Ge => Some(fall),
            JmpCond::Lt | JmpCond::Le => Some(taken),
            _ => None,
        };
        if let Some(st) = good {
            let range = pkt.off;
            st.for_each_reg(|r| {
                if r.kind == pkt.kind && r.id == pkt.id && r.val == pkt.val {
                    r.range = r.range.max(range);
                }
            });
        }
        true
    }

    // ---- calls ----

    /// Checks that one more frame fits (`what` is a call or a callback) and
    /// records the call edge for the combined stack-depth check.
    fn enter_frame(&mut self, st: &State, target: usize, what: &str, hint: &str) -> Res<()> {
        if st.frames.len() >= MAX_FRAMES {
            return fail(
                Reason::CallDepth,
                format!(
                    "the {what} would nest {} frames; at most {MAX_FRAMES} are allowed",
                    st.frames.len() + 1
                ),
                hint,
            );
        }
        let caller = self.cfg.subprog_of(st.cur().func);
        let callee = self.cfg.subprog_of(target);
        if !self.calls.contains(&(caller, callee)) {
            self.calls.push((caller, callee));
        }
        Ok(())
    }

    fn local_call(&mut self, path: &mut Path, target: usize, ret: usize) -> Res<()> {
        let st = &mut path.state;
        self.enter_frame(
            st,
            target,
            "call",
            "reduce recursion-like call chains or inline functions",
        )?;
        let mut f = Frame::new(st.frames.len() as u8, target, Some(ret));
        for r in 1..=5 {
            f.regs[r] = st.cur().regs[r];
        }
        st.frames.push(f);
        self.goto(path, target);
        Ok(())
    }

    fn exit(&mut self, path: &mut Path) -> Res<bool> {
        let r0 = self.read(&path.state, R::R0).map_err(|_| {
            Box::new(Fail {
                reason: Reason::UninitRegister,
                message: "R0 is not set before exit".into(),
                hint: "set the return value (r0 = ...) on every path to exit".into(),
            })
        })?;
        let depth = path.state.frames.len();
        // A checked return value (a callback's, or a program type's range) is precise.
        let checked = if depth > 1 {
            path.state.cur().callback.is_some()
        } else {
            self.ret_range.is_some()
        };
        if checked && r0.kind == Kind::Scalar {
            self.precise(path, Marks::reg(depth - 1, 0));
        }
        if depth > 1 {
            let frame = path.state.frames.pop().expect("depth > 1");
            if let Kind::Stack { frame: f } = r0.kind {
                if f as usize >= depth - 1 {
                    return fail(
                        Reason::InvalidMemAccess,
                        "the function returns a pointer to its own stack, which ends with the call",
                        "return numbers or pointers to the caller's memory",
                    );
                }
            }
            let live = path.state.frames.len() as u8;
            path.state.for_each_reg(|r| {
                if matches!(r.kind, Kind::Stack { frame } if frame >= live) {
                    *r = Reg::unknown();
                }
            });
            if let Some(&(call_pc, args)) = frame.callback.as_deref() {
                if r0.kind != Kind::Scalar || r0.val.umax > 1 || r0.val.smin < 0 {
                    path.state.frames.push(frame);
                    return fail(
                        Reason::ReturnValue,
                        format!(
                            "the callback returns {r0}, but must return 0 (continue) or 1 (stop)"
                        ),
                        "return 0 or 1 from bpf_loop and bpf_for_each_map_elem callbacks",
                    );
                }
                // After one more iteration the helper may return or run the callback again.
                let mut after = path.state.clone();
                after.cur_mut().regs[0] = Reg::unknown();
                for r in 1..=5 {
                    after.cur_mut().regs[r] = Reg::UNINIT;
                }
                self.fork(path, after, call_pc + 1, Note::Callback);
                return self.enter_callback(path, call_pc, frame.func, args);
            }
            let ret = frame.return_to.expect("callee frames return");
            let live = path.state.frames.len() as u8;
            path.state.for_each_reg(|r| {
                if matches!(r.kind, Kind::Stack { frame } if frame >= live) {
                    *r = Reg::unknown();
                }
            });
            let cur = path.state.cur_mut();
            cur.regs[0] = r0;
            for r in 1..=5 {
                cur.regs[r] = Reg::UNINIT;
            }
            self.goto(path, ret);
            return Ok(true);
        }
        if let Some(&(_, at)) = path.state.refs.first() {
            return fail(
                Reason::ReferenceLeak,
                format!("{} is not released on this path", self.reference_at(at)),
                "submit or discard ring buffer records, and bpf_sk_release sockets, before every exit",
            );
        }
        if r0.kind != Kind::Scalar {
            if !self.opts.privileged {
                return fail(
                    Reason::PointerLeak,
                    format!(
                        "R0 holds a pointer ({}) at exit, which leaks a kernel address",
                        r0.kind.name()
                    ),
                    "return a number",
                );
            }
            if self.ret_range.is_some() {
                return fail(
                    Reason::ReturnValue,
                    format!(
                        "R0 holds a pointer ({}) at exit, but {} programs return a number",
                        r0.kind.name(),
                        self.prog_type.name()
                    ),
                    "return a number",
                );
            }
        }
        if let Some((lo, hi)) = self.ret_range {
            if r0.kind == Kind::Scalar && (r0.val.smin < lo || r0.val.smax > hi) {
                return fail(
                    Reason::ReturnValue,
                    format!(
                        "R0 is {} at exit, but {} programs must return a value in [{lo}, {hi}]",
                        r0.val,
                        self.prog_type.name()
                    ),
                    format!("return a constant in [{lo}, {hi}] on every path"),
                );
            }
        }
        Ok(false)
    }

    fn enter_callback(
        &mut self,
        path: &mut Path,
        call_pc: usize,
        func: usize,
        args: [Reg; 5],
    ) -> Res<bool> {
        let st = &mut path.state;
        self.enter_frame(
            st,
            func,
            "callback",
            "call bpf_loop from a shallower function",
        )?;
        let mut f = Frame::new(st.frames.len() as u8, func, Some(call_pc + 1));
        f.regs[1..6].copy_from_slice(&args);
        f.callback = Some(Box::new((call_pc, args)));
        st.frames.push(f);
        self.goto_noted(path, func, Note::Callback);
        // The callback may run any number of times: widen the numbers that changed
        // since the last entry (so the states converge), then prune against every
        // state seen here.
        let pt = self.point(func);
        if let Some(last) = self.points[pt].last {
            widen(
                &self.stored[last].state.unpack(&self.cells),
                &mut path.state,
            );
        }
        if self.visit(path, true)? {
            self.stats.states_pruned += 1;
            return Ok(false);
        }
        Ok(true)
    }

    fn helper_call(&mut self, path: &mut Path, id: i32, next: usize) -> Res<bool> {
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

    fn check_map_compat(&self, helper: i32, m: u32) -> Res<()> {
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
    fn reference_at(&self, at: usize) -> String {
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

    fn check_const_str(&self, r: &Reg, regno: usize, helper: &str) -> Res<()> {
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
    fn helper_mem(
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

impl Reg {
    fn truncated(self, width: Width) -> Reg {
        match width {
            Width::W64 => self,
            Width::W32 => self.truncated_to(4),
        }
    }

    fn truncated_to(mut self, bytes: usize) -> Reg {
        self.val = self.val.truncate(bytes);
        self
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

/// What a bounded access is into, for messages.
#[derive(Clone, Copy)]
enum What<'a> {
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

/// The allowed return values of a program type attached as its section
/// names (the kernel's check_return_code), if checked.
pub fn return_range(t: ProgramType, section: &str) -> Option<(i64, i64)> {
    use ProgramType as P;
    // The attach type: the section name's first component after the type.
    let attach = section.split_once('/').map_or("", |(_, a)| a);
    let kind = section.split('/').next().unwrap_or("");
    match t {
        // Egress may also ask for congestion notification (2 and 3).
        P::CgroupSkb if kind == "cgroup_skb" && attach == "egress" => Some((0, 3)),
        P::CgroupSockAddr => match attach {
            // These hooks may only let the call go on.
            "recvmsg4" | "recvmsg6" | "recvmsg_unix" | "getpeername4" | "getpeername6"
            | "getpeername_unix" | "getsockname4" | "getsockname6" | "getsockname_unix" => {
                Some((1, 1))
            }
            // Bind may also skip the port check (bit 1).
            "bind4" | "bind6" => Some((0, 3)),
            _ => Some((0, 1)),
        },
        P::CgroupSkb
        | P::CgroupSock
        | P::SockOps
        | P::CgroupDevice
        | P::CgroupSysctl
        | P::CgroupSockopt
        | P::SkLookup
        | P::Netfilter => Some((0, 1)),
        P::Tracing => match kind {
            "fentry" | "fexit" | "fentry.s" | "fexit.s" => Some((0, 0)),
            "iter" | "iter.s" => Some((0, 1)),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a program type may write packet data directly.
fn packet_writable(t: ProgramType) -> bool {
    use ProgramType as P;
    matches!(
        t,
        P::Xdp | P::SchedCls | P::SchedAct | P::LwtXmit | P::SkSkb | P::LwtSeg6local
    )
}

/// The slot index and the byte within it of stack byte `fp + off` (`off` < 0).
fn byte_pos(off: i64) -> (usize, usize) {
    let depth = (-off - 1) as usize;
    (depth / 8, 7 - depth % 8)
}

fn uninit_stack<T>(off: i64, regno: u8) -> Res<T> {
    fail(
        Reason::UninitStack,
        format!("R{regno} reads stack byte fp{off:+}, which was never written on this path"),
        "initialize the whole buffer first (e.g. = {} or __builtin_memset), including struct padding",
    )
}

/// Whether byte `k` of `slot` is part of a spilled pointer.
fn spilled_pointer_byte(slot: &Slot, k: usize) -> bool {
    slot.bytes[k] == Byte::Spill && slot.spill.is_some_and(|r| r.kind.is_pointer())
}

/// A helper would read a spilled pointer's bytes as data (unprivileged).
fn stack_pointer_leak<T>(off: i64, regno: u8) -> Res<T> {
    fail(
        Reason::PointerLeak,
        format!("R{regno} hands a helper stack byte fp{off:+}, part of a spilled pointer, which leaks a kernel address"),
        "without privileges, pass helpers buffers holding numbers only",
    )
}

fn destroy_spill(slot: &mut Slot) {
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

/// Forgets the value of every scalar in `cur` that differs from the one in `old`
/// (registers and spilled registers of frames both states have).
fn widen(old: &State, cur: &mut State) {
    if old.frames.len() != cur.frames.len() {
        return;
    }
    let w = |a: &Reg, b: &mut Reg| {
        if a.kind == Kind::Scalar && b.kind == Kind::Scalar && !a.val.includes(&b.val) {
            b.val = Scalar::UNKNOWN;
            b.id = 0;
        }
    };
    for (fo, fc) in old.frames.iter().zip(cur.frames.iter_mut()) {
        for (a, b) in fo.regs.iter().zip(fc.regs.iter_mut()) {
            w(a, b);
        }
        for (k, slot) in fc.stack.iter_mut().enumerate() {
            if let (Some(a), Some(b)) = (fo.slot(k).spill, slot.spill.as_mut()) {
                w(&a, b);
            }
        }
    }
}

/// Narrows both sides of a scalar comparison; whether the branch is possible.
#[allow(clippy::too_many_arguments)]
fn refine_regs(
    st: &mut State,
    cond: JmpCond,
    set_false: bool,
    width: Width,
    dst: R,
    src: Option<R>,
    a: Reg,
    b: Reg,
) -> bool {
    let mut va = a.val;
    let mut vb = b.val;
    scalar::refine(cond, set_false, width, &mut va, &mut vb);
    if va.is_empty() || vb.is_empty() {
        return false;
    }
    let apply = |st: &mut State, reg: Reg, val: Scalar, r: R| {
        if reg.id != 0 {
            st.for_each_reg(|x| {
                if x.kind == Kind::Scalar && x.id == reg.id {
                    x.val = val;
                }
            });
        }
        st.cur_mut().regs[r.num() as usize].val = val;
    };
    apply(st, a, va, dst);
    if let Some(s) = src {
        apply(st, b, vb, s);
    }
    true
}

/// On one side of a NULL check: the pointer (and its copies) are NULL or valid.
fn mark_null(st: &mut State, p: Reg, _r: R, null: bool) {
    let id = p.id;
    let mut released = None;
    st.for_each_reg(|x| {
        if x.id == id && x.kind.maybe_null() && x.kind == p.kind {
            if null {
                // A NULL acquired pointer holds nothing; one derived from
                // another's reference (ref_id of another id) releases nothing.
                if x.ref_id != 0 && x.ref_id == x.id {
                    released = Some(x.ref_id);
                }
                *x = Reg::scalar(Scalar::constant(0));
            } else {
                x.kind = match x.kind {
                    Kind::MapValue { map, .. } => Kind::MapValue { map, null: false },
                    Kind::Mem { size, .. } => Kind::Mem { size, null: false },
                    Kind::Sock { .. } => Kind::Sock { null: false },
                    Kind::MapPtrOrNull { map } => Kind::ConstMap { map },
                    k => k,
                };
            }
        }
    });
    if let Some(r) = released {
        st.refs.retain(|(x, _)| *x != r);
    }
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
