//! Loading: decoding once, validating control flow and resolving helpers into
//! a compact form the interpreter loop runs without further decoding.

use oxbpf_isa::{
    decode_program, AluOp, AtomicOp, ByteOrder, CallKind, Insn, JmpCond, LddwSrc, Operand, Size,
    Width,
};

use crate::error::VmError;
use crate::helpers::{HelperFn, Helpers};

/// Pre-decoded operation kinds: one per (operation, width, operand kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
#[rustfmt::skip]
#[allow(missing_docs)]
pub(crate) enum K {
    Add64I, Add64R, Sub64I, Sub64R, Mul64I, Mul64R, Div64I, Div64R, Sdiv64I, Sdiv64R,
    Mod64I, Mod64R, Smod64I, Smod64R, Or64I, Or64R, And64I, And64R, Xor64I, Xor64R,
    Lsh64I, Lsh64R, Rsh64I, Rsh64R, Arsh64I, Arsh64R, Mov64I, Mov64R,
    Movsx8x64, Movsx16x64, Movsx32x64, Neg64,
    Add32I, Add32R, Sub32I, Sub32R, Mul32I, Mul32R, Div32I, Div32R, Sdiv32I, Sdiv32R,
    Mod32I, Mod32R, Smod32I, Smod32R, Or32I, Or32R, And32I, And32R, Xor32I, Xor32R,
    Lsh32I, Lsh32R, Rsh32I, Rsh32R, Arsh32I, Arsh32R, Mov32I, Mov32R,
    Movsx8x32, Movsx16x32, Neg32,
    Le16, Le32, Le64, Be16, Be32, Be64, Swap16, Swap32, Swap64,
    Ja,
    Jeq64I, Jeq64R, Jgt64I, Jgt64R, Jge64I, Jge64R, Jset64I, Jset64R, Jne64I, Jne64R,
    Jsgt64I, Jsgt64R, Jsge64I, Jsge64R, Jlt64I, Jlt64R, Jle64I, Jle64R, Jslt64I, Jslt64R,
    Jsle64I, Jsle64R,
    Jeq32I, Jeq32R, Jgt32I, Jgt32R, Jge32I, Jge32R, Jset32I, Jset32R, Jne32I, Jne32R,
    Jsgt32I, Jsgt32R, Jsge32I, Jsge32R, Jlt32I, Jlt32R, Jle32I, Jle32R, Jslt32I, Jslt32R,
    Jsle32I, Jsle32R,
    CallHelper, CallLocal, Callx, Exit,
    LdxB, LdxH, LdxW, LdxDW, LdxsB, LdxsH, LdxsW,
    StB, StH, StW, StDW, StxB, StxH, StxW, StxDW,
    Atomic32, Atomic64,
    Lddw, LdAbsB, LdAbsH, LdAbsW, LdIndB, LdIndH, LdIndW,
    /// The second slot of an lddw; never executed (jumps into it are rejected).
    LddwHi,
    /// Placed after the last instruction: reaching it means falling off the end.
    End,
    // Fused pairs (see `fuse`).
    // A conditional jump over one `mov dst, imm`.
    Jeq64IS, Jeq64RS, Jgt64IS, Jgt64RS, Jge64IS, Jge64RS, Jset64IS, Jset64RS,
    Jne64IS, Jne64RS, Jsgt64IS, Jsgt64RS, Jsge64IS, Jsge64RS, Jlt64IS, Jlt64RS,
    Jle64IS, Jle64RS, Jslt64IS, Jslt64RS, Jsle64IS, Jsle64RS, Jeq32IS, Jeq32RS,
    Jgt32IS, Jgt32RS, Jge32IS, Jge32RS, Jset32IS, Jset32RS, Jne32IS, Jne32RS,
    Jsgt32IS, Jsgt32RS, Jsge32IS, Jsge32RS, Jlt32IS, Jlt32RS, Jle32IS, Jle32RS,
    Jslt32IS, Jslt32RS, Jsle32IS, Jsle32RS,
    // `mov dst, imm`, then a conditional jump.
    MovJeq64I, MovJeq64R, MovJgt64I, MovJgt64R, MovJge64I, MovJge64R, MovJset64I, MovJset64R,
    MovJne64I, MovJne64R, MovJsgt64I, MovJsgt64R, MovJsge64I, MovJsge64R, MovJlt64I, MovJlt64R,
    MovJle64I, MovJle64R, MovJslt64I, MovJslt64R, MovJsle64I, MovJsle64R, MovJeq32I, MovJeq32R,
    MovJgt32I, MovJgt32R, MovJge32I, MovJge32R, MovJset32I, MovJset32R, MovJne32I, MovJne32R,
    MovJsgt32I, MovJsgt32R, MovJsge32I, MovJsge32R, MovJlt32I, MovJlt32R, MovJle32I, MovJle32R,
    MovJslt32I, MovJslt32R, MovJsle32I, MovJsle32R,
    // a load, then a conditional jump.
    LdxBJeq64I, LdxBJeq64R, LdxBJne64I, LdxBJne64R, LdxBJgt64I, LdxBJgt64R, LdxBJge64I, LdxBJge64R,
    LdxBJlt64I, LdxBJlt64R, LdxBJle64I, LdxBJle64R, LdxBJeq32I, LdxBJeq32R, LdxBJne32I, LdxBJne32R,
    LdxBJgt32I, LdxBJgt32R, LdxBJge32I, LdxBJge32R, LdxBJlt32I, LdxBJlt32R, LdxBJle32I, LdxBJle32R,
    LdxHJeq64I, LdxHJeq64R, LdxHJne64I, LdxHJne64R, LdxHJeq32I, LdxHJeq32R, LdxHJne32I, LdxHJne32R,
    LdxWJeq64I, LdxWJeq64R, LdxWJne64I, LdxWJne64R, LdxWJgt64I, LdxWJgt64R, LdxWJge64I, LdxWJge64R,
    LdxWJlt64I, LdxWJlt64R, LdxWJle64I, LdxWJle64R, LdxWJeq32I, LdxWJeq32R, LdxWJne32I, LdxWJne32R,
    LdxWJgt32I, LdxWJgt32R, LdxWJge32I, LdxWJge32R, LdxWJlt32I, LdxWJlt32R, LdxWJle32I, LdxWJle32R,
    // `dst += imm`, then a conditional jump on dst.
    Add64IJeq64I, Add64IJeq64R, Add64IJne64I, Add64IJne64R, Add64IJgt64I, Add64IJgt64R,
    Add64IJge64I, Add64IJge64R,
    Add64IJlt64I, Add64IJlt64R, Add64IJle64I, Add64IJle64R, Add64IJsgt64I, Add64IJsgt64R,
    Add64IJslt64I, Add64IJslt64R,
    Add32IJeq32I, Add32IJeq32R, Add32IJne32I, Add32IJne32R, Add32IJgt32I, Add32IJgt32R,
    Add32IJge32I, Add32IJge32R,
    Add32IJlt32I, Add32IJlt32R, Add32IJle32I, Add32IJle32R, Add32IJsgt32I, Add32IJsgt32R,
    Add32IJslt32I, Add32IJslt32R,
    // other pairs.
    MovAdd64R, MovAdd64I, MovSub64R, MovLsh64I, MovRsh64I, MovRsh64R, MovAnd64I, MovAnd32I,
    MovMod32R, MovMul32R, MovMov64R, LdxBLdxB, OrOr64R, LshRsh64IR, MovIMovI, MovIJa,
    AddLdxB, AddLdxH, AddLdxW, AddLdxDW, AddStxB, AddStxH, AddStxW, AddStxDW,
    // Three slots: `d = s; d += z;` then a load or store at `d + off`.
    MovAddLdxB, MovAddLdxH, MovAddLdxW, MovAddLdxDW,
    MovAddStxB, MovAddStxH, MovAddStxW, MovAddStxDW,
}

