//! Arbitrary bytes as a classic program and a packet: the interpreter and the
//! checker never panic, and a program the checker accepts gives the same
//! result through the eBPF translation on the VM. The `-ddd` reader and the
//! listings never panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_cbpf::to_ebpf::EbpfFilter;
use oxbpf_cbpf::{check, interp, listing, Insn};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(prog) = listing::parse_ddd(text) {
            let _ = listing::dump_d(&prog);
        }
        let _ = listing::parse_dd(text);
    }
    let Some((&n, rest)) = data.split_first() else { return };
    let n = (n as usize).min(rest.len() / 8);
    let (code, packet) = rest.split_at(n * 8);
    let prog: Vec<Insn> = code
        .chunks_exact(8)
        .map(|c| Insn::from_bytes(c.try_into().unwrap()))
        .collect();
    let wirelen = packet.len() as u32 + 10;
    let got = interp::run(&prog, packet, wirelen);
    let _ = listing::dump_d(&prog);
    if check(&prog).is_ok() {
        let mut vm = EbpfFilter::new(&prog).expect("checked programs translate");
        assert_eq!(vm.run(packet, wirelen), got);
    }
});
