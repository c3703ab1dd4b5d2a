//! Lays the optimized graph out as a classic BPF program: blocks in
//! topological order, then `ret #snaplen` and `ret #0`. A branch that
//! cannot reach its target in 8 bits goes through a `ja` right after the
//! jump.

use crate::cfg::{Graph, Target};
use crate::optimize::topo_order;
use oxbpf_cbpf::insn::op;
use oxbpf_cbpf::Insn;

/// Builds the program for the graph entered at `root`.
pub fn emit(g: &Graph, root: Target, snaplen: u32) -> Vec<Insn> {
    let ret_accept = Insn::stmt(op::RET | op::K, snaplen);
    let ret_reject = Insn::stmt(op::RET | op::K, 0);
    let order = topo_order(g, root);
    if order.is_empty() {
        return vec![if root == Target::Reject {
            ret_reject
        } else {
            ret_accept
        }];
    }
    let uses = |t: Target| {
        order
            .iter()
            .any(|&b| g.blocks[b].jt == t || g.blocks[b].jf == t)
    };
    let (has_acc, has_rej) = (uses(Target::Accept), uses(Target::Reject));
    // Trampoline flags per block position: (jt via ja, jf via ja).
    let mut far = vec![(false, false); order.len()];
    loop {
        let mut start = Vec::with_capacity(order.len());
        let mut pc = 0usize;
        for (i, &b) in order.iter().enumerate() {
            start.push(pc);
            pc += g.blocks[b].stmts.len() + 1 + far[i].0 as usize + far[i].1 as usize;
        }
        let acc_at = pc;
        let rej_at = pc + has_acc as usize;
        let index_of: std::collections::HashMap<usize, usize> =
            order.iter().enumerate().map(|(i, &b)| (b, i)).collect();
        let addr = |t: Target| match t {
            Target::Block(b) => start[index_of[&b]],
            Target::Accept => acc_at,
            _ => rej_at,
        };
        let mut grew = false;
        for (i, &b) in order.iter().enumerate() {
            let jpc = start[i] + g.blocks[b].stmts.len();
            if !far[i].0 && addr(g.blocks[b].jt) - (jpc + 1) > 255 {
                far[i].0 = true;
                grew = true;
            }
            if !far[i].1 && addr(g.blocks[b].jf) - (jpc + 1) > 255 {
                far[i].1 = true;
                grew = true;
            }
        }
        if grew {
            continue;
        }
        let mut out = Vec::with_capacity(pc + 2);
        for (i, &b) in order.iter().enumerate() {
            let blk = &g.blocks[b];
            out.extend_from_slice(&blk.stmts);
            let jpc = out.len();
            let (ft, ff) = far[i];
            let jt = if ft { 0 } else { addr(blk.jt) - (jpc + 1) };
            let jf = if ff {
                ft as usize
            } else {
                addr(blk.jf) - (jpc + 1)
            };
            out.push(Insn::jump(blk.code, blk.k, jt as u8, jf as u8));
            for (is_far, t) in [(ft, blk.jt), (ff, blk.jf)] {
                if is_far {
                    let here = out.len();
                    out.push(Insn::stmt(op::JMP | op::JA, (addr(t) - (here + 1)) as u32));
                }
            }
        }
        if has_acc {
            out.push(ret_accept);
        }
        if has_rej {
            out.push(ret_reject);
        }
        return out;
    }
}