/// Marks pairs of adjacent slots that the loop runs in one dispatch when it
/// does not trace (and, counting, has the budget for both): the first slot
/// gets a fused kind, and the second keeps its own op, so a jump to it still
/// runs it alone. Reads only the
/// original kinds (it walks forward, changing the slot it has just read).
fn fuse(ops: &mut [Op]) {
    for i in 0..ops.len().saturating_sub(1) {
        let (a, b) = (ops[i], ops[i + 1]);
        if let Some(k) = ops.get(i + 2).and_then(|&c| indexed_access_kind(a, b, c)) {
            ops[i].kind = k;
            continue;
        }
        // A jump over a mov is better run as a conditional move (a branch
        // on data mispredicts) than folded into the op before it.
        let b_skips = ops.get(i + 2).is_some_and(|&c| skips_mov(b, c));
        if let Some(k) = fused_kind(a, b, b_skips) {
            ops[i].kind = k;
        }
    }
}

/// The fused kind for an indexed access, `d = s; d += z` (z is not d) and a
/// load from or store to `d + off` of a register other than `d`: the way
/// clang indexes an array.
fn indexed_access_kind(a: Op, b: Op, c: Op) -> Option<K> {
    use K::*;
    if a.kind != Mov64R || b.kind != Add64R || b.dst != a.dst || b.src == a.dst {
        return None;
    }
    let d = a.dst;
    Some(match c.kind {
        LdxB if c.src == d => MovAddLdxB,
        LdxH if c.src == d => MovAddLdxH,
        LdxW if c.src == d => MovAddLdxW,
        LdxDW if c.src == d => MovAddLdxDW,
        StxB if c.dst == d && c.src != d => MovAddStxB,
        StxH if c.dst == d && c.src != d => MovAddStxH,
        StxW if c.dst == d && c.src != d => MovAddStxW,
        StxDW if c.dst == d && c.src != d => MovAddStxDW,
        _ => return None,
    })
}

