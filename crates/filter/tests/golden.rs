//! The golden corpus: for every expression in tests/goldens/*.txt (made by
//! tests/goldens/make.py with Debian's tcpdump), the packets our program
//! accepts are exactly the ones tcpdump accepted, and tcpdump's own program
//! (its `-ddd` output) accepts the same packets when run by our classic BPF
//! interpreter. Expressions tcpdump rejects (bad.txt) must be errors here.
//!
//! random.txt holds seeded random compound expressions, checked over the
//! Ethernet packets without the truncated ones: on a packet cut short before
//! a field a filter reads, the answer depends on which loads the optimizer
//! keeps, and libpcap's choices there are its own (see optimize.rs).

use oxbpf_cbpf::{interp, listing, Insn};
use oxbpf_filter::{compile, compile_unoptimized, FilterError, LinkType};
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
fn run_corpus(link: LinkType, pcap: &str, name: &str) -> (usize, usize, usize) {
    let packets = read_pcap(&format!("{pcap}.pcap"));
    let goldens = read_goldens(&format!("{name}.txt"));
    let mut failures = Vec::new();
    let (mut ours_total, mut theirs_total, mut identical, mut proved_empty) = (0, 0, 0, 0);
    let mut plain_total = 0;
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
                plain_total += compile_unoptimized(&g.expr, link, 262144).unwrap().len();
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
            // Our optimizer proves more filters impossible than libpcap's; that
            // is only right if tcpdump's program and our plain one match nothing.
            Err(FilterError::RejectsAll) => {
                let plain = compile_unoptimized(&g.expr, link, 262144).unwrap();
                if !g.matches.is_empty() || !accepted(&plain, &packets).is_empty() {
                    failures.push(format!(
                        "{:?}: rejects all, but tcpdump matched {:?}",
                        g.expr, g.matches
                    ));
                }
                proved_empty += 1;
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
         {identical} programs identical to tcpdump's, {proved_empty} proved to match nothing; \
         {plain_total} instructions unoptimized",
        goldens.len()
    );
    assert!(
        ours_total <= theirs_total,
        "{name}: {ours_total} instructions in all, tcpdump {theirs_total}"
    );
    (goldens.len(), ours_total, theirs_total)
}

#[test]
fn ethernet_corpus_matches_tcpdump() {
    let (n, _, _) = run_corpus(LinkType::Ethernet, "eth", "eth");
    assert!(n >= 150);
}

#[test]
fn raw_ip_corpus_matches_tcpdump() {
    run_corpus(LinkType::RawIp, "raw", "raw");
}

#[test]
fn linux_sll_corpus_matches_tcpdump() {
    run_corpus(LinkType::LinuxSll, "sll", "sll");
}

#[test]
fn random_compound_corpus_matches_tcpdump() {
    let (n, _, _) = run_corpus(LinkType::Ethernet, "full", "random");
    assert!(n >= 300);
    // The same expressions on the corpus with its two truncated packets,
    // against tcpdump's programs run by our interpreter: how often the two
    // optimizers' choices of loads to keep give different answers there.
    let packets = read_pcap("eth.pcap");
    let mut differ = Vec::new();
    for g in read_goldens("random.txt") {
        if let Ok(prog) = compile(&g.expr, LinkType::Ethernet, 262144) {
            if accepted(&prog, &packets) != accepted(&g.tcpdump_prog, &packets) {
                differ.push(g.expr);
            }
        }
    }
    println!(
        "random on truncated packets: {} of {n} expressions differ from tcpdump: {differ:?}",
        differ.len()
    );
    assert!(
        differ.len() * 50 <= n,
        "more than 2% differ on truncated packets"
    );
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
