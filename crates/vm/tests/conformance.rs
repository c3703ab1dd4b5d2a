//! Runs all bpf_conformance tests through the interpreter.

mod corpus;

use oxbpf_vm::{Helpers, Vm};

#[test]
fn interpreter_passes_all_conformance_tests() {
    corpus::run_corpus("conformance", |test, code| {
        let mut vm = Vm::new(code, &Helpers::conformance()).map_err(|e| e.to_string())?;
        vm.set_budget(Some(10_000_000));
        vm.run(&mut test.mem.clone()).map_err(|e| e.to_string())
    });
}