/// Whether `o` is a `mov dst, imm` whose slot `imm` is the value it writes.
/// A 32-bit mov zero-extends its immediate: only one that sign-extension
/// leaves unchanged keeps the slot's `imm` right for both widths.
fn mov_imm(o: Op) -> bool {
    o.kind == K::Mov64I || (o.kind == K::Mov32I && o.imm <= i32::MAX as u64)
}

/// Whether `a` is a conditional jump over `b`, a `mov dst, imm`.
fn skips_mov(a: Op, b: Op) -> bool {
    a.off == 1 && mov_imm(b) && skip_mov_kind(a.kind).is_some()
}

/// The fused kind for `a` followed by `b`, if the loop has one.
fn fused_kind(a: Op, b: Op, b_skips: bool) -> Option<K> {
    use K::*;
    // A conditional jump over `mov dst, imm` becomes a conditional move.
    if skips_mov(a, b) {
        return skip_mov_kind(a.kind);
    }
    // The jump's operands must not include the register the first op writes
    // (mov-and-jump), or must be it only on the left (load- and add-and-jump).
    let reads_dst = b.src == a.dst && is_reg_jump(b.kind);
    if b_skips {
        return None;
    }
    if mov_imm(a) {
        // `mov d, imm` then `mov x, imm2` (setting up arguments) or `goto`
        // (leaving with a result).
        if mov_imm(b) {
            return Some(MovIMovI);
        }
        if b.kind == Ja {
            return Some(MovIJa);
        }
        if b.dst != a.dst && !reads_dst {
            return mov_jump_kind(b.kind);
        }
        return None;
    }
    // The handlers below rely on these register relations: an add-and-jump
    // compares the register it incremented; a mov pair's second op writes the
    // mov's dst and reads it at most as its own dst.
    let same_dst = b.dst == a.dst;
    match a.kind {
        LdxB if b.kind == LdxB && b.src != a.dst => return Some(LdxBLdxB),
        LdxB if same_dst && !reads_dst => return ldxb_jump_kind(b.kind),
        LdxH if same_dst && !reads_dst => return ldxh_jump_kind(b.kind),
        LdxW if same_dst && !reads_dst => return ldxw_jump_kind(b.kind),
        Add64I if same_dst && !reads_dst => return add64_jump_kind(b.kind),
        Add32I if same_dst && !reads_dst => return add32_jump_kind(b.kind),
        _ => {}
    }
    let k = match (a.kind, b.kind) {
        (Mov64R, Add64R) if same_dst && b.src != a.dst => MovAdd64R,
        (Mov64R, Sub64R) if same_dst && b.src != a.dst => MovSub64R,
        (Mov64R, Rsh64R) if same_dst && b.src != a.dst => MovRsh64R,
        (Mov64R, Add64I) if same_dst => MovAdd64I,
        (Mov64R, Lsh64I) if same_dst => MovLsh64I,
        (Mov64R, Rsh64I) if same_dst => MovRsh64I,
        (Mov64R, And64I) if same_dst => MovAnd64I,
        (Mov32R, And32I) if same_dst => MovAnd32I,
        (Mov32R, Mod32R) if same_dst && b.src != a.dst => MovMod32R,
        (Mov32R, Mul32R) if same_dst && b.src == a.dst => MovMul32R,
        (Mov64R, Mov64R) if b.src != a.dst => MovMov64R,
        (Or64R, Or64R) if same_dst && a.src != a.dst && b.src != a.dst => OrOr64R,
        // `d <<= k; x >>= d`: a shift by a computed amount.
        (Lsh64I, Rsh64R) if b.src == a.dst && b.dst != a.dst => LshRsh64IR,
        (Add64R, LdxB) if b.src == a.dst => AddLdxB,
        (Add64R, LdxH) if b.src == a.dst => AddLdxH,
        (Add64R, LdxW) if b.src == a.dst => AddLdxW,
        (Add64R, LdxDW) if b.src == a.dst => AddLdxDW,
        (Add64R, StxB) if b.dst == a.dst && b.src != a.dst => AddStxB,
        (Add64R, StxH) if b.dst == a.dst && b.src != a.dst => AddStxH,
        (Add64R, StxW) if b.dst == a.dst && b.src != a.dst => AddStxW,
        (Add64R, StxDW) if b.dst == a.dst && b.src != a.dst => AddStxDW,
        _ => return None,
    };
    Some(k)
}

/// Whether a conditional jump compares with a register (its `src`).
fn is_reg_jump(k: K) -> bool {
    use K::*;
    matches!(
        k,
        Jeq64R
            | Jgt64R
            | Jge64R
            | Jset64R
            | Jne64R
            | Jsgt64R
            | Jsge64R
            | Jlt64R
            | Jle64R
            | Jslt64R
            | Jsle64R
            | Jeq32R
            | Jgt32R
            | Jge32R
            | Jset32R
            | Jne32R
            | Jsgt32R
            | Jsge32R
            | Jlt32R
            | Jle32R
            | Jslt32R
            | Jsle32R
    )
}

