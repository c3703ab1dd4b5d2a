//! A disassembler for the AArch64 instructions the JIT emits, in the syntax
//! of GNU objdump (aliases such as `mov`, `cmp`, `lsl` and `mul` included).
//! Other words print as `.inst`. Golden files from `aarch64-linux-gnu-objdump`
//! check it (see the crate's tests).

/// The text of the instruction `word` at address `pc` (branch targets are
/// printed as absolute addresses, as objdump does).
pub fn disassemble(word: u32, pc: u64) -> String {
    decode(word, pc).unwrap_or_else(|| format!(".inst\t{word:#010x}"))
}

fn bits(w: u32, lo: u32, len: u32) -> u32 {
    (w >> lo) & ((1 << len) - 1)
}

/// `x5`/`w5`, with 31 as the zero register.
fn r(n: u32, x: bool) -> String {
    match (n, x) {
        (31, true) => "xzr".into(),
        (31, false) => "wzr".into(),
        (n, true) => format!("x{n}"),
        (n, false) => format!("w{n}"),
    }
}

/// As [`r`], with 31 as the stack pointer.
fn rsp(n: u32, x: bool) -> String {
    match (n, x) {
        (31, true) => "sp".into(),
        (31, false) => "wsp".into(),
        _ => r(n, x),
    }
}

fn sext(v: u32, len: u32) -> i64 {
    let shift = 64 - len;
    ((v as u64) << shift) as i64 >> shift
}

/// The value of a logical immediate (`N:immr:imms`), if valid.
fn logical_value(n: u32, immr: u32, imms: u32, x: bool) -> Option<u64> {
    let combined = n << 6 | (!imms & 0x3f);
    if combined == 0 {
        return None;
    }
    let len = 31 - combined.leading_zeros();
    let size = 1u32 << len;
    let levels = size - 1;
    let s = imms & levels;
    let rot = immr & levels;
    if s == levels {
        return None;
    }
    let ones = s + 1;
    let mask = if size == 64 {
        u64::MAX
    } else {
        (1u64 << size) - 1
    };
    let run = if ones == 64 {
        u64::MAX
    } else {
        (1u64 << ones) - 1
    };
    let elem = if rot == 0 {
        run
    } else {
        ((run >> rot) | (run << (size - rot))) & mask
    };
    let mut v = 0u64;
    let mut i = 0;
    while i < 64 {
        v |= elem << i;
        i += size;
    }
    Some(if x { v } else { v & 0xffff_ffff })
}

fn cond_name(c: u32) -> &'static str {
    [
        "eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al",
        "nv",
    ][c as usize & 15]
}

/// `[xn]`, `[xn, #off]`.
fn addr(rn: u32, off: i64) -> String {
    if off == 0 {
        format!("[{}]", rsp(rn, true))
    } else {
        format!("[{}, #{off}]", rsp(rn, true))
    }
}

