//! Emit tests: each BPF instruction, the machine code the JIT emits for it,
//! and that code's disassembly (iced-x86, Intel syntax).

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, OpKind};
use oxbpf_jit::{JitProgram, Mode, Options};
use oxbpf_vm::{Helpers, Program};

/// The code for the first instruction of `asm` followed by `exit`.
fn emit(asm: &str, mode: Mode) -> Vec<u8> {
    let code = oxbpf_isa::assemble_bytes(&format!("{asm}\nexit")).expect("assembles");
    let program = Program::new(&code, &Helpers::conformance()).expect("loads");
    let options = Options {
        mode,
        constant_blinding: false,
        arch: oxbpf_jit::Arch::X86_64,
    };
    // SAFETY: the programs are compiled and disassembled, never run.
    let jit = unsafe { JitProgram::compile_with_mode(program, &options) }.expect("compiles");
    jit.slot_code(0).to_vec()
}

/// The code as hex and as Intel syntax. Branches that leave the instruction's
/// code (into out-of-line checks and faults, whose place depends on the whole
/// program) show their displacement as `..` and their target as `<out of line>`.
fn listing(bytes: &[u8]) -> (String, String) {
    let mut decoder = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_hex_prefix("0x");
    formatter.options_mut().set_hex_suffix("");
    formatter
        .options_mut()
        .set_space_after_operand_separator(true);
    let mut hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut parts = Vec::new();
    let mut insn = Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        let mut s = String::new();
        formatter.format(&insn, &mut s);
        let branch = insn.op0_kind() == OpKind::NearBranch64;
        if branch && insn.near_branch_target() > bytes.len() as u64 {
            let end = (insn.ip() as usize) + insn.len();
            let disp = if insn.len() == 2 { 1 } else { 4 };
            for h in &mut hex[end - disp..end] {
                *h = "..".into();
            }
            let mnemonic = s.split_whitespace().next().unwrap_or("").to_string();
            s = format!("{mnemonic} <out of line>");
        }
        parts.push(s);
    }
    (hex.join(" "), parts.join("; "))
}

fn check_table(mode: Mode, table: &[(&str, &str, &str)]) {
    for &(asm, bytes, asm_x86) in table {
        let (hex, text) = listing(&emit(asm, mode));
        assert_eq!(hex, bytes, "bytes for `{asm}`");
        assert_eq!(text, asm_x86, "disassembly for `{asm}`");
    }
}

