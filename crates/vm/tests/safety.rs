//! The interpreter's memory model, control-flow checks and limits.

use oxbpf_isa::assemble_bytes;
use oxbpf_vm::{Helpers, Region, Vm, VmError};

fn vm(text: &str) -> Vm {
    Vm::new(&assemble_bytes(text).unwrap(), &Helpers::conformance()).unwrap()
}

fn run(text: &str, mem: &mut [u8]) -> Result<u64, VmError> {
    vm(text).run(mem)
}

fn load_err(text: &str) -> VmError {
    Vm::new(&assemble_bytes(text).unwrap(), &Helpers::conformance()).unwrap_err()
}

#[test]
fn reads_and_writes_inside_regions_work() {
    let mut mem = [1u8, 2, 3, 4, 5, 6, 7, 8];
    let r0 = run(
        "r0 = *(u32 *)(r1 + 4)\n*(u16 *)(r1 + 0) = 0xbeef\n*(u64 *)(r10 - 8) = r0\nr0 = *(u64 *)(r10 - 8)\nexit",
        &mut mem,
    )
    .unwrap();
    assert_eq!(r0, 0x0807_0605);
    assert_eq!(mem[..2], [0xef, 0xbe]);
}

#[test]
fn accesses_outside_every_region_are_errors_naming_the_instruction() {
    let mut mem = [0u8; 8];
    for (text, pc, kind) in [
        ("r0 = *(u64 *)(r1 + 1)\nexit", 0, "read"),
        ("r0 = 0\n*(u8 *)(r1 + 8) = 1\nexit", 1, "write"),
        ("r0 = *(u8 *)(r1 - 1)\nexit", 0, "read"),
        ("r0 = *(u64 *)(r10 + 0)\nexit", 0, "read"),
        ("r0 = *(u64 *)(r10 - 4097)\nexit", 0, "read"),
        ("r1 = 0\nr0 = *(u8 *)(r1 + 0)\nexit", 1, "read"),
        (
            "r0 = 0\nr1 = 0x1000 ll\nlock *(u64 *)(r1 + 0) += r0\nexit",
            3,
            "atomic",
        ),
    ] {
        match run(text, &mut mem) {
            Err(VmError::OutOfBounds { pc: p, kind: k, .. }) => {
                assert_eq!((p, k), (pc, kind), "{text}");
            }
            other => panic!("{text}: expected OutOfBounds, got {other:?}"),
        }
    }
    assert_eq!(mem, [0u8; 8], "nothing was written");
}

