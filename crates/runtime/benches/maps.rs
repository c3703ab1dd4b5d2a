//! Map operations done by programs (1000 per run, minus an empty loop of the
//! same shape), beside the same operations done by the host through the API.
//!
//! `cargo bench -p oxbpf --bench maps`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use oxbpf::maps::BPF_ANY;
use oxbpf::{Engine, Options, Runtime};

fn runtime(engine: Engine) -> Runtime {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/elf/mapbench.o");
    let obj = oxbpf::object::Object::parse(&std::fs::read(path).unwrap()).unwrap();
    let options = Options {
        engine,
        ..Options::default()
    };
    let rt = Runtime::with_options(obj, options).unwrap();
    let hash = rt.map("hash").unwrap();
    for k in 0..1024u32 {
        hash.update(&k.to_le_bytes(), &(k as u64).to_le_bytes(), BPF_ANY)
            .unwrap();
    }
    rt
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("in_program_x1000");
    for engine in [Engine::Interpreter, Engine::Jit] {
        let rt = runtime(engine);
        let rb = rt.map("rb").unwrap();
        for name in [
            "empty_loop",
            "array_lookup",
            "hash_lookup",
            "hash_update",
            "ringbuf_submit",
        ] {
            let mut inst = rt.instance(name).unwrap();
            g.bench_function(BenchmarkId::new(format!("{engine:?}"), name), |b| {
                b.iter(|| {
                    let r = inst.run(&mut []).unwrap();
                    if name == "ringbuf_submit" {
                        rb.ringbuf().unwrap().consume(|_| {});
                    }
                    r
                })
            });
        }
    }
    g.finish();

    let rt = runtime(Engine::Interpreter);
    let hash = rt.map("hash").unwrap();
    let rb = rt.map("rb").unwrap();

    let arr = rt.map("arr").unwrap();
    let mut g = c.benchmark_group("host");
    let key = 7u32.to_le_bytes();
    g.bench_function("array_lookup", |b| b.iter(|| arr.lookup(&key).unwrap()));
    g.bench_function("hash_lookup", |b| b.iter(|| hash.lookup(&key).unwrap()));
    g.bench_function("hash_update", |b| {
        b.iter(|| hash.update(&key, &1u64.to_le_bytes(), BPF_ANY).unwrap())
    });
    g.bench_function("ringbuf_output_consume", |b| {
        b.iter(|| {
            rb.ringbuf().unwrap().output(&[1; 8], false).unwrap();
            rb.ringbuf().unwrap().consume(|_| {})
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
