//! The CLI's error type.

use std::path::PathBuf;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Bytecode or assembly was invalid.
    #[error("{context}: {source}")]
    Isa {
        context: String,
        source: oxbpf_isa::IsaError,
    },
    /// An ELF object could not be loaded.
    #[error("{context}: {source}")]
    Object {
        context: String,
        source: Box<oxbpf_object::ObjectError>,
    },
    /// The program could not be loaded or failed at run time.
    #[error(transparent)]
    Vm(#[from] oxbpf_vm::VmError),
    /// The JIT could not compile the program.
    #[error(transparent)]
    Jit(#[from] oxbpf_jit::JitError),
    /// An argument or input was malformed.
    #[error("{0}")]
    Input(String),
}
