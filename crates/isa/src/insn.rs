//! The typed instruction model.

use std::fmt;

/// One of the eleven eBPF registers, `r0` to `r10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(u8);

impl Reg {
    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    /// The read-only frame pointer.
    pub const R10: Reg = Reg(10);

    /// The register numbered `n`, if `n` is at most 10.
    pub const fn new(n: u8) -> Option<Reg> {
        if n <= 10 {
            Some(Reg(n))
        } else {
            None
        }
    }

    /// The register number, 0 to 10.
    pub const fn num(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Operand width: the 32-bit (ALU, JMP32) or 64-bit (ALU64, JMP) class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    W32,
    W64,
}

/// The second operand of arithmetic and conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A source register (`BPF_X`).
    Reg(Reg),
    /// A 32-bit immediate (`BPF_K`), sign-extended where 64 bits are needed.
    Imm(i32),
}

/// Binary arithmetic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Signed division (offset 1).
    Sdiv,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    /// Signed modulo (offset 1).
    Smod,
    Xor,
    Mov,
    /// Move with sign extension from 8 bits.
    Movsx8,
    /// Move with sign extension from 16 bits.
    Movsx16,
    /// Move with sign extension from 32 bits (64-bit width only).
    Movsx32,
    Arsh,
}

impl AluOp {
    /// Every operation, for tables and tests.
    pub const ALL: [AluOp; 17] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Sdiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::Smod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Movsx8,
        AluOp::Movsx16,
        AluOp::Movsx32,
        AluOp::Arsh,
    ];

    /// The opcode's operation bits and the offset field that selects this operation.
    pub const fn code_and_offset(self) -> (u8, i16) {
        use crate::opcode::alu::*;
        match self {
            AluOp::Add => (ADD, 0),
            AluOp::Sub => (SUB, 0),
            AluOp::Mul => (MUL, 0),
            AluOp::Div => (DIV, 0),
            AluOp::Sdiv => (DIV, 1),
            AluOp::Or => (OR, 0),
            AluOp::And => (AND, 0),
            AluOp::Lsh => (LSH, 0),
            AluOp::Rsh => (RSH, 0),
            AluOp::Mod => (MOD, 0),
            AluOp::Smod => (MOD, 1),
            AluOp::Xor => (XOR, 0),
            AluOp::Mov => (MOV, 0),
            AluOp::Movsx8 => (MOV, 8),
            AluOp::Movsx16 => (MOV, 16),
            AluOp::Movsx32 => (MOV, 32),
            AluOp::Arsh => (ARSH, 0),
        }
    }

    /// Whether this operation exists at `width` with an operand of kind `is_reg`.
    pub const fn valid(self, width: Width, is_reg: bool) -> bool {
        match self {
            AluOp::Movsx8 | AluOp::Movsx16 => is_reg,
            AluOp::Movsx32 => is_reg && matches!(width, Width::W64),
            _ => true,
        }
    }
}

/// Byte-order operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Convert to little endian (`le16/32/64`, ALU class, source bit clear).
    Le,
    /// Convert to big endian (`be16/32/64`, ALU class, source bit set).
    Be,
    /// Unconditional byte swap (`bswap16/32/64`, ALU64 class).
    Swap,
}

/// Conditions of conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

impl JmpCond {
    /// Every condition, for tables and tests.
    pub const ALL: [JmpCond; 11] = [
        JmpCond::Eq,
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Set,
        JmpCond::Ne,
        JmpCond::Sgt,
        JmpCond::Sge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Slt,
        JmpCond::Sle,
    ];

    /// The opcode's operation bits.
    pub const fn code(self) -> u8 {
        use crate::opcode::jmp::*;
        match self {
            JmpCond::Eq => JEQ,
            JmpCond::Gt => JGT,
            JmpCond::Ge => JGE,
            JmpCond::Set => JSET,
            JmpCond::Ne => JNE,
            JmpCond::Sgt => JSGT,
            JmpCond::Sge => JSGE,
            JmpCond::Lt => JLT,
            JmpCond::Le => JLE,
            JmpCond::Slt => JSLT,
            JmpCond::Sle => JSLE,
        }
    }
}

