//! Summary lines against tcpdump's own (`tcpdump -n -r`), and never a panic
//! on truncated packets.

use std::process::Command;
use std::time::Duration;

use oxbpf_cbpf::pcap::{
    Capture, Packet, PcapOut, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW,
};
use oxbpf_cbpf::summary::summarize;
use oxbpf_cbpf::synth::Traffic;

/// Packets whose tcpdump line decodes an application protocol (DNS, HTTP,
/// NTP...) or shows what we print differently on purpose (VLAN tags, which
/// tcpdump shows only with -e; SCTP, IGMP and fragments in detail).
fn comparable(ours: &str) -> bool {
    const WELL_KNOWN: [&str; 8] = [".80", ".443", ".22", ".53", ".123", ".25", ".8080", ".5060"];
    let well_known = WELL_KNOWN
        .iter()
        .any(|p| ours.contains(&format!("{p} ")) || ours.contains(&format!("{p}:")));
    !(well_known
        || ours.contains("vlan")
        || ours.contains("sctp")
        || ours.contains("igmp")
        || ours.contains("frag"))
}

#[test]
fn lines_match_tcpdump() {
    if Command::new("tcpdump").arg("--version").output().is_err() {
        println!("skipped: tcpdump is not installed");
        return;
    }
    let mut out = PcapOut::new(Vec::new(), LINKTYPE_ETHERNET, 262144).unwrap();
    for (ts, data, wire) in Traffic::new(7).take(3000) {
        out.write(ts, &data, wire).unwrap();
    }
    let bytes = out.finish().unwrap();
    let path = std::env::temp_dir().join(format!("oxbpf-summary-{}.pcap", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let run = Command::new("tcpdump")
        .env("TZ", "UTC")
        .args(["-n", "-r"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let theirs = String::from_utf8(run.stdout).unwrap();
    let theirs: Vec<&str> = theirs.lines().collect();
    let capture = Capture::from_bytes(bytes);
    let ours: Vec<String> = capture
        .packets()
        .unwrap()
        .map(|p| summarize(&p.unwrap()))
        .collect();
    assert_eq!(ours.len(), theirs.len());
    let mut compared = 0;
    for (o, t) in ours.iter().zip(&theirs) {
        if comparable(o) {
            assert_eq!(o, t);
            compared += 1;
        }
    }
    assert!(compared > 800, "only {compared} lines compared");
}

#[test]
fn examples_per_link_type() {
    const UDP4: [u8; 32] = [
        0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0x1f, 0x90,
        0, 12, 0, 0, 1, 2, 3, 4,
    ];
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend(UDP4);
    let mut vlan = vec![0xff; 12];
    vlan.extend([0x81, 0x00, 0x20, 0x64, 0x08, 0x00]);
    vlan.extend(UDP4);
    let ts = Duration::new(86400 + 7200 + 1, 250_000_000);
    let p = |data: &'static [u8], linktype: u32| Packet {
        timestamp: ts,
        data,
        wirelen: data.len() as u32,
        linktype,
    };
    let sll: &'static [u8] = sll.leak();
    let vlan: &'static [u8] = vlan.leak();
    assert_eq!(
        summarize(&p(&UDP4, LINKTYPE_RAW)),
        "02:00:01.250000 IP 10.0.0.1.12345 > 10.0.0.2.8080: UDP, length 4"
    );
    assert_eq!(
        summarize(&p(sll, LINKTYPE_LINUX_SLL)),
        "02:00:01.250000 Out IP 10.0.0.1.12345 > 10.0.0.2.8080: UDP, length 4"
    );
    assert_eq!(
        summarize(&p(vlan, LINKTYPE_ETHERNET)),
        "02:00:01.250000 vlan 100, p 1, IP 10.0.0.1.12345 > 10.0.0.2.8080: UDP, length 4"
    );
    assert_eq!(
        summarize(&p(&UDP4[..25], LINKTYPE_RAW)),
        "02:00:01.250000 IP 10.0.0.1 > 10.0.0.2: [|udp]"
    );
    assert_eq!(
        summarize(&p(&[0x60, 0], LINKTYPE_RAW)),
        "02:00:01.250000 IP6 [|ip6]"
    );
    assert_eq!(
        summarize(&p(&[], LINKTYPE_ETHERNET)),
        "02:00:01.250000 [|ether]"
    );
    assert_eq!(
        summarize(&p(&[1, 2], 147)),
        "02:00:01.250000 link type 147, length 2"
    );
}

#[test]
fn every_truncation_of_every_kind_is_summarized() {
    let mut n = 0;
    for (ts, data, wire) in Traffic::new(3).take(200) {
        for cut in 0..=data.len() {
            for linktype in [LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL] {
                let line = summarize(&Packet {
                    timestamp: ts,
                    data: &data[..cut],
                    wirelen: wire,
                    linktype,
                });
                assert!(!line.is_empty() && !line.contains('\n'));
                n += 1;
            }
        }
    }
    assert!(n > 10_000);
}
