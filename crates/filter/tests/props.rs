//! Property tests: no input makes the compiler panic, every program it
//! emits passes the kernel's checker, and the optimizer never changes which
//! packets a filter accepts.

use oxbpf_cbpf::{check, interp};
use oxbpf_filter::{compile, compile_unoptimized, FilterError, LinkType};
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::OnceLock;

const LINKS: [LinkType; 3] = [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll];

/// Words and symbols the grammar knows, plus some it does not.
const VOCAB: &[&str] = &[
    "ip",
    "ip6",
    "arp",
    "rarp",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "sctp",
    "igmp",
    "ether",
    "link",
    "host",
    "net",
    "port",
    "portrange",
    "proto",
    "src",
    "dst",
    "and",
    "or",
    "not",
    "!",
    "&&",
    "||",
    "(",
    ")",
    "[",
    "]",
    ":",
    "+",
    "-",
    "*",
    "/",
    "%",
    "&",
    "|",
    "^",
    "<<",
    ">>",
    "<",
    ">",
    "<=",
    ">=",
    "=",
    "==",
    "!=",
    "len",
    "less",
    "greater",
    "vlan",
    "mpls",
    "broadcast",
    "multicast",
    "mask",
    "0",
    "1",
    "80",
    "65535",
    "99999",
    "0x10",
    "10.0.0.1",
    "10.0",
    "10.0.0.0/8",
    "255.255.0.0",
    "::1",
    "2001:db8::/32",
    "00:11:22:33:44:55",
    "http",
    "domain",
    "1-100",
    "tcpflags",
    "tcp-syn",
    "icmptype",
    "icmp-echo",
    "\\udp",
    "foo",
    "4294967295",
    "/",
    "8",
];

/// Primitives that are valid on Ethernet, with small constant offsets.
const PRIMS: &[&str] = &[
    "ip",
    "ip6",
    "arp",
    "rarp",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "sctp",
    "igmp",
    "vlan",
    "vlan 10",
    "mpls",
    "host 10.0.0.1",
    "src host 10.0.0.2",
    "net 10.0.0.0/8",
    "dst net 224.0.0.0/4",
    "ip6 host 2001:db8::1",
    "ip6 net 2001:db8::/32",
    "port 80",
    "tcp port 80",
    "udp port 53",
    "tcp dst port 22 or 443",
    "portrange 1000-2000",
    "ether host 00:11:22:33:44:55",
    "ether broadcast",
    "ether multicast",
    "ip multicast",
    "ip broadcast",
    "ether proto 0x806",
    "ip proto 17",
    "ip6 proto 58",
    "less 64",
    "greater 100",
    "len > 200",
    "ip[0] & 0xf > 5",
    "ip[2:2] > 100",
    "tcp[13] & 2 != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn",
    "udp[0:2] = 53",
    "icmp[icmptype] = icmp-echo",
    "ip[2:2] + 14 = len",
    "ip[8] ^ 0xff = 0xbf",
    "ip[ip[0] & 0xf] > 0",
    "udp[8:2] + udp[10:2] > 3",
    "arp[6:2] = 1",
    "ether[12:2] = 0x8100",
    "ip6[6] = 17",
];

fn expr_strategy() -> impl Strategy<Value = String> {
    let leaf = proptest::sample::select(PRIMS).prop_map(str::to_string);
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) and not ({b})")),
        ]
    })
}

/// The golden corpus's packets for a link type, padded so that no load of the
/// generated expressions falls off the end (loads are treated as pure by the
/// optimizer, as by libpcap's).
fn packets(link: LinkType) -> &'static [Vec<u8>] {
    static CACHE: [OnceLock<Vec<Vec<u8>>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let (slot, name) = match link {
        LinkType::Ethernet => (0, "eth"),
        LinkType::RawIp => (1, "raw"),
        LinkType::LinuxSll => (2, "sll"),
    };
    CACHE[slot].get_or_init(|| {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/goldens/{name}.pcap"));
        let data = std::fs::read(path).unwrap();
        let mut out = Vec::new();
        let mut off = 24;
        while off + 16 <= data.len() {
            let incl = u32::from_le_bytes(data[off + 8..off + 12].try_into().unwrap()) as usize;
            let mut p = data[off + 16..off + 16 + incl].to_vec();
            p.resize(1600, 0);
            out.push(p);
            off += 16 + incl;
        }
        out
    })
}