/// A conditional jump's variant that also runs the `mov dst, imm` it jumps over.
fn skip_mov_kind(k: K) -> Option<K> {
    use K::*;
    Some(match k {
        Jeq64I => Jeq64IS,
        Jeq64R => Jeq64RS,
        Jgt64I => Jgt64IS,
        Jgt64R => Jgt64RS,
        Jge64I => Jge64IS,
        Jge64R => Jge64RS,
        Jset64I => Jset64IS,
        Jset64R => Jset64RS,
        Jne64I => Jne64IS,
        Jne64R => Jne64RS,
        Jsgt64I => Jsgt64IS,
        Jsgt64R => Jsgt64RS,
        Jsge64I => Jsge64IS,
        Jsge64R => Jsge64RS,
        Jlt64I => Jlt64IS,
        Jlt64R => Jlt64RS,
        Jle64I => Jle64IS,
        Jle64R => Jle64RS,
        Jslt64I => Jslt64IS,
        Jslt64R => Jslt64RS,
        Jsle64I => Jsle64IS,
        Jsle64R => Jsle64RS,
        Jeq32I => Jeq32IS,
        Jeq32R => Jeq32RS,
        Jgt32I => Jgt32IS,
        Jgt32R => Jgt32RS,
        Jge32I => Jge32IS,
        Jge32R => Jge32RS,
        Jset32I => Jset32IS,
        Jset32R => Jset32RS,
        Jne32I => Jne32IS,
        Jne32R => Jne32RS,
        Jsgt32I => Jsgt32IS,
        Jsgt32R => Jsgt32RS,
        Jsge32I => Jsge32IS,
        Jsge32R => Jsge32RS,
        Jlt32I => Jlt32IS,
        Jlt32R => Jlt32RS,
        Jle32I => Jle32IS,
        Jle32R => Jle32RS,
        Jslt32I => Jslt32IS,
        Jslt32R => Jslt32RS,
        Jsle32I => Jsle32IS,
        Jsle32R => Jsle32RS,
        _ => return None,
    })
}

/// The fused `mov dst, imm` + this conditional jump.
fn mov_jump_kind(k: K) -> Option<K> {
    use K::*;
    Some(match k {
        Jeq64I => MovJeq64I,
        Jeq64R => MovJeq64R,
        Jgt64I => MovJgt64I,
        Jgt64R => MovJgt64R,
        Jge64I => MovJge64I,
        Jge64R => MovJge64R,
        Jset64I => MovJset64I,
        Jset64R => MovJset64R,
        Jne64I => MovJne64I,
        Jne64R => MovJne64R,
        Jsgt64I => MovJsgt64I,
        Jsgt64R => MovJsgt64R,
        Jsge64I => MovJsge64I,
        Jsge64R => MovJsge64R,
        Jlt64I => MovJlt64I,
        Jlt64R => MovJlt64R,
        Jle64I => MovJle64I,
        Jle64R => MovJle64R,
        Jslt64I => MovJslt64I,
        Jslt64R => MovJslt64R,
        Jsle64I => MovJsle64I,
        Jsle64R => MovJsle64R,
        Jeq32I => MovJeq32I,
        Jeq32R => MovJeq32R,
        Jgt32I => MovJgt32I,
        Jgt32R => MovJgt32R,
        Jge32I => MovJge32I,
        Jge32R => MovJge32R,
        Jset32I => MovJset32I,
        Jset32R => MovJset32R,
        Jne32I => MovJne32I,
        Jne32R => MovJne32R,
        Jsgt32I => MovJsgt32I,
        Jsgt32R => MovJsgt32R,
        Jsge32I => MovJsge32I,
        Jsge32R => MovJsge32R,
        Jlt32I => MovJlt32I,
        Jlt32R => MovJlt32R,
        Jle32I => MovJle32I,
        Jle32R => MovJle32R,
        Jslt32I => MovJslt32I,
        Jslt32R => MovJslt32R,
        Jsle32I => MovJsle32I,
        Jsle32R => MovJsle32R,
        _ => return None,
    })
}

/// The fused `ldxb` + this conditional jump.
fn ldxb_jump_kind(k: K) -> Option<K> {
    use K::*;
    Some(match k {
        Jeq64I => LdxBJeq64I,
        Jeq64R => LdxBJeq64R,
        Jne64I => LdxBJne64I,
        Jne64R => LdxBJne64R,
        Jgt64I => LdxBJgt64I,
        Jgt64R => LdxBJgt64R,
        Jge64I => LdxBJge64I,
        Jge64R => LdxBJge64R,
        Jlt64I => LdxBJlt64I,
        Jlt64R => LdxBJlt64R,
        Jle64I => LdxBJle64I,
        Jle64R => LdxBJle64R,
        Jeq32I => LdxBJeq32I,
        Jeq32R => LdxBJeq32R,
        Jne32I => LdxBJne32I,
        Jne32R => LdxBJne32R,
        Jgt32I => LdxBJgt32I,
        Jgt32R => LdxBJgt32R,
        Jge32I => LdxBJge32I,
        Jge32R => LdxBJge32R,
        Jlt32I => LdxBJlt32I,
        Jlt32R => LdxBJlt32R,
        Jle32I => LdxBJle32I,
        Jle32R => LdxBJle32R,
        _ => return None,
    })
}

