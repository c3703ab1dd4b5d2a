//! `oxbpf trace` end to end. Scripts that only compile run anywhere; the
//! ones that attach need root and tracefs, and print a skip line without them.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};

use common::oxbpf_command;

fn oxbpf(args: &[&str]) -> Output {
    oxbpf_command().args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether this test can attach probes; prints why not when it cannot.
fn can_trace(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0");
    if !root {
        println!("skipped {test}: needs root");
        return false;
    }
    if let Some(why) = oxbpf_kernel::sys::bpf_missing() {
        println!("skipped {test}: {why}");
        return false;
    }
    let listed = oxbpf(&["trace", "-l", "syscalls:sys_enter_openat"]);
    if !text(&listed.stdout).contains("tracepoint:syscalls:sys_enter_openat") {
        println!(
            "skipped {test}: no tracefs with syscalls:sys_enter_openat ({})",
            text(&listed.stderr).trim()
        );
        return false;
    }
    true
}

#[test]
fn compile_errors_point_at_the_script() {
    let o = oxbpf(&[
        "trace",
        "--dry-run",
        "-e",
        "BEGIN {\n  @x[1] = 1;\n  @x[comm] = 2;\n}",
    ]);
    assert!(!o.status.success());
    assert_eq!(
        text(&o.stderr),
        "error: map @x is used with key type [string] here but with [int64] before\n --> -e:3:3\n  |\n3 |   @x[comm] = 2;\n  |   ^^^^^^^^\n"
    );
}

#[test]
fn dry_run_lists_code_and_verdicts() {
    let o = oxbpf(&[
        "trace",
        "--dry-run",
        "-e",
        "BEGIN { @h = hist(5); printf(\"%d\\n\", 1); }",
    ]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        out.contains("BEGIN: program p0_begin (raw_tracepoint,"),
        "{out}"
    );
    assert!(out.contains("call 130"), "{out}");
    assert_eq!(out.matches("verifier: ").count(), 2, "{out}");
    assert_eq!(out.matches(": accepted: ").count(), 2, "{out}");
    assert!(
        out.contains("map @h: hist(), key 16 bytes, value 8 bytes, per-CPU"),
        "{out}"
    );
}

/// A shell that opens /etc/hostname `n` times once a line arrives on its stdin.
fn opener(n: usize) -> std::process::Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "read x; i=0; while [ $i -lt {n} ]; do : < /etc/hostname; i=$((i+1)); done"
        ))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `script` with the opener's pid as $1, lets it open `n` times once the
/// probes are attached (an interval probe prints `ready`), stops with SIGINT,
/// and returns the output.
fn trace_opens(script: &str, n: usize) -> String {
    trace_gated(script, opener(n))
}

/// Runs `script` with `child`'s pid as $1; `child` waits for a line on its
/// stdin, which it gets once the probes are attached.
fn trace_gated(script: &str, mut sh: std::process::Child) -> String {
    let pid = sh.id().to_string();
    let script =
        format!("{script} interval:ms:20 /@ready == 0/ {{ @ready = 1; printf(\"ready\\n\"); }}");
    let mut tracer = oxbpf_command()
        .args(["trace", "-e", &script, &pid])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(tracer.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert_ne!(
            out.read_line(&mut line).unwrap(),
            0,
            "tracer ended early: {seen}"
        );
        seen.push_str(&line);
        if line == "ready\n" {
            break;
        }
    }
    sh.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(sh.wait().unwrap().success());
    // Let the last events reach the ring buffer's reader.
    std::thread::sleep(std::time::Duration::from_millis(200));
    Command::new("kill")
        .args(["-INT", &tracer.id().to_string()])
        .status()
        .unwrap();
    out.read_to_string(&mut seen).unwrap();
    assert!(tracer.wait().unwrap().success(), "{seen}");
    seen
}

#[test]
fn counts_exactly_the_opens_of_one_process() {
    if !can_trace("counts_exactly_the_opens_of_one_process") {
        return;
    }
    for n in [1, 7] {
        let out = trace_opens(
            "tracepoint:syscalls:sys_enter_openat /pid == $1/ { @ = count(); }",
            n,
        );
        assert_eq!(
            out,
            format!("Attaching 2 probes...\nready\n\n\n@: {n}\n@ready: 1\n")
        );
    }
}

#[test]
fn printf_events_arrive_in_order() {
    if !can_trace("printf_events_arrive_in_order") {
        return;
    }
    let out = trace_opens(
        r#"tracepoint:syscalls:sys_enter_openat /pid == $1/ { @i++; printf("%d %s\n", @i, str(args->filename)); }"#,
        3,
    );
    assert_eq!(
        out,
        "Attaching 2 probes...\nready\n1 /etc/hostname\n2 /etc/hostname\n3 /etc/hostname\n\n\n@i: 3\n@ready: 1\n"
    );
}