/// Memory access sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    /// Every size, for tables and tests.
    pub const ALL: [Size; 4] = [Size::B, Size::H, Size::W, Size::DW];

    /// Size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// The opcode's size bits.
    pub const fn code(self) -> u8 {
        use crate::opcode::size::*;
        match self {
            Size::B => B,
            Size::H => H,
            Size::W => W,
            Size::DW => DW,
        }
    }

    /// The C type name used in disassembly (`u8` ... `u64`).
    pub const fn c_type(self, signed: bool) -> &'static str {
        match (self, signed) {
            (Size::B, false) => "u8",
            (Size::H, false) => "u16",
            (Size::W, false) => "u32",
            (Size::DW, false) => "u64",
            (Size::B, true) => "s8",
            (Size::H, true) => "s16",
            (Size::W, true) => "s32",
            (Size::DW, true) => "s64",
        }
    }
}

/// Atomic read-modify-write operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `+=`, optionally fetching the old value into the source register.
    Add {
        fetch: bool,
    },
    Or {
        fetch: bool,
    },
    And {
        fetch: bool,
    },
    Xor {
        fetch: bool,
    },
    /// Exchange: the old value goes to the source register.
    Xchg,
    /// Compare with r0 and exchange: the old value goes to r0.
    Cmpxchg,
}

impl AtomicOp {
    /// Every operation, for tables and tests.
    pub const ALL: [AtomicOp; 10] = [
        AtomicOp::Add { fetch: false },
        AtomicOp::Or { fetch: false },
        AtomicOp::And { fetch: false },
        AtomicOp::Xor { fetch: false },
        AtomicOp::Add { fetch: true },
        AtomicOp::Or { fetch: true },
        AtomicOp::And { fetch: true },
        AtomicOp::Xor { fetch: true },
        AtomicOp::Xchg,
        AtomicOp::Cmpxchg,
    ];

    /// The immediate that encodes this operation.
    pub const fn imm(self) -> i32 {
        use crate::opcode::atomic::*;
        const fn f(fetch: bool) -> i32 {
            if fetch {
                FETCH
            } else {
                0
            }
        }
        match self {
            AtomicOp::Add { fetch } => ADD | f(fetch),
            AtomicOp::Or { fetch } => OR | f(fetch),
            AtomicOp::And { fetch } => AND | f(fetch),
            AtomicOp::Xor { fetch } => XOR | f(fetch),
            AtomicOp::Xchg => XCHG,
            AtomicOp::Cmpxchg => CMPXCHG,
        }
    }

    /// The operation an immediate encodes, if any.
    pub const fn from_imm(imm: i32) -> Option<AtomicOp> {
        use crate::opcode::atomic::*;
        let fetch = imm & FETCH != 0;
        Some(match imm {
            XCHG => AtomicOp::Xchg,
            CMPXCHG => AtomicOp::Cmpxchg,
            _ => match imm & !FETCH {
                ADD => AtomicOp::Add { fetch },
                OR => AtomicOp::Or { fetch },
                AND => AtomicOp::And { fetch },
                XOR => AtomicOp::Xor { fetch },
                _ => return None,
            },
        })
    }
}

/// What a `call` instruction calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// A helper function; the immediate is its id.
    Helper,
    /// A BPF-to-BPF call; the immediate is the pc-relative target.
    Local,
    /// A kernel function; the immediate is its BTF id.
    Kfunc,
}

/// The pseudo source of a 64-bit immediate load (`lddw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LddwSrc {
    /// 0: a plain 64-bit immediate.
    Imm64,
    /// 1: the map whose file descriptor is the low 32 bits.
    MapFd,
    /// 2: the value of the map whose fd is the low 32 bits, plus the offset in the high 32 bits.
    MapValue,
    /// 3: the address of the kernel variable with BTF id in the low 32 bits.
    VarAddr,
    /// 4: the address of the instruction at the pc-relative offset in the low 32 bits.
    CodeAddr,
    /// 5: the map whose index in the program's map table is the low 32 bits.
    MapIdx,
    /// 6: the value of the map with index in the low 32 bits, plus the offset in the high 32 bits.
    MapIdxValue,
}

