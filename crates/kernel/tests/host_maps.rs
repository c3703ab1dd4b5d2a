//! The host's side of maps in the running kernel (maps.o): lookups,
//! updates with flags, deletes, iteration and the batch commands, per-CPU
//! values, map-in-map and prog-array initial slots, and a ring buffer
//! filled by a test run.

use std::collections::BTreeSet;
use std::path::PathBuf;

use oxbpf_kernel::maps::{map_info, BPF_ANY, BPF_EXIST, BPF_NOEXIST};
use oxbpf_kernel::ringbuf::RingBuf;
use oxbpf_kernel::{Entry, Kernel};
use oxbpf_object::Object;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/elf")
            .join(name),
    )
    .unwrap()
}

fn load(test: &str) -> Option<Kernel> {
    if !oxbpf_kernel::sys::privileged() {
        println!("skipped {test}: needs root (CAP_BPF)");
        return None;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return None;
    }
    let obj = Object::parse(&fixture("maps.o")).unwrap();
    Some(Kernel::load(&obj).unwrap())
}

fn u32_of(b: &[u8]) -> u32 {
    u32::from_ne_bytes(b[..4].try_into().unwrap())
}

#[test]
fn initial_slots_hold_the_inner_maps_and_the_tail_call_target() {
    let Some(k) = load("initial_slots") else {
        return;
    };
    for (_, r) in k.load_all() {
        r.unwrap();
    }
    let sys = k.sys().clone();
    let id_of = |name: &str| map_info(&*sys, k.map(name).unwrap().fd()).unwrap().id;
    let outer = k.map("outer_array").unwrap();
    // From the host, a map-in-map slot reads as the inner map's id.
    let slot = |i: u32| outer.lookup(&i.to_ne_bytes()).unwrap().map(|v| u32_of(&v));
    assert_eq!(slot(0), Some(id_of("inner_a")));
    assert_eq!(slot(3), Some(id_of("inner_b")));
    assert_eq!(slot(1), None);
    // And a prog-array slot as the program's id.
    let jumps = k.map("jumps").unwrap();
    let target = k.program_fd("tail_target").unwrap();
    let want = oxbpf_kernel::info::prog_info_with(&*sys, target)
        .unwrap()
        .id;
    let got = jumps
        .lookup(&1u32.to_ne_bytes())
        .unwrap()
        .map(|v| u32_of(&v));
    assert_eq!(got, Some(want));
}

#[test]
fn a_test_run_fills_counters_per_cpu_values_and_the_ring_buffer() {
    let Some(k) = load("test_run_fills_maps") else {
        return;
    };
    let mut ring = RingBuf::new(k.map("events").unwrap()).unwrap();
    let packet = fixture("packets/udp80.bin");
    let r = k.test_run("use_maps", &packet, None).unwrap();
    // XDP_PASS: the prog array is empty (only load_all fills it), so the
    // tail call falls through.
    assert_eq!(r.retval, 2);
    let counters = k.map("counters").unwrap();
    let c0 = counters.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
    assert_eq!(u64::from_ne_bytes(c0.try_into().unwrap()), 1);
    let percpu = k.map("percpu").unwrap();
    let cpus = oxbpf_kernel::maps::possible_cpus();
    let v = percpu.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
    assert_eq!(v.len(), 8 * cpus);
    let total: u64 = v
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .sum();
    assert_eq!(total, 1, "one run counted on one CPU");
    let mut records = Vec::new();
    ring.consume(|r| records.push(r.to_vec()));
    assert_eq!(records, [vec![0u8; 4]]);
    assert_eq!(k.map_entries("flows").unwrap().len(), 1);
}

fn flow(i: u32) -> Entry {
    let mut key = vec![0u8; 16];
    key[..4].copy_from_slice(&i.to_ne_bytes());
    (key, u64::from(i * 7).to_ne_bytes().to_vec())
}

#[test]
fn hash_updates_deletes_iteration_and_batches() {
    let Some(k) = load("hash_operations") else {
        return;
    };
    let flows = k.map("flows").unwrap();
    assert_eq!(flows.info().key_size, 16);
    let entries: Vec<Entry> = (1..=50).map(flow).collect();
    assert_eq!(flows.update_batch(&entries, BPF_ANY).unwrap(), 50);
    let keys: BTreeSet<Vec<u8>> = flows.keys().unwrap().into_iter().collect();
    assert_eq!(keys.len(), 50);
    let walked: BTreeSet<Entry> = flows.entries().unwrap().into_iter().collect();
    // Small chunks make the batch walk resume from its token many times.
    let batched: BTreeSet<Entry> = flows.lookup_batch(7).unwrap().into_iter().collect();
    let want: BTreeSet<Entry> = entries.iter().cloned().collect();
    assert_eq!(walked, want);
    assert_eq!(batched, want);

    let (k5, v5) = flow(5);
    assert_eq!(flows.lookup(&k5).unwrap(), Some(v5.clone()));
    // NOEXIST refuses an existing key; EXIST refuses a missing one.
    assert!(flows.update(&k5, &v5, BPF_NOEXIST).is_err());
    let (k99, v99) = flow(99);
    assert!(flows.update(&k99, &v99, BPF_EXIST).is_err());
    flows.update(&k99, &v99, BPF_NOEXIST).unwrap();
    assert!(flows.delete(&k5).unwrap());
    assert!(!flows.delete(&k5).unwrap());
    assert_eq!(flows.lookup(&k5).unwrap(), None);

    let gone: Vec<Vec<u8>> = (10..20).map(|i| flow(i).0).collect();
    assert_eq!(flows.delete_batch(&gone).unwrap(), 10);
    assert_eq!(flows.keys().unwrap().len(), 50 - 1 - 10 + 1);
    let drained = flows.lookup_and_delete_batch(16).unwrap();
    assert_eq!(drained.len(), 40);
    assert!(flows.keys().unwrap().is_empty());
}

#[test]
fn btf_types_are_attached_to_the_maps() {
    let Some(k) = load("btf_types") else { return };
    let sys = k.sys().clone();
    let counters = map_info(&*sys, k.map("counters").unwrap().fd()).unwrap();
    let def = &k.object().maps[k.object().map_index("counters").unwrap()];
    assert_ne!(counters.btf_id, 0, "the map carries the object's BTF");
    assert_eq!(Some(counters.btf_key_type_id), def.key_type);
    assert_eq!(Some(counters.btf_value_type_id), def.value_type);
    // The kernel hands the same BTF back by id, and the value type is a u64.
    let raw = oxbpf_kernel::info::btf_by_id(&*sys, counters.btf_id).unwrap();
    let btf = oxbpf_object::Btf::parse(&raw).unwrap();
    assert_eq!(btf.size_of(counters.btf_value_type_id), Some(8));
}
