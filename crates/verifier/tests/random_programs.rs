//! Random programs never crash the verifier, and every program it accepts runs
//! in oxbpf's checked interpreter without a memory fault.

use oxbpf_isa::{AluOp, AtomicOp, Insn, JmpCond, Operand, Reg, Size, Width};
use oxbpf_object::ProgramType;
use oxbpf_verifier::{verify, Input, Options};
use oxbpf_vm::{Helpers, Region, Tracer, Vm, VmError};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

struct Quiet;

impl Tracer for Quiet {
    fn step(&mut self, _: usize, _: &[u64; 11]) {}
    fn finish(&mut self, _: &[u64; 11]) {}
}

/// Size of the kprobe context (struct pt_regs) the programs read.
const CTX: usize = 168;

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..=10).prop_map(|n| Reg::new(n).expect("r0-r10"))
}

fn insn() -> impl Strategy<Value = Insn> {
    let size = proptest::sample::select(Size::ALL.to_vec());
    let alu_op = proptest::sample::select(AluOp::ALL.to_vec());
    let cond = proptest::sample::select(JmpCond::ALL.to_vec());
    let width = prop_oneof![Just(Width::W64), Just(Width::W32)];
    let operand = prop_oneof![
        reg().prop_map(Operand::Reg),
        (-20i32..300).prop_map(Operand::Imm)
    ];
    let off = prop_oneof![(-80i16..8), (0i16..180)];
    prop_oneof![
        4 => (width.clone(), alu_op, (0u8..10).prop_map(|n| Reg::new(n).expect("reg")), operand.clone())
            .prop_filter("valid", |(w, op, _, src)| op.valid(*w, matches!(src, Operand::Reg(_))))
            .prop_map(|(width, op, dst, src)| Insn::Alu { width, op, dst, src }),
        2 => (size.clone(), (0u8..10).prop_map(|n| Reg::new(n).expect("reg")), prop_oneof![Just(Reg::R1), Just(Reg::R10), reg()], off.clone())
            .prop_map(|(size, dst, src, off)| Insn::Ldx { size, signed: false, dst, src, off }),
        2 => (size.clone(), prop_oneof![Just(Reg::R10), reg()], off.clone(), reg())
            .prop_map(|(size, dst, off, src)| Insn::Stx { size, dst, off, src }),
        1 => (size, off.clone(), -5i32..5)
            .prop_map(|(size, off, imm)| Insn::St { size, dst: Reg::R10, off, imm }),
        2 => (width, cond, reg(), operand, 0i16..4)
            .prop_map(|(width, cond, dst, src, off)| Insn::Jmp { width, cond, dst, src, off }),
        1 => (prop_oneof![Just(Size::W), Just(Size::DW)], (-64i16..0), reg())
            .prop_map(|(size, off, src)| Insn::Atomic { size, op: AtomicOp::Add { fetch: true }, dst: Reg::R10, src, off }),
    ]
}

/// Verifies `bytes` as a kprobe program; if accepted, runs it and checks it
/// does not fault. Returns whether it was accepted.
fn check(bytes: &[u8]) -> bool {
    let Ok(slots) = oxbpf_isa::raw_slots(bytes) else {
        return false;
    };
    let report = verify(
        &Input::new(&slots, ProgramType::Kprobe),
        &Options::default(),
    );
    if !report.accepted() {
        return false;
    }
    let mut vm = Vm::new(bytes, &Helpers::new()).expect("accepted programs load");
    vm.set_budget(Some(2_000_000));
    let ctx = [0x5au8; CTX];
    let r = vm.run_with(
        &[ctx.as_ptr() as u64, 0, 0, 0, 0],
        &[Region::readable(&ctx)],
        &mut Quiet,
    );
    match r {
        Ok(_) | Err(VmError::BudgetExhausted { .. }) => true,
        Err(e) => panic!(
            "accepted program faulted: {e}\n{}",
            oxbpf_isa::disassemble(bytes, oxbpf_isa::Syntax::Llvm).unwrap_or_default()
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn accepted_programs_never_fault(body in proptest::collection::vec(insn(), 1..24), init in any::<bool>()) {
        let mut insns = Vec::new();
        if init {
            // Give the numbered registers values so more programs pass.
            for n in [0u8, 2, 3, 4, 5, 6, 7, 8, 9] {
                insns.push(Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::new(n).expect("reg"), src: Operand::Imm(n as i32) });
            }
        }
        insns.extend(body);
        insns.push(Insn::Exit);
        check(&oxbpf_isa::encode_program(&insns));
    }

    #[test]
    fn random_bytes_never_crash_the_verifier(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check(&bytes);
    }
}

#[test]
fn the_generator_reaches_accepted_programs() {
    // The property above is only meaningful if some random programs pass.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strat = proptest::collection::vec(insn(), 1..12);
    let mut accepted = 0;
    for _ in 0..2000 {
        let mut insns: Vec<Insn> = [0u8, 2, 3, 4, 5, 6, 7, 8, 9]
            .iter()
            .map(|&n| Insn::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: Reg::new(n).expect("reg"),
                src: Operand::Imm(n as i32),
            })
            .collect();
        insns.extend(strat.new_tree(&mut runner).expect("tree").current());
        insns.push(Insn::Exit);
        if check(&oxbpf_isa::encode_program(&insns)) {
            accepted += 1;
        }
    }
    println!("{accepted} of 2000 random programs accepted and run without a fault");
    assert!(
        accepted > 50,
        "only {accepted} random programs were accepted"
    );
}
