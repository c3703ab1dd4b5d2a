//! x86-64 registers and the mapping of BPF registers onto them.
//!
//! As in the kernel's JIT, r1..r5 sit in the System V argument registers, so a
//! helper call needs no shuffling, and r6..r9 in callee-saved registers, so
//! they survive it. r12 holds the run context; r9, r10 and r11 are scratch.

/// A general-purpose register, numbered as in its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Gpr {
    Rax = 0,
    Rcx = 1,
    Rdx = 2,
    Rbx = 3,
    Rsp = 4,
    Rbp = 5,
    Rsi = 6,
    Rdi = 7,
    R8 = 8,
    R9 = 9,
    R10 = 10,
    R11 = 11,
    R12 = 12,
    R13 = 13,
    R14 = 14,
    R15 = 15,
}

/// Where each BPF register r0..r10 lives.
pub const BPF_REGS: [Gpr; 11] = [
    Gpr::Rax, // r0: return value
    Gpr::Rdi, // r1..r5: arguments
    Gpr::Rsi,
    Gpr::Rdx,
    Gpr::Rcx,
    Gpr::R8,
    Gpr::Rbx, // r6..r9: callee-saved
    Gpr::R13,
    Gpr::R14,
    Gpr::R15,
    Gpr::Rbp, // r10: frame pointer
];

/// The run context (`JitContext`) pointer.
pub const CTX: Gpr = Gpr::R12;
/// Scratch registers, never BPF registers.
pub const TMP1: Gpr = Gpr::R11;
/// Second scratch register.
pub const TMP2: Gpr = Gpr::R10;
/// Third scratch register (also the sixth argument of host calls).
pub const TMP3: Gpr = Gpr::R9;

/// The host register of BPF register `r` (r0..r10; larger numbers never decode).
pub fn bpf(r: u8) -> Gpr {
    BPF_REGS[(r as usize).min(10)]
}
