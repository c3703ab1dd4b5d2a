//! Finding the fixture objects, shared by the loader's tests.

use std::path::{Path, PathBuf};

/// Objects that libbpf refuses too, with the error the loader must give.
pub const REJECTED: &[(&str, &str)] =
    &[("object/nodebug.o", "BTF-defined maps need a .BTF section")];

/// Whether `p` is one of [`REJECTED`].
pub fn rejected(p: &Path) -> Option<&'static str> {
    REJECTED
        .iter()
        .find(|(name, _)| p.ends_with(name))
        .map(|(_, why)| *why)
}

/// Every `.o` under `fixtures/`, sorted.
pub fn objects() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "o") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
