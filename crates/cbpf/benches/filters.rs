//! Classic BPF filters over a generated capture of 1,000,000 packets, side by
//! side with `tcpdump -r FILE -w /dev/null EXPR`.
//!
//! Run with `cargo build --release -p oxbpf-cli && cargo bench -p oxbpf-cbpf
//! --bench filters`. The capture (about 95 MB, from `oxbpf_cbpf::synth`) is
//! written to the temporary directory on first use. Each filter's program is
//! tcpdump's own (`tcpdump -ddd`), so the engines all run the same
//! instructions; the in-process rows read the file through `PcapStream` as
//! the CLI does. The `oxbpf filter` rows run the release CLI as a process
//! (with oxbpf's own compiler), like the `tcpdump` row. Before timing, every
//! engine's match count is checked against tcpdump's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oxbpf_cbpf::pcap::{PcapOut, PcapStream, LINKTYPE_ETHERNET};
use oxbpf_cbpf::synth::Traffic;
use oxbpf_cbpf::to_ebpf::EbpfFilter;
use oxbpf_cbpf::{interp, listing, Insn};

const PACKETS: u64 = 1_000_000;

const FILTERS: [&str; 4] = [
    "ip",
    "tcp port 80",
    "host 10.0.0.1 or net 192.168.1.0/24",
    "vlan and udp",
];

fn capture() -> PathBuf {
    let path = std::env::temp_dir().join("oxbpf-bench-1M.pcap");
    if !path.exists() {
        let tmp = path.with_extension("tmp");
        let file = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
        let mut out = PcapOut::new(file, LINKTYPE_ETHERNET, 262144).unwrap();
        for (ts, data, wire) in Traffic::new(1).take(PACKETS as usize) {
            out.write(ts, &data, wire).unwrap();
        }
        out.finish().unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// Reads the whole file, running `f` on each packet; returns the matches.
fn filter_file(path: &Path, mut f: impl FnMut(&[u8], u32) -> u32) -> u64 {
    let mut s = PcapStream::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut n = 0;
    while let Some(p) = s.next_packet() {
        let p = p.unwrap();
        if f(p.data, p.wirelen) != 0 {
            n += 1;
        }
    }
    n
}

fn run(cmd: &mut Command) -> (Duration, String) {
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn oxbpf_cli() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let bin = target.join("release/oxbpf");
    bin.exists().then_some(bin)
}

/// Total time of `iters` runs of a process.
fn processes(iters: u64, program: &Path, args: &[&str]) -> Duration {
    (0..iters)
        .map(|_| run(Command::new(program).args(args)).0)
        .sum()
}

fn bench(c: &mut Criterion) {
    if Command::new("tcpdump").arg("--version").output().is_err() {
        println!("skipped: tcpdump is not installed (it gives the programs and the baseline)");
        return;
    }
    let path = capture();
    let file = path.to_str().unwrap().to_string();
    let cli = oxbpf_cli();
    if cli.is_none() {
        println!(
            "note: no target/release/oxbpf; `cargo build --release -p oxbpf-cli` adds the CLI rows"
        );
    }
    let tcpdump = Path::new("tcpdump");
    for expr in FILTERS {
        let (_, ddd) = run(Command::new("tcpdump").args(["-r", &file, "-ddd", expr]));
        let prog: Vec<Insn> = listing::parse_ddd(&ddd).unwrap();
        let (_, count) = run(Command::new("tcpdump").args(["-r", &file, "--count", expr]));
        let want: u64 = count.split_whitespace().next().unwrap().parse().unwrap();
        let mut vm = EbpfFilter::new(&prog).unwrap();
        #[cfg(target_arch = "x86_64")]
        let mut jit = oxbpf_cbpf::to_ebpf::JitFilter::new(&prog).unwrap();
        assert_eq!(
            filter_file(&path, |d, w| interp::run(&prog, d, w)),
            want,
            "{expr}"
        );
        assert_eq!(filter_file(&path, |d, w| vm.run(d, w)), want, "{expr}");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(filter_file(&path, |d, w| jit.run(d, w)), want, "{expr}");
        println!(
            "{expr}: {} instructions, {want} of {PACKETS} packets match",
            prog.len()
        );

        let mut g = c.benchmark_group(format!("filter/{expr}"));
        g.throughput(Throughput::Elements(PACKETS));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(3));
        let tcpdump_args = ["-r", file.as_str(), "-w", "/dev/null", expr];
        g.bench_function("tcpdump -w /dev/null", |b| {
            b.iter_custom(|iters| processes(iters, tcpdump, &tcpdump_args))
        });
        if let Some(cli) = &cli {
            let vm_args = ["filter", "-r", file.as_str(), "-w", "/dev/null", expr];
            g.bench_function("oxbpf filter -w /dev/null (VM)", |b| {
                b.iter_custom(|iters| processes(iters, cli, &vm_args))
            });
            let jit_args = [
                "filter",
                "--jit",
                "-r",
                file.as_str(),
                "-w",
                "/dev/null",
                expr,
            ];
            g.bench_function("oxbpf filter -w /dev/null --jit", |b| {
                b.iter_custom(|iters| processes(iters, cli, &jit_args))
            });
            let interp_args = [
                "filter",
                "--cbpf-interp",
                "-r",
                file.as_str(),
                "-w",
                "/dev/null",
                expr,
            ];
            g.bench_function("oxbpf filter -w /dev/null --cbpf-interp", |b| {
                b.iter_custom(|iters| processes(iters, cli, &interp_args))
            });
        }
        g.bench_function("in-process classic interpreter", |b| {
            b.iter(|| filter_file(&path, |d, w| interp::run(&prog, d, w)))
        });
        g.bench_function("in-process eBPF on the VM", |b| {
            b.iter(|| filter_file(&path, |d, w| vm.run(d, w)))
        });
        #[cfg(target_arch = "x86_64")]
        g.bench_function("in-process eBPF JIT", |b| {
            b.iter(|| filter_file(&path, |d, w| jit.run(d, w)))
        });
        g.bench_function("in-process read only (no filter)", |b| {
            b.iter(|| filter_file(&path, |_, _| 1))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
