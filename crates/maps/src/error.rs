//! The crate's error type.

/// Why a map operation failed; each variant carries the kernel's errno.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The key is not in the map (ENOENT).
    #[error("no such key")]
    NotFound,
    /// BPF_NOEXIST was given and the key exists (EEXIST).
    #[error("key already exists")]
    Exists,
    /// The map is full (E2BIG), or an index is past max_entries.
    #[error("map is full or index out of range")]
    TooBig,
    /// A key, value or flag argument is malformed (EINVAL).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The operation does not apply to this map type (ENOTSUPP).
    #[error("operation not supported by {0} maps")]
    NotSupported(&'static str),
    /// The map is read-only to whoever asked: frozen or `BPF_F_RDONLY` for the
    /// host, `BPF_F_RDONLY_PROG` for programs (EPERM).
    #[error("map `{map}` is {}", if *frozen { "frozen" } else { "read-only" })]
    ReadOnly { map: String, frozen: bool },
    /// A ring buffer has no room for the record (ENOSPC is what callers see as a NULL reserve).
    #[error("ring buffer is full")]
    NoSpace,
}

impl MapError {
    /// The positive errno value the kernel would return.
    pub fn errno(&self) -> i32 {
        match self {
            MapError::NotFound => 2,
            MapError::Exists => 17,
            MapError::TooBig => 7,
            MapError::Invalid(_) => 22,
            MapError::NotSupported(_) => 524,
            MapError::NoSpace => 28,
            MapError::ReadOnly { .. } => 1,
        }
    }
}
