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

/// The same tests through the loop's other paths: traced (one instruction at
/// a time; elsewhere adjacent instructions may run fused), uncounted and, for
/// tests that run without error, unchecked. Each must give the counted,
/// checked run's result.
#[test]
fn traced_uncounted_and_unchecked_paths_pass_the_conformance_tests() {
    corpus::run_corpus(
        "conformance (traced, uncounted, unchecked)",
        |test, code| {
            let mut vm = Vm::new(code, &Helpers::conformance()).map_err(|e| e.to_string())?;
            // One buffer for every run, so error texts (which give addresses) compare.
            let mut buf = test.mem.clone();
            vm.set_budget(Some(10_000_000));
            let counted = vm.run(&mut buf).map_err(|e| e.to_string());
            buf.copy_from_slice(&test.mem);
            let traced = vm
                .run_traced(&mut buf, &mut OneAtATime)
                .map_err(|e| e.to_string());
            if traced != counted {
                return Err(format!("traced {traced:?} but untraced {counted:?}"));
            }
            buf.copy_from_slice(&test.mem);
            vm.set_budget(None);
            let uncounted = vm.run(&mut buf).map_err(|e| e.to_string());
            if uncounted != counted {
                return Err(format!("uncounted {uncounted:?} but counted {counted:?}"));
            }
            let r0 = counted?;
            // The checked run touched only memory it was given; the same program
            // on the same bytes makes the same accesses.
            let mut mem = buf;
            mem.copy_from_slice(&test.mem);
            let (r1, r2) = if mem.is_empty() {
                (0, 0)
            } else {
                (mem.as_ptr() as u64, mem.len() as u64)
            };
            let region = oxbpf_vm::Region::writable(&mut mem);
            let mut trace = oxbpf_vm::NoTrace;
            // SAFETY: see above; the input has the same length and contents.
            let unchecked =
                unsafe { vm.run_unchecked_with(&[r1, r2, 0, 0, 0], &[region], &mut trace) }
                    .map_err(|e| e.to_string())?;
            if unchecked != r0 {
                return Err(format!("unchecked r0 {unchecked:#x} but checked {r0:#x}"));
            }
            Ok(r0)
        },
    );
}

/// Records nothing, but makes the loop run one instruction at a time.
struct OneAtATime;

impl oxbpf_vm::Tracer for OneAtATime {
    fn step(&mut self, _: usize, _: &[u64; 11]) {}
    fn finish(&mut self, _: &[u64; 11]) {}
}
