//! Translation of a loaded BPF program into x86-64 machine code.
//!
//! Layout: the entry trampoline (offset 0), the body with one run of code per
//! slot, then cold code: function entries other than slot 0, memory-check
//! slow paths and fault stubs.

use oxbpf_isa::{AluOp, AtomicOp, ByteOrder, CallKind, Insn, JmpCond, Operand, Reg, Size, Width};
use oxbpf_vm::Program;

use super::asm::{mem, Alu, Asm, Cond, Label, Shift, Width as W};
use super::regs::{bpf, Gpr, CTX, TMP1, TMP2, TMP3};
use crate::context::{self as cx, Status, FRAME};
use crate::error::JitError;
use crate::plan::{self, Blinder, Compiled, Fixed};
use crate::{KnownMaps, Mode, Options};

/// Out-of-line code gathered while the body is emitted.
enum Cold {
    /// Secondary (stack, cached region) and slow memory checks for an access
    /// at `pc` of `[base + off]`, through the shared routine for its size and kind.
    Check {
        label: Label,
        back: Label,
        lim_index: i32,
        info: u32,
        base: Gpr,
        off: i32,
    },
    /// Record `status` at `pc` and unwind.
    Fault {
        label: Label,
        status: Status,
        pc: usize,
    },
    /// A misaligned atomic: the address is in r11.
    Misaligned { label: Label, pc: usize, len: u64 },
    /// The prologue of a function entered by call, then a jump to its body.
    Entry { label: Label, slot: usize },
}

struct Compiler<'p> {
    a: Asm,
    prog: &'p Program,
    checked: bool,
    /// Back-edges charge the budget.
    budget: bool,
    blind: Option<Blinder>,
    /// Whether some instruction writes r10 (then r10-based accesses are checked too).
    writes_r10: bool,
    slot_labels: Vec<Label>,
    entry_labels: Vec<Option<Label>>,
    cold: Vec<Cold>,
    fault_exit: Label,
    slow_check: Label,
    /// Per access size and kind (`size_index + 4 * write`): the shared routine
    /// that tests the stack and the cached region, then takes the slow path.
    region_checks: [Label; 8],
    /// Maps whose lookups (and updates) are inlined or called directly.
    maps: KnownMaps<'p>,
    /// Slots that start a basic block (jump, call and callback targets).
    leaders: Vec<bool>,
    /// The constant r1 holds here, when an lddw in this block set it.
    r1_const: Option<u64>,
    /// The host registers of r6..r9 that functions save (see `prologue`).
    saved: Vec<Gpr>,
    /// Targets of backward jumps: aligned to 16 bytes, as loop heads.
    loop_heads: Vec<bool>,
}

/// The host registers of r6..r9 that some instruction writes, padded to an
/// even number so that, with rbp and the return address, a prologue keeps the
/// stack 16-byte aligned for host calls.
fn saved_registers(prog: &Program) -> Vec<Gpr> {
    let mut out: Vec<Gpr> = plan::written_callee_saved(prog)
        .into_iter()
        .map(bpf)
        .collect();
    if out.len() % 2 == 1 {
        let order = [Gpr::Rbx, Gpr::R13, Gpr::R14, Gpr::R15];
        if let Some(&pad) = order.iter().find(|r| !out.contains(r)) {
            out.push(pad);
        }
        // Keep the order r6..r9 so that listings read naturally.
        out.sort_by_key(|r| order.iter().position(|x| x == r));
    }
    out
}

fn width_of(size: Size) -> (W, u64, i32) {
    let (len, index) = plan::size_of(size);
    let w = match size {
        Size::B => W::B,
        Size::H => W::H,
        Size::W => W::W,
        Size::DW => W::Q,
    };
    (w, len, index)
}

fn cond_of(c: JmpCond) -> Cond {
    match c {
        JmpCond::Eq => Cond::E,
        JmpCond::Ne => Cond::Ne,
        JmpCond::Set => Cond::Ne,
        JmpCond::Gt => Cond::A,
        JmpCond::Ge => Cond::Ae,
        JmpCond::Lt => Cond::B,
        JmpCond::Le => Cond::Be,
        JmpCond::Sgt => Cond::G,
        JmpCond::Sge => Cond::Ge,
        JmpCond::Slt => Cond::L,
        JmpCond::Sle => Cond::Le,
    }
}

fn alu_of(op: AluOp) -> Option<Alu> {
    Some(match op {
        AluOp::Add => Alu::Add,
        AluOp::Sub => Alu::Sub,
        AluOp::Or => Alu::Or,
        AluOp::And => Alu::And,
        AluOp::Xor => Alu::Xor,
        _ => return None,
    })
}

