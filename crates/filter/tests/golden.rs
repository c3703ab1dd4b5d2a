//! The golden corpus: for every expression in tests/goldens/*.txt (made by
//! tests/goldens/make.py with Debian's tcpdump), the packets our program
//! accepts are exactly the ones tcpdump accepted, and tcpdump's own program
//! (its `-ddd` output) accepts the same packets when run by our classic BPF
//! interpreter. Expressions tcpdump rejects (bad.txt) must be errors here.

use oxbpf_cbpf::{interp, listing, Insn};
use oxbpf_filter::{compile, LinkType};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goldens")
}

/// (captured bytes, wire length) of each packet of a classic pcap file.
fn read_pcap(name: &str) -> Vec<(Vec<u8>, u32)> {
    let data = std::fs::read(dir().join(name)).unwrap();
    assert_eq!(
        &data[..4],
        &0xa1b2c3d4u32.to_le_bytes(),
        "{name}: little-endian microsecond pcap"
    );
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let word = |i: usize| u32::from_le_bytes(data[off + i..off + i + 4].try_into().unwrap());
        let (ts, incl, orig) = (word(0), word(8) as usize, word(12));
        assert_eq!(
            ts as usize,
            out.len(),
            "{name}: timestamps are packet indexes"
        );
        out.push((data[off + 16..off + 16 + incl].to_vec(), orig));
        off += 16 + incl;
    }
    out
}

struct Golden {
    expr: String,
    matches: Vec<usize>,
    tcpdump_prog: Vec<Insn>,
}

fn read_goldens(name: &str) -> Vec<Golden> {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let expr = l.strip_prefix("expr\t").expect("expr line").to_string();
        let m = lines
            .next()
            .unwrap()
            .strip_prefix("match\t")
            .expect("match line");
        let matches = m.split_whitespace().map(|n| n.parse().unwrap()).collect();
        assert_eq!(lines.next(), Some("ddd"));
        let mut ddd = String::new();
        for l in lines.by_ref() {
            if l == "end" {
                break;
            }
            ddd.push_str(l);
            ddd.push('\n');
        }
        let tcpdump_prog = listing::parse_ddd(&ddd).unwrap();
        out.push(Golden {
            expr,
            matches,
            tcpdump_prog,
        });
    }
    out
}

fn accepted(prog: &[Insn], packets: &[(Vec<u8>, u32)]) -> Vec<usize> {
    packets
        .iter()
        .enumerate()
        .filter(|(_, (p, len))| interp::run(prog, p, *len) != 0)
        .map(|(i, _)| i)
        .collect()
}

/// Runs one link type's corpus; returns (expressions, our instructions, tcpdump's).
fn run_corpus(link: LinkType, name: &str) -> (usize, usize, usize) {
    let packets = read_pcap(&format!("{name}.pcap"));
    let goldens = read_goldens(&format!("{name}.txt"));
    let mut failures = Vec::new();
    let (mut ours_total, mut theirs_total, mut identical) = (0, 0, 0);
    for g in &goldens {
        let theirs = accepted(&g.tcpdump_prog, &packets);
        assert_eq!(
            theirs, g.matches,
            "{name}: tcpdump's own program, run by our interpreter, for {:?}",
            g.expr
        );
        match compile(&g.expr, link, 262144) {
            Ok(prog) => {
                oxbpf_cbpf::check::check(&prog).unwrap_or_else(|e| panic!("{:?}: {e}", g.expr));
                let ours = accepted(&prog, &packets);
                if ours != g.matches {
                    failures.push(format!(
                        "{:?}: ours {:?}, tcpdump {:?}",
                        g.expr, ours, g.matches
                    ));
                }
                ours_total += prog.len();
                identical += usize::from(prog == g.tcpdump_prog);
                theirs_total += g.tcpdump_prog.len();
                if prog.len() > g.tcpdump_prog.len() * 3 / 2 + 4 {
                    failures.push(format!(
                        "{:?}: {} instructions, tcpdump {}",
                        g.expr,
                        prog.len(),
                        g.tcpdump_prog.len()
                    ));
                }
            }
            Err(e) => failures.push(format!("{:?}: {e}", g.expr)),
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} differ:\n{}",
        failures.len(),
        goldens.len(),
        failures.join("\n")
    );
    println!(
        "{name}: {} expressions, {ours_total} instructions (tcpdump -d: {theirs_total}), \
         {identical} programs identical to tcpdump's",
        goldens.len()
    );
    (goldens.len(), ours_total, theirs_total)
}

#[test]
fn ethernet_corpus_matches_tcpdump() {
    let (n, _, _) = run_corpus(LinkType::Ethernet, "eth");
    assert!(n >= 150);
}

#[test]
fn raw_ip_corpus_matches_tcpdump() {
    run_corpus(LinkType::RawIp, "raw");
}

#[test]
fn linux_sll_corpus_matches_tcpdump() {
    run_corpus(LinkType::LinuxSll, "sll");
}

#[test]
fn expressions_tcpdump_rejects_are_errors() {
    let text = std::fs::read_to_string(dir().join("bad.txt")).unwrap();
    let mut n = 0;
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        let (link, expr, theirs) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let link = match link {
            "eth" => LinkType::Ethernet,
            "raw" => LinkType::RawIp,
            _ => LinkType::LinuxSll,
        };
        match compile(expr, link, 262144) {
            Ok(p) => panic!(
                "{expr:?} compiled ({} instructions) but tcpdump says: {theirs}",
                p.len()
            ),
            Err(e) => println!("{expr:?}: {e}   [tcpdump: {theirs}]"),
        }
        n += 1;
    }
    assert!(n >= 20);
}
