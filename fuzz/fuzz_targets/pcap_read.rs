//! Reading arbitrary bytes as a pcap or pcapng file never panics, and neither
//! does printing a summary line for whatever packets come out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_cbpf::pcap::Packets;
use oxbpf_cbpf::summary::summarize;

fuzz_target!(|data: &[u8]| {
    let Ok(packets) = Packets::new(data) else { return };
    for p in packets.take(10_000) {
        let Ok(p) = p else { break };
        let line = summarize(&p);
        assert!(!line.contains('\n'));
    }
});
