//! The loop runs some pairs of adjacent instructions in one dispatch, except
//! when it traces. Random programs built from such pairs must give the same r0,
//! memory, error (instruction index included) and executed-instruction count
//! traced (one instruction at a time) and untraced, with and without a budget,
//! and with budgets that run out anywhere.

use oxbpf_isa::{AluOp, Insn, JmpCond, LddwSrc, Operand, Reg, Size, Width};
use oxbpf_vm::{Helpers, Tracer, Vm, VmError};
use proptest::prelude::*;

/// Scalar registers the pairs work on; r6 points at the input memory.
fn reg() -> impl Strategy<Value = Reg> {
    (0u8..5).prop_map(|n| Reg::new(n).expect("r0..r4"))
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W64), Just(Width::W32)]
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        reg().prop_map(Operand::Reg),
        prop_oneof![-3i32..70, any::<i32>()].prop_map(Operand::Imm),
    ]
}

/// An operation that fused pairs start or end with.
fn part() -> impl Strategy<Value = Vec<Insn>> {
    let alu = (
        width(),
        proptest::sample::select(vec![
            AluOp::Mov,
            AluOp::Add,
            AluOp::Sub,
            AluOp::Lsh,
            AluOp::Rsh,
            AluOp::And,
            AluOp::Or,
            AluOp::Xor,
            AluOp::Mod,
            AluOp::Mul,
        ]),
        reg(),
        operand(),
    )
        .prop_map(|(width, op, dst, src)| Insn::Alu {
            width,
            op,
            dst,
            src,
        })
        .boxed();
    let jump = (
        width(),
        proptest::sample::select(JmpCond::ALL.to_vec()),
        reg(),
        operand(),
        0i16..3,
    )
        .prop_map(|(width, cond, dst, src, off)| Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        })
        .boxed();
    // Loads and stores through r5, which the program sets to r6 + a small
    // index, so some of them fall outside the 64-byte input.
    let size = proptest::sample::select(Size::ALL.to_vec());
    let load = (size.clone(), reg(), prop_oneof![0i16..8, 56i16..70])
        .prop_map(|(size, dst, off)| Insn::Ldx {
            size,
            signed: false,
            dst,
            src: Reg::R5,
            off,
        })
        .boxed();
    let store = (size, reg(), prop_oneof![0i16..8, 56i16..70])
        .prop_map(|(size, src, off)| Insn::Stx {
            size,
            dst: Reg::R5,
            off,
            src,
        })
        .boxed();
    // r5 back to the input's start, and `r5 += r`, which right before a load
    // or store is a fused pair (and with the first, a fused triple).
    let reset = Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: Reg::R5,
        src: Operand::Reg(Reg::R6),
    };
    let index = reg()
        .prop_map(|r| Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: Reg::R5,
            src: Operand::Reg(r),
        })
        .boxed();
    let access = prop_oneof![load.clone(), store.clone()];
    // Two ops on the same register: most fused pairs need that.
    let same_dst = |first: Insn, mut second: Insn| {
        let d = match first {
            Insn::Alu { dst, .. } => dst,
            _ => Reg::R0,
        };
        match &mut second {
            Insn::Alu { dst, .. } | Insn::Jmp { dst, .. } => *dst = d,
            _ => {}
        }
        vec![first, second]
    };
    // The second op reads (as its source register) what the first wrote.
    let chained = |first: Insn, mut second: Insn| {
        let d = match first {
            Insn::Alu { dst, .. } => dst,
            _ => Reg::R0,
        };
        match &mut second {
            Insn::Alu { src, .. } | Insn::Jmp { src, .. } => *src = Operand::Reg(d),
            _ => {}
        }
        vec![first, second]
    };
    prop_oneof![
        4 => alu.clone().prop_map(|i| vec![i]),
        1 => (alu.clone(), alu.clone()).prop_map(move |(a, b)| chained(a, b)),
        4 => jump.clone().prop_map(|i| vec![i]),
        2 => (alu.clone(), alu.clone()).prop_map(move |(a, b)| same_dst(a, b)),
        2 => (alu, jump).prop_map(move |(a, b)| same_dst(a, b)),
        2 => load.prop_map(|i| vec![i]),
        1 => store.prop_map(|i| vec![i]),
        1 => Just(vec![reset]),
        1 => index.clone().prop_map(|i| vec![i]),
        1 => (index, access).prop_map(move |(i, a)| vec![reset, i, a]),
    ]
}

fn program(parts: &[Insn], seed: u64) -> Vec<u8> {
    let mut prog = Vec::new();
    // Varied starting values in r0 and r2..r4; r5 = r6 = r1, the input memory.
    for r in [0u8, 2, 3, 4] {
        prog.push(Insn::Lddw {
            dst: Reg::new(r).expect("a register"),
            src: LddwSrc::Imm64,
            imm: seed.rotate_left(r as u32 * 13) % if r % 2 == 0 { 100 } else { u64::MAX },
        });
    }
    for dst in [Reg::R6, Reg::R5] {
        prog.push(Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst,
            src: Operand::Reg(Reg::R1),
        });
    }
    prog.extend_from_slice(parts);
    // Every register the parts write ends in the memory the test compares.
    for r in 0..6u8 {
        prog.push(Insn::Stx {
            size: Size::DW,
            dst: Reg::R6,
            off: 8 * r as i16,
            src: Reg::new(r).expect("a register"),
        });
    }
    prog.push(Insn::Exit);
    oxbpf_isa::encode_program(&prog)
}

