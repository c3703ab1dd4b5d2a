//! Verifies the programs of an object and prints each verdict:
//! `cargo run -p oxbpf-verifier --example verify_object -- FILE.o [PROGRAM] [--log] [--max N]`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: verify_object FILE.o [PROGRAM] [--log]");
        std::process::exit(2);
    };
    let log = args.iter().any(|a| a == "--log");
    let only = args
        .get(1)
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str);
    let data = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    let obj = oxbpf_object::Object::parse(&data).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    let opts = oxbpf_verifier::Options {
        log,
        max_insns: args
            .iter()
            .position(|a| a == "--max")
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(1_000_000),
        ..Default::default()
    };
    match oxbpf_verifier::verify_object(&obj, only, &opts) {
        Ok(reports) => {
            for r in reports {
                if let Some(l) = &r.log {
                    print!("{l}");
                }
                print!("{}", r.text());
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
