//! The AArch64 backend: registers, an assembler, and the compiler.

pub mod asm;
pub(crate) mod compile;
pub mod disasm;
pub mod regs;
