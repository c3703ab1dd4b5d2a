//! pcap and pcapng reading, pcap writing.

use std::borrow::Cow;
use std::time::Duration;

use oxbpf_cbpf::pcap::{
    Capture, Packets, PcapOut, PcapStream, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW,
};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;
use pcap_file::pcapng::{Block, PcapNgWriter};
use pcap_file::DataLink;
use proptest::prelude::*;

fn sample() -> Vec<(Duration, Vec<u8>, u32)> {
    (0..50u32)
        .map(|i| {
            let data: Vec<u8> = (0..(i * 7 % 90) as u8).map(|b| b ^ i as u8).collect();
            let wire = data.len() as u32 + i % 3 * 100;
            (
                Duration::new(1_700_000_000 + i as u64, i * 1000 + 7000),
                data,
                wire,
            )
        })
        .collect()
}

#[test]
fn pcap_round_trip() {
    for nanos in [false, true] {
        let mut out = PcapOut::with_resolution(Vec::new(), LINKTYPE_RAW, 262144, nanos).unwrap();
        for (ts, data, wire) in sample() {
            out.write(ts, &data, wire).unwrap();
        }
        assert_eq!(out.written(), 50);
        let bytes = out.finish().unwrap();
        let capture = Capture::from_bytes(bytes);
        let packets = capture.packets().unwrap();
        assert_eq!(packets.linktype(), Some(LINKTYPE_RAW));
        let got: Vec<_> = packets.map(|p| p.unwrap()).collect();
        assert_eq!(got.len(), 50);
        for (p, (ts, data, wire)) in got.iter().zip(sample()) {
            assert_eq!(p.timestamp, ts);
            assert_eq!(p.data, &data[..]);
            assert_eq!(p.wirelen, wire);
            assert_eq!(p.linktype, LINKTYPE_RAW);
        }
    }
}

#[test]
fn tcpdump_reads_what_we_write() {
    // Under qemu-user a missing program still "spawns" (and exits 127).
    if !std::process::Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!("skipped: tcpdump is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("oxbpf-cbpf-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.pcap");
    let mut out = PcapOut::new(Vec::new(), LINKTYPE_ETHERNET, 65535).unwrap();
    let mut frame = vec![0xffu8; 6];
    frame.extend([0, 1, 2, 3, 4, 5, 0x88, 0xb5]); // local experimental ethertype
    frame.extend([0u8; 46]);
    for i in 0..3 {
        out.write(Duration::new(i, 0), &frame, 60).unwrap();
    }
    std::fs::write(&path, out.finish().unwrap()).unwrap();
    let run = std::process::Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summaries = stdout
        .lines()
        .filter(|l| l.contains("ethertype Unknown (0x88b5), length 60"))
        .count();
    assert_eq!(summaries, 3, "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn pcapng(tsresol: Option<u8>) -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let mut eth = InterfaceDescriptionBlock::new(DataLink::ETHERNET, 65535);
    if let Some(r) = tsresol {
        eth.options.push(InterfaceDescriptionOption::IfTsResol(r));
    }
    w.write_block(&Block::InterfaceDescription(eth)).unwrap();
    let sll = InterfaceDescriptionBlock::new(DataLink::LINUX_SLL, 65535);
    w.write_block(&Block::InterfaceDescription(sll)).unwrap();
    // Raw timestamp 1_500_000_123 units.
    for (iface, data) in [(0u32, &[1u8, 2, 3][..]), (1, &[4, 5][..])] {
        let epb = EnhancedPacketBlock {
            interface_id: iface,
            timestamp: Duration::from_nanos(1_500_000_123),
            original_len: 99,
            data: Cow::Borrowed(data),
            options: vec![],
        };
        w.write_block(&Block::EnhancedPacket(epb)).unwrap();
    }
    let spb = SimplePacketBlock {
        original_len: 4,
        data: Cow::Borrowed(&[9, 9, 9, 9]),
    };
    w.write_block(&Block::SimplePacket(spb)).unwrap();
    w.into_inner()
}

#[test]
fn pcapng_interfaces_and_timestamps() {
    for (resol, want) in [
        (None, Duration::new(1500, 123_000)), // default: microseconds
        (Some(9), Duration::new(1, 500_000_123)), // nanoseconds
        (Some(3), Duration::new(1_500_000, 123_000_000)), // milliseconds
        (Some(0x80 | 10), Duration::new(1_464_843, 870_117_187)), // 2^-10 s
    ] {
        let bytes = pcapng(resol);
        let packets = Packets::new(&bytes).unwrap();
        assert_eq!(packets.linktype(), Some(LINKTYPE_ETHERNET));
        let got: Vec<_> = packets.map(|p| p.unwrap()).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(
            (got[0].data, got[0].wirelen, got[0].linktype),
            (&[1u8, 2, 3][..], 99, LINKTYPE_ETHERNET)
        );
        assert_eq!(got[0].timestamp, want, "{resol:?}");
        assert_eq!(
            (got[1].data, got[1].linktype),
            (&[4u8, 5][..], LINKTYPE_LINUX_SLL)
        );
        assert_eq!((got[2].data, got[2].wirelen), (&[9u8, 9, 9, 9][..], 4));
    }
}

#[test]
fn errors_name_packet_and_offset() {
    let mut out = PcapOut::new(Vec::new(), LINKTYPE_ETHERNET, 65535).unwrap();
    for (ts, data, wire) in sample().into_iter().take(3) {
        out.write(ts, &data, wire).unwrap();
    }
    let bytes = out.finish().unwrap();
    // 24-byte file header, then records of 16 + caplen bytes: 0, 7, 14.
    let third = 24 + 16 + 16 + 7;
    let cut = &bytes[..bytes.len() - 1];
    let results: Vec<_> = Packets::new(cut).unwrap().collect();
    assert_eq!(results.len(), 3);
    let err = results[2].as_ref().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "packet 2 (byte offset {third}): the file ends inside this record"
        )),
        "{err}"
    );

    let err = Packets::new(b"not a capture file")
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "packet 0 (byte offset 0): not a pcap or pcapng file (it starts with 6e 6f 74 20)"
    );
    let err = Packets::new(&[]).err().unwrap().to_string();
    assert!(err.starts_with("packet 0 (byte offset 0)"), "{err}");

    // A pcapng packet on an interface that was never described.
    let mut bytes = pcapng(None);
    let idb_len = 20; // an IDB without options
    let shb_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    bytes.drain(shb_len..shb_len + 2 * idb_len);
    let results: Vec<_> = Packets::new(&bytes).unwrap().collect();
    let err = results[0].as_ref().unwrap_err().to_string();
    assert_eq!(
        err,
        format!("packet 0 (byte offset {shb_len}): pcapng: packet names interface 0, which was not described")
    );
    assert_eq!(results.len(), 1, "iteration stops after an error");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary damage to a valid file gives packets or errors, never a panic.
    #[test]
    fn damaged_files_do_not_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>(), ng in any::<bool>()) {
        let mut bytes = if ng { pcapng(Some(6)) } else {
            let mut out = PcapOut::new(Vec::new(), LINKTYPE_ETHERNET, 65535).unwrap();
            for (ts, data, wire) in sample().into_iter().take(5) {
                out.write(ts, &data, wire).unwrap();
            }
            out.finish().unwrap()
        };
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        bytes.truncate(cut.index(bytes.len() + 1));
        if Packets::new(&bytes).is_ok() {
            // Streamed in small reads, the same packets and the same error.
            prop_assert_eq!(stream_all(&bytes, 3), slice_all(&bytes));
        } else {
            let stream = PcapStream::new(Dribble { data: &bytes, chunk: 3 });
            prop_assert!(stream.is_err());
        }
    }
}