impl LddwSrc {
    /// Every pseudo source, for tables and tests.
    pub const ALL: [LddwSrc; 7] = [
        LddwSrc::Imm64,
        LddwSrc::MapFd,
        LddwSrc::MapValue,
        LddwSrc::VarAddr,
        LddwSrc::CodeAddr,
        LddwSrc::MapIdx,
        LddwSrc::MapIdxValue,
    ];

    /// The src register field value.
    pub const fn code(self) -> u8 {
        match self {
            LddwSrc::Imm64 => 0,
            LddwSrc::MapFd => 1,
            LddwSrc::MapValue => 2,
            LddwSrc::VarAddr => 3,
            LddwSrc::CodeAddr => 4,
            LddwSrc::MapIdx => 5,
            LddwSrc::MapIdxValue => 6,
        }
    }

    /// The pseudo source for a src register field value.
    pub const fn from_code(code: u8) -> Option<LddwSrc> {
        if (code as usize) < Self::ALL.len() {
            Some(Self::ALL[code as usize])
        } else {
            None
        }
    }

    /// The function-like name used in assembly for the non-immediate forms.
    pub const fn name(self) -> &'static str {
        match self {
            LddwSrc::Imm64 => "imm64",
            LddwSrc::MapFd => "map_fd",
            LddwSrc::MapValue => "map_value",
            LddwSrc::VarAddr => "btf_var",
            LddwSrc::CodeAddr => "code_addr",
            LddwSrc::MapIdx => "map_idx",
            LddwSrc::MapIdxValue => "map_idx_value",
        }
    }
}

/// One eBPF instruction. `Lddw` occupies two 8-byte slots; every other instruction one.
///
/// Jump and call offsets count slots, relative to the slot after the instruction,
/// exactly as encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    /// `dst op= src` (ALU or ALU64 class).
    Alu {
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Operand,
    },
    /// `dst = -dst`.
    Neg { width: Width, dst: Reg },
    /// Byte-order conversion of the low `bits` (16, 32 or 64) of `dst`.
    End {
        order: ByteOrder,
        bits: u8,
        dst: Reg,
    },
    /// Unconditional jump with a 16-bit offset (`goto`).
    Ja { off: i16 },
    /// Unconditional jump with a 32-bit offset in the immediate (`gotol`, JMP32 class).
    Ja32 { imm: i32 },
    /// Conditional jump.
    Jmp {
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Operand,
        off: i16,
    },
    /// Call a helper, a local function or a kfunc.
    Call { kind: CallKind, imm: i32 },
    /// Call the helper whose id is in a register (opcode 0x8d, register in dst).
    Callx { reg: Reg },
    /// Return r0 from the current function.
    Exit,
    /// `dst = *(size *)(src + off)`, sign-extending when `signed`.
    Ldx {
        size: Size,
        signed: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// `*(size *)(dst + off) = imm`.
    St {
        size: Size,
        dst: Reg,
        off: i16,
        imm: i32,
    },
    /// `*(size *)(dst + off) = src`.
    Stx {
        size: Size,
        dst: Reg,
        off: i16,
        src: Reg,
    },
    /// Atomic read-modify-write of a 32- or 64-bit word at `dst + off`.
    Atomic {
        size: Size,
        op: AtomicOp,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// 64-bit immediate load (two slots).
    Lddw { dst: Reg, src: LddwSrc, imm: u64 },
    /// Legacy packet load `r0 = ntoh(*(size *)(pkt + imm))`.
    LdAbs { size: Size, imm: i32 },
    /// Legacy packet load `r0 = ntoh(*(size *)(pkt + src + imm))`.
    LdInd { size: Size, src: Reg, imm: i32 },
}

impl Insn {
    /// Number of 8-byte slots the instruction occupies.
    pub const fn slots(&self) -> usize {
        match self {
            Insn::Lddw { .. } => 2,
            _ => 1,
        }
    }

    /// The slot-relative jump offset of a jump, if it is one (`Ja32` included).
    pub const fn jump_offset(&self) -> Option<i64> {
        match *self {
            Insn::Ja { off } | Insn::Jmp { off, .. } => Some(off as i64),
            Insn::Ja32 { imm } => Some(imm as i64),
            _ => None,
        }
    }
}
