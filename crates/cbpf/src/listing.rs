//! tcpdump's program listings: `-d` (libpcap's `bpf_image`), `-dd` (a C
//! array) and `-ddd` (decimal numbers), printed exactly as libpcap 1.10 prints
//! them, and a reader for the `-ddd` and `-dd` forms.
//!
//! ```
//! use oxbpf_cbpf::{listing, Insn};
//!
//! let prog = listing::parse_ddd("2\n40 0 0 12\n6 0 0 0\n").unwrap();
//! assert_eq!(prog[0], Insn::stmt(0x28, 12));
//! assert_eq!(listing::dump_d(&prog), "(000) ldh      [12]\n(001) ret      #0\n");
//! assert_eq!(listing::dump_dd(&prog), "{ 0x28, 0, 0, 0x0000000c },\n{ 0x6, 0, 0, 0x00000000 },\n");
//! ```

use std::fmt::Write as _;

use crate::error::CbpfError;
use crate::insn::{code, op, Insn};

/// One line of `tcpdump -d`: instruction `insn` at index `n`, without the newline.
pub fn image(insn: &Insn, n: usize) -> String {
    let k = insn.k;
    // libpcap prints these with `%d` on an unsigned field: negative past 2^31.
    let sk = k as i32;
    let (name, operand): (&str, String) = match insn.code {
        code::RET_K => ("ret", format!("#{sk}")),
        code::RET_A => ("ret", String::new()),
        code::LD_W_ABS => ("ld", abs_operand(k)),
        code::LD_H_ABS => ("ldh", abs_operand(k)),
        code::LD_B_ABS => ("ldb", abs_operand(k)),
        code::LD_W_LEN => ("ld", "#pktlen".to_string()),
        code::LD_W_IND => ("ld", format!("[x + {sk}]")),
        code::LD_H_IND => ("ldh", format!("[x + {sk}]")),
        code::LD_B_IND => ("ldb", format!("[x + {sk}]")),
        code::LD_IMM => ("ld", format!("#{k:#x}")),
        code::LDX_IMM => ("ldx", format!("#{k:#x}")),
        code::LDX_B_MSH => ("ldxb", format!("4*([{sk}]&0xf)")),
        // libpcap has no name for `ldx len` (0x81) and prints it as `unimp`.
        code::LD_MEM => ("ld", format!("M[{sk}]")),
        code::LDX_MEM => ("ldx", format!("M[{sk}]")),
        code::ST_MEM => ("st", format!("M[{sk}]")),
        code::STX_MEM => ("stx", format!("M[{sk}]")),
        code::JMP_JA => ("ja", format!("{}", (n as i64 + 1 + k as i64) as i32)),
        code::ALU_NEG => ("neg", String::new()),
        code::MISC_TAX => ("tax", String::new()),
        code::MISC_TXA => ("txa", String::new()),
        c if c & 0xff07 == op::JMP && c & 0xf0 <= op::JSET && c & 0xf0 != op::JA => {
            let name = match c & 0xf0 {
                op::JEQ => "jeq",
                op::JGT => "jgt",
                op::JGE => "jge",
                _ => "jset",
            };
            let operand = if c & op::X != 0 {
                "x".to_string()
            } else {
                format!("#{k:#x}")
            };
            (name, operand)
        }
        c if c & 0xff07 == op::ALU && alu_name(c & 0xf0).is_some() && c & 0xf0 != op::NEG => {
            let name = alu_name(c & 0xf0).unwrap_or_default();
            let operand = if c & op::X != 0 {
                "x".to_string()
            } else if matches!(c & 0xf0, op::AND | op::OR | op::XOR) {
                format!("#{k:#x}")
            } else {
                format!("#{sk}")
            };
            (name, operand)
        }
        c => ("unimp", format!("{c:#x}")),
    };
    let c = insn.code;
    if c & 0x07 == op::JMP && c & 0xf0 != op::JA {
        format!(
            "({n:03}) {name:<8} {operand:<16} jt {}\tjf {}",
            n + 1 + insn.jt as usize,
            n + 1 + insn.jf as usize
        )
    } else {
        format!("({n:03}) {name:<8} {operand}")
    }
}

/// The operand of an absolute load: `[k]`, or the name libpcap gives the
/// Linux ancillary field at `SKF_AD_OFF + n`.
fn abs_operand(k: u32) -> String {
    const NAMES: [&str; 16] = [
        "proto",
        "type",
        "ifidx",
        "nla",
        "nlan",
        "mark",
        "queue",
        "hatype",
        "rxhash",
        "cpu",
        "xor_x",
        "vlan_tci",
        "vlanp",
        "poff",
        "random",
        "vlan_tpid",
    ];
    let n = k.wrapping_sub(crate::check::SKF_AD_OFF);
    match NAMES.get(n as usize / 4) {
        Some(name) if k >= crate::check::SKF_AD_OFF && n % 4 == 0 => format!("[{name}]"),
        _ => format!("[{}]", k as i32),
    }
}

fn alu_name(op: u16) -> Option<&'static str> {
    Some(match op {
        op::ADD => "add",
        op::SUB => "sub",
        op::MUL => "mul",
        op::DIV => "div",
        op::MOD => "mod",
        op::AND => "and",
        op::OR => "or",
        op::XOR => "xor",
        op::LSH => "lsh",
        op::RSH => "rsh",
        op::NEG => "neg",
        _ => return None,
    })
}

/// The `tcpdump -d` listing: one [`image`] line per instruction.
pub fn dump_d(prog: &[Insn]) -> String {
    let mut out = String::new();
    for (n, insn) in prog.iter().enumerate() {
        out.push_str(&image(insn, n));
        out.push('\n');
    }
    out
}

