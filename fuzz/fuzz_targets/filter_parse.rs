//! Arbitrary text as a filter expression, for each link type: compiling
//! never panics, and every program it produces passes the kernel's checker
//! (when it is within the kernel's length limit; longer ones are fine for
//! userland filtering, as with libpcap) and runs on the rest of the input as
//! a packet without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_cbpf::{check, interp};
use oxbpf_filter::{compile, compile_unoptimized, LinkType};

fuzz_target!(|data: &[u8]| {
    // First line: the expression; the rest: a packet.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(expr) = std::str::from_utf8(&data[..split]) else { return };
    let packet = data.get(split + 1..).unwrap_or(&[]);
    for link in [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll] {
        for prog in [compile(expr, link, 262144), compile_unoptimized(expr, link, 262144)]
            .into_iter()
            .flatten()
        {
            if prog.len() <= oxbpf_cbpf::check::MAX_INSNS {
                check(&prog).expect("compiled programs pass the checker");
            }
            let _ = interp::run(&prog, packet, packet.len() as u32);
        }
    }
});
