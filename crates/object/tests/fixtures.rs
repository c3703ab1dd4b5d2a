//! What the loader finds in each ELF fixture, checked against the C sources in
//! `fixtures/elf`.

use std::path::PathBuf;

use oxbpf_isa::{Insn, LddwSrc};
use oxbpf_object::{map_type_name, MapOrigin, Object, ProgramType};

fn load(name: &str) -> Object {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/elf")
        .join(name);
    Object::parse(&std::fs::read(&p).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// (name, type, key size, value size, max entries, flags) of every non-data map.
fn map_table(obj: &Object) -> Vec<(String, &'static str, u32, u32, u32, u32)> {
    obj.maps
        .iter()
        .filter(|m| !matches!(m.origin, MapOrigin::GlobalData { .. }))
        .map(|m| {
            (
                m.name.clone(),
                map_type_name(m.map_type),
                m.key_size,
                m.value_size,
                m.max_entries,
                m.map_flags,
            )
        })
        .collect()
}

#[test]
fn btf_defined_maps_of_every_form() {
    let obj = load("maps.o");
    let mut maps = map_table(&obj);
    maps.sort();
    let s = |x: &str| x.to_string();
    let mut want = vec![
        (s("blocklist"), "lpm_trie", 8, 4, 128, 1), // BPF_F_NO_PREALLOC
        (s("counters"), "array", 4, 8, 16, 0),
        (s("events"), "ringbuf", 0, 0, 16384, 0),
        (s("flows"), "hash", 16, 8, 1024, 0), // sizes given with __uint(key_size, ...)
        (s("inner_a"), "array", 4, 4, 2, 0),
        (s("inner_b"), "array", 4, 4, 2, 0),
        (s("jumps"), "prog_array", 4, 4, 2, 0),
        (s("outer_array"), "array_of_maps", 4, 4, 4, 0),
        (s("outer_hash"), "hash_of_maps", 4, 4, 4, 0),
        (s("percpu"), "percpu_array", 4, 8, 4, 0),
        (s("perf"), "perf_event_array", 4, 4, 0, 0),
        (s("pinned"), "hash", 4, 4, 8, 0),
        (s("queue"), "queue", 0, 4, 32, 0),
        (s("recent"), "lru_hash", 16, 8, 256, 2), // BPF_F_NO_COMMON_LRU
    ];
    want.sort();
    assert_eq!(maps, want);

    let by = |n: &str| &obj.maps[obj.map_index(n).unwrap()];
    assert_eq!(by("pinned").pinning, 1);
    let btf = obj.btf.as_ref().unwrap();
    assert_eq!(
        btf.type_name(by("recent").key_type.unwrap()),
        "struct flow_key"
    );
    assert_eq!(
        btf.type_name(by("blocklist").key_type.unwrap()),
        "struct lpm_key"
    );
    assert_eq!(by("flows").key_type, None, "sizes only, no key type");
    let inner = by("outer_array")
        .inner
        .as_ref()
        .expect("inner map template");
    assert_eq!(
        (
            map_type_name(inner.map_type),
            inner.key_size,
            inner.value_size,
            inner.max_entries
        ),
        ("array", 4, 4, 2)
    );
    assert_eq!(
        by("outer_array").initial_slots,
        vec![(0, "inner_a".to_string()), (3, "inner_b".to_string())]
    );
    assert!(by("outer_hash").initial_slots.is_empty());
    assert_eq!(
        by("jumps").initial_slots,
        vec![(1, "tail_target".to_string())]
    );
}

#[test]
fn legacy_maps_section() {
    let obj = load("legacy_maps.o");
    let s = |x: &str| x.to_string();
    assert_eq!(
        map_table(&obj),
        vec![
            (s("packets"), "array", 4, 8, 256, 0),
            (s("sizes"), "hash", 4, 4, 64, 1)
        ]
    );
    assert!(obj.maps.iter().all(|m| m.origin == MapOrigin::Legacy));
}

/// The maps an instruction sequence refers to through lddw, with value offsets.
fn map_refs(obj: &Object, prog: &str) -> Vec<(String, Option<u32>)> {
    obj.program(prog)
        .unwrap()
        .instructions()
        .unwrap()
        .into_iter()
        .filter_map(|(_, i)| match i {
            Insn::Lddw {
                src: LddwSrc::MapIdx,
                imm,
                ..
            } => Some((obj.maps[imm as usize].name.clone(), None)),
            Insn::Lddw {
                src: LddwSrc::MapIdxValue,
                imm,
                ..
            } => Some((
                obj.maps[imm as u32 as usize].name.clone(),
                Some((imm >> 32) as u32),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn global_data_subprograms_and_kconfig() {
    let mut obj = load("globals.o");
    assert_eq!(obj.license, "GPL");
    assert_eq!(obj.kernel_version, Some(0x060100));
    let progs: Vec<(&str, &str, ProgramType)> = obj
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str(), p.prog_type))
        .collect();
    assert_eq!(
        progs,
        vec![
            ("xdp_first", "xdp", ProgramType::Xdp),
            ("xdp_second", "xdp", ProgramType::Xdp),
            ("socket_version", "socket", ProgramType::SocketFilter),
        ]
    );
    // Global `account` calls static `scale`; both are linked behind xdp_first.
    let first = obj.program("xdp_first").unwrap();
    let subs: Vec<&str> = first.subprograms.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(subs, ["account", "scale"]);
    // xdp_second passes `visit` to bpf_loop as a code address and calls `scale`.
    let second = obj.program("xdp_second").unwrap();
    let (visit_at, scale_at) = (second.subprograms[0].1, second.subprograms[1].1);
    assert_eq!(second.subprograms[0].0, "visit");
    let insns = second.instructions().unwrap();
    let code_addr = insns.iter().find_map(|(slot, i)| match i {
        Insn::Lddw {
            src: LddwSrc::CodeAddr,
            imm,
            ..
        } => Some(*slot as i64 + 1 + *imm as i32 as i64),
        _ => None,
    });
    assert_eq!(code_addr, Some(visit_at as i64));
    let call = insns.iter().find_map(|(slot, i)| match i {
        Insn::Call {
            kind: oxbpf_isa::CallKind::Local,
            imm,
        } => Some(*slot as i64 + 1 + *imm as i64),
        _ => None,
    });
    assert_eq!(call, Some(scale_at as i64));

    // Every global, with its section and initial value.
    for (name, map, bytes) in [
        ("counter", ".data", &5i32.to_le_bytes()[..]),
        ("threshold", ".rodata", &7i32.to_le_bytes()[..]),
        ("greeting", ".rodata", b"hello\0"),
        ("custom_counter", ".data.counters", &11i32.to_le_bytes()[..]),
        ("tag", ".rodata.strings", b"oxbpf\0\0\0"),
        ("hits", ".bss", &[0u8; 4][..]),
        ("totals", ".bss", &[0u8; 32][..]),
    ] {
        let g = obj.global(name).unwrap();
        assert_eq!(obj.maps[g.map].name, map, "{name}");
        assert_eq!(obj.global_bytes(name).unwrap(), bytes, "{name}");
    }
    // The host sets rodata configuration before load, as with skeletons.
    obj.set_global("threshold", &42i32.to_le_bytes()).unwrap();
    assert_eq!(obj.global_bytes("threshold").unwrap(), 42i32.to_le_bytes());
    assert!(obj.set_global("threshold", &[1, 2]).is_err());
    assert!(obj.set_global("nope", &[1]).is_err());

    // References become map_idx_value loads with the variable's offset.
    let refs = map_refs(&obj, "xdp_first");
    for want in [
        (".bss", Some(0)),
        (".bss", Some(8)),
        (".data", Some(0)),
        (".rodata", Some(0)),
        (".data.counters", Some(0)),
    ] {
        assert!(
            refs.contains(&(want.0.to_string(), want.1)),
            "{want:?} in {refs:?}"
        );
    }
    let kconfig = map_refs(&obj, "socket_version");
    assert_eq!(
        kconfig,
        vec![
            (".kconfig".to_string(), Some(0)),
            (".kconfig".to_string(), Some(4))
        ]
    );
    obj.set_global("LINUX_KERNEL_VERSION", &0x060c00u32.to_le_bytes())
        .unwrap();
}

#[test]
fn program_types_and_attach_targets_follow_section_names() {
    let obj = load("progtypes.o");
    let got: Vec<(&str, &str, Option<&str>)> = obj
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.prog_type.name(), p.attach.as_deref()))
        .collect();
    let want = [
        ("socket_prog", "socket_filter", None),
        ("xdp_prog", "xdp", None),
        ("xdp_frags_prog", "xdp", None),
        ("tc_prog", "sched_cls", None),
        ("classifier_prog", "sched_cls", None),
        (
            "tracepoint_prog",
            "tracepoint",
            Some("syscalls/sys_enter_execve"),
        ),
        ("tp_prog", "tracepoint", Some("sched/sched_switch")),
        (
            "raw_tracepoint_prog",
            "raw_tracepoint",
            Some("sched_switch"),
        ),
        ("raw_tp_prog", "raw_tracepoint", Some("sys_enter")),
        ("perf_event_prog", "perf_event", None),
        ("cgroup_ingress_prog", "cgroup_skb", None),
        ("cgroup_egress_prog", "cgroup_skb", None),
        ("sk_msg_prog", "sk_msg", None),
        ("sk_skb_parser_prog", "sk_skb", None),
        ("sockops_prog", "sock_ops", None),
        ("cgroup_sock_prog", "cgroup_sock", None),
        ("cgroup_connect4_prog", "cgroup_sock_addr", None),
        ("flow_dissector_prog", "flow_dissector", None),
        ("kprobe_prog", "kprobe", Some("do_unlinkat")),
        ("kretprobe_prog", "kprobe", Some("do_unlinkat")),
        ("uprobe_prog", "kprobe", Some("/usr/bin/bash:readline")),
        ("uretprobe_prog", "kprobe", Some("/usr/bin/bash:readline")),
        ("usdt_prog", "kprobe", None),
        ("fentry_prog", "tracing", Some("do_unlinkat")),
        ("fexit_prog", "tracing", Some("do_unlinkat")),
        ("lsm_prog", "lsm", Some("file_open")),
        ("iter_prog", "tracing", Some("task")),
    ];
    assert_eq!(got, want);
}

#[test]
fn objects_without_optimization_or_debug_info_load() {
    let noopt = load("noopt.o");
    let p = noopt.program("unoptimized").unwrap();
    assert_eq!(
        p.subprograms
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["add"]
    );
    assert!(!p.line_info.is_empty());
    assert!(map_refs(&noopt, "unoptimized").contains(&("seen".to_string(), None)));

    let nodebug = load("nodebug.o");
    assert!(nodebug.btf_ext.is_none(), "no .BTF.ext without -g");
    let p = nodebug.program("no_debug_info").unwrap();
    assert!(p.line_info.is_empty());
    assert_eq!(
        p.subprograms
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["clamp"]
    );
    let refs = map_refs(&nodebug, "no_debug_info");
    assert!(refs.contains(&("hits".to_string(), None)), "{refs:?}");
    assert!(refs.contains(&(".data".to_string(), Some(0))), "{refs:?}");
    assert_eq!(nodebug.global_bytes("limit").unwrap(), 10i32.to_le_bytes());
}
