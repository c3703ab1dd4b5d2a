//! Arbitrary bytecode never crashes the verifier, and whatever it accepts runs
//! in the checked interpreter without a memory fault, on several contexts. The first byte picks the
//! program type and mode; the rest is the program.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_object::ProgramType;
use oxbpf_verifier::{verify, Input, Options};
use oxbpf_vm::{Helpers, Region, Tracer, Vm, VmError};

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
});