/// The fused `ldxh` + this conditional jump.
fn ldxh_jump_kind(k: K) -> Option<K> {
    use K::*;
    Some(match k {
        Jeq64I => LdxHJeq64I,
        Jeq64R => LdxHJeq64R,
        Jne64I => LdxHJne64I,
        Jne64R => LdxHJne64R,
        Jeq32I => LdxHJeq32I,
        Jeq32R => LdxHJeq32R,
        Jne32I => LdxHJne32I,
        Jne32R => LdxHJne32R,
        _ => return None,
    })
}

/// The fused `ldxw` + this conditional jump.
fn ldxw_jump_kind(k: K) -> Option<K> {
    use K::*;
    Some(match k {
        Jeq64I => LdxWJeq64I,
        Jeq64R => LdxWJeq64R,
        Jne64I => LdxWJne64I,
        Jne64R => LdxWJne64R,
        Jgt64I => LdxWJgt64I,
        Jgt64R => LdxWJgt64R,
        Jge64I => LdxWJge64I,
        Jge64R => LdxWJge64R,
        Jlt64I => LdxWJlt64I,
        Jlt64R => LdxWJlt64R,
        Jle64I => LdxWJle64I,
        Jle64R => LdxWJle64R,
        Jeq32I => LdxWJeq32I,
        Jeq32R => LdxWJeq32R,
        Jne32I => LdxWJne32I,
        Jne32R => LdxWJne32R,
        Jgt32I => LdxWJgt32I,
        Jgt32R => LdxWJgt32R,
        Jge32I => LdxWJge32I,
        Jge32R => LdxWJge32R,
        Jlt32I => LdxWJlt32I,
        Jlt32R => LdxWJlt32R,
        Jle32I => LdxWJle32I,
        Jle32R => LdxWJle32R,
        _ => return None,
    })
}

/// The fused 64-bit `dst += imm` + this conditional jump on dst.
fn add64_jump_kind(k: K) -> Option<K> {
    use K::*;
    Some(match k {
        Jeq64I => Add64IJeq64I,
        Jeq64R => Add64IJeq64R,
        Jne64I => Add64IJne64I,
        Jne64R => Add64IJne64R,
        Jgt64I => Add64IJgt64I,
        Jgt64R => Add64IJgt64R,
        Jge64I => Add64IJge64I,
        Jge64R => Add64IJge64R,
        Jlt64I => Add64IJlt64I,
        Jlt64R => Add64IJlt64R,
        Jle64I => Add64IJle64I,
        Jle64R => Add64IJle64R,
        Jsgt64I => Add64IJsgt64I,
        Jsgt64R => Add64IJsgt64R,
        Jslt64I => Add64IJslt64I,
        Jslt64R => Add64IJslt64R,
        _ => return None,
    })
}

/// The fused 32-bit `dst += imm` + this conditional jump on dst.
fn add32_jump_kind(k: K) -> Option<K> {
    use K::*;
    Some(match k {
        Jeq32I => Add32IJeq32I,
        Jeq32R => Add32IJeq32R,
        Jne32I => Add32IJne32I,
        Jne32R => Add32IJne32R,
        Jgt32I => Add32IJgt32I,
        Jgt32R => Add32IJgt32R,
        Jge32I => Add32IJge32I,
        Jge32R => Add32IJge32R,
        Jlt32I => Add32IJlt32I,
        Jlt32R => Add32IJlt32R,
        Jle32I => Add32IJle32I,
        Jle32R => Add32IJle32R,
        Jsgt32I => Add32IJsgt32I,
        Jsgt32R => Add32IJsgt32R,
        Jslt32I => Add32IJslt32I,
        Jslt32R => Add32IJslt32R,
        _ => return None,
    })
}

/// One pre-decoded slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    pub kind: K,
    pub dst: u8,
    pub src: u8,
    /// Memory offset, or jump/call displacement in slots.
    pub off: i32,
    /// Immediate, sign-extended to 64 bits; lddw's full value; a helper's table index.
    pub imm: u64,
}

/// A validated, pre-decoded program.
#[derive(Clone)]
pub struct Program {
    pub(crate) ops: Vec<Op>,
    /// The decoded instruction at each slot (`None` for lddw second halves), for tracing.
    pub(crate) insns: Vec<Option<Insn>>,
    /// Helpers called by immediate id, indexed by `Op::imm` of `CallHelper`.
    pub(crate) helper_table: Vec<(u32, HelperFn)>,
    /// All registered helpers, for `callx`.
    pub(crate) helpers: Helpers,
    /// Bytes of stack the program's runs get (see [`Program::stack_size`]).
    pub(crate) stack_size: usize,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("slots", &self.insns.len())
            .field("helpers", &self.helpers)
            .finish()
    }
}

