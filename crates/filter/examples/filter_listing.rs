//! Prints the `-d` listing of a filter: `cargo run -p oxbpf-filter --example
//! filter_listing -- [eth|raw|sll] EXPR`.

use oxbpf_filter::{compile, LinkType};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (link, expr) = match args.first().map(String::as_str) {
        Some("raw") => (LinkType::RawIp, args[1..].join(" ")),
        Some("sll") => (LinkType::LinuxSll, args[1..].join(" ")),
        Some("eth") => (LinkType::Ethernet, args[1..].join(" ")),
        _ => (LinkType::Ethernet, args.join(" ")),
    };
    match compile(&expr, link, 262144) {
        Ok(p) => print!("{}", oxbpf_cbpf::listing::dump_d(&p)),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
