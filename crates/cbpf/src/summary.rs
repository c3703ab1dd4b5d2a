//! One tcpdump-like line per packet: time, addresses, ports, protocol and
//! length, for Ethernet, raw IP and Linux cooked (SLL) captures. Truncated or
//! malformed packets are summarized as far as their bytes go, ending in
//! tcpdump's `[|proto]` mark. The lines are those of `tcpdump -n` (without
//! `-e` or `-v`) for TCP, UDP, ICMP, ICMPv6, ARP and fragments, with the
//! time in UTC; application protocols are not decoded.
//!
//! ```
//! use oxbpf_cbpf::pcap::{Packet, LINKTYPE_RAW};
//! use oxbpf_cbpf::summary::summarize;
//! use std::time::Duration;
//!
//! let udp = [
//!     0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
//!     0x30, 0x39, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4, // UDP, 4 bytes of payload
//! ];
//! let p = Packet { timestamp: Duration::new(3661, 5000), data: &udp, wirelen: 32, linktype: LINKTYPE_RAW };
//! assert_eq!(summarize(&p), "01:01:01.000005 IP 10.0.0.1.12345 > 10.0.0.2.53: UDP, length 4");
//! ```

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::pcap::{Packet, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW};

/// `LINKTYPE_IPV4`.
const LINKTYPE_IPV4: u32 = 228;
/// `LINKTYPE_IPV6`.
const LINKTYPE_IPV6: u32 = 229;
/// OpenBSD's and some old systems' DLT_RAW value as written to files.
const DLT_RAW_ALT: u32 = 12;

/// The summary line for `p` (no newline).
pub fn summarize(p: &Packet<'_>) -> String {
    let mut out = String::with_capacity(96);
    let secs = p.timestamp.as_secs();
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:06} ",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        p.timestamp.subsec_micros()
    );
    let d = p.data;
    match p.linktype {
        LINKTYPE_ETHERNET => ethernet(&mut out, d, p.wirelen),
        LINKTYPE_RAW | DLT_RAW_ALT | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            raw_ip(&mut out, d, p.wirelen)
        }
        LINKTYPE_LINUX_SLL => sll(&mut out, d, p.wirelen),
        other => {
            let _ = write!(out, "link type {other}, length {}", p.wirelen);
        }
    }
    out
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn ethernet(out: &mut String, d: &[u8], wirelen: u32) {
    let Some(mut ethertype) = be16(d, 12) else {
        out.push_str("[|ether]");
        return;
    };
    let mut at = 14;
    // 802.1Q / 802.1ad tags, outermost first.
    while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
        let (Some(_tci), Some(inner)) = (be16(d, at), be16(d, at + 2)) else {
            out.push_str("[|vlan]");
            return;
        };
        // tcpdump shows the tag only with -e; these lines never do.
        ethertype = inner;
        at += 4;
    }
    if ethertype <= 1500 {
        let _ = write!(out, "802.3, length {wirelen}");
        return;
    }
    ethertype_payload(
        out,
        ethertype,
        &d[at.min(d.len())..],
        wirelen.saturating_sub(at as u32),
    );
}

fn sll(out: &mut String, d: &[u8], wirelen: u32) {
    let Some(proto) = be16(d, 14) else {
        out.push_str("[|sll]");
        return;
    };
    ethertype_payload(
        out,
        proto,
        &d[16.min(d.len())..],
        wirelen.saturating_sub(16),
    );
}

fn raw_ip(out: &mut String, d: &[u8], wirelen: u32) {
    match d.first().map(|b| b >> 4) {
        Some(4) => ipv4(out, d),
        Some(6) => ipv6(out, d),
        Some(v) => {
            let _ = write!(out, "IP version {v}, length {wirelen}");
        }
        None => out.push_str("[|ip]"),
    }
}

fn ethertype_payload(out: &mut String, ethertype: u16, d: &[u8], wirelen: u32) {
    match ethertype {
        0x0800 => ipv4(out, d),
        0x86dd => ipv6(out, d),
        0x0806 | 0x8035 => arp(out, d, ethertype == 0x8035, wirelen),
        0x8847 | 0x8848 => mpls(out, d, wirelen),
        t => {
            let _ = write!(out, "ethertype 0x{t:04x}, length {wirelen}");
        }
    }
}

fn mpls(out: &mut String, d: &[u8], wirelen: u32) {
    let mut at = 0;
    loop {
        let Some(entry) = be32(d, at) else {
            out.push_str("[|mpls]");
            return;
        };
        let _ = write!(out, "MPLS (label {}, ttl {}) ", entry >> 12, entry & 0xff);
        at += 4;
        if entry & 0x100 != 0 {
            break;
        }
    }
    match d.get(at).map(|b| b >> 4) {
        Some(4) => ipv4(out, &d[at..]),
        Some(6) => ipv6(out, &d[at..]),
        _ => {
            let _ = write!(out, "length {wirelen}");
        }
    }
}

