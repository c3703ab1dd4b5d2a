//! Structure checks before any path is explored: decoding, jump targets,
//! subprogram boundaries, fall-through, reachability and back-edges.

use oxbpf_isa::{decode_at, CallKind, Insn, LddwSrc, RawInsn};

use crate::report::{Reason, Rejection};

/// A function: the entry program or a BPF-to-BPF callee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subprog {
    /// First slot.
    pub start: usize,
    /// One past the last slot.
    pub end: usize,
}

/// The program's instructions and the facts about its control flow.
#[derive(Clone, Debug)]
pub struct Cfg {
    /// The instruction starting at each slot (`None` for an lddw's second slot).
    pub insns: Vec<Option<Insn>>,
    /// Functions, sorted by start; the first is the entry.
    pub subprogs: Vec<Subprog>,
    /// Slots where exploration stores states for pruning (jump targets and
    /// the fall-through of conditional jumps).
    pub prune: Vec<bool>,
    /// Successor slots of each slot, for the control-flow graph output.
    pub succ: Vec<Succ>,
    /// Registers r0-r9 (bit n for rn) that some path from each slot reads
    /// before writing: the others are dead there and ignored when pruning.
    pub live: Vec<u16>,
}

/// The successors of one slot: at most two (a conditional jump's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Succ {
    n: u8,
    s: [usize; 2],
}

impl Succ {
    /// Adds a successor (a third is ignored: no instruction has one).
    pub fn push(&mut self, t: usize) {
        if let Some(x) = self.s.get_mut(self.n as usize) {
            *x = t;
            self.n += 1;
        }
    }
}

impl std::ops::Deref for Succ {
    type Target = [usize];

    fn deref(&self) -> &[usize] {
        &self.s[..self.n as usize]
    }
}

