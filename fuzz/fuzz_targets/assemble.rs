//! Assembling arbitrary text never panics; what assembles disassembles and
//! reassembles to the same bytecode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_isa::{assemble_bytes, disassemble, Syntax};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(code) = assemble_bytes(text) else { return };
    let listing = disassemble(&code, Syntax::Llvm).unwrap();
    assert_eq!(assemble_bytes(&listing).unwrap(), code);
});
