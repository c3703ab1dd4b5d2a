//! The crate's error type.

/// Why an object could not be prepared or a program could not run.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The object did not load.
    #[error(transparent)]
    Object(#[from] oxbpf_object::ObjectError),
    /// A map could not be created.
    #[error("map `{map}`: {source}")]
    Map {
        map: String,
        source: oxbpf_maps::MapError,
    },
    /// A program could not be loaded into the interpreter or failed while running.
    #[error("program `{program}`: {source}")]
    Vm {
        program: String,
        source: oxbpf_vm::VmError,
    },
    /// The JIT could not compile a program.
    #[error("program `{program}`: {source}")]
    Jit {
        program: String,
        source: Box<oxbpf_jit::JitError>,
    },
    /// oxbpf's verifier rejected a program (with `Engine::JitVerified`).
    #[error("program `{program}`: {reason}")]
    Rejected { program: String, reason: String },
    /// A program calls a helper the runtime does not implement and the host
    /// did not register (the kernel may still load it).
    #[error("program `{program}` calls bpf_{helper} (helper {id}), which oxbpf's runtime does not implement; register one with Runtime::register_helper")]
    UnimplementedHelper {
        program: String,
        id: i32,
        helper: &'static str,
    },
    /// A program refers to a map whose type is not implemented yet.
    #[error("program `{program}` uses map `{map}` of type {map_type}, which oxbpf does not implement yet")]
    UnsupportedMap {
        program: String,
        map: String,
        map_type: &'static str,
    },
    /// A program array would hold, or be called from, programs of two types;
    /// each was verified against its own context layout, so the kernel refuses it.
    #[error("program array `{map}` holds {owner} programs; `{program}` is a {found} program")]
    ProgArrayType {
        map: String,
        program: String,
        owner: &'static str,
        found: &'static str,
    },
    /// A map does not fit a map of maps' inner template.
    #[error("map `{inner}` cannot go in map of maps `{outer}`: {why}")]
    InnerMap {
        outer: String,
        inner: String,
        why: String,
    },
    /// The input does not fit the program type's context.
    #[error("context: {0}")]
    Context(String),
    /// The named program or map does not exist.
    #[error("no {what} named `{name}`")]
    NotFound { what: &'static str, name: String },
}