fn decode(w: u32, pc: u64) -> Option<String> {
    let rd = bits(w, 0, 5);
    let rn = bits(w, 5, 5);
    let rm = bits(w, 16, 5);
    let x = w >> 31 == 1;
    let target = |off: i64| format!("{:#x}", pc.wrapping_add((off * 4) as u64));
    Some(match w {
        0xd65f_03c0 => "ret".into(),
        0xd503_3bbf => "dmb\tish".into(),
        0xd503_201f => "nop".into(),
        _ if w & 0xffe0_001f == 0xd420_0000 => format!("brk\t#{:#x}", bits(w, 5, 16)),
        _ if w & 0xffff_fc1f == 0xd63f_0000 => format!("blr\t{}", r(rn, true)),
        _ if w & 0x7c00_0000 == 0x1400_0000 => {
            let op = if w >> 31 == 1 { "bl" } else { "b" };
            format!("{op}\t{}", target(sext(bits(w, 0, 26), 26)))
        }
        _ if w & 0xff00_0010 == 0x5400_0000 => format!(
            "b.{}\t{}",
            cond_name(rd & 15),
            target(sext(bits(w, 5, 19), 19))
        ),
        _ if w & 0x7e00_0000 == 0x3400_0000 => {
            let op = if bits(w, 24, 1) == 1 { "cbnz" } else { "cbz" };
            format!("{op}\t{}, {}", r(rd, x), target(sext(bits(w, 5, 19), 19)))
        }
        // Add/subtract (immediate).
        _ if w & 0x1f80_0000 == 0x1100_0000 => {
            let sub = bits(w, 30, 1) == 1;
            let flags = bits(w, 29, 1) == 1;
            let imm = bits(w, 10, 12) << (12 * bits(w, 22, 1));
            if flags && rd == 31 {
                let op = if sub { "cmp" } else { "cmn" };
                format!("{op}\t{}, #{imm:#x}", rsp(rn, x))
            } else if !sub && !flags && imm == 0 && (rd == 31 || rn == 31) {
                format!("mov\t{}, {}", rsp(rd, x), rsp(rn, x))
            } else {
                let op = ["add", "adds", "sub", "subs"][(sub as usize) << 1 | flags as usize];
                let d = if flags { r(rd, x) } else { rsp(rd, x) };
                format!("{op}\t{d}, {}, #{imm:#x}", rsp(rn, x))
            }
        }
        // Logical (immediate).
        _ if w & 0x1f80_0000 == 0x1200_0000 => {
            let opc = bits(w, 29, 2);
            let v = logical_value(bits(w, 22, 1), bits(w, 16, 6), bits(w, 10, 6), x)?;
            if opc == 3 && rd == 31 {
                format!("tst\t{}, #{v:#x}", r(rn, x))
            } else {
                let op = ["and", "orr", "eor", "ands"][opc as usize];
                let d = if opc == 3 { r(rd, x) } else { rsp(rd, x) };
                format!("{op}\t{d}, {}, #{v:#x}", r(rn, x))
            }
        }
        // Move wide.
        _ if w & 0x1f80_0000 == 0x1280_0000 => {
            let opc = bits(w, 29, 2);
            let hw = bits(w, 21, 2);
            let imm = bits(w, 5, 16) as u64;
            match opc {
                0 => {
                    let v = !(imm << (16 * hw));
                    let v = if x { v } else { v & 0xffff_ffff };
                    format!("mov\t{}, #{:#x}", r(rd, x), v)
                }
                2 => format!("mov\t{}, #{:#x}", r(rd, x), imm << (16 * hw)),
                3 if hw == 0 => format!("movk\t{}, #{imm:#x}", r(rd, x)),
                3 => format!("movk\t{}, #{imm:#x}, lsl #{}", r(rd, x), 16 * hw),
                _ => return None,
            }
        }
        // Bitfield move.
        _ if w & 0x1f80_0000 == 0x1300_0000 => bitfield(w, rd, rn, x)?,
        // Logical (shifted register), shift 0.
        _ if w & 0x1f00_fc00 == 0x0a00_0000 => {
            let opc = bits(w, 29, 2);
            let neg = bits(w, 21, 1) == 1;
            match (opc, neg) {
                (1, false) if rn == 31 => format!("mov\t{}, {}", r(rd, x), r(rm, x)),
                (1, true) if rn == 31 => format!("mvn\t{}, {}", r(rd, x), r(rm, x)),
                (3, false) if rd == 31 => format!("tst\t{}, {}", r(rn, x), r(rm, x)),
                _ => {
                    let op = match (opc, neg) {
                        (0, false) => "and",
                        (1, false) => "orr",
                        (2, false) => "eor",
                        (3, false) => "ands",
                        (0, true) => "bic",
                        (1, true) => "orn",
                        (2, true) => "eon",
                        _ => "bics",
                    };
                    format!("{op}\t{}, {}, {}", r(rd, x), r(rn, x), r(rm, x))
                }
            }
        }
        // Add/subtract (shifted register), shift 0.
        _ if w & 0x1f20_fc00 == 0x0b00_0000 => {
            let sub = bits(w, 30, 1) == 1;
            let flags = bits(w, 29, 1) == 1;
            if flags && rd == 31 {
                let op = if sub { "cmp" } else { "cmn" };
                format!("{op}\t{}, {}", r(rn, x), r(rm, x))
            } else if sub && rn == 31 {
                let op = if flags { "negs" } else { "neg" };
                format!("{op}\t{}, {}", r(rd, x), r(rm, x))
            } else {
                let op = ["add", "adds", "sub", "subs"][(sub as usize) << 1 | flags as usize];
                format!("{op}\t{}, {}, {}", r(rd, x), r(rn, x), r(rm, x))
            }
        }
        // Data processing (two sources).
        _ if w & 0x7fe0_0000 == 0x1ac0_0000 => {
            let op = match bits(w, 10, 6) {
                0b000010 => "udiv",
                0b000011 => "sdiv",
                0b001000 => "lsl",
                0b001001 => "lsr",
                0b001010 => "asr",
                _ => return None,
            };
            format!("{op}\t{}, {}, {}", r(rd, x), r(rn, x), r(rm, x))
        }
        // Data processing (one source): rev16, rev.
        _ if w & 0x7fff_f000 == 0x5ac0_0000 => {
            let op = match (bits(w, 10, 2), x) {
                (1, _) => "rev16",
                (2, false) => "rev",
                (2, true) => "rev32",
                (3, true) => "rev",
                _ => return None,
            };
            format!("{op}\t{}, {}", r(rd, x), r(rn, x))
        }
        // madd/msub.
        _ if w & 0x7fe0_0000 == 0x1b00_0000 => {
            let ra = bits(w, 10, 5);
            let sub = bits(w, 15, 1) == 1;
            match (sub, ra) {
                (false, 31) => format!("mul\t{}, {}, {}", r(rd, x), r(rn, x), r(rm, x)),
                (true, 31) => format!("mneg\t{}, {}, {}", r(rd, x), r(rn, x), r(rm, x)),
                _ => format!(
                    "{}\t{}, {}, {}, {}",
                    if sub { "msub" } else { "madd" },
                    r(rd, x),
                    r(rn, x),
                    r(rm, x),
                    r(ra, x)
                ),
            }
        }
        // Load/store pair (64-bit): post-index, offset, pre-index.
        _ if w & 0xfe00_0000 == 0xa800_0000 => {
            let load = bits(w, 22, 1) == 1;
            let op = if load { "ldp" } else { "stp" };
            let off = sext(bits(w, 15, 7), 7) * 8;
            let regs = format!("{}, {}", r(rd, true), r(bits(w, 10, 5), true));
            let base = rsp(rn, true);
            match bits(w, 23, 2) {
                1 => format!("{op}\t{regs}, [{base}], #{off}"),
                2 => format!("{op}\t{regs}, {}", addr(rn, off)),
                3 => format!("{op}\t{regs}, [{base}, #{off}]!"),
                _ => return None,
            }
        }
        // Exclusive and ordered: ldaxr, stlxr, casal.
        _ if w & 0xbfff_fc00 == 0x885f_fc00 => {
            format!("ldaxr\t{}, [{}]", r(rd, bits(w, 30, 1) == 1), rsp(rn, true))
        }
        _ if w & 0xbfe0_fc00 == 0x8800_fc00 => format!(
            "stlxr\t{}, {}, [{}]",
            r(rm, false),
            r(rd, bits(w, 30, 1) == 1),
            rsp(rn, true)
        ),
        _ if w & 0xbfe0_fc00 == 0x88e0_fc00 => {
            let x = bits(w, 30, 1) == 1;
            format!("casal\t{}, {}, [{}]", r(rm, x), r(rd, x), rsp(rn, true))
        }
        // LSE atomics with acquire and release.
        _ if w & 0xbfe0_0c00 == 0xb8e0_0000 => {
            let x = bits(w, 30, 1) == 1;
            let op = match bits(w, 12, 4) {
                0b0000 => "ldaddal",
                0b0001 => "ldclral",
                0b0010 => "ldeoral",
                0b0011 => "ldsetal",
                0b1000 => "swpal",
                _ => return None,
            };
            format!("{op}\t{}, {}, [{}]", r(rm, x), r(rd, x), rsp(rn, true))
        }
        // Loads and stores of one register.
        _ if w & 0x3b00_0000 == 0x3900_0000 || w & 0x3b20_0c00 == 0x3800_0000 => {
            load_store(w, rd, rn)?
        }
        _ if w & 0x3b20_fc00 == 0x3820_6800 => {
            let (op, t) = ldst_name(w, false)?;
            format!("{op}\t{t}, [{}, {}]", rsp(rn, true), r(rm, true))
        }
        _ => return None,
    })
}

