//! The control-flow graph the code generator builds and the optimizer
//! rewrites: basic blocks of straight-line statements, each ending in one
//! conditional jump to two targets.
//!
//! Every block the code generator makes is self-contained: its jump depends
//! only on the packet and on the block's own statements, never on registers
//! or scratch memory set by an earlier block. That lets the optimizer skip or
//! merge blocks freely; only the last pass removes loads that an earlier
//! block already made.

use oxbpf_cbpf::insn::op;
use oxbpf_cbpf::Insn;

/// Where the kernel's ancillary-data offsets start (`SKF_AD_OFF`, -0x1000).
const SKF_AD_OFF: u32 = 0xffff_f000;

/// Where a jump goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Another block.
    Block(usize),
    /// Accept the packet.
    Accept,
    /// Reject the packet.
    Reject,
    /// Not patched yet (only while building).
    Pending,
}

/// A basic block.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// Straight-line statements (no jumps, no returns).
    pub stmts: Vec<Insn>,
    /// The jump's opcode (JMP class; `K` or `X` source).
    pub code: u16,
    /// The jump's constant.
    pub k: u32,
    /// Where to go when the condition holds.
    pub jt: Target,
    /// Where to go when it fails.
    pub jf: Target,
}

/// A boolean fragment under construction: a constant, or a head block with
/// the list of branches still to patch on each outcome.
#[derive(Clone, Debug)]
pub enum Frag {
    /// Always this value (no code).
    Const(bool),
    /// Code starting at `head`.
    Code {
        /// The first block.
        head: usize,
        /// Branches (block, is-jt) taken when the fragment holds.
        t: Vec<(usize, bool)>,
        /// Branches taken when it fails.
        f: Vec<(usize, bool)>,
    },
}

/// The blocks of one program.
#[derive(Default, Debug)]
pub struct Graph {
    /// All blocks ever made; unreachable ones are ignored.
    pub blocks: Vec<Block>,
}

impl Graph {
    /// A test: run `stmts`, then jump with `code`/`k`. An `and #m; jeq #0`
    /// tail becomes `jset #m` with the outcomes swapped, as libpcap's
    /// peephole does.
    pub fn test(&mut self, mut stmts: Vec<Insn>, code: u16, k: u32) -> Frag {
        let and_k = op::ALU | op::AND | op::K;
        if code == op::JMP | op::JEQ | op::K && k == 0 {
            if let Some(last) = stmts.last().copied() {
                if last.code == and_k && last.k != 0 {
                    stmts.pop();
                    let id = self.push(stmts, op::JMP | op::JSET | op::K, last.k);
                    return Frag::Code {
                        head: id,
                        t: vec![(id, false)],
                        f: vec![(id, true)],
                    };
                }
            }
        }
        let id = self.push(stmts, code, k);
        Frag::Code {
            head: id,
            t: vec![(id, true)],
            f: vec![(id, false)],
        }
    }

    fn push(&mut self, stmts: Vec<Insn>, code: u16, k: u32) -> usize {
        self.blocks.push(Block {
            stmts,
            code,
            k,
            jt: Target::Pending,
            jf: Target::Pending,
        });
        self.blocks.len() - 1
    }

    fn patch(&mut self, exits: &[(usize, bool)], to: Target) {
        for &(b, is_jt) in exits {
            if is_jt {
                self.blocks[b].jt = to;
            } else {
                self.blocks[b].jf = to;
            }
        }
    }

    /// `a and b`, with `a` evaluated first.
    pub fn and(&mut self, a: Frag, b: Frag) -> Frag {
        match (a, b) {
            (Frag::Const(false), _) | (_, Frag::Const(false)) => Frag::Const(false),
            (Frag::Const(true), x) | (x, Frag::Const(true)) => x,
            (
                Frag::Code { head, t, mut f },
                Frag::Code {
                    head: h2,
                    t: t2,
                    f: f2,
                },
            ) => {
                self.patch(&t, Target::Block(h2));
                f.extend(f2);
                Frag::Code { head, t: t2, f }
            }
        }
    }

    /// `a or b`, with `a` evaluated first.
    pub fn or(&mut self, a: Frag, b: Frag) -> Frag {
        match (a, b) {
            (Frag::Const(true), _) | (_, Frag::Const(true)) => Frag::Const(true),
            (Frag::Const(false), x) | (x, Frag::Const(false)) => x,
            (
                Frag::Code { head, mut t, f },
                Frag::Code {
                    head: h2,
                    t: t2,
                    f: f2,
                },
            ) => {
                self.patch(&f, Target::Block(h2));
                t.extend(t2);
                Frag::Code { head, t, f: f2 }
            }
        }
    }

    /// `not a`.
    pub fn not(&mut self, a: Frag) -> Frag {
        match a {
            Frag::Const(v) => Frag::Const(!v),
            Frag::Code { head, t, f } => Frag::Code { head, t: f, f: t },
        }
    }

    /// Sends every branch into a block that loads from an absolute offset
    /// of 0xfffff000 or more straight to reject. Such a load never succeeds
    /// (libpcap rejects the packet there), and the kernel would read the
    /// offset as an ancillary-data request, so the load must not be emitted.
    pub fn drop_impossible_loads(&mut self, root: Target) -> Target {
        let doomed: Vec<bool> = self
            .blocks
            .iter()
            .map(|b| {
                b.stmts.iter().any(|s| {
                    s.code & 0x07 == op::LD && s.code & 0xe0 == op::ABS && s.k >= SKF_AD_OFF
                })
            })
            .collect();
        let fix = |t: Target| match t {
            Target::Block(b) if doomed[b] => Target::Reject,
            other => other,
        };
        for b in &mut self.blocks {
            b.jt = fix(b.jt);
            b.jf = fix(b.jf);
        }
        fix(root)
    }

    /// Patches the fragment's exits to accept/reject and returns the entry.
    pub fn finish(&mut self, frag: Frag) -> Target {
        match frag {
            Frag::Const(true) => Target::Accept,
            Frag::Const(false) => Target::Reject,
            Frag::Code { head, t, f } => {
                self.patch(&t, Target::Accept);
                self.patch(&f, Target::Reject);
                Target::Block(head)
            }
        }
    }
}
