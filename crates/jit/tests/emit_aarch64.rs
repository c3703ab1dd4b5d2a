//! AArch64 emit tests: each BPF instruction, the words the JIT emits for it,
//! and their disassembly; and the disassembler against GNU objdump.
//!
//! The disassembly comes from the crate's own decoder
//! (`oxbpf_jit::aarch64::disasm`), which `decoder_matches_objdump` checks
//! against `golden/aarch64-objdump.txt`: objdump's text for every word that
//! the JIT emits for the conformance corpus (in each mode) and for this
//! table. `OXBPF_REGEN_GOLDEN=1` rewrites that file with
//! `aarch64-linux-gnu-objdump` (binutils-aarch64-linux-gnu), for review.
//! These tests compile for AArch64 on any host; nothing runs.

#[path = "../../vm/tests/corpus/mod.rs"]
#[allow(dead_code)]
mod corpus;

use std::collections::BTreeMap;
use std::path::PathBuf;

use oxbpf_jit::aarch64::disasm::disassemble;
use oxbpf_jit::{Arch, JitProgram, Mode, Options};
use oxbpf_vm::{Helpers, Program};

const LSE: Arch = Arch::Aarch64 { lse: true };
const LL_SC: Arch = Arch::Aarch64 { lse: false };

fn compile(code: &[u8], mode: Mode, arch: Arch, blind: bool) -> Option<JitProgram> {
    let program = Program::new(code, &Helpers::conformance()).ok()?;
    let options = Options {
        mode,
        constant_blinding: blind,
        arch,
    };
    // SAFETY: the programs are compiled and disassembled, never run.
    unsafe { JitProgram::compile_with_mode(program, &options) }.ok()
}

/// The words of the first instruction of `asm` followed by `exit`.
fn emit(asm: &str, mode: Mode, arch: Arch) -> Vec<u32> {
    let code = oxbpf_isa::assemble_bytes(&format!("{asm}\nexit")).expect("assembles");
    let jit = compile(&code, mode, arch, false).expect("compiles");
    words(jit.slot_code(0))
}

fn words(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

/// The words as hex and as text. Branches that leave the instruction's code
/// (into out-of-line checks and faults, whose place depends on the whole
/// program) show their target as `<out of line>`.
fn listing(words: &[u32]) -> (String, String) {
    let hex: Vec<String> = words.iter().map(|w| format!("{w:08x}")).collect();
    let end = 4 * words.len() as u64;
    let text: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let t = disassemble(w, 4 * i as u64).replace('\t', " ");
            let branch = ["b ", "b.", "bl ", "cbz ", "cbnz "]
                .iter()
                .any(|p| t.starts_with(p));
            match t.rsplit_once(' ') {
                Some((head, target)) if branch => {
                    match u64::from_str_radix(target.trim_start_matches("0x"), 16) {
                        Ok(t) if t <= end => format!("{head} {t:x}"),
                        _ => format!("{head} <out of line>"),
                    }
                }
                _ => t,
            }
        })
        .collect();
    (hex.join(" "), text.join("; "))
}

