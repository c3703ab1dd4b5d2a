//! Translation of a loaded BPF program into AArch64 machine code.
//!
//! The layout and the protocol with the host are those of the x86-64 back
//! end (see `crate::x86::compile`): the entry trampoline at offset 0, then
//! the direct entry, the body with one run of code per slot, then cold code
//! (function entries other than slot 0, memory-check slow paths and fault
//! stubs). What the two decide alike lives in `crate::plan`.

use oxbpf_isa::{AluOp, AtomicOp, ByteOrder, CallKind, Insn, JmpCond, Operand, Reg, Size, Width};
use oxbpf_vm::Program;

use super::asm::{Alu, Asm, AsmError, Cond, Label, Lse, Op2, Width as W};
use super::regs::{bpf, Xreg, CTX, FP, IMM, KEY, LR, OFF, SP, TMP1, TMP2, TMP3, TMP4, XZR};
use crate::context::{self as cx, Status, FRAME};
use crate::error::JitError;
use crate::plan::{self, Blinder, Compiled, Fixed};
use crate::{KnownMaps, Mode, Options};

mod calls;

/// Out-of-line code gathered while the body is emitted.
enum Cold {
    /// The second tier and slow path of the memory check of an access at
    /// `[base + off]`, through the shared routine for its size and kind.
    Check {
        label: Label,
        back: Label,
        lim_index: i32,
        info: u32,
        base: Xreg,
        off: i32,
    },
    /// Record `status` at `pc` and unwind.
    Fault {
        label: Label,
        status: Status,
        pc: usize,
    },
    /// A misaligned atomic: the address is in x10.
    Misaligned { label: Label, pc: usize, len: u64 },
    /// The prologue of a function entered by call, then a branch to its body.
    Entry { label: Label, slot: usize },
}

struct Compiler<'p> {
    a: Asm,
    prog: &'p Program,
    checked: bool,
    budget: bool,
    blind: Option<Blinder>,
    /// Use the LSE atomics (else LL/SC loops).
    lse: bool,
    writes_r10: bool,
    slot_labels: Vec<Label>,
    entry_labels: Vec<Option<Label>>,
    cold: Vec<Cold>,
    fault_exit: Label,
    slow_check: Label,
    region_checks: [Label; 8],
    /// The host registers of r6..r9 that functions save, in pairs.
    saved: Vec<Xreg>,
    /// Maps whose lookups (and updates) are inlined or called directly.
    maps: KnownMaps<'p>,
    /// Slots that start a basic block (jump, call and callback targets).
    leaders: Vec<bool>,
    /// The constant r1 holds here, when an lddw in this block set it.
    r1_const: Option<u64>,
}

/// The host's callee-saved registers that the entries save, in pairs.
const HOST_SAVED: [(Xreg, Xreg); 5] = [
    (Xreg(19), Xreg(20)),
    (Xreg(21), Xreg(22)),
    (Xreg(23), Xreg(24)),
    (Xreg(25), Xreg(26)),
    (Xreg(27), Xreg(28)),
];

fn width_of(size: Size) -> (W, u64, i32) {
    let (len, index) = plan::size_of(size);
    let w = match size {
        Size::B => W::B,
        Size::H => W::H,
        Size::W => W::W,
        Size::DW => W::X,
    };
    (w, len, index)
}

fn cond_of(c: JmpCond) -> Cond {
    match c {
        JmpCond::Eq => Cond::Eq,
        JmpCond::Ne | JmpCond::Set => Cond::Ne,
        JmpCond::Gt => Cond::Hi,
        JmpCond::Ge => Cond::Hs,
        JmpCond::Lt => Cond::Lo,
        JmpCond::Le => Cond::Ls,
        JmpCond::Sgt => Cond::Gt,
        JmpCond::Sge => Cond::Ge,
        JmpCond::Slt => Cond::Lt,
        JmpCond::Sle => Cond::Le,
    }
}

