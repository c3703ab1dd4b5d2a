//! A listing of compiled code (x86-64 or AArch64), interleaved with the BPF
//! instructions.

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
use oxbpf_isa::Syntax;

use crate::{Arch, JitProgram};

/// Formats AArch64 `code` (which starts at offset `base` of the program's
/// code) as `offset: word  instruction` lines in objdump's syntax.
pub fn format_aarch64(code: &[u8], base: u64) -> String {
    let mut out = String::new();
    for (i, chunk) in code.chunks(4).enumerate() {
        let at = base + 4 * i as u64;
        let mut b = [0u8; 4];
        b[..chunk.len()].copy_from_slice(chunk);
        let word = u32::from_le_bytes(b);
        let text = crate::aarch64::disasm::disassemble(word, at).replace('\t', " ");
        out.push_str(&format!("{at:6x}:  {word:08x}  {text}\n"));
    }
    out
}

/// Formats `code` of `arch`, starting at offset `base`.
fn format_code(arch: Arch, code: &[u8], base: u64) -> String {
    match arch {
        Arch::X86_64 => format_x86(code, base),
        Arch::Aarch64 { .. } => format_aarch64(code, base),
    }
}

/// Formats `code` (which starts at offset `base` of the program's code) as
/// `offset: bytes  instruction` lines in Intel syntax.
pub fn format_x86(code: &[u8], base: u64) -> String {
    let mut decoder = Decoder::with_ip(64, code, base, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_hex_prefix("0x");
    formatter.options_mut().set_hex_suffix("");
    formatter
        .options_mut()
        .set_space_after_operand_separator(true);
    let mut insn = Instruction::default();
    let mut text = String::new();
    let mut out = String::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        text.clear();
        formatter.format(&insn, &mut text);
        let start = (insn.ip() - base) as usize;
        let bytes: Vec<String> = code[start..start + insn.len()]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        out.push_str(&format!(
            "{:6x}:  {:<30} {text}\n",
            insn.ip(),
            bytes.join(" ")
        ));
    }
    out
}

/// The whole program: the entry trampoline, then each BPF instruction followed
/// by its machine code, then the out-of-line code (function entries, memory
/// checks and fault stubs). Offsets are from the start of the code.
pub fn listing(jit: &JitProgram) -> String {
    let code = jit.code();
    let offsets = jit.slot_offsets();
    let program = jit.program();
    let arch = jit.arch();
    let mut out = String::new();
    let body_start = offsets.first().copied().unwrap_or(0) as usize;
    out.push_str("; entry trampoline and prologue\n");
    out.push_str(&format_code(arch, &code[..body_start], 0));
    let mut slot = 0;
    while slot < offsets.len() {
        let start = offsets[slot] as usize;
        let Some(insn) = program.insn(slot) else {
            slot += 1;
            continue;
        };
        let next = slot + insn.slots();
        let end = offsets
            .get(next)
            .map_or_else(|| body_end(jit), |&o| o as usize);
        out.push_str(&format!("; {slot}: {}\n", insn.display(Syntax::Llvm)));
        out.push_str(&format_code(arch, &code[start..end], start as u64));
        slot = next;
    }
    let end = body_end(jit);
    if end < code.len() {
        out.push_str("; out of line: end of program, function entries, checks, faults\n");
        out.push_str(&format_code(arch, &code[end..], end as u64));
    }
    out
}

/// The first byte after the body.
fn body_end(jit: &JitProgram) -> usize {
    match jit.slot_offsets().len() {
        0 => jit.code().len(),
        n => jit.body_end_of(n - 1),
    }
}
