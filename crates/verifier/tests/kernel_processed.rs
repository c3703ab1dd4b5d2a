//! Processed instructions, oxbpf against the Linux kernel's verifier, on
//! corpus programs whose pruning depends on precision tracking and on the
//! clang-built fixtures: both must accept each program, and the table of both
//! counts is printed (the kernel's is `verified_insns` of bpf_prog_info, the
//! "processed N insns" of its log).

mod corpus;

use std::path::Path;

use corpus::kernel::{create_maps, kernel_load};
use oxbpf_kernel::info::prog_info;
use oxbpf_kernel::sys::privileged;
use oxbpf_kernel::Kernel;
use oxbpf_object::Object;
use oxbpf_verifier::{verify, verify_object, Input, Options};

/// Corpus programs for the table.
const CASES: &[&str] = &[
    "diamond_chain_10",
    "diamond_chain_20",
    "diamond_chain_30",
    "dead_temp_diamonds_40",
    "prec_const_diamonds_20",
    "prec_const_diamonds_30",
    "prec_loop_imprecise_counter_copy",
    "prec_loop_imprecise_spill",
    "prec_loop_counter_copy_offset_in_bounds",
    "counted_loop_100",
    "nested_loops",
    "loop_over_stack",
    "array_loop_16",
];

/// Fixture programs for the table: (object under fixtures/, program).
const FIXTURES: &[(&str, &str)] = &[
    ("elf/flowcount.o", "count_flows"),
    ("elf/firewall.o", "firewall"),
    ("elf/packet.o", "xdp_parse"),
    ("elf/maps.o", "use_maps"),
];

#[test]
fn processed_instructions_against_the_kernel() {
    if !privileged() {
        println!("skipped processed_instructions_against_the_kernel: needs root (CAP_BPF) to load programs into the kernel");
        return;
    }
    let maps = match create_maps() {
        Ok(m) => m,
        Err(e) => {
            println!("skipped processed_instructions_against_the_kernel: the kernel refused the corpus maps: {e}");
            return;
        }
    };
    let mut rows = Vec::new();
    let all = corpus::all();
    for name in CASES {
        let case = all
            .iter()
            .find(|c| c.name == *name)
            .unwrap_or_else(|| panic!("no corpus case {name}"));
        let slots = corpus::slots(case);
        let cmaps = corpus::maps();
        let mut input = Input::new(&slots, case.ty);
        input.maps = &cmaps;
        let ours = verify(&input, &Options::default());
        assert!(ours.accepted(), "{name}: oxbpf rejects\n{}", ours.text());
        let fd = kernel_load(case, &maps)
            .unwrap_or_else(|log| panic!("{name}: the kernel rejects: {log}"));
        let kernel = prog_info(&fd).expect("prog info").verified_insns;
        rows.push((name.to_string(), ours.stats.insns_processed, kernel as u64));
    }
    // Every fixture program with a kernel program type that both accept.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "o"));
    files.sort();
    for path in files {
        let file = format!(
            "elf/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let obj = match Object::parse(&std::fs::read(&path).expect("fixture reads")) {
            Ok(o) => o,
            Err(e) => {
                println!("skipped {file}: {e}");
                continue;
            }
        };
        let k = match Kernel::load(&obj) {
            Ok(k) => k,
            Err(e) => {
                println!("skipped {file}: the kernel refused its maps: {e}");
                continue;
            }
        };
        for prog in &obj.programs {
            let ours = &verify_object(&obj, Some(&prog.name), &Options::default())
                .expect("program exists")[0];
            let kernel = k.program_fd(&prog.name);
            match (ours.accepted(), kernel) {
                (true, Ok(fd)) => {
                    let info = oxbpf_kernel::info::prog_info_with(k.sys().as_ref(), fd)
                        .expect("prog info");
                    rows.push((
                        format!("{file}:{}", prog.name),
                        ours.stats.insns_processed,
                        info.verified_insns as u64,
                    ));
                }
                (ok, kernel) => println!(
                    "not compared: {file}:{}: oxbpf {}, kernel {}",
                    prog.name,
                    if ok { "accepts" } else { "rejects" },
                    match kernel {
                        Ok(_) => "accepts".to_string(),
                        Err(e) => format!("rejects ({e})"),
                    }
                ),
            }
        }
    }
    for (file, prog) in FIXTURES {
        let name = format!("{file}:{prog}");
        assert!(
            rows.iter().any(|r| r.0 == name),
            "{name}: not accepted by both verifiers"
        );
    }
    println!("| program | oxbpf processed | kernel processed | oxbpf / kernel |");
    println!("|---|---:|---:|---:|");
    for (name, ours, kernel) in &rows {
        println!(
            "| {name} | {ours} | {kernel} | {:.2} |",
            *ours as f64 / (*kernel).max(1) as f64
        );
    }
}
