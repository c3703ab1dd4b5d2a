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
/// SCTP and IGMP, which tcpdump decodes in detail).
fn comparable(ours: &str) -> bool {
    // tcpdump decodes by port, and many of its decoders sit below 10000
    // (DNS, NTP, SIP, RADIUS, VXLAN, AppleTalk over UDP...): only lines whose
    // ports are all 10000 or above are compared.
    let port_of = |w: &str| -> Option<u32> {
        let w = w.trim_end_matches(':');
        let (addr, port) = w.rsplit_once('.')?;
        // IPv4 "a.b.c.d.port", or IPv6 "x:y::z.port".
        let is_addr = addr.matches('.').count() == 3 || (addr.contains(':') && !addr.contains('.'));
        is_addr.then(|| port.parse().ok()).flatten()
    };
    let low_port = ours.split(' ').filter_map(port_of).any(|port| port < 10000);
    !(low_port || ours.contains("sctp") || ours.contains("igmp"))
}

/// The synthetic Ethernet frames re-framed for `linktype`: raw IP drops the
/// Ethernet header (and non-IP frames), SLL replaces it with a cooked one.
fn frames(linktype: u32) -> Vec<(Duration, Vec<u8>, u32)> {
    Traffic::new(7)
        .take(3000)
        .filter_map(|(ts, f, wire)| {
            let (mut at, mut ethertype) = (12, [f[12], f[13]]);
            if ethertype == [0x81, 0x00] && linktype != LINKTYPE_ETHERNET {
                at = 16;
                ethertype = [f[16], f[17]];
            }
            match linktype {
                LINKTYPE_RAW if ethertype == [0x08, 0x00] || ethertype == [0x86, 0xdd] => {
                    Some((ts, f[at + 2..].to_vec(), wire - at as u32 - 2))
                }
                LINKTYPE_RAW => None,
                LINKTYPE_LINUX_SLL => {
                    let mut d = vec![0, 0, 0, 1, 0, 6];
                    d.extend(&f[6..12]);
                    d.extend([0, 0]);
                    d.extend(ethertype);
                    d.extend(&f[at + 2..]);
                    Some((ts, d, wire + 2 - (at as u32 - 12)))
                }
                _ => Some((ts, f, wire)),
            }
        })
        .collect()
}

#[test]
fn lines_match_tcpdump() {
    if !Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!("skipped: tcpdump is not installed");
        return;
    }
    for linktype in [LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL] {
        let mut out = PcapOut::new(Vec::new(), linktype, 262144).unwrap();
        for (ts, data, wire) in frames(linktype) {
            out.write(ts, &data, wire).unwrap();
        }
        let bytes = out.finish().unwrap();
        let path = std::env::temp_dir().join(format!(
            "oxbpf-summary-{linktype}-{}.pcap",
            std::process::id()
        ));
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
                assert_eq!(o, t, "link type {linktype}");
                compared += 1;
            }
        }
        assert!(
            compared > 600,
            "link type {linktype}: only {compared} lines compared"
        );
    }
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
        "02:00:01.250000 IP 10.0.0.1.12345 > 10.0.0.2.8080: UDP, length 4"
    );
    assert_eq!(
        summarize(&p(vlan, LINKTYPE_ETHERNET)),
        "02:00:01.250000 IP 10.0.0.1.12345 > 10.0.0.2.8080: UDP, length 4"
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
