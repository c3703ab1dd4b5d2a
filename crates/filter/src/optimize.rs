//! The optimizer, after libpcap's optimize.c in spirit:
//!
//! - value numbering: every statement's result is a hash-consed term over
//!   the packet (`ldh [12]` is one value wherever it is loaded), with
//!   constant folding of ALU operations;
//! - jump threading and branch folding: along each edge, the outcomes of the
//!   tests that dominate it are known facts; a block whose test they decide
//!   is skipped (`ether type = ip` true implies `ether type = ip6` false);
//! - merging of identical blocks (common tails) and of blocks whose two
//!   branches agree;
//! - removal of loads and stores whose value a register or slot already
//!   holds on every path into the block.
//!
//! Loads are treated as pure, as libpcap treats them: a load past the end of
//! a truncated packet ends the run with "reject", and a test the optimizer
//! proves redundant is not run, so on truncated packets an optimized program
//! can accept where the plain one rejects (libpcap's optimizer does the same,
//! though not always on the same expressions).

use crate::cfg::{Block, Graph, Target};
use oxbpf_cbpf::insn::op;
use oxbpf_cbpf::Insn;
use std::collections::HashMap;

type ValId = u32;

/// A value term; operands are other value ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Val {
    Const(u32),
    Abs(u16, u32),
    Ind(u16, u32, ValId),
    Len,
    Msh(u32),
    Alu(u16, ValId, ValId),
    Neg(ValId),
    /// Something unknown; each one is distinct.
    Opaque(u32),
}

#[derive(Default)]
struct Values {
    ids: HashMap<Val, ValId>,
    terms: Vec<Val>,
    opaque: u32,
}

impl Values {
    fn intern(&mut self, v: Val) -> ValId {
        if let Some(&id) = self.ids.get(&v) {
            return id;
        }
        let id = self.terms.len() as ValId;
        self.terms.push(v);
        self.ids.insert(v, id);
        id
    }

    fn fresh(&mut self) -> ValId {
        self.opaque += 1;
        self.intern(Val::Opaque(self.opaque))
    }

    fn konst(&self, id: ValId) -> Option<u32> {
        match self.terms[id as usize] {
            Val::Const(c) => Some(c),
            _ => None,
        }
    }

    fn alu(&mut self, opc: u16, a: ValId, b: ValId) -> ValId {
        if let (Some(x), Some(y)) = (self.konst(a), self.konst(b)) {
            if let Some(Some(r)) = oxbpf_cbpf::interp::alu(opc, x, y) {
                return self.intern(Val::Const(r));
            }
            return self.fresh();
        }
        // Operations whose result does not depend on the packet.
        match (opc, self.konst(b)) {
            (op::AND | op::MUL, Some(0)) => return self.intern(Val::Const(0)),
            (op::OR, Some(u32::MAX)) => return self.intern(Val::Const(u32::MAX)),
            _ => {}
        }
        self.intern(Val::Alu(opc, a, b))
    }
}

/// Register and scratch-memory contents; `None` is unknown.
#[derive(Clone, PartialEq, Eq)]
struct State {
    a: Option<ValId>,
    x: Option<ValId>,
    m: [Option<ValId>; 16],
}

impl State {
    fn unknown() -> State {
        State {
            a: None,
            x: None,
            m: [None; 16],
        }
    }

    fn meet(&mut self, o: &State) {
        if self.a != o.a {
            self.a = None;
        }
        if self.x != o.x {
            self.x = None;
        }
        for (m, n) in self.m.iter_mut().zip(o.m.iter()) {
            if m != n {
                *m = None;
            }
        }
    }
}

/// Which register a statement writes.
enum Dest {
    A,
    X,
    M(usize),
}

