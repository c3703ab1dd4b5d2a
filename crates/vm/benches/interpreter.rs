//! Interpreter benchmarks: clang-built workloads from `fixtures/bench`, run by
//! oxbpf's interpreter and by the `rbpf` crate's interpreter on the same bytecode.
//!
//! Run with `cargo bench -p oxbpf-vm --bench interpreter`. Before measuring, each
//! workload is run once by both engines; their results must agree, and the
//! number of executed instructions is printed so times convert to ns/instruction.

use criterion::{criterion_group, criterion_main, Criterion};
use oxbpf_vm::{Helpers, Vm};

#[path = "workloads.rs"]
#[allow(dead_code)]
mod workloads;

use workloads::workloads;

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
        // With a budget, as for programs no verifier has seen: every
        // instruction is counted.
        vm.set_budget(Some(u64::MAX));
        group.bench_function("oxbpf_budgeted", |b| b.iter(|| vm.run(&mut mem).unwrap()));
        vm.set_budget(None);
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
