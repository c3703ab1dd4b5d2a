//! The crate's error type.

use oxbpf_vm::VmError;

/// Why a program could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The program does not load (decoding, jump targets, unknown helpers).
    #[error(transparent)]
    Load(#[from] VmError),
    /// The instruction has no machine-code translation here.
    #[error("instruction {index}: {what} is not supported by the JIT")]
    Unsupported {
        /// Slot of the instruction.
        index: usize,
        /// What it is.
        what: &'static str,
    },
    /// Executable memory could not be set up.
    #[error("could not {what} executable memory: {source}")]
    Memory {
        /// The failing call.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Unchecked code was asked of the safe entry point: it needs
    /// `JitProgram::compile_with_mode`, whose caller vouches for the program.
    #[error("unchecked mode needs JitProgram::compile_with_mode (unsafe): the caller must vouch that a verifier approved the program")]
    UncheckedNeedsUnsafe,
    /// The compiled code exceeds the size the JIT's 32-bit offsets can address.
    #[error("the compiled program is too large ({bytes} bytes)")]
    TooLarge {
        /// Size of the code.
        bytes: usize,
    },
}