type Row = (&'static str, &'static str, &'static str);

fn check_table(mode: Mode, arch: Arch, table: &[Row]) {
    let print = std::env::var_os("OXBPF_EMIT_PRINT").is_some();
    for &(asm, bytes, text) in table {
        let (hex, got) = listing(&emit(asm, mode, arch));
        if print {
            println!("            (\"{asm}\", \"{hex}\", \"{got}\"),");
            continue;
        }
        assert_eq!(hex, bytes, "words for `{asm}`");
        assert_eq!(got, text, "disassembly for `{asm}`");
    }
}

const UNCHECKED: &[Row] = &[
    ("r0 = 0x12345678", "d28acf07 f2a24687", "mov x7, #0x5678; movk x7, #0x1234, lsl #16"),
    ("r3 = r4", "aa0303e2", "mov x2, x3"),
    ("w5 = w6", "2a1303e4", "mov w4, w19"),
    ("r1 += 5", "91001400", "add x0, x0, #0x5"),
    ("r6 += 100000", "d290d409 f2a00029 8b090273", "mov x9, #0x86a0; movk x9, #0x1, lsl #16; add x19, x19, x9"),
    ("r6 += -7", "d1001e73", "sub x19, x19, #0x7"),
    ("w7 -= w8", "4b150294", "sub w20, w20, w21"),
    ("r1 -= 4095", "d13ffc00", "sub x0, x0, #0xfff"),
    ("r9 *= r1", "9b007ed6", "mul x22, x22, x0"),
    ("r2 *= 3", "d2800069 9b097c21", "mov x9, #0x3; mul x1, x1, x9"),
    ("w3 &= 0xff", "12001c42", "and w2, w2, #0xff"),
    ("r3 &= 0x12345", "d28468a9 f2a00029 8a090042", "mov x9, #0x2345; movk x9, #0x1, lsl #16; and x2, x2, x9"),
    ("r0 |= r9", "aa1600e7", "orr x7, x7, x22"),
    ("r8 ^= -2", "d27ffab5", "eor x21, x21, #0xfffffffffffffffe"),
    ("r1 <<= 3", "d37df000", "lsl x0, x0, #3"),
    ("w2 >>= 31", "531f7c21", "lsr w1, w1, #31"),
    ("r3 s>>= 63", "937ffc42", "asr x2, x2, #63"),
    ("w3 s>>= 1", "13017c42", "asr w2, w2, #1"),
    ("r1 <<= r2", "9ac12000", "lsl x0, x0, x1"),
    ("w4 >>= w1", "1ac02463", "lsr w3, w3, w0"),
    ("r2 s>>= r4", "9ac32821", "asr x1, x1, x3"),
    ("r0 = -r0", "cb0703e7", "neg x7, x7"),
    ("w1 = -w1", "4b0003e0", "neg w0, w0"),
    ("r2 = be16 r2", "5ac00421 53003c21", "rev16 w1, w1; uxth w1, w1"),
    ("r3 = be32 r3", "5ac00842", "rev w2, w2"),
    ("r4 = be64 r4", "dac00c63", "rev x3, x3"),
    ("r5 = le16 r5", "53003c84", "uxth w4, w4"),
    ("r6 = le32 r6", "2a1303f3", "mov w19, w19"),
    ("r1 = bswap16 r1", "5ac00400 53003c00", "rev16 w0, w0; uxth w0, w0"),
    ("r1 = (s8)r2", "93401c20", "sxtb x0, w1"),
    ("r3 = (s16)r4", "93403c62", "sxth x2, w3"),
    ("r5 = (s32)r6", "93407e64", "sxtw x4, w19"),
    ("w7 = (s8)w8", "13001eb4", "sxtb w20, w21"),
    ("r0 = 0x123456789abcdef0 ll", "d29bde07 f2b35787 f2cacf07 f2e24687", "mov x7, #0xdef0; movk x7, #0x9abc, lsl #16; movk x7, #0x5678, lsl #32; movk x7, #0x1234, lsl #48"),
    ("r1 = *(u8 *)(r2 + 0)", "39400020", "ldrb w0, [x1]"),
    ("r3 = *(u16 *)(r10 - 2)", "785fe322", "ldurh w2, [x25, #-2]"),
    ("r4 = *(u32 *)(r6 + 100)", "b9406663", "ldr w3, [x19, #100]"),
    ("r5 = *(u64 *)(r7 - 200)", "f8538284", "ldur x4, [x20, #-200]"),
    ("r5 = *(u64 *)(r7 + 32760)", "f97ffe84", "ldr x4, [x20, #32760]"),
    ("r5 = *(u64 *)(r7 + 32767)", "d28ffff0 f8706a84", "mov x16, #0x7fff; ldr x4, [x20, x16]"),
    ("r1 = *(s8 *)(r2 + 1)", "39800420", "ldrsb x0, [x1, #1]"),
    ("r1 = *(s16 *)(r2 + 2)", "79800420", "ldrsh x0, [x1, #2]"),
    ("r1 = *(s32 *)(r2 + 4)", "b9800420", "ldrsw x0, [x1, #4]"),
    ("*(u8 *)(r10 - 1) = r1", "381ff320", "sturb w0, [x25, #-1]"),
    ("*(u16 *)(r1 + 2) = r7", "79000414", "strh w20, [x0, #2]"),
    ("*(u32 *)(r8 + 4) = r9", "b90006b6", "str w22, [x21, #4]"),
    ("*(u64 *)(r10 - 8) = r0", "f81f8327", "stur x7, [x25, #-8]"),
    ("*(u32 *)(r1 + 0) = 7", "d28000e9 b9000009", "mov x9, #0x7; str w9, [x0]"),
    ("*(u64 *)(r10 - 16) = 0", "f81f033f", "stur xzr, [x25, #-16]"),
    ("lock *(u64 *)(r1 + 0) += r2", "9100000a f8e1015f", "add x10, x0, #0x0; ldaddal x1, xzr, [x10]"),
    ("lock *(u32 *)(r1 + 8) += r3", "9100200a b8e2015f", "add x10, x0, #0x8; ldaddal w2, wzr, [x10]"),
    ("r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)", "9100000a f8e10141", "add x10, x0, #0x0; ldaddal x1, x1, [x10]"),
    ("r2 = atomic_fetch_and((u64 *)(r1 + 0), r2)", "9100000a aa2103eb f8eb1141", "add x10, x0, #0x0; mvn x11, x1; ldclral x11, x1, [x10]"),
    ("lock *(u64 *)(r1 + 0) |= r2", "9100000a f8e1315f", "add x10, x0, #0x0; ldsetal x1, xzr, [x10]"),
    ("w2 = atomic_fetch_xor((u32 *)(r1 + 0), w2)", "9100000a b8e12141", "add x10, x0, #0x0; ldeoral w1, w1, [x10]"),
    ("r2 = xchg_64(r1 + 0, r2)", "9100000a f8e18141", "add x10, x0, #0x0; swpal x1, x1, [x10]"),
    ("r0 = cmpxchg_64(r1 + 0, r0, r2)", "9100000a c8e7fd41", "add x10, x0, #0x0; casal x7, x1, [x10]"),
    ("w0 = cmpxchg32_32(r1 + 0, w0, w2)", "9100000a 88e7fd41", "add x10, x0, #0x0; casal w7, w1, [x10]"),
    ("if r1 == r2 goto +0", "eb01001f 54000020", "cmp x0, x1; b.eq 8"),
    ("if w1 > 5 goto +0", "7100141f 54000028", "cmp w0, #0x5; b.hi 8"),
    ("if r3 s< -1 goto +0", "b100045f 5400002b", "cmn x2, #0x1; b.lt 8"),
    ("if r1 & 0x10 goto +0", "f27c001f 54000021", "tst x0, #0x10; b.ne 8"),
    ("if r1 & 0x12345 goto +0", "d28468a9 f2a00029 ea09001f 54000021", "mov x9, #0x2345; movk x9, #0x1, lsl #16; tst x0, x9; b.ne 10"),
    ("if r1 != 0 goto +0", "f100001f 54000021", "cmp x0, #0x0; b.ne 8"),
    ("if r1 s>= 100000 goto +0", "d290d409 f2a00029 eb09001f 5400002a", "mov x9, #0x86a0; movk x9, #0x1, lsl #16; cmp x0, x9; b.ge 10"),
    ("gotol +0", "14000001", "b 4"),
    ("r1 /= r2", "9ac10800", "udiv x0, x0, x1"),
    ("w1 %= 7", "d28000e9 1ac9080a 1b098140", "mov x9, #0x7; udiv w10, w0, w9; msub w0, w10, w9, w0"),
    ("r3 s/= r4", "9ac30c42", "sdiv x2, x2, x3"),
    ("r3 s%= r4", "9ac30c4a 9b038942", "sdiv x10, x2, x3; msub x2, x10, x3, x2"),
    ("r0 = *(u16 *)skb[4]", "d280008a f100015f 5400020b 9100094b f940cf4c eb0c017f 54000188 f940cb4c 8b0c014a 79400147 5ac004e7", "mov x10, #0x4; cmp x10, #0x0; b.lt <out of line>; add x11, x10, #0x2; ldr x12, [x26, #408]; cmp x11, x12; b.hi <out of line>; ldr x12, [x26, #400]; add x10, x10, x12; ldrh w7, [x10]; rev16 w7, w7"),
];

const CHECKED: &[Row] = &[
    ("r0 = *(u32 *)(r1 + 0)", "f940034c cb0c000b f9400f4c eb0c017f 54000122 b9400007", "ldr x12, [x26]; sub x11, x0, x12; ldr x12, [x26, #24]; cmp x11, x12; b.cs <out of line>; ldr w7, [x0]"),
    ("*(u64 *)(r10 - 8) = r1", "f81f8320", "stur x0, [x25, #-8]"),
    ("r0 = *(u64 *)(r10 + 8)", "9100232b f940034c cb0c016b f940134c eb0c017f 54000122 f9400727", "add x11, x25, #0x8; ldr x12, [x26]; sub x11, x11, x12; ldr x12, [x26, #32]; cmp x11, x12; b.cs <out of line>; ldr x7, [x25, #8]"),
    ("lock *(u32 *)(r1 + 0) += r2", "f940034c cb0c000b f9401f4c eb0c017f 54000182 9100000a f240055f 540001a1 b8e1015f", "ldr x12, [x26]; sub x11, x0, x12; ldr x12, [x26, #56]; cmp x11, x12; b.cs <out of line>; add x10, x0, #0x0; tst x10, #0x3; b.ne <out of line>; ldaddal w1, wzr, [x10]"),
    ("r2 = atomic_fetch_and((u64 *)(r1 + 0), r2)", "f940034c cb0c000b f940234c eb0c017f 540001a2 9100000a f240095f 540001c1 aa2103eb f8eb1141", "ldr x12, [x26]; sub x11, x0, x12; ldr x12, [x26, #64]; cmp x11, x12; b.cs <out of line>; add x10, x0, #0x0; tst x10, #0x7; b.ne <out of line>; mvn x11, x1; ldclral x11, x1, [x10]"),
];

const LL_SC_ATOMICS: &[Row] = &[
    ("r2 = xchg_64(r1 + 0, r2)", "9100000a c85ffd4b c80dfd41 35ffffcd d5033bbf aa0b03e1", "add x10, x0, #0x0; ldaxr x11, [x10]; stlxr w13, x1, [x10]; cbnz w13, 4; dmb ish; mov x1, x11"),
    ("r0 = cmpxchg_64(r1 + 0, r0, r2)", "9100000a c85ffd4b eb07017f 54000061 c80dfd41 35ffff8d d5033bbf aa0b03e7", "add x10, x0, #0x0; ldaxr x11, [x10]; cmp x11, x7; b.ne 18; stlxr w13, x1, [x10]; cbnz w13, 4; dmb ish; mov x7, x11"),
    ("w0 = cmpxchg32_32(r1 + 0, w0, w2)", "9100000a 885ffd4b 6b07017f 54000061 880dfd41 35ffff8d d5033bbf 2a0b03e7", "add x10, x0, #0x0; ldaxr w11, [x10]; cmp w11, w7; b.ne 18; stlxr w13, w1, [x10]; cbnz w13, 4; dmb ish; mov w7, w11"),
    ("r1 = -1", "92800000", "mov x0, #0xffffffffffffffff"),
    ("w2 = -1", "12800001", "mov w1, #0xffffffff"),
];

#[test]
fn emits_unchecked_instructions() {
    check_table(Mode::Unchecked, LSE, UNCHECKED);
}

#[test]
fn emits_checked_memory_accesses() {
    check_table(Mode::Checked, LSE, CHECKED);
}

#[test]
fn emits_ll_sc_atomics() {
    check_table(Mode::Unchecked, LL_SC, LL_SC_ATOMICS);
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/aarch64-objdump.txt")
}

/// Every distinct word the JIT emits for the table and the conformance
/// corpus in each mode (blinding only changes constants).
fn emitted_words() -> BTreeMap<u32, ()> {
    let mut out = BTreeMap::new();
    let mut add = |jit: &JitProgram| {
        for w in words(jit.code()) {
            out.insert(w, ());
        }
    };
    for (table, mode, arch) in [
        (UNCHECKED, Mode::Unchecked, LSE),
        (CHECKED, Mode::Checked, LSE),
        (LL_SC_ATOMICS, Mode::Unchecked, LL_SC),
    ] {
        for &(asm, _, _) in table {
            let code = oxbpf_isa::assemble_bytes(&format!("{asm}\nexit")).expect("assembles");
            add(&compile(&code, mode, arch, false).expect("compiles"));
        }
    }
    let Some(dir) = corpus::conformance_dir() else {
        println!("the conformance corpus is absent: only the table's words are checked");
        return out;
    };
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).expect("corpus file");
        let Ok(code) = oxbpf_isa::ConformanceTest::parse(&text).and_then(|t| t.bytecode()) else {
            continue;
        };
        for (mode, arch) in [
            (Mode::Checked, LSE),
            (Mode::Unchecked, LSE),
            (Mode::Checked, LL_SC),
        ] {
            if let Some(jit) = compile(&code, mode, arch, false) {
                add(&jit);
            }
        }
    }
    out
}

