//! `oxbpf kernel ...` end to end: loading and pinning into a bpffs this test
//! mounts, listing, showing and dumping programs and maps, map updates,
//! test runs, feature probes, attaching until SIGINT, and one-line
//! permission errors when run without privileges.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn oxbpf(args: &[&str]) -> Output {
    common::oxbpf_command().args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = oxbpf(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/elf")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0")
}

/// A bpffs mounted at a directory of this test's own, unmounted on drop.
struct Bpffs(PathBuf);

impl Bpffs {
    fn mount(test: &str) -> Option<Bpffs> {
        let dir = std::env::temp_dir().join(format!("oxbpf-cli-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            println!("skipped {test}: cannot mount bpffs at {}", dir.display());
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Bpffs(dir))
    }

    fn path(&self, rest: &str) -> String {
        self.0.join(rest).to_string_lossy().into_owned()
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn load_pin_list_show_dump_and_update() {
    let test = "load_pin_list_show_dump_and_update";
    if !root() {
        println!("skipped {test}: needs root (CAP_BPF, CAP_SYS_ADMIN)");
        return;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return;
    }
    let Some(fs) = Bpffs::mount(test) else { return };
    let pin = fs.path("packet");
    let loaded = json(&[
        "kernel",
        "load",
        &fixture("packet.o"),
        "--pin",
        &pin,
        "--json",
    ]);
    let progs = loaded["loaded"].as_array().unwrap();
    assert_eq!(progs.len(), 3, "{loaded}");
    assert_eq!(loaded["btf"], true);
    let xdp_id = progs.iter().find(|p| p["name"] == "xdp_parse").unwrap()["id"]
        .as_u64()
        .unwrap();
    assert!(Path::new(&fs.path("packet/xdp_parse")).exists());

    // The pinned programs outlive the command and show up in the list.
    let list = json(&["kernel", "prog", "list", "--json"]);
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"].as_u64() == Some(xdp_id))
        .expect("listed");
    assert_eq!(mine["type"], "xdp");
    assert_eq!(mine["name"], "xdp_parse");

    // Names past the kernel's 15 characters come whole from the program's
    // BTF, as bpftool shows them, in JSON and in text.
    let long = "count_and_filter_packets";
    let pin_long = fs.path("typed");
    let loaded = json(&[
        "kernel",
        "load",
        &fixture("long_name.o"),
        "--pin",
        &pin_long,
        "--json",
    ]);
    let long_id = loaded["loaded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == long)
        .unwrap_or_else(|| panic!("{loaded}"))["id"]
        .as_u64()
        .unwrap();
    let list = json(&["kernel", "prog", "list", "--json"]);
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"].as_u64() == Some(long_id))
        .expect("listed");
    assert_eq!(listed["name"], long, "{listed}");
    let listing = ok(&["kernel", "prog", "list"]);
    assert!(listing.contains(long), "{listing}");
    let shown = json(&["kernel", "prog", "show", &xdp_id.to_string(), "--json"]);
    assert_eq!(shown["tag"], mine["tag"]);
    let map_id = shown["map_ids"][0].as_u64().unwrap();

    // xlated: as many instructions as the kernel reports, in oxbpf's syntax.
    let dump = json(&[
        "kernel",
        "prog",
        "dump",
        "xlated",
        &fs.path("packet/xdp_parse"),
        "--json",
    ]);
    let insns = dump["xlated"].as_array().unwrap();
    let slots = insns.last().unwrap()["slot"].as_u64().unwrap() + 1;
    assert!(slots >= insns.len() as u64);
    assert_eq!(slots, mine["xlated_insns"].as_u64().unwrap());
    assert!(insns.iter().any(|i| i["insn"] == "exit"), "{dump}");
    let map_ref = format!("; map id {map_id} (classes)");
    assert!(
        insns
            .iter()
            .any(|i| i["insn"].as_str().is_some_and(|t| t.ends_with(&map_ref))),
        "{dump}"
    );
    // jited: x86-64 instructions decoded, helper calls named from kallsyms.
    let jited = json(&[
        "kernel",
        "prog",
        "dump",
        "jited",
        &fs.path("packet/xdp_trim"),
        "--json",
    ]);
    let insns = jited["insns"].as_array().unwrap();
    assert!(insns.iter().any(|i| i["insn"] == "leave"), "{jited}");
    let calls: Vec<&str> = insns
        .iter()
        .filter_map(|i| i["insn"].as_str())
        .filter(|t| t.starts_with("call"))
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls.iter().any(|c| c.ends_with("; bpf_xdp_adjust_tail")),
        "{calls:?}"
    );
    let xlated = ok(&[
        "kernel",
        "prog",
        "dump",
        "xlated",
        &fs.path("packet/xdp_trim"),
    ]);
    assert!(xlated.contains("; bpf_xdp_adjust_head"), "{xlated}");

    // The map: listed, dumped through its BTF, updated and read back.
    let maps = json(&["kernel", "map", "list", "--json"]);
    let m = maps
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"].as_u64() == Some(map_id))
        .expect("map listed");
    assert_eq!(
        (m["name"].as_str(), m["type"].as_str()),
        (Some("classes"), Some("array"))
    );
    let pinned_map = fs.path("packet/maps/classes");
    ok(&[
        "kernel",
        "map",
        "update",
        &pinned_map,
        "--key",
        "02000000",
        "--value",
        "2a00000000000000",
    ]);
    let got = json(&[
        "kernel",
        "map",
        "lookup",
        &map_id.to_string(),
        "--key",
        "02000000",
        "--json",
    ]);
    assert_eq!(got["value"], "2a00000000000000");
    let dump = ok(&["kernel", "map", "dump", &pinned_map]);
    assert!(dump.contains("  2 => 42\n"), "{dump}");
    // A key of the wrong size is refused before the kernel sees it.
    let bad = oxbpf(&["kernel", "map", "lookup", &pinned_map, "--key", "02"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("the key is 1 bytes, the map takes 4"));
    println!("{test}: program {xdp_id} and map {map_id} listed, dumped and updated");
}

#[test]
fn run_repeats_in_the_kernel_and_reports_json() {
    let test = "run_repeats_in_the_kernel_and_reports_json";
    if !root() {
        println!("skipped {test}: needs root (CAP_BPF)");
        return;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return;
    }
    let doc = json(&[
        "kernel",
        "run",
        &fixture("packet.o"),
        "--prog",
        "xdp_parse",
        "--data-in",
        &fixture("packets/udp80.bin"),
        "--repeat",
        "50",
        "--json",
    ]);
    assert_eq!(doc["repeat"], 50);
    let classes = doc["maps"]["classes"].as_array().unwrap();
    // The kernel's repeat loop counts every run into the packet's class.
    let total: u64 = classes
        .iter()
        .map(|e| e["value"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 50, "{doc}");
}

#[test]
fn feature_probes_report_types_and_helpers() {
    let test = "feature_probes_report_types_and_helpers";
    if !root() {
        println!("skipped {test}: needs root (CAP_BPF)");
        return;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return;
    }
    let doc = json(&["kernel", "feature", "--helpers-for", "xdp", "--json"]);
    assert_eq!(doc["program_types"]["xdp"], true);
    assert_eq!(doc["program_types"]["socket_filter"], true);
    assert_eq!(doc["map_types"]["hash"], true);
    assert_eq!(doc["map_types"]["ringbuf"], true);
    let helpers = doc["helpers"]["xdp"].as_array().unwrap();
    assert!(helpers.iter().any(|h| h == "bpf_map_lookup_elem"));
    assert!(helpers.iter().any(|h| h == "bpf_xdp_adjust_head"));
    // Tracing-only and skb-only helpers are not offered to XDP.
    for h in [
        "bpf_probe_write_user",
        "bpf_override_return",
        "bpf_skb_load_bytes",
    ] {
        assert!(!helpers.iter().any(|x| x == h), "{h} in {helpers:?}");
    }
}

#[test]
fn attach_stays_until_sigint_then_detaches() {
    let test = "attach_stays_until_sigint_then_detaches";
    if !root() {
        println!("skipped {test}: needs root (CAP_BPF, CAP_PERFMON)");
        return;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return;
    }
    let mut child = common::oxbpf_command()
        .args([
            "kernel",
            "attach",
            &fixture("kattach.o"),
            "--prog",
            "raw_tally",
        ])
        .args(["--raw-tracepoint", "sys_enter"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the "attached" line, then interrupt.
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !text(&seen).contains('\n') {
        let n = std::io::Read::read(&mut stderr, &mut buf).unwrap();
        assert!(n > 0, "exited early: {}", text(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        text(&seen).starts_with("attached raw_tracepoint sys_enter"),
        "{}",
        text(&seen)
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit after SIGINT: {:?}", out.status);
    let report = text(&out.stdout);
    assert!(
        report.starts_with("detached raw_tracepoint sys_enter: raw_tally"),
        "{report}"
    );
    // The program saw syscalls while attached (at least the ones of this test).
    assert!(report.contains("map raw_seen (hash):"), "{report}");
    assert!(
        !report.contains("map raw_seen (hash): 0 entries"),
        "{report}"
    );
}

#[test]
fn without_privileges_errors_name_the_capability_in_one_line() {
    let test = "without_privileges_errors_name_the_capability_in_one_line";
    if !root() {
        // Already unprivileged: check as we are.
        println!("{test}: running as a normal user");
    }
    if let Some(why) = oxbpf_kernel::sys::bpf_missing() {
        println!("skipped {test}: {why}");
        return;
    }
    let cases: [&[&str]; 5] = [
        &["kernel", "prog", "list"],
        &["kernel", "map", "list", "--json"],
        &["kernel", "load", &fixture("packet.o")],
        &["kernel", "feature"],
        &["kernel", "run", &fixture("packet.o"), "--prog", "xdp_parse"],
    ];
    for args in cases {
        let mut cmd = common::oxbpf_command();
        cmd.args(args);
        if root() {
            cmd.uid(65534).gid(65534); // nobody
        }
        let o = cmd.output().unwrap();
        let err = text(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded without privileges");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("CAP_"), "{args:?}: {err}");
        assert!(!err.contains("os error"), "{args:?}: raw errno in {err}");
    }
}

/// Capability numbers (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_RESOURCE: u32 = 24;

/// Runs `oxbpf args` as root with `drop` removed from its bounding set, so
/// that it execs without them.
fn without_caps(drop: &[u32], args: &[&str]) -> Output {
    let drop = drop.to_vec();
    let mut cmd = common::oxbpf_command();
    cmd.args(args);
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for &cap in &drop {
                if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// Whether this process has capability `cap` in its bounding set.
fn has_cap(cap: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|b| b & (1 << cap) != 0)
}

#[test]
fn kernel_commands_under_reduced_capabilities() {
    let test = "kernel_commands_under_reduced_capabilities";
    if !root() {
        println!("skipped {test}: needs root (to drop capabilities from a full set)");
        return;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return;
    }
    if !has_cap(8) {
        println!("skipped {test}: needs CAP_SETPCAP to drop capabilities");
        return;
    }
    let packet = fixture("packet.o");
    let frame = "00 ".repeat(64);
    // What a command may say when it fails: one line naming a capability the
    // child lacks, never a raw errno.
    let refused = |args: &[&str], o: &Output, lacking: &[&str]| {
        let err = text(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            lacking.iter().any(|c| err.contains(c)),
            "{args:?} should name one of {lacking:?}: {err}"
        );
        assert!(!err.contains("os error"), "{args:?}: raw errno in {err}");
    };

    // Root without CAP_SYS_RESOURCE, as on a fresh machine of this kind: the
    // probes go on past one feature's EPERM (arena maps), and loading works.
    let drop = [CAP_SYS_RESOURCE];
    for args in [
        &["kernel", "feature", "--helpers-for", "xdp"][..],
        &["kernel", "prog", "list"],
        &[
            "kernel",
            "run",
            &packet,
            "--prog",
            "xdp_parse",
            "--data-hex",
            &frame,
        ],
    ] {
        let o = without_caps(&drop, args);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    }
    let probe = text(&without_caps(&drop, &["kernel", "feature"]).stdout);
    assert!(
        probe.contains("xdp") && probe.contains("helpers for"),
        "{probe}"
    );

    // CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN without CAP_SYS_ADMIN: loading
    // and test runs work; walking every program in the kernel needs
    // CAP_SYS_ADMIN, and says so.
    let drop = [CAP_SYS_ADMIN, CAP_SYS_RESOURCE];
    for args in [
        &["kernel", "feature", "--helpers-for", "xdp"][..],
        &[
            "kernel",
            "run",
            &packet,
            "--prog",
            "xdp_parse",
            "--data-hex",
            &frame,
        ],
    ] {
        let o = without_caps(&drop, args);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    }
    let args = ["kernel", "prog", "list"];
    let o = without_caps(&drop, &args);
    if !o.status.success() {
        refused(&args, &o, &["CAP_SYS_ADMIN"]);
    }

    // Without CAP_NET_ADMIN as well, XDP programs no longer load.
    let drop = [CAP_SYS_ADMIN, CAP_SYS_RESOURCE, CAP_NET_ADMIN];
    let args = [
        "kernel",
        "run",
        &packet,
        "--prog",
        "xdp_parse",
        "--data-hex",
        &frame,
    ];
    let o = without_caps(&drop, &args);
    assert!(!o.status.success(), "{args:?} ran without CAP_NET_ADMIN");
    refused(&args, &o, &["CAP_NET_ADMIN"]);
}
