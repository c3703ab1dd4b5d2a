//! Loading and running arbitrary bytecode never panics or touches memory it was
//! not given. The first byte picks the input memory size; the rest is the program.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_vm::{Helpers, Vm};

fuzz_target!(|data: &[u8]| {
    let Some((&mem_len, rest)) = data.split_first() else { return };
    let split = rest.len().min(mem_len as usize % 64);
    let (mem_init, code) = rest.split_at(split);
    let Ok(mut vm) = Vm::new(code, &Helpers::conformance()) else { return };
    vm.set_budget(Some(100_000));
    let mut mem = mem_init.to_vec();
    let _ = vm.run(&mut mem);
    assert_eq!(mem.len(), mem_init.len());
});
