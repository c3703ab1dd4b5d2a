//! The networking helpers give in oxbpf's runtime what they give in the
//! kernel's BPF_PROG_TEST_RUN: the same return values, packets and maps, for
//! the interpreter and the JIT. Each program of fixtures/elf/nethelpers.c
//! records what its helpers returned in the `out` array; the few values the
//! kernel cannot reproduce (a boot-time hash seed, the clock, a fresh socket)
//! are checked for their properties instead, and say why.

use std::path::PathBuf;

use oxbpf::object::Object;
use oxbpf_kernel::Kernel;

fn fixture(p: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/elf")
            .join(p),
    )
    .unwrap()
}

/// The kernel side, or `None` after printing why the test is skipped.
fn kernel_or_skip(obj: &Object, test: &str) -> Option<Kernel> {
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return None;
    }
    match Kernel::load(obj) {
        Ok(k) => Some(k),
        Err(e) => panic!("{test}: the kernel refused the maps: {e}"),
    }
}

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

/// `out` as slot → value, zero slots left out.
fn slots(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(u32, u64)> {
    let mut v: Vec<(u32, u64)> = entries
        .into_iter()
        .map(|(k, v)| {
            (
                u32::from_le_bytes(k[..4].try_into().unwrap()),
                u64::from_le_bytes(v[..8].try_into().unwrap()),
            )
        })
        .filter(|&(_, v)| v != 0)
        .collect();
    v.sort();
    v
}

/// What one program did on one packet, on one side.
#[derive(Debug, PartialEq)]
struct Outcome {
    retval: u64,
    packet: Vec<u8>,
    out: Vec<(u32, u64)>,
}

/// One engine's name, outcome and test run.
type EngineRun = (&'static str, Outcome, oxbpf::TestRun);

/// Runs `prog` of `object` on `packet` in a fresh kernel load and fresh
/// runtimes; returns the kernel's outcome and each engine's (slots in
/// `skip` taken out of both and returned for their own checks).
fn run_both(object: &str, prog: &str, packet: &str) -> Option<(Outcome, Vec<EngineRun>)> {
    let obj = Object::parse(&fixture(object)).unwrap();
    let kernel = kernel_or_skip(&obj, &format!("{object} {prog}"))?;
    let data = fixture(&format!("packets/{packet}"));
    let k = kernel
        .test_run(prog, &data, None)
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    let kout = Outcome {
        retval: k.retval,
        packet: k.data_out,
        out: slots(kernel.map_entries("out").unwrap()),
    };
    let mine = ENGINES
        .iter()
        .map(|(name, engine)| {
            let rt = runtime(&obj, *engine);
            let u = rt.instance(prog).unwrap().test_run(&data, None).unwrap();
            let o = Outcome {
                retval: u.retval,
                packet: u.data_out.clone(),
                out: slots(rt.map("out").unwrap().entries()),
            };
            (*name, o, u)
        })
        .collect();
    Some((kout, mine))
}

/// Runs `prog` on each packet and asserts both sides agree, after taking the
/// slots in `own` out of both (they get their own checks from `check`).
fn agree(
    prog: &str,
    packets: &[&str],
    own: &[u32],
    check: impl Fn(&str, &[(u32, u64)], &[(u32, u64)]),
) {
    for pkt in packets {
        let Some((mut k, mine)) = run_both("nethelpers.o", prog, pkt) else {
            return;
        };
        let kernel_own: Vec<(u32, u64)> = k
            .out
            .iter()
            .copied()
            .filter(|(s, _)| own.contains(s))
            .collect();
        k.out.retain(|(s, _)| !own.contains(s));
        for (engine, mut o, _) in mine {
            let my_own: Vec<(u32, u64)> = o
                .out
                .iter()
                .copied()
                .filter(|(s, _)| own.contains(s))
                .collect();
            o.out.retain(|(s, _)| !own.contains(s));
            assert_eq!(o, k, "{prog} on {pkt} ({engine}): oxbpf, then the kernel");
            check(pkt, &kernel_own, &my_own);
        }
        println!("{prog} on {pkt}: agrees with the kernel: {k:?}");
    }
}

const PACKETS: [&str; 4] = ["udp80.bin", "tcp.bin", "dns.bin", "arp.bin"];

#[test]
fn stores_and_pulls_agree_with_the_kernel() {
    agree("tc_store", &PACKETS, &[], |_, _, _| {});
}

#[test]
fn checksum_helpers_agree_with_the_kernel() {
    agree("tc_csum", &PACKETS, &[], |_, _, _| {});
}

#[test]
fn tunnel_keys_agree_with_the_kernel() {
    agree("tc_tunnel", &PACKETS, &[], |_, _, _| {});
}

#[test]
fn tail_head_and_room_changes_agree_with_the_kernel() {
    for prog in ["tc_tail", "tc_head", "tc_encap", "tc_decap"] {
        agree(prog, &PACKETS, &[], |_, _, _| {});
    }
}

#[test]
fn vlan_push_and_pop_agree_with_the_kernel() {
    agree("tc_vlan", &PACKETS, &[], |_, _, _| {});
}

#[test]
fn fib_lookups_agree_with_the_kernel() {
    // Slot 16 is the answer of this host's routing table (5,
    // BPF_FIB_LKUP_RET_FWD_DISABLED, for 127.0.0.1 here); without a FIB hook
    // oxbpf answers its documented default, BPF_FIB_LKUP_RET_NOT_FWDED. The
    // parameters, the family and size checks agree.
    agree("tc_fib", &PACKETS, &[16], |pkt, k, mine| {
        assert!(matches!(k, [(16, 0..=9)]), "{pkt}: kernel {k:?}");
        assert_eq!(mine, [(16, oxbpf::helpers::net::FIB_NOT_FWDED)], "{pkt}");
    });
}

#[test]
fn a_fib_hook_answers_for_the_host() {
    let rt = oxbpf::Runtime::from_elf(&fixture("nethelpers.o")).unwrap();
    let hook: oxbpf::FibHook = std::sync::Arc::new(|p: &mut [u8], flags| {
        // struct bpf_fib_lookup: ifindex at 8, dmac at 58.
        assert_eq!(flags, 2, "BPF_FIB_LOOKUP_OUTPUT");
        p[8..12].copy_from_slice(&7u32.to_le_bytes());
        0
    });
    rt.set_fib_hook(Some(hook));
    let out = rt
        .instance("tc_fib")
        .unwrap()
        .test_run(&fixture("packets/udp80.bin"), None)
        .unwrap();
    assert_eq!(out.retval, 0);
    let slot = |i: u32| rt.map("out").unwrap().lookup(&i.to_le_bytes()).unwrap();
    assert_eq!(slot(16), 0u64.to_le_bytes(), "BPF_FIB_LKUP_RET_SUCCESS");
    assert_eq!(
        slot(17),
        (7u64 | 2 << 32).to_le_bytes(),
        "ifindex from the hook"
    );
}

#[test]
fn misc_helpers_agree_with_the_kernel() {
    // Slot 36 is bpf_get_netns_cookie: the kernel numbers namespaces as they
    // are made (3 for this test's here); oxbpf's is the fixed NETNS_COOKIE.
    // Slot 37 is bpf_jiffies64: the kernel's counter and oxbpf's, computed
    // from CLOCK_MONOTONIC at HZ 250, differ by the kernel's tick offset
    // (about 60 ticks here), so they must be within two seconds' ticks.
    // The hash (boot-time random seed) and socket cookie (a fresh socket per
    // run) are compared by their properties inside the program (slots 33,
    // 35, 41).
    agree("tc_misc", &PACKETS, &[36, 37], |pkt, k, mine| {
        let get = |v: &[(u32, u64)], s| v.iter().find(|e| e.0 == s).map_or(0, |e| e.1);
        assert_ne!(get(k, 36), 0, "{pkt}: kernel netns cookie");
        assert_eq!(get(mine, 36), oxbpf::helpers::net::NETNS_COOKIE, "{pkt}");
        let (kj, j) = (get(k, 37), get(mine, 37));
        assert!(
            kj.abs_diff(j) < 2 * oxbpf::helpers::net::JIFFIES_HZ,
            "{pkt}: jiffies {kj} vs {j}"
        );
    });
}

/// The same (map, key, value) entries on the kernel's side and oxbpf's.
type Setup = [(&'static str, Vec<u8>, Vec<u8>)];

fn datapath_setup() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let devmap_val = |ifindex: u32| [ifindex.to_le_bytes(), [0; 4]].concat();
    vec![
        ("tx_ports", 0u32.to_le_bytes().to_vec(), devmap_val(1)),
        (
            "tx_hash",
            7u32.to_le_bytes().to_vec(),
            1u32.to_le_bytes().to_vec(),
        ),
        (
            "cpus",
            0u32.to_le_bytes().to_vec(),
            [192u32.to_le_bytes(), [0; 4]].concat(),
        ),
        // 10.0.0.2 (as the packet stores it) leaves through tx_ports slot 0.
        ("tenant0", vec![10, 0, 0, 2], 0u32.to_le_bytes().to_vec()),
    ]
}

/// Runs `prog` of datapath.o on each input on both sides, with `setup`;
/// compares return values, packets and the listed maps.
fn datapath_agrees(
    prog: &str,
    inputs: &[(Vec<u8>, Option<Vec<u8>>)],
    setup: &Setup,
    maps: &[&str],
) -> Vec<oxbpf::TestRun> {
    let obj = Object::parse(&fixture("datapath.o")).unwrap();
    let Some(kernel) = kernel_or_skip(&obj, prog) else {
        return Vec::new();
    };
    let runtimes: Vec<_> = ENGINES
        .iter()
        .map(|(n, e)| (*n, runtime(&obj, *e)))
        .collect();
    for (map, key, value) in setup {
        kernel.map_update(map, key, value).unwrap();
        for (_, rt) in &runtimes {
            rt.map(map).unwrap().update(key, value, 0).unwrap();
        }
    }
    let mut runs = Vec::new();
    for (data, ctx) in inputs {
        let k = kernel.test_run(prog, data, ctx.as_deref()).unwrap();
        for (engine, rt) in &runtimes {
            let u = rt
                .instance(prog)
                .unwrap()
                .test_run(data, ctx.as_deref())
                .unwrap();
            assert_eq!(
                (u.retval, &u.data_out),
                (k.retval, &k.data_out),
                "{prog} ({engine})"
            );
            runs.push(u);
        }
    }
    for map in maps {
        let mut k = kernel.map_entries(map).unwrap();
        k.sort();
        for (engine, rt) in &runtimes {
            let mut u = rt.map(map).unwrap().entries();
            u.sort();
            assert_eq!(u, k, "{prog}: map {map} ({engine})");
        }
    }
    println!(
        "{prog}: {} inputs and maps {maps:?} agree with the kernel",
        inputs.len()
    );
    runs
}

#[test]
fn xdp_router_with_map_of_maps_and_devmap_agrees_with_the_kernel() {
    let inputs: Vec<_> = PACKETS
        .iter()
        .map(|p| (fixture(&format!("packets/{p}")), None))
        .collect();
    let runs = datapath_agrees("xdp_route", &inputs, &datapath_setup(), &[]);
    // The kernel's test run returns XDP_REDIRECT and sends nothing; oxbpf
    // also says where the packet would have gone.
    for run in runs.iter().filter(|r| r.retval == 4) {
        assert_eq!(
            run.redirect,
            Some(oxbpf::Redirect::Map {
                map: "tx_ports".into(),
                key: 0,
                flags: 0
            })
        );
    }
    if !runs.is_empty() {
        assert!(runs.iter().any(|r| r.retval == 4), "some packet is routed");
    }
}

#[test]
fn xdp_redirect_helpers_agree_with_the_kernel() {
    let inputs = vec![(fixture("packets/udp80.bin"), None)];
    let runs = datapath_agrees("xdp_spread", &inputs, &datapath_setup(), &["out"]);
    for run in runs {
        assert_eq!(run.retval, 4, "XDP_REDIRECT");
        assert_eq!(
            run.redirect,
            Some(oxbpf::Redirect::Map {
                map: "cpus".into(),
                key: 0,
                flags: 0
            })
        );
    }
}

#[test]
fn stack_ids_agree_with_the_kernel() {
    // The kernel records its real kernel stack; oxbpf, which has none,
    // records one frame (KERNEL_STACK_IP). The ids differ, so the program
    // records what holds for both: an id, an id or -EEXIST again, -EFAULT when
    // the frames are skipped, -EINVAL for unknown flags.
    let ctx = [0u8; 16].to_vec();
    datapath_agrees("stack_ids", &[(Vec::new(), Some(ctx))], &[], &["out"]);
}

#[test]
fn unimplemented_helpers_are_refused_by_name() {
    // bpf_skb_get_xfrm_state is not implemented by the runtime.
    let rt = oxbpf::Runtime::from_elf(&fixture("nethelpers.o")).unwrap();
    assert!(rt.instance("tc_csum").is_ok());
    assert!(!oxbpf::helpers::implements(66), "skb_get_xfrm_state");
    for (id, name) in [
        (9, "store_bytes"),
        (28, "csum_diff"),
        (51, "redirect_map"),
        (27, "get_stackid"),
    ] {
        assert!(oxbpf::helpers::implements(id), "{name}");
    }
}
