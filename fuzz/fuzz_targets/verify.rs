//! Arbitrary bytecode never crashes the verifier, and whatever it accepts runs
//! in the checked interpreter without a memory fault, on several contexts.
//! Then, as verified programs run in the runtime, it runs without checks (the
//! unchecked interpreter and the unchecked JIT) on boundary contexts (a
//! zero-length input padded to the layout, all-0xff, and a maximal one) and
//! must give the checked interpreter's results. The first byte picks the
//! program type and mode; the rest is the program.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_object::ProgramType;
use oxbpf_verifier::{verify, Input, Options};
use oxbpf_jit::{JitProgram, Mode, Options as JitOptions};
use oxbpf_vm::{Helpers, Program, Region, Tracer, Vm, VmError};

struct Quiet;

impl Tracer for Quiet {
    fn step(&mut self, _: usize, _: &[u64; 11]) {}
    fn finish(&mut self, _: &[u64; 11]) {}
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, code)) = data.split_first() else { return };
    let Ok(slots) = oxbpf_isa::raw_slots(code) else { return };
    // Read-only contexts the interpreter can supply as one region.
    let (ty, ctx_len) = match mode % 3 {
        0 => (ProgramType::Kprobe, 168),
        1 => (ProgramType::Tracepoint, 2048),
        _ => (ProgramType::RawTracepoint, 96),
    };
    let opts = Options {
        privileged: mode & 0x80 == 0,
        log: mode & 0x40 != 0,
        max_insns: 200_000,
        strict: mode & 0x20 != 0,
    };
    let report = verify(&Input::new(&slots, ty), &opts);
    let _ = (report.text(), report.json(), report.dot());
    if !report.accepted() {
        return;
    }
    // Programs calling helpers do not load without them; that is not a fault.
    let Ok(mut vm) = Vm::new(code, &Helpers::new()) else { return };
    vm.set_budget(Some(1_000_000));
    // Several contexts, so that branches on context data take different
    // paths: a wrong prune would let one of them fault.
    for fill in [0x5au8, 0x00, 0xff, mode] {
        let mut ctx = vec![fill; ctx_len];
        for (k, b) in ctx.iter_mut().enumerate().step_by(3) {
            *b ^= (k as u8).wrapping_mul(fill | 1);
        }
        match vm.run_with(&[ctx.as_ptr() as u64, 0, 0, 0, 0], &[Region::readable(&ctx)], &mut Quiet) {
            Ok(_) | Err(VmError::BudgetExhausted { .. }) | Err(VmError::UnknownHelper { .. }) => {}
            Err(e) => panic!("an accepted program faulted on context fill {fill:#x}: {e}"),
        }
    }
    // Programs that may read never-written stack see zeros when checked and
    // leftovers when not: compare the engines only where such reads are refused.
    if !opts.allows_uninit_stack() {
        unchecked_runs(code, ctx_len, &mut vm);
    }
});

/// Runs an accepted program unchecked on boundary contexts, each first in the
/// checked interpreter: the unchecked interpreter and JIT must agree with it.
fn unchecked_runs(code: &[u8], ctx_len: usize, vm: &mut Vm) {
    let Ok(program) = Program::new(code, &Helpers::new()) else { return };
    let options = JitOptions {
        mode: Mode::Unchecked,
        constant_blinding: false,
    };
    // SAFETY: the verifier accepted the program for this program type, and
    // every run below gives it a context at least as large as the layout.
    let mut jit = unsafe { JitProgram::compile_with_mode(program, &options) }.ok();
    // Zero-length input (padded with zeros, as the runtime pads it), all
    // 0xff, and a maximal input: a page of 0xff.
    for (len, fill) in [(ctx_len, 0u8), (ctx_len, 0xff), (4096.max(ctx_len), 0xff)] {
        let ctx = vec![fill; len];
        let regions = [Region::readable(&ctx)];
        let args = [ctx.as_ptr() as u64, 0, 0, 0, 0];
        let checked = match vm.run_with(&args, &regions, &mut Quiet) {
            Ok(r) => r,
            // Too long to repeat unchecked, or not runnable here.
            Err(_) => continue,
        };
        // SAFETY: as above; the checked run of the same context stayed in bounds.
        let interpreted = unsafe { vm.run_unchecked_with(&args, &regions, &mut Quiet) };
        assert_eq!(
            interpreted.ok(),
            Some(checked),
            "the unchecked interpreter differs on a {len}-byte context of {fill:#x}"
        );
        if let Some(jit) = jit.as_mut() {
            let compiled = jit.run_with(&args, &regions);
            assert_eq!(
                compiled.ok(),
                Some(checked),
                "the unchecked JIT differs on a {len}-byte context of {fill:#x}"
            );
        }
    }
}
