//! Pruning with precision tracking stays sound: random programs made of
//! diamonds on unknown bits, arithmetic, spills, bounds checks and stack
//! accesses at computed offsets are verified, and every accepted one runs in
//! the checked interpreter on many inputs (so on many paths) without a fault.
//! A wrong prune (an imprecise value that a check needed) would let some path
//! read outside the stack.

use oxbpf_object::ProgramType;
use oxbpf_verifier::{verify, Input, Options};
use oxbpf_vm::{Helpers, Region, Tracer, Vm, VmError};
use proptest::prelude::*;

struct Quiet;

impl Tracer for Quiet {
    fn step(&mut self, _: usize, _: &[u64; 11]) {}
    fn finish(&mut self, _: &[u64; 11]) {}
}

/// Size of the kprobe context (struct pt_regs).
const CTX: usize = 168;
/// Registers the blocks compute with.
const REGS: [u8; 5] = [0, 3, 4, 7, 8];

/// One piece of a program, as assembly (`k` numbers its labels).
#[derive(Clone, Debug)]
enum Block {
    /// `if r6 & (1 << bit)` with one assignment per arm.
    Diamond { bit: u8, dst: u8, a: i32, b: i32 },
    /// `dst op= src` or `dst op= imm`.
    Alu {
        op: u8,
        dst: u8,
        src: Option<u8>,
        imm: i32,
    },
    /// Spill `reg` to slot `slot`, or fill it from there.
    Stack { fill: bool, reg: u8, slot: u8 },
    /// Skip the next blocks up to the end when `reg > bound` (unsigned).
    Check { reg: u8, bound: i32 },
    /// Read one byte at `fp - 64 + reg`.
    Use { reg: u8 },
}

impl Block {
    fn asm(&self, k: usize) -> String {
        match *self {
            Block::Diamond { bit, dst, a, b } => format!(
                "if r6 & {} goto a{k}\nr{dst} = {a}\ngoto j{k}\na{k}:\nr{dst} = {b}\nj{k}:\n",
                1u32 << bit
            ),
            Block::Alu { op, dst, src, imm } => {
                let ops = ["+=", "-=", "&=", "|=", "<<=", ">>=", "="];
                let op = ops[op as usize % ops.len()];
                let imm = if op.contains("<<") || op.contains(">>") {
                    imm.rem_euclid(8)
                } else {
                    imm
                };
                match src {
                    Some(s) if !op.contains("<<") && !op.contains(">>") => {
                        format!("r{dst} {op} r{s}\n")
                    }
                    _ => format!("r{dst} {op} {imm}\n"),
                }
            }
            Block::Stack { fill, reg, slot } => {
                let off = 8 * (9 + slot as i32);
                if fill {
                    format!("r{reg} = *(u64 *)(r10 - {off})\n")
                } else {
                    format!("*(u64 *)(r10 - {off}) = r{reg}\n")
                }
            }
            Block::Check { reg, bound } => format!("if r{reg} > {bound} goto end\n"),
            Block::Use { reg } => {
                format!("r2 = r10\nr2 += -64\nr2 += r{reg}\nr5 = *(u8 *)(r2 + 0)\n")
            }
        }
    }
}

fn block() -> impl Strategy<Value = Block> {
    let reg = || proptest::sample::select(REGS.to_vec());
    prop_oneof![
        4 => (0u8..6, reg(), -4i32..70, -4i32..70)
            .prop_map(|(bit, dst, a, b)| Block::Diamond { bit, dst, a, b }),
        2 => (0u8..7, reg(), proptest::option::of(reg()), -8i32..40)
            .prop_map(|(op, dst, src, imm)| Block::Alu { op, dst, src, imm }),
        2 => (any::<bool>(), reg(), 0u8..3).prop_map(|(fill, reg, slot)| Block::Stack { fill, reg, slot }),
        2 => (reg(), 0i32..70).prop_map(|(reg, bound)| Block::Check { reg, bound }),
        3 => reg().prop_map(|reg| Block::Use { reg }),
    ]
}

/// The whole program: zeroed registers and stack, r6 unknown, the blocks.
fn program(blocks: &[Block]) -> String {
    let mut s = String::from("r6 = *(u64 *)(r1 + 0)\n");
    for r in REGS {
        s.push_str(&format!("r{r} = 0\n"));
    }
    for k in 1..=12 {
        s.push_str(&format!("*(u64 *)(r10 - {}) = 0\n", 8 * k));
    }
    for (k, b) in blocks.iter().enumerate() {
        s.push_str(&b.asm(k));
    }
    s.push_str("end:\nr0 = 0\nexit");
    s
}

/// Verifies the program; when accepted, runs it on inputs covering every
/// combination of the bits the diamonds test. Returns whether it was accepted.
fn check(text: &str) -> bool {
    let insns = oxbpf_isa::assemble(text).expect("generated programs assemble");
    let bytes = oxbpf_isa::encode_program(&insns);
    let slots = oxbpf_isa::raw_slots(&bytes).expect("whole slots");
    let report = verify(
        &Input::new(&slots, ProgramType::Kprobe),
        &Options::default(),
    );
    if !report.accepted() {
        return false;
    }
    let mut vm = Vm::new(&bytes, &Helpers::new()).expect("accepted programs load");
    for bits in 0u64..64 {
        let mut ctx = [0u8; CTX];
        ctx[..8].copy_from_slice(&bits.to_le_bytes());
        let r = vm.run_with(
            &[ctx.as_ptr() as u64, 0, 0, 0, 0],
            &[Region::readable(&ctx)],
            &mut Quiet,
        );
        match r {
            Ok(_) | Err(VmError::BudgetExhausted { .. }) => {}
            Err(e) => panic!("accepted program faulted on r6 = {bits}: {e}\n{text}"),
        }
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn accepted_programs_never_fault_on_any_path(blocks in proptest::collection::vec(block(), 1..16)) {
        check(&program(&blocks));
    }
}

#[test]
fn the_generator_reaches_accepted_programs_with_uses() {
    // Meaningful only if many accepted programs use a computed offset.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strat = proptest::collection::vec(block(), 1..16);
    let (mut accepted, mut with_use) = (0, 0);
    for _ in 0..1000 {
        let blocks = strat.new_tree(&mut runner).expect("tree").current();
        if check(&program(&blocks)) {
            accepted += 1;
            if blocks.iter().any(|b| matches!(b, Block::Use { .. })) {
                with_use += 1;
            }
        }
    }
    println!("{accepted} of 1000 accepted, {with_use} of them with a computed stack offset");
    assert!(
        with_use > 100,
        "only {with_use} accepted programs use an offset"
    );
}
