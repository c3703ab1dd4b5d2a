//! The crate's error type.

/// Why an object could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// The bytes are not an ELF file the `object` crate can read.
    #[error("not a readable ELF file: {0}")]
    Elf(String),
    /// The ELF file is not for the BPF machine or not 64-bit little-endian.
    #[error("not a BPF object: {0}")]
    WrongMachine(String),
    /// A section's contents could not be read.
    #[error("section `{section}`: {message}")]
    Section { section: String, message: String },
    /// A symbol is missing, out of range or of an unexpected kind.
    #[error("symbol `{symbol}`: {message}")]
    Symbol { symbol: String, message: String },
    /// A relocation could not be applied.
    #[error("section `{section}`, relocation at offset {offset:#x}: {message}")]
    Relocation {
        section: String,
        offset: u64,
        message: String,
    },
    /// `.BTF` or `.BTF.ext` is malformed.
    #[error("BTF: {0}")]
    Btf(String),
    /// A map definition is malformed.
    #[error("map `{map}`: {message}")]
    Map { map: String, message: String },
    /// A program's bytecode does not decode.
    #[error("program `{program}`: {source}")]
    Program {
        program: String,
        source: oxbpf_isa::IsaError,
    },
    /// A CO-RE relocation could not be applied.
    #[error("program `{program}`, instruction {index}: CO-RE relocation `{access}` on `{type_name}`: {message}")]
    Core {
        program: String,
        index: usize,
        type_name: String,
        access: String,
        message: String,
    },
    /// The requested program, map or variable does not exist.
    #[error("no {what} named `{name}`")]
    NotFound { what: &'static str, name: String },
    /// A value written into global data does not fit.
    #[error("global `{name}`: {message}")]
    Global { name: String, message: String },
}