/// Runs one statement on `st`, returning where it wrote and the value.
fn step(vals: &mut Values, st: &State, s: &Insn) -> (Dest, ValId) {
    let get = |r: Option<ValId>, vals: &mut Values| r.unwrap_or_else(|| vals.fresh());
    let class = s.code & 0x07;
    let size = s.code & 0x18;
    let mode = s.code & 0xe0;
    let slot = (s.k as usize).min(15);
    match class {
        op::LD => {
            let v = match mode {
                op::IMM => vals.intern(Val::Const(s.k)),
                op::ABS => vals.intern(Val::Abs(size, s.k)),
                op::IND => {
                    let x = get(st.x, vals);
                    match vals.konst(x) {
                        Some(c) => vals.intern(Val::Abs(size, c.wrapping_add(s.k))),
                        None => vals.intern(Val::Ind(size, s.k, x)),
                    }
                }
                op::LEN => vals.intern(Val::Len),
                op::MEM => get(st.m[slot], vals),
                _ => vals.fresh(),
            };
            (Dest::A, v)
        }
        op::LDX => {
            let v = match mode {
                op::IMM => vals.intern(Val::Const(s.k)),
                op::LEN => vals.intern(Val::Len),
                op::MSH => vals.intern(Val::Msh(s.k)),
                op::MEM => get(st.m[slot], vals),
                _ => vals.fresh(),
            };
            (Dest::X, v)
        }
        op::ST => (Dest::M(slot), get(st.a, vals)),
        op::STX => (Dest::M(slot), get(st.x, vals)),
        op::ALU => {
            let a = get(st.a, vals);
            let opc = s.code & 0xf0;
            let v = if opc == op::NEG {
                match vals.konst(a) {
                    Some(c) => vals.intern(Val::Const(c.wrapping_neg())),
                    None => vals.intern(Val::Neg(a)),
                }
            } else {
                let b = if s.code & op::X != 0 {
                    get(st.x, vals)
                } else {
                    vals.intern(Val::Const(s.k))
                };
                vals.alu(opc, a, b)
            };
            (Dest::A, v)
        }
        _ => {
            if s.code & 0xf8 == op::TXA {
                (Dest::A, get(st.x, vals))
            } else {
                (Dest::X, get(st.a, vals))
            }
        }
    }
}

fn apply(st: &mut State, d: &Dest, v: ValId) {
    match d {
        Dest::A => st.a = Some(v),
        Dest::X => st.x = Some(v),
        Dest::M(i) => st.m[*i] = Some(v),
    }
}

fn holds(st: &State, d: &Dest, v: ValId) -> bool {
    match d {
        Dest::A => st.a == Some(v),
        Dest::X => st.x == Some(v),
        Dest::M(i) => st.m[*i] == Some(v),
    }
}

/// The operand of a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Operand {
    K(u32),
    V(ValId),
}

/// A block's test: value of A, jump operation, operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct TestKey {
    a: ValId,
    op: u16,
    rhs: Operand,
}

fn test_key(vals: &mut Values, b: &Block) -> TestKey {
    // Blocks are self-contained, so they are simulated from nothing.
    let mut st = State::unknown();
    for s in &b.stmts {
        let (d, v) = step(vals, &st, s);
        apply(&mut st, &d, v);
    }
    let a = st.a.unwrap_or_else(|| vals.fresh());
    let rhs = if b.code & op::X != 0 {
        let x = st.x.unwrap_or_else(|| vals.fresh());
        match vals.konst(x) {
            Some(c) => Operand::K(c),
            None => Operand::V(x),
        }
    } else {
        Operand::K(b.k)
    };
    TestKey {
        a,
        op: b.code & 0xf0,
        rhs,
    }
}

fn eval(opc: u16, a: u32, k: u32) -> bool {
    match opc {
        op::JEQ => a == k,
        op::JGT => a > k,
        op::JGE => a >= k,
        op::JSET => a & k != 0,
        _ => false,
    }
}

