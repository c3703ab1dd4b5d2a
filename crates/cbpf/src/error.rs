//! The crate's error type.

/// Why a classic BPF program, listing or capture file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum CbpfError {
    /// The program has no instructions.
    #[error("the program is empty")]
    EmptyProgram,
    /// The program is longer than the kernel's limit (`BPF_MAXINSNS`).
    #[error("the program has {len} instructions, more than the limit of {max}")]
    TooLong {
        /// Number of instructions.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The opcode names no classic BPF instruction.
    #[error("instruction {index}: unknown opcode {code:#06x}")]
    BadOpcode {
        /// Instruction index.
        index: usize,
        /// The opcode.
        code: u16,
    },
    /// A jump lands outside the program.
    #[error("instruction {index}: jump to {target} is outside the program ({len} instructions)")]
    JumpOutOfRange {
        /// Instruction index.
        index: usize,
        /// The target index.
        target: u64,
        /// Program length.
        len: usize,
    },
    /// A scratch memory access names a slot past `M[15]`.
    #[error("instruction {index}: memory slot M[{slot}] does not exist (there are 16)")]
    BadMemSlot {
        /// Instruction index.
        index: usize,
        /// The slot number.
        slot: u32,
    },
    /// Division or modulo by the constant 0.
    #[error("instruction {index}: division by the constant 0")]
    DivByZero {
        /// Instruction index.
        index: usize,
    },
    /// A constant shift by 32 or more.
    #[error("instruction {index}: shift by {k}, which is 32 or more")]
    ShiftTooLarge {
        /// Instruction index.
        index: usize,
        /// The shift amount.
        k: u32,
    },
    /// An absolute load in the kernel's ancillary area names no known field.
    #[error("instruction {index}: load at {k:#x} is in the kernel's ancillary area but names no field it knows")]
    UnknownAncillary {
        /// Instruction index.
        index: usize,
        /// The load offset.
        k: u32,
    },
    /// The program can reach its end without a `ret`.
    #[error("instruction {index}: execution can run past the end of the program")]
    FallsOffEnd {
        /// The index of the last instruction.
        index: usize,
    },
    /// A scratch memory slot may be read before anything was stored in it.
    #[error("instruction {index}: M[{slot}] may be read before it is written")]
    UninitializedMem {
        /// Instruction index.
        index: usize,
        /// The slot number.
        slot: u32,
    },
    /// A line of a tcpdump listing could not be parsed.
    #[error("line {line}, column {column}: {message}")]
    Listing {
        /// Line number (from 1).
        line: usize,
        /// Column number (from 1).
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// The translated eBPF program has a jump too long for eBPF's 16-bit offsets.
    #[error(
        "instruction {index}: the eBPF translation needs a jump longer than 32767 instructions"
    )]
    JumpTooFar {
        /// Classic instruction index.
        index: usize,
    },
    /// The VM refused the translated program (a bug in the translation).
    #[error("the VM rejected the translated program: {0}")]
    Load(String),
    /// A capture file could not be read.
    #[error("packet {packet} (byte offset {offset}): {message}")]
    PcapRead {
        /// Index of the packet being read (from 0).
        packet: u64,
        /// Byte offset in the file where the bad record starts.
        offset: u64,
        /// What was wrong.
        message: String,
    },
    /// A capture file could not be written.
    #[error("writing packet {packet}: {message}")]
    PcapWrite {
        /// Index of the packet being written (from 0).
        packet: u64,
        /// What was wrong.
        message: String,
    },
}
