//! Reading arbitrary bytes as a pcap or pcapng file never panics, whether from
//! memory or streamed through a small reader; both ways give the same packets
//! and the same error; printing a summary line for each packet never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_cbpf::pcap::{Packets, PcapStream};
use oxbpf_cbpf::summary::summarize;

/// Hands out at most 3 bytes per read, to cross record boundaries.
struct Dribble<'a>(&'a [u8]);

impl std::io::Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(3);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut from_memory = Vec::new();
    if let Ok(packets) = Packets::new(data) {
        for p in packets.take(10_000) {
            match p {
                Ok(p) => {
                    let line = summarize(&p);
                    assert!(!line.contains('\n'));
                    from_memory.push(Ok((p.timestamp, p.data.to_vec(), p.wirelen, p.linktype)));
                }
                Err(e) => {
                    from_memory.push(Err(e.to_string()));
                    break;
                }
            }
        }
    }
    let mut streamed = Vec::new();
    if let Ok(mut s) = PcapStream::new(Dribble(data)) {
        while let Some(p) = s.next_packet() {
            if streamed.len() == from_memory.len() && from_memory.len() >= 10_000 {
                break;
            }
            match p {
                Ok(p) => streamed.push(Ok((p.timestamp, p.data.to_vec(), p.wirelen, p.linktype))),
                Err(e) => {
                    streamed.push(Err(e.to_string()));
                    break;
                }
            }
        }
    }
    if from_memory.len() < 10_000 {
        assert_eq!(streamed, from_memory);
    }
});
