//! The crate's error type.

use oxbpf_isa::IsaError;

/// Why a program could not be loaded or stopped with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmError {
    /// The bytecode does not decode.
    #[error(transparent)]
    Decode(#[from] IsaError),
    /// The program has no instructions.
    #[error("the program is empty")]
    EmptyProgram,
    /// A jump or call leaves the program.
    #[error("instruction {index}: jump target {target} is outside the program (0..{len})")]
    JumpOutOfRange {
        index: usize,
        target: i64,
        len: usize,
    },
    /// A jump or call lands on the second half of an lddw.
    #[error("instruction {index}: jump target {target} is the middle of an lddw")]
    JumpIntoLddw { index: usize, target: usize },
    /// A call names a helper that is not registered.
    #[error("instruction {index}: call to helper {id}{}, which is not registered", oxbpf_isa::helper_name(*id).map(|n| format!(" (bpf_{n})")).unwrap_or_default())]
    UnknownHelper { index: usize, id: i32 },
    /// The instruction needs something the interpreter does not provide here.
    #[error("instruction {index}: {what} is not supported by the interpreter")]
    Unsupported { index: usize, what: &'static str },
    /// A load, store or atomic touched memory outside every region the program was given.
    #[error(
        "instruction {pc}: {len}-byte {kind} at {addr:#x} is outside the program's memory{where_}"
    )]
    OutOfBounds {
        pc: usize,
        addr: u64,
        len: usize,
        kind: &'static str,
        /// Where the address lies relative to the regions, e.g. ` (2 bytes past the end of the input memory)`.
        where_: String,
    },
    /// An atomic operation's address is not aligned to its size.
    #[error("instruction {pc}: misaligned {len}-byte atomic at {addr:#x}")]
    MisalignedAtomic { pc: usize, addr: u64, len: usize },
    /// A BPF-to-BPF call would exceed 8 frames.
    #[error("instruction {pc}: call depth exceeds {max} frames")]
    CallDepth { pc: usize, max: usize },
    /// Execution ran past the last instruction without an exit.
    #[error("instruction {pc}: execution fell off the end of the program")]
    FellOffEnd { pc: usize },
    /// The instruction budget ran out.
    #[error("instruction {pc}: instruction budget of {budget} exhausted")]
    BudgetExhausted { pc: usize, budget: u64 },
    /// A callx register holds no registered helper id.
    #[error("instruction {pc}: callx to {value:#x}, which is not a registered helper")]
    BadCallx { pc: usize, value: u64 },
    /// A helper reported an error.
    #[error("instruction {pc}: helper {id} failed: {message}")]
    Helper { pc: usize, id: u32, message: String },
    /// Too many memory regions were supplied.
    #[error("too many memory regions ({count}); at most {max}")]
    TooManyRegions { count: usize, max: usize },
}
