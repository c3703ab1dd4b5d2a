//! Interpreter benchmarks: clang-built workloads from `fixtures/bench`, run by
//! oxbpf's interpreter and by the `rbpf` crate's interpreter on the same bytecode.
//!
//! Run with `cargo bench -p oxbpf-vm --bench interpreter`. Before measuring, each
//! workload is run once by both engines; their results must agree, and the
//! number of executed instructions is printed so times convert to ns/instruction.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use oxbpf_vm::{Helpers, Vm};

/// A workload: its bytecode file and its input memory.
struct Workload {
    name: &'static str,
    code: Vec<u8>,
    mem: Vec<u8>,
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/bench")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Deterministic pseudo-random bytes.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 56) as u8
        })
        .collect()
}

/// The workloads' memory layout: u32 parameter, u32 data length, data.
fn with_rounds(rounds: u32, body: Vec<u8>) -> Vec<u8> {
    let mut m = rounds.to_le_bytes().to_vec();
    m.extend((body.len() as u32).to_le_bytes());
    m.extend(body);
    m
}

/// Sixteen 64-byte slots of NUL-terminated strings with long shared prefixes.
fn strings() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..16 {
        let mut s = vec![b'a'; 40 + (i * 7) % 20];
        s.push(0);
        s.resize(64, 0);
        out.extend(s);
    }
    out
}

fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "primes",
            code: fixture("primes.bin"),
            mem: with_rounds(3000, vec![]),
        },
        Workload {
            name: "log2",
            code: fixture("log2.bin"),
            mem: with_rounds(5000, vec![]),
        },
        Workload {
            name: "switch",
            code: fixture("switch.bin"),
            mem: with_rounds(50, noise(256, 1)),
        },
        Workload {
            name: "bytecopy",
            code: fixture("memcpy.bin"),
            mem: with_rounds(50, noise(512, 2)),
        },
        Workload {
            name: "strcmp",
            code: fixture("strcmp.bin"),
            mem: with_rounds(20, strings()),
        },
    ]
}

fn rbpf_run(code: &[u8], mem: &mut [u8]) -> u64 {
    let vm = rbpf::EbpfVmRaw::new(Some(code)).expect("rbpf loads the workload");
    vm.execute_program(mem).expect("rbpf runs the workload")
}

fn bench(c: &mut Criterion) {
    for w in workloads() {
        let mut vm = Vm::new(&w.code, &Helpers::new()).expect("oxbpf loads the workload");
        vm.set_budget(Some(u64::MAX));
        let ours = vm.run(&mut w.mem.clone()).expect("oxbpf runs the workload");
        let executed = vm.executed().expect("a budgeted run counts");
        vm.set_budget(None);
        let theirs = rbpf_run(&w.code, &mut w.mem.clone());
        let agree = if ours == theirs {
            "agrees"
        } else {
            "DISAGREES"
        };
        eprintln!(
            "workload {}: {executed} instructions executed, r0 = {ours:#x}; rbpf {agree} (r0 = {theirs:#x})",
            w.name
        );

        let mut group = c.benchmark_group(w.name);
        let mut mem = w.mem.clone();
        group.bench_function("oxbpf", |b| b.iter(|| vm.run(&mut mem).unwrap()));
        let rvm = rbpf::EbpfVmRaw::new(Some(&w.code)).unwrap();
        let mut mem = w.mem.clone();
        group.bench_function("rbpf", |b| {
            b.iter(|| rvm.execute_program(&mut mem).unwrap())
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
