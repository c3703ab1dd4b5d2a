//! Loading and running arbitrary bytecode never panics or touches memory it was
//! not given. The first byte picks the input memory size; the rest is the program.
//! A program that ends within the budget is run again without one (the loop then
//! runs adjacent instructions fused): r0, memory and errors must be the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_vm::{Helpers, Vm, VmError};

fuzz_target!(|data: &[u8]| {
    let Some((&mem_len, rest)) = data.split_first() else { return };
    let split = rest.len().min(mem_len as usize % 64);
    let (mem_init, code) = rest.split_at(split);
    let Ok(mut vm) = Vm::new(code, &Helpers::conformance()) else { return };
    vm.set_budget(Some(100_000));
    let mut mem = mem_init.to_vec();
    let counted = vm.run(&mut mem);
    assert_eq!(mem.len(), mem_init.len());
    if matches!(counted, Err(VmError::BudgetExhausted { .. })) {
        return;
    }
    let after_counted = mem.clone();
    mem.copy_from_slice(mem_init);
    vm.set_budget(None);
    let uncounted = vm.run(&mut mem);
    assert_eq!(counted, uncounted);
    assert_eq!(mem, after_counted);
});
