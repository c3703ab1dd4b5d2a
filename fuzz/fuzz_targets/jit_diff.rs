//! Arbitrary bytecode gives the same r0, memory and faults in the interpreter
//! and in the checked JIT, and compiling it never panics. The first byte picks
//! the input memory size; the rest is the program.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "jit_diff_check.rs"]
mod jit_diff_check;

fuzz_target!(|data: &[u8]| {
    jit_diff_check::check(data);
});
