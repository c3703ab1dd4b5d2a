//! The error type of the filter compiler.

/// Why a filter expression could not be compiled. Every variant carries the
/// byte offset of the offending token (`column()` gives it 1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The expression is not valid filter syntax.
    #[error("column {}: syntax error: {message}", pos + 1)]
    Syntax {
        /// Byte offset of the offending token.
        pos: usize,
        /// What was wrong.
        message: String,
    },
    /// A port, service, protocol or Ethernet type name that is not in
    /// oxbpf's built-in tables.
    #[error("column {}: unknown {kind} '{name}'", pos + 1)]
    UnknownName {
        /// Byte offset of the name.
        pos: usize,
        /// What the name should have named (host, port, protocol, ...).
        kind: &'static str,
        /// The name as written.
        name: String,
    },
    /// A host, network or Ethernet host given by name: oxbpf never resolves
    /// names (no DNS, no /etc/hosts, /etc/networks or /etc/ethers).
    #[error("column {}: unknown {kind} '{name}' (names are not resolved; use an address)", pos + 1)]
    Unresolved {
        /// Byte offset of the name.
        pos: usize,
        /// host, network or ether host.
        kind: &'static str,
        /// The name as written.
        name: String,
    },
    /// A well-formed primitive that makes no sense here (a qualifier that
    /// does not apply, a value out of range, a link type without the field).
    #[error("column {}: {message}", pos + 1)]
    Invalid {
        /// Byte offset of the primitive.
        pos: usize,
        /// What was wrong, in libpcap's words where it has them.
        message: String,
    },
    /// The whole filter can never match.
    #[error("column 1: expression rejects all packets")]
    RejectsAll,
    /// The program needs more than the 16 scratch memory slots, or has too
    /// many instructions for classic BPF.
    #[error("column {}: {message}", pos + 1)]
    TooComplex {
        /// Byte offset of the construct that ran out of room.
        pos: usize,
        /// What ran out.
        message: String,
    },
}

impl FilterError {
    pub(crate) fn syntax(pos: usize, message: impl Into<String>) -> FilterError {
        FilterError::Syntax {
            pos,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(pos: usize, message: impl Into<String>) -> FilterError {
        FilterError::Invalid {
            pos,
            message: message.into(),
        }
    }

    /// The 1-based column (byte offset + 1) of the offending token.
    pub fn column(&self) -> usize {
        match self {
            FilterError::Syntax { pos, .. }
            | FilterError::UnknownName { pos, .. }
            | FilterError::Unresolved { pos, .. }
            | FilterError::Invalid { pos, .. }
            | FilterError::TooComplex { pos, .. } => pos + 1,
            FilterError::RejectsAll => 1,
        }
    }
}