fn alu_kind(width: Width, op: AluOp, reg: bool) -> K {
    use K::*;
    let (i, r) = match (width, op) {
        (Width::W64, AluOp::Add) => (Add64I, Add64R),
        (Width::W64, AluOp::Sub) => (Sub64I, Sub64R),
        (Width::W64, AluOp::Mul) => (Mul64I, Mul64R),
        (Width::W64, AluOp::Div) => (Div64I, Div64R),
        (Width::W64, AluOp::Sdiv) => (Sdiv64I, Sdiv64R),
        (Width::W64, AluOp::Mod) => (Mod64I, Mod64R),
        (Width::W64, AluOp::Smod) => (Smod64I, Smod64R),
        (Width::W64, AluOp::Or) => (Or64I, Or64R),
        (Width::W64, AluOp::And) => (And64I, And64R),
        (Width::W64, AluOp::Xor) => (Xor64I, Xor64R),
        (Width::W64, AluOp::Lsh) => (Lsh64I, Lsh64R),
        (Width::W64, AluOp::Rsh) => (Rsh64I, Rsh64R),
        (Width::W64, AluOp::Arsh) => (Arsh64I, Arsh64R),
        (Width::W64, AluOp::Mov) => (Mov64I, Mov64R),
        (Width::W64, AluOp::Movsx8) => (Movsx8x64, Movsx8x64),
        (Width::W64, AluOp::Movsx16) => (Movsx16x64, Movsx16x64),
        (Width::W64, AluOp::Movsx32) => (Movsx32x64, Movsx32x64),
        (Width::W32, AluOp::Add) => (Add32I, Add32R),
        (Width::W32, AluOp::Sub) => (Sub32I, Sub32R),
        (Width::W32, AluOp::Mul) => (Mul32I, Mul32R),
        (Width::W32, AluOp::Div) => (Div32I, Div32R),
        (Width::W32, AluOp::Sdiv) => (Sdiv32I, Sdiv32R),
        (Width::W32, AluOp::Mod) => (Mod32I, Mod32R),
        (Width::W32, AluOp::Smod) => (Smod32I, Smod32R),
        (Width::W32, AluOp::Or) => (Or32I, Or32R),
        (Width::W32, AluOp::And) => (And32I, And32R),
        (Width::W32, AluOp::Xor) => (Xor32I, Xor32R),
        (Width::W32, AluOp::Lsh) => (Lsh32I, Lsh32R),
        (Width::W32, AluOp::Rsh) => (Rsh32I, Rsh32R),
        (Width::W32, AluOp::Arsh) => (Arsh32I, Arsh32R),
        (Width::W32, AluOp::Mov) => (Mov32I, Mov32R),
        (Width::W32, AluOp::Movsx8) => (Movsx8x32, Movsx8x32),
        // The decoder rejects a 32-bit movsx32; treat as movsx16 never happens.
        (Width::W32, AluOp::Movsx16 | AluOp::Movsx32) => (Movsx16x32, Movsx16x32),
    };
    if reg {
        r
    } else {
        i
    }
}

fn jmp_kind(width: Width, cond: JmpCond, reg: bool) -> K {
    use K::*;
    let (i, r) = match (width, cond) {
        (Width::W64, JmpCond::Eq) => (Jeq64I, Jeq64R),
        (Width::W64, JmpCond::Gt) => (Jgt64I, Jgt64R),
        (Width::W64, JmpCond::Ge) => (Jge64I, Jge64R),
        (Width::W64, JmpCond::Set) => (Jset64I, Jset64R),
        (Width::W64, JmpCond::Ne) => (Jne64I, Jne64R),
        (Width::W64, JmpCond::Sgt) => (Jsgt64I, Jsgt64R),
        (Width::W64, JmpCond::Sge) => (Jsge64I, Jsge64R),
        (Width::W64, JmpCond::Lt) => (Jlt64I, Jlt64R),
        (Width::W64, JmpCond::Le) => (Jle64I, Jle64R),
        (Width::W64, JmpCond::Slt) => (Jslt64I, Jslt64R),
        (Width::W64, JmpCond::Sle) => (Jsle64I, Jsle64R),
        (Width::W32, JmpCond::Eq) => (Jeq32I, Jeq32R),
        (Width::W32, JmpCond::Gt) => (Jgt32I, Jgt32R),
        (Width::W32, JmpCond::Ge) => (Jge32I, Jge32R),
        (Width::W32, JmpCond::Set) => (Jset32I, Jset32R),
        (Width::W32, JmpCond::Ne) => (Jne32I, Jne32R),
        (Width::W32, JmpCond::Sgt) => (Jsgt32I, Jsgt32R),
        (Width::W32, JmpCond::Sge) => (Jsge32I, Jsge32R),
        (Width::W32, JmpCond::Lt) => (Jlt32I, Jlt32R),
        (Width::W32, JmpCond::Le) => (Jle32I, Jle32R),
        (Width::W32, JmpCond::Slt) => (Jslt32I, Jslt32R),
        (Width::W32, JmpCond::Sle) => (Jsle32I, Jsle32R),
    };
    if reg {
        r
    } else {
        i
    }
}

fn op(kind: K, dst: u8, src: u8, off: i32, imm: u64) -> Op {
    Op {
        kind,
        dst,
        src,
        off,
        imm,
    }
}

