//! The adversarial corpus (`tests/adversarial/`): programs modelled on the
//! Linux verifier's soundness bugs, each of which oxbpf's verifier must
//! reject, or else run safely in every engine (each run in a child process
//! of this test binary). One test per class; run them with
//! `cargo test -p oxbpf --test adversarial -- --nocapture` to see every
//! verdict (and the kernel's, as root).

#[path = "adversarial/mod.rs"]
mod corpus;

/// The child-process entry: runs one case in one engine when the
/// environment names them, and does nothing otherwise.
#[test]
fn child() {
    corpus::child_main();
}

#[test]
fn bounds() {
    corpus::check("bounds", corpus::bounds::cases());
}

#[test]
fn pointers() {
    corpus::check("pointers", corpus::pointers::cases());
}

#[test]
fn memory() {
    corpus::check("memory", corpus::memory::cases());
}

#[test]
fn pruning() {
    corpus::check("pruning", corpus::pruning::cases());
}

#[test]
fn refs() {
    corpus::check("refs", corpus::refs::cases());
}

#[test]
fn packet() {
    corpus::check("packet", corpus::packet::cases());
}

#[test]
fn calls() {
    corpus::check("calls", corpus::calls::cases());
}

#[test]
fn engines() {
    corpus::check("engines", corpus::engines::cases());
}

/// Map flags and tail calls: writes to read-only maps through helpers, and
/// tail calls into programs of another type (the two holes of issue 14).
#[test]
fn maps() {
    corpus::check("maps", corpus::maps::cases());
}

/// The corpus has at least 60 cases, each with a unique name.
#[test]
fn corpus_size() {
    let all = corpus::all();
    let names: std::collections::BTreeSet<_> = all.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), all.len(), "case names are unique");
    assert!(all.len() >= 60, "{} cases", all.len());
}