/// The mnemonic and the data register of a single-register load or store.
fn ldst_name(w: u32, unscaled: bool) -> Option<(String, String)> {
    let size = bits(w, 30, 2);
    let opc = bits(w, 22, 2);
    let rt = bits(w, 0, 5);
    let (base, x) = match (opc, size) {
        (0, _) => ("str", size == 3),
        (1, _) => ("ldr", size == 3),
        (2, 3) => return None,
        (2, _) => ("ldrs", true),
        _ => return None,
    };
    let suffix = match (size, opc) {
        (0, _) => "b",
        (1, _) => "h",
        (2, 2) => "w",
        _ => "",
    };
    let op = if unscaled {
        format!("{}u{}{suffix}", &base[..2], &base[2..])
    } else {
        format!("{base}{suffix}")
    };
    Some((op, r(rt, x)))
}

fn load_store(w: u32, _rd: u32, rn: u32) -> Option<String> {
    let size = bits(w, 30, 2);
    if bits(w, 24, 1) == 1 {
        let (op, t) = ldst_name(w, false)?;
        let off = (bits(w, 10, 12) << size) as i64;
        Some(format!("{op}\t{t}, {}", addr(rn, off)))
    } else {
        let (op, t) = ldst_name(w, true)?;
        Some(format!("{op}\t{t}, {}", addr(rn, sext(bits(w, 12, 9), 9))))
    }
}

