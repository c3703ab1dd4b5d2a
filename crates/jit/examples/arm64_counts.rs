//! Counts the AArch64 instructions the JIT emits per BPF instruction for the
//! benchmark programs (`fixtures/bench/*.bin`), beside an estimate for the
//! Linux kernel's arm64 JIT. Runs on any host; nothing is executed.
//!
//! `cargo run -p oxbpf-jit --example arm64_counts`
//!
//! The kernel column is a model of `build_insn()` in
//! `arch/arm64/net/bpf_jit_comp.c` (Linux 6.x), not a measurement: one
//! instruction for register ALU operations, shifts by constants, moves and
//! register loads and stores (stack accesses are `sp`-relative with positive
//! offsets, so they fit); `cmp`/`tst` + `b.cond` for conditional jumps;
//! `add`/`sub`/logical immediates when they fit, otherwise a `mov` sequence
//! into a temporary first; constants through `movz`/`movn` + `movk` for each
//! half-word that is neither all zeros nor all ones; a `b` to the epilogue for
//! an `exit` that is not the last instruction; `udiv` + `msub` for modulo.

use oxbpf_isa::{AluOp, ByteOrder, Insn, JmpCond, Operand, Reg, Size, Width};
use oxbpf_jit::aarch64::asm::logical_imm;
use oxbpf_jit::{Arch, JitProgram, Mode, Options};
use oxbpf_vm::{Helpers, Program};

/// Instructions of a `mov` of `v` (as the kernel's `emit_a64_mov_i64`).
fn mov_count(v: u64, w64: bool) -> u32 {
    let halves = if w64 && v >> 32 != 0 { 4 } else { 2 };
    let part = |i: u32| (v >> (16 * i)) as u16;
    let zeros = (0..halves).filter(|&i| part(i) == 0).count() as u32;
    let ones = (0..halves).filter(|&i| part(i) == 0xffff).count() as u32;
    (halves - zeros.max(ones)).max(1)
}

fn addsub_fits(v: i64) -> bool {
    let a = v.unsigned_abs();
    a < 4096 || (a & 0xfff == 0 && a < 1 << 24)
}

fn ldst_fits(off: i16, size: Size, base: Reg) -> bool {
    if base == Reg::R10 {
        return true;
    }
    let scale = match size {
        Size::B => 1,
        Size::H => 2,
        Size::W => 4,
        Size::DW => 8,
    };
    off >= 0 && off as i32 % scale == 0 && (off as i32 / scale) < 4096
}

/// The kernel arm64 JIT's instruction count for `insn` (see the module doc).
fn kernel_estimate(insn: &Insn, lddw: u64, last: bool) -> u32 {
    match *insn {
        Insn::Alu { width, op, src, .. } => {
            let w64 = width == Width::W64;
            match (op, src) {
                (AluOp::Mod | AluOp::Smod, Operand::Reg(_)) => 2,
                (_, Operand::Reg(_)) => 1,
                (AluOp::Mov, Operand::Imm(i)) => mov_count(i as i64 as u64, w64),
                (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, _) => 1,
                (AluOp::Add | AluOp::Sub, Operand::Imm(i)) if addsub_fits(i as i64) => 1,
                (AluOp::And | AluOp::Or | AluOp::Xor, Operand::Imm(i))
                    if logical_imm(i as i64 as u64, w64).is_some() =>
                {
                    1
                }
                (AluOp::Mod | AluOp::Smod, Operand::Imm(i)) => mov_count(i as i64 as u64, w64) + 2,
                (_, Operand::Imm(i)) => mov_count(i as i64 as u64, w64) + 1,
            }
        }
        Insn::Neg { .. } => 1,
        Insn::End { order, bits, .. } => match (order, bits) {
            (ByteOrder::Le, 64) => 0,
            (ByteOrder::Le, _) => 1,
            (_, 16) => 2,
            _ => 1,
        },
        Insn::Ja { .. } | Insn::Ja32 { .. } => 1,
        Insn::Jmp { cond, src, .. } => match src {
            Operand::Reg(_) => 2,
            Operand::Imm(i) if cond == JmpCond::Set => {
                if logical_imm(i as i64 as u64, true).is_some() {
                    2
                } else {
                    mov_count(i as i64 as u64, true) + 2
                }
            }
            Operand::Imm(i) if addsub_fits(i as i64) => 2,
            Operand::Imm(i) => mov_count(i as i64 as u64, true) + 2,
        },
        Insn::Exit => u32::from(!last),
        Insn::Lddw { .. } => mov_count(lddw, true),
        Insn::Ldx { size, src, off, .. }
        | Insn::Stx {
            size,
            dst: src,
            off,
            ..
        } => {
            if ldst_fits(off, size, src) {
                1
            } else {
                mov_count(off as i64 as u64, true) + 1
            }
        }
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => {
            let addr = if ldst_fits(off, size, dst) { 0 } else { 1 };
            mov_count(imm as i64 as u64, true) + 1 + addr
        }
        // Address arithmetic (when the offset is not 0) and one LSE instruction.
        Insn::Atomic { off, .. } => 1 + 2 * u32::from(off != 0),
        // The helper's address (movn + 2 movk), blr, and r0 from x0.
        Insn::Call { .. } | Insn::Callx { .. } => 5,
        Insn::LdAbs { .. } | Insn::LdInd { .. } => 0,
    }
}

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/bench");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures/bench")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    paths.sort();
    println!("| program | BPF insns | oxbpf unchecked | per insn | oxbpf checked | per insn | kernel (model) | per insn |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for path in paths {
        let code = std::fs::read(&path).expect("read");
        let program = Program::new(&code, &Helpers::new()).expect("loads");
        let count = |mode: Mode| -> usize {
            let options = Options {
                mode,
                constant_blinding: false,
                arch: Arch::Aarch64 { lse: true },
            };
            // SAFETY: compiled to be counted, never run.
            let jit = unsafe { JitProgram::compile_with_mode(program.clone(), &options) }
                .expect("compiles");
            let offsets = jit.slot_offsets();
            let body: usize = (0..offsets.len()).map(|s| jit.slot_code(s).len()).sum();
            // Slots of an lddw share its code: count it once.
            let lddw_halves: usize = (0..offsets.len())
                .filter(|&s| program.insn(s).is_none())
                .map(|s| jit.slot_code(s).len())
                .sum();
            (body - lddw_halves) / 4
        };
        let insns: Vec<(usize, Insn)> = (0..program.len())
            .filter_map(|s| program.insn(s).map(|i| (s, *i)))
            .collect();
        let n = insns.len();
        let kernel: u32 = insns
            .iter()
            .enumerate()
            .map(|(k, (s, i))| kernel_estimate(i, program.lddw_value(*s).unwrap_or(0), k + 1 == n))
            .sum();
        let (u, c) = (count(Mode::Unchecked), count(Mode::Checked));
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!(
            "| {name} | {n} | {u} | {:.2} | {c} | {:.2} | {kernel} | {:.2} |",
            u as f64 / n as f64,
            c as f64 / n as f64,
            kernel as f64 / n as f64
        );
    }
}
