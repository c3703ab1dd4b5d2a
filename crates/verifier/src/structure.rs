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
    pub succ: Vec<Vec<usize>>,
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
            Some(Insn::Call {
                kind: CallKind::Kfunc,
                ..
            }) => {
                return Err(Rejection::structural(
                    Reason::Unsupported,
                    pc,
                    "calls to kernel functions (kfuncs) are not supported".into(),
                    "use a BPF helper instead of a kfunc",
                ))
            }
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
        succ: vec![Vec::new(); n],
    };
    for pc in 0..n {
        let Some(insn) = cfg.insns[pc] else { continue };
        let f = cfg.subprog_of(pc);
        let sp = cfg.subprogs[f].clone();
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
    check_reachable(&cfg, privileged)?;
    Ok(cfg)
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
        return Err(Rejection::structural(
            Reason::Unreachable,
            pc,
            format!("instruction {pc} can never run"),
            "remove the dead code (no path from the entry reaches it)",
        ));
    }
    Ok(())
}