fn arp(out: &mut String, d: &[u8], reverse: bool, wirelen: u32) {
    let name = if reverse { "RARP" } else { "ARP" };
    let (Some(htype), Some(ptype), Some(op)) = (be16(d, 0), be16(d, 2), be16(d, 6)) else {
        let _ = write!(out, "{name}, [|arp]");
        return;
    };
    let (hlen, plen) = (
        d.get(4).copied().unwrap_or(0) as usize,
        d.get(5).copied().unwrap_or(0) as usize,
    );
    let need = 8 + 2 * (hlen + plen);
    let len = wirelen;
    if htype != 1 || ptype != 0x0800 || hlen != 6 || plen != 4 || d.len() < need {
        let _ = write!(
            out,
            "{name}, hardware {htype}, protocol 0x{ptype:04x}, op {op}, length {}",
            d.len()
        );
        return;
    }
    let sha = &d[8..14];
    let spa = Ipv4Addr::new(d[14], d[15], d[16], d[17]);
    let tha = &d[18..24];
    let tpa = Ipv4Addr::new(d[24], d[25], d[26], d[27]);
    let mac = |m: &[u8]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let _ = match op {
        1 => write!(
            out,
            "{name}, Request who-has {tpa} tell {spa}, length {len}"
        ),
        2 => write!(out, "{name}, Reply {spa} is-at {}, length {len}", mac(sha)),
        3 => write!(
            out,
            "{name}, Reverse Request who-is {} tell {}, length {len}",
            mac(tha),
            mac(sha)
        ),
        4 => write!(
            out,
            "{name}, Reverse Reply {} at {tpa}, length {len}",
            mac(tha)
        ),
        _ => write!(out, "{name}, op {op}, length {len}"),
    };
}

fn ipv4(out: &mut String, d: &[u8]) {
    if d.len() < 20 {
        out.push_str("IP [|ip]");
        return;
    }
    let ihl = (d[0] & 0x0f) as usize * 4;
    let total = be16(d, 2).unwrap_or(0) as usize;
    let src = Ipv4Addr::new(d[12], d[13], d[14], d[15]);
    let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
    if ihl < 20 {
        let _ = write!(out, "IP {src} > {dst}: bad header length {ihl}");
        return;
    }
    let frag = be16(d, 6).unwrap_or(0);
    let offset = (frag & 0x1fff) as usize * 8;
    let proto = d[9];
    let payload_len = total.saturating_sub(ihl);
    let body = d.get(ihl..).unwrap_or(&[]);
    let body = &body[..payload_len.min(body.len())];
    if offset > 0 {
        // As tcpdump without -v: later fragments show only their protocol.
        let _ = write!(out, "IP {src} > {dst}: ip-proto-{proto}");
        return;
    }
    transport(
        out,
        "IP",
        &src.to_string(),
        &dst.to_string(),
        proto,
        body,
        payload_len,
        false,
    );
}

