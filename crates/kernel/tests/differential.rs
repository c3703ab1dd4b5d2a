//! The same object and the same inputs give the same return value, packet and
//! map contents in the kernel (BPF_PROG_TEST_RUN) and in oxbpf's interpreter
//! and JIT.

use std::path::PathBuf;

use oxbpf_kernel::Kernel;
use oxbpf_object::Object;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/elf")
            .join(name),
    )
    .unwrap()
}

/// The kernel side, or `None` after printing why the test is skipped.
fn kernel_or_skip(obj: &Object, test: &str) -> Option<Kernel> {
    if !oxbpf_kernel::sys::privileged() {
        println!("skipped {test}: needs root (CAP_BPF) to load programs into the kernel");
        return None;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return None;
    }
    match Kernel::load(obj) {
        Ok(k) => Some(k),
        Err(e) => {
            println!("skipped {test}: the kernel refused the maps: {e}");
            None
        }
    }
}

/// The engines compared with the kernel.
const ENGINES: [(&str, oxbpf::Engine); 2] = [
    ("interpreter", oxbpf::Engine::Interpreter),
    ("jit", oxbpf::Engine::Jit),
];

fn runtime(obj: &Object, engine: oxbpf::Engine) -> oxbpf::Runtime {
    let options = oxbpf::Options {
        engine,
        ..oxbpf::Options::default()
    };
    oxbpf::Runtime::with_options(obj.clone(), options).unwrap()
}

fn sorted(mut v: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    v.sort();
    v
}

fn compare(object: &str, programs: &[&str], maps: &[&str]) {
    compare_with(object, programs, maps, &[]);
}

/// Like `compare`, after putting the same (map, key, value) entries on both sides.
fn compare_with(
    object: &str,
    programs: &[&str],
    maps: &[&str],
    setup: &[(&str, Vec<u8>, Vec<u8>)],
) {
    let obj = Object::parse(&fixture(object)).unwrap();
    let Some(kernel) = kernel_or_skip(&obj, object) else {
        return;
    };
    // oxbpf's interpreter and its JIT, each with maps of its own.
    let runtimes: Vec<(&str, oxbpf::Runtime)> = ENGINES
        .iter()
        .map(|(name, engine)| (*name, runtime(&obj, *engine)))
        .collect();
    for (map, key, value) in setup {
        kernel.map_update(map, key, value).unwrap();
        for (_, rt) in &runtimes {
            rt.map(map).unwrap().update(key, value, 0).unwrap();
        }
    }
    let packets = ["dns.bin", "udp80.bin", "tcp.bin", "arp.bin", "dns.bin"];
    for prog in programs {
        let mut insts: Vec<_> = runtimes
            .iter()
            .map(|(name, rt)| (*name, rt.instance(prog).unwrap()))
            .collect();
        for pkt in packets {
            let data = fixture(&format!("packets/{pkt}"));
            let k = kernel
                .test_run(prog, &data, None)
                .unwrap_or_else(|e| panic!("{prog}: {e}"));
            for (engine, inst) in &mut insts {
                let u = inst.test_run(&data, None).unwrap();
                assert_eq!(
                    (u.retval, &u.data_out),
                    (k.retval, &k.data_out),
                    "{object} {prog} on {pkt} ({engine})"
                );
            }
        }
    }
    for map in maps {
        let k = sorted(kernel.map_entries(map).unwrap());
        for (engine, rt) in &runtimes {
            let u = sorted(rt.map(map).unwrap().entries());
            assert_eq!(u, k, "{object}: map {map} ({engine})");
        }
    }
    println!(
        "{object}: {} programs x {} packets and {} maps agree with the kernel (interpreter and JIT)",
        programs.len(),
        packets.len(),
        maps.len()
    );
}

#[test]
fn packet_programs_agree_with_the_kernel() {
    compare(
        "packet.o",
        &["xdp_parse", "udp_length", "xdp_trim"],
        &["classes"],
    );
}

#[test]
fn flow_counter_agrees_with_the_kernel() {
    compare("flowcount.o", &["count_flows"], &["flows"]);
}

#[test]
fn firewall_agrees_with_the_kernel() {
    // Block 10.0.0.0/24, which the fixture packets come from.
    let key = [24u32.to_le_bytes().as_slice(), &[10, 0, 0, 0]].concat();
    let setup = [("blocklist", key, 1u32.to_le_bytes().to_vec())];
    compare_with("firewall.o", &["firewall"], &["per_source"], &setup);
}

#[test]
fn verifier_rejections_come_back_with_the_log() {
    let obj = Object::parse(&fixture("counter.o")).unwrap();
    let Some(kernel) = kernel_or_skip(&obj, "counter.o") else {
        return;
    };
    // `count` is in section "oxbpf", which names no kernel program type.
    let e = kernel.program_fd("count").unwrap_err().to_string();
    assert!(e.contains("names no kernel program type"), "{e}");
}

#[test]
fn flow_dissector_agrees_with_the_kernel() {
    compare("dissect.o", &["dissect"], &[]);
}

/// kattach.o's raw tracepoint program, test-run with the same argument
/// contexts on both sides: the same return values and the same tally map.
#[test]
fn raw_tracepoint_test_runs_agree_with_the_kernel() {
    let obj = Object::parse(&fixture("kattach.o")).unwrap();
    let Some(kernel) = kernel_or_skip(&obj, "kattach.o raw_tally") else {
        return;
    };
    let runtimes: Vec<(&str, oxbpf::Runtime)> = ENGINES
        .iter()
        .map(|(name, engine)| (*name, runtime(&obj, *engine)))
        .collect();
    let mut insts: Vec<_> = runtimes
        .iter()
        .map(|(name, rt)| (*name, rt.instance("raw_tally").unwrap()))
        .collect();
    let contexts: [[u64; 2]; 5] = [[0, 39], [0, 110], [7, 110], [0, 0x1ff], [0, 39]];
    for args in contexts {
        let ctx: Vec<u8> = args.iter().flat_map(|a| a.to_ne_bytes()).collect();
        let k = kernel.test_run("raw_tally", &[], Some(&ctx)).unwrap();
        assert_eq!(k.retval, args[1] & 0xff);
        for (engine, inst) in &mut insts {
            let u = inst.test_run(&[], Some(&ctx)).unwrap();
            assert_eq!(u.retval, k.retval, "args {args:?} ({engine})");
        }
    }
    let k = sorted(kernel.map_entries("raw_seen").unwrap());
    assert_eq!(k.len(), 3);
    for (engine, rt) in &runtimes {
        let u = sorted(rt.map("raw_seen").unwrap().entries());
        assert_eq!(u, k, "raw_seen ({engine})");
    }
    println!("kattach.o: raw_tally agrees on 5 contexts and the raw_seen map");
}

/// kattach.o's socket filter over the packet fixtures: return values (the
/// kept length or 0), packets and the counters map agree.
#[test]
fn socket_filter_agrees_with_the_kernel() {
    compare("kattach.o", &["drop_x"], &["counters"]);
}

/// globals.o's XDP programs, whose globals (.data, .bss, .rodata, a
/// subprogram, a bpf_loop callback) both sides must lay out and update alike.
#[test]
fn global_data_programs_agree_with_the_kernel() {
    compare(
        "globals.o",
        &["xdp_first", "xdp_second"],
        &[".data", ".bss"],
    );
}