/// sbfm/ubfm and the aliases the JIT's forms have.
fn bitfield(w: u32, rd: u32, rn: u32, x: bool) -> Option<String> {
    let signed = match bits(w, 29, 2) {
        0 => true,
        2 => false,
        _ => return None,
    };
    let immr = bits(w, 16, 6);
    let imms = bits(w, 10, 6);
    let top = if x { 63 } else { 31 };
    let (d, n) = (r(rd, x), r(rn, x));
    Some(match (signed, immr, imms) {
        (_, _, s) if s == top => {
            let op = if signed { "asr" } else { "lsr" };
            format!("{op}\t{d}, {n}, #{immr}")
        }
        (false, r_, s) if s + 1 == r_ => format!("lsl\t{d}, {n}, #{}", top - s),
        (false, 0, 7) if !x => format!("uxtb\t{d}, {n}"),
        (false, 0, 15) if !x => format!("uxth\t{d}, {n}"),
        (true, 0, 7) => format!("sxtb\t{d}, {}", r(rn, false)),
        (true, 0, 15) => format!("sxth\t{d}, {}", r(rn, false)),
        (true, 0, 31) => format!("sxtw\t{d}, {}", r(rn, false)),
        _ => format!(
            "{}\t{d}, {n}, #{immr}, #{imms}",
            if signed { "sbfm" } else { "ubfm" }
        ),
    })
}
