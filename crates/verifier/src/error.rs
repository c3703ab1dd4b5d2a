//! The crate's error type: input the verifier cannot judge at all.

/// Why a program could not be verified (as opposed to being rejected).
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    /// The object file could not be read.
    #[error("the object could not be read: {0}")]
    Object(#[from] oxbpf_object::ObjectError),
    /// The object has no program of this name.
    #[error("no program named `{name}` (the object has: {available})")]
    NoSuchProgram { name: String, available: String },
    /// Raw bytecode is not a whole number of instructions.
    #[error("the bytecode is {len} bytes, not a multiple of 8 (trailing bytes start at offset {offset})")]
    Bytecode { len: usize, offset: usize },
}