fn compiles_safely(text: &str) {
    for link in LINKS {
        for prog in [
            compile(text, link, 65535),
            compile_unoptimized(text, link, 65535),
        ]
        .into_iter()
        .flatten()
        {
            check(&prog).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn token_soups_never_panic(words in proptest::collection::vec(proptest::sample::select(VOCAB), 0..14)) {
        compiles_safely(&words.join(" "));
        compiles_safely(&words.concat());
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
        compiles_safely(&s);
    }

    #[test]
    fn optimizer_keeps_the_meaning(expr in expr_strategy(), link in proptest::sample::select(&LINKS[..])) {
        let opt = match compile(&expr, link, 262144) {
            Ok(p) => p,
            Err(FilterError::RejectsAll) => {
                // The optimizer proved it; the plain program must reject everything.
                let plain = compile_unoptimized(&expr, link, 262144).unwrap();
                for p in packets(link) {
                    prop_assert_eq!(interp::run(&plain, p, p.len() as u32), 0, "{}", expr);
                }
                return Ok(());
            }
            // Semantic errors (such as vlan after mpls) come before optimizing.
            Err(_) => {
                prop_assert!(compile_unoptimized(&expr, link, 262144).is_err());
                return Ok(());
            }
        };
        let plain = compile_unoptimized(&expr, link, 262144).unwrap();
        prop_assert!(opt.len() <= plain.len(), "{}: optimized {} > plain {}", expr, opt.len(), plain.len());
        for p in packets(link) {
            prop_assert_eq!(interp::run(&opt, p, p.len() as u32), interp::run(&plain, p, p.len() as u32), "{:?}: {}", link, expr);
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = "(".repeat(5000) + "ip" + &")".repeat(5000);
    assert!(compile(&deep, LinkType::Ethernet, 65535).is_err());
    let nots = "not ".repeat(5000) + "ip";
    assert!(compile(&nots, LinkType::Ethernet, 65535).is_err());
    let minus = "-".repeat(5000) + "1 = 1";
    assert!(compile(&minus, LinkType::Ethernet, 65535).is_err());
}

#[test]
fn long_programs_use_ja_for_far_branches() {
    let many: Vec<String> = (1..200).map(|i| format!("port {i}")).collect();
    let expr = many.join(" or ");
    let prog = compile(&expr, LinkType::Ethernet, 65535).unwrap();
    check(&prog).unwrap();
    assert!(prog.len() > 256);
    // A packet to port 150 over IPv4/TCP is accepted, port 250 is not.
    let mut p = vec![0u8; 64];
    p[12] = 0x08;
    p[14] = 0x45;
    p[23] = 6;
    p[36] = 0;
    p[37] = 150;
    assert_ne!(interp::run(&prog, &p, 64), 0);
    p[37] = 250;
    assert_eq!(interp::run(&prog, &p, 64), 0);
}

#[test]
fn loads_at_ancillary_offsets_are_never_emitted() {
    // Found by the fuzzer: `ether[-1]` is an absolute load at 0xffffffff,
    // which the kernel would read as an (unknown) ancillary-data request.
    // Such a load always ends the run with "reject", so whatever comes after
    // it on the same path is never reached.
    for e in [
        "ip or ether[-1] = 1",
        "tcp or ip[0xfffffff0] = 1",
        "arp or ether[-4096:4] = 0",
    ] {
        let prog = compile(e, LinkType::Ethernet, 65535).unwrap();
        check(&prog).unwrap_or_else(|err| panic!("{e}: {err}"));
        assert!(compile_unoptimized(e, LinkType::Ethernet, 65535).is_ok_and(|p| check(&p).is_ok()));
    }
    assert_eq!(
        compile("ether[-1] = 1", LinkType::Ethernet, 65535),
        Err(FilterError::RejectsAll)
    );
    assert_eq!(
        compile("ether[-1] = 1 or ip", LinkType::Ethernet, 65535),
        Err(FilterError::RejectsAll)
    );
    let ip = compile("ip", LinkType::Ethernet, 65535).unwrap();
    assert_eq!(
        compile("ip or ether[-1] = 1", LinkType::Ethernet, 65535).unwrap(),
        ip
    );
}
