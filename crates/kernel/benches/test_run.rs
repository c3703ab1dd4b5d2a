//! The same programs test-run by the kernel (BPF_PROG_TEST_RUN: one run per
//! syscall, and 1000 runs in the kernel's own loop) and by oxbpf's
//! interpreter and JIT; and map lookups from the host through bpf(2) beside
//! oxbpf's in-process maps. Needs root; without it the bench prints why and
//! measures nothing.
//!
//! `cargo bench -p oxbpf-kernel --bench test_run`

use criterion::{criterion_group, criterion_main, Criterion};
use oxbpf_kernel::Kernel;
use oxbpf_object::Object;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../fixtures/elf/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    if !oxbpf_kernel::sys::privileged() {
        eprintln!("test_run bench: needs root (CAP_BPF) to load programs; nothing measured");
        return;
    }
    let packet = fixture("packets/udp80.bin");
    for (object, prog) in [("packet.o", "xdp_parse"), ("flowcount.o", "count_flows")] {
        let obj = Object::parse(&fixture(object)).unwrap();
        let kernel = Kernel::load(&obj).unwrap();
        let mut g = c.benchmark_group(format!("{object}:{prog}"));
        g.bench_function("kernel_syscall_per_run", |b| {
            b.iter(|| kernel.test_run(prog, &packet, None).unwrap().retval)
        });
        g.bench_function("kernel_1000_runs_per_syscall", |b| {
            b.iter(|| {
                kernel
                    .test_run_repeat(prog, &packet, None, 1000)
                    .unwrap()
                    .retval
            })
        });
        for (name, engine) in [
            ("oxbpf_interpreter", oxbpf::Engine::Interpreter),
            ("oxbpf_jit", oxbpf::Engine::Jit),
        ] {
            let options = oxbpf::Options {
                engine,
                ..oxbpf::Options::default()
            };
            let rt = oxbpf::Runtime::with_options(obj.clone(), options).unwrap();
            let mut inst = rt.instance(prog).unwrap();
            g.bench_function(name, |b| {
                b.iter(|| inst.test_run(&packet, None).unwrap().retval)
            });
        }
        g.finish();
    }

    let obj = Object::parse(&fixture("maps.o")).unwrap();
    let kernel = Kernel::load(&obj).unwrap();
    let rt = oxbpf::Runtime::with_options(obj, oxbpf::Options::default()).unwrap();
    let key = [0u8; 16];
    let value = 7u64.to_ne_bytes();
    kernel
        .map("flows")
        .unwrap()
        .update(&key, &value, 0)
        .unwrap();
    rt.map("flows").unwrap().update(&key, &value, 0).unwrap();
    let mut g = c.benchmark_group("host_hash_lookup");
    let kmap = kernel.map("flows").unwrap();
    g.bench_function("kernel_bpf_syscall", |b| {
        b.iter(|| kmap.lookup(&key).unwrap())
    });
    let umap = rt.map("flows").unwrap();
    g.bench_function("oxbpf_map", |b| b.iter(|| umap.lookup(&key)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