/// Compiles `prog` for `options`.
pub(crate) fn compile(
    prog: &Program,
    options: &Options,
    fixed: Fixed,
    maps: KnownMaps<'_>,
) -> Result<Compiled, JitError> {
    let len = prog.len();
    if len >= plan::MAX_SLOTS {
        // Slot numbers travel in 24 bits of the memory checks' reports.
        return Err(JitError::TooLarge { bytes: len * 8 });
    }
    let mut a = Asm::with_capacity(len * 24 + 512, len * 2 + 16);
    let slot_labels = (0..len).map(|_| a.label()).collect();
    let fault_exit = a.label();
    let slow_check = a.label();
    let region_checks = [(); 8].map(|()| a.label());
    let mut c = Compiler {
        a,
        prog,
        checked: options.mode == Mode::Checked,
        budget: fixed.budget,
        blind: options.constant_blinding.then(Blinder::new),
        writes_r10: plan::writes_r10(prog),
        slot_labels,
        entry_labels: vec![None; len],
        cold: Vec::with_capacity(len),
        fault_exit,
        slow_check,
        region_checks,
        maps,
        leaders: plan::leaders(prog),
        r1_const: None,
        saved: saved_registers(prog),
        loop_heads: plan::loop_heads(prog),
    };
    // Function entries: slot 0, every local-call target and every code address.
    for slot in plan::function_entries(prog) {
        c.mark_entry(slot);
    }
    c.trampoline();
    let main_label = c.a.label();
    let direct_entry = c.a.pos() as u32;
    c.direct_entry(fixed, main_label);
    let main_entry = c.a.pos();
    c.a.bind(main_label);
    c.prologue();
    let mut slot_offsets = vec![0u32; len];
    let mut slot = 0;
    while slot < len {
        if c.loop_heads[slot] {
            c.a.align(16);
        }
        let label = c.slot_labels[slot];
        c.a.bind(label);
        slot_offsets[slot] = c.a.pos() as u32;
        match prog.insn(slot) {
            Some(insn) => {
                let insn = *insn;
                if c.leaders[slot] {
                    c.r1_const = None;
                }
                c.insn(slot, &insn)?;
                c.r1_const = plan::r1_after(prog, slot, &insn, c.r1_const);
                if insn.slots() == 2 && slot + 1 < len {
                    slot_offsets[slot + 1] = c.a.pos() as u32;
                    slot += 1;
                }
            }
            None => c.a.int3(),
        }
        slot += 1;
    }
    let body_end = c.a.pos() as u32;
    // Falling off the end.
    c.fault_inline(Status::FellOffEnd, len);
    c.emit_cold();
    c.emit_region_checks();
    c.emit_slow_check();
    let mut entries = vec![u32::MAX; len];
    for (slot, l) in c.entry_labels.iter().enumerate() {
        if let Some(l) = l {
            entries[slot] = c.a.offset_of(*l).unwrap_or(u32::MAX as usize) as u32;
        }
    }
    if len > 0 {
        entries[0] = main_entry as u32;
    }
    let code = c.a.finish().map_err(|_| JitError::Unsupported {
        index: 0,
        what: "an unplaced label (internal error)",
    })?;
    if code.len() >= i32::MAX as usize {
        return Err(JitError::TooLarge { bytes: code.len() });
    }
    Ok(Compiled {
        code,
        entries,
        slot_offsets,
        body_end,
        direct_entry,
    })
}

