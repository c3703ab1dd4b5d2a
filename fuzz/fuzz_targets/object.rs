//! Loading arbitrary bytes as an ELF object, or as raw BTF, never panics; what
//! loads can be disassembled, dumped and CO-RE-relocated against itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_object::{Btf, Object};

fuzz_target!(|data: &[u8]| {
    if let Ok(btf) = Btf::parse(data) {
        let _ = btf.dump_raw();
        let _ = btf.validate();
    }
    let Ok(mut obj) = Object::parse(data) else { return };
    for p in &obj.programs {
        let _ = p.instructions();
    }
    if let Some(btf) = obj.btf.clone() {
        let _ = obj.apply_core(&btf);
    }
});
