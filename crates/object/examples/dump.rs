//! Prints what the loader sees in an object: `cargo run -p oxbpf-object --example dump -- FILE.o`.

fn main() {
    let path = std::env::args().nth(1).expect("usage: dump FILE.o");
    let bytes = std::fs::read(&path).expect("readable file");
    match oxbpf_object::Object::parse(&bytes) {
        Ok(obj) => {
            println!("license {:?} version {:?}", obj.license, obj.kernel_version);
            for p in &obj.programs {
                println!(
                    "program {} section {} type {} attach {:?}: {} slots ({} own), subprograms {:?}, {} line infos, {} core relos",
                    p.name,
                    p.section,
                    p.prog_type.name(),
                    p.attach,
                    p.insns.len(),
                    p.main_len,
                    p.subprograms,
                    p.line_info.len(),
                    p.core_relos.len()
                );
            }
            for m in &obj.maps {
                println!("map {m:?}");
            }
            for g in &obj.globals {
                println!("global {g:?}");
            }
        }
        Err(e) => println!("error: {e}"),
    }
}
