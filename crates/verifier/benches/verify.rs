//! Verifier throughput: processed instructions per second on a long unrolled
//! program, on bounded loops with many states (one near the 1M limit), and on
//! the real clang-built fixtures.
//!
//! Run with `cargo bench -p oxbpf-verifier --bench verify`. Each workload is
//! verified once first; it must be accepted, and its processed-instruction
//! count is printed and used as the throughput unit.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oxbpf_isa::RawInsn;
use oxbpf_object::{Object, ProgramType};
use oxbpf_verifier::{object_maps, verify, Input, MapInfo, Options};

struct Workload {
    name: String,
    slots: Vec<RawInsn>,
    prog_type: ProgramType,
    maps: Vec<MapInfo>,
}

fn asm(name: &str, text: &str, prog_type: ProgramType) -> Workload {
    let insns = oxbpf_isa::assemble(text).expect("the workload assembles");
    Workload {
        name: name.into(),
        slots: oxbpf_isa::raw_slots(&oxbpf_isa::encode_program(&insns)).expect("whole slots"),
        prog_type,
        maps: Vec::new(),
    }
}

/// Straight-line code: stack stores and loads and ALU work, 8 instructions a step.
fn unrolled(steps: usize) -> String {
    let mut s = String::from("r0 = 0\nr2 = 1\n");
    for k in 0..steps {
        let off = 8 * (1 + k % 60);
        s.push_str(&format!(
            "r3 = r2\nr3 += {k}\n*(u64 *)(r10 - {off}) = r3\nr4 = *(u64 *)(r10 - {off})\nr4 &= 255\nr0 += r4\nr2 ^= r0\nr2 &= 1023\n"
        ));
    }
    s.push_str("exit");
    s
}

/// A loop of `n` iterations that indexes the stack: every iteration is a new state.
fn stack_loop(n: usize) -> String {
    format!(
        "r0 = 0\nr1 = 0\n*(u64 *)(r10 - 8) = 0\nl:\nr2 = r1\nr2 &= 7\nr3 = r10\nr3 += -8\nr3 += r2\nr4 = *(u8 *)(r3 + 0)\nr0 += r4\nr1 += 1\nif r1 < {n} goto l\nexit"
    )
}

fn fixture(file: &str, prog: &str) -> Workload {
    let path = format!("{}/../../fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let obj =
        Object::parse(&std::fs::read(&path).expect("fixture exists")).expect("fixture parses");
    let p = obj.program(prog).expect("fixture program");
    Workload {
        name: format!("{file}:{prog}"),
        slots: p.insns.clone(),
        prog_type: p.prog_type,
        maps: object_maps(&obj),
    }
}

fn bench(c: &mut Criterion) {
    let workloads = vec![
        asm(
            "unrolled_100k",
            &unrolled(12_500),
            ProgramType::SocketFilter,
        ),
        asm(
            "stack_loop_10k",
            &stack_loop(10_000),
            ProgramType::SocketFilter,
        ),
        asm(
            "counted_loop_1m",
            "r0 = 0\nr1 = 0\nl:\nr0 += r1\nr1 += 1\nif r1 < 333000 goto l\nexit",
            ProgramType::SocketFilter,
        ),
        fixture("elf/flowcount.o", "count_flows"),
        fixture("elf/firewall.o", "firewall"),
        fixture("elf/packet.o", "xdp_parse"),
        fixture("elf/maps.o", "use_maps"),
        fixture("elf/mapbench.o", "array_lookup"),
        fixture("elf/mapbench.o", "ringbuf_submit"),
    ];
    let opts = Options::default();
    let mut group = c.benchmark_group("verify");
    for w in &workloads {
        let mut input = Input::new(&w.slots, w.prog_type);
        input.maps = &w.maps;
        let first = verify(&input, &opts);
        assert!(first.accepted(), "{}: {}", w.name, first.text());
        let n = first.stats.insns_processed;
        println!(
            "{}: {} instructions, {} processed, {} states stored, {:?} once",
            w.name,
            w.slots.len(),
            n,
            first.stats.states_explored,
            first.stats.time
        );
        group.throughput(Throughput::Elements(n));
        group.bench_function(&w.name, |b| b.iter(|| verify(&input, &opts)));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
