//! Compile-time benchmarks: the whole Ethernet golden corpus, and a few
//! single expressions of different sizes.
//!
//! Run with `cargo bench -p oxbpf-filter --bench compile`.

use criterion::{criterion_group, criterion_main, Criterion};
use oxbpf_filter::{compile, LinkType};
use std::path::PathBuf;

fn corpus() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goldens/eth.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.strip_prefix("expr\t"))
        .map(str::to_string)
        .collect()
}

fn bench(c: &mut Criterion) {
    let exprs = corpus();
    let total: usize = exprs
        .iter()
        .map(|e| compile(e, LinkType::Ethernet, 262144).unwrap().len())
        .sum();
    println!("corpus: {} expressions, {total} instructions", exprs.len());
    c.bench_function("compile/eth corpus", |b| {
        b.iter(|| {
            for e in &exprs {
                std::hint::black_box(compile(e, LinkType::Ethernet, 262144).unwrap());
            }
        })
    });
    for e in [
        "tcp port 80",
        "host 10.0.0.1 and (port 80 or port 53)",
        "vlan and tcp[tcpflags] & tcp-syn != 0",
    ] {
        c.bench_function(&format!("compile/{e}"), |b| {
            b.iter(|| compile(std::hint::black_box(e), LinkType::Ethernet, 262144).unwrap())
        });
    }
    let many: Vec<String> = (1..200).map(|i| format!("port {i}")).collect();
    let big = many.join(" or ");
    c.bench_function("compile/port 1 or ... or port 199", |b| {
        b.iter(|| compile(&big, LinkType::Ethernet, 262144).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
