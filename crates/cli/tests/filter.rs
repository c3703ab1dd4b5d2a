//! `oxbpf filter` against tcpdump on generated captures.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use oxbpf_cbpf::pcap::{Capture, PcapOut, LINKTYPE_ETHERNET};
use oxbpf_cbpf::synth::Traffic;

fn oxbpf(args: &[&str]) -> Output {
    common::oxbpf_command()
        .arg("filter")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn have_tcpdump() -> bool {
    // Under qemu-user a missing program still "spawns" (and exits 127).
    let ok = Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped: tcpdump is not installed");
    }
    ok
}

/// A temporary directory with a 20000-packet synthetic Ethernet capture.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("oxbpf-filter-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut out = PcapOut::new(Vec::new(), LINKTYPE_ETHERNET, 262144).unwrap();
        for (ts, data, wire) in Traffic::new(11).take(20_000) {
            out.write(ts, &data, wire).unwrap();
        }
        std::fs::write(dir.join("in.pcap"), out.finish().unwrap()).unwrap();
        Fixture { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tcpdump(args: &[&str]) -> String {
    let o = Command::new("tcpdump")
        .env("TZ", "UTC")
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "tcpdump {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn packets(path: &str) -> Vec<(std::time::Duration, Vec<u8>, u32)> {
    let c = Capture::open(Path::new(path)).unwrap();
    c.packets()
        .unwrap()
        .map(|p| p.unwrap())
        .map(|p| (p.timestamp, p.data.to_vec(), p.wirelen))
        .collect()
}

const EXPRS: [&str; 8] = [
    "ip",
    "tcp port 80",
    "udp and not port 53",
    "ip6 and icmp6",
    "arp",
    "vlan and udp",
    "host 10.0.0.1 or net 192.168.1.0/24",
    "ip[6:2] & 0x1fff != 0",
];

#[test]
fn counts_and_written_packets_match_tcpdump() {
    if !have_tcpdump() {
        return;
    }
    let f = Fixture::new("counts");
    let input = f.path("in.pcap");
    for expr in EXPRS {
        // tcpdump's own program, as -ddd, through --program; and the expression
        // compiled by oxbpf. Both engines each.
        let ddd = tcpdump(&["-r", &input, "-ddd", expr]);
        let prog = f.path("prog.ddd");
        std::fs::write(&prog, &ddd).unwrap();
        let theirs = f.path("theirs.pcap");
        tcpdump(&["-r", &input, "-w", &theirs, expr]);
        let want = packets(&theirs);
        assert!(!want.is_empty(), "{expr} matches nothing");
        for source in [vec!["--program", &prog], vec![expr]] {
            for engine in [None, Some("--cbpf-interp"), Some("--jit"), Some("--vm")] {
                let mut args = vec!["-r", input.as_str(), "--count"];
                args.extend(engine);
                args.extend(source.iter().copied());
                assert_eq!(
                    stdout(&oxbpf(&args)),
                    format!("{}\n", want.len()),
                    "{expr} {args:?}"
                );
            }
            let ours = f.path("ours.pcap");
            let mut args = vec!["-r", input.as_str(), "-w", ours.as_str()];
            args.extend(source.iter().copied());
            stdout(&oxbpf(&args));
            assert_eq!(packets(&ours), want, "{expr}: -w output");
        }
    }
}

#[test]
fn listings_of_a_program_file_are_tcpdumps() {
    if !have_tcpdump() {
        return;
    }
    let f = Fixture::new("listings");
    let input = f.path("in.pcap");
    for expr in EXPRS {
        let prog = f.path("prog.ddd");
        std::fs::write(&prog, tcpdump(&["-r", &input, "-ddd", expr])).unwrap();
        for flag in ["-d", "-dd", "-ddd"] {
            let ours = stdout(&oxbpf(&["--program", &prog, flag]));
            assert_eq!(ours, tcpdump(&["-r", &input, flag, expr]), "{flag} {expr}");
        }
        // The -dd form is read too.
        let dd = f.path("prog.dd");
        std::fs::write(&dd, tcpdump(&["-r", &input, "-dd", expr])).unwrap();
        assert_eq!(
            stdout(&oxbpf(&["--program", &dd, "-ddd"])),
            tcpdump(&["-r", &input, "-ddd", expr])
        );
    }
}

#[test]
fn summaries_and_packet_limit() {
    let f = Fixture::new("summaries");
    let input = f.path("in.pcap");
    let all = stdout(&oxbpf(&["-r", &input, "arp"]));
    let lines: Vec<&str> = all.lines().collect();
    assert!(lines.len() > 100);
    assert!(lines.iter().all(|l| l.contains(" ARP, ")), "{}", lines[0]);
    let three = stdout(&oxbpf(&["-r", &input, "-c", "3", "arp"]));
    assert_eq!(three.lines().collect::<Vec<_>>(), lines[..3]);
    // Several words are one expression, as in tcpdump.
    let words = stdout(&oxbpf(&[
        "-r", &input, "--count", "tcp", "and", "port", "80",
    ]));
    let one = stdout(&oxbpf(&["-r", &input, "--count", "tcp and port 80"]));
    assert_eq!(words, one);
    // Standard input and output: `-r - -w -` is a filter in a pipeline.
    let mut child = common::oxbpf_command()
        .args(["filter", "-r", "-", "-w", "-", "arp"])
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut piped = Vec::new();
    std::io::Read::read_to_end(child.stdout.as_mut().unwrap(), &mut piped).unwrap();
    assert!(child.wait().unwrap().success());
    let piped = Capture::from_bytes(piped);
    assert_eq!(piped.packets().unwrap().count(), lines.len());
    // No expression: everything.
    assert_eq!(stdout(&oxbpf(&["-r", &input, "--count"])), "20000\n");
}

#[test]
fn ebpf_listing() {
    let text = stdout(&oxbpf(&["-y", "ethernet", "--ebpf", "ip"]));
    assert!(text.contains("r0 = *(u16 *)skb[12]"), "{text}");
    assert!(text.contains("exit"), "{text}");
}

#[test]
fn errors_are_clear() {
    let f = Fixture::new("errors");
    let input = f.path("in.pcap");
    let bad = |args: &[&str], want: &str| {
        let o = oxbpf(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    bad(&["-r", &input, "tcp port"], "column");
    bad(&["-r", &input, "host nosuchname"], "column 6");
    bad(&["-r", &f.path("missing.pcap"), "ip"], "missing.pcap");
    let junk = f.path("junk.pcap");
    std::fs::write(&junk, b"this is not a capture").unwrap();
    bad(&["-r", &junk, "ip"], "byte offset 0");
    let prog = f.path("bad.ddd");
    std::fs::write(&prog, "2\n40 0 0 12\n6 0 x 0\n").unwrap();
    bad(&["-r", &input, "--program", &prog], "line 3, column 5");
    std::fs::write(&prog, "1\n40 0 0 12\n").unwrap();
    bad(
        &["-r", &input, "--program", &prog],
        "instruction 0: execution can run past the end",
    );
    // A capture cut in the middle of a record.
    let bytes = std::fs::read(&input).unwrap();
    let cut = f.path("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    bad(&["-r", &cut, "--count"], "packet 19999 (byte offset");
    bad(&["ip"], "-r FILE");
    bad(&["-r", &input, "-c", "0", "ip"], "-c");
}

#[test]
fn live_capture_on_loopback() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        println!("skipped live_capture_on_loopback: needs root (CAP_NET_RAW)");
        return;
    }
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let expr = format!("udp dst port {port}");
    let mut child = common::oxbpf_command()
        .args(["filter", "-i", "lo", "-c", "3", &expr])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "no capture"
        );
        tx.send_to(b"other", other.local_addr().unwrap()).unwrap();
        tx.send_to(b"hello", ("127.0.0.1", port)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for l in lines {
        assert!(
            l.ends_with(&format!(" > 127.0.0.1.{port}: UDP, length 5")),
            "{l}"
        );
    }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn nanosecond_stamps_survive_filtering() {
    let f = Fixture::new("nanos");
    let mut out = PcapOut::with_resolution(Vec::new(), LINKTYPE_ETHERNET, 65535, true).unwrap();
    let frames: Vec<_> = Traffic::new(5).take(50).collect();
    for (i, (_, data, wire)) in frames.iter().enumerate() {
        out.write(
            std::time::Duration::new(1, 123_456_789 + i as u32),
            data,
            *wire,
        )
        .unwrap();
    }
    let input = f.path("nanos.pcap");
    std::fs::write(&input, out.finish().unwrap()).unwrap();
    let output = f.path("out.pcap");
    stdout(&oxbpf(&["-r", &input, "-w", &output]));
    let got = packets(&output);
    assert_eq!(got.len(), 50);
    assert_eq!(got[7].0, std::time::Duration::new(1, 123_456_796));
}

#[test]
fn writing_a_file_ends_with_the_exact_totals() {
    let f = Fixture::new("totals");
    let input = f.path("in.pcap");
    let output = f.path("tcp.pcap");
    let o = oxbpf(&["-r", &input, "-w", &output, "tcp"]);
    stdout(&o);
    let matched = packets(&output).len();
    assert!(matched > 0 && matched < 20_000, "{matched}");
    let err = String::from_utf8_lossy(&o.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("oxbpf: 20000 packets read, {matched} matched (")),
        "{err}"
    );
}
