//! Capture files: pcap and pcapng in (through the `pcap-file` crate's
//! zero-copy parsers), pcap out.
//!
//! ```
//! use oxbpf_cbpf::pcap::{Capture, PcapOut, LINKTYPE_ETHERNET};
//! use std::time::Duration;
//!
//! let mut out = PcapOut::new(Vec::new(), LINKTYPE_ETHERNET, 65535).unwrap();
//! out.write(Duration::new(1, 5000), &[0xff; 14], 60).unwrap();
//! let capture = Capture::from_bytes(out.finish().unwrap());
//! let packets: Vec<_> = capture.packets().unwrap().collect::<Result<_, _>>().unwrap();
//! assert_eq!(packets[0].data, &[0xff; 14]);
//! assert_eq!((packets[0].wirelen, packets[0].linktype), (60, LINKTYPE_ETHERNET));
//! assert_eq!(packets[0].timestamp, Duration::new(1, 5000)); // microsecond file
//! ```

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapParser, PcapWriter, RawPcapPacket};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, Endianness, TsResolution};

use crate::error::CbpfError;

/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_RAW` (raw IPv4 or IPv6).
pub const LINKTYPE_RAW: u32 = 101;
/// `LINKTYPE_LINUX_SLL` (Linux cooked capture).
pub const LINKTYPE_LINUX_SLL: u32 = 113;

/// One captured packet, borrowed from its [`Capture`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Time of capture since the Unix epoch.
    pub timestamp: Duration,
    /// The captured bytes (`caplen` of them).
    pub data: &'a [u8],
    /// The packet's length on the wire.
    pub wirelen: u32,
    /// The link type (`LINKTYPE_*`) of the interface it came from.
    pub linktype: u32,
}

/// A capture file's bytes, read whole.
#[derive(Clone, Debug)]
pub struct Capture {
    bytes: Vec<u8>,
}

impl Capture {
    /// Reads the file at `path`.
    pub fn open(path: &Path) -> std::io::Result<Capture> {
        Ok(Capture {
            bytes: std::fs::read(path)?,
        })
    }

    /// Wraps bytes already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Capture {
        Capture { bytes }
    }

    /// The packets, in file order. Fails at once when the file header is bad;
    /// each later record that is bad ends the iteration with an error.
    pub fn packets(&self) -> Result<Packets<'_>, CbpfError> {
        Packets::new(&self.bytes)
    }
}

enum Format {
    Pcap {
        parser: PcapParser,
        nanos: bool,
        linktype: u32,
    },
    PcapNg {
        parser: PcapNgParser,
        /// Per interface: (link type, timestamp units per second).
        interfaces: Vec<(u32, u128)>,
    },
}

/// An iterator over the packets of a pcap or pcapng file.
pub struct Packets<'a> {
    format: Format,
    all: &'a [u8],
    rest: &'a [u8],
    index: u64,
    failed: bool,
    first_linktype: Option<u32>,
}

fn read_error(packet: u64, offset: usize, message: impl std::fmt::Display) -> CbpfError {
    CbpfError::PcapRead {
        packet,
        offset: offset as u64,
        message: message.to_string(),
    }
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

impl<'a> Packets<'a> {
    /// Starts reading `bytes`, a whole pcap or pcapng file.
    pub fn new(bytes: &'a [u8]) -> Result<Packets<'a>, CbpfError> {
        let (format, rest) = if bytes.starts_with(&PCAPNG_MAGIC) {
            let (rest, parser) =
                PcapNgParser::new(bytes).map_err(|e| read_error(0, 0, format!("pcapng: {e}")))?;
            (
                Format::PcapNg {
                    parser,
                    interfaces: Vec::new(),
                },
                rest,
            )
        } else {
            let (rest, parser) =
                PcapParser::new(bytes).map_err(|e| read_error(0, 0, format!("pcap: {e}")))?;
            let h = parser.header();
            (
                Format::Pcap {
                    nanos: h.ts_resolution == TsResolution::NanoSecond,
                    linktype: u32::from(h.datalink),
                    parser,
                },
                rest,
            )
        };
        let mut packets = Packets {
            format,
            all: bytes,
            rest,
            index: 0,
            failed: false,
            first_linktype: None,
        };
        packets.first_linktype = match &packets.format {
            Format::Pcap { linktype, .. } => Some(*linktype),
            Format::PcapNg { .. } => first_interface_linktype(bytes),
        };
        Ok(packets)
    }

    /// The link type of the file (pcap) or of its first interface (pcapng),
    /// if it has one.
    pub fn linktype(&self) -> Option<u32> {
        self.first_linktype
    }

    fn offset(&self) -> usize {
        self.all.len() - self.rest.len()
    }

    fn next_pcapng(&mut self) -> Option<Result<Packet<'a>, CbpfError>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let at = self.offset();
            let Format::PcapNg { parser, interfaces } = &mut self.format else {
                return None;
            };
            let (rest, block) = match parser.next_block(self.rest) {
                Ok(v) => v,
                Err(e) => return Some(Err(read_error(self.index, at, format!("pcapng: {e}")))),
            };
            self.rest = rest;
            let (iface, raw_ts, data, wirelen) = match block {
                Block::SectionHeader(_) => {
                    interfaces.clear();
                    continue;
                }
                Block::InterfaceDescription(idb) => {
                    let mut units: u128 = 1_000_000;
                    for o in &idb.options {
                        if let InterfaceDescriptionOption::IfTsResol(r) = o {
                            units = ts_units(*r);
                        }
                    }
                    interfaces.push((u32::from(idb.linktype), units));
                    continue;
                }
                Block::EnhancedPacket(p) => (
                    p.interface_id as usize,
                    p.timestamp.as_nanos(),
                    p.data,
                    p.original_len,
                ),
                Block::Packet(p) => (
                    p.interface_id as usize,
                    p.timestamp as u128,
                    p.data,
                    p.original_len,
                ),
                Block::SimplePacket(p) => (0, 0, p.data, p.original_len),
                _ => continue,
            };
            let Some(&(linktype, units)) = interfaces.get(iface) else {
                return Some(Err(read_error(
                    self.index,
                    at,
                    format!("pcapng: packet names interface {iface}, which was not described"),
                )));
            };
            let Cow::Borrowed(data) = data else {
                return Some(Err(read_error(
                    self.index,
                    at,
                    "pcapng: packet data was copied",
                )));
            };
            let secs = raw_ts / units;
            let nanos = (raw_ts % units) * 1_000_000_000 / units;
            let timestamp = Duration::new(secs.min(u64::MAX as u128) as u64, nanos as u32);
            return Some(Ok(Packet {
                timestamp,
                data,
                wirelen,
                linktype,
            }));
        }
    }
}

/// Timestamp units per second for a pcapng `if_tsresol` value (saturating for
/// resolutions finer than u128 can count).
fn ts_units(r: u8) -> u128 {
    let exp = (r & 0x7f) as u32;
    if r & 0x80 == 0 {
        10u128.checked_pow(exp).unwrap_or(u128::MAX)
    } else {
        1u128.checked_shl(exp).unwrap_or(u128::MAX)
    }
    .max(1)
}

/// The link type of a pcapng file's first interface description.
fn first_interface_linktype(bytes: &[u8]) -> Option<u32> {
    let (mut rest, mut parser) = PcapNgParser::new(bytes).ok()?;
    while !rest.is_empty() {
        let (r, block) = parser.next_block(rest).ok()?;
        rest = r;
        if let Block::InterfaceDescription(idb) = block {
            return Some(u32::from(idb.linktype));
        }
    }
    None
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<Packet<'a>, CbpfError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = match &self.format {
            Format::Pcap {
                parser,
                nanos,
                linktype,
            } => {
                if self.rest.is_empty() {
                    return None;
                }
                let at = self.offset();
                match parser.next_raw_packet(self.rest) {
                    Ok((rest, raw)) => {
                        self.rest = rest;
                        match raw.data {
                            Cow::Borrowed(data) => {
                                let frac = if *nanos {
                                    raw.ts_frac as u64
                                } else {
                                    raw.ts_frac as u64 * 1000
                                };
                                let timestamp = Duration::from_secs(raw.ts_sec as u64)
                                    + Duration::from_nanos(frac);
                                Ok(Packet {
                                    timestamp,
                                    data,
                                    wirelen: raw.orig_len,
                                    linktype: *linktype,
                                })
                            }
                            Cow::Owned(_) => {
                                Err(read_error(self.index, at, "pcap: data was copied"))
                            }
                        }
                    }
                    Err(e) => Err(read_error(self.index, at, format!("pcap: {e}"))),
                }
            }
            Format::PcapNg { .. } => self.next_pcapng()?,
        };
        if item.is_err() {
            self.failed = true;
        } else {
            self.index += 1;
        }
        Some(item)
    }
}

/// A pcap file being written (little-endian, microsecond or nanosecond stamps).
pub struct PcapOut<W: Write> {
    writer: PcapWriter<W>,
    nanos: bool,
    written: u64,
}

impl<W: Write> PcapOut<W> {
    /// Writes the file header: link type `linktype`, snapshot length `snaplen`,
    /// microsecond timestamps.
    pub fn new(w: W, linktype: u32, snaplen: u32) -> Result<PcapOut<W>, CbpfError> {
        Self::with_resolution(w, linktype, snaplen, false)
    }

    /// Like [`PcapOut::new`], with nanosecond timestamps when `nanos`.
    pub fn with_resolution(
        w: W,
        linktype: u32,
        snaplen: u32,
        nanos: bool,
    ) -> Result<PcapOut<W>, CbpfError> {
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen,
            datalink: DataLink::from(linktype),
            ts_resolution: if nanos {
                TsResolution::NanoSecond
            } else {
                TsResolution::MicroSecond
            },
            endianness: Endianness::Little,
        };
        let writer = PcapWriter::with_header(w, header).map_err(|e| CbpfError::PcapWrite {
            packet: 0,
            message: format!("file header: {e}"),
        })?;
        Ok(PcapOut {
            writer,
            nanos,
            written: 0,
        })
    }

    /// Appends one packet record.
    pub fn write(
        &mut self,
        timestamp: Duration,
        data: &[u8],
        wirelen: u32,
    ) -> Result<(), CbpfError> {
        let err = |packet, message: String| CbpfError::PcapWrite { packet, message };
        let incl_len = u32::try_from(data.len())
            .map_err(|_| err(self.written, "packet longer than 4 GiB".to_string()))?;
        let ts_sec = u32::try_from(timestamp.as_secs())
            .map_err(|_| err(self.written, "timestamp past 2106".to_string()))?;
        let sub = timestamp.subsec_nanos();
        let raw = RawPcapPacket {
            ts_sec,
            ts_frac: if self.nanos { sub } else { sub / 1000 },
            incl_len,
            orig_len: wirelen.max(incl_len),
            data: Cow::Borrowed(data),
        };
        self.writer
            .write_raw_packet(&raw)
            .map_err(|e| err(self.written, e.to_string()))?;
        self.written += 1;
        Ok(())
    }

    /// Number of packets written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(self) -> Result<W, CbpfError> {
        let written = self.written;
        let mut w = self.writer.into_writer();
        w.flush().map_err(|e| CbpfError::PcapWrite {
            packet: written,
            message: e.to_string(),
        })?;
        Ok(w)
    }
}
