//! AArch64 registers and the mapping of BPF registers onto them.
//!
//! As in the kernel's arm64 JIT (and per AAPCS64), r1..r5 sit in the
//! argument registers x0..x4, so a helper call needs no shuffling; r6..r9
//! and the frame pointer r10 in callee-saved registers (x19..x22, x25), so
//! they survive host calls; r0 in x7. x26 holds the run context; x9..x17
//! are scratch.

/// A general-purpose register x0..x30; 31 is `sp` or `xzr` by instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Xreg(pub u8);

impl Xreg {
    /// The register's number in an encoding.
    pub fn num(self) -> u32 {
        self.0 as u32
    }
}

/// The zero register (number 31 where an instruction reads it as `xzr`).
pub const XZR: Xreg = Xreg(31);
/// The stack pointer (number 31 where an instruction reads it as `sp`).
pub const SP: Xreg = Xreg(31);
/// The link register.
pub const LR: Xreg = Xreg(30);
/// The frame-record register of the host ABI.
pub const FP: Xreg = Xreg(29);

/// Where each BPF register r0..r10 lives.
pub const BPF_REGS: [Xreg; 11] = [
    Xreg(7), // r0: return value
    Xreg(0), // r1..r5: arguments
    Xreg(1),
    Xreg(2),
    Xreg(3),
    Xreg(4),
    Xreg(19), // r6..r9: callee-saved
    Xreg(20),
    Xreg(21),
    Xreg(22),
    Xreg(25), // r10: frame pointer
];

/// The run context (`JitContext`) pointer.
pub const CTX: Xreg = Xreg(26);
/// Scratch: addresses of checked accesses and atomics.
pub const TMP1: Xreg = Xreg(10);
/// Scratch: check offsets and check reports.
pub const TMP2: Xreg = Xreg(11);
/// Scratch.
pub const TMP3: Xreg = Xreg(12);
/// Scratch.
pub const TMP4: Xreg = Xreg(13);
/// Constants that do not fit an instruction, and blinded constants.
pub const IMM: Xreg = Xreg(9);
/// The key of a blinded constant.
pub const KEY: Xreg = Xreg(17);
/// Offsets of loads and stores that do not fit an instruction.
pub const OFF: Xreg = Xreg(16);

/// The host register of BPF register `r` (r0..r10; larger numbers never decode).
pub fn bpf(r: u8) -> Xreg {
    BPF_REGS[(r as usize).min(10)]
}
