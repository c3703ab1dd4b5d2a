//! Differential test: random programs over every kind of instruction give the
//! same r0, memory and faults in the interpreter and in the JIT.

use oxbpf_isa::{
    encode_program, AluOp, AtomicOp, ByteOrder, CallKind, Insn, JmpCond, LddwSrc, Operand, Reg,
    Size, Width,
};
use oxbpf_jit::{Arch, JitProgram, Mode, Options};
use oxbpf_vm::{Helpers, Program, Vm, VmError};
use proptest::prelude::*;

const MEM_LEN: usize = 64;

/// One instruction before jump targets and slots are laid out.
#[derive(Clone, Debug)]
enum Spec {
    Alu(Width, AluOp, u8, Result<u8, i32>),
    Neg(Width, u8),
    End(ByteOrder, u8, u8),
    Jmp(Width, JmpCond, u8, Result<u8, i32>, usize),
    Ja(usize),
    Ldx(Size, bool, Base, u8),
    St(Size, Base, i32),
    Stx(Size, Base, u8),
    Atomic(Size, AtomicOp, Base, u8),
    Lddw(u8, u64),
    Helper(i32),
    Callx(u8),
    CallLocal,
}

/// An address operand: base register and offset.
#[derive(Clone, Copy, Debug)]
struct Base(u8, i16);

fn reg() -> impl Strategy<Value = u8> {
    0u8..10
}

fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![
        -4i32..64,
        any::<i32>(),
        Just(i32::MIN),
        Just(-1),
        Just(31),
        Just(63)
    ]
}

fn operand() -> impl Strategy<Value = Result<u8, i32>> {
    prop_oneof![reg().prop_map(Ok), imm().prop_map(Err)]
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn size() -> impl Strategy<Value = Size> {
    prop::sample::select(Size::ALL.to_vec())
}

fn base() -> impl Strategy<Value = Base> {
    prop_oneof![
        4 => (-520i16..9).prop_map(|o| Base(10, o)),
        4 => (-4i16..70).prop_map(|o| Base(1, o)),
        1 => (reg(), -8i16..8).prop_map(|(r, o)| Base(r, o)),
    ]
}

fn alu_op() -> impl Strategy<Value = AluOp> {
    prop::sample::select(AluOp::ALL.to_vec())
}

fn atomic_op() -> impl Strategy<Value = AtomicOp> {
    prop::sample::select(AtomicOp::ALL.to_vec())
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        8 => (width(), alu_op(), reg(), operand()).prop_map(|(w, op, d, s)| Spec::Alu(w, op, d, s)),
        1 => (width(), reg()).prop_map(|(w, d)| Spec::Neg(w, d)),
        1 => (
            prop::sample::select(vec![ByteOrder::Le, ByteOrder::Be, ByteOrder::Swap]),
            prop::sample::select(vec![16u8, 32, 64]),
            reg()
        )
            .prop_map(|(o, b, d)| Spec::End(o, b, d)),
        3 => (width(), prop::sample::select(JmpCond::ALL.to_vec()), reg(), operand(), 1usize..8)
            .prop_map(|(w, c, d, s, a)| Spec::Jmp(w, c, d, s, a)),
        1 => (1usize..6).prop_map(Spec::Ja),
        3 => (size(), any::<bool>(), base(), reg()).prop_map(|(s, x, b, d)| Spec::Ldx(s, x, b, d)),
        2 => (size(), base(), imm()).prop_map(|(s, b, i)| Spec::St(s, b, i)),
        3 => (size(), base(), reg()).prop_map(|(s, b, r)| Spec::Stx(s, b, r)),
        2 => (
            prop_oneof![Just(Size::W), Just(Size::DW)],
            atomic_op(),
            prop_oneof![
                (-64i16..0).prop_map(|o| Base(10, o & !3)),
                (-4i16..66).prop_map(|o| Base(1, o)),
            ],
            reg()
        )
            .prop_map(|(s, op, b, r)| Spec::Atomic(s, op, b, r)),
        1 => (reg(), any::<u64>()).prop_map(|(d, v)| Spec::Lddw(d, v)),
        1 => prop_oneof![Just(5), Just(7)].prop_map(Spec::Helper),
        1 => reg().prop_map(Spec::Callx),
        1 => Just(Spec::CallLocal),
    ]
}

