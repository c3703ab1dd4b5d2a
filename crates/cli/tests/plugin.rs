//! Drives `oxbpf conformance-plugin` the way the bpf_conformance runner does.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

fn tsv() -> Option<String> {
    let shared = std::env::var_os("OXBPF_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    std::fs::read_to_string(shared.join("bpf-conformance/conformance.tsv")).ok()
}

/// The runner's encoding: each byte as two hex digits followed by two spaces.
fn runner_hex(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|p| format!("{}  ", std::str::from_utf8(p).unwrap()))
        .collect()
}

#[test]
fn plugin_passes_every_conformance_row() {
    drive_plugin(&[]);
}

#[test]
fn plugin_passes_every_conformance_row_in_the_jit() {
    drive_plugin(&["--jit"]);
}

/// Runs every row through the plugin with `options` after the memory argument.
fn drive_plugin(options: &[&str]) {
    let Some(tsv) = tsv() else {
        println!("skipped: ../shared/bpf-conformance is absent");
        return;
    };
    let mut rows = 0;
    let mut failures = Vec::new();
    for row in tsv
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let c: Vec<&str> = row.split('\t').collect();
        let (name, mem, prog, want) = (c[0], c[1], c[2], c[3]);
        let mut cmd = common::oxbpf_command();
        cmd.arg("conformance-plugin");
        if mem != "-" {
            cmd.arg(runner_hex(mem));
        }
        cmd.args(options);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", runner_hex(prog)).unwrap();
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let got = u64::from_str_radix(stdout.trim(), 16).ok();
        let want = u64::from_str_radix(want, 16).ok();
        if !output.status.success() || got != want {
            failures.push(format!(
                "{name}: status {}, stdout {:?}, stderr {:?}",
                output.status,
                stdout.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        rows += 1;
    }
    println!(
        "conformance plugin {options:?}: {}/{rows} rows passed",
        rows - failures.len()
    );
    assert!(rows >= 313);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
