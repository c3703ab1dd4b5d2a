//! Decoding arbitrary bytes never panics; whatever decodes re-encodes to the same
//! bytes and prints in both syntaxes, and the llvm listing assembles back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_isa::{assemble_bytes, decode_program, disassemble, encode_program, Syntax};

fuzz_target!(|data: &[u8]| {
    let Ok(prog) = decode_program(data) else { return };
    let insns: Vec<_> = prog.into_iter().map(|(_, i)| i).collect();
    assert_eq!(encode_program(&insns), data);
    let _ = disassemble(data, Syntax::Kernel).unwrap();
    let listing = disassemble(data, Syntax::Llvm).unwrap();
    assert_eq!(assemble_bytes(&listing).unwrap(), data);
});
