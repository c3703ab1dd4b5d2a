//! The benchmark workloads of `fixtures/bench`, shared by the interpreter's and
//! the JIT's benches: clang-built bytecode, its input memory, and the name of
//! the same C function for the native baseline.

use std::path::PathBuf;

/// A workload: its bytecode, its input memory and its C function's name.
pub struct Workload {
    pub name: &'static str,
    pub symbol: &'static str,
    pub code: Vec<u8>,
    pub mem: Vec<u8>,
}

/// `fixtures/bench`.
pub fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/bench")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = bench_dir().join(name);
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

/// The five workloads, with the sizes the benches use.
pub fn workloads() -> Vec<Workload> {
    let w = |name, symbol, file: &str, mem| Workload {
        name,
        symbol,
        code: fixture(file),
        mem,
    };
    vec![
        w("primes", "primes", "primes.bin", with_rounds(3000, vec![])),
        w("log2", "log2_bits", "log2.bin", with_rounds(5000, vec![])),
        w(
            "switch",
            "dispatch",
            "switch.bin",
            with_rounds(50, noise(256, 1)),
        ),
        w(
            "bytecopy",
            "bytecopy",
            "memcpy.bin",
            with_rounds(50, noise(512, 2)),
        ),
        w(
            "strcmp",
            "strcmp_loop",
            "strcmp.bin",
            with_rounds(20, strings()),
        ),
    ]
}