impl Compiler<'_> {
    fn mark_entry(&mut self, slot: usize) {
        if slot == 0 || slot >= self.entry_labels.len() || self.entry_labels[slot].is_some() {
            return;
        }
        let label = self.a.label();
        self.entry_labels[slot] = Some(label);
        self.cold.push(Cold::Entry { label, slot });
    }

    /// The host-side entry: saves callee-saved registers, records the unwind
    /// point, loads r1..r5 and r10, calls the function and returns r0. A fault
    /// anywhere below jumps to `fault_exit`, which is its return path.
    fn trampoline(&mut self) {
        let a = &mut self.a;
        for r in [Gpr::Rbp, Gpr::Rbx, Gpr::R12, Gpr::R13, Gpr::R14, Gpr::R15] {
            a.push(r);
        }
        a.mov_rr(true, CTX, Gpr::Rdi);
        a.push_m(mem(CTX, cx::OFF_SAVED_RSP));
        a.mov_mr(mem(CTX, cx::OFF_SAVED_RSP), Gpr::Rsp);
        a.mov_rm(Gpr::Rbp, mem(CTX, cx::OFF_ENTRY_FP));
        for (i, r) in [Gpr::Rdi, Gpr::Rsi, Gpr::Rdx, Gpr::Rcx, Gpr::R8]
            .into_iter()
            .enumerate()
        {
            a.mov_rm(r, mem(CTX, cx::OFF_ARGS + 8 * i as i32));
        }
        for r in [Gpr::Rax, Gpr::Rbx, Gpr::R13, Gpr::R14, Gpr::R15] {
            a.alu_rr(Alu::Xor, false, r, r);
        }
        a.call_m(mem(CTX, cx::OFF_ENTRY_TARGET));
        let exit = self.fault_exit;
        a.bind(exit);
        a.mov_rm(Gpr::Rsp, mem(CTX, cx::OFF_SAVED_RSP));
        a.pop_m(mem(CTX, cx::OFF_SAVED_RSP));
        for r in [Gpr::R15, Gpr::R14, Gpr::R13, Gpr::R12, Gpr::Rbx, Gpr::Rbp] {
            a.pop(r);
        }
        a.ret();
    }

    /// The direct entry, `fn(r1, r2) -> r0` in the System V convention: like the
    /// trampoline, but with the context and stack addresses built in and r1, r2
    /// already in place, so a call costs no loads from the context.
    fn direct_entry(&mut self, fixed: Fixed, main: Label) {
        if fixed.lean {
            // Slot 0's own prologue, with r10 set to the stack's top instead of
            // moved down a frame: its `exit` then returns straight to the host.
            for r in self.saved.clone() {
                self.a.push(r);
            }
            self.a.push(Gpr::Rbp);
            self.a.movabs(Gpr::Rbp, fixed.stack_top);
            let body = self.slot_labels[0];
            self.a.jmp(body);
            return;
        }
        let a = &mut self.a;
        for r in [Gpr::Rbp, Gpr::Rbx, Gpr::R12, Gpr::R13, Gpr::R14, Gpr::R15] {
            a.push(r);
        }
        a.movabs(CTX, fixed.ctx);
        a.push_m(mem(CTX, cx::OFF_SAVED_RSP));
        a.mov_mr(mem(CTX, cx::OFF_SAVED_RSP), Gpr::Rsp);
        a.movabs(Gpr::Rbp, fixed.stack_top + FRAME);
        // Only unchecked (verified) programs use this entry, and they never read
        // a register before writing it, so r0 and r3..r9 are left as they are.
        a.call(main);
        // The trampoline's return path, inline.
        a.mov_rm(Gpr::Rsp, mem(CTX, cx::OFF_SAVED_RSP));
        a.pop_m(mem(CTX, cx::OFF_SAVED_RSP));
        for r in [Gpr::R15, Gpr::R14, Gpr::R13, Gpr::R12, Gpr::Rbx, Gpr::Rbp] {
            a.pop(r);
        }
        a.ret();
    }

    /// A BPF function's prologue: save r6..r10, give it a fresh 512-byte frame.
    /// Only the registers of r6..r9 that some instruction writes are saved
    /// (one that is never written keeps the caller's value anyway), plus rbx
    /// when needed to keep the stack 16-byte aligned for host calls.
    fn prologue(&mut self) {
        for r in self.saved.clone() {
            self.a.push(r);
        }
        self.a.push(Gpr::Rbp);
        self.a.alu_ri(Alu::Sub, true, Gpr::Rbp, FRAME as i32);
    }

    fn epilogue(&mut self) {
        self.a.pop(Gpr::Rbp);
        for r in self.saved.clone().into_iter().rev() {
            self.a.pop(r);
        }
        self.a.ret();
    }

    /// A label for a cold stub that records `status` at `pc` and unwinds.
    fn fault_label(&mut self, status: Status, pc: usize) -> Label {
        let label = self.a.label();
        self.cold.push(Cold::Fault { label, status, pc });
        label
    }

    fn fault_inline(&mut self, status: Status, pc: usize) {
        let a = &mut self.a;
        a.store_imm(W::W, mem(CTX, cx::OFF_STATUS), status as i32);
        a.store_imm(W::Q, mem(CTX, cx::OFF_FAULT_PC), pc as i32);
        a.jmp(self.fault_exit);
    }

    /// Loads the constant `imm` (sign-extended) into r10 behind a random key,
    /// when constant blinding is on; returns the register holding it.
    fn blinded(&mut self, imm: i32) -> Option<Gpr> {
        let state = self.blind.as_mut()?;
        let key = state.next_key() as i32;
        let a = &mut self.a;
        // mov r10, imm ^ key (sign-extended); xor r10, key (sign-extended).
        a.mov_imm64(TMP2, (imm ^ key) as i64 as u64);
        a.alu_ri(Alu::Xor, true, TMP2, key);
        Some(TMP2)
    }

    fn emit_cold(&mut self) {
        let cold = std::mem::take(&mut self.cold);
        for item in cold {
            match item {
                Cold::Check {
                    label,
                    back,
                    lim_index,
                    info,
                    base,
                    off,
                } => {
                    let shared = self.region_checks[lim_index as usize];
                    let a = &mut self.a;
                    a.bind(label);
                    a.lea(TMP1, mem(base, off));
                    a.mov_ri32(TMP2, info);
                    a.call(shared);
                    a.jmp(back);
                }
                Cold::Fault { label, status, pc } => {
                    self.a.bind(label);
                    self.fault_inline(status, pc);
                }
                Cold::Misaligned { label, pc, len } => {
                    let a = &mut self.a;
                    a.bind(label);
                    a.mov_mr(mem(CTX, cx::OFF_FAULT_ADDR), TMP1);
                    a.store_imm(W::Q, mem(CTX, cx::OFF_FAULT_LEN), len as i32);
                    self.fault_inline(Status::Misaligned, pc);
                }
                Cold::Entry { label, slot } => {
                    self.a.bind(label);
                    self.prologue();
                    let body = self.slot_labels[slot];
                    self.a.jmp(body);
                }
            }
        }
    }

    /// The shared second tier of memory checks, one routine per access size
    /// and kind: r11 = address, r10 = info. Returns when the stack or the
    /// cached region holds the access; otherwise the slow path decides.
    fn emit_region_checks(&mut self) {
        for (k, label) in self.region_checks.into_iter().enumerate() {
            let k = k as i32;
            let a = &mut self.a;
            a.bind(label);
            let ok = a.label();
            for (start, lim) in [
                (cx::OFF_STACK_START, cx::OFF_STACK_LIM),
                (cx::OFF_CACHE_START, cx::OFF_CACHE_LIM),
            ] {
                a.mov_rr(true, TMP3, TMP1);
                a.alu_rm(Alu::Sub, true, TMP3, mem(CTX, start));
                a.alu_rm(Alu::Cmp, true, TMP3, mem(CTX, lim + 8 * k));
                a.jcc(Cond::B, ok);
            }
            a.jmp(self.slow_check);
            a.bind(ok);
            a.ret();
        }
    }

    /// The shared slow path of memory checks: r11 = address, r10 = info.
    /// Preserves every BPF register; unwinds on a fault.
    fn emit_slow_check(&mut self) {
        let a = &mut self.a;
        a.bind(self.slow_check);
        let saved = [
            Gpr::Rax,
            Gpr::Rdi,
            Gpr::Rsi,
            Gpr::Rdx,
            Gpr::Rcx,
            Gpr::R8,
            Gpr::R9,
            Gpr::R11,
        ];
        for r in saved {
            a.push(r);
        }
        a.alu_ri(Alu::Sub, true, Gpr::Rsp, 8);
        a.mov_rr(true, Gpr::Rdi, CTX);
        a.mov_rr(true, Gpr::Rsi, TMP1);
        a.mov_rr(true, Gpr::Rdx, TMP2);
        a.mov_imm64(Gpr::Rax, cx::host_check as *const () as u64);
        a.call_r(Gpr::Rax);
        a.test_rr(false, Gpr::Rax, Gpr::Rax);
        a.jcc(Cond::E, self.fault_exit);
        a.alu_ri(Alu::Add, true, Gpr::Rsp, 8);
        for r in saved.into_iter().rev() {
            a.pop(r);
        }
        a.ret();
    }

    /// Checks that `len` bytes at `[base + off]` may be accessed (`kind`: 0
    /// read, 1 write, 2 atomic); the inline path tests the input memory only.
    fn check(&mut self, base: Gpr, off: i32, len: u64, size_index: i32, kind: u64, pc: usize) {
        let lim_index = plan::lim_index(size_index, kind);
        let label = self.a.label();
        let back = self.a.label();
        let a = &mut self.a;
        a.lea(TMP2, mem(base, off));
        a.alu_rm(Alu::Sub, true, TMP2, mem(CTX, cx::OFF_INPUT_START));
        a.alu_rm(
            Alu::Cmp,
            true,
            TMP2,
            mem(CTX, cx::OFF_INPUT_LIM + 8 * lim_index),
        );
        a.jcc(Cond::Ae, label);
        a.bind(back);
        self.cold.push(Cold::Check {
            label,
            back,
            lim_index,
            info: cx::check_info(len, kind, pc),
            base,
            off,
        });
    }

    /// The memory operand for an access of `len` bytes at `base + off`,
    /// checked first when the mode asks for it.
    fn access(
        &mut self,
        base: Reg,
        off: i16,
        len: u64,
        size_index: i32,
        kind: u64,
        pc: usize,
    ) -> super::asm::Mem {
        let b = bpf(base.num());
        let off = off as i32;
        if !self.checked {
            return mem(b, off);
        }
        if !plan::in_frame(base, off as i16, len, self.writes_r10) {
            self.check(b, off, len, size_index, kind, pc);
        }
        mem(b, off)
    }

    fn insn(&mut self, pc: usize, insn: &Insn) -> Result<(), JitError> {
        match *insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(width == Width::W64, op, bpf(dst.num()), src),
            Insn::Neg { width, dst } => self.a.neg(width == Width::W64, bpf(dst.num())),
            Insn::End { order, bits, dst } => {
                let d = bpf(dst.num());
                let a = &mut self.a;
                match (order, bits) {
                    (ByteOrder::Le, 16) => a.movzx_rr(16, d, d),
                    (ByteOrder::Le, 32) => a.mov_rr(false, d, d),
                    (ByteOrder::Le, _) => {}
                    (_, 16) => {
                        a.ror16_8(d);
                        a.movzx_rr(16, d, d);
                    }
                    (_, 32) => a.bswap(false, d),
                    (_, _) => a.bswap(true, d),
                }
            }
            Insn::Ja { off } => self.jump(pc, off as i64, None),
            Insn::Ja32 { imm } => self.jump(pc, imm as i64, None),
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let w64 = width == Width::W64;
                let d = bpf(dst.num());
                match src {
                    Operand::Reg(s) => {
                        let s = bpf(s.num());
                        if cond == JmpCond::Set {
                            self.a.test_rr(w64, d, s);
                        } else {
                            self.a.alu_rr(Alu::Cmp, w64, d, s);
                        }
                    }
                    Operand::Imm(imm) => match self.blinded(imm) {
                        Some(t) if cond == JmpCond::Set => self.a.test_rr(w64, d, t),
                        Some(t) => self.a.alu_rr(Alu::Cmp, w64, d, t),
                        None if cond == JmpCond::Set => self.a.test_ri(w64, d, imm),
                        None if imm == 0 && matches!(cond, JmpCond::Eq | JmpCond::Ne) => {
                            self.a.test_rr(w64, d, d)
                        }
                        None => self.a.alu_ri(Alu::Cmp, w64, d, imm),
                    },
                }
                self.jump(pc, off as i64, Some(cond_of(cond)));
            }
            Insn::Call { kind, imm } => match kind {
                CallKind::Helper if imm == 1 && self.inline_array(pc) => {}
                CallKind::Helper if (imm == 1 || imm == 2) && self.direct_map_call(pc, imm) => {}
                CallKind::Helper => self.helper_call(pc, None),
                CallKind::Local => {
                    let label = crate::labels::call_target(&self.entry_labels, pc, imm)?;
                    self.local_call(pc, label);
                }
                CallKind::Kfunc => {
                    return Err(JitError::Unsupported {
                        index: pc,
                        what: "a kfunc call",
                    })
                }
            },
            Insn::Callx { reg } => self.helper_call(pc, Some(bpf(reg.num()))),
            Insn::Exit => self.epilogue(),
            Insn::Ldx {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let (w, len, si) = width_of(size);
                let m = self.access(src, off, len, si, plan::READ, pc);
                self.a.load(w, signed, bpf(dst.num()), m);
            }
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => {
                let (w, len, si) = width_of(size);
                let m = self.access(dst, off, len, si, plan::WRITE, pc);
                if self.blind.is_some() {
                    // The address may be in r11; the blinded value goes in r10.
                    let t = self.blinded(imm).unwrap_or(TMP2);
                    self.a.store(w, m, t);
                } else {
                    self.a.store_imm(w, m, imm);
                }
            }
            Insn::Stx {
                size,
                dst,
                off,
                src,
            } => {
                let (w, len, si) = width_of(size);
                let m = self.access(dst, off, len, si, plan::WRITE, pc);
                self.a.store(w, m, bpf(src.num()));
            }
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => self.atomic(pc, size == Size::DW, op, dst, src, off),
            Insn::Lddw { dst, .. } => {
                let v = self.prog.lddw_value(pc).unwrap_or(0);
                let d = bpf(dst.num());
                match self.blind.as_mut() {
                    Some(state) => {
                        let key = state.next_key();
                        self.a.movabs(d, v ^ key);
                        self.a.movabs(TMP2, key);
                        self.a.alu_rr(Alu::Xor, true, d, TMP2);
                    }
                    None => self.a.mov_imm64(d, v),
                }
            }
            Insn::LdAbs { size, imm } => self.packet_load(pc, size, None, imm),
            Insn::LdInd { size, src, imm } => self.packet_load(pc, size, Some(src), imm),
        }
        Ok(())
    }

    fn alu(&mut self, w64: bool, op: AluOp, d: Gpr, src: Operand) {
        match (op, src) {
            (AluOp::Mov, Operand::Imm(imm)) => match self.blinded(imm) {
                Some(t) => self.a.mov_rr(w64, d, t),
                None if w64 => self.a.mov_imm64(d, imm as i64 as u64),
                None => self.a.mov_ri32(d, imm as u32),
            },
            (AluOp::Mov, Operand::Reg(s)) => self.a.mov_rr(w64, d, bpf(s.num())),
            (AluOp::Movsx8 | AluOp::Movsx16 | AluOp::Movsx32, src) => {
                let bits = match op {
                    AluOp::Movsx8 => 8,
                    AluOp::Movsx16 => 16,
                    _ => 32,
                };
                let s = match src {
                    Operand::Reg(s) => bpf(s.num()),
                    // The decoder only produces the register form.
                    Operand::Imm(imm) => {
                        self.a.mov_imm64(TMP1, imm as i64 as u64);
                        TMP1
                    }
                };
                self.a.movsx_rr(w64, bits, d, s);
            }
            (AluOp::Mul, Operand::Imm(imm)) => match self.blinded(imm) {
                Some(t) => self.a.imul_rr(w64, d, t),
                None => self.a.imul_rri(w64, d, d, imm),
            },
            (AluOp::Mul, Operand::Reg(s)) => self.a.imul_rr(w64, d, bpf(s.num())),
            (AluOp::Div | AluOp::Mod | AluOp::Sdiv | AluOp::Smod, src) => {
                match src {
                    Operand::Reg(s) => self.a.mov_rr(true, TMP1, bpf(s.num())),
                    Operand::Imm(imm) => {
                        let v = if w64 {
                            imm as i64 as u64
                        } else {
                            imm as u32 as u64
                        };
                        match self.blinded(imm) {
                            Some(t) => self.a.mov_rr(true, TMP1, t),
                            None => self.a.mov_imm64(TMP1, v),
                        }
                    }
                }
                self.div_mod(w64, op, d);
            }
            (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, src) => {
                let sh = match op {
                    AluOp::Lsh => Shift::Shl,
                    AluOp::Rsh => Shift::Shr,
                    _ => Shift::Sar,
                };
                match src {
                    Operand::Imm(imm) => {
                        let mask = if w64 { 63 } else { 31 };
                        self.a.shift_ri(sh, w64, d, (imm & mask) as u8);
                    }
                    Operand::Reg(s) => self.shift_reg(sh, w64, d, bpf(s.num())),
                }
            }
            (op, Operand::Imm(imm)) => {
                let alu = alu_of(op).unwrap_or(Alu::Add);
                match self.blinded(imm) {
                    Some(t) => self.a.alu_rr(alu, w64, d, t),
                    None => self.a.alu_ri(alu, w64, d, imm),
                }
            }
            (op, Operand::Reg(s)) => {
                let alu = alu_of(op).unwrap_or(Alu::Add);
                self.a.alu_rr(alu, w64, d, bpf(s.num()));
            }
        }
    }

    fn shift_reg(&mut self, sh: Shift, w64: bool, d: Gpr, s: Gpr) {
        let a = &mut self.a;
        if s == Gpr::Rcx {
            a.shift_cl(sh, w64, d);
        } else if d == Gpr::Rcx {
            a.mov_rr(true, TMP1, Gpr::Rcx);
            a.mov_rr(true, Gpr::Rcx, s);
            a.shift_cl(sh, w64, TMP1);
            a.mov_rr(true, Gpr::Rcx, TMP1);
        } else {
            a.mov_rr(true, TMP1, Gpr::Rcx);
            a.mov_rr(true, Gpr::Rcx, s);
            a.shift_cl(sh, w64, d);
            a.mov_rr(true, Gpr::Rcx, TMP1);
        }
    }

    /// `d = d op r11` for div/mod/sdiv/smod, with RFC 9669's results for a
    /// zero divisor and for the signed overflow case (MIN / -1).
    fn div_mod(&mut self, w64: bool, op: AluOp, d: Gpr) {
        let signed = matches!(op, AluOp::Sdiv | AluOp::Smod);
        let is_mod = matches!(op, AluOp::Mod | AluOp::Smod);
        let zero = self.a.label();
        let done = self.a.label();
        let a = &mut self.a;
        a.mov_rr(true, TMP2, Gpr::Rax);
        a.mov_rr(true, TMP3, Gpr::Rdx);
        a.mov_rr(true, Gpr::Rax, d);
        a.test_rr(w64, TMP1, TMP1);
        a.jcc(Cond::E, zero);
        if signed {
            let normal = a.label();
            a.alu_ri(Alu::Cmp, w64, TMP1, -1);
            a.jcc(Cond::Ne, normal);
            if is_mod {
                a.alu_rr(Alu::Xor, false, Gpr::Rax, Gpr::Rax);
            } else {
                a.neg(w64, Gpr::Rax);
            }
            a.jmp(done);
            a.bind(normal);
            a.sign_extend_rax(w64);
        } else {
            a.alu_rr(Alu::Xor, false, Gpr::Rdx, Gpr::Rdx);
        }
        a.div(w64, signed, TMP1);
        if is_mod {
            a.mov_rr(w64, Gpr::Rax, Gpr::Rdx);
        }
        a.jmp(done);
        a.bind(zero);
        if is_mod {
            if !w64 {
                a.mov_rr(false, Gpr::Rax, Gpr::Rax);
            }
        } else {
            a.alu_rr(Alu::Xor, false, Gpr::Rax, Gpr::Rax);
        }
        a.bind(done);
        a.mov_rr(true, TMP1, Gpr::Rax);
        a.mov_rr(true, Gpr::Rax, TMP2);
        a.mov_rr(true, Gpr::Rdx, TMP3);
        a.mov_rr(true, d, TMP1);
    }

    /// A jump by `off` slots from `pc`; `cond` is `None` for an unconditional one.
    /// Back-edges in checked mode first charge the budget.
    fn jump(&mut self, pc: usize, off: i64, cond: Option<Cond>) {
        let target = (pc as i64 + 1 + off) as usize;
        let label = self.slot_labels[target];
        if self.budget && target <= pc {
            // `sub` changes the flags, so a conditional jump re-tests them after.
            let stub = self.fault_label(Status::Budget, pc);
            let cost = (pc - target + 1) as i32;
            if let Some(c) = cond {
                let skip = self.a.label();
                let taken = self.a.label();
                self.a.jcc(c, taken);
                self.a.jmp(skip);
                self.a.bind(taken);
                self.a
                    .alu_mi(Alu::Sub, W::Q, mem(CTX, cx::OFF_BUDGET), cost);
                self.a.jcc(Cond::B, stub);
                self.a.jmp(label);
                self.a.bind(skip);
            } else {
                self.a
                    .alu_mi(Alu::Sub, W::Q, mem(CTX, cx::OFF_BUDGET), cost);
                self.a.jcc(Cond::B, stub);
                self.a.jmp(label);
            }
            return;
        }
        match cond {
            Some(c) => self.a.jcc(c, label),
            None => self.a.jmp(label),
        }
    }

    /// A BPF-to-BPF call (`label`: the callee's entry; `None` for slot 0).
    fn local_call(&mut self, pc: usize, label: Option<Label>) {
        if self.checked {
            let stub = self.fault_label(Status::CallDepth, pc);
            let a = &mut self.a;
            a.alu_mi(
                Alu::Cmp,
                W::W,
                mem(CTX, cx::OFF_DEPTH),
                oxbpf_vm::MAX_FRAMES as i32,
            );
            a.jcc(Cond::Ae, stub);
            a.incdec32_m(true, mem(CTX, cx::OFF_DEPTH));
        }
        match label {
            Some(l) => self.a.call(l),
            None => {
                // Slot 0's entry is the start of the body; its prologue sits just
                // before its label, at the main entry.
                let entry = self.main_entry_label();
                self.a.call(entry);
            }
        }
        if self.checked {
            self.a.incdec32_m(false, mem(CTX, cx::OFF_DEPTH));
        }
    }

    fn main_entry_label(&mut self) -> Label {
        if let Some(l) = self.entry_labels[0] {
            return l;
        }
        let label = self.a.label();
        self.entry_labels[0] = Some(label);
        self.cold.push(Cold::Entry { label, slot: 0 });
        label
    }

    /// `bpf_map_lookup_elem` on an array map whose handle r1 holds as a
    /// constant: the lookup inline, falling back to the helper call when the
    /// key is not on the stack (so errors stay the helper's). Returns false
    /// (emitting nothing) when r1 is not such a constant.
    fn inline_array(&mut self, pc: usize) -> bool {
        let Some(h) = self.r1_const else {
            return false;
        };
        let Some(&map) = self.maps.arrays.iter().find(|m| m.handle == h) else {
            return false;
        };
        let key = Gpr::Rsi; // r2: the key's address
        let slow = self.a.label();
        let null = self.a.label();
        let done = self.a.label();
        if self.checked {
            let a = &mut self.a;
            a.lea(TMP2, mem(key, 0));
            a.alu_rm(Alu::Sub, true, TMP2, mem(CTX, cx::OFF_STACK_START));
            a.alu_rm(Alu::Cmp, true, TMP2, mem(CTX, cx::OFF_STACK_LIM + 8 * 2));
            a.jcc(Cond::Ae, slow);
        }
        let a = &mut self.a;
        a.load(W::W, false, Gpr::Rax, mem(key, 0));
        a.alu_ri(Alu::Cmp, false, Gpr::Rax, map.max_entries as i32);
        a.jcc(Cond::Ae, null);
        if map.stride.is_power_of_two() {
            a.shift_ri(
                Shift::Shl,
                true,
                Gpr::Rax,
                map.stride.trailing_zeros() as u8,
            );
        } else {
            a.imul_rri(true, Gpr::Rax, Gpr::Rax, map.stride as i32);
        }
        a.mov_imm64(TMP1, map.base);
        a.alu_rr(Alu::Add, true, Gpr::Rax, TMP1);
        a.jmp(done);
        a.bind(null);
        a.alu_rr(Alu::Xor, false, Gpr::Rax, Gpr::Rax);
        a.jmp(done);
        a.bind(slow);
        self.helper_call(pc, None);
        self.a.bind(done);
        true
    }

    /// Helper 1 or 2 on a [`crate::DirectMap`] whose handle r1 holds: a direct
    /// call of the map's function, when the key (and the value) lie on the
    /// stack; the helper otherwise. Returns false (emitting nothing) when r1
    /// is not such a constant.
    fn direct_map_call(&mut self, pc: usize, helper: i32) -> bool {
        let Some(h) = self.r1_const else {
            return false;
        };
        let Some(&map) = self.maps.direct.iter().find(|m| m.handle == h) else {
            return false;
        };
        let slow = self.a.label();
        let done = self.a.label();
        if self.checked {
            // Key in r2 (rsi), value in r3 (rdx): each must lie in the stack,
            // whose size is fixed per program, so the bounds are immediates.
            let mut spans = vec![(Gpr::Rsi, map.key_size)];
            if helper == 2 {
                spans.push((Gpr::Rdx, map.value_size));
            }
            for (reg, len) in spans {
                let a = &mut self.a;
                a.lea(TMP2, mem(reg, 0));
                a.alu_rm(Alu::Sub, true, TMP2, mem(CTX, cx::OFF_STACK_START));
                let max = (self.prog.stack_size() as i64 - len as i64).max(-1);
                if max < 0 {
                    a.jmp(slow);
                } else {
                    a.alu_ri(Alu::Cmp, true, TMP2, max as i32);
                    a.jcc(Cond::A, slow);
                }
            }
        }
        let arg_regs = [Gpr::Rdi, Gpr::Rsi, Gpr::Rdx, Gpr::Rcx, Gpr::R8];
        let a = &mut self.a;
        for r in arg_regs {
            a.push(r);
        }
        a.alu_ri(Alu::Sub, true, Gpr::Rsp, 8);
        // r2, r3, r4 are already the key, value and flags arguments.
        a.mov_imm64(Gpr::Rdi, map.data as u64);
        let f = if helper == 1 {
            map.lookup as *const () as u64
        } else {
            map.update as *const () as u64
        };
        a.mov_imm64(TMP1, f);
        a.call_r(TMP1);
        a.alu_ri(Alu::Add, true, Gpr::Rsp, 8);
        for r in arg_regs.into_iter().rev() {
            a.pop(r);
        }
        a.jmp(done);
        a.bind(slow);
        self.helper_call(pc, None);
        self.a.bind(done);
        true
    }

    /// A helper call (`callx`: the register holding the helper id).
    fn helper_call(&mut self, pc: usize, callx: Option<Gpr>) {
        let arg_regs = [Gpr::Rdi, Gpr::Rsi, Gpr::Rdx, Gpr::Rcx, Gpr::R8];
        let a = &mut self.a;
        if let Some(r) = callx {
            a.mov_mr(mem(CTX, cx::OFF_CALLX_VALUE), r);
        }
        // The interpreter leaves r1..r5 intact across calls; so does the JIT, so
        // that every engine gives a program the same results.
        for r in arg_regs {
            a.push(r);
        }
        a.alu_ri(Alu::Sub, true, Gpr::Rsp, 8);
        a.store_imm(W::Q, mem(CTX, cx::OFF_CUR_PC), pc as i32);
        a.mov_mr(mem(CTX, cx::OFF_CUR_FP), Gpr::Rbp);
        a.mov_rr(true, Gpr::R9, CTX);
        let f = if callx.is_some() {
            cx::host_callx as *const () as usize
        } else {
            cx::host_call_helper as *const () as usize
        };
        a.mov_imm64(TMP1, f as u64);
        a.call_r(TMP1);
        a.alu_ri(Alu::Add, true, Gpr::Rsp, 8);
        for r in arg_regs.into_iter().rev() {
            a.pop(r);
        }
        a.alu_mi(Alu::Cmp, W::W, mem(CTX, cx::OFF_STATUS), 0);
        a.jcc(Cond::Ne, self.fault_exit);
    }

    fn atomic(&mut self, pc: usize, w64: bool, op: AtomicOp, dst: Reg, src: Reg, off: i16) {
        let len = if w64 { 8 } else { 4 };
        let m = if self.checked {
            let base = bpf(dst.num());
            self.check(
                base,
                off as i32,
                len,
                if w64 { 3 } else { 2 },
                plan::ATOMIC,
                pc,
            );
            self.a.lea(TMP1, mem(base, off as i32));
            let label = self.a.label();
            self.cold.push(Cold::Misaligned { label, pc, len });
            self.a.test_ri(false, TMP1, len as i32 - 1);
            self.a.jcc(Cond::Ne, label);
            mem(TMP1, 0)
        } else {
            mem(bpf(dst.num()), off as i32)
        };
        let s = bpf(src.num());
        let a = &mut self.a;
        match op {
            AtomicOp::Add { fetch: false } => a.lock_alu_mr(Alu::Add, w64, m, s),
            AtomicOp::Or { fetch: false } => a.lock_alu_mr(Alu::Or, w64, m, s),
            AtomicOp::And { fetch: false } => a.lock_alu_mr(Alu::And, w64, m, s),
            AtomicOp::Xor { fetch: false } => a.lock_alu_mr(Alu::Xor, w64, m, s),
            AtomicOp::Add { fetch: true } => a.lock_xadd(w64, m, s),
            AtomicOp::Xchg => a.xchg_mr(w64, m, s),
            AtomicOp::Cmpxchg => {
                a.lock_cmpxchg(w64, m, s);
                if !w64 {
                    a.mov_rr(false, Gpr::Rax, Gpr::Rax);
                }
            }
            AtomicOp::Or { fetch: true }
            | AtomicOp::And { fetch: true }
            | AtomicOp::Xor { fetch: true } => {
                let alu = match op {
                    AtomicOp::Or { .. } => Alu::Or,
                    AtomicOp::And { .. } => Alu::And,
                    _ => Alu::Xor,
                };
                // rax is cmpxchg's comparand: keep r0 in r10 meanwhile.
                let val = if s == Gpr::Rax { TMP2 } else { s };
                a.mov_rr(true, TMP2, Gpr::Rax);
                a.load(if w64 { W::Q } else { W::W }, false, Gpr::Rax, m);
                let retry = a.label();
                a.bind(retry);
                a.mov_rr(true, TMP3, Gpr::Rax);
                a.alu_rr(alu, w64, TMP3, val);
                a.lock_cmpxchg(w64, m, TMP3);
                a.jcc(Cond::Ne, retry);
                if s != Gpr::Rax {
                    a.mov_rr(w64, s, Gpr::Rax);
                    a.mov_rr(true, Gpr::Rax, TMP2);
                }
            }
        }
    }

    /// Legacy ld_abs/ld_ind, inline: r0 = the big-endian bytes at the offset,
    /// or the run ends with 0 when they lie outside the packet (the run's
    /// first region, so no other check is needed, in either mode).
    fn packet_load(&mut self, pc: usize, size: Size, index: Option<Reg>, imm: i32) {
        let (_, len, _) = width_of(size);
        let len = len.min(4);
        let outside = self.fault_label(Status::ExitZero, pc);
        let a = &mut self.a;
        // r11 = the offset: imm, plus the index register's low 32 bits.
        match index {
            Some(r) => {
                a.mov_rr(false, TMP1, bpf(r.num()));
                a.alu_ri(Alu::Add, true, TMP1, imm);
            }
            None => a.mov_imm64(TMP1, imm as i64 as u64),
        }
        a.test_rr(true, TMP1, TMP1);
        a.jcc(Cond::L, outside);
        a.lea(TMP2, mem(TMP1, len as i32));
        a.alu_rm(Alu::Cmp, true, TMP2, mem(CTX, cx::OFF_PACKET_LEN));
        a.jcc(Cond::A, outside);
        a.alu_rm(Alu::Add, true, TMP1, mem(CTX, cx::OFF_PACKET_START));
        match len {
            1 => a.load(W::B, false, Gpr::Rax, mem(TMP1, 0)),
            2 => {
                a.load(W::H, false, Gpr::Rax, mem(TMP1, 0));
                a.ror16_8(Gpr::Rax);
                a.movzx_rr(16, Gpr::Rax, Gpr::Rax);
            }
            _ => {
                a.load(W::W, false, Gpr::Rax, mem(TMP1, 0));
                a.bswap(false, Gpr::Rax);
            }
        }
    }
}
