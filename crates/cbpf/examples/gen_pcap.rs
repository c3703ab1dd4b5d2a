//! Writes synthetic Ethernet traffic to a pcap file:
//! `cargo run --release -p oxbpf-cbpf --example gen_pcap -- OUT.pcap [COUNT] [SEED]`.

use std::io::BufWriter;

use oxbpf_cbpf::pcap::{PcapOut, LINKTYPE_ETHERNET};
use oxbpf_cbpf::synth::Traffic;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        return Err("usage: gen_pcap OUT.pcap [COUNT] [SEED]".into());
    };
    let count: u64 = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    let seed: u64 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let file = BufWriter::new(std::fs::File::create(path)?);
    let mut out = PcapOut::new(file, LINKTYPE_ETHERNET, 262144)?;
    for (ts, data, wire) in Traffic::new(seed).take(count as usize) {
        out.write(ts, &data, wire)?;
    }
    out.finish()?;
    Ok(())
}