#[test]
fn read_only_regions_reject_writes() {
    let data = [7u8; 4];
    let mut v = vm("r0 = *(u8 *)(r1 + 0)\n*(u8 *)(r1 + 0) = 1\nexit");
    let region = Region::readable(&data);
    let err = v
        .run_with(&[region.addr(), 4, 0, 0, 0], &[region], &mut NoopTracer)
        .unwrap_err();
    assert!(
        matches!(
            err,
            VmError::OutOfBounds {
                pc: 1,
                kind: "write",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(data, [7; 4]);
}

struct NoopTracer;
impl oxbpf_vm::Tracer for NoopTracer {
    fn step(&mut self, _: usize, _: &[u64; 11]) {}
    fn finish(&mut self, _: &[u64; 11]) {}
}

#[test]
fn misaligned_atomics_are_errors() {
    let err = run("r1 = 1\nlock *(u64 *)(r10 - 12) += r1\nexit", &mut []).unwrap_err();
    assert!(
        matches!(err, VmError::MisalignedAtomic { pc: 1, len: 8, .. }),
        "{err}"
    );
    let ok = run(
        "r1 = 5\n*(u64 *)(r10 - 8) = 0\nlock *(u32 *)(r10 - 8) += w1\nr0 = *(u64 *)(r10 - 8)\nexit",
        &mut [],
    );
    assert_eq!(ok, Ok(5));
}

#[test]
fn atomics_fetch_exchange_and_compare() {
    let prog = "
        *(u64 *)(r10 - 8) = 10
        r1 = 3
        r1 = atomic_fetch_add((u64 *)(r10 - 8), r1)   # r1 = 10, mem = 13
        r2 = 100
        r2 = xchg_64(r10 - 8, r2)                      # r2 = 13, mem = 100
        r0 = 100
        r3 = 7
        r0 = cmpxchg_64(r10 - 8, r0, r3)               # r0 = 100, mem = 7
        r4 = *(u64 *)(r10 - 8)
        r0 += r1
        r0 += r2
        r0 *= 1000
        r0 += r4
        exit";
    assert_eq!(run(prog, &mut []), Ok((100 + 10 + 13) * 1000 + 7));
}

#[test]
fn budget_stops_infinite_loops() {
    let mut v = vm("r0 = 0\nloop:\nr0 += 1\ngoto loop\nexit");
    v.set_budget(Some(1000));
    let err = v.run(&mut []).unwrap_err();
    assert!(
        matches!(err, VmError::BudgetExhausted { budget: 1000, .. }),
        "{err}"
    );
    v.set_budget(None);
    let mut w = vm("r0 = 0\nloop:\nr0 += 1\nif r0 < 500 goto loop\nexit");
    w.set_budget(Some(1002));
    assert_eq!(w.run(&mut []), Ok(500));
    assert_eq!(w.executed(), Some(1 + 500 * 2 + 1));
}

#[test]
fn bad_control_flow_is_rejected_at_load() {
    assert!(matches!(
        load_err("goto +5\nexit"),
        VmError::JumpOutOfRange {
            index: 0,
            target: 6,
            ..
        }
    ));
    assert!(matches!(
        load_err("if r1 == 0 goto -2\nexit"),
        VmError::JumpOutOfRange {
            index: 0,
            target: -1,
            ..
        }
    ));
    assert!(matches!(
        load_err("goto +1\nr1 = 0x1122334455 ll\nexit"),
        VmError::JumpIntoLddw {
            index: 0,
            target: 2
        }
    ));
    assert!(matches!(
        load_err("call 99\nexit"),
        VmError::UnknownHelper { index: 0, id: 99 }
    ));
    assert!(matches!(
        load_err("call kfunc 7\nexit"),
        VmError::Unsupported { index: 0, .. }
    ));
    assert!(matches!(
        load_err("r1 = map_fd(3) ll\nexit"),
        VmError::Unsupported { index: 0, .. }
    ));
    assert!(matches!(
        Vm::new(&[], &Helpers::new()).unwrap_err(),
        VmError::EmptyProgram
    ));
}

#[test]
fn falling_off_the_end_is_an_error() {
    assert_eq!(run("r0 = 1", &mut []), Err(VmError::FellOffEnd { pc: 1 }));
}

#[test]
fn local_calls_get_fresh_frames_and_preserve_callee_saved_registers() {
    let prog = "
        *(u64 *)(r10 - 8) = 11
        r6 = 6
        r1 = 5
        call local f
        r0 += r6                 # 6 preserved
        r2 = *(u64 *)(r10 - 8)   # caller's slot untouched by the callee
        r0 += r2
        exit
    f:
        *(u64 *)(r10 - 8) = 99   # the callee's own frame
        r6 = 1000
        r0 = r1
        r0 *= 2
        exit";
    assert_eq!(run(prog, &mut []), Ok(10 + 6 + 11));
}

#[test]
fn call_depth_is_limited_to_eight_frames() {
    let err = run("call local f\nexit\nf:\ncall local f\nexit", &mut []).unwrap_err();
    assert!(matches!(err, VmError::CallDepth { max: 8, .. }), "{err}");
    // Seven nested calls (eight frames) are fine.
    let mut prog = String::from("r0 = 0\ncall local f1\nexit\n");
    for i in 1..=7 {
        prog.push_str(&format!("f{i}:\nr0 += 1\n"));
        if i < 7 {
            prog.push_str(&format!("call local f{}\n", i + 1));
        }
        prog.push_str("exit\n");
    }
    assert_eq!(run(&prog, &mut []), Ok(7));
}

#[test]
fn helpers_see_checked_memory_and_callx_dispatches_by_id() {
    let mut helpers = Helpers::new();
    helpers.register(100, |ctx, args| {
        let s = ctx.memory.read_cstr(args[0], 64).ok_or("bad pointer")?;
        Ok(s.len() as u64)
    });
    helpers.register(101, |ctx, args| {
        ctx.memory
            .write(args[0], b"hi")
            .ok_or("bad pointer".to_string())?;
        Ok(0)
    });
    let code = assemble_bytes(
        "call 100\nr6 = r0\nr1 = r10\nr1 += -8\nr2 = 101\ncallx r2\nr0 = *(u16 *)(r10 - 8)\nr0 <<= 8\nr0 += r6\nexit",
    )
    .unwrap();
    let mut vm = Vm::new(&code, &helpers).unwrap();
    let mut mem = *b"hello\0world";
    let r0 = vm.run(&mut mem).unwrap();
    assert_eq!(r0, (u16::from_le_bytes(*b"hi") as u64) << 8 | 5);

    let code = assemble_bytes("r1 = 0\ncall 100\nexit").unwrap();
    let err = Vm::new(&code, &helpers).unwrap().run(&mut []).unwrap_err();
    assert_eq!(
        err.to_string(),
        "instruction 1: helper 100 failed: bad pointer"
    );
    let code = assemble_bytes("r1 = 7\ncallx r1\nexit").unwrap();
    let err = Vm::new(&code, &helpers).unwrap().run(&mut []).unwrap_err();
    assert!(matches!(err, VmError::BadCallx { pc: 1, value: 7 }));
}

#[test]
fn legacy_packet_loads_are_big_endian_and_end_with_zero_out_of_bounds() {
    let mut pkt = [0x12u8, 0x34, 0x56, 0x78, 0x9a];
    assert_eq!(run("r0 = *(u16 *)skb[1]\nexit", &mut pkt), Ok(0x3456));
    assert_eq!(
        run("r7 = 1\nr0 = *(u32 *)skb[r7 + 0]\nexit", &mut pkt),
        Ok(0x3456_789a)
    );
    assert_eq!(run("r0 = *(u32 *)skb[2]\nr0 = 5\nexit", &mut pkt), Ok(0));
}

#[test]
fn runs_do_not_see_earlier_runs_stack() {
    let mut v = vm("r0 = *(u64 *)(r10 - 8)\n*(u64 *)(r10 - 8) = 42\nexit");
    assert_eq!(v.run(&mut []), Ok(0));
    assert_eq!(v.run(&mut []), Ok(0));
}

#[test]
fn programs_without_calls_get_one_512_byte_frame() {
    // As the kernel's MAX_BPF_STACK: below r10 - 512 is outside the stack...
    let err = run("r0 = *(u64 *)(r10 - 520)\nexit", &mut []).unwrap_err();
    assert!(
        matches!(
            err,
            VmError::OutOfBounds {
                pc: 0,
                kind: "read",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(run("r0 = *(u64 *)(r10 - 512)\nexit", &mut []), Ok(0));
    // ...unless the program makes calls, whose frames lie below.
    assert_eq!(
        run(
            "r0 = *(u64 *)(r10 - 520)\ncall local f\nexit\nf:\nexit",
            &mut []
        ),
        Ok(0)
    );
}

#[test]
fn run_unchecked_matches_run_on_a_verified_shape() {
    // Sums the input's bytes: every access is inside the input memory.
    let code = oxbpf_isa::encode_program(
        &oxbpf_isa::assemble(
            "r0 = 0\nr3 = 0\nloop:\nif r3 >= r2 goto out\nr4 = r1\nr4 += r3\nr5 = *(u8 *)(r4 + 0)\nr0 += r5\nr3 += 1\ngoto loop\nout:\nexit",
        )
        .unwrap(),
    );
    let mut vm = oxbpf_vm::Vm::new(&code, &oxbpf_vm::Helpers::new()).unwrap();
    let mut mem: Vec<u8> = (1..=10).collect();
    let checked = vm.run(&mut mem).unwrap();
    // SAFETY: the loop reads only bytes below r2, the input's length.
    let unchecked = unsafe { vm.run_unchecked(&mut mem) }.unwrap();
    assert_eq!((checked, unchecked), (55, 55));
}