/// A reader that hands out at most `chunk` bytes per call.
struct Dribble<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl std::io::Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The packets read, and the error that stopped the reading.
type ReadAll = (Vec<(Duration, Vec<u8>, u32, u32)>, Option<String>);

fn stream_all(bytes: &[u8], chunk: usize) -> ReadAll {
    let mut s = PcapStream::new(Dribble { data: bytes, chunk }).unwrap();
    let mut got = Vec::new();
    while let Some(p) = s.next_packet() {
        match p {
            Ok(p) => got.push((p.timestamp, p.data.to_vec(), p.wirelen, p.linktype)),
            Err(e) => return (got, Some(e.to_string())),
        }
    }
    (got, None)
}

fn slice_all(bytes: &[u8]) -> ReadAll {
    let mut got = Vec::new();
    for p in Packets::new(bytes).unwrap() {
        match p {
            Ok(p) => got.push((p.timestamp, p.data.to_vec(), p.wirelen, p.linktype)),
            Err(e) => return (got, Some(e.to_string())),
        }
    }
    (got, None)
}

#[test]
fn stream_reads_what_the_slice_reader_reads() {
    // Many small packets, one larger than the stream's first buffer, then more.
    let mut out = PcapOut::new(Vec::new(), LINKTYPE_ETHERNET, 4 << 20).unwrap();
    for (i, (ts, data, wire)) in sample().into_iter().enumerate() {
        out.write(ts, &data, wire).unwrap();
        if i == 20 {
            let big: Vec<u8> = (0..3_000_000u32).map(|b| b as u8).collect();
            out.write(ts, &big, big.len() as u32).unwrap();
        }
    }
    let bytes = out.finish().unwrap();
    let want = slice_all(&bytes);
    assert_eq!(want.0.len(), 51);
    assert!(want.1.is_none());
    for chunk in [1, 7, 4096, 1 << 20, usize::MAX] {
        assert_eq!(stream_all(&bytes, chunk), want, "chunk {chunk}");
    }
    // Cut short: the same packets, then the same error at the same offset.
    let cut = &bytes[..bytes.len() - 3];
    let want = slice_all(cut);
    assert!(
        want.1
            .as_deref()
            .unwrap()
            .starts_with("packet 50 (byte offset"),
        "{want:?}"
    );
    assert_eq!(stream_all(cut, 1000), want);
    // pcapng, with its first interface's link type known up front.
    let ng = pcapng(Some(9));
    let s = PcapStream::new(Dribble {
        data: &ng,
        chunk: 5,
    })
    .unwrap();
    assert_eq!(s.linktype(), Some(LINKTYPE_ETHERNET));
    assert_eq!(stream_all(&ng, 5), slice_all(&ng));
}
