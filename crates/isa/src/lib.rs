//! The eBPF instruction set of RFC 9669 (versions 1 to 4).
//!
//! A typed model ([`Insn`]), the 8-byte wire encoding ([`Insn::encode`],
//! [`decode_program`]), an assembler for the llvm and bpf_conformance dialects
//! ([`assemble`]) and a disassembler in llvm and kernel syntax ([`disassemble`]).
//! This crate does no I/O.
//!
//! ```
//! use oxbpf_isa::{assemble, decode_program, Syntax};
//!
//! let insns = assemble("r0 = 7\nr0 += 35\nexit").unwrap();
//! let bytes = oxbpf_isa::encode_program(&insns);
//! let decoded: Vec<_> = decode_program(&bytes).unwrap().into_iter().map(|(_, i)| i).collect();
//! assert_eq!(decoded, insns);
//! assert_eq!(insns[1].to_string(), "r0 += 35");
//! assert_eq!(insns[1].display(Syntax::Kernel).to_string(), "(07) r0 += 35");
//! ```

pub mod asm;
pub mod codec;
pub mod conformance;
pub mod disasm;
pub mod error;
pub mod helper_ids;
pub mod insn;
pub mod opcode;
pub mod semantics;

pub use asm::{assemble, assemble_bytes};
pub use codec::{decode_at, decode_program, encode_program, raw_slots, RawInsn};
pub use conformance::ConformanceTest;
pub use disasm::{disassemble, Syntax};
pub use error::IsaError;
pub use helper_ids::{helper_id, helper_name};
pub use insn::*;
