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
    /// Another system call (perf_event_open, ioctl, setsockopt, mmap, epoll) failed.
    #[error("{call} failed: {source}{hint}")]
    Os {
        call: String,
        source: std::io::Error,
        /// Advice for common causes, e.g. a missing capability.
        hint: String,
    },
    /// The kernel's verifier rejected a program; the log says why, and
    /// `at` names the failing instruction with its C source line (as oxbpf's
    /// verifier reports them).
    #[error("the kernel rejected program `{program}`: {source}\n{log}{at}")]
    Rejected {
        program: String,
        source: std::io::Error,
        log: String,
        /// `rejected at instruction N` and `source: FILE:LINE: TEXT` lines, or empty.
        at: String,
    },
    /// A key or value had the wrong length for its map.
    #[error("map `{map}`: the {what} is {got} bytes, the map takes {expected}")]
    Size {
        map: String,
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A file (tracefs, bpffs, an ELF binary) could not be read or made.
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A symbol to probe could not be found or placed in its binary.
    #[error("{path}: {message}")]
    Symbol {
        path: std::path::PathBuf,
        message: String,
    },
    /// The object uses something this backend does not load yet.
    #[error("{0}")]
    Unsupported(String),
    /// The object's program or map does not exist.
    #[error(transparent)]
    Object(#[from] oxbpf_object::ObjectError),
}

impl KernelError {
    /// The error for a failed non-bpf(2) call, with advice for permission errors.
    pub fn os(call: impl Into<String>, source: std::io::Error, capability: &str) -> KernelError {
        let hint = match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => format!(" (needs {capability})"),
            _ => String::new(),
        };
        KernelError::Os {
            call: call.into(),
            source,
            hint,
        }
    }

    /// Whether the failure was a missing privilege (EPERM or EACCES).
    pub fn is_permission(&self) -> bool {
        let src = match self {
            KernelError::Syscall { source, .. }
            | KernelError::Os { source, .. }
            | KernelError::Rejected { source, .. }
            | KernelError::Io { source, .. } => source,
            _ => return false,
        };
        matches!(src.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
    }

    /// For permission failures, the capability to ask for, e.g.
    /// `CAP_BPF (or CAP_SYS_ADMIN)`.
    pub fn missing_capability(&self) -> Option<String> {
        if !self.is_permission() {
            return None;
        }
        Some(match self {
            KernelError::Syscall { hint, .. } | KernelError::Os { hint, .. } => {
                // The hint is " (needs X)": drop the outer parentheses only,
                // so that X's own "(or CAP_SYS_ADMIN)" stays balanced.
                let h = hint.trim();
                let h = h
                    .strip_prefix('(')
                    .and_then(|h| h.strip_suffix(')'))
                    .unwrap_or(h);
                h.strip_prefix("needs ").unwrap_or(h).to_string()
            }
            KernelError::Rejected { .. } => {
                "CAP_BPF, plus CAP_NET_ADMIN or CAP_PERFMON for the program type".into()
            }
            _ => "CAP_SYS_ADMIN".into(),
        })
    }
}