#[test]
fn interval_and_exit() {
    if !can_trace("interval_and_exit") {
        return;
    }
    let o = oxbpf(&[
        "trace",
        "-e",
        r#"interval:ms:20 { @c++; if (@c == 3) { printf("done %d\n", @c); exit(); } } END { printf("end\n"); }"#,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "Attaching 2 probes...\ndone 3\nend\n\n\n@c: 3\n"
    );
}

#[test]
fn command_runs_after_attach_and_ends_the_trace() {
    if !can_trace("command_runs_after_attach_and_ends_the_trace") {
        return;
    }
    let o = oxbpf(&[
        "trace",
        "-q",
        "-c",
        "/bin/true",
        "-e",
        r#"tracepoint:sched:sched_process_exec /comm == "true"/ { @[comm, str(args->filename)] = count(); }"#,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "\n\n@[true, /bin/true]: 1\n");
}

#[test]
fn begin_output_matches_bpftrace() {
    if !can_trace("begin_output_matches_bpftrace") {
        return;
    }
    let script = r#"BEGIN { printf("%-6s|%5d|%x\n", "ab", -3, 255); @a[1, "x"] = sum(5); @a[2, "y"] = sum(2); @h = hist(1000); @h = hist(3); @l = lhist(17, 0, 50, 10); @s = stats(7); @m = max(2); @n = min(-2); exit(); }"#;
    let Ok(theirs) = Command::new("bpftrace").args(["-e", script]).output() else {
        println!("skipped begin_output_matches_bpftrace: bpftrace is not installed");
        return;
    };
    let ours = oxbpf(&["trace", "-e", script]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    assert_eq!(text(&ours.stdout), text(&theirs.stdout));
}

#[test]
fn uprobe_and_uretprobe_on_libc() {
    if !can_trace("uprobe_and_uretprobe_on_libc") {
        return;
    }
    let libc = "/lib/x86_64-linux-gnu/libc.so.6";
    let python = Command::new("python3").arg("-c").arg("1").status();
    if !std::path::Path::new(libc).exists() || !python.is_ok_and(|s| s.success()) {
        println!("skipped uprobe_and_uretprobe_on_libc: needs {libc} and python3");
        return;
    }
    let child = Command::new("python3")
        .args([
            "-c",
            "import os, sys; sys.stdin.readline(); os.getpid(); os.getpid()",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let script = format!(
        "uprobe:{libc}:getpid /pid == $1/ {{ @calls = count(); }} uretprobe:{libc}:getpid /pid == $1/ {{ @ret = max(retval); @rets = count(); }}"
    );
    let out = trace_gated(&script, child);
    let value = |name: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("@{name}: ")))
            .unwrap_or_else(|| panic!("no @{name} in {out}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("ret"), pid as u64, "{out}");
    assert!(value("calls") >= 2, "{out}");
    assert_eq!(value("calls"), value("rets"), "{out}");
}

#[test]
fn cpid_is_the_command() {
    if !can_trace("cpid_is_the_command") {
        return;
    }
    let o = oxbpf(&[
        "trace",
        "-q",
        "-c",
        "sh -c ': < /etc/hostname; : < /etc/hostname; : < /etc/passwd'",
        "-e",
        r#"tracepoint:syscalls:sys_enter_openat /pid == cpid/ { @[str(args->filename)] = count(); }"#,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    // The shell's own start-up opens (libraries) are counted too.
    assert!(out.contains("\n@[/etc/hostname]: 2\n"), "{out}");
    assert!(out.contains("\n@[/etc/passwd]: 1\n"), "{out}");
}

#[test]
fn pid_ends_the_trace_with_its_process() {
    if !can_trace("pid_ends_the_trace_with_its_process") {
        return;
    }
    let mut sleeper = Command::new("sleep").arg("0.5").spawn().unwrap();
    let pid = sleeper.id().to_string();
    let start = std::time::Instant::now();
    let o = oxbpf(&[
        "trace",
        "-q",
        "-p",
        &pid,
        "-e",
        "interval:ms:10 { @ticks = count(); }",
    ]);
    sleeper.wait().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert!(
        text(&o.stdout).starts_with("\n\n@ticks: "),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn script_files_take_parameters_and_flags_after_them() {
    let dir = std::env::temp_dir().join(format!("oxbpf-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("params.bt");
    std::fs::write(
        &file,
        "#!/usr/bin/env bpftrace\n// $1 is a number, $2 a word\nBEGIN { printf(\"%d %s\\n\", $1 * 3, $2); exit(); }\n",
    )
    .unwrap();
    let file = file.to_string_lossy().into_owned();
    let o = oxbpf(&["trace", &file, "-14", "word", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("r0 = -14"), "{out}");
    if can_trace("script_files_take_parameters_and_flags_after_them") {
        let o = oxbpf(&["trace", &file, "-14", "word", "-q"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_eq!(text(&o.stdout), "-42 word\n\n\n");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
