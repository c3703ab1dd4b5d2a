//! The JIT's checked mode: the same memory model, limits and errors as the interpreter.

use oxbpf_isa::{encode_program, Insn, LddwSrc, Reg};
use oxbpf_jit::{JitProgram, Options};
use oxbpf_vm::{Helpers, Program, Region, Vm, VmError};

fn helpers() -> Helpers {
    let mut h = Helpers::conformance();
    h.register(100, |ctx, args| {
        let s = ctx.memory.read_cstr(args[0], 64).ok_or("bad pointer")?;
        Ok(s.len() as u64)
    });
    h.register(101, |ctx, args| {
        ctx.memory
            .write(args[0], b"hi")
            .ok_or("bad pointer".to_string())?;
        Ok(0)
    });
    // A bpf_loop-like helper: calls the function at args[1] args[0] times with
    // (i, args[2]); stops early when it returns non-zero.
    h.register(181, |ctx, args| {
        let mut n = 0;
        for i in 0..args[0] {
            n += 1;
            if ctx.call(args[1], [i, args[2], 0, 0, 0])? != 0 {
                break;
            }
        }
        Ok(n)
    });
    h
}

fn jit_of(code: &[u8]) -> JitProgram {
    let program = Program::new(code, &helpers()).expect("loads");
    JitProgram::compile(program, &Options::default()).expect("compiles")
}

/// Runs `text` in both engines on copies of `mem`; returns the JIT's result
/// after checking that the interpreter's result and memory are the same.
fn both(text: &str, mem: &[u8]) -> Result<u64, VmError> {
    let code = oxbpf_isa::assemble_bytes(text).unwrap();
    both_code(&code, mem)
}

fn both_code(code: &[u8], mem: &[u8]) -> Result<u64, VmError> {
    // One buffer for both engines, so addresses in reports are the same numbers.
    let mut buf = mem.to_vec();
    let want = Vm::new(code, &helpers()).unwrap().run(&mut buf);
    let after = buf.clone();
    buf.copy_from_slice(mem);
    let got = jit_of(code).run(&mut buf);
    assert_eq!(after, buf, "memory after the run");
    assert_eq!(
        without_stack_addresses(&want),
        without_stack_addresses(&got)
    );
    got
}

/// The result as text, with addresses hidden when they point into the stack
/// (each engine has its own).
fn without_stack_addresses(r: &Result<u64, VmError>) -> String {
    let text = format!("{r:?}");
    if !text.contains("stack") {
        return text;
    }
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        out.push_str("0x?");
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    // Debug output of OutOfBounds prints the address in decimal.
    match r {
        Err(VmError::OutOfBounds {
            pc,
            len,
            kind,
            where_,
            ..
        }) => format!("{pc} {len} {kind} {where_}"),
        _ => out,
    }
}

#[test]
fn reads_and_writes_inside_regions_work() {
    let mem = [1u8, 2, 3, 4, 5, 6, 7, 8];
    let text = "r0 = *(u32 *)(r1 + 4)\n*(u16 *)(r1 + 0) = 0xbeef\n*(u64 *)(r10 - 8) = r0\nr0 = *(u64 *)(r10 - 8)\nexit";
    assert_eq!(both(text, &mem), Ok(0x0807_0605));
}

#[test]
fn accesses_outside_every_region_are_errors_naming_the_instruction() {
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
        ("r10 = r1\nr0 = *(u64 *)(r10 - 8)\nexit", 1, "read"),
    ] {
        match both(text, &[0u8; 8]) {
            Err(VmError::OutOfBounds { pc: p, kind: k, .. }) => {
                assert_eq!((p, k), (pc, kind), "{text}")
            }
            other => panic!("{text}: expected OutOfBounds, got {other:?}"),
        }
    }
    let err = both("r0 = *(u64 *)(r1 + 4)\nexit", &[0u8; 8]).unwrap_err();
    assert!(
        err.to_string()
            .contains("it starts at offset 4 of the input memory, which is 8 bytes long"),
        "{err}"
    );
}

