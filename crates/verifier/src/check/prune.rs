//! Pruning and state storage: stored states per instruction, forks, the
//! trail of jumps behind each path, and precision marks.

use super::*;

impl Checker<'_> {
    /// A path ended: its stored ancestors have one branch fewer to explore;
    /// those with none left are proven safe and can prune later paths.
    pub(super) fn finish(&mut self, mut parent: Option<usize>) {
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
    pub(super) fn fork(&mut self, path: &Path, state: State, pc: usize, note: Note) {
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
    pub(super) fn same_hash(&self, head: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(head), |&i| {
            Some(self.stored[i].next_live).filter(|&n| n != NONE)
        })
    }

    /// The stored states of slot `pc`, created on first use.
    pub(super) fn point(&mut self, pc: usize) -> usize {
        let k = self.point_of[pc];
        if k != u32::MAX {
            return k as usize;
        }
        self.points.push(Point::default());
        self.point_of[pc] = (self.points.len() - 1) as u32;
        self.points.len() - 1
    }

    /// Adds a history node after `prev`; its reference.
    pub(super) fn push_trail(&mut self, from: usize, to: usize, note: Note, prev: u32) -> u32 {
        self.trail.push(Trail {
            from: from as u32,
            to: to as u32,
            note,
            prev,
        });
        self.trail.len() as u32
    }

    /// The history node `t` refers to.
    pub(super) fn node(&self, t: u32) -> Option<Trail> {
        (t != 0).then(|| self.trail[t as usize - 1])
    }

    pub(super) fn goto(&mut self, path: &mut Path, to: usize) {
        self.goto_noted(path, to, Note::Jump);
    }

    pub(super) fn goto_noted(&mut self, path: &mut Path, to: usize, note: Note) {
        path.trail = self.push_trail(path.pc, to, note, path.trail);
        path.pc = to;
    }

    /// Records that the instruction at `path.pc` accessed the stack through
    /// `reg` (not r10) as `base + off`, when the slot is known.
    pub(super) fn note_stack(&mut self, path: &mut Path, reg: R, base: &Reg, off: i16) {
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
    pub(super) fn want_reg(&mut self, st: &State, r: u8) {
        self.want.set_reg(st.frames.len() - 1, r);
    }

    /// Marks what the current instruction asked for (`want`) as precise.
    pub(super) fn flush_want(&mut self, path: &Path) {
        if !self.want.is_empty() {
            let m = std::mem::take(&mut self.want);
            self.precise(path, m);
        }
    }

    /// Every stored state from `parent` up counts every scalar as precise.
    pub(super) fn all_precise(&mut self, mut parent: Option<usize>) {
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
    pub(super) fn precise(&mut self, path: &Path, mut m: Marks) {
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
}

/// Forgets the value of every scalar in `cur` that differs from the one in `old`
/// (registers and spilled registers of frames both states have).
pub(super) fn widen(old: &State, cur: &mut State) {
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
