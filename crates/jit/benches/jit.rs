//! JIT benchmarks, side by side in one run: oxbpf's JIT (unchecked, checked,
//! and checked with an instruction budget), the `rbpf` crate's JIT, and native
//! code built from the same C (`fixtures/bench/*.c`, gcc -O2, loaded with
//! dlopen). Also compile time and the overhead of one call into compiled code.
//!
//! Run with `cargo bench -p oxbpf-jit --bench jit`. Before measuring, every
//! engine runs each workload once and must return the same r0; the
//! interpreter's instruction count is printed so times convert to ns/instruction.

use std::ffi::CString;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use oxbpf_jit::{JitProgram, Mode, Options};
use oxbpf_vm::{Helpers, Program, Vm};

#[path = "../../vm/benches/workloads.rs"]
mod workloads;

use workloads::{bench_dir, workloads};

type NativeFn = unsafe extern "C" fn(*mut u8) -> u64;

/// Builds the workloads' C with gcc -O2 into a shared object and loads it.
fn native_library() -> Option<*mut libc::c_void> {
    let out = std::env::temp_dir().join(format!("oxbpf-bench-native-{}.so", std::process::id()));
    let mut cmd = std::process::Command::new("gcc");
    cmd.args(["-O2", "-shared", "-fPIC", "-o"]).arg(&out);
    for name in ["primes", "log2", "switch", "memcpy", "strcmp"] {
        cmd.arg(bench_dir().join(format!("{name}.c")));
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("native baseline skipped: gcc failed ({other:?})");
            return None;
        }
    }
    let path = CString::new(out.to_string_lossy().as_bytes()).ok()?;
    // SAFETY: dlopen of a library we just built; its constructors are gcc's defaults.
    let lib = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    let _ = std::fs::remove_file(&out);
    (!lib.is_null()).then_some(lib)
}

fn native_fn(lib: *mut libc::c_void, symbol: &str) -> Option<NativeFn> {
    let name = CString::new(symbol).ok()?;
    // SAFETY: dlsym on a live handle; the symbol, when present, is a C function
    // `u64 f(u8 *)` as bench.h declares.
    let f = unsafe { libc::dlsym(lib, name.as_ptr()) };
    // SAFETY: see above.
    (!f.is_null()).then(|| unsafe { std::mem::transmute::<*mut libc::c_void, NativeFn>(f) })
}

fn unchecked(program: Program) -> JitProgram {
    let options = Options {
        mode: Mode::Unchecked,
        constant_blinding: false,
        ..Default::default()
    };
    // SAFETY: the workloads stay inside their input memory and stack; the
    // checked build of the same bytecode, run first on the same input, proves it.
    unsafe { JitProgram::compile_with_mode(program, &options) }.expect("compiles")
}