/// objdump's text for each word, as `address word text` lines: the words
/// laid out one after another (branch targets depend on the address).
fn run_objdump(words: &[u32]) -> String {
    let bin = std::env::temp_dir().join(format!("oxbpf-golden-{}.bin", std::process::id()));
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    std::fs::write(&bin, bytes).expect("write");
    let o = std::process::Command::new("aarch64-linux-gnu-objdump")
        .args(["-D", "-b", "binary", "-m", "aarch64"])
        .arg(&bin)
        .output()
        .expect("aarch64-linux-gnu-objdump runs (binutils-aarch64-linux-gnu)");
    let _ = std::fs::remove_file(&bin);
    let mut out = String::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        // "  10:\t<word> \t<mnemonic>\t<operands>"
        let mut parts = line.splitn(3, '\t');
        let (Some(addr), Some(word), Some(insn)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(addr) = addr.trim().strip_suffix(':') else {
            continue;
        };
        // Drop objdump's symbol names and comments (`// #-1`).
        let insn = insn.split(" <").next().unwrap_or(insn);
        let insn = insn.split("//").next().unwrap_or(insn).trim();
        out.push_str(&format!(
            "{addr} {} {}\n",
            word.trim(),
            insn.replace('\t', " ")
        ));
    }
    out
}