#[test]
fn emits_unchecked_instructions() {
    check_table(
        Mode::Unchecked,
        &[
            ("r0 = 1", "b8 01 00 00 00", "mov eax, 1"),
            ("r1 = -1", "48 c7 c7 ff ff ff ff", "mov rdi, 0xFFFFFFFFFFFFFFFF"),
            ("w2 = -1", "be ff ff ff ff", "mov esi, 0xFFFFFFFF"),
            ("r3 = r4", "48 89 ca", "mov rdx, rcx"),
            ("w5 = w6", "41 89 d8", "mov r8d, ebx"),
            ("r1 += 5", "48 83 c7 05", "add rdi, 5"),
            ("r6 += 1000", "48 81 c3 e8 03 00 00", "add rbx, 0x3E8"),
            ("w7 -= w8", "45 29 f5", "sub r13d, r14d"),
            ("r9 *= r1", "4c 0f af ff", "imul r15, rdi"),
            ("r2 *= 3", "48 6b f6 03", "imul rsi, 3"),
            ("w3 &= 0xff", "81 e2 ff 00 00 00", "and edx, 0xFF"),
            ("r0 |= r9", "4c 09 f8", "or rax, r15"),
            ("r8 ^= -2", "49 83 f6 fe", "xor r14, 0xFFFFFFFFFFFFFFFE"),
            ("r1 <<= 3", "48 c1 e7 03", "shl rdi, 3"),
            ("w2 >>= 31", "c1 ee 1f", "shr esi, 0x1F"),
            ("r3 s>>= 63", "48 c1 fa 3f", "sar rdx, 0x3F"),
            ("r1 <<= r2", "49 89 cb 48 89 f1 48 d3 e7 4c 89 d9", "mov r11, rcx; mov rcx, rsi; shl rdi, cl; mov rcx, r11"),
            ("r4 >>= r1", "49 89 cb 48 89 f9 49 d3 eb 4c 89 d9", "mov r11, rcx; mov rcx, rdi; shr r11, cl; mov rcx, r11"),
            ("r2 s>>= r4", "48 d3 fe", "sar rsi, cl"),
            ("r0 = -r0", "48 f7 d8", "neg rax"),
            ("w1 = -w1", "f7 df", "neg edi"),
            ("r2 = be16 r2", "66 c1 ce 08 0f b7 f6", "ror si, 8; movzx esi, si"),
            ("r3 = be32 r3", "0f ca", "bswap edx"),
            ("r4 = be64 r4", "48 0f c9", "bswap rcx"),
            ("r5 = le16 r5", "45 0f b7 c0", "movzx r8d, r8w"),
            ("r6 = le32 r6", "89 db", "mov ebx, ebx"),
            ("r1 = (s8)r2", "48 0f be fe", "movsx rdi, sil"),
            ("r3 = (s16)r4", "48 0f bf d1", "movsx rdx, cx"),
            ("r5 = (s32)r6", "4c 63 c3", "movsxd r8, ebx"),
            ("w7 = (s8)w8", "45 0f be ee", "movsx r13d, r14b"),
            ("r0 = 0x123456789abcdef0 ll", "48 b8 f0 de bc 9a 78 56 34 12", "mov rax, 0x123456789ABCDEF0"),
            ("r1 = *(u8 *)(r2 + 0)", "0f b6 3e", "movzx edi, byte ptr [rsi]"),
            ("r3 = *(u16 *)(r10 - 2)", "0f b7 55 fe", "movzx edx, word ptr [rbp-2]"),
            ("r4 = *(u32 *)(r6 + 100)", "8b 4b 64", "mov ecx, [rbx+0x64]"),
            ("r5 = *(u64 *)(r7 - 200)", "4d 8b 85 38 ff ff ff", "mov r8, [r13-0xC8]"),
            ("r1 = *(s8 *)(r2 + 1)", "48 0f be 7e 01", "movsx rdi, byte ptr [rsi+1]"),
            ("r1 = *(s16 *)(r2 + 2)", "48 0f bf 7e 02", "movsx rdi, word ptr [rsi+2]"),
            ("r1 = *(s32 *)(r2 + 4)", "48 63 7e 04", "movsxd rdi, [rsi+4]"),
            ("*(u8 *)(r10 - 1) = r1", "40 88 7d ff", "mov [rbp-1], dil"),
            ("*(u16 *)(r1 + 2) = r7", "66 44 89 6f 02", "mov [rdi+2], r13w"),
            ("*(u32 *)(r8 + 4) = r9", "45 89 7e 04", "mov [r14+4], r15d"),
            ("*(u64 *)(r10 - 8) = r0", "48 89 45 f8", "mov [rbp-8], rax"),
            ("*(u32 *)(r1 + 0) = 7", "c7 07 07 00 00 00", "mov dword ptr [rdi], 7"),
            ("*(u64 *)(r10 - 16) = -1", "48 c7 45 f0 ff ff ff ff", "mov qword ptr [rbp-0x10], 0xFFFFFFFFFFFFFFFF"),
            ("lock *(u64 *)(r1 + 0) += r2", "f0 48 01 37", "lock add [rdi], rsi"),
            ("lock *(u32 *)(r1 + 8) += r3", "f0 01 57 08", "lock add [rdi+8], edx"),
            ("r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)", "f0 48 0f c1 37", "lock xadd [rdi], rsi"),
            ("r2 = xchg_64(r1 + 0, r2)", "48 87 37", "xchg [rdi], rsi"),
            ("r0 = cmpxchg_64(r1 + 0, r0, r2)", "f0 48 0f b1 37", "lock cmpxchg [rdi], rsi"),
            ("if r1 == r2 goto +0", "48 39 f7 0f 84 00 00 00 00", "cmp rdi, rsi; je 9"),
            ("if w1 > 5 goto +0", "83 ff 05 0f 87 00 00 00 00", "cmp edi, 5; ja 9"),
            ("if r3 s< -1 goto +0", "48 83 fa ff 0f 8c 00 00 00 00", "cmp rdx, 0xFFFFFFFFFFFFFFFF; jl 0x000000000000000A"),
            ("if r1 & 0x10 goto +0", "48 f7 c7 10 00 00 00 0f 85 00 00 00 00", "test rdi, 0x10; jne 0x000000000000000D"),
            ("if r1 != 0 goto +0", "48 85 ff 0f 85 00 00 00 00", "test rdi, rdi; jne 9"),
            ("r1 /= r2", "49 89 f3 49 89 c2 49 89 d1 48 89 f8 4d 85 db 0f 84 0a 00 00 00 31 d2 49 f7 f3 e9 02 00 00 00 31 c0 49 89 c3 4c 89 d0 4c 89 ca 4c 89 df", "mov r11, rsi; mov r10, rax; mov r9, rdx; mov rax, rdi; test r11, r11; je 0x000000000000001F; xor edx, edx; div r11; jmp 0x0000000000000021; xor eax, eax; mov r11, rax; mov rax, r10; mov rdx, r9; mov rdi, r11"),
            ("w1 %= 7", "41 bb 07 00 00 00 49 89 c2 49 89 d1 48 89 f8 45 85 db 0f 84 0c 00 00 00 31 d2 41 f7 f3 89 d0 e9 02 00 00 00 89 c0 49 89 c3 4c 89 d0 4c 89 ca 4c 89 df", "mov r11d, 7; mov r10, rax; mov r9, rdx; mov rax, rdi; test r11d, r11d; je 0x0000000000000024; xor edx, edx; div r11d; mov eax, edx; jmp 0x0000000000000026; mov eax, eax; mov r11, rax; mov rax, r10; mov rdx, r9; mov rdi, r11"),
            ("r3 s/= r4", "49 89 cb 49 89 c2 49 89 d1 48 89 d0 4d 85 db 0f 84 1c 00 00 00 49 83 fb ff 0f 85 08 00 00 00 48 f7 d8 e9 0c 00 00 00 48 99 49 f7 fb e9 02 00 00 00 31 c0 49 89 c3 4c 89 d0 4c 89 ca 4c 89 da", "mov r11, rcx; mov r10, rax; mov r9, rdx; mov rax, rdx; test r11, r11; je 0x0000000000000031; cmp r11, 0xFFFFFFFFFFFFFFFF; jne 0x0000000000000027; neg rax; jmp 0x0000000000000033; cqo; idiv r11; jmp 0x0000000000000033; xor eax, eax; mov r11, rax; mov rax, r10; mov rdx, r9; mov rdx, r11"),
        ],
    );
}