/// What the known facts say about a test's outcome.
fn outcome(vals: &Values, t: &TestKey, facts: &[(TestKey, bool)]) -> Option<bool> {
    if let (Some(a), Operand::K(k)) = (vals.konst(t.a), t.rhs) {
        return Some(eval(t.op, a, k));
    }
    let Operand::K(k2) = t.rhs else {
        return facts.iter().find(|(f, _)| f == t).map(|(_, o)| *o);
    };
    for (f, fo) in facts {
        if f.a != t.a {
            continue;
        }
        if f == t {
            return Some(*fo);
        }
        let Operand::K(k1) = f.rhs else { continue };
        let r = match (f.op, *fo, t.op) {
            // A == k1.
            (op::JEQ, true, _) => Some(eval(t.op, k1, k2)),
            // A > k1.
            (op::JGT, true, op::JGT) if k2 <= k1 => Some(true),
            (op::JGT, true, op::JGE) if k2 <= k1.saturating_add(1) => Some(true),
            (op::JGT, true, op::JEQ) if k2 <= k1 => Some(false),
            // A <= k1.
            (op::JGT, false, op::JGT) if k2 >= k1 => Some(false),
            (op::JGT, false, op::JGE) if k2 > k1 => Some(false),
            (op::JGT, false, op::JEQ) if k2 > k1 => Some(false),
            // A >= k1.
            (op::JGE, true, op::JGE) if k2 <= k1 => Some(true),
            (op::JGE, true, op::JGT) if k2 < k1 => Some(true),
            (op::JGE, true, op::JEQ) if k2 < k1 => Some(false),
            // A < k1.
            (op::JGE, false, op::JGE) if k2 >= k1 => Some(false),
            (op::JGE, false, op::JGT) if k2.saturating_add(1) >= k1 => Some(false),
            (op::JGE, false, op::JEQ) if k2 >= k1 => Some(false),
            // A & k1 != 0 / == 0.
            (op::JSET, true, op::JSET) if k1 & !k2 == 0 => Some(true),
            (op::JSET, false, op::JSET) if k2 & !k1 == 0 => Some(false),
            _ => None,
        };
        if r.is_some() {
            return r;
        }
    }
    None
}

/// Blocks reachable from `root`, in an order where every edge goes forward.
pub fn topo_order(g: &Graph, root: Target) -> Vec<usize> {
    let Target::Block(r) = root else {
        return Vec::new();
    };
    let mut seen = vec![false; g.blocks.len()];
    let mut post = Vec::new();
    // Iterative DFS: (block, next child index).
    let mut stack = vec![(r, 0u8)];
    seen[r] = true;
    while let Some(&mut (b, ref mut child)) = stack.last_mut() {
        let next = match *child {
            0 => Some(g.blocks[b].jf),
            1 => Some(g.blocks[b].jt),
            _ => None,
        };
        *child += 1;
        match next {
            Some(Target::Block(s)) => {
                if !seen[s] {
                    seen[s] = true;
                    stack.push((s, 0));
                }
            }
            Some(_) => {}
            None => {
                post.push(b);
                stack.pop();
            }
        }
    }
    post.reverse();
    post
}

fn branch(b: &Block, taken: bool) -> Target {
    if taken {
        b.jt
    } else {
        b.jf
    }
}