#[test]
fn decoder_matches_objdump() {
    let words = emitted_words();
    if std::env::var_os("OXBPF_REGEN_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_path().parent().expect("dir")).expect("mkdir");
        let list: Vec<u32> = words.keys().copied().collect();
        std::fs::write(golden_path(), run_objdump(&list)).expect("write golden");
    }
    let golden = std::fs::read_to_string(golden_path()).expect("golden file");
    let mut known = BTreeMap::new();
    let mut mismatches = Vec::new();
    for line in golden.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(addr), Some(word), Some(text)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("bad golden line {line:?}");
        };
        let addr = u64::from_str_radix(addr, 16).expect("address");
        let word = u32::from_str_radix(word, 16).expect("word");
        known.insert(word, ());
        let ours = disassemble(word, addr).replace('\t', " ");
        if ours != text {
            mismatches.push(format!(
                "{word:08x} at {addr:x}: objdump `{text}`, ours `{ours}`"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Every word of the table and the corpus was checked, except the
    // halves of host addresses (the context, helpers), which vary by run.
    let unknown: Vec<String> = words
        .keys()
        .filter(|w| !known.contains_key(w) && !is_address_part(**w) && !is_pc_relative(**w))
        .map(|w| format!("{w:08x} {}", disassemble(*w, 0)))
        .collect();
    assert!(
        unknown.is_empty(),
        "words missing from the golden file (OXBPF_REGEN_GOLDEN=1 rewrites it):\n{}",
        unknown.join("\n")
    );
    println!("{} words checked against objdump", known.len());
}

/// `movz`/`movk` of a 64-bit register: constants built from host addresses.
/// Whether `w` is a pc-relative branch or address (b, bl, b.cond, cbz/cbnz,
/// tbz/tbnz, adr): its offset depends on how long the code before the target
/// is, and loading a host address takes one to four instructions depending on
/// the address, which varies by run. The golden file checks these kinds at
/// the offsets it has; new offsets are not required to be in it.
fn is_pc_relative(w: u32) -> bool {
    (w >> 26) & 0x1f == 0b00101
        || w >> 24 == 0x54
        || (w >> 25) & 0x3f == 0b011010
        || (w >> 25) & 0x3f == 0b011011
        || w & 0x9f00_0000 == 0x1000_0000
}

fn is_address_part(w: u32) -> bool {
    w & 0xff80_0000 == 0xd280_0000 || w & 0xff80_0000 == 0xf280_0000
}