/// Whether this CPU has the LSE atomics (FEAT_LSE); false elsewhere.
pub(crate) fn host_has_lse() -> bool {
    #[cfg(all(target_arch = "aarch64", target_os = "linux"))]
    {
        const HWCAP_ATOMICS: libc::c_ulong = 1 << 8;
        // SAFETY: getauxval has no preconditions.
        unsafe { libc::getauxval(libc::AT_HWCAP) & HWCAP_ATOMICS != 0 }
    }
    #[cfg(not(all(target_arch = "aarch64", target_os = "linux")))]
    false
}

/// Compiles `prog` for `options`; `lse`: use the LSE atomics.
pub(crate) fn compile(
    prog: &Program,
    options: &Options,
    fixed: Fixed,
    maps: KnownMaps<'_>,
    lse: bool,
) -> Result<Compiled, JitError> {
    let len = prog.len();
    if len >= plan::MAX_SLOTS {
        return Err(JitError::TooLarge { bytes: len * 8 });
    }
    let mut a = Asm::with_capacity(len * 32 + 512, len * 2 + 16);
    let slot_labels = (0..len).map(|_| a.label()).collect();
    let fault_exit = a.label();
    let slow_check = a.label();
    let region_checks = [(); 8].map(|()| a.label());
    let mut saved: Vec<Xreg> = plan::written_callee_saved(prog)
        .into_iter()
        .map(bpf)
        .collect();
    if saved.len() % 2 == 1 {
        saved.push(XZR);
    }
    let mut c = Compiler {
        a,
        prog,
        checked: options.mode == Mode::Checked,
        budget: fixed.budget,
        blind: options.constant_blinding.then(Blinder::new),
        lse,
        writes_r10: plan::writes_r10(prog),
        slot_labels,
        entry_labels: vec![None; len],
        cold: Vec::with_capacity(len),
        fault_exit,
        slow_check,
        region_checks,
        saved,
        maps,
        leaders: plan::leaders(prog),
        r1_const: None,
    };
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
            None => c.a.brk(),
        }
        slot += 1;
    }
    let body_end = c.a.pos() as u32;
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
    let code = c.a.finish().map_err(|e| match e {
        AsmError::OutOfRange => JitError::TooLarge { bytes: len * 32 },
        AsmError::Unplaced(_) => JitError::Unsupported {
            index: 0,
            what: "an unplaced label (internal error)",
        },
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

    /// `ldr`/`str` of a context field (`w64`: 8 bytes, else 4).
    fn ctx_field(&mut self, load: bool, w64: bool, rt: Xreg, off: i32) {
        let w = if w64 { W::X } else { W::W };
        let ok = self.a.ldst_imm(w, load as u32, rt, CTX, off);
        debug_assert!(ok, "context offsets are small and aligned");
    }

    /// Saves the host's callee-saved registers and the unwind point.
    fn host_enter(&mut self) {
        let a = &mut self.a;
        a.push_pair(FP, LR);
        a.mov_sp(FP, SP);
        for (x, y) in HOST_SAVED {
            a.push_pair(x, y);
        }
    }

    /// Records the unwind point (after `CTX` is set): the previous one is
    /// kept on the stack, for callbacks that re-enter.
    fn set_unwind_point(&mut self) {
        self.ctx_field(true, true, IMM, cx::OFF_SAVED_RSP);
        self.a.push_pair(IMM, XZR);
        self.a.mov_sp(IMM, SP);
        self.ctx_field(false, true, IMM, cx::OFF_SAVED_RSP);
    }

    /// The host-side entry, `fn(*mut JitContext) -> u64`: saves callee-saved
    /// registers, records the unwind point, loads r1..r5 and r10, calls the
    /// function and returns r0. A fault anywhere below branches to
    /// `fault_exit`, which is its return path.
    fn trampoline(&mut self) {
        self.host_enter();
        self.a.mov(true, CTX, Xreg(0));
        self.set_unwind_point();
        self.ctx_field(true, true, bpf(10), cx::OFF_ENTRY_FP);
        for i in 1..=5u8 {
            self.ctx_field(true, true, bpf(i), cx::OFF_ARGS + 8 * (i as i32 - 1));
        }
        for r in [0u8, 6, 7, 8, 9] {
            self.a.mov(true, bpf(r), XZR);
        }
        self.ctx_field(true, true, IMM, cx::OFF_ENTRY_TARGET);
        self.a.blr(IMM);
        let exit = self.fault_exit;
        let a = &mut self.a;
        a.bind(exit);
        // mov sp, [saved_rsp]; restore the previous unwind point.
        let ok = a.ldst_imm(W::X, 1, IMM, CTX, cx::OFF_SAVED_RSP);
        debug_assert!(ok);
        a.mov_sp(SP, IMM);
        a.pop_pair(IMM, XZR);
        let ok = a.ldst_imm(W::X, 0, IMM, CTX, cx::OFF_SAVED_RSP);
        debug_assert!(ok);
        for (x, y) in HOST_SAVED.into_iter().rev() {
            a.pop_pair(x, y);
        }
        a.pop_pair(FP, LR);
        a.mov(true, Xreg(0), bpf(0));
        a.ret();
    }

    /// The direct entry, `fn(r1, r2) -> r0`: like the trampoline, with the
    /// context and stack addresses built in and r1, r2 already in x0, x1.
    /// It always sets up the context and the unwind point (`fixed.lean` is
    /// not used): r0 lives in x7, so even a lean program's `exit` could not
    /// return straight to the host.
    fn direct_entry(&mut self, fixed: Fixed, main: Label) {
        self.host_enter();
        self.a.mov_imm(true, CTX, fixed.ctx);
        self.set_unwind_point();
        self.a.mov_imm(true, bpf(10), fixed.stack_top + FRAME);
        // Only unchecked (verified) programs use this entry, and they never
        // read a register before writing it.
        self.a.bl(main);
        let exit = self.fault_exit;
        self.a.b(exit);
    }

    /// A BPF function's prologue: save the return address and r10, the
    /// written registers of r6..r9, and give it a fresh 512-byte frame.
    fn prologue(&mut self) {
        self.a.push_pair(LR, bpf(10));
        for pair in self.saved.clone().chunks(2) {
            self.a.push_pair(pair[0], pair[1]);
        }
        self.a.add_imm12(true, true, bpf(10), bpf(10), FRAME as u32);
    }

    fn epilogue(&mut self) {
        for pair in self.saved.clone().rchunks(2) {
            self.a.pop_pair(pair[0], pair[1]);
        }
        self.a.pop_pair(LR, bpf(10));
        self.a.ret();
    }

    /// A label for a cold stub that records `status` at `pc` and unwinds.
    fn fault_label(&mut self, status: Status, pc: usize) -> Label {
        let label = self.a.label();
        self.cold.push(Cold::Fault { label, status, pc });
        label
    }

    fn fault_inline(&mut self, status: Status, pc: usize) {
        self.a.mov_imm(false, TMP1, status as u64);
        self.ctx_field(false, false, TMP1, cx::OFF_STATUS);
        self.a.mov_imm(true, TMP1, pc as u64);
        self.ctx_field(false, true, TMP1, cx::OFF_FAULT_PC);
        let exit = self.fault_exit;
        self.a.b(exit);
    }

    /// Loads the constant `imm` (sign-extended) into x9 behind a random key,
    /// when constant blinding is on; returns the register holding it.
    fn blinded(&mut self, imm: i32) -> Option<Xreg> {
        let key = self.blind.as_mut()?.next_key() as i32;
        self.a.mov_imm(true, IMM, (imm ^ key) as i64 as u64);
        self.a.mov_imm(true, KEY, key as i64 as u64);
        self.a.alu_rr(Alu::Eor, true, IMM, IMM, KEY);
        Some(IMM)
    }

    /// The register holding `imm` (sign-extended): x9, blinded when asked.
    fn imm_reg(&mut self, imm: i32) -> Xreg {
        if let Some(r) = self.blinded(imm) {
            return r;
        }
        self.a.mov_imm(true, IMM, imm as i64 as u64);
        IMM
    }

    /// `rd = rn + imm` (64-bit), through x9 when `imm` does not fit.
    fn add_const(&mut self, rd: Xreg, rn: Xreg, imm: i64) {
        if (0..4096).contains(&imm) {
            self.a.add_imm12(true, false, rd, rn, imm as u32);
        } else if (-4095..0).contains(&imm) {
            self.a.add_imm12(true, true, rd, rn, (-imm) as u32);
        } else {
            self.a.mov_imm(true, IMM, imm as u64);
            self.a.alu_rr(Alu::Add, true, rd, rn, IMM);
        }
    }

    /// A load (`opc` 1, or 2 sign-extending) or store (`opc` 0) at `[base + off]`.
    fn ldst(&mut self, w: W, opc: u32, rt: Xreg, base: Xreg, off: i32) {
        if !self.a.ldst_imm(w, opc, rt, base, off) {
            self.a.mov_imm(true, OFF, off as i64 as u64);
            self.a.ldst_reg(w, opc, rt, base, OFF);
        }
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
                    self.a.bind(label);
                    self.add_const(TMP1, base, off as i64);
                    self.a.mov_imm(false, TMP2, info as u64);
                    self.a.bl(shared);
                    self.a.b(back);
                }
                Cold::Fault { label, status, pc } => {
                    self.a.bind(label);
                    self.fault_inline(status, pc);
                }
                Cold::Misaligned { label, pc, len } => {
                    self.a.bind(label);
                    self.ctx_field(false, true, TMP1, cx::OFF_FAULT_ADDR);
                    self.a.mov_imm(true, TMP2, len);
                    self.ctx_field(false, true, TMP2, cx::OFF_FAULT_LEN);
                    self.fault_inline(Status::Misaligned, pc);
                }
                Cold::Entry { label, slot } => {
                    self.a.bind(label);
                    self.prologue();
                    let body = self.slot_labels[slot];
                    self.a.b(body);
                }
            }
        }
    }

    /// The shared second tier of memory checks, one routine per access size
    /// and kind: x10 = address, x11 = info. Returns when the stack or the
    /// cached region holds the access; otherwise the slow path decides.
    fn emit_region_checks(&mut self) {
        for (k, label) in self.region_checks.into_iter().enumerate() {
            let k = k as i32;
            self.a.bind(label);
            let ok = self.a.label();
            for (start, lim) in [
                (cx::OFF_STACK_START, cx::OFF_STACK_LIM),
                (cx::OFF_CACHE_START, cx::OFF_CACHE_LIM),
            ] {
                self.ctx_field(true, true, TMP3, start);
                self.a.alu_rr(Alu::Sub, true, TMP3, TMP1, TMP3);
                self.ctx_field(true, true, TMP4, lim + 8 * k);
                self.a.alu_rr(Alu::Subs, true, XZR, TMP3, TMP4);
                self.a.b_cond(Cond::Lo, ok);
            }
            let slow = self.slow_check;
            self.a.b(slow);
            self.a.bind(ok);
            self.a.ret();
        }
    }

    /// The shared slow path of memory checks: x10 = address, x11 = info.
    /// Preserves every BPF register; unwinds on a fault.
    fn emit_slow_check(&mut self) {
        let a = &mut self.a;
        a.bind(self.slow_check);
        a.push_pair(Xreg(0), Xreg(1));
        a.push_pair(Xreg(2), Xreg(3));
        a.push_pair(Xreg(4), bpf(0));
        a.push_pair(LR, XZR);
        a.mov(true, Xreg(0), CTX);
        a.mov(true, Xreg(1), TMP1);
        a.mov(true, Xreg(2), TMP2);
        a.mov_imm(true, IMM, cx::host_check as *const () as u64);
        a.blr(IMM);
        let ok = a.label();
        a.cbz(true, true, Xreg(0), ok);
        a.b(self.fault_exit);
        a.bind(ok);
        a.pop_pair(LR, XZR);
        a.pop_pair(Xreg(4), bpf(0));
        a.pop_pair(Xreg(2), Xreg(3));
        a.pop_pair(Xreg(0), Xreg(1));
        a.ret();
    }

    /// Checks that `len` bytes at `[base + off]` may be accessed; the inline
    /// path tests the input memory only.
    fn check(&mut self, base: Xreg, off: i32, len: u64, size_index: i32, kind: u64, pc: usize) {
        let lim_index = plan::lim_index(size_index, kind);
        let label = self.a.label();
        let back = self.a.label();
        let addr = if off == 0 {
            base
        } else {
            self.add_const(TMP2, base, off as i64);
            TMP2
        };
        self.ctx_field(true, true, TMP3, cx::OFF_INPUT_START);
        self.a.alu_rr(Alu::Sub, true, TMP2, addr, TMP3);
        self.ctx_field(true, true, TMP3, cx::OFF_INPUT_LIM + 8 * lim_index);
        self.a.alu_rr(Alu::Subs, true, XZR, TMP2, TMP3);
        self.a.b_cond(Cond::Hs, label);
        self.a.bind(back);
        self.cold.push(Cold::Check {
            label,
            back,
            lim_index,
            info: cx::check_info(len, kind, pc),
            base,
            off,
        });
    }

    /// Checks an access of `len` bytes at `base + off` when the mode asks for it.
    fn access(&mut self, base: Reg, off: i16, len: u64, size_index: i32, kind: u64, pc: usize) {
        if self.checked && !plan::in_frame(base, off, len, self.writes_r10) {
            self.check(bpf(base.num()), off as i32, len, size_index, kind, pc);
        }
    }

    fn insn(&mut self, pc: usize, insn: &Insn) -> Result<(), JitError> {
        match *insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(width == Width::W64, op, bpf(dst.num()), src),
            Insn::Neg { width, dst } => {
                let d = bpf(dst.num());
                self.a.alu_rr(Alu::Sub, width == Width::W64, d, XZR, d);
            }
            Insn::End { order, bits, dst } => {
                let d = bpf(dst.num());
                let a = &mut self.a;
                match (order, bits) {
                    (ByteOrder::Le, 16) => a.bfm(false, false, d, d, 0, 15),
                    (ByteOrder::Le, 32) => a.mov(false, d, d),
                    (ByteOrder::Le, _) => {}
                    (_, 16) => {
                        a.rev(false, 16, d, d);
                        a.bfm(false, false, d, d, 0, 15);
                    }
                    (_, 32) => a.rev(false, 32, d, d),
                    (_, _) => a.rev(true, 64, d, d),
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
                let op = if cond == JmpCond::Set {
                    Alu::Ands
                } else {
                    Alu::Subs
                };
                match src {
                    Operand::Reg(s) => self.a.alu_rr(op, w64, XZR, d, bpf(s.num())),
                    Operand::Imm(imm) => self.compare_imm(op, w64, d, imm),
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
                self.access(src, off, len, si, plan::READ, pc);
                let opc = if signed { 2 } else { 1 };
                self.ldst(w, opc, bpf(dst.num()), bpf(src.num()), off as i32);
            }
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => {
                let (w, len, si) = width_of(size);
                self.access(dst, off, len, si, plan::WRITE, pc);
                let v = if imm == 0 && self.blind.is_none() {
                    XZR
                } else {
                    self.imm_reg(imm)
                };
                self.ldst(w, 0, v, bpf(dst.num()), off as i32);
            }
            Insn::Stx {
                size,
                dst,
                off,
                src,
            } => {
                let (w, len, si) = width_of(size);
                self.access(dst, off, len, si, plan::WRITE, pc);
                self.ldst(w, 0, bpf(src.num()), bpf(dst.num()), off as i32);
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
                        self.a.mov_imm(true, d, v ^ key);
                        self.a.mov_imm(true, KEY, key);
                        self.a.alu_rr(Alu::Eor, true, d, d, KEY);
                    }
                    None => self.a.mov_imm(true, d, v),
                }
            }
            Insn::LdAbs { size, imm } => self.packet_load(pc, size, None, imm),
            Insn::LdInd { size, src, imm } => self.packet_load(pc, size, Some(src), imm),
        }
        Ok(())
    }

    /// `cmp`/`tst d, #imm` (`op`: Subs or Ands), with the constant in a
    /// register when it does not fit or is blinded.
    fn compare_imm(&mut self, op: Alu, w64: bool, d: Xreg, imm: i32) {
        if self.blind.is_none() {
            let v = imm as i64;
            if op == Alu::Subs && (0..4096).contains(&v) {
                self.a.adds_imm12(w64, true, XZR, d, v as u32);
                return;
            }
            if op == Alu::Subs && (-4095..0).contains(&v) {
                self.a.adds_imm12(w64, false, XZR, d, (-v) as u32);
                return;
            }
            if op == Alu::Ands && self.a.logical_imm(op, w64, XZR, d, v as u64) {
                return;
            }
        }
        let t = self.imm_reg(imm);
        self.a.alu_rr(op, w64, XZR, d, t);
    }

    fn alu(&mut self, w64: bool, op: AluOp, d: Xreg, src: Operand) {
        let blind = self.blind.is_some();
        match (op, src) {
            (AluOp::Mov, Operand::Imm(imm)) => match self.blinded(imm) {
                Some(t) => self.a.mov(w64, d, t),
                None if w64 => self.a.mov_imm(true, d, imm as i64 as u64),
                None => self.a.mov_imm(false, d, imm as u32 as u64),
            },
            (AluOp::Mov, Operand::Reg(s)) => self.a.mov(w64, d, bpf(s.num())),
            (AluOp::Movsx8 | AluOp::Movsx16 | AluOp::Movsx32, src) => {
                let s = match src {
                    Operand::Reg(s) => bpf(s.num()),
                    // The decoder only produces the register form.
                    Operand::Imm(imm) => self.imm_reg(imm),
                };
                match op {
                    AluOp::Movsx8 => self.a.bfm(true, w64, d, s, 0, 7),
                    AluOp::Movsx16 => self.a.bfm(true, w64, d, s, 0, 15),
                    _ if w64 => self.a.bfm(true, true, d, s, 0, 31),
                    _ => self.a.mov(false, d, s),
                }
            }
            (AluOp::Mul, src) => {
                let s = self.operand(src);
                self.a.madd(false, w64, d, d, s, XZR);
            }
            (AluOp::Div | AluOp::Sdiv, src) => {
                // AArch64 division gives RFC 9669's results by itself: x / 0
                // is 0, and MIN / -1 is MIN.
                let s = self.operand(src);
                let op2 = if op == AluOp::Div {
                    Op2::Udiv
                } else {
                    Op2::Sdiv
                };
                self.a.op2(op2, w64, d, d, s);
            }
            (AluOp::Mod | AluOp::Smod, src) => {
                // d - (d / s) * s: with s = 0 the quotient is 0 and d stays
                // (truncated to 32 bits for ALU32); MIN % -1 is 0.
                let s = self.operand(src);
                let op2 = if op == AluOp::Mod {
                    Op2::Udiv
                } else {
                    Op2::Sdiv
                };
                self.a.op2(op2, w64, TMP1, d, s);
                self.a.madd(true, w64, d, TMP1, s, d);
            }
            (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, src) => {
                let kind = match op {
                    AluOp::Lsh => 0,
                    AluOp::Rsh => 1,
                    _ => 2,
                };
                match src {
                    Operand::Imm(imm) => {
                        let mask = if w64 { 63 } else { 31 };
                        self.a.shift_imm(kind, w64, d, d, (imm & mask) as u32);
                    }
                    Operand::Reg(s) => {
                        let op2 = [Op2::Lsl, Op2::Lsr, Op2::Asr][kind as usize];
                        self.a.op2(op2, w64, d, d, bpf(s.num()));
                    }
                }
            }
            (op, Operand::Imm(imm)) => {
                let v = imm as i64;
                let alu = alu_of(op);
                match alu {
                    Alu::Add | Alu::Sub if !blind && (0..4096).contains(&v) => {
                        self.a.add_imm12(w64, alu == Alu::Sub, d, d, v as u32);
                    }
                    Alu::Add | Alu::Sub if !blind && (-4095..0).contains(&v) => {
                        self.a.add_imm12(w64, alu == Alu::Add, d, d, (-v) as u32);
                    }
                    Alu::And | Alu::Orr | Alu::Eor
                        if !blind && self.a.logical_imm(alu, w64, d, d, v as u64) => {}
                    _ => {
                        let t = self.imm_reg(imm);
                        self.a.alu_rr(alu, w64, d, d, t);
                    }
                }
            }
            (op, Operand::Reg(s)) => self.a.alu_rr(alu_of(op), w64, d, d, bpf(s.num())),
        }
    }

    /// The register of an operand: the BPF register, or x9 holding the constant.
    fn operand(&mut self, src: Operand) -> Xreg {
        match src {
            Operand::Reg(s) => bpf(s.num()),
            Operand::Imm(imm) => self.imm_reg(imm),
        }
    }

    /// A jump by `off` slots from `pc`; `cond` is `None` for an unconditional one.
    /// Back-edges in checked mode with a budget first charge it.
    fn jump(&mut self, pc: usize, off: i64, cond: Option<Cond>) {
        let target = (pc as i64 + 1 + off) as usize;
        let label = self.slot_labels[target];
        if self.budget && target <= pc {
            let stub = self.fault_label(Status::Budget, pc);
            let cost = (pc - target + 1) as u64;
            let skip = self.a.label();
            if let Some(c) = cond {
                self.a.b_cond(c.invert(), skip);
            }
            self.ctx_field(true, true, TMP1, cx::OFF_BUDGET);
            if cost < 4096 {
                self.a.adds_imm12(true, true, TMP1, TMP1, cost as u32);
            } else {
                self.a.mov_imm(true, IMM, cost);
                self.a.alu_rr(Alu::Subs, true, TMP1, TMP1, IMM);
            }
            self.ctx_field(false, true, TMP1, cx::OFF_BUDGET);
            self.a.b_cond(Cond::Lo, stub);
            self.a.b(label);
            self.a.bind(skip);
            return;
        }
        match cond {
            Some(c) => self.a.b_cond(c, label),
            None => self.a.b(label),
        }
    }

    fn atomic(&mut self, pc: usize, w64: bool, op: AtomicOp, dst: Reg, src: Reg, off: i16) {
        let len = if w64 { 8 } else { 4 };
        let base = bpf(dst.num());
        if self.checked {
            self.check(
                base,
                off as i32,
                len,
                if w64 { 3 } else { 2 },
                plan::ATOMIC,
                pc,
            );
        }
        self.add_const(TMP1, base, off as i64);
        if self.checked {
            let label = self.a.label();
            self.cold.push(Cold::Misaligned { label, pc, len });
            let aligned = self.a.logical_imm(Alu::Ands, true, XZR, TMP1, len - 1);
            debug_assert!(aligned, "3 and 7 are logical immediates");
            self.a.b_cond(Cond::Ne, label);
        }
        let s = bpf(src.num());
        let r0 = bpf(0);
        if self.lse {
            let a = &mut self.a;
            match op {
                AtomicOp::Add { fetch } => {
                    a.lse(Lse::Add, w64, s, if fetch { s } else { XZR }, TMP1)
                }
                AtomicOp::Or { fetch } => {
                    a.lse(Lse::Set, w64, s, if fetch { s } else { XZR }, TMP1)
                }
                AtomicOp::Xor { fetch } => {
                    a.lse(Lse::Eor, w64, s, if fetch { s } else { XZR }, TMP1)
                }
                AtomicOp::And { fetch } => {
                    a.alu_rr(Alu::Orn, w64, TMP2, XZR, s);
                    a.lse(Lse::Clr, w64, TMP2, if fetch { s } else { XZR }, TMP1);
                }
                AtomicOp::Xchg => a.lse(Lse::Swp, w64, s, s, TMP1),
                AtomicOp::Cmpxchg => a.casal(w64, r0, s, TMP1),
            }
            return;
        }
        // LL/SC: x11 = old value, x12 = new value, w13 = store status.
        let (old, new, status) = (TMP2, TMP3, TMP4);
        let retry = self.a.label();
        let done = self.a.label();
        let a = &mut self.a;
        a.bind(retry);
        a.ldaxr(w64, old, TMP1);
        let fetch = match op {
            AtomicOp::Add { fetch }
            | AtomicOp::Or { fetch }
            | AtomicOp::Xor { fetch }
            | AtomicOp::And { fetch } => {
                let alu = match op {
                    AtomicOp::Add { .. } => Alu::Add,
                    AtomicOp::Or { .. } => Alu::Orr,
                    AtomicOp::Xor { .. } => Alu::Eor,
                    _ => Alu::And,
                };
                a.alu_rr(alu, w64, new, old, s);
                a.stlxr(w64, status, new, TMP1);
                fetch
            }
            AtomicOp::Xchg => {
                a.stlxr(w64, status, s, TMP1);
                true
            }
            AtomicOp::Cmpxchg => {
                a.alu_rr(Alu::Subs, w64, XZR, old, r0);
                a.b_cond(Cond::Ne, done);
                a.stlxr(w64, status, s, TMP1);
                false
            }
        };
        a.cbz(false, true, status, retry);
        a.bind(done);
        a.dmb_ish();
        if op == AtomicOp::Cmpxchg {
            a.mov(w64, r0, old);
        } else if fetch {
            a.mov(w64, s, old);
        }
    }

    /// Legacy ld_abs/ld_ind, inline: r0 = the big-endian bytes at the offset,
    /// or the run ends with 0 when they lie outside the packet (the run's
    /// first region, so no other check is needed, in either mode).
    fn packet_load(&mut self, pc: usize, size: Size, index: Option<Reg>, imm: i32) {
        let (_, len, _) = width_of(size);
        let len = len.min(4);
        let outside = self.fault_label(Status::ExitZero, pc);
        // x10 = the offset: imm, plus the index register's low 32 bits.
        match index {
            Some(r) => {
                self.a.mov(false, TMP1, bpf(r.num()));
                self.add_const(TMP1, TMP1, imm as i64);
            }
            None => self.a.mov_imm(true, TMP1, imm as i64 as u64),
        }
        let a = &mut self.a;
        a.adds_imm12(true, true, XZR, TMP1, 0);
        a.b_cond(Cond::Lt, outside);
        a.add_imm12(true, false, TMP2, TMP1, len as u32);
        self.ctx_field(true, true, TMP3, cx::OFF_PACKET_LEN);
        self.a.alu_rr(Alu::Subs, true, XZR, TMP2, TMP3);
        self.a.b_cond(Cond::Hi, outside);
        self.ctx_field(true, true, TMP3, cx::OFF_PACKET_START);
        let a = &mut self.a;
        a.alu_rr(Alu::Add, true, TMP1, TMP1, TMP3);
        let r0 = bpf(0);
        match len {
            1 => {
                a.ldst_imm(W::B, 1, r0, TMP1, 0);
            }
            2 => {
                a.ldst_imm(W::H, 1, r0, TMP1, 0);
                a.rev(false, 16, r0, r0);
            }
            _ => {
                a.ldst_imm(W::W, 1, r0, TMP1, 0);
                a.rev(false, 32, r0, r0);
            }
        }
    }
}

fn alu_of(op: AluOp) -> Alu {
    match op {
        AluOp::Sub => Alu::Sub,
        AluOp::Or => Alu::Orr,
        AluOp::And => Alu::And,
        AluOp::Xor => Alu::Eor,
        _ => Alu::Add,
    }
}