/// One pass of jump threading; returns whether anything changed.
fn thread(g: &mut Graph, root: &mut Target, vals: &mut Values) -> bool {
    let order = topo_order(g, *root);
    let mut keys: HashMap<usize, TestKey> = HashMap::new();
    for &b in &order {
        keys.insert(b, test_key(vals, &g.blocks[b]));
    }
    let follow = |g: &Graph, mut t: Target, path: &mut Vec<(TestKey, bool)>| -> Target {
        while let Target::Block(s) = t {
            let blk = &g.blocks[s];
            let key = keys[&s];
            if let Some(o) = outcome(vals, &key, path) {
                path.push((key, o));
                t = branch(blk, o);
            } else if blk.jt == blk.jf {
                t = blk.jt;
            } else {
                break;
            }
        }
        t
    };
    let mut changed = false;
    let mut root_path = Vec::new();
    let new_root = follow(g, *root, &mut root_path);
    if new_root != *root {
        *root = new_root;
        return true;
    }
    let mut facts: HashMap<usize, Vec<(TestKey, bool)>> = HashMap::new();
    if let Target::Block(r) = *root {
        facts.insert(r, Vec::new());
    }
    for &b in &order {
        let Some(fb) = facts.remove(&b) else { continue };
        for taken in [true, false] {
            let mut path = fb.clone();
            path.push((keys[&b], taken));
            let old = branch(&g.blocks[b], taken);
            let t = follow(g, old, &mut path);
            if t != old {
                changed = true;
                if taken {
                    g.blocks[b].jt = t;
                } else {
                    g.blocks[b].jf = t;
                }
            }
            if let Target::Block(s) = t {
                match facts.get_mut(&s) {
                    None => {
                        facts.insert(s, path);
                    }
                    Some(have) => have.retain(|f| path.contains(f)),
                }
            }
        }
    }
    changed
}

/// Merges identical blocks; returns whether anything changed.
fn intern(g: &mut Graph, root: &mut Target) -> bool {
    let order = topo_order(g, *root);
    let mut canon: HashMap<usize, usize> = HashMap::new();
    let mut seen: HashMap<Block, usize> = HashMap::new();
    let mut changed = false;
    let map = |canon: &HashMap<usize, usize>, t: Target| match t {
        Target::Block(b) => Target::Block(*canon.get(&b).unwrap_or(&b)),
        other => other,
    };
    for &b in order.iter().rev() {
        let jt = map(&canon, g.blocks[b].jt);
        let jf = map(&canon, g.blocks[b].jf);
        if jt != g.blocks[b].jt || jf != g.blocks[b].jf {
            changed = true;
            g.blocks[b].jt = jt;
            g.blocks[b].jf = jf;
        }
        match seen.get(&g.blocks[b]) {
            Some(&c) => {
                canon.insert(b, c);
                changed = true;
            }
            None => {
                seen.insert(g.blocks[b].clone(), b);
            }
        }
    }
    let r = map(&canon, *root);
    if r != *root {
        *root = r;
        changed = true;
    }
    changed
}

/// Removes statements that store a value their destination already holds on
/// every path into the block.
fn drop_redundant(g: &mut Graph, root: Target, vals: &mut Values) {
    let order = topo_order(g, root);
    let mut entry: HashMap<usize, State> = HashMap::new();
    if let Target::Block(r) = root {
        entry.insert(r, State::unknown());
    }
    for &b in &order {
        let mut st = entry.remove(&b).unwrap_or_else(State::unknown);
        let stmts = std::mem::take(&mut g.blocks[b].stmts);
        let mut kept = Vec::with_capacity(stmts.len());
        for s in stmts {
            let (d, v) = step(vals, &st, &s);
            if !holds(&st, &d, v) {
                kept.push(s);
                apply(&mut st, &d, v);
            }
        }
        g.blocks[b].stmts = kept;
        for t in [g.blocks[b].jt, g.blocks[b].jf] {
            if let Target::Block(s) = t {
                match entry.get_mut(&s) {
                    None => {
                        entry.insert(s, st.clone());
                    }
                    Some(e) => e.meet(&st),
                }
            }
        }
    }
}

