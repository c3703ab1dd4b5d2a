//! The crate's error type.

/// Why bytecode could not be decoded or assembly text could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsaError {
    /// The byte length is not a multiple of the 8-byte instruction size.
    #[error("bytecode length {len} is not a multiple of 8 (trailing {trailing} bytes at offset {offset})")]
    TrailingBytes {
        len: usize,
        trailing: usize,
        offset: usize,
    },
    /// The opcode byte names no instruction.
    #[error("instruction {index}: unknown opcode {opcode:#04x}")]
    UnknownOpcode { index: usize, opcode: u8 },
    /// A register field names a register above r10.
    #[error("instruction {index}: invalid {field} register r{reg}")]
    BadRegister {
        index: usize,
        field: &'static str,
        reg: u8,
    },
    /// An lddw at the end of the program is missing its second slot.
    #[error("instruction {index}: lddw is truncated (missing its second half)")]
    TruncatedLddw { index: usize },
    /// A field that RFC 9669 requires to be zero (or to hold one of a few values) does not.
    #[error("instruction {index}: opcode {opcode:#04x} requires {field} to be {expected}, found {found}")]
    BadField {
        index: usize,
        opcode: u8,
        field: &'static str,
        expected: &'static str,
        found: i64,
    },
    /// Assembly text could not be parsed or encoded.
    #[error("line {line}, column {column}: {message}")]
    Asm {
        line: usize,
        column: usize,
        message: String,
    },
}