fn operand(src: Operand) -> (bool, u8, u64) {
    match src {
        Operand::Reg(r) => (true, r.num(), 0),
        Operand::Imm(i) => (false, 0, i as i64 as u64),
    }
}

impl Program {
    /// Decodes and validates `bytecode`, resolving helper calls against `helpers`.
    pub fn new(bytecode: &[u8], helpers: &Helpers) -> Result<Program, VmError> {
        Program::with_resolver(bytecode, helpers, &|_, _| None)
    }

    /// Like [`Program::new`]; `resolve` gives the 64-bit value to load for each
    /// `lddw` pseudo form other than a plain immediate (a map handle, the address
    /// of a map value), or `None` when it cannot.
    pub fn with_resolver(
        bytecode: &[u8],
        helpers: &Helpers,
        resolve: &dyn Fn(LddwSrc, u64) -> Option<u64>,
    ) -> Result<Program, VmError> {
        let decoded = decode_program(bytecode)?;
        if decoded.is_empty() {
            return Err(VmError::EmptyProgram);
        }
        let len = bytecode.len() / 8;
        let mut insns: Vec<Option<Insn>> = vec![None; len];
        for &(slot, insn) in &decoded {
            insns[slot] = Some(insn);
        }
        let mut ops = Vec::with_capacity(len + 1);
        let mut helper_table: Vec<(u32, HelperFn)> = Vec::new();
        let check_target = |index: usize, rel: i64| -> Result<(), VmError> {
            let target = index as i64 + 1 + rel;
            if target < 0 || target >= len as i64 {
                return Err(VmError::JumpOutOfRange { index, target, len });
            }
            if insns[target as usize].is_none() {
                return Err(VmError::JumpIntoLddw {
                    index,
                    target: target as usize,
                });
            }
            Ok(())
        };
        for &(index, insn) in &decoded {
            let o = match insn {
                Insn::Alu {
                    width,
                    op: aop,
                    dst,
                    src,
                } => {
                    let (reg, s, imm) = operand(src);
                    op(alu_kind(width, aop, reg), dst.num(), s, 0, imm)
                }
                Insn::Neg { width, dst } => {
                    let k = if width == Width::W64 {
                        K::Neg64
                    } else {
                        K::Neg32
                    };
                    op(k, dst.num(), 0, 0, 0)
                }
                Insn::End { order, bits, dst } => {
                    let k = match (order, bits) {
                        (ByteOrder::Le, 16) => K::Le16,
                        (ByteOrder::Le, 32) => K::Le32,
                        (ByteOrder::Le, _) => K::Le64,
                        (ByteOrder::Be, 16) => K::Be16,
                        (ByteOrder::Be, 32) => K::Be32,
                        (ByteOrder::Be, _) => K::Be64,
                        (ByteOrder::Swap, 16) => K::Swap16,
                        (ByteOrder::Swap, 32) => K::Swap32,
                        (ByteOrder::Swap, _) => K::Swap64,
                    };
                    op(k, dst.num(), 0, 0, 0)
                }
                Insn::Ja { off } => {
                    check_target(index, off as i64)?;
                    op(K::Ja, 0, 0, off as i32, 0)
                }
                Insn::Ja32 { imm } => {
                    check_target(index, imm as i64)?;
                    op(K::Ja, 0, 0, imm, 0)
                }
                Insn::Jmp {
                    width,
                    cond,
                    dst,
                    src,
                    off,
                } => {
                    check_target(index, off as i64)?;
                    let (reg, s, imm) = operand(src);
                    op(jmp_kind(width, cond, reg), dst.num(), s, off as i32, imm)
                }
                Insn::Call {
                    kind: CallKind::Helper,
                    imm,
                } => {
                    let id = imm as u32;
                    let f = helpers
                        .get(id)
                        .ok_or(VmError::UnknownHelper { index, id: imm })?;
                    let slot = match helper_table.iter().position(|(i, _)| *i == id) {
                        Some(s) => s,
                        None => {
                            helper_table.push((id, f.clone()));
                            helper_table.len() - 1
                        }
                    };
                    op(K::CallHelper, 0, 0, 0, slot as u64)
                }
                Insn::Call {
                    kind: CallKind::Local,
                    imm,
                } => {
                    check_target(index, imm as i64)?;
                    op(K::CallLocal, 0, 0, imm, 0)
                }
                Insn::Call {
                    kind: CallKind::Kfunc,
                    ..
                } => {
                    return Err(VmError::Unsupported {
                        index,
                        what: "a kfunc call",
                    })
                }
                Insn::Callx { reg } => op(K::Callx, reg.num(), 0, 0, 0),
                Insn::Exit => op(K::Exit, 0, 0, 0, 0),
                Insn::Ldx {
                    size,
                    signed,
                    dst,
                    src,
                    off,
                } => {
                    let k = match (size, signed) {
                        (Size::B, false) => K::LdxB,
                        (Size::H, false) => K::LdxH,
                        (Size::W, false) => K::LdxW,
                        (Size::DW, _) => K::LdxDW,
                        (Size::B, true) => K::LdxsB,
                        (Size::H, true) => K::LdxsH,
                        (Size::W, true) => K::LdxsW,
                    };
                    op(k, dst.num(), src.num(), off as i32, 0)
                }
                Insn::St {
                    size,
                    dst,
                    off,
                    imm,
                } => {
                    let k = [K::StB, K::StH, K::StW, K::StDW][size_index(size)];
                    op(k, dst.num(), 0, off as i32, imm as i64 as u64)
                }
                Insn::Stx {
                    size,
                    dst,
                    off,
                    src,
                } => {
                    let k = [K::StxB, K::StxH, K::StxW, K::StxDW][size_index(size)];
                    op(k, dst.num(), src.num(), off as i32, 0)
                }
                Insn::Atomic {
                    size,
                    op: aop,
                    dst,
                    src,
                    off,
                } => {
                    let k = if size == Size::DW {
                        K::Atomic64
                    } else {
                        K::Atomic32
                    };
                    op(k, dst.num(), src.num(), off as i32, aop.imm() as u32 as u64)
                }
                Insn::Lddw { dst, src, imm } => {
                    match src {
                        LddwSrc::Imm64 => op(K::Lddw, dst.num(), 0, 0, imm),
                        LddwSrc::CodeAddr => {
                            let rel = imm as u32 as i32 as i64;
                            check_target(index, rel)?;
                            let target = (index as i64 + 1 + rel) as u64;
                            op(
                                K::Lddw,
                                dst.num(),
                                0,
                                0,
                                crate::interpreter::CODE_BASE + target,
                            )
                        }
                        other => match resolve(other, imm) {
                            Some(v) => op(K::Lddw, dst.num(), 0, 0, v),
                            None => return Err(VmError::Unsupported {
                                index,
                                what:
                                    "an lddw of a map, variable or code address (relocate it first)",
                            }),
                        },
                    }
                }
                Insn::LdAbs { size, imm } => {
                    let k = [K::LdAbsB, K::LdAbsH, K::LdAbsW, K::LdAbsW][size_index(size)];
                    op(k, 0, 0, 0, imm as i64 as u64)
                }
                Insn::LdInd { size, src, imm } => {
                    let k = [K::LdIndB, K::LdIndH, K::LdIndW, K::LdIndW][size_index(size)];
                    op(k, 0, src.num(), 0, imm as i64 as u64)
                }
            };
            ops.push(o);
            if insn.slots() == 2 {
                ops.push(op(K::LddwHi, 0, 0, 0, 0));
            }
        }
        ops.push(op(K::End, 0, 0, 0, 0));
        fuse(&mut ops);
        // Only calls and callbacks take frames below the first.
        let calls = decoded.iter().any(|(_, i)| {
            matches!(
                i,
                Insn::Call {
                    kind: CallKind::Local,
                    ..
                } | Insn::Lddw {
                    src: LddwSrc::CodeAddr,
                    ..
                }
            )
        });
        let stack_size = if calls {
            crate::interpreter::STACK_SIZE
        } else {
            crate::interpreter::STACK_FRAME
        };
        Ok(Program {
            ops,
            insns,
            helper_table,
            helpers: helpers.clone(),
            stack_size,
        })
    }