/// Reorders chains of pure tests so that tests of the same value are next
/// to each other (then one load serves them all). An OR chain is a run of
/// blocks that all jump to the same place when true and fall to the next
/// when false, each entered only from the one before; its tests commute.
/// AND chains are the same with the branches swapped. Block contents are
/// permuted among the chain's ids, so edges into the chain stay valid.
fn regroup(g: &mut Graph, root: Target, vals: &mut Values) -> bool {
    let order = topo_order(g, root);
    let mut preds: HashMap<usize, usize> = HashMap::new();
    if let Target::Block(r) = root {
        *preds.entry(r).or_default() += 1;
    }
    for &b in &order {
        for t in [g.blocks[b].jt, g.blocks[b].jf] {
            if let Target::Block(s) = t {
                *preds.entry(s).or_default() += 1;
            }
        }
    }
    let mut in_chain = vec![false; g.blocks.len()];
    let mut changed = false;
    for &b in &order {
        if in_chain[b] {
            continue;
        }
        for or_chain in [true, false] {
            let shared = branch(&g.blocks[b], or_chain);
            let mut chain = vec![b];
            let mut cur = b;
            while let Target::Block(n) = branch(&g.blocks[cur], !or_chain) {
                if branch(&g.blocks[n], or_chain) != shared
                    || preds.get(&n) != Some(&1)
                    || in_chain[n]
                {
                    break;
                }
                chain.push(n);
                cur = n;
            }
            if chain.len() < 3 {
                continue;
            }
            let keys: Vec<ValId> = chain
                .iter()
                .map(|&c| test_key(vals, &g.blocks[c]).a)
                .collect();
            let mut groups: Vec<ValId> = Vec::new();
            for k in &keys {
                if !groups.contains(k) {
                    groups.push(*k);
                }
            }
            let mut perm: Vec<usize> = Vec::with_capacity(chain.len());
            for grp in &groups {
                perm.extend((0..chain.len()).filter(|&i| keys[i] == *grp));
            }
            for &c in &chain {
                in_chain[c] = true;
            }
            if perm.iter().enumerate().all(|(i, &p)| i == p) {
                break;
            }
            let contents: Vec<(Vec<Insn>, u16, u32)> = chain
                .iter()
                .map(|&c| (g.blocks[c].stmts.clone(), g.blocks[c].code, g.blocks[c].k))
                .collect();
            for (slot, &from) in chain.iter().zip(&perm) {
                let (stmts, code, k) = contents[from].clone();
                let blk = &mut g.blocks[*slot];
                blk.stmts = stmts;
                blk.code = code;
                blk.k = k;
            }
            changed = true;
            break;
        }
    }
    changed
}

/// Removes stores to scratch slots that no later statement reads.
fn drop_dead_stores(g: &mut Graph, root: Target) {
    let order = topo_order(g, root);
    // Slots read before being written, from the start of each block on.
    let mut live_in: HashMap<usize, u16> = HashMap::new();
    for &b in order.iter().rev() {
        let mut live: u16 = 0;
        for t in [g.blocks[b].jt, g.blocks[b].jf] {
            if let Target::Block(s) = t {
                live |= live_in.get(&s).copied().unwrap_or(0);
            }
        }
        let stmts = std::mem::take(&mut g.blocks[b].stmts);
        let mut kept = Vec::with_capacity(stmts.len());
        for s in stmts.into_iter().rev() {
            let bit = 1u16 << (s.k & 15);
            let class = s.code & 0x07;
            let mode = s.code & 0xe0;
            if class == op::ST || class == op::STX {
                if live & bit == 0 {
                    continue;
                }
                live &= !bit;
            } else if (class == op::LD || class == op::LDX) && mode == op::MEM {
                live |= bit;
            }
            kept.push(s);
        }
        kept.reverse();
        g.blocks[b].stmts = kept;
        live_in.insert(b, live);
    }
}

