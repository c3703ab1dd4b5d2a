//! Test runs of packet programs give what the kernel's BPF_PROG_TEST_RUN gives.
//!
//! The expected values were measured on this project's machine (Linux 6.18)
//! with `bpftool prog loadall fixtures/elf/packet.o` and
//! `bpftool prog run pinned ... data_in fixtures/elf/packets/X.bin data_out ...`,
//! then `bpftool map dump` of `classes`.

use std::path::PathBuf;

use oxbpf::Runtime;

fn fixture(p: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/elf")
            .join(p),
    )
    .unwrap()
}

const XDP_DROP: u64 = 1;
const XDP_PASS: u64 = 2;

#[test]
fn xdp_parser_matches_the_kernel() {
    let rt = Runtime::from_elf(&fixture("packet.o")).unwrap();
    let mut inst = rt.instance("xdp_parse").unwrap();
    for (pkt, retval, ttl_after) in [
        ("dns.bin", XDP_DROP, 0x40),
        ("udp80.bin", XDP_PASS, 0x3f),
        ("tcp.bin", XDP_PASS, 0x3f),
        ("arp.bin", XDP_PASS, 0),
    ] {
        let input = fixture(&format!("packets/{pkt}"));
        let out = inst.test_run(&input, None).unwrap();
        assert_eq!(out.retval, retval, "{pkt}");
        let mut want = input.clone();
        if ttl_after != 0 {
            want[14 + 8] = ttl_after;
        }
        assert_eq!(out.data_out, want, "{pkt}: packet afterwards");
    }
    // One packet of each class: other, TCP, UDP, DNS.
    let counts: Vec<(String, String)> = rt.map_entries("classes").unwrap();
    let values: Vec<&str> = counts.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["1", "1", "1", "1"]);
}

#[test]
fn socket_filter_sees_protocol_and_network_header_as_in_the_kernel() {
    let rt = Runtime::from_elf(&fixture("packet.o")).unwrap();
    let mut inst = rt.instance("udp_length").unwrap();
    for (pkt, retval) in [
        ("dns.bin", 32),
        ("udp80.bin", 32),
        ("tcp.bin", 0),
        ("arp.bin", 0),
    ] {
        let input = fixture(&format!("packets/{pkt}"));
        let out = inst.test_run(&input, None).unwrap();
        assert_eq!(out.retval, retval, "{pkt}");
        let mut want = input.clone();
        want[..14].fill(0); // the kernel returns the pulled Ethernet header zeroed
        assert_eq!(out.data_out, want, "{pkt}");
    }
}

#[test]
fn short_packets_are_refused_like_the_kernel_does() {
    let rt = Runtime::from_elf(&fixture("packet.o")).unwrap();
    let err = rt
        .instance("xdp_parse")
        .unwrap()
        .test_run(&[0; 10], None)
        .unwrap_err();
    assert!(err.to_string().contains("XDP input must be 14"), "{err}");
}

#[test]
fn xdp_adjust_head_and_tail_reshape_the_packet_as_in_the_kernel() {
    let rt = Runtime::from_elf(&fixture("packet.o")).unwrap();
    let mut inst = rt.instance("xdp_trim").unwrap();
    // Kernel: dns.bin (46 bytes) gives 7170 = XDP_PASS | 28 << 8, tcp.bin (54) gives 9218.
    for (pkt, retval) in [("dns.bin", 7170), ("tcp.bin", 9218)] {
        let input = fixture(&format!("packets/{pkt}"));
        let out = inst.test_run(&input, None).unwrap();
        assert_eq!(out.retval, retval, "{pkt}");
        assert_eq!(out.data_out, input[14..input.len() - 4], "{pkt}");
    }
}