fn bench_workloads(c: &mut Criterion) {
    let lib = native_library();
    for w in workloads() {
        let program = Program::new(&w.code, &Helpers::new()).expect("loads");
        let mut vm = Vm::from_program(program.clone());
        vm.set_budget(Some(u64::MAX));
        let want = vm.run(&mut w.mem.clone()).expect("interpreter runs it");
        let executed = vm.executed().unwrap_or(0);

        let mut checked = JitProgram::compile(program.clone(), &Options::default()).unwrap();
        let got_checked = checked
            .run(&mut w.mem.clone())
            .expect("checked JIT runs it");
        let mut budgeted = JitProgram::compile(program.clone(), &Options::default()).unwrap();
        budgeted.set_budget(Some(u64::MAX)).unwrap();
        let got_budgeted = budgeted
            .run(&mut w.mem.clone())
            .expect("budgeted JIT runs it");
        assert_eq!(got_budgeted, want, "{}: budgeted JIT disagrees", w.name);
        let mut fast = unchecked(program.clone());
        let got_fast = fast.run(&mut w.mem.clone()).expect("unchecked JIT runs it");
        assert_eq!(
            (got_checked, got_fast),
            (want, want),
            "{}: JIT disagrees",
            w.name
        );

        let mut rvm = rbpf::EbpfVmRaw::new(Some(&w.code)).expect("rbpf loads it");
        rvm.jit_compile().expect("rbpf compiles it");
        // SAFETY: rbpf's JIT runs the same bytecode on its own copy of the memory.
        let rbpf_r0 = unsafe { rvm.execute_program_jit(&mut w.mem.clone()) }.ok();
        let native = lib.and_then(|l| native_fn(l, w.symbol));
        // SAFETY: the C function reads and writes only inside its memory, as built.
        let native_r0 = native.map(|f| unsafe { f(w.mem.clone().as_mut_ptr()) });
        eprintln!(
            "workload {}: {executed} instructions (interpreter), r0 = {want:#x}; rbpf JIT r0 = {rbpf_r0:x?}{}; native r0 = {native_r0:x?}",
            w.name,
            if rbpf_r0 == Some(want) { " (agrees)" } else { " (DISAGREES)" },
        );

        let mut group = c.benchmark_group(w.name);
        let mut mem = w.mem.clone();
        group.bench_function("oxbpf-jit-unchecked", |b| {
            b.iter(|| fast.run(&mut mem).unwrap())
        });
        let mut mem = w.mem.clone();
        group.bench_function("oxbpf-jit-checked", |b| {
            b.iter(|| checked.run(&mut mem).unwrap())
        });
        let mut mem = w.mem.clone();
        group.bench_function("oxbpf-jit-checked-budget", |b| {
            b.iter(|| budgeted.run(&mut mem).unwrap())
        });
        if rbpf_r0 == Some(want) {
            let mut mem = w.mem.clone();
            group.bench_function("rbpf-jit", |b| {
                // SAFETY: as above.
                b.iter(|| unsafe { rvm.execute_program_jit(&mut mem) }.unwrap())
            });
        }
        if let Some(f) = native {
            let mut mem = w.mem.clone();
            group.bench_function("native", |b| {
                // SAFETY: as above.
                b.iter(|| unsafe { f(std::hint::black_box(mem.as_mut_ptr())) })
            });
        }
        group.finish();
    }
}

/// A straight-line program of `n` instructions mixing ALU, memory and jumps.
fn synthetic(n: usize) -> Vec<u8> {
    let mut text = String::from("r0 = 0\n");
    for i in 1..n - 1 {
        text.push_str(match i % 6 {
            0 => "r0 += 3\n",
            1 => "r2 = *(u8 *)(r1 + 0)\n",
            2 => "*(u64 *)(r10 - 8) = r0\n",
            3 => "if r0 > 1000 goto +1\n",
            4 => "r0 ^= r2\n",
            _ => "w3 = w0\n",
        });
    }
    text.push_str("exit\n");
    oxbpf_isa::assemble_bytes(&text).expect("assembles")
}

fn bench_compile_and_call(c: &mut Criterion) {
    let code = synthetic(300);
    let program = Program::new(&code, &Helpers::new()).unwrap();
    let mut group = c.benchmark_group("compile");
    for mode in [Mode::Unchecked, Mode::Checked] {
        let options = Options {
            mode,
            constant_blinding: false,
            ..Default::default()
        };
        group.bench_with_input(
            BenchmarkId::new("300-insns", format!("{mode:?}")),
            &options,
            |b, o| {
                // SAFETY: compiled, never run.
                b.iter(|| unsafe { JitProgram::compile_with_mode(program.clone(), o) }.unwrap())
            },
        );
    }
    group.finish();

    let tiny = oxbpf_isa::assemble_bytes("r0 = r2\nexit").unwrap();
    let mut jit = unchecked(Program::new(&tiny, &Helpers::new()).unwrap());
    let mut checked = JitProgram::compile(
        Program::new(&tiny, &Helpers::new()).unwrap(),
        &Options::default(),
    )
    .unwrap();
    let mut mem = [0u8; 16];
    let mut group = c.benchmark_group("call");
    group.bench_function("oxbpf-jit-unchecked", |b| {
        b.iter(|| jit.run(&mut mem).unwrap())
    });
    group.bench_function("oxbpf-jit-checked", |b| {
        b.iter(|| checked.run(&mut mem).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_workloads, bench_compile_and_call
}
criterion_main!(benches);