/// Optimizes the graph in place and returns the new entry.
pub fn optimize(g: &mut Graph, mut root: Target) -> Target {
    let mut vals = Values::default();
    for _ in 0..64 {
        let mut changed = false;
        while thread(g, &mut root, &mut vals) {
            changed = true;
        }
        changed |= intern(g, &mut root);
        changed |= regroup(g, root, &mut vals);
        if !changed {
            break;
        }
    }
    drop_redundant(g, root, &mut vals);
    drop_dead_stores(g, root);
    // Blocks that became identical once their loads went (the same code on
    // different paths, as `jeq #k` after different loads) can share one copy.
    while intern(g, &mut root) {}
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(vals: &mut Values, opc: u16, k: u32) -> TestKey {
        let a = vals.intern(Val::Abs(op::H, 12));
        TestKey {
            a,
            op: opc,
            rhs: Operand::K(k),
        }
    }

    #[test]
    fn known_outcomes_follow_from_dominating_tests() {
        let mut v = Values::default();
        // (fact, its outcome, test, expected outcome)
        let cases = [
            ((op::JEQ, 0x800), true, (op::JEQ, 0x800), Some(true)),
            ((op::JEQ, 0x800), true, (op::JEQ, 0x86dd), Some(false)),
            ((op::JEQ, 0x800), false, (op::JEQ, 0x800), Some(false)),
            ((op::JEQ, 0x800), false, (op::JEQ, 0x86dd), None),
            ((op::JEQ, 0x800), true, (op::JGT, 1500), Some(true)),
            ((op::JGT, 1500), false, (op::JEQ, 0x800), Some(false)),
            ((op::JGT, 1500), false, (op::JGE, 1501), Some(false)),
            ((op::JGT, 1500), true, (op::JGE, 1501), Some(true)),
            ((op::JGE, 10), true, (op::JGT, 9), Some(true)),
            ((op::JGE, 10), false, (op::JGT, 9), Some(false)),
            ((op::JGE, 10), false, (op::JGT, 8), None),
            ((op::JSET, 0x3), false, (op::JSET, 0x1), Some(false)),
            ((op::JSET, 0x1), true, (op::JSET, 0x3), Some(true)),
            ((op::JSET, 0x3), true, (op::JSET, 0x1), None),
        ];
        for ((fo, fk), fr, (to, tk), want) in cases {
            let f = key(&mut v, fo, fk);
            let t = key(&mut v, to, tk);
            assert_eq!(
                outcome(&v, &t, &[(f, fr)]),
                want,
                "fact {fo:#x} {fk} = {fr}, test {to:#x} {tk}"
            );
        }
        // A different value tells nothing.
        let other = TestKey {
            a: v.intern(Val::Abs(op::H, 14)),
            op: op::JEQ,
            rhs: Operand::K(0x800),
        };
        let f = key(&mut v, op::JEQ, 0x800);
        assert_eq!(outcome(&v, &other, &[(f, true)]), None);
        // Constants decide by themselves.
        let c = TestKey {
            a: v.intern(Val::Const(7)),
            op: op::JGT,
            rhs: Operand::K(5),
        };
        assert_eq!(outcome(&v, &c, &[]), Some(true));
    }

    #[test]
    fn value_numbering_folds_constants_and_shares_loads() {
        let mut v = Values::default();
        let st = State::unknown();
        let (_, a) = step(&mut v, &st, &Insn::stmt(op::LD | op::H | op::ABS, 12));
        let (_, b) = step(&mut v, &st, &Insn::stmt(op::LD | op::H | op::ABS, 12));
        assert_eq!(a, b, "the same load is one value");
        let mut st = State::unknown();
        apply(&mut st, &Dest::A, v.intern(Val::Const(6)));
        let (_, m) = step(&mut v, &st, &Insn::stmt(op::ALU | op::MUL | op::K, 7));
        assert_eq!(v.konst(m), Some(42));
        let (_, z) = step(&mut v, &st, &Insn::stmt(op::ALU | op::DIV | op::K, 0));
        assert_eq!(v.konst(z), None, "division by zero is not folded");
        apply(&mut st, &Dest::X, v.intern(Val::Const(4)));
        let (_, ind) = step(&mut v, &st, &Insn::stmt(op::LD | op::W | op::IND, 10));
        assert_eq!(
            ind,
            v.intern(Val::Abs(op::W, 14)),
            "[x + 10] with x = 4 is [14]"
        );
    }
}
