//! The corpus against the Linux kernel's verifier, loaded through bpf(2):
//! prints the agreement rate, and fails on any disagreement the corpus does
//! not explain (each explanation is the `kernel_differs` note of its case).

mod corpus;

use corpus::kernel::{create_maps, kernel_verdict};
use corpus::{Expect, KernelNote};
use oxbpf_kernel::sys::privileged;

#[test]
fn corpus_agrees_with_the_kernel_verifier() {
    if !privileged() {
        println!("skipped corpus_agrees_with_the_kernel_verifier: needs root (CAP_BPF) to load programs into the kernel");
        return;
    }
    let maps = match create_maps() {
        Ok(m) => m,
        Err(e) => {
            println!("skipped corpus_agrees_with_the_kernel_verifier: the kernel refused the corpus maps: {e}");
            return;
        }
    };
    let (mut compared, mut agree, mut explained) = (0, 0, 0);
    let mut unexplained = Vec::new();
    let mut stale = Vec::new();
    for case in corpus::all() {
        if let KernelNote::Skip(_) = case.kernel {
            continue;
        }
        compared += 1;
        let kernel = kernel_verdict(&case, &maps);
        let ours = case.expect == Expect::Accept;
        if kernel.is_ok() == ours {
            agree += 1;
            if let KernelNote::Differs(why) = case.kernel {
                stale.push(format!(
                    "{}: agrees, but is noted as differing ({why})",
                    case.name
                ));
            }
        } else if let KernelNote::Differs(why) = case.kernel {
            explained += 1;
            println!("explained: {}: {why}", case.name);
        } else {
            unexplained.push(format!(
                "{}: oxbpf {}, kernel {}",
                case.name,
                if ours { "accepts" } else { "rejects" },
                match &kernel {
                    Ok(()) => "accepts".to_string(),
                    Err(log) => format!("rejects ({log})"),
                }
            ));
        }
    }
    println!(
        "kernel agreement: {agree} of {compared} corpus programs ({:.1}%); {explained} disagreements explained, {} unexplained",
        100.0 * agree as f64 / compared.max(1) as f64,
        unexplained.len()
    );
    for s in &stale {
        println!("note: {s}");
    }
    assert!(
        unexplained.is_empty(),
        "{} unexplained disagreements:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}