fn ipv6(out: &mut String, d: &[u8]) {
    if d.len() < 40 {
        out.push_str("IP6 [|ip6]");
        return;
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&d[8..24]);
    let src = Ipv6Addr::from(a);
    a.copy_from_slice(&d[24..40]);
    let dst = Ipv6Addr::from(a);
    let payload_len = be16(d, 4).unwrap_or(0) as usize;
    let mut next = d[6];
    let mut at = 40;
    let mut fragment = None;
    // Skip extension headers: hop-by-hop, routing, fragment, destination options.
    loop {
        match next {
            0 | 43 | 60 => {
                let (Some(&nh), Some(&len)) = (d.get(at), d.get(at + 1)) else {
                    let _ = write!(out, "IP6 {src} > {dst}: [|ip6]");
                    return;
                };
                next = nh;
                at += (len as usize + 1) * 8;
            }
            44 => {
                let (Some(&nh), Some(off)) = (d.get(at), be16(d, at + 2)) else {
                    let _ = write!(out, "IP6 {src} > {dst}: [|frag]");
                    return;
                };
                next = nh;
                fragment = Some((
                    (off >> 3) as usize * 8,
                    off & 1 != 0,
                    be32(d, at + 4).unwrap_or(0),
                ));
                at += 8;
            }
            _ => break,
        }
    }
    let rest_len = payload_len.saturating_sub(at - 40);
    if let Some((offset, more, id)) = fragment {
        if offset > 0 {
            let _ = write!(
                out,
                "IP6 {src} > {dst}: frag (0x{id:08x}:{offset}|{rest_len}){}",
                if more { " more" } else { "" }
            );
            return;
        }
    }
    let body = d.get(at..).unwrap_or(&[]);
    let body = &body[..rest_len.min(body.len())];
    transport(
        out,
        "IP6",
        &src.to_string(),
        &dst.to_string(),
        next,
        body,
        rest_len,
        true,
    );
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        2 => "igmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        58 => "icmp6".into(),
        103 => "pim".into(),
        112 => "vrrp".into(),
        132 => "sctp".into(),
        p => format!("ip-proto-{p}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn transport(
    out: &mut String,
    ip: &str,
    src: &str,
    dst: &str,
    proto: u8,
    body: &[u8],
    len: usize,
    v6: bool,
) {
    match proto {
        6 => {
            let (Some(sp), Some(dp), Some(seq), Some(ack), Some(flags_off), Some(win)) = (
                be16(body, 0),
                be16(body, 2),
                be32(body, 4),
                be32(body, 8),
                be16(body, 12),
                be16(body, 14),
            ) else {
                let _ = write!(out, "{ip} {src} > {dst}: [|tcp]");
                return;
            };
            let hlen = (flags_off >> 12) as usize * 4;
            let flags = flags_off as u8;
            let mut f = String::new();
            for (bit, c) in [
                (0x01, 'F'),
                (0x02, 'S'),
                (0x04, 'R'),
                (0x08, 'P'),
                (0x20, 'U'),
                (0x40, 'E'),
                (0x80, 'W'),
            ] {
                if flags & bit != 0 {
                    f.push(c);
                }
            }
            if flags & 0x10 != 0 {
                f.push('.');
            }
            if f.is_empty() {
                f.push_str("none");
            }
            let data_len = len.saturating_sub(hlen);
            let _ = write!(out, "{ip} {src}.{sp} > {dst}.{dp}: Flags [{f}]");
            if data_len > 0 || flags & 0x07 != 0 {
                let _ = write!(out, ", seq {seq}");
            }
            if data_len > 0 {
                let _ = write!(out, ":{}", seq.wrapping_add(data_len as u32));
            }
            if flags & 0x10 != 0 {
                let _ = write!(out, ", ack {ack}");
            }
            let _ = write!(out, ", win {win}, length {data_len}");
        }
        17 => {
            let (Some(sp), Some(dp), Some(ulen)) = (be16(body, 0), be16(body, 2), be16(body, 4))
            else {
                let _ = write!(out, "{ip} {src} > {dst}: [|udp]");
                return;
            };
            let _ = write!(
                out,
                "{ip} {src}.{sp} > {dst}.{dp}: UDP, length {}",
                (ulen as usize).saturating_sub(8)
            );
        }
        132 => {
            let (Some(sp), Some(dp)) = (be16(body, 0), be16(body, 2)) else {
                let _ = write!(out, "{ip} {src} > {dst}: [|sctp]");
                return;
            };
            let _ = write!(out, "{ip} {src}.{sp} > {dst}.{dp}: sctp, length {len}");
        }
        1 if !v6 => {
            let (Some(&t), Some(&code)) = (body.first(), body.get(1)) else {
                let _ = write!(out, "{ip} {src} > {dst}: ICMP [|icmp]");
                return;
            };
            let what = match t {
                0 | 8 => format!(
                    "echo {}, id {}, seq {}",
                    if t == 0 { "reply" } else { "request" },
                    be16(body, 4).unwrap_or(0),
                    be16(body, 6).unwrap_or(0)
                ),
                3 => format!("unreachable, code {code}"),
                5 => "redirect".to_string(),
                11 => "time exceeded in-transit".to_string(),
                t => format!("type {t}, code {code}"),
            };
            let _ = write!(out, "{ip} {src} > {dst}: ICMP {what}, length {len}");
        }
        58 if v6 => {
            let Some(&t) = body.first() else {
                let _ = write!(out, "{ip} {src} > {dst}: ICMP6 [|icmp6]");
                return;
            };
            let what = match t {
                1 => "destination unreachable".to_string(),
                2 => "packet too big".to_string(),
                3 => "time exceeded in-transit".to_string(),
                128 | 129 => format!(
                    "echo {}, id {}, seq {}",
                    if t == 129 { "reply" } else { "request" },
                    be16(body, 4).unwrap_or(0),
                    be16(body, 6).unwrap_or(0)
                ),
                133 => "router solicitation".to_string(),
                134 => "router advertisement".to_string(),
                135 => "neighbor solicitation".to_string(),
                136 => "neighbor advertisement".to_string(),
                t => format!("type {t}"),
            };
            let _ = write!(out, "{ip} {src} > {dst}: ICMP6, {what}, length {len}");
        }
        2 if !v6 => {
            let _ = write!(out, "{ip} {src} > {dst}: igmp, length {len}");
        }
        p => {
            let _ = write!(out, "{ip} {src} > {dst}: {} {len}", proto_name(p));
        }
    }
}