    /// Bytes of stack each run gets, ending at r10: one 512-byte frame, or all
    /// eight when the program makes BPF-to-BPF calls or passes callbacks.
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// Number of 8-byte slots.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Whether the program has no slots (never true for a loaded program).
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// The 64-bit value an `lddw` at `slot` loads, after resolving pseudo forms
    /// (code addresses are [`crate::CODE_BASE`] plus the target slot).
    pub fn lddw_value(&self, slot: usize) -> Option<u64> {
        let op = self.ops.get(slot)?;
        (op.kind == K::Lddw).then_some(op.imm)
    }

    /// The helper a `call` at `slot` resolves to: its id and function.
    pub fn helper_at(&self, slot: usize) -> Option<(u32, &HelperFn)> {
        let op = self.ops.get(slot)?;
        if op.kind != K::CallHelper {
            return None;
        }
        self.helper_table
            .get(op.imm as usize)
            .map(|(id, f)| (*id, f))
    }

    /// Every registered helper (what `callx` may reach).
    pub fn helpers(&self) -> &Helpers {
        &self.helpers
    }

    /// The instruction starting at `slot`, if one starts there.
    pub fn insn(&self, slot: usize) -> Option<&Insn> {
        self.insns.get(slot).and_then(|i| i.as_ref())
    }
}

fn size_index(size: Size) -> usize {
    match size {
        Size::B => 0,
        Size::H => 1,
        Size::W => 2,
        Size::DW => 3,
    }
}

/// The atomic operation encoded in an `Atomic32`/`Atomic64` op's immediate.
pub(crate) fn atomic_op(imm: u64) -> AtomicOp {
    AtomicOp::from_imm(imm as i32).unwrap_or(AtomicOp::Add { fetch: false })
}
