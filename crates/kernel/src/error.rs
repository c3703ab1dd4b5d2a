//! The crate's error type.

/// Why a kernel operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A bpf(2) command failed.
    #[error("bpf({command}) failed: {source}{hint}")]
    Syscall {
        command: &'static str,
        source: std::io::Error,
        /// Advice for common causes, e.g. a missing capability.
        hint: String,
    },
    /// The kernel's verifier rejected a program; the log says why.
    #[error("the kernel rejected program `{program}`: {source}\n{log}")]
    Rejected {
        program: String,
        source: std::io::Error,
        log: String,
    },
    /// The object uses something this backend does not load yet.
    #[error("{0}")]
    Unsupported(String),
    /// The object's program or map does not exist.
    #[error(transparent)]
    Object(#[from] oxbpf_object::ObjectError),
}
