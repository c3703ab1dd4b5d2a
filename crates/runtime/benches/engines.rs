//! One test run of real XDP programs (clang-built, with their maps) in each
//! engine: the checked interpreter and JIT, and the verified ones, which run
//! the programs oxbpf's verifier accepts without run-time access checks.
//!
//! `cargo bench -p oxbpf --bench engines`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use oxbpf::{Engine, Options, Runtime};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/elf/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("packet.o", "xdp_parse", "dns.bin"),
        ("firewall.o", "firewall", "tcp.bin"),
        ("flowcount.o", "count_flows", "udp80.bin"),
    ];
    let mut g = c.benchmark_group("test_run");
    for (object, program, packet) in cases {
        let pkt = fixture(&format!("packets/{packet}"));
        let mut want = None;
        for engine in [
            Engine::Interpreter,
            Engine::InterpreterVerified,
            Engine::Jit,
            Engine::JitVerified,
        ] {
            let obj = oxbpf::object::Object::parse(&fixture(object)).unwrap();
            let options = Options {
                engine,
                ..Options::default()
            };
            let rt = Runtime::with_options(obj, options).unwrap();
            let mut inst = rt
                .instance(program)
                .unwrap_or_else(|e| panic!("{object}:{program} in {engine:?}: {e}"));
            // Every engine returns what the checked interpreter returns.
            let r = inst.test_run(&pkt, None).unwrap().retval;
            assert_eq!(
                *want.get_or_insert(r),
                r,
                "{object}:{program} in {engine:?}"
            );
            let id = BenchmarkId::new(format!("{engine:?}"), format!("{object}:{program}"));
            g.bench_function(id, |b| b.iter(|| inst.test_run(&pkt, None).unwrap().retval));
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