#[test]
fn emits_checked_memory_accesses() {
    check_table(
        Mode::Checked,
        &[
            ("r0 = *(u32 *)(r1 + 4)", "4c 8d 57 04 4d 2b 14 24 4d 3b 54 24 18 0f 83 .. .. .. .. 8b 47 04", "lea r10, [rdi+4]; sub r10, [r12]; cmp r10, [r12+0x18]; jae <out of line>; mov eax, [rdi+4]"),
            ("*(u64 *)(r10 - 8) = r1", "48 89 7d f8", "mov [rbp-8], rdi"),
            ("r0 = *(u64 *)(r10 + 8)", "4c 8d 55 08 4d 2b 14 24 4d 3b 54 24 20 0f 83 .. .. .. .. 48 8b 45 08", "lea r10, [rbp+8]; sub r10, [r12]; cmp r10, [r12+0x20]; jae <out of line>; mov rax, [rbp+8]"),
            ("lock *(u32 *)(r1 + 0) += r2", "4c 8d 17 4d 2b 14 24 4d 3b 54 24 38 0f 83 .. .. .. .. 4c 8d 1f 41 f7 c3 03 00 00 00 0f 85 .. .. .. .. f0 41 01 33", "lea r10, [rdi]; sub r10, [r12]; cmp r10, [r12+0x38]; jae <out of line>; lea r11, [rdi]; test r11d, 3; jne <out of line>; lock add [r11], esi"),
        ],
    );
}
