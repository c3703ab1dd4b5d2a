//! Runs fixtures/elf/counter.o: maps, ring buffer, globals and bpf_printk.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use oxbpf::object::Object;
use oxbpf::{Options, Runtime};

fn object() -> Object {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/counter.o");
    Object::parse(&std::fs::read(p).unwrap()).unwrap()
}

fn runtime(obj: Object, trace: Arc<Mutex<Vec<String>>>) -> Runtime {
    let options = Options {
        ncpus: 2,
        trace: Arc::new(Mutex::new(move |s: &str| {
            trace.lock().unwrap().push(s.to_string())
        })),
        ..Options::default()
    };
    Runtime::with_options(obj, options).unwrap()
}

#[test]
fn counts_bytes_into_maps_and_reports_through_the_ring_buffer() {
    let trace = Arc::new(Mutex::new(Vec::new()));
    let rt = runtime(object(), trace.clone());
    let mut data = *b"hello";
    assert_eq!(rt.run("count", &mut data).unwrap(), 4, "h, e, l, o are new");
    let entries = rt.map_entries("byte_counts").unwrap();
    let as_pairs: Vec<(&str, &str)> = entries
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Keys are __u8 values: e=101, h=104, l=108, o=111.
    assert_eq!(
        as_pairs,
        [("101", "1"), ("104", "1"), ("108", "2"), ("111", "1")]
    );
    assert_eq!(
        rt.map_entries("totals").unwrap()[0],
        ("0".to_string(), "5".to_string())
    );

    let mut again = *b"hey";
    assert_eq!(rt.run("count", &mut again).unwrap(), 1, "only y is new");
    let mut records = Vec::new();
    rt.map("events")
        .unwrap()
        .ringbuf()
        .unwrap()
        .consume(|r| records.push(r.to_vec()));
    let decode = |r: &[u8]| {
        (
            u32::from_le_bytes(r[0..4].try_into().unwrap()),
            u32::from_le_bytes(r[4..8].try_into().unwrap()),
            u64::from_le_bytes(r[8..16].try_into().unwrap()),
        )
    };
    let got: Vec<_> = records.iter().map(|r| decode(r)).collect();
    assert_eq!(got, [(5, 4, 5), (3, 1, 8)]);
    assert_eq!(
        *trace.lock().unwrap(),
        ["counted 5 bytes, 4 new", "counted 3 bytes, 1 new"]
    );
    // `runs` lives in .bss.
    let bss = rt.map(".bss").unwrap().lookup(&0u32.to_le_bytes()).unwrap();
    assert_eq!(u32::from_le_bytes(bss[..4].try_into().unwrap()), 2);
}

#[test]
fn rodata_configuration_set_before_load_changes_behaviour() {
    let mut obj = object();
    obj.set_global("skip_byte", b"l").unwrap();
    let rt = runtime(obj, Arc::new(Mutex::new(Vec::new())));
    let mut data = *b"hello";
    assert_eq!(rt.run("count", &mut data).unwrap(), 3, "l is skipped");
    let keys: Vec<String> = rt
        .map_entries("byte_counts")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["101", "104", "111"]);
}

#[test]
fn threads_share_maps_without_losing_updates() {
    let rt = runtime(object(), Arc::new(Mutex::new(Vec::new())));
    let threads = 4;
    let rounds = 200;
    std::thread::scope(|s| {
        for t in 0..threads {
            let rt = &rt;
            s.spawn(move || {
                let mut inst = rt.instance("count").unwrap();
                for _ in 0..rounds {
                    let mut data = [b'a' + t as u8, b'z'];
                    inst.run(&mut data).unwrap();
                }
            });
        }
        // The host iterates the maps while programs update them.
        s.spawn(|| {
            for _ in 0..50 {
                let _ = rt.map_entries("byte_counts").unwrap();
                rt.map("events").unwrap().ringbuf().unwrap().consume(|_| {});
            }
        });
    });
    let counts: std::collections::BTreeMap<String, String> =
        rt.map_entries("byte_counts").unwrap().into_iter().collect();
    for t in 0..threads {
        assert_eq!(counts[&(b'a' as u32 + t).to_string()], rounds.to_string());
    }
    assert_eq!(
        counts[&(b'z' as u32).to_string()],
        (threads * rounds).to_string()
    );
    assert_eq!(
        rt.map_entries("totals").unwrap()[0].1,
        (2 * threads * rounds).to_string()
    );
}