fn r(n: u8) -> Reg {
    Reg::new(n).expect("register number below 11")
}

fn op(s: Result<u8, i32>) -> Operand {
    match s {
        Ok(n) => Operand::Reg(r(n)),
        Err(i) => Operand::Imm(i),
    }
}

/// Lays the specs out: forward jumps, a final exit, and a subprogram after it.
fn build(specs: &[Spec]) -> Vec<Insn> {
    // Instructions per spec (callx is preceded by `rX = 5`).
    let count = |s: &Spec| match s {
        Spec::Callx(_) => 2,
        _ => 1,
    };
    let slots = |s: &Spec| match s {
        Spec::Lddw(..) => 2,
        Spec::Callx(_) => 2,
        _ => 1,
    };
    let mut slot_of = Vec::with_capacity(specs.len() + 1);
    let mut slot = 0usize;
    for s in specs {
        slot_of.push(slot);
        slot += slots(s);
    }
    let exit_slot = slot;
    slot_of.push(exit_slot);
    let sub_slot = exit_slot + 1;
    // Unchecked code (for verified programs) leaves registers a program never
    // writes undefined: give r0 and r3..r9 values first, as a verified program
    // would, so every engine starts from the same state.
    let init: Vec<Insn> = [0u8, 3, 4, 5, 6, 7, 8, 9]
        .into_iter()
        .map(|n| Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: r(n),
            src: Operand::Imm(0),
        })
        .collect();
    let mut out = init;
    for (i, s) in specs.iter().enumerate() {
        let here = slot_of[i];
        let target = |ahead: usize| {
            let t = slot_of[(i + ahead).min(specs.len())];
            (t as i64 - here as i64 - 1) as i16
        };
        let _ = count(s);
        let insn = match *s {
            Spec::Alu(width, op_, d, src) => {
                let src = match op_ {
                    AluOp::Movsx8 | AluOp::Movsx16 | AluOp::Movsx32 => {
                        Operand::Reg(r(src.unwrap_or(3)))
                    }
                    _ => op(src),
                };
                let width = if op_ == AluOp::Movsx32 {
                    Width::W64
                } else {
                    width
                };
                Insn::Alu {
                    width,
                    op: op_,
                    dst: r(d),
                    src,
                }
            }
            Spec::Neg(width, d) => Insn::Neg { width, dst: r(d) },
            Spec::End(order, bits, d) => Insn::End {
                order,
                bits,
                dst: r(d),
            },
            Spec::Jmp(width, cond, d, src, ahead) => Insn::Jmp {
                width,
                cond,
                dst: r(d),
                src: op(src),
                off: target(ahead),
            },
            Spec::Ja(ahead) => Insn::Ja { off: target(ahead) },
            Spec::Ldx(size, signed, Base(b, off), d) => Insn::Ldx {
                size,
                signed: signed && size != Size::DW,
                dst: r(d),
                src: r(b),
                off,
            },
            Spec::St(size, Base(b, off), imm) => Insn::St {
                size,
                dst: r(b),
                off,
                imm,
            },
            Spec::Stx(size, Base(b, off), s) => Insn::Stx {
                size,
                dst: r(b),
                off,
                src: r(s),
            },
            Spec::Atomic(size, aop, Base(b, off), s) => Insn::Atomic {
                size,
                op: aop,
                dst: r(b),
                src: r(s),
                off,
            },
            Spec::Lddw(d, imm) => Insn::Lddw {
                dst: r(d),
                src: LddwSrc::Imm64,
                imm,
            },
            Spec::Helper(id) => Insn::Call {
                kind: CallKind::Helper,
                imm: id,
            },
            Spec::Callx(x) => {
                out.push(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: r(x),
                    src: Operand::Imm(5),
                });
                Insn::Callx { reg: r(x) }
            }
            Spec::CallLocal => Insn::Call {
                kind: CallKind::Local,
                imm: (sub_slot as i64 - here as i64 - 1) as i32,
            },
        };
        out.push(insn);
    }
    out.push(Insn::Exit);
    // The subprogram: uses its own frame and the caller's registers.
    out.extend([
        Insn::Stx {
            size: Size::DW,
            dst: Reg::R10,
            off: -8,
            src: Reg::R1,
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::R0,
            src: Operand::Reg(Reg::R2),
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: Reg::R0,
            src: Operand::Imm(7),
        },
        Insn::Ldx {
            size: Size::DW,
            signed: false,
            dst: Reg::R6,
            src: Reg::R10,
            off: -8,
        },
        Insn::Exit,
    ]);
    out
}

