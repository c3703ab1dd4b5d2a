//! Encoding to and decoding from the 8-byte wire format.

use crate::error::IsaError;
use crate::insn::*;
use crate::opcode::{self, alu, class, jmp, mode, source};

/// One 8-byte instruction slot exactly as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RawInsn {
    pub opcode: u8,
    /// Destination register field (low nibble of byte 1).
    pub dst: u8,
    /// Source register field (high nibble of byte 1).
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl RawInsn {
    /// Little-endian bytes of the slot.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.opcode;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// The slot stored in `b`.
    pub fn from_bytes(b: [u8; 8]) -> RawInsn {
        RawInsn {
            opcode: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

fn raw(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
    RawInsn {
        opcode,
        dst,
        src,
        off,
        imm,
    }
}

fn width_class(width: Width, w32: u8, w64: u8) -> u8 {
    match width {
        Width::W32 => w32,
        Width::W64 => w64,
    }
}

fn operand_fields(src: Operand) -> (u8, u8, i32) {
    match src {
        Operand::Reg(r) => (source::X, r.num(), 0),
        Operand::Imm(i) => (source::K, 0, i),
    }
}

impl Insn {
    /// The one or two raw slots of this instruction.
    ///
    /// Instructions built outside the decoder may combine fields that RFC 9669
    /// does not define (such as a 32-bit `Movsx32`); they encode as-is and the
    /// decoder rejects them.
    pub fn encode(&self) -> Vec<RawInsn> {
        let one = |r: RawInsn| vec![r];
        match *self {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let (code, off) = op.code_and_offset();
                let (sbit, sreg, imm) = operand_fields(src);
                let cls = width_class(width, class::ALU, class::ALU64);
                one(raw(code | sbit | cls, dst.num(), sreg, off, imm))
            }
            Insn::Neg { width, dst } => one(raw(
                alu::NEG | width_class(width, class::ALU, class::ALU64),
                dst.num(),
                0,
                0,
                0,
            )),
            Insn::End { order, bits, dst } => {
                let opcode = match order {
                    ByteOrder::Le => alu::END | source::K | class::ALU,
                    ByteOrder::Be => alu::END | source::X | class::ALU,
                    ByteOrder::Swap => alu::END | class::ALU64,
                };
                one(raw(opcode, dst.num(), 0, 0, bits as i32))
            }
            Insn::Ja { off } => one(raw(jmp::JA | class::JMP, 0, 0, off, 0)),
            Insn::Ja32 { imm } => one(raw(jmp::JA | class::JMP32, 0, 0, 0, imm)),
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let (sbit, sreg, imm) = operand_fields(src);
                let cls = width_class(width, class::JMP32, class::JMP);
                one(raw(cond.code() | sbit | cls, dst.num(), sreg, off, imm))
            }
            Insn::Call { kind, imm } => {
                let src = match kind {
                    CallKind::Helper => opcode::call::HELPER,
                    CallKind::Local => opcode::call::LOCAL,
                    CallKind::Kfunc => opcode::call::KFUNC,
                };
                one(raw(jmp::CALL | class::JMP, 0, src, 0, imm))
            }
            Insn::Callx { reg } => one(raw(jmp::CALL | source::X | class::JMP, reg.num(), 0, 0, 0)),
            Insn::Exit => one(raw(jmp::EXIT | class::JMP, 0, 0, 0, 0)),
            Insn::Ldx {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let m = if signed { mode::MEMSX } else { mode::MEM };
                one(raw(
                    m | size.code() | class::LDX,
                    dst.num(),
                    src.num(),
                    off,
                    0,
                ))
            }
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => one(raw(
                mode::MEM | size.code() | class::ST,
                dst.num(),
                0,
                off,
                imm,
            )),
            Insn::Stx {
                size,
                dst,
                off,
                src,
            } => one(raw(
                mode::MEM | size.code() | class::STX,
                dst.num(),
                src.num(),
                off,
                0,
            )),
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => one(raw(
                mode::ATOMIC | size.code() | class::STX,
                dst.num(),
                src.num(),
                off,
                op.imm(),
            )),
            Insn::Lddw { dst, src, imm } => vec![
                raw(
                    mode::IMM | opcode::size::DW | class::LD,
                    dst.num(),
                    src.code(),
                    0,
                    imm as u32 as i32,
                ),
                raw(0, 0, 0, 0, (imm >> 32) as u32 as i32),
            ],
            Insn::LdAbs { size, imm } => {
                one(raw(mode::ABS | size.code() | class::LD, 0, 0, 0, imm))
            }
            Insn::LdInd { size, src, imm } => one(raw(
                mode::IND | size.code() | class::LD,
                0,
                src.num(),
                0,
                imm,
            )),
        }
    }

    /// Appends the instruction's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        for r in self.encode() {
            out.extend_from_slice(&r.to_bytes());
        }
    }
}