#[test]
fn bpf_loop_callbacks_and_subprograms_run() {
    // xdp_second: bpf_loop(8, visit, &sum) adds 0..7 (28), plus tag[1] ('x' = 120),
    // greeting[0] ('h' = 104) and scale(1) = 1 * counter (5) + threshold (7).
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/globals.o");
    let rt = Runtime::from_elf(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(rt.run("xdp_second", &mut []).unwrap(), 28 + 120 + 104 + 12);
}

#[test]
fn snprintf_formats_into_program_memory() {
    let rt = runtime(object(), Arc::new(Mutex::new(Vec::new())));
    let mut buf = [0xffu8; 24];
    // "len=24 answer=42" is 16 characters; the return value counts the NUL.
    assert_eq!(rt.run("describe", &mut buf).unwrap(), 17);
    assert_eq!(&buf[..17], b"len=24 answer=42\0");
    let mut small = [0xffu8; 8];
    assert_eq!(
        rt.run("describe", &mut small).unwrap(),
        16,
        "len=8 answer=42 is 15 characters"
    );
    assert_eq!(&small, b"len=8 a\0");
}

#[test]
fn kconfig_kernel_version_defaults_to_the_running_kernel() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/globals.o");
    let rt = Runtime::from_elf(&std::fs::read(p).unwrap()).unwrap();
    let v = rt.object().global_bytes("LINUX_KERNEL_VERSION").unwrap();
    let v = u32::from_le_bytes(v.try_into().unwrap());
    if std::path::Path::new("/proc/sys/kernel/osrelease").exists() {
        assert!(v >= 0x030000, "kernel version {v:#x}");
    }
}

#[test]
fn for_each_map_elem_visits_entries_until_the_callback_stops() {
    let rt = runtime(object(), Arc::new(Mutex::new(Vec::new())));
    let mut data = *b"abbzzy";
    rt.run("count", &mut data).unwrap();
    // Keys in order: a (1), b (2), y (1), z (2): the callback stops after z.
    assert_eq!(rt.run("sum_counts", &mut []).unwrap(), 4 << 16 | 6);
    let mut more = *b"cc";
    rt.run("count", &mut more).unwrap();
    assert_eq!(rt.run("sum_counts", &mut []).unwrap(), 5 << 16 | 8);
}

#[test]
fn host_helpers_replace_or_extend_the_kernel_ones() {
    let mut rt = runtime(object(), Arc::new(Mutex::new(Vec::new())));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    // Replace bpf_trace_printk (6) with a helper that records the format's length.
    rt.register_helper(6, move |_, args| {
        sink.lock().unwrap().push(args[1]);
        Ok(0)
    });
    let mut data = *b"ab";
    rt.run("count", &mut data).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [25],
        "sizeof(\"counted %d bytes, %d new\")"
    );
}

#[test]
fn each_instance_can_run_on_its_own_cpu() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/maps.o");
    let obj = oxbpf::object::Object::parse(&std::fs::read(p).unwrap()).unwrap();
    let rt = Runtime::with_options(
        obj,
        Options {
            ncpus: 4,
            ..Options::default()
        },
    )
    .unwrap();
    let mut packet = vec![0u8; 64];
    packet[12] = 0x08;
    std::thread::scope(|s| {
        for cpu in [1usize, 3] {
            let rt = &rt;
            let packet = packet.clone();
            s.spawn(move || {
                let mut inst = rt.instance("use_maps").unwrap();
                inst.set_cpu(cpu);
                for _ in 0..5 {
                    inst.test_run(&packet, None).unwrap();
                }
            });
        }
    });
    // percpu[0] counts each thread's runs in its own CPU's slot.
    assert_eq!(rt.map_entries("percpu").unwrap()[0].1, "[0, 5, 0, 5]");
}