#[test]
fn read_only_regions_reject_writes() {
    let data = [7u8; 4];
    let code =
        oxbpf_isa::assemble_bytes("r0 = *(u8 *)(r1 + 0)\n*(u8 *)(r1 + 0) = 1\nexit").unwrap();
    let mut jit = jit_of(&code);
    let region = Region::readable(&data);
    let err = jit
        .run_with(&[region.addr(), 4, 0, 0, 0], &[region])
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

#[test]
fn second_regions_are_reached_through_the_slow_path() {
    let mut extra = [0u8; 16];
    let code = oxbpf_isa::assemble_bytes(
        "*(u32 *)(r3 + 12) = 0x11223344\nr0 = *(u8 *)(r1 + 0)\nr4 = *(u8 *)(r3 + 13)\nr0 += r4\nexit",
    )
    .unwrap();
    let mut jit = jit_of(&code);
    let input = [5u8; 2];
    let a = Region::readable(&input);
    let b = Region::writable(&mut extra);
    let (pa, pb) = (a.addr(), b.addr());
    assert_eq!(jit.run_with(&[pa, 2, pb, 0, 0], &[a, b]), Ok(5 + 0x33));
    assert_eq!(extra[12..], [0x44, 0x33, 0x22, 0x11]);
    let b = Region::writable(&mut extra);
    let err = jit
        .run_with(&[pa, 2, pb + 8, 0, 0], &[Region::readable(&input), b])
        .unwrap_err();
    assert!(
        matches!(
            err,
            VmError::OutOfBounds {
                pc: 0,
                kind: "write",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn misaligned_atomics_are_errors() {
    let err = both("r0 = 0\nlock *(u32 *)(r1 + 1) += r0\nexit", &[0u8; 8]).unwrap_err();
    assert!(
        matches!(err, VmError::MisalignedAtomic { pc: 1, len: 4, .. }),
        "{err}"
    );
}

#[test]
fn atomics_fetch_exchange_and_compare() {
    let text = "
        *(u64 *)(r10 - 8) = 5
        r2 = 3
        r2 = atomic_fetch_add((u64 *)(r10 - 8), r2)
        r3 = 0xf0
        r3 = atomic_fetch_or((u64 *)(r10 - 8), r3)
        r0 = 0xf8
        r4 = 1
        r0 = cmpxchg_64(r10 - 8, r0, r4)
        r5 = *(u64 *)(r10 - 8)
        r0 <<= 8
        r0 |= r5
        r0 <<= 8
        r0 |= r3
        r0 <<= 8
        r0 |= r2
        exit";
    assert_eq!(both(text, &[]), Ok(0xf8_01_08_05));
}

#[test]
fn budget_stops_infinite_loops() {
    let code = oxbpf_isa::assemble_bytes("r0 = 0\nloop:\nr0 += 1\ngoto loop\nexit").unwrap();
    let mut jit = jit_of(&code);
    jit.set_budget(Some(1000)).unwrap();
    let err = jit.run(&mut []).unwrap_err();
    assert!(
        matches!(
            err,
            VmError::BudgetExhausted {
                pc: 2,
                budget: 1000
            }
        ),
        "{err}"
    );
    let code =
        oxbpf_isa::assemble_bytes("r0 = 0\nloop:\nr0 += 1\nif r0 < 500 goto loop\nexit").unwrap();
    let mut jit = jit_of(&code);
    jit.set_budget(Some(2000)).unwrap();
    assert_eq!(jit.run(&mut []), Ok(500));
    jit.set_budget(Some(900)).unwrap();
    assert!(
        jit.run(&mut []).is_err(),
        "499 back-edges of 2 slots exceed 900"
    );
}

#[test]
fn falling_off_the_end_is_an_error() {
    assert_eq!(both("r0 = 1", &[]), Err(VmError::FellOffEnd { pc: 1 }));
}

#[test]
fn local_calls_get_fresh_frames_and_preserve_callee_saved_registers() {
    let prog = "
        *(u64 *)(r10 - 8) = 11
        r6 = 6
        r1 = 5
        call local f
        r0 += r6
        r2 = *(u64 *)(r10 - 8)
        r0 += r2
        exit
    f:
        *(u64 *)(r10 - 8) = 99
        r6 = 1000
        r0 = r1
        r0 *= 2
        exit";
    assert_eq!(both(prog, &[]), Ok(10 + 6 + 11));
}

#[test]
fn call_depth_is_limited_to_eight_frames() {
    let err = both("call local f\nexit\nf:\ncall local f\nexit", &[]).unwrap_err();
    assert!(matches!(err, VmError::CallDepth { max: 8, .. }), "{err}");
    let mut prog = String::from("r0 = 0\ncall local f1\nexit\n");
    for i in 1..=7 {
        prog.push_str(&format!("f{i}:\nr0 += 1\n"));
        if i < 7 {
            prog.push_str(&format!("call local f{}\n", i + 1));
        }
        prog.push_str("exit\n");
    }
    assert_eq!(both(&prog, &[]), Ok(7));
}

#[test]
fn helpers_see_checked_memory_and_callx_dispatches_by_id() {
    let text = "call 100\nr6 = r0\nr1 = r10\nr1 += -8\nr2 = 101\ncallx r2\nr0 = *(u16 *)(r10 - 8)\nr0 <<= 8\nr0 += r6\nexit";
    assert_eq!(
        both(text, b"hello\0world"),
        Ok((u16::from_le_bytes(*b"hi") as u64) << 8 | 5)
    );
    let err = both("r1 = 0\ncall 100\nexit", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "instruction 1: helper 100 failed: bad pointer"
    );
    let err = both("r1 = 7\ncallx r1\nexit", &[]).unwrap_err();
    assert_eq!(err, VmError::BadCallx { pc: 1, value: 7 });
}

#[test]
fn legacy_packet_loads_are_big_endian_and_end_with_zero_out_of_bounds() {
    let pkt = [0x12u8, 0x34, 0x56, 0x78, 0x9a];
    assert_eq!(both("r0 = *(u16 *)skb[1]\nexit", &pkt), Ok(0x3456));
    assert_eq!(
        both("r7 = 1\nr0 = *(u32 *)skb[r7 + 0]\nexit", &pkt),
        Ok(0x3456_789a)
    );
    assert_eq!(both("r0 = *(u32 *)skb[2]\nr0 = 5\nexit", &pkt), Ok(0));
}

#[test]
fn runs_do_not_see_earlier_runs_stack() {
    let code =
        oxbpf_isa::assemble_bytes("r0 = *(u64 *)(r10 - 8)\n*(u64 *)(r10 - 8) = 42\nexit").unwrap();
    let mut jit = jit_of(&code);
    assert_eq!(jit.run(&mut []), Ok(0));
    assert_eq!(jit.run(&mut []), Ok(0));
}

/// `r1 = n; r2 = &cb; r3 = ctx; call 181; exit` plus a callback body.
fn loop_program(n: i32, callback: &str) -> Vec<u8> {
    let head = oxbpf_isa::assemble(&format!("r1 = {n}\nr3 = 0")).unwrap();
    let tail = oxbpf_isa::assemble(&format!("call 181\nexit\n{callback}")).unwrap();
    let mut insns = head;
    // lddw of the callback's code address: relative to the next slot.
    insns.push(Insn::Lddw {
        dst: Reg::R2,
        src: LddwSrc::CodeAddr,
        imm: 3,
    });
    insns.extend(tail);
    encode_program(&insns)
}

#[test]
fn helpers_call_back_into_compiled_functions() {
    // The callback uses its own frame and stops the loop at i = 6.
    let code = loop_program(
        10,
        "*(u64 *)(r10 - 8) = r1\nr0 = *(u64 *)(r10 - 8)\nr0 = 0\nif r1 != 6 goto +1\nr0 = 1\nexit",
    );
    assert_eq!(both_code(&code, &[]), Ok(7), "stops after i = 6");
    // A fault inside a callback reaches the helper as an error.
    let code = loop_program(3, "r0 = *(u64 *)(r10 + 512)\nexit");
    let err = both_code(&code, &[]).unwrap_err();
    assert!(
        err.to_string().contains("in callback: instruction"),
        "{err}"
    );
}

#[test]
fn the_safe_entry_point_refuses_unchecked_mode() {
    let code = encode_program(&oxbpf_isa::assemble("r0 = 1\nexit").unwrap());
    let program = Program::new(&code, &helpers()).expect("loads");
    let options = Options {
        mode: oxbpf_jit::Mode::Unchecked,
        ..Options::default()
    };
    let e = JitProgram::compile(program, &options).unwrap_err();
    assert!(
        matches!(e, oxbpf_jit::JitError::UncheckedNeedsUnsafe),
        "{e}"
    );
}
