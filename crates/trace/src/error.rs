//! Errors with their place in the script, and rustc-style rendering.

use std::fmt;

/// A place in the script: 1-based line and column, and a length in characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub col: u32,
    /// Characters the caret line underlines (at least one is drawn).
    pub len: u32,
}

impl Span {
    /// A span at `line`:`col` covering `len` characters.
    pub fn new(line: u32, col: u32, len: u32) -> Span {
        Span { line, col, len }
    }

    /// The span from the start of `self` to the end of `other` when both are on one line.
    pub fn to(self, other: Span) -> Span {
        if other.line == self.line && other.col >= self.col {
            Span {
                len: other.col + other.len - self.col,
                ..self
            }
        } else {
            self
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Why a script could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// A character or literal the lexer cannot read.
    #[error("{span}: {message}")]
    Lex { span: Span, message: String },
    /// The tokens do not form a script.
    #[error("{span}: expected {expected}, found {found}")]
    Parse {
        span: Span,
        expected: String,
        found: String,
    },
    /// A probe type or attach point that does not exist.
    #[error("{span}: unknown probe `{probe}`{hint}")]
    UnknownProbe {
        span: Span,
        probe: String,
        hint: String,
    },
    /// A tracepoint field that the tracepoint's format does not list.
    #[error("{span}: tracepoint {tracepoint} has no field `{field}` (it has: {fields})")]
    UnknownField {
        span: Span,
        field: String,
        tracepoint: String,
        fields: String,
    },
    /// A call to a function the language does not have.
    #[error("{span}: unknown function `{name}`")]
    UnknownFunction { span: Span, name: String },
    /// A name that is neither a builtin nor a known identifier.
    #[error("{span}: unknown identifier `{name}`")]
    UnknownIdent { span: Span, name: String },
    /// A value of the wrong type for where it is used.
    #[error("{span}: type mismatch: {message}")]
    TypeMismatch { span: Span, message: String },
    /// A map used with two different key types.
    #[error("{span}: map {map} is used with key type {second} here but with {first} before")]
    MapKeyMismatch {
        span: Span,
        map: String,
        first: String,
        second: String,
    },
    /// A function called with the wrong arguments or in the wrong place.
    #[error("{span}: {message}")]
    BadCall { span: Span, message: String },
    /// A construct this compiler does not support yet.
    #[error("{span}: not supported yet: {what}")]
    Unsupported { span: Span, what: String },
    /// The generated code needs more than the 512 bytes of stack a BPF program has.
    #[error("{span}: this needs {needed} bytes of BPF stack, more than the 512 a program has")]
    StackOverflow { span: Span, needed: usize },
    /// A tracepoint's format could not be read or understood.
    #[error("{span}: tracepoint {tracepoint}: {message}")]
    Tracefs {
        span: Span,
        tracepoint: String,
        message: String,
    },
    /// The verifier could not prove the program ends within its limits (a loop
    /// too long or without an end): a property of the script, not a compiler bug.
    #[error("{span}: the verifier cannot accept probe {probe}: {message}")]
    VerifierLimit {
        span: Span,
        probe: String,
        message: String,
    },
    /// oxbpf's verifier rejected a generated program: a bug in this compiler.
    #[error("{span}: compiler bug: the verifier rejected the code for probe {probe}: {message}")]
    Rejected {
        span: Span,
        probe: String,
        message: String,
    },
}

impl TraceError {
    /// Where in the script the error is.
    pub fn span(&self) -> Span {
        match self {
            TraceError::Lex { span, .. }
            | TraceError::Parse { span, .. }
            | TraceError::UnknownProbe { span, .. }
            | TraceError::UnknownField { span, .. }
            | TraceError::UnknownFunction { span, .. }
            | TraceError::UnknownIdent { span, .. }
            | TraceError::TypeMismatch { span, .. }
            | TraceError::MapKeyMismatch { span, .. }
            | TraceError::BadCall { span, .. }
            | TraceError::Unsupported { span, .. }
            | TraceError::StackOverflow { span, .. }
            | TraceError::Tracefs { span, .. }
            | TraceError::VerifierLimit { span, .. }
            | TraceError::Rejected { span, .. } => *span,
        }
    }

    /// The message without its position.
    pub fn message(&self) -> String {
        let text = self.to_string();
        let prefix = format!("{}: ", self.span());
        text.strip_prefix(&prefix).unwrap_or(&text).to_string()
    }

    /// The error as rustc prints one: the message, `file:line:col`, the line and a caret.
    pub fn render(&self, source: &str, file: &str) -> String {
        let span = self.span();
        let mut out = format!("error: {}\n", self.message());
        let gutter = span.line.to_string().len();
        let pad = " ".repeat(gutter);
        out.push_str(&format!("{pad}--> {file}:{}:{}\n", span.line, span.col));
        if let Some(text) = source.lines().nth(span.line.saturating_sub(1) as usize) {
            let col = span.col.saturating_sub(1) as usize;
            let lead: String = text
                .chars()
                .take(col)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let avail = text.chars().count().saturating_sub(col).max(1);
            let carets = "^".repeat((span.len as usize).clamp(1, avail));
            out.push_str(&format!(
                "{pad} |\n{} | {text}\n{pad} | {lead}{carets}\n",
                span.line
            ));
        }
        out
    }
}