/// Encodes a sequence of instructions to bytecode.
pub fn encode_program(insns: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * 8);
    for i in insns {
        i.encode_into(&mut out);
    }
    out
}

/// Splits bytecode into raw slots.
pub fn raw_slots(bytes: &[u8]) -> Result<Vec<RawInsn>, IsaError> {
    let trailing = bytes.len() % 8;
    if trailing != 0 {
        return Err(IsaError::TrailingBytes {
            len: bytes.len(),
            trailing,
            offset: bytes.len() - trailing,
        });
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| RawInsn::from_bytes(c.try_into().expect("chunk of 8")))
        .collect())
}

struct Checker {
    index: usize,
    r: RawInsn,
}

impl Checker {
    fn zero(&self, field: &'static str, value: i64) -> Result<(), IsaError> {
        self.expect(field, value == 0, "0", value)
    }

    fn expect(
        &self,
        field: &'static str,
        ok: bool,
        expected: &'static str,
        found: i64,
    ) -> Result<(), IsaError> {
        if ok {
            Ok(())
        } else {
            Err(IsaError::BadField {
                index: self.index,
                opcode: self.r.opcode,
                field,
                expected,
                found,
            })
        }
    }

    fn reg(&self, field: &'static str, n: u8) -> Result<Reg, IsaError> {
        Reg::new(n).ok_or(IsaError::BadRegister {
            index: self.index,
            field,
            reg: n,
        })
    }

    fn dst(&self) -> Result<Reg, IsaError> {
        self.reg("dst", self.r.dst)
    }

    fn src(&self) -> Result<Reg, IsaError> {
        self.reg("src", self.r.src)
    }

    fn unknown(&self) -> IsaError {
        IsaError::UnknownOpcode {
            index: self.index,
            opcode: self.r.opcode,
        }
    }

    /// The operand of an ALU/JMP opcode, checking the unused field is zero.
    fn operand(&self) -> Result<Operand, IsaError> {
        if self.r.opcode & source::X != 0 {
            self.zero("imm", self.r.imm as i64)?;
            Ok(Operand::Reg(self.src()?))
        } else {
            self.zero("src", self.r.src as i64)?;
            Ok(Operand::Imm(self.r.imm))
        }
    }
}

fn size_of(opcode: u8) -> Size {
    match opcode & 0x18 {
        opcode::size::W => Size::W,
        opcode::size::H => Size::H,
        opcode::size::B => Size::B,
        _ => Size::DW,
    }
}