#[test]
fn five_tuple_counter_matches_the_kernel() {
    // Kernel: dns, udp80, tcp, dns, arp all return XDP_PASS, and `bpftool map dump`
    // shows three flows: 10.0.0.1:1234 -> 10.0.0.2:53/udp {2 packets, 92 bytes},
    // :80/udp {1, 46} and the TCP packet (ports 0) {1, 54}; ARP is not counted.
    let rt = Runtime::from_elf(&fixture("flowcount.o")).unwrap();
    let mut inst = rt.instance("count_flows").unwrap();
    for pkt in ["dns.bin", "udp80.bin", "tcp.bin", "dns.bin", "arp.bin"] {
        assert_eq!(
            inst.test_run(&fixture(&format!("packets/{pkt}")), None)
                .unwrap()
                .retval,
            2
        );
    }
    let mut got = rt.map_entries("flows").unwrap();
    got.sort();
    let flow = |sport, dport, proto| {
        format!("{{saddr = 16777226, daddr = 33554442, sport = {sport}, dport = {dport}, proto = {proto}, pad = [0, 0, 0]}}")
    };
    let mut want = vec![
        (flow(1234, 53, 17), "{packets = 2, bytes = 92}".to_string()),
        (flow(1234, 80, 17), "{packets = 1, bytes = 46}".to_string()),
        (flow(0, 0, 6), "{packets = 1, bytes = 54}".to_string()),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn global_data_programs_match_the_kernel() {
    // Kernel (bpftool prog run with data_in packets/udp80.bin): xdp_first 2,
    // xdp_second 264, socket_version 250 (libbpf filled CONFIG_HZ=250 from the
    // kernel config; here the host sets it, as the runtime does not read it).
    let mut obj = oxbpf::object::Object::parse(&fixture("globals.o")).unwrap();
    obj.set_global("CONFIG_HZ", &250i32.to_le_bytes()).unwrap();
    let rt = Runtime::with_options(obj, oxbpf::Options::default()).unwrap();
    let pkt = fixture("packets/udp80.bin");
    let run = |name: &str| {
        rt.instance(name)
            .unwrap()
            .test_run(&pkt, None)
            .unwrap()
            .retval
    };
    assert_eq!(run("xdp_first"), XDP_PASS);
    assert_eq!(run("xdp_second"), 264);
    assert_eq!(run("socket_version"), 250);
    // xdp_first's account(ingress_ifindex = 1) bumped hits and totals[1].
    let bss = rt.map(".bss").unwrap().lookup(&0u32.to_le_bytes()).unwrap();
    assert_eq!(u32::from_le_bytes(bss[0..4].try_into().unwrap()), 1, "hits");
    assert_eq!(
        u64::from_le_bytes(bss[16..24].try_into().unwrap()),
        1,
        "totals[1]"
    );
}

#[test]
fn legacy_unoptimized_and_debugless_objects_run() {
    let pkt = fixture("packets/udp80.bin");
    // Socket filter: packets[skb->protocol]++ and sizes[protocol] = skb->len
    // (protocol 0x0008 is ETH_P_IP as stored; len counts from the IP header).
    let rt = Runtime::from_elf(&fixture("legacy_maps.o")).unwrap();
    assert_eq!(
        rt.instance("count_packets")
            .unwrap()
            .test_run(&pkt, None)
            .unwrap()
            .retval,
        0
    );
    assert_eq!(
        rt.map_entries("packets").unwrap()[8].1,
        "01000000 00000000".replace(' ', "")
    );
    assert_eq!(
        rt.map("sizes")
            .unwrap()
            .lookup(&8u32.to_le_bytes())
            .unwrap(),
        32u32.to_le_bytes()
    );
    // -O0: add(1, 2) = 1 + 2 + base (3); seen[0] becomes add(0, 1) = 4.
    let rt = Runtime::from_elf(&fixture("noopt.o")).unwrap();
    assert_eq!(
        rt.instance("unoptimized")
            .unwrap()
            .test_run(&pkt, None)
            .unwrap()
            .retval,
        6
    );
    assert_eq!(
        rt.map("seen").unwrap().lookup(&0u32.to_le_bytes()).unwrap(),
        4u32.to_le_bytes()
    );
    // No -g: clamp(ingress_ifindex = 1) is not above 5, so XDP_DROP; hits[1] counts it.
    let rt = Runtime::from_elf(&fixture("nodebug.o")).unwrap();
    assert_eq!(
        rt.instance("no_debug_info")
            .unwrap()
            .test_run(&pkt, None)
            .unwrap()
            .retval,
        XDP_DROP
    );
    assert_eq!(
        rt.map("hits").unwrap().lookup(&1u32.to_le_bytes()).unwrap(),
        1u64.to_le_bytes()
    );
}

#[test]
fn flow_dissector_fills_flow_keys_as_the_kernel_does() {
    // Kernel (BPF_PROG_TEST_RUN of dissect.o): udp80.bin gives retval 0 (BPF_OK)
    // and these 56 bytes of struct bpf_flow_keys; arp.bin gives 2 (BPF_DROP).
    let rt = Runtime::from_elf(&fixture("dissect.o")).unwrap();
    let mut inst = rt.instance("dissect").unwrap();
    let out = inst.test_run(&fixture("packets/udp80.bin"), None).unwrap();
    let mut want = hex("0e002200000800000011080004d200500a0000010a000002");
    want.resize(56, 0);
    assert_eq!((out.retval, out.data_out), (0, want));
    let out = inst.test_run(&fixture("packets/arp.bin"), None).unwrap();
    let mut want = hex("0e000e00000000000000080600000000");
    want.resize(56, 0);
    assert_eq!((out.retval, out.data_out), (2, want));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