/// A tracer that records nothing, but makes the loop run one instruction at a time.
struct OneAtATime;

impl Tracer for OneAtATime {
    fn step(&mut self, _: usize, _: &[u64; 11]) {}
    fn finish(&mut self, _: &[u64; 11]) {}
}

/// What a run gives: r0 or the error, the instructions it counted, and the
/// memory afterwards.
type Outcome = (Result<u64, VmError>, Option<u64>, Vec<u8>);

/// Runs traced or not. All runs use the same buffer, so the addresses in
/// errors compare equal.
fn run(vm: &mut Vm, buf: &mut [u8], mem: &[u8], traced: bool) -> Outcome {
    buf.copy_from_slice(mem);
    let r = if traced {
        vm.run_traced(buf, &mut OneAtATime)
    } else {
        vm.run(buf)
    };
    let executed = r.as_ref().ok().and(vm.executed());
    (r, executed, buf.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn fused_and_unfused_runs_agree(
        parts in proptest::collection::vec(part(), 2..30),
        seed in any::<u64>(),
        mem in proptest::collection::vec(any::<u8>(), 64),
        cut in any::<u64>(),
    ) {
        let code = program(&parts.concat(), seed);
        let Ok(mut vm) = Vm::new(&code, &Helpers::new()) else { return Ok(()) };
        let mut buf = vec![0u8; mem.len()];
        vm.set_budget(Some(100_000));
        let one_at_a_time = run(&mut vm, &mut buf, &mem, true);
        let counted = run(&mut vm, &mut buf, &mem, false);
        prop_assert_eq!(&counted, &one_at_a_time);
        vm.set_budget(None);
        let (r, _, after) = run(&mut vm, &mut buf, &mem, false);
        prop_assert_eq!((&r, &after), (&one_at_a_time.0, &one_at_a_time.2));
        // A budget that runs out part of the way stops both at the same
        // instruction.
        if let Some(n) = one_at_a_time.1 {
            let budget = cut % (n + 1);
            vm.set_budget(Some(budget));
            let a = run(&mut vm, &mut buf, &mem, true);
            let b = run(&mut vm, &mut buf, &mem, false);
            prop_assert_eq!(b, a);
        }
    }
}

/// Single instructions over r1..r3 (and loads and stores through r5) from
/// which every fused pair can be formed, with their register constraints both
/// met and not.
fn singles() -> Vec<Insn> {
    let regs = [Reg::R1, Reg::R2];
    let operands = [
        Operand::Reg(Reg::R1),
        Operand::Reg(Reg::R2),
        Operand::Reg(Reg::R3),
        Operand::Imm(5),
    ];
    let ops = [
        AluOp::Mov,
        AluOp::Add,
        AluOp::Sub,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::And,
        AluOp::Or,
        AluOp::Xor,
        AluOp::Mod,
        AluOp::Mul,
    ];
    let mut out = Vec::new();
    for width in [Width::W64, Width::W32] {
        for dst in regs {
            for op in ops {
                for src in operands {
                    out.push(Insn::Alu {
                        width,
                        op,
                        dst,
                        src,
                    });
                }
            }
            for cond in JmpCond::ALL {
                for src in operands {
                    out.push(Insn::Jmp {
                        width,
                        cond,
                        dst,
                        src,
                        off: 1,
                    });
                }
            }
        }
    }
    for size in Size::ALL {
        for r in regs {
            out.push(Insn::Ldx {
                size,
                signed: false,
                dst: r,
                src: Reg::R5,
                off: 4,
            });
            out.push(Insn::Stx {
                size,
                dst: Reg::R5,
                off: 4,
                src: r,
            });
        }
    }
    // Movs of a negative immediate (which a 32-bit mov zero-extends) and
    // array indexing through r5.
    for dst in regs {
        for width in [Width::W64, Width::W32] {
            out.push(Insn::Alu {
                width,
                op: AluOp::Mov,
                dst,
                src: Operand::Imm(-7),
            });
        }
    }
    out.push(Insn::Ja { off: 1 });
    for index in [Reg::R2, Reg::R3] {
        out.push(Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: Reg::R5,
            src: Operand::Reg(index),
        });
    }
    out.push(Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: Reg::R5,
        src: Operand::Reg(Reg::R6),
    });
    out
}

/// Every ordered pair of `singles()`, on two sets of register values: traced
/// and untraced runs, counted and not, agree.
#[test]
fn every_pair_runs_the_same_fused_and_unfused() {
    let singles = singles();
    let mem: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let mut buf = vec![0u8; 64];
    let mut pairs = 0;
    for seed in [0x0123_4567_89ab_cdefu64, 0xffff_fff0_0000_0003, 7] {
        for a in &singles {
            for b in &singles {
                let code = program(&[*a, *b], seed);
                let mut vm = Vm::new(&code, &Helpers::new()).expect("a valid program");
                vm.set_budget(Some(1000));
                let reference = run(&mut vm, &mut buf, &mem, true);
                let counted = run(&mut vm, &mut buf, &mem, false);
                assert_eq!(counted, reference, "{a} ; {b}");
                vm.set_budget(None);
                let (r, _, after) = run(&mut vm, &mut buf, &mem, false);
                assert_eq!((r, after), (reference.0, reference.2), "{a} ; {b}");
                pairs += 1;
            }
        }
    }
    println!("{pairs} pairs agree");
}
