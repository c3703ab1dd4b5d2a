//! Runs all bpf_conformance tests through the JIT, in both modes and blinded.

#[path = "../../vm/tests/corpus/mod.rs"]
mod corpus;

use oxbpf_jit::{Arch, JitProgram, Mode, Options};
use oxbpf_vm::{Helpers, Program};

fn run_all(options: Options) {
    let label = format!(
        "conformance ({:?}, {:?}{})",
        options.arch,
        options.mode,
        if options.constant_blinding {
            ", blinded"
        } else {
            ""
        }
    );
    corpus::run_corpus(&label, |test, code| {
        let program = Program::new(code, &Helpers::conformance()).map_err(|e| e.to_string())?;
        // SAFETY: the conformance programs stay inside their memory and stack
        // (the checked runs of the same programs in this file prove it).
        let mut jit = unsafe { JitProgram::compile_with_mode(program, &options) }
            .map_err(|e| e.to_string())?;
        jit.set_budget(Some(10_000_000))
            .map_err(|e| e.to_string())?;
        jit.run(&mut test.mem.clone()).map_err(|e| e.to_string())
    });
}

#[test]
fn checked_jit_passes_all_conformance_tests() {
    run_all(Options {
        mode: Mode::Checked,
        constant_blinding: false,
        ..Default::default()
    });
}

#[test]
fn unchecked_jit_passes_all_conformance_tests() {
    run_all(Options {
        mode: Mode::Unchecked,
        constant_blinding: false,
        ..Default::default()
    });
}

#[test]
fn blinded_jit_passes_all_conformance_tests() {
    run_all(Options {
        mode: Mode::Checked,
        constant_blinding: true,
        ..Default::default()
    });
}

#[test]
fn ll_sc_atomics_pass_all_conformance_tests() {
    if !matches!(Arch::host(), Arch::Aarch64 { .. }) {
        println!("skipped ll_sc_atomics_pass_all_conformance_tests: LL/SC atomics are the arm64 back end's");
        return;
    }
    run_all(Options {
        mode: Mode::Checked,
        arch: Arch::Aarch64 { lse: false },
        ..Default::default()
    });
}
