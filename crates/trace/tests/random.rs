//! Random well-formed scripts: each one compiles (or fails with a script
//! error, never a verifier rejection) and its BEGIN program runs in oxbpf's
//! runtime without a fault. The generator is a fixed-seed xorshift, so a
//! failure names a script that reproduces it.

mod common;

use common::gen::{script, Rng};
use oxbpf_trace::{compile, Options, TraceError};

#[test]
fn random_scripts_verify_and_run() {
    // OXBPF_TRACE_RANDOM=N runs N scripts (300 by default), OXBPF_TRACE_SEED another seed.
    let n: usize = std::env::var("OXBPF_TRACE_RANDOM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("OXBPF_TRACE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let mut r = Rng {
        state: seed.max(1),
        tp: false,
        det: false,
    };
    let fs = common::sched_tracefs();
    let (mut compiled, mut refused) = (0, 0);
    for _ in 0..n {
        r.tp = r.below(3) == 0;
        let src = script(&mut r);
        let opts = Options {
            params: vec!["5".into()],
            cpid: None,
        };
        match compile(&src, &opts, &fs) {
            Ok(c) => {
                compiled += 1;
                // A fault in the runtime (an access outside the program's memory) panics here.
                let prog = c.probes[0].program.clone();
                let tp = r.tp;
                let out = common::run_with(&c, |b, _, _| {
                    if tp {
                        let mut ctx = [0x41u8; 64];
                        b.fire(&prog, &mut ctx);
                    }
                });
                assert!(out.contains("\n\n"), "{src}\n{out}");
            }
            Err(e @ TraceError::Rejected { .. }) => {
                panic!("{}\n{src}", e.render(&src, "random.bt"))
            }
            Err(TraceError::StackOverflow { .. } | TraceError::VerifierLimit { .. }) => {
                refused += 1
            }
            Err(e) => panic!(
                "a generated script is invalid: {}\n{src}",
                e.render(&src, "random.bt")
            ),
        }
    }
    assert!(
        compiled > n * 5 / 6,
        "only {compiled} of {n} compiled ({refused} too big)"
    );
}