/// Decodes one instruction starting at slot `index` of `slots`.
///
/// Returns the instruction; it consumes [`Insn::slots`] slots.
pub fn decode_at(slots: &[RawInsn], index: usize) -> Result<Insn, IsaError> {
    let r = slots[index];
    let c = Checker { index, r };
    let op = r.opcode;
    match opcode::class_of(op) {
        cls @ (class::ALU | class::ALU64) => {
            let width = if cls == class::ALU64 {
                Width::W64
            } else {
                Width::W32
            };
            let code = op & 0xf0;
            match code {
                alu::NEG => {
                    c.zero("source bit", (op & source::X) as i64)?;
                    c.zero("src", r.src as i64)?;
                    c.zero("off", r.off as i64)?;
                    c.zero("imm", r.imm as i64)?;
                    Ok(Insn::Neg {
                        width,
                        dst: c.dst()?,
                    })
                }
                alu::END => {
                    let order = match (cls, op & source::X) {
                        (class::ALU, source::K) => ByteOrder::Le,
                        (class::ALU, _) => ByteOrder::Be,
                        (_, source::K) => ByteOrder::Swap,
                        _ => return Err(c.unknown()),
                    };
                    c.zero("src", r.src as i64)?;
                    c.zero("off", r.off as i64)?;
                    c.expect(
                        "imm",
                        matches!(r.imm, 16 | 32 | 64),
                        "16, 32 or 64",
                        r.imm as i64,
                    )?;
                    Ok(Insn::End {
                        order,
                        bits: r.imm as u8,
                        dst: c.dst()?,
                    })
                }
                0xe0 | 0xf0 => Err(c.unknown()),
                _ => {
                    let src = c.operand()?;
                    let is_reg = matches!(src, Operand::Reg(_));
                    let aop = match (code, r.off) {
                        (alu::ADD, 0) => AluOp::Add,
                        (alu::SUB, 0) => AluOp::Sub,
                        (alu::MUL, 0) => AluOp::Mul,
                        (alu::DIV, 0) => AluOp::Div,
                        (alu::DIV, 1) => AluOp::Sdiv,
                        (alu::OR, 0) => AluOp::Or,
                        (alu::AND, 0) => AluOp::And,
                        (alu::LSH, 0) => AluOp::Lsh,
                        (alu::RSH, 0) => AluOp::Rsh,
                        (alu::MOD, 0) => AluOp::Mod,
                        (alu::MOD, 1) => AluOp::Smod,
                        (alu::XOR, 0) => AluOp::Xor,
                        (alu::MOV, 0) => AluOp::Mov,
                        (alu::MOV, 8) if is_reg => AluOp::Movsx8,
                        (alu::MOV, 16) if is_reg => AluOp::Movsx16,
                        (alu::MOV, 32) if is_reg && width == Width::W64 => AluOp::Movsx32,
                        (alu::ARSH, 0) => AluOp::Arsh,
                        (alu::DIV | alu::MOD, _) => {
                            return Err(c.expect("off", false, "0 or 1", r.off as i64).unwrap_err())
                        }
                        (alu::MOV, _) => {
                            let expected = match (is_reg, width) {
                                (false, _) => "0",
                                (true, Width::W32) => "0, 8 or 16",
                                (true, Width::W64) => "0, 8, 16 or 32",
                            };
                            return Err(c
                                .expect("off", false, expected, r.off as i64)
                                .unwrap_err());
                        }
                        _ => return Err(c.expect("off", false, "0", r.off as i64).unwrap_err()),
                    };
                    Ok(Insn::Alu {
                        width,
                        op: aop,
                        dst: c.dst()?,
                        src,
                    })
                }
            }
        }
        cls @ (class::JMP | class::JMP32) => {
            let width = if cls == class::JMP {
                Width::W64
            } else {
                Width::W32
            };
            let code = op & 0xf0;
            let cond = match code {
                jmp::JA => {
                    c.zero("source bit", (op & source::X) as i64)?;
                    c.zero("dst", r.dst as i64)?;
                    c.zero("src", r.src as i64)?;
                    return if cls == class::JMP {
                        c.zero("imm", r.imm as i64)?;
                        Ok(Insn::Ja { off: r.off })
                    } else {
                        c.zero("off", r.off as i64)?;
                        Ok(Insn::Ja32 { imm: r.imm })
                    };
                }
                jmp::CALL if cls == class::JMP => {
                    c.zero("off", r.off as i64)?;
                    if op & source::X != 0 {
                        c.zero("src", r.src as i64)?;
                        c.zero("imm", r.imm as i64)?;
                        return Ok(Insn::Callx { reg: c.dst()? });
                    }
                    c.zero("dst", r.dst as i64)?;
                    let kind = match r.src {
                        opcode::call::HELPER => CallKind::Helper,
                        opcode::call::LOCAL => CallKind::Local,
                        opcode::call::KFUNC => CallKind::Kfunc,
                        s => {
                            return Err(c.expect("src", false, "0, 1 or 2", s as i64).unwrap_err())
                        }
                    };
                    return Ok(Insn::Call { kind, imm: r.imm });
                }
                jmp::EXIT if cls == class::JMP => {
                    c.zero("source bit", (op & source::X) as i64)?;
                    c.zero("dst", r.dst as i64)?;
                    c.zero("src", r.src as i64)?;
                    c.zero("off", r.off as i64)?;
                    c.zero("imm", r.imm as i64)?;
                    return Ok(Insn::Exit);
                }
                jmp::JEQ => JmpCond::Eq,
                jmp::JGT => JmpCond::Gt,
                jmp::JGE => JmpCond::Ge,
                jmp::JSET => JmpCond::Set,
                jmp::JNE => JmpCond::Ne,
                jmp::JSGT => JmpCond::Sgt,
                jmp::JSGE => JmpCond::Sge,
                jmp::JLT => JmpCond::Lt,
                jmp::JLE => JmpCond::Le,
                jmp::JSLT => JmpCond::Slt,
                jmp::JSLE => JmpCond::Sle,
                _ => return Err(c.unknown()),
            };
            let src = c.operand()?;
            Ok(Insn::Jmp {
                width,
                cond,
                dst: c.dst()?,
                src,
                off: r.off,
            })
        }
        class::LDX => {
            let signed = match op & 0xe0 {
                mode::MEM => false,
                mode::MEMSX if op & 0x18 != opcode::size::DW => true,
                _ => return Err(c.unknown()),
            };
            c.zero("imm", r.imm as i64)?;
            Ok(Insn::Ldx {
                size: size_of(op),
                signed,
                dst: c.dst()?,
                src: c.src()?,
                off: r.off,
            })
        }
        class::ST => {
            if op & 0xe0 != mode::MEM {
                return Err(c.unknown());
            }
            c.zero("src", r.src as i64)?;
            Ok(Insn::St {
                size: size_of(op),
                dst: c.dst()?,
                off: r.off,
                imm: r.imm,
            })
        }
        class::STX => match op & 0xe0 {
            mode::MEM => {
                c.zero("imm", r.imm as i64)?;
                Ok(Insn::Stx {
                    size: size_of(op),
                    dst: c.dst()?,
                    off: r.off,
                    src: c.src()?,
                })
            }
            mode::ATOMIC if matches!(op & 0x18, opcode::size::W | opcode::size::DW) => {
                let aop = AtomicOp::from_imm(r.imm).ok_or(IsaError::BadField {
                    index,
                    opcode: op,
                    field: "imm",
                    expected: "an atomic operation",
                    found: r.imm as i64,
                })?;
                Ok(Insn::Atomic {
                    size: size_of(op),
                    op: aop,
                    dst: c.dst()?,
                    src: c.src()?,
                    off: r.off,
                })
            }
            _ => Err(c.unknown()),
        },
        _ => {
            // class::LD
            match op & 0xe0 {
                mode::IMM if op & 0x18 == opcode::size::DW => {
                    let hi = *slots
                        .get(index + 1)
                        .ok_or(IsaError::TruncatedLddw { index })?;
                    let c2 = Checker {
                        index: index + 1,
                        r: hi,
                    };
                    c2.zero("opcode of lddw second half", hi.opcode as i64)?;
                    c2.zero("dst of lddw second half", hi.dst as i64)?;
                    c2.zero("src of lddw second half", hi.src as i64)?;
                    c2.zero("off of lddw second half", hi.off as i64)?;
                    c.zero("off", r.off as i64)?;
                    let src = LddwSrc::from_code(r.src).ok_or(IsaError::BadField {
                        index,
                        opcode: op,
                        field: "src",
                        expected: "a pseudo source 0 to 6",
                        found: r.src as i64,
                    })?;
                    let imm = (r.imm as u32 as u64) | ((hi.imm as u32 as u64) << 32);
                    Ok(Insn::Lddw {
                        dst: c.dst()?,
                        src,
                        imm,
                    })
                }
                m @ (mode::ABS | mode::IND) if op & 0x18 != opcode::size::DW => {
                    c.zero("dst", r.dst as i64)?;
                    c.zero("off", r.off as i64)?;
                    if m == mode::ABS {
                        c.zero("src", r.src as i64)?;
                        Ok(Insn::LdAbs {
                            size: size_of(op),
                            imm: r.imm,
                        })
                    } else {
                        Ok(Insn::LdInd {
                            size: size_of(op),
                            src: c.src()?,
                            imm: r.imm,
                        })
                    }
                }
                _ => Err(c.unknown()),
            }
        }
    }
}

/// Decodes a whole program. Each entry is the slot index and its instruction.
pub fn decode_program(bytes: &[u8]) -> Result<Vec<(usize, Insn)>, IsaError> {
    let slots = raw_slots(bytes)?;
    let mut out = Vec::with_capacity(slots.len());
    let mut i = 0;
    while i < slots.len() {
        let insn = decode_at(&slots, i)?;
        out.push((i, insn));
        i += insn.slots();
    }
    Ok(out)
}
