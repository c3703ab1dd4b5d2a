//! Code generation: one eBPF program per attach point, with every value kept
//! in registers only briefly and spilled to the stack between steps, so that
//! helper calls cannot clobber it and the verifier can follow it.

mod emit;
mod expr;
mod stmt;

use std::collections::HashMap;

use oxbpf_isa::{JmpCond, Operand, Reg, Size};

use crate::ast::ProbeBlock;
use crate::check::Env;
use crate::error::{Span, TraceError};
use crate::types::{Event, Ty};

use emit::Label;
pub use emit::{Asm, Finished};

/// Kernel helper ids the generated code calls.
pub mod helper {
    pub const MAP_LOOKUP: i32 = 1;
    pub const MAP_UPDATE: i32 = 2;
    pub const MAP_DELETE: i32 = 3;
    pub const KTIME_NS: i32 = 5;
    pub const PRANDOM: i32 = 7;
    pub const CPU: i32 = 8;
    pub const PID_TGID: i32 = 14;
    pub const UID_GID: i32 = 15;
    pub const COMM: i32 = 16;
    pub const PROBE_READ_STR: i32 = 45;
    pub const RINGBUF_OUTPUT: i32 = 130;
}

/// The object map index of the event ring buffer.
pub const RINGBUF_MAP: usize = 0;
/// The object map index of the start time (`elapsed`), a one-entry global.
pub const START_MAP: usize = 1;
/// The object map index of the per-CPU count of events the full ring buffer refused.
pub const LOST_MAP: usize = 2;

/// The generator for one program.
pub struct Gen<'g, 'a> {
    pub(crate) env: &'g mut Env<'a>,
    pub(crate) asm: Asm,
    /// Stack offset of each local.
    pub(crate) locals: HashMap<String, i16>,
    /// The script's events, shared by all programs.
    pub(crate) events: &'g mut Vec<Event>,
    /// (continue, break) targets of the enclosing `while` loops.
    pub(crate) loops: Vec<(Label, Label)>,
    /// Where `return` and a failed predicate go.
    pub(crate) exit: Label,
}

impl<'g, 'a> Gen<'g, 'a> {
    /// Generates the program for one probe of `block`; the block must have been checked in `env`.
    pub fn program(
        env: &'g mut Env<'a>,
        events: &'g mut Vec<Event>,
        block: &ProbeBlock,
    ) -> Result<Asm, TraceError> {
        let mut asm = Asm::new();
        asm.span = block.span;
        let exit = asm.label();
        let mut g = Gen {
            env,
            asm,
            locals: HashMap::new(),
            events,
            loops: Vec::new(),
            exit,
        };
        g.asm.mov(Reg::R6, Reg::R1);
        let mut names: Vec<(String, Ty)> =
            g.env.locals.iter().map(|(k, v)| (k.clone(), *v)).collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, ty) in names {
            let off = g.asm.alloc(ty.size())?;
            g.asm.zero_stack(off, ty.size());
            g.locals.insert(name, off);
        }
        if let Some(p) = &block.predicate {
            g.asm.span = p.span;
            g.int(p)?;
            g.asm.jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), g.exit);
        }
        let ends = g.block(&block.body)?;
        let _ = ends;
        g.asm.span = block.span;
        g.asm.bind(g.exit);
        g.asm.imm(Reg::R0, 0);
        g.asm.push(oxbpf_isa::Insn::Exit);
        Ok(g.asm)
    }

    /// Registers an event (or finds an equal one) and returns its id.
    pub(crate) fn event(&mut self, e: Event) -> usize {
        if let Some(i) = self.events.iter().position(|x| *x == e) {
            return i;
        }
        self.events.push(e);
        self.events.len() - 1
    }

    /// Sends `len` stack bytes at `off` to the ring buffer; counts a refusal in the lost map.
    pub(crate) fn output(&mut self, off: i16, len: usize) -> Result<(), TraceError> {
        let key = self.asm.alloc(8)?;
        let a = &mut self.asm;
        a.map_ref(Reg::R1, RINGBUF_MAP);
        a.stack_addr(Reg::R2, off);
        a.imm(Reg::R3, len as i64);
        a.imm(Reg::R4, 0);
        a.call(helper::RINGBUF_OUTPUT);
        let done = a.label();
        a.jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), done);
        a.store_imm(Size::DW, Reg::R10, key, 0);
        a.map_ref(Reg::R1, LOST_MAP);
        a.stack_addr(Reg::R2, key);
        a.call(helper::MAP_LOOKUP);
        a.jump_if(JmpCond::Eq, Reg::R0, Operand::Imm(0), done);
        a.load(Size::DW, Reg::R1, Reg::R0, 0);
        a.alu(oxbpf_isa::AluOp::Add, Reg::R1, Operand::Imm(1));
        a.store(Size::DW, Reg::R0, 0, Reg::R1);
        a.bind(done);
        Ok(())
    }

    /// Copies `len` bytes (a multiple of 8) from `src + soff` to stack offset `dst`.
    pub(crate) fn copy_words(&mut self, src: Reg, soff: i16, dst: i16, len: usize) {
        let t = if src == Reg::R1 { Reg::R2 } else { Reg::R1 };
        for i in (0..len).step_by(8) {
            self.asm.load(Size::DW, t, src, soff + i as i16);
            self.asm.store(Size::DW, Reg::R10, dst + i as i16, t);
        }
    }

    pub(crate) fn span(&self) -> Span {
        self.asm.span
    }
}
