//! Array lookups inlined by the JIT give what the lookup helper gives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use oxbpf_isa::{encode_program, Insn, LddwSrc, Reg};
use oxbpf_jit::{ArrayMap, JitProgram, KnownMaps, Options};
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
    let maps = KnownMaps {
        arrays: &arrays,
        direct: &[],
    };
    // SAFETY: helper 1 is the lookup over `storage`, which outlives the runs
    // and is among their regions.
    let mut jit =
        unsafe { JitProgram::compile_with_maps(program, &Options::default(), maps) }.unwrap();
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

/// A one-entry "map" for direct calls: key 7 maps to `VALUE`.
static mut VALUE: [u8; 8] = [0; 8];

unsafe extern "C" fn lookup(data: *const std::ffi::c_void, key: *const u8) -> u64 {
    assert_eq!(data as u64, 0xd47a);
    // SAFETY: the JIT passes a stack pointer to 4 key bytes.
    let k = unsafe { (key as *const u32).read_unaligned() };
    if k == 7 {
        std::ptr::addr_of_mut!(VALUE) as u64
    } else {
        0
    }
}

unsafe extern "C" fn update(
    _: *const std::ffi::c_void,
    key: *const u8,
    value: *const u8,
    flags: u64,
) -> u64 {
    // SAFETY: the JIT passes stack pointers to 4 key and 8 value bytes.
    let (k, v) = unsafe {
        (
            (key as *const u32).read_unaligned(),
            (value as *const u64).read_unaligned(),
        )
    };
    if k != 7 || flags != 0 {
        return (-2i64) as u64;
    }
    // SAFETY: tests in this file run this program on one thread at a time.
    unsafe { std::ptr::addr_of_mut!(VALUE).write(v.to_le_bytes()) };
    0
}

#[test]
fn direct_map_calls_skip_the_helpers() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut h = Helpers::new();
    let c = calls.clone();
    h.register(1, move |_, _| {
        c.fetch_add(1, Ordering::Relaxed);
        Ok(0)
    });
    let c = calls.clone();
    h.register(2, move |_, _| {
        c.fetch_add(1, Ordering::Relaxed);
        Ok(0)
    });
    // update(map, &7, &41, 0); r0 = *lookup(map, &7) + update(map, &8, ...)'s result.
    let mut insns = oxbpf_isa::assemble(
        "*(u32 *)(r10 - 4) = 7\n*(u64 *)(r10 - 16) = 41\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -16\nr4 = 0",
    )
    .unwrap();
    let handle = Insn::Lddw {
        dst: Reg::R1,
        src: LddwSrc::Imm64,
        imm: HANDLE,
    };
    insns.push(handle);
    insns.extend(oxbpf_isa::assemble("call 2\nr6 = r0").unwrap());
    insns.push(handle);
    insns.extend(
        oxbpf_isa::assemble("call 1\nr0 = *(u64 *)(r0 + 0)\n*(u32 *)(r10 - 4) = 8\nr7 = r0")
            .unwrap(),
    );
    insns.push(handle);
    insns.extend(oxbpf_isa::assemble("call 2\nr0 += r7\nr0 += r6\nexit").unwrap());
    let program = Program::new(&encode_program(&insns), &h).unwrap();
    let direct = [oxbpf_jit::DirectMap {
        handle: HANDLE,
        key_size: 4,
        value_size: 8,
        data: 0xd47a as *const std::ffi::c_void,
        lookup,
        update,
    }];
    let maps = KnownMaps {
        arrays: &[],
        direct: &direct,
    };
    // SAFETY: the functions above read 4 key and 8 value bytes and return an
    // address inside `VALUE`, which the run lends as a region.
    let mut jit =
        unsafe { JitProgram::compile_with_maps(program, &Options::default(), maps) }.unwrap();
    // SAFETY: one thread uses VALUE in this test.
    let value = unsafe { &mut *std::ptr::addr_of_mut!(VALUE) };
    let region = Region::writable(value);
    let r0 = jit.run_with(&[0; 5], &[region]).unwrap();
    assert_eq!(
        r0 as i64,
        41 - 2,
        "value 41 read back, then ENOENT for key 8"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 0, "no helper ran");
}
