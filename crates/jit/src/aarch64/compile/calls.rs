//! Calls: BPF-to-BPF calls, helper calls, and the inlined or direct calls
//! of known maps' lookups and updates.

use super::super::asm::{Alu, Cond, Label, Width as W};
use super::super::regs::{bpf, Xreg, CTX, IMM, TMP1, TMP2, TMP3, XZR};
use super::{Cold, Compiler};
use crate::context::{self as cx, Status};

impl Compiler<'_> {
    /// A BPF-to-BPF call (`label`: the callee's entry; `None` for slot 0).
    pub(super) fn local_call(&mut self, pc: usize, label: Option<Label>) {
        if self.checked {
            let stub = self.fault_label(Status::CallDepth, pc);
            self.ctx_field(true, false, TMP1, cx::OFF_DEPTH);
            self.a
                .adds_imm12(false, true, XZR, TMP1, oxbpf_vm::MAX_FRAMES as u32);
            self.a.b_cond(Cond::Hs, stub);
            self.a.add_imm12(false, false, TMP1, TMP1, 1);
            self.ctx_field(false, false, TMP1, cx::OFF_DEPTH);
        }
        let entry = match label {
            Some(l) => l,
            None => self.main_entry_label(),
        };
        self.a.bl(entry);
        if self.checked {
            self.ctx_field(true, false, TMP1, cx::OFF_DEPTH);
            self.a.add_imm12(false, true, TMP1, TMP1, 1);
            self.ctx_field(false, false, TMP1, cx::OFF_DEPTH);
        }
    }

    pub(super) fn main_entry_label(&mut self) -> Label {
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
    pub(super) fn inline_array(&mut self, pc: usize) -> bool {
        let Some(h) = self.r1_const else {
            return false;
        };
        let Some(&map) = self.maps.arrays.iter().find(|m| m.handle == h) else {
            return false;
        };
        let key = bpf(2);
        let r0 = bpf(0);
        let slow = self.a.label();
        let null = self.a.label();
        let done = self.a.label();
        if self.checked {
            self.ctx_field(true, true, TMP3, cx::OFF_STACK_START);
            self.a.alu_rr(Alu::Sub, true, TMP2, key, TMP3);
            self.ctx_field(true, true, TMP3, cx::OFF_STACK_LIM + 8 * 2);
            self.a.alu_rr(Alu::Subs, true, XZR, TMP2, TMP3);
            self.a.b_cond(Cond::Hs, slow);
        }
        self.a.ldst_imm(W::W, 1, r0, key, 0);
        self.a.mov_imm(false, IMM, map.max_entries as u64);
        self.a.alu_rr(Alu::Subs, false, XZR, r0, IMM);
        self.a.b_cond(Cond::Hs, null);
        if map.stride.is_power_of_two() {
            self.a
                .shift_imm(0, true, r0, r0, map.stride.trailing_zeros());
        } else {
            self.a.mov_imm(true, IMM, map.stride as u64);
            self.a.madd(false, true, r0, r0, IMM, XZR);
        }
        self.a.mov_imm(true, IMM, map.base);
        self.a.alu_rr(Alu::Add, true, r0, r0, IMM);
        self.a.b(done);
        self.a.bind(null);
        self.a.mov(true, r0, XZR);
        self.a.b(done);
        self.a.bind(slow);
        self.helper_call(pc, None);
        self.a.bind(done);
        true
    }

    /// Helper 1 or 2 on a [`crate::DirectMap`] whose handle r1 holds: a direct
    /// call of the map's function, when the key (and the value) lie on the
    /// stack; the helper otherwise. Returns false (emitting nothing) when r1
    /// is not such a constant.
    pub(super) fn direct_map_call(&mut self, pc: usize, helper: i32) -> bool {
        let Some(h) = self.r1_const else {
            return false;
        };
        let Some(&map) = self.maps.direct.iter().find(|m| m.handle == h) else {
            return false;
        };
        let slow = self.a.label();
        let done = self.a.label();
        if self.checked {
            // Key in r2 (x1), value in r3 (x2): each must lie in the stack,
            // whose size is fixed per program, so the bounds are constants.
            let mut spans = vec![(bpf(2), map.key_size)];
            if helper == 2 {
                spans.push((bpf(3), map.value_size));
            }
            for (reg, len) in spans {
                self.ctx_field(true, true, TMP3, cx::OFF_STACK_START);
                self.a.alu_rr(Alu::Sub, true, TMP2, reg, TMP3);
                let max = self.prog.stack_size() as i64 - len as i64;
                if max < 0 {
                    self.a.b(slow);
                } else {
                    self.a.mov_imm(true, IMM, max as u64);
                    self.a.alu_rr(Alu::Subs, true, XZR, TMP2, IMM);
                    self.a.b_cond(Cond::Hi, slow);
                }
            }
        }
        let a = &mut self.a;
        a.push_pair(Xreg(0), Xreg(1));
        a.push_pair(Xreg(2), Xreg(3));
        a.push_pair(Xreg(4), XZR);
        // r2, r3, r4 (x1, x2, x3) are already the key, value and flags arguments.
        a.mov_imm(true, Xreg(0), map.data as u64);
        let f = if helper == 1 {
            map.lookup as *const () as u64
        } else {
            map.update as *const () as u64
        };
        a.mov_imm(true, IMM, f);
        a.blr(IMM);
        a.mov(true, bpf(0), Xreg(0));
        a.pop_pair(Xreg(4), XZR);
        a.pop_pair(Xreg(2), Xreg(3));
        a.pop_pair(Xreg(0), Xreg(1));
        a.b(done);
        a.bind(slow);
        self.helper_call(pc, None);
        self.a.bind(done);
        true
    }

    /// A helper call (`callx`: the register holding the helper id). r1..r5
    /// survive it, as in the interpreter.
    pub(super) fn helper_call(&mut self, pc: usize, callx: Option<Xreg>) {
        if let Some(r) = callx {
            self.ctx_field(false, true, r, cx::OFF_CALLX_VALUE);
        }
        let a = &mut self.a;
        a.push_pair(Xreg(0), Xreg(1));
        a.push_pair(Xreg(2), Xreg(3));
        a.push_pair(Xreg(4), XZR);
        a.mov_imm(true, TMP1, pc as u64);
        self.ctx_field(false, true, TMP1, cx::OFF_CUR_PC);
        self.ctx_field(false, true, bpf(10), cx::OFF_CUR_FP);
        let a = &mut self.a;
        a.mov(true, Xreg(5), CTX);
        let f = if callx.is_some() {
            cx::host_callx as *const () as u64
        } else {
            cx::host_call_helper as *const () as u64
        };
        a.mov_imm(true, IMM, f);
        a.blr(IMM);
        a.mov(true, bpf(0), Xreg(0));
        a.pop_pair(Xreg(4), XZR);
        a.pop_pair(Xreg(2), Xreg(3));
        a.pop_pair(Xreg(0), Xreg(1));
        self.ctx_field(true, false, TMP1, cx::OFF_STATUS);
        let ok = self.a.label();
        self.a.cbz(false, false, TMP1, ok);
        let exit = self.fault_exit;
        self.a.b(exit);
        self.a.bind(ok);
    }
}
