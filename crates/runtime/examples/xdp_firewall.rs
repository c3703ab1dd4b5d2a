//! An XDP firewall run on packets in userspace: an LPM-trie blocklist the host
//! fills, per-source counters the host reads back.
//!
//! `cargo run -p oxbpf --example xdp_firewall`

use oxbpf::{Hooks, Runtime};

/// An Ethernet + IPv4 + UDP frame from `src` with `len` bytes of payload.
fn packet(src: [u8; 4], len: usize) -> Vec<u8> {
    let mut p = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 8 + len) as u16;
    p.extend([
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0,
        0,
        64,
        17,
        0,
        0,
    ]);
    p.extend(src);
    p.extend([192, 168, 0, 1]);
    p.extend([0x30, 0x39, 0, 53, 0, (8 + len) as u8, 0, 0]);
    p.extend(std::iter::repeat_n(0xab, len));
    p
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/elf/firewall.o");
    let rt = Runtime::from_elf(&std::fs::read(path)?)?;

    // Block 10.0.0.0/8 (rule 1) and 172.16.5.0/24 (rule 2).
    let blocklist = rt.map("blocklist")?;
    for (plen, net, rule) in [(8u32, [10, 0, 0, 0], 1u32), (24, [172, 16, 5, 0], 2)] {
        let key = [plen.to_le_bytes().as_slice(), &net].concat();
        blocklist.update(&key, &rule.to_le_bytes(), oxbpf::maps::BPF_ANY)?;
    }

    let mut hooks = Hooks::new(&rt);
    hooks.attach("nic0/rx", "firewall")?;
    let sources = [
        [10, 1, 2, 3],
        [172, 16, 5, 9],
        [172, 16, 6, 9],
        [192, 0, 2, 1],
        [10, 1, 2, 3],
    ];
    for (i, src) in sources.iter().enumerate() {
        let verdict = hooks.fire("nic0/rx", &packet(*src, 10 * i), None)?[0].retval;
        let name = ["ABORTED", "DROP", "PASS", "TX", "REDIRECT"]
            .get(verdict as usize)
            .unwrap_or(&"?");
        println!("{}.{}.{}.{} -> XDP_{name}", src[0], src[1], src[2], src[3]);
    }
    println!("per-source counters:");
    for (key, value) in rt.map_entries("per_source")? {
        let ip = (key.parse::<u32>()?).to_le_bytes();
        println!("  {}.{}.{}.{}: {value}", ip[0], ip[1], ip[2], ip[3]);
    }
    Ok(())
}
