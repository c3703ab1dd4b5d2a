//! What the kernel backend reads from outside never panics: ELF binaries
//! searched for uprobe symbols and their DT_NEEDED lists, objects whose BTF
//! is sanitized and re-encoded for BPF_BTF_LOAD, and CPU lists.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use oxbpf_object::{Btf, Object};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz-input");
    let symbol = std::str::from_utf8(data.get(..8).unwrap_or(&[])).unwrap_or("main");
    let _ = oxbpf_kernel::symbols::resolve_in(path, data, symbol);
    let _ = oxbpf_kernel::symbols::needed_libraries(path, data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = oxbpf_kernel::maps::parse_cpu_list(text);
        let _ = oxbpf_kernel::sections::load_hints(text);
    }
    if let Ok(obj) = Object::parse(data) {
        if let Some(btf) = &obj.btf {
            let blob = oxbpf_kernel::btf::encode(&obj, btf);
            let _ = Btf::parse(&blob.bytes);
        }
    }
});
