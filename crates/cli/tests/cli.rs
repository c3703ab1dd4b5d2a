//! End-to-end behaviour of the `oxbpf` commands.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

fn oxbpf(args: &[&str], stdin: &str) -> Output {
    let mut child = common::oxbpf_command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const SUM: &str = "r0 = 0\nr1 = 10\nloop:\nr0 += r1\nr1 -= 1\nif r1 != 0 goto loop\nexit\n";

#[test]
fn asm_then_disasm_round_trips() {
    let hex = oxbpf(&["asm"], SUM);
    assert!(hex.status.success(), "{}", stderr(&hex));
    assert_eq!(stdout(&hex).lines().count(), 6);
    let listing = oxbpf(&["disasm"], &stdout(&hex));
    assert!(
        stdout(&listing).contains("if r1 != 0 goto -3"),
        "{}",
        stdout(&listing)
    );
    let kernel = oxbpf(&["disasm", "--syntax", "kernel"], &stdout(&hex));
    assert!(
        stdout(&kernel).contains("4: (55) if r1 != 0x0 goto pc-3"),
        "{}",
        stdout(&kernel)
    );
    // The llvm listing, bytes and all, assembles back to the same bytecode.
    let again = oxbpf(&["asm"], &stdout(&listing));
    assert_eq!(stdout(&again), stdout(&hex));
}

#[test]
fn run_prints_r0_and_traces() {
    let dir = std::env::temp_dir().join(format!("oxbpf-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prog = dir.join("sum.s");
    std::fs::write(&prog, SUM).unwrap();
    let p = prog.to_str().unwrap();
    let run = oxbpf(&["run", p], "");
    assert_eq!(stdout(&run), "r0 = 0x37 (55)\n");
    let traced = oxbpf(&["run", p, "--trace"], "");
    let text = stdout(&traced);
    assert!(text.contains("    2: r0 += r1"), "{text}");
    assert!(text.contains("r0 = 0xa"), "{text}");
    assert_eq!(text.lines().count(), 2 + 10 * 3 + 1 + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_reads_memory_and_reports_bad_access_in_one_line() {
    let dir = std::env::temp_dir().join(format!("oxbpf-cli-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prog = dir.join("load.s");
    std::fs::write(&prog, "r0 = *(u16 *)(r1 + 1)\nexit\n").unwrap();
    let p = prog.to_str().unwrap();
    let ok = oxbpf(&["run", p, "--mem-hex", "01 02 03"], "");
    assert_eq!(stdout(&ok), "r0 = 0x302 (770)\n");
    let bad = oxbpf(&["run", p, "--mem-hex", "01 02"], "");
    assert!(!bad.status.success());
    let err = stderr(&bad);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("instruction 0: 2-byte read"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn asm_errors_name_line_and_column() {
    let o = oxbpf(&["asm"], "r0 = 1\n  r0 += foo\nexit\n");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 2, column 9"), "{}", stderr(&o));
    let o = oxbpf(&["disasm"], "ff 00 00 00 00 00 00 00\n");
    assert!(
        stderr(&o).contains("instruction 0: unknown opcode 0xff"),
        "{}",
        stderr(&o)
    );
}

fn fixture(path: &str) -> String {
    format!("{}/../../fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn object_show_lists_programs_maps_and_globals() {
    let o = oxbpf(&["object", "show", &fixture("elf/globals.o")], "");
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("xdp_first"), "{text}");
    assert!(text.contains("calls account, scale"), "{text}");
    assert!(text.contains("threshold"), "{text}");
    assert!(text.contains("= \"hello\""), "{text}");
    assert!(text.contains("R_BPF_64_32"), "{text}");

    let o = oxbpf(&["object", "show", "--json", &fixture("elf/maps.o")], "");
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    let outer = doc["maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "outer_array")
        .unwrap();
    assert_eq!(outer["type"], "array_of_maps");
    assert_eq!(outer["initial_slots"][1]["name"], "inner_b");
    assert_eq!(doc["programs"][1]["name"], "use_maps");
    assert!(doc["btf_types"].as_array().unwrap().len() > 10);
}

#[test]
fn object_show_applies_core_against_a_target_btf() {
    let o = oxbpf(
        &[
            "object",
            "show",
            &fixture("elf/core.o"),
            "--btf",
            &fixture("elf/core_target.btf"),
        ],
        "",
    );
    let text = stdout(&o);
    assert!(
        text.contains("byte_off       struct ox_task 0:3  24 -> 32"),
        "{text}"
    );
    assert!(
        text.contains("enumval_value  enum ox_state 1  1 -> 4"),
        "{text}"
    );
}

#[test]
fn disasm_of_an_object_interleaves_source_lines() {
    let o = oxbpf(
        &[
            "disasm",
            &fixture("elf/globals.o"),
            "--prog",
            "xdp_second",
            "--source",
        ],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("; bpf_loop(8, visit, &sum, 0);  [globals.c:"),
        "{text}"
    );
    assert!(text.contains("code_addr("), "{text}");
    assert!(text.contains("# .rodata"), "{text}");
    assert!(text.contains("visit:"), "{text}");
    let k = oxbpf(
        &[
            "disasm",
            &fixture("elf/globals.o"),
            "--prog",
            "xdp_first",
            "--syntax",
            "kernel",
        ],
        "",
    );
    assert!(stdout(&k).contains("(85) call pc+"), "{}", stdout(&k));
    let missing = oxbpf(&["disasm", &fixture("elf/globals.o"), "--prog", "nope"], "");
    assert!(
        stderr(&missing).contains("no program named `nope`"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn run_executes_a_program_from_an_object() {
    let o = oxbpf(
        &[
            "run",
            &fixture("bench/primes.o"),
            "--mem-hex",
            "64 00 00 00 00 00 00 00",
        ],
        "",
    );
    assert_eq!(
        stdout(&o),
        "r0 = 0x19 (25)\ndata_out: 6400000000000000\n",
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_an_object_with_maps_prints_them() {
    let o = oxbpf(
        &[
            "run",
            &fixture("elf/counter.o"),
            "--prog",
            "count",
            "--mem-hex",
            "61 62 61",
            "--repeat",
            "2",
        ],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("r0 = 0x0 (0)\n"), "{text}");
    assert!(text.contains("  97 => 4\n  98 => 2\n"), "{text}");
    assert!(text.contains("map events (ringbuf): 2 records"), "{text}");
    assert!(text.contains(".bss: runs = 2"), "{text}");
    assert_eq!(
        stderr(&o),
        "counted 3 bytes, 2 new\ncounted 3 bytes, 0 new\n"
    );
    let j = oxbpf(
        &[
            "run",
            &fixture("elf/counter.o"),
            "--prog",
            "count",
            "--mem-hex",
            "07",
            "--json",
        ],
        "",
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&j)).unwrap();
    assert_eq!(doc["return_value"], 1);
    assert_eq!(doc["maps"]["byte_counts"][0]["key"], "7");
    assert_eq!(doc["data_out"], "07");
}

#[test]
fn kernel_run_agrees_with_run() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        println!("skipped kernel_run_agrees_with_run: needs root (CAP_BPF)");
        return;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped kernel_run_agrees_with_run: {why}");
        return;
    }
    let args = |cmd: &[&'static str]| {
        let mut v: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        v.extend([fixture("elf/packet.o"), "--prog".into(), "xdp_parse".into()]);
        v.extend(["--data-in".into(), fixture("elf/packets/tcp.bin")]);
        v
    };
    let run = |v: Vec<String>| {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        oxbpf(&refs, "")
    };
    let user = run(args(&["run"]));
    let kernel = run(args(&["kernel", "run"]));
    assert!(kernel.status.success(), "{}", stderr(&kernel));
    assert_eq!(stdout(&user), stdout(&kernel));
    assert!(
        stdout(&kernel).contains("  1 => 1\n"),
        "{}",
        stdout(&kernel)
    );
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// The subcommands a `--help` text lists under "Commands:".
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

#[test]
fn every_help_text_is_true() {
    // Phrases that promise what is missing, or describe what changed since:
    // each was once true of some help text here.
    let stale = [
        "next release",
        "not yet",
        "coming soon",
        "todo",
        "unimplemented",
        "assembler, disassembler and interpreter",
    ];
    let mut queue: Vec<Vec<String>> = vec![vec![]];
    let mut seen = 0;
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let o = oxbpf(&args, "");
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let help = stdout(&o);
        seen += 1;
        let lower = help.to_lowercase();
        for phrase in stale {
            assert!(
                !lower.contains(phrase),
                "`oxbpf {args:?}` says {phrase:?}:\n{help}"
            );
        }
        for sub in subcommands(&help) {
            let mut next = path.clone();
            next.push(sub);
            queue.push(next);
        }
    }
    // The top level, its commands, and the kernel's and object's own.
    assert!(seen >= 15, "only {seen} help texts found");
    // The top line names what the tool is now.
    let top = stdout(&oxbpf(&["--help"], ""));
    for part in ["verifier", "JIT", "bpf(2)"] {
        assert!(top.contains(part), "{top}");
    }
    // `run` runs objects with their maps, in the interpreter or the JIT.
    let run = stdout(&oxbpf(&["run", "--help"], ""));
    assert!(run.contains("--jit") && run.contains("maps"), "{run}");
}
