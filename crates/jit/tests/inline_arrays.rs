//! Array lookups inlined by the JIT give what the lookup helper gives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use oxbpf_isa::{encode_program, Insn, LddwSrc, Reg};
use oxbpf_jit::{ArrayMap, JitProgram, Options};
use oxbpf_vm::{Helpers, Program, Region, Tracer, Vm};

struct NoTrace;

impl Tracer for NoTrace {
    fn step(&mut self, _: usize, _: &[u64; 11]) {}
    fn finish(&mut self, _: &[u64; 11]) {}
}

const HANDLE: u64 = 0x4d41_5000_0000_0003;
const STRIDE: u32 = 16;
const ENTRIES: u32 = 4;

/// A lookup helper over `base` with the kernel's array semantics; counts its calls.
fn helpers(base: u64, calls: Arc<AtomicUsize>) -> Helpers {
    let mut h = Helpers::new();
    h.register(1, move |ctx, a| {
        calls.fetch_add(1, Ordering::Relaxed);
        if a[0] != HANDLE {
            return Err(format!("{:#x} is not a map", a[0]));
        }
        let key = ctx.memory.read(a[1], 4).ok_or("cannot read the key")?;
        let i = u32::from_le_bytes(key.try_into().unwrap());
        Ok(if i < ENTRIES {
            base + (i * STRIDE) as u64
        } else {
            0
        })
    });
    h
}

/// Looks up `*(u32 *)(key_base + key_off)` and returns element word 1, or -1 for NULL.
fn program(key_base: Reg, key_off: i16, key: i32) -> Vec<u8> {
    let mut insns = oxbpf_isa::assemble(&format!("*(u32 *)(r10 - 4) = {key}")).unwrap();
    insns.push(Insn::Lddw {
        dst: Reg::R1,
        src: LddwSrc::Imm64,
        imm: HANDLE,
    });
    insns.extend(
        oxbpf_isa::assemble(&format!(
            "r2 = {}\nr2 += {key_off}\ncall 1\nif r0 == 0 goto null\nr0 = *(u64 *)(r0 + 8)\nexit\nnull:\nr0 = -1\nexit",
            if key_base == Reg::R10 { "r10" } else { "r6" }
        ))
        .unwrap(),
    );
    encode_program(&insns)
}

fn run_both(code: &[u8], input: &mut [u8]) -> (String, String, usize) {
    let mut storage = vec![0u8; (STRIDE * ENTRIES) as usize];
    for i in 0..ENTRIES as usize {
        storage[i * 16 + 8] = 10 + i as u8;
    }
    let base = storage.as_mut_ptr() as u64;
    let calls = Arc::new(AtomicUsize::new(0));
    let h = helpers(base, calls.clone());
    let program = Program::new(code, &h).unwrap();
    let args = [input.as_ptr() as u64, input.len() as u64, 0, 0, 0];
    let want = {
        let regions = [Region::writable(input), Region::writable(&mut storage)];
        format!(
            "{:?}",
            Vm::from_program(program.clone()).run_with(&args, &regions, &mut NoTrace)
        )
    };
    calls.store(0, Ordering::Relaxed);
    let arrays = [ArrayMap {
        handle: HANDLE,
        base,
        stride: STRIDE,
        max_entries: ENTRIES,
    }];
    let mut jit = JitProgram::compile_with_arrays(program, &Options::default(), &arrays).unwrap();
    let regions = [Region::writable(input), Region::writable(&mut storage)];
    let got = format!("{:?}", jit.run_with(&args, &regions));
    (want, got, calls.load(Ordering::Relaxed))
}

#[test]
fn inlined_lookups_match_the_helper_and_skip_the_call() {
    for (key, want) in [
        (0, "Ok(10)"),
        (3, "Ok(13)"),
        (4, "Ok(18446744073709551615)"),
        (-1, "Ok(18446744073709551615)"),
    ] {
        let code = program(Reg::R10, -4, key);
        let (interp, jit, calls) = run_both(&code, &mut [0u8; 8]);
        assert_eq!(interp, want, "key {key}");
        assert_eq!(jit, interp, "key {key}");
        assert_eq!(calls, 0, "key {key}: the lookup was inlined");
    }
}

#[test]
fn keys_off_the_stack_and_bad_keys_go_through_the_helper() {
    // Key in the input memory (r6 = r1): the helper runs, with the same result.
    let mut code = oxbpf_isa::assemble_bytes("r6 = r1").unwrap();
    code.extend(program(Reg::R6, 0, 0));
    let mut input = [2u8, 0, 0, 0, 0, 0, 0, 0];
    let (interp, jit, calls) = run_both(&code, &mut input);
    assert_eq!(interp, "Ok(12)");
    assert_eq!(jit, interp);
    assert_eq!(calls, 1);
    // A key pointer outside every region: the helper's error, in both engines.
    let mut code = oxbpf_isa::assemble_bytes("r6 = 16").unwrap();
    code.extend(program(Reg::R6, 0, 0));
    let (interp, jit, _) = run_both(&code, &mut input);
    assert!(interp.contains("cannot read the key"), "{interp}");
    assert_eq!(jit, interp);
}
