//! The embedding API end to end: host-defined hooks, an LPM-trie firewall, and
//! an event tracer feeding a ring buffer.

use std::path::PathBuf;

use oxbpf::object::Object;
use oxbpf::{Hooks, Options, Runtime};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/elf")
            .join(name),
    )
    .unwrap()
}

fn packet(src: [u8; 4]) -> Vec<u8> {
    let mut p = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    p.extend([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0]);
    p.extend(src);
    p.extend([192, 168, 0, 1, 0x30, 0x39, 0, 53, 0, 8, 0, 0]);
    p
}

#[test]
fn firewall_drops_blocked_prefixes_and_counts_per_source() {
    let rt = Runtime::from_elf(&fixture("firewall.o")).unwrap();
    let key = [24u32.to_le_bytes().as_slice(), &[172, 16, 5, 0]].concat();
    rt.map("blocklist")
        .unwrap()
        .update(&key, &7u32.to_le_bytes(), 0)
        .unwrap();
    let mut hooks = Hooks::new(&rt);
    hooks.attach("rx", "firewall").unwrap();
    assert_eq!(hooks.programs("rx"), ["firewall"]);
    let verdict = |hooks: &mut Hooks, src| hooks.fire("rx", &packet(src), None).unwrap()[0].retval;
    assert_eq!(verdict(&mut hooks, [172, 16, 5, 200]), 1, "XDP_DROP");
    assert_eq!(verdict(&mut hooks, [172, 16, 4, 200]), 2, "XDP_PASS");
    assert_eq!(verdict(&mut hooks, [172, 16, 5, 200]), 1);
    let stats: Vec<(String, String)> = rt.map_entries("per_source").unwrap();
    let blocked = u32::from_le_bytes([172, 16, 5, 200]).to_string();
    let row = stats.iter().find(|(k, _)| *k == blocked).unwrap();
    assert_eq!(row.1, "{packets = 2, bytes = 84, dropped = 2}");
    assert!(hooks.detach("rx", "firewall"));
    assert!(hooks.fire("nope", &[], None).is_err());
}

#[test]
fn tracer_filters_by_configured_uid_and_emits_ring_buffer_records() {
    let mut obj = Object::parse(&fixture("tracer.o")).unwrap();
    obj.set_global("only_uid", &1000u32.to_le_bytes()).unwrap();
    let rt = Runtime::with_options(obj, Options::default()).unwrap();
    let mut hooks = Hooks::new(&rt);
    hooks.attach("exec", "trace_exec").unwrap();
    let ctx = |pid: u32, uid: u32, name: &str| {
        let mut c = [pid.to_le_bytes(), uid.to_le_bytes()].concat();
        let mut f = [0u8; 64];
        f[..name.len()].copy_from_slice(name.as_bytes());
        c.extend(f);
        c
    };
    let results: Vec<u64> = [(1, 1000, "/bin/a"), (2, 0, "/bin/b"), (3, 1000, "/bin/c")]
        .iter()
        .map(|(p, u, n)| hooks.fire("exec", &[], Some(&ctx(*p, *u, n))).unwrap()[0].retval)
        .collect();
    assert_eq!(results, [1, 0, 1]);
    let mut got = Vec::new();
    rt.map("events").unwrap().ringbuf().unwrap().consume(|r| {
        let pid = u32::from_le_bytes(r[0..4].try_into().unwrap());
        let seq = u32::from_le_bytes(r[4..8].try_into().unwrap());
        let end = r[16..80].iter().position(|&b| b == 0).unwrap();
        got.push((
            pid,
            seq,
            String::from_utf8_lossy(&r[16..16 + end]).into_owned(),
        ));
    });
    assert_eq!(
        got,
        [(1, 0, "/bin/a".to_string()), (3, 1, "/bin/c".to_string())]
    );
}