impl<'a> IntoIterator for &'a Succ {
    type Item = &'a usize;
    type IntoIter = std::slice::Iter<'a, usize>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Cfg {
    /// The index of the function containing `slot`.
    pub fn subprog_of(&self, slot: usize) -> usize {
        match self.subprogs.binary_search_by(|s| s.start.cmp(&slot)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }
}

fn target(pc: usize, off: i64) -> Option<usize> {
    let t = pc as i64 + 1 + off;
    (t >= 0).then_some(t as usize)
}

/// Decodes `slots` and checks the program's structure.
pub fn analyze(slots: &[RawInsn], privileged: bool) -> Result<Cfg, Box<Rejection>> {
    let n = slots.len();
    if n == 0 {
        return Err(Rejection::structural(
            Reason::Structure,
            0,
            "the program has no instructions".into(),
            "a program needs at least `r0 = 0; exit`",
        ));
    }
    if n > 1_000_000 {
        return Err(Rejection::structural(
            Reason::TooComplex,
            0,
            format!("the program has {n} instructions; at most 1000000 are allowed"),
            "split the work into smaller programs joined by tail calls",
        ));
    }
    let mut insns = vec![None; n];
    let mut i = 0;
    while i < n {
        let insn = decode_at(slots, i).map_err(|e| {
            Rejection::structural(
                Reason::Decode,
                i,
                e.to_string(),
                "the bytes are not a valid instruction; check the compiler output",
            )
        })?;
        if let Insn::Callx { reg } = insn {
            // The kernel refuses the opcode outright ("unknown opcode 8d"),
            // wherever it is, before exploring anything.
            return Err(Rejection::structural(
                Reason::Unsupported,
                i,
                format!(
                    "callx {reg} calls a helper whose id is in a register; the kernel does not accept this instruction anywhere in a program"
                ),
                "call helpers by constant id (`call bpf_name`): clang emits callx at -O0, so build with -O2",
            ));
        }
        insns[i] = Some(insn);
        i += insn.slots();
    }
    fn bad_target(
        insns: &[Option<Insn>],
        pc: usize,
        t: Option<usize>,
        what: &str,
    ) -> Result<usize, Box<Rejection>> {
        let n = insns.len();
        match t {
            Some(t) if t < n && insns[t].is_some() => Ok(t),
            Some(t) if t < n => Err(Rejection::structural(
                Reason::JumpIntoLddw,
                pc,
                format!("{what} goes to instruction {t}, the middle of a 16-byte lddw"),
                "jump to the lddw itself, not its second half",
            )),
            _ => Err(Rejection::structural(
                Reason::JumpOutOfRange,
                pc,
                format!(
                    "{what} goes to instruction {}, outside the program (0..{n})",
                    t.map_or_else(|| "before 0".to_string(), |t| t.to_string())
                ),
                "fix the jump offset",
            )),
        }
    }
    // Function starts: the entry, local call targets and callback addresses.
    let mut starts = vec![0usize];
    for (pc, insn) in insns.iter().enumerate() {
        match insn {
            Some(Insn::Call {
                kind: CallKind::Local,
                imm,
            }) => starts.push(bad_target(&insns, pc, target(pc, *imm as i64), "the call")?),
            Some(Insn::Lddw {
                src: LddwSrc::CodeAddr,
                imm,
                ..
            }) => starts.push(bad_target(
                &insns,
                pc,
                target(pc, *imm as u32 as i32 as i64),
                "the function address",
            )?),
            _ => {}
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let subprogs: Vec<Subprog> = starts
        .iter()
        .enumerate()
        .map(|(k, &s)| Subprog {
            start: s,
            end: starts.get(k + 1).copied().unwrap_or(n),
        })
        .collect();
    let mut cfg = Cfg {
        insns,
        subprogs,
        prune: vec![false; n],
        succ: vec![Succ::default(); n],
        live: Vec::new(),
    };
    // Whether some jump goes backwards (to itself or an earlier slot).
    let mut backward = false;
    // The function of `pc`: slots are visited in order, so it only moves forwards.
    let mut f = 0;
    for pc in 0..n {
        let Some(insn) = cfg.insns[pc] else { continue };
        while cfg.subprogs[f].end <= pc {
            f += 1;
        }
        let sp = &cfg.subprogs[f];
        let next = pc + insn.slots();
        let falls = !matches!(insn, Insn::Exit | Insn::Ja { .. } | Insn::Ja32 { .. });
        if falls {
            if next >= sp.end {
                return Err(Rejection::structural(
                    Reason::FallThrough,
                    pc,
                    format!(
                        "execution can run past the end of the function at {} without an exit",
                        sp.start
                    ),
                    "the last instruction of every function must be `exit` or a `goto`",
                ));
            }
            cfg.succ[pc].push(next);
        }
        if let Some(off) = insn.jump_offset() {
            let t = bad_target(&cfg.insns, pc, target(pc, off), "the jump")?;
            if t < sp.start || t >= sp.end {
                return Err(Rejection::structural(
                    Reason::JumpOutOfRange,
                    pc,
                    format!(
                        "the jump goes to instruction {t}, outside its function ({}..{})",
                        sp.start, sp.end
                    ),
                    "jumps cannot cross function boundaries; use a call",
                ));
            }
            backward |= t <= pc;
            cfg.succ[pc].push(t);
            cfg.prune[t] = true;
            if matches!(insn, Insn::Jmp { .. }) {
                cfg.prune[next] = true;
            }
        }
        if let Insn::Call { .. } | Insn::Callx { .. } = insn {
            cfg.prune[pc] = true;
        }
    }
    if backward || cfg.subprogs.len() > 1 {
        check_reachable(&cfg, privileged)?;
    } else {
        check_reachable_forward(&cfg)?;
    }
    cfg.live = liveness(&cfg, backward);
    Ok(cfg)
}

/// The registers an instruction reads and the ones it writes, as bit masks.
fn uses_defs(insn: &Insn) -> (u16, u16) {
    use oxbpf_isa::{AluOp, AtomicOp, Operand};
    let bit = |r: oxbpf_isa::Reg| -> u16 {
        if r.num() < 10 {
            1 << r.num()
        } else {
            0
        }
    };
    let op = |o: &Operand| match o {
        Operand::Reg(r) => bit(*r),
        Operand::Imm(_) => 0,
    };
    const ARGS: u16 = 0b11_1110;
    const CLOBBER: u16 = 0b11_1111;
    match insn {
        Insn::Alu {
            op: alu, dst, src, ..
        } => match alu {
            AluOp::Mov | AluOp::Movsx8 | AluOp::Movsx16 | AluOp::Movsx32 => (op(src), bit(*dst)),
            _ => (bit(*dst) | op(src), bit(*dst)),
        },
        Insn::Neg { dst, .. } | Insn::End { dst, .. } => (bit(*dst), bit(*dst)),
        Insn::Ja { .. } | Insn::Ja32 { .. } => (0, 0),
        Insn::Jmp { dst, src, .. } => (bit(*dst) | op(src), 0),
        Insn::Ldx { dst, src, .. } => (bit(*src), bit(*dst)),
        Insn::St { dst, .. } => (bit(*dst), 0),
        Insn::Stx { dst, src, .. } => (bit(*dst) | bit(*src), 0),
        Insn::Atomic {
            op: a, dst, src, ..
        } => match a {
            AtomicOp::Cmpxchg => (bit(*dst) | bit(*src) | 1, 1),
            AtomicOp::Xchg
            | AtomicOp::Add { fetch: true }
            | AtomicOp::Or { fetch: true }
            | AtomicOp::And { fetch: true }
            | AtomicOp::Xor { fetch: true } => (bit(*dst) | bit(*src), bit(*src)),
            _ => (bit(*dst) | bit(*src), 0),
        },
        Insn::Lddw { dst, .. } => (0, bit(*dst)),
        Insn::LdAbs { .. } => (1 << 6, CLOBBER),
        Insn::LdInd { src, .. } => ((1 << 6) | bit(*src), CLOBBER),
        Insn::Call { .. } => (ARGS, CLOBBER),
        Insn::Callx { reg } => (ARGS | bit(*reg), CLOBBER),
        Insn::Exit => (1, 0),
    }
}

/// Backward liveness of r0-r9 over the control-flow graph, to a fixpoint.
/// Without `backward` jumps every successor follows its slot, so one pass
/// from the end is the fixpoint.
fn liveness(cfg: &Cfg, backward: bool) -> Vec<u16> {
    let n = cfg.insns.len();
    let mut live = vec![0u16; n];
    loop {
        let mut changed = false;
        for pc in (0..n).rev() {
            let Some(insn) = &cfg.insns[pc] else { continue };
            let out = cfg.succ[pc].iter().fold(0u16, |m, &s| m | live[s]);
            let (uses, defs) = uses_defs(insn);
            let v = uses | (out & !defs);
            if v != live[pc] {
                live[pc] = v;
                changed = true;
            }
        }
        if !changed || !backward {
            return live;
        }
    }
}

/// [`check_reachable`] for a single function whose jumps all go forwards:
/// one pass in slot order marks everything reachable (no back-edges exist).
fn check_reachable_forward(cfg: &Cfg) -> Result<(), Box<Rejection>> {
    let n = cfg.insns.len();
    let mut reached = vec![false; n];
    reached[0] = true;
    for pc in 0..n {
        if cfg.insns[pc].is_none() {
            continue;
        }
        if !reached[pc] {
            return Err(unreachable(pc));
        }
        for &s in &cfg.succ[pc] {
            reached[s] = true;
        }
    }
    Ok(())
}

fn unreachable(pc: usize) -> Box<Rejection> {
    Rejection::structural(
        Reason::Unreachable,
        pc,
        format!("instruction {pc} can never run"),
        "remove the dead code (no path from the entry reaches it)",
    )
}

/// Every instruction is reachable from the entry; no back-edges unless privileged.
fn check_reachable(cfg: &Cfg, privileged: bool) -> Result<(), Box<Rejection>> {
    let n = cfg.insns.len();
    // 0 = unvisited, 1 = on the DFS stack, 2 = done.
    let mut color = vec![0u8; n];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut roots = vec![0usize];
    let extra = |pc: usize| -> Option<usize> {
        match cfg.insns[pc] {
            Some(Insn::Call {
                kind: CallKind::Local,
                imm,
            }) => target(pc, imm as i64),
            Some(Insn::Lddw {
                src: LddwSrc::CodeAddr,
                imm,
                ..
            }) => target(pc, imm as u32 as i32 as i64),
            _ => None,
        }
    };
    while let Some(root) = roots.pop() {
        if color[root] != 0 {
            continue;
        }
        color[root] = 1;
        stack.push((root, 0));
        while let Some(&mut (pc, ref mut k)) = stack.last_mut() {
            if *k == 0 {
                if let Some(callee) = extra(pc) {
                    roots.push(callee);
                }
            }
            if let Some(&s) = cfg.succ[pc].get(*k) {
                *k += 1;
                match color[s] {
                    0 => {
                        color[s] = 1;
                        stack.push((s, 0));
                    }
                    1 if !privileged => {
                        return Err(Rejection::structural(
                            Reason::BackEdge,
                            pc,
                            format!("back-edge from instruction {pc} to {s}: loops need privileges"),
                            "unprivileged programs cannot loop; unroll the loop or load with CAP_BPF",
                        ));
                    }
                    _ => {}
                }
            } else {
                color[pc] = 2;
                stack.pop();
            }
        }
    }
    if let Some(pc) = (0..n).find(|&pc| cfg.insns[pc].is_some() && color[pc] == 0) {
        return Err(unreachable(pc));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<Cfg, Box<Rejection>> {
        let insns = oxbpf_isa::assemble(text).unwrap();
        let slots = oxbpf_isa::raw_slots(&oxbpf_isa::encode_program(&insns)).unwrap();
        analyze(&slots, true)
    }

    #[test]
    fn liveness_follows_reads_before_writes() {
        let c = cfg("r2 = 2\nr0 = r1\nif r3 > 0 goto +1\nr0 = r2\nexit").unwrap();
        // Slot 0 needs r1 (read at 1) and r3 (read at 2); r2 is written first.
        assert_eq!(c.live[0], (1 << 1) | (1 << 3));
        // Slot 3 reads r2; r0 is written there.
        assert_eq!(c.live[3], 1 << 2);
        assert_eq!(c.live[4], 1);
        // A call reads r1-r5 and clobbers r0-r5.
        let c = cfg("r6 = 1\ncall 5\nr0 = r6\nexit").unwrap();
        assert_eq!(c.live[1], 0b11_1110 | (1 << 6));
    }

    #[test]
    fn liveness_reaches_its_fixpoint_around_loops() {
        let c = cfg("r1 = 0\nl:\nr0 = r2\nr2 = r1\nr1 += 1\nif r1 < 3 goto l\nexit").unwrap();
        // The jump at 4 needs r2 only through the back-edge to 1: a second pass finds it.
        assert_eq!(c.live[4], 0b111);
        assert_eq!(c.live[1], 0b110);
        assert_eq!(c.live[0], 0b100);
    }

    #[test]
    fn unreachable_code_with_and_without_backward_jumps() {
        // Jumps only forwards: the one-pass check.
        let e = cfg("r0 = 0\ngoto +1\nr0 = 1\nexit").unwrap_err();
        assert_eq!((e.reason, e.insn), (Reason::Unreachable, 2));
        // A loop: the depth-first search, which reports the same first slot.
        let e = cfg("r0 = 0\nl:\nr0 += 1\nif r0 < 3 goto l\ngoto +1\nr0 = 1\nexit").unwrap_err();
        assert_eq!((e.reason, e.insn), (Reason::Unreachable, 4));
        // Jumps forwards only, but two functions: the callee is reached by the call.
        assert!(cfg("call local f\nexit\nf:\nr0 = 0\nexit").is_ok());
    }

    #[test]
    fn subprograms_and_prune_points() {
        let c = cfg("call local f\nexit\nf:\nr0 = 0\nif r0 == 0 goto +0\nexit").unwrap();
        assert_eq!(c.subprogs.len(), 2);
        assert_eq!(c.subprogs[1].start, 2);
        assert_eq!(c.subprog_of(3), 1);
        assert!(c.prune[4]);
        assert!(c.prune[0]);
    }
}