fn helpers() -> Helpers {
    let mut h = Helpers::conformance();
    h.register(7, |ctx, a| {
        ctx.memory
            .write(a[0], &[0xab])
            .map(|()| 1)
            .ok_or_else(|| format!("cannot write at {:#x}", a[0]))
    });
    h
}

/// A run's outcome with host addresses of the engine's own stack removed.
fn normalize(r: Result<u64, VmError>) -> String {
    match r {
        Ok(v) => format!("ok {v:#x}"),
        Err(VmError::OutOfBounds {
            pc,
            addr,
            len,
            kind,
            where_,
        }) => {
            let addr = if where_.contains("stack") { 0 } else { addr };
            format!("oob pc={pc} addr={addr:#x} len={len} kind={kind} {where_}")
        }
        Err(VmError::MisalignedAtomic { pc, addr, len }) => {
            // Stack addresses differ between engines; the low bits do not.
            format!("misaligned pc={pc} low={} len={len}", addr & 7)
        }
        Err(e) => format!("error {e}"),
    }
}

fn check(specs: Vec<Spec>, init: Vec<u8>) -> Result<(), TestCaseError> {
    let code = encode_program(&build(&specs));
    let helpers = helpers();
    let program = Program::new(&code, &helpers).expect("generated programs load");
    let mut vm = Vm::from_program(program.clone());
    // One buffer for every engine, so pointers into it are the same numbers.
    let mut mem = init.clone();
    let want = normalize(vm.run(&mut mem));
    let want_mem = mem.clone();

    let mut jit = JitProgram::compile(program.clone(), &Options::default()).expect("compiles");
    mem.copy_from_slice(&init);
    let got = normalize(jit.run(&mut mem));
    prop_assert_eq!(&got, &want, "checked JIT vs interpreter");
    prop_assert_eq!(&mem, &want_mem, "memory after the run");

    let blinded = Options {
        mode: Mode::Checked,
        constant_blinding: true,
        ..Default::default()
    };
    let mut jit = JitProgram::compile(program.clone(), &blinded).expect("compiles");
    mem.copy_from_slice(&init);
    prop_assert_eq!(normalize(jit.run(&mut mem)), want.clone(), "blinded JIT");
    prop_assert_eq!(&mem, &want_mem);

    if let Arch::Aarch64 { lse: true } = Arch::host() {
        // Atomics also as LL/SC loops (the runs above use LSE).
        let ll_sc = Options {
            arch: Arch::Aarch64 { lse: false },
            ..Default::default()
        };
        let mut jit = JitProgram::compile(program.clone(), &ll_sc).expect("compiles");
        mem.copy_from_slice(&init);
        prop_assert_eq!(normalize(jit.run(&mut mem)), want.clone(), "LL/SC JIT");
        prop_assert_eq!(&mem, &want_mem);
    }

    if want.starts_with("ok") {
        // The same input takes the same path, which the checked run proved safe.
        let unchecked = Options {
            mode: Mode::Unchecked,
            constant_blinding: false,
            ..Default::default()
        };
        // SAFETY: see above; the program is deterministic for this input.
        let mut jit =
            unsafe { JitProgram::compile_with_mode(program, &unchecked) }.expect("compiles");
        mem.copy_from_slice(&init);
        prop_assert_eq!(normalize(jit.run(&mut mem)), want, "unchecked JIT");
        prop_assert_eq!(&mem, &want_mem);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn interpreter_and_jit_agree(
        specs in prop::collection::vec(spec(), 1..40),
        init in prop::collection::vec(any::<u8>(), MEM_LEN),
    ) {
        check(specs, init)?;
    }
}
