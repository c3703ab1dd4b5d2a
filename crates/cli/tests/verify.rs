//! `oxbpf verify`: verdicts, output forms and exit statuses.

mod common;

use std::path::PathBuf;
use std::process::Output;

fn oxbpf(args: &[&str]) -> Output {
    common::oxbpf_command().args(args).output().unwrap()
}

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    p.to_string_lossy().into_owned()
}

fn temp(name: &str, text: &str) -> String {
    let p = std::env::temp_dir().join(format!("oxbpf-verify-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn accepted_object_exits_zero_with_statistics() {
    let o = oxbpf(&["verify", &fixture("elf/packet.o")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("xdp_parse: accepted:"), "{out}");
    assert!(out.contains("instructions processed"), "{out}");
    assert!(out.contains("peak"), "{out}");
}

#[test]
fn rejected_bytecode_exits_one_with_place_hint_and_dot() {
    let src = temp("uninit.s", "r0 = *(u64 *)(r10 - 8)\nexit\n");
    let dot = std::env::temp_dir().join(format!("oxbpf-verify-{}.dot", std::process::id()));
    // A privileged loader may read never-written stack (as in the kernel);
    // strict mode refuses it.
    let o = oxbpf(&["verify", &src, "--type", "xdp"]);
    assert_eq!(o.status.code(), Some(0));
    let o = oxbpf(&[
        "verify",
        &src,
        "--type",
        "xdp",
        "--strict",
        "--dot",
        dot.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("rejected at instruction 0: 0: (79) r0 = *(u64 *)(r10 -8)"),
        "{out}"
    );
    assert!(out.contains("hint:"), "{out}");
    let graph = std::fs::read_to_string(&dot).unwrap();
    assert!(graph.starts_with("digraph cfg"), "{graph}");
    assert!(graph.contains("color=red"), "{graph}");
}

#[test]
fn json_and_log_outputs() {
    let src = temp("ok.s", "r0 = 2\nexit\n");
    let o = oxbpf(&["verify", &src, "--type", "xdp", "--json", "--log"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("0: (b7) r0 = 2"), "{out}");
    let json = out
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["accepted"], true);
    assert_eq!(v["insns_processed"], 2);
}

#[test]
fn unprivileged_mode_is_stricter() {
    let src = temp(
        "loop.s",
        "r0 = 0\nr1 = 0\nl:\nr1 += 1\nif r1 < 4 goto l\nexit\n",
    );
    assert_eq!(
        oxbpf(&["verify", &src, "--type", "socket_filter"])
            .status
            .code(),
        Some(0)
    );
    let o = oxbpf(&["verify", &src, "--type", "socket_filter", "--unprivileged"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("back-edge"));
}

#[test]
fn unusable_input_exits_two() {
    let o = oxbpf(&["verify", "/nonexistent/prog.o"]);
    assert_eq!(o.status.code(), Some(2));
    let src = temp("notype.s", "r0 = 0\nexit\n");
    let o = oxbpf(&["verify", &src]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--type"));
    let o = oxbpf(&["verify", &src, "--type", "bogus"]);
    assert_eq!(o.status.code(), Some(2));
    let o = oxbpf(&["verify", &fixture("elf/packet.o"), "--prog", "nope"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_section_name_as_type_sets_the_attach_type() {
    // cgroup_skb/egress programs may return 0-3; ingress ones only 0-1.
    let src = temp("ret3.s", "r0 = 3\nexit\n");
    let o = oxbpf(&["verify", &src, "--type", "cgroup_skb/egress"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = oxbpf(&["verify", &src, "--type", "cgroup_skb/ingress"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("[0, 1]"), "{out}");
}

#[test]
fn callx_is_refused_with_a_hint_about_optimization() {
    let src = temp("callx.s", "r0 = 0\nexit\nr1 = 5\ncallx r1\nexit\n");
    let o = oxbpf(&["verify", &src, "--type", "socket"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("rejected at instruction 3"), "{out}");
    assert!(out.contains("-O2"), "{out}");
}

#[test]
fn type_overrides_an_objects_section_names() {
    let obj = fixture("elf/typed_slots.o");
    // As built: a socket filter tail-calling through an XDP program array.
    let o = oxbpf(&["verify", &obj, "--prog", "socket_caller"]);
    assert_eq!(o.status.code(), Some(1));
    // As socket filters, every program (and so the array) is of one type.
    let o = oxbpf(&[
        "verify",
        &obj,
        "--prog",
        "socket_caller",
        "--type",
        "socket",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let o = oxbpf(&["verify", &obj, "--type", "no_such_type"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown program type"));
    // `run` takes the same override.
    let o = oxbpf(&[
        "run",
        &obj,
        "--prog",
        "socket_other",
        "--type",
        "socket",
        "--mem-hex",
        &"00 ".repeat(64),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.starts_with("r0 = 0x7 (7)"), "{out}");
}

#[test]
fn helpers_only_the_kernel_runs_are_a_note_not_a_rejection() {
    // bpf_get_current_task has a kernel prototype but no userspace implementation.
    let o = oxbpf(&["verify", &fixture("object/core.o"), "--prog", "core_reads"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("note: oxbpf's runtime does not implement bpf_get_current_task"),
        "{out}"
    );
    let o = oxbpf(&["run", &fixture("object/core.o"), "--prog", "core_reads"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("calls bpf_get_current_task (helper 35)"),
        "{err}"
    );
}

#[test]
fn co_re_is_applied_as_a_loader_would() {
    // Against the fixture's own target BTF, and against the running kernel's
    // by default: the relocated programs differ, so the processed counts do.
    let obj = fixture("object/core.o");
    let target = fixture("object/core_target.btf");
    let with = oxbpf(&[
        "verify",
        &obj,
        "--prog",
        "core_info",
        "--btf",
        &target,
        "--json",
    ]);
    let with: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&with.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(with["accepted"], true, "{with}");
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        println!("skipped the default target: this kernel has no /sys/kernel/btf/vmlinux");
        return;
    }
    let default = oxbpf(&["verify", &obj, "--prog", "core_info", "--json"]);
    let default: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&default.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(default["accepted"], true, "{default}");
    assert_ne!(
        with["insns_processed"], default["insns_processed"],
        "{with}\n{default}"
    );
}

#[test]
fn kfunc_calls_are_named_when_refused() {
    let o = oxbpf(&["verify", &fixture("elf/ksyms.o"), "--prog", "rcu_section"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("the kfunc `bpf_rcu_read_lock` (a kernel function) is not modelled"),
        "{out}"
    );
}
