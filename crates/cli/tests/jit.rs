//! `oxbpf run --jit`, `oxbpf disasm --jit` and the plugin's `--jit`.

mod common;

fn oxbpf(args: &[&str]) -> (bool, String, String) {
    let out = common::oxbpf_command()
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_jit_gives_the_interpreters_results_and_errors() {
    let args = [
        "run",
        "examples/ip_checksum.s",
        "--mem",
        "examples/ipv4-header.hex",
    ];
    let (ok, interp, _) = oxbpf(&args);
    assert!(ok);
    let (ok, jit, _) = oxbpf(&[&args[..], &["--jit"]].concat());
    assert!(ok);
    assert_eq!(jit, interp);
    assert_eq!(jit, "r0 = 0x0 (0)\n");

    let (ok, out, _) = oxbpf(&[
        "run",
        "fixtures/bench/primes.bin",
        "--mem-hex",
        "e8 03 00 00 00 00 00 00",
        "--jit",
        "--stats",
    ]);
    assert!(ok);
    assert!(
        out.starts_with("r0 = 0xa8 (168)\ncompiled 33 instructions to "),
        "{out}"
    );

    let bad = [
        "run",
        "examples/ip_checksum.s",
        "--mem-hex",
        "45 00 00 73 00 00 40 00 40 11 b8 62 c0 a8 00 01 c0 a8 00 c7 01",
        "--jit",
    ];
    let (ok, out, err) = oxbpf(&bad);
    assert!(!ok, "{out}");
    assert!(
        err.starts_with("oxbpf: error: instruction 5: 2-byte read at ")
            && err.contains("(it starts at offset 20 of the input memory, which is 21 bytes long, and runs past its end)"),
        "{err}"
    );
}

#[test]
fn disasm_jit_lists_machine_code_under_each_instruction() {
    let x86 = [
        "disasm",
        "--jit",
        "--arch",
        "x86-64",
        "fixtures/bench/log2.bin",
    ];
    let (ok, out, err) = oxbpf(&x86);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("; entry trampoline and prologue\n"),
        "{out}"
    );
    assert!(out.contains("; 0: "), "{out}");
    assert!(out.contains("mov r12, rdi"), "{out}");
    // Checked mode: the input-memory test before a load through r1.
    assert!(out.contains("sub r10, [r12]"), "{out}");
    assert!(out.contains("; out of line"), "{out}");
    let (ok, unchecked, _) = oxbpf(&[&x86[..], &["--unchecked"]].concat());
    assert!(ok);
    assert!(!unchecked.contains("sub r10, [r12]"), "{unchecked}");
    assert!(unchecked.len() < out.len());
}

#[test]
fn disasm_jit_lists_arm64_code_on_any_host() {
    let arm = [
        "disasm",
        "--jit",
        "--arch",
        "aarch64",
        "fixtures/bench/log2.bin",
    ];
    let (ok, out, err) = oxbpf(&arm);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("; entry trampoline and prologue\n"),
        "{out}"
    );
    // The context pointer arrives in x0 and lives in x26.
    assert!(out.contains("aa0003fa  mov x26, x0"), "{out}");
    assert!(out.contains("; 0: "), "{out}");
    // Checked mode: the input-memory test before a load.
    assert!(out.contains("ldr x12, [x26]"), "{out}");
    assert!(out.contains("; out of line"), "{out}");
    assert!(!out.contains(".inst"), "every word decodes: {out}");
    let (ok, unchecked, _) = oxbpf(&[&arm[..], &["--unchecked"]].concat());
    assert!(ok);
    assert!(!unchecked.contains("ldr x12, [x26]\n"), "{unchecked}");
    assert!(unchecked.len() < out.len());
}

#[test]
fn run_jit_runs_objects_with_their_maps_as_the_interpreter_does() {
    let args = [
        "run",
        "fixtures/elf/packet.o",
        "--prog",
        "xdp_parse",
        "--data-in",
        "fixtures/elf/packets/dns.bin",
        "--repeat",
        "3",
    ];
    let (ok, interp, err) = oxbpf(&args);
    assert!(ok, "{err}");
    let (ok, jit, err) = oxbpf(&[&args[..], &["--jit"]].concat());
    assert!(ok, "{err}");
    assert_eq!(jit, interp);
    assert!(jit.starts_with("r0 = 0x1 (1)\n"), "{jit}");
    assert!(jit.contains("map classes (array)"), "{jit}");
}

#[test]
fn run_verified_runs_accepted_objects_unchecked_and_refuses_the_rest() {
    let args = [
        "run",
        "fixtures/elf/packet.o",
        "--prog",
        "xdp_parse",
        "--data-in",
        "fixtures/elf/packets/dns.bin",
    ];
    let (ok, interp, _) = oxbpf(&args);
    assert!(ok);
    for engine in [&["--jit", "--verified"][..], &["--verified"]] {
        let (ok, verified, err) = oxbpf(&[&args[..], engine].concat());
        assert!(ok, "{err}");
        assert_eq!(verified, interp);
        let (ok, _, err) = oxbpf(&[&["run", "fixtures/object/noopt.o"][..], engine].concat());
        assert!(!ok);
        assert!(err.contains("rejected at instruction"), "{err}");
        assert!(err.contains("hint:"), "{err}");
    }
    let (ok, _, err) = oxbpf(&["run", "examples/ip_checksum.s", "--jit", "--verified"]);
    assert!(!ok);
    assert!(err.contains("--verified needs an ELF object"), "{err}");
}
