//! Real llvm-objdump-19 listings of the clang-built fixtures assemble back to
//! exactly the bytecode llvm-objcopy extracted from the same objects.

use std::path::PathBuf;

#[test]
fn objdump_listings_reassemble_to_the_extracted_bytecode() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/bench");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "objdump") {
            let listing = std::fs::read_to_string(&path).unwrap();
            let want = std::fs::read(path.with_extension("bin")).unwrap();
            let got = oxbpf_isa::assemble_bytes(&listing)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(got, want, "{}", path.display());
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "found only {checked} listings in {}",
        dir.display()
    );
}
