//! fixtures/elf/maps.o's `use_maps` touches every map form once: arrays,
//! hashes, LRU, per-CPU, LPM, ring buffer, perf buffer, queue, pinned map,
//! maps of maps and a tail call.

use std::path::PathBuf;

use oxbpf::{Options, Runtime};

#[test]
fn one_program_uses_every_map_type() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/maps.o");
    let obj = oxbpf::object::Object::parse(&std::fs::read(p).unwrap()).unwrap();
    let rt = Runtime::with_options(
        obj,
        Options {
            ncpus: 2,
            cpu: 1,
            ..Options::default()
        },
    )
    .unwrap();
    // Put a value in inner_a[0]: use_maps looks it up through outer_array[0].
    rt.map("inner_a")
        .unwrap()
        .update(&0u32.to_le_bytes(), &9u32.to_le_bytes(), 0)
        .unwrap();
    let mut packet = vec![0u8; 64];
    packet[12] = 0x08;
    let out = rt
        .instance("use_maps")
        .unwrap()
        .test_run(&packet, None)
        .unwrap();
    assert_eq!(
        out.retval, 2,
        "the tail call to tail_target returns XDP_PASS"
    );

    let entries = |m: &str| rt.map_entries(m).unwrap();
    assert_eq!(entries("counters")[0].1, "1");
    assert_eq!(entries("flows").len(), 1);
    assert_eq!(
        entries("recent")[0].0,
        "{saddr = 0, daddr = 0, sport = 0, dport = 0, proto = 6}"
    );
    assert_eq!(entries("percpu")[0].1, "[0, 1]", "CPU 1's copy");
    assert_eq!(entries("pinned")[0].1, "1");
    assert_eq!(
        rt.map("queue").unwrap().pop(true).unwrap(),
        1u32.to_le_bytes()
    );
    let mut ring = 0;
    rt.map("events").unwrap().ringbuf().unwrap().consume(|r| {
        assert_eq!(r, [0; 4]);
        ring += 1;
    });
    assert_eq!(ring, 1);
    let mut perf = Vec::new();
    rt.map("perf")
        .unwrap()
        .perf()
        .unwrap()
        .read(|cpu, r| perf.push((cpu, r.to_vec())));
    assert_eq!(perf, [(1, vec![0; 4])], "BPF_F_CURRENT_CPU is CPU 1");

    // Maps of maps: host changes take effect; a missing key finds nothing.
    rt.set_inner_map("outer_hash", 0, Some("inner_b")).unwrap();
    rt.set_inner_map("outer_array", 0, None).unwrap();
    assert!(rt.set_inner_map("outer_array", 4, Some("inner_a")).is_err());
    assert_eq!(
        rt.instance("use_maps")
            .unwrap()
            .test_run(&packet, None)
            .unwrap()
            .retval,
        2
    );
}