/// The `tcpdump -dd` listing: `{ 0x28, 0, 0, 0x0000000c },` lines.
pub fn dump_dd(prog: &[Insn]) -> String {
    let mut out = String::new();
    for i in prog {
        let _ = writeln!(
            out,
            "{{ {:#x}, {}, {}, 0x{:08x} }},",
            i.code, i.jt, i.jf, i.k
        );
    }
    out
}

/// The `tcpdump -ddd` listing: the count, then `code jt jf k` in decimal.
pub fn dump_ddd(prog: &[Insn]) -> String {
    let mut out = format!("{}\n", prog.len());
    for i in prog {
        let _ = writeln!(out, "{} {} {} {}", i.code, i.jt, i.jf, i.k);
    }
    out
}

/// Reads a `-ddd` listing: a count line, then that many `code jt jf k` lines
/// of decimal numbers (the form `tcpdump -ddd` prints and the kernel's
/// `bpf_asm -c`/`xt_bpf` tools take). Commas between numbers are accepted, as
/// in `iptables -m bpf --bytecode`; blank lines are ignored.
pub fn parse_ddd(text: &str) -> Result<Vec<Insn>, CbpfError> {
    // (line, column offset of the piece, piece)
    let mut lines = text
        .lines()
        .enumerate()
        .flat_map(|(i, l)| {
            let mut start = 0;
            l.split(',').map(move |piece| {
                let at = start;
                start += piece.len() + 1;
                (i + 1, at, piece)
            })
        })
        .filter(|(_, _, l)| !l.trim().is_empty());
    let Some((count_line, count_at, count_text)) = lines.next() else {
        return Err(listing_error(
            1,
            1,
            "empty listing: expected the instruction count",
        ));
    };
    let count: usize = count_text.trim().parse().map_err(|_| {
        listing_error(
            count_line,
            count_at + column_of(count_text),
            "expected the instruction count",
        )
    })?;
    let mut prog = Vec::with_capacity(count.min(crate::check::MAX_INSNS));
    for (line, at, l) in lines {
        let mut fields = [0u64; 4];
        let mut words = words(l).map(|(c, w)| (c + at, w));
        for (i, (name, max)) in [
            ("code", u16::MAX as u64),
            ("jt", u8::MAX as u64),
            ("jf", u8::MAX as u64),
            ("k", u32::MAX as u64),
        ]
        .into_iter()
        .enumerate()
        {
            let Some((col, w)) = words.next() else {
                return Err(listing_error(
                    line,
                    at + l.len() + 1,
                    &format!("missing field `{name}`"),
                ));
            };
            fields[i] = match w.parse::<u64>() {
                Ok(v) if v <= max => v,
                _ => {
                    return Err(listing_error(
                        line,
                        col,
                        &format!("`{w}` is not a valid `{name}` (a decimal number up to {max})"),
                    ))
                }
            };
        }
        if let Some((col, w)) = words.next() {
            return Err(listing_error(
                line,
                col,
                &format!("unexpected `{w}` after the four fields"),
            ));
        }
        prog.push(Insn {
            code: fields[0] as u16,
            jt: fields[1] as u8,
            jf: fields[2] as u8,
            k: fields[3] as u32,
        });
    }
    if prog.len() != count {
        return Err(listing_error(
            count_line,
            count_at + 1,
            &format!(
                "the count says {count} instructions but {} follow",
                prog.len()
            ),
        ));
    }
    Ok(prog)
}

/// Reads a `-dd` listing (`{ 0x28, 0, 0, 0x0000000c },` lines); numbers may
/// be decimal or `0x` hexadecimal, and blank lines are ignored.
pub fn parse_dd(text: &str) -> Result<Vec<Insn>, CbpfError> {
    let mut prog = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        let t = l.trim();
        if t.is_empty() {
            continue;
        }
        let inner = t
            .strip_prefix('{')
            .and_then(|r| r.trim_end_matches(',').trim_end().strip_suffix('}'))
            .ok_or_else(|| listing_error(line, column_of(l), "expected `{ code, jt, jf, k },`"))?;
        let base = l.len() - l.trim_start().len() + 2;
        let parts: Vec<&str> = inner.split(',').collect();
        if parts.len() != 4 {
            return Err(listing_error(
                line,
                base,
                "expected four fields: code, jt, jf, k",
            ));
        }
        let mut fields = [0u64; 4];
        let mut col = base;
        for (n, (part, max)) in parts
            .iter()
            .zip([
                u16::MAX as u64,
                u8::MAX as u64,
                u8::MAX as u64,
                u32::MAX as u64,
            ])
            .enumerate()
        {
            let w = part.trim();
            let v = match w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => w.parse().ok(),
            };
            fields[n] = match v {
                Some(v) if v <= max => v,
                _ => {
                    return Err(listing_error(
                        line,
                        col + (part.len() - part.trim_start().len()),
                        &format!("`{w}` is not a number up to {max}"),
                    ))
                }
            };
            col += part.len() + 1;
        }
        prog.push(Insn {
            code: fields[0] as u16,
            jt: fields[1] as u8,
            jf: fields[2] as u8,
            k: fields[3] as u32,
        });
    }
    Ok(prog)
}

fn words(l: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut col = 0;
    l.split([' ', '\t'])
        .map(move |w| {
            let c = col + 1;
            col += w.len() + 1;
            (c, w)
        })
        .filter(|(_, w)| !w.is_empty())
}

fn column_of(l: &str) -> usize {
    l.len() - l.trim_start().len() + 1
}

fn listing_error(line: usize, column: usize, message: &str) -> CbpfError {
    CbpfError::Listing {
        line,
        column,
        message: message.to_string(),
    }
}
