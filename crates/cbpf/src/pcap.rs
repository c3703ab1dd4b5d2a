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
use std::io::{Read, Write};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapParser, PcapWriter, RawPcapPacket};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

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

/// One parsed record: how many bytes it took and, for packets, where the
/// data lies in the parsed slice and what the headers said.
struct Record {
    consumed: usize,
    packet: Option<(Range<usize>, Duration, u32, u32)>,
}

/// Why a record could not be parsed.
enum Fail {
    /// The slice ends inside the record.
    Incomplete,
    /// The record is malformed.
    Bad(String),
}

fn fail(prefix: &str, e: PcapError) -> Fail {
    match e {
        PcapError::IncompleteBuffer => Fail::Incomplete,
        e => Fail::Bad(format!("{prefix}: {e}")),
    }
}

/// Where `inner`, a subslice of `outer`, lies in it.
fn range_in(outer: &[u8], inner: &[u8]) -> Result<Range<usize>, Fail> {
    let start = (inner.as_ptr() as usize).wrapping_sub(outer.as_ptr() as usize);
    match start.checked_add(inner.len()) {
        Some(end) if end <= outer.len() => Ok(start..end),
        _ => Err(Fail::Bad(
            "packet data is not inside the record".to_string(),
        )),
    }
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

impl Format {
    /// Reads the file header at the start of `bytes`; returns its length.
    fn open(bytes: &[u8]) -> Result<(Format, usize), Fail> {
        if bytes.starts_with(&PCAPNG_MAGIC) {
            let (rest, parser) = PcapNgParser::new(bytes).map_err(|e| fail("pcapng", e))?;
            let format = Format::PcapNg {
                parser,
                interfaces: Vec::new(),
            };
            Ok((format, bytes.len() - rest.len()))
        } else {
            const MAGICS: [[u8; 4]; 4] = [
                [0xa1, 0xb2, 0xc3, 0xd4],
                [0xd4, 0xc3, 0xb2, 0xa1],
                [0xa1, 0xb2, 0x3c, 0x4d],
                [0x4d, 0x3c, 0xb2, 0xa1],
            ];
            if let Some(m) = bytes.get(..4) {
                if !MAGICS.iter().any(|magic| magic == m) {
                    return Err(Fail::Bad(format!(
                        "not a pcap or pcapng file (it starts with {:02x} {:02x} {:02x} {:02x})",
                        m[0], m[1], m[2], m[3]
                    )));
                }
            }
            let (rest, parser) = PcapParser::new(bytes).map_err(|e| fail("pcap", e))?;
            let h = parser.header();
            let format = Format::Pcap {
                nanos: h.ts_resolution == TsResolution::NanoSecond,
                linktype: u32::from(h.datalink),
                parser,
            };
            Ok((format, bytes.len() - rest.len()))
        }
    }

    /// Parses the record at the start of `slice`.
    fn parse(&mut self, slice: &[u8]) -> Result<Record, Fail> {
        match self {
            Format::Pcap {
                parser,
                nanos,
                linktype,
            } => {
                let (rest, raw) = parser.next_raw_packet(slice).map_err(|e| fail("pcap", e))?;
                let frac = if *nanos {
                    raw.ts_frac as u64
                } else {
                    raw.ts_frac as u64 * 1000
                };
                let timestamp = Duration::from_secs(raw.ts_sec as u64) + Duration::from_nanos(frac);
                Ok(Record {
                    consumed: slice.len() - rest.len(),
                    packet: Some((
                        range_in(slice, &raw.data)?,
                        timestamp,
                        raw.orig_len,
                        *linktype,
                    )),
                })
            }
            Format::PcapNg { parser, interfaces } => {
                let (rest, block) = parser.next_block(slice).map_err(|e| fail("pcapng", e))?;
                let consumed = slice.len() - rest.len();
                let (iface, raw_ts, data, wirelen) = match block {
                    Block::SectionHeader(_) => {
                        interfaces.clear();
                        return Ok(Record {
                            consumed,
                            packet: None,
                        });
                    }
                    Block::InterfaceDescription(idb) => {
                        let mut units: u128 = 1_000_000;
                        for o in &idb.options {
                            if let InterfaceDescriptionOption::IfTsResol(r) = o {
                                units = ts_units(*r);
                            }
                        }
                        interfaces.push((u32::from(idb.linktype), units));
                        return Ok(Record {
                            consumed,
                            packet: None,
                        });
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
                    _ => {
                        return Ok(Record {
                            consumed,
                            packet: None,
                        })
                    }
                };
                let Some(&(linktype, units)) = interfaces.get(iface) else {
                    return Err(Fail::Bad(format!(
                        "pcapng: packet names interface {iface}, which was not described"
                    )));
                };
                let secs = raw_ts / units;
                let nanos = (raw_ts % units) * 1_000_000_000 / units;
                let timestamp = Duration::new(secs.min(u64::MAX as u128) as u64, nanos as u32);
                Ok(Record {
                    consumed,
                    packet: Some((range_in(slice, &data)?, timestamp, wirelen, linktype)),
                })
            }
        }
    }

    /// The file's link type (pcap), or the first interface's in `bytes` (pcapng).
    fn linktype(&self, bytes: &[u8]) -> Option<u32> {
        match self {
            Format::Pcap { linktype, .. } => Some(*linktype),
            Format::PcapNg { .. } => first_interface_linktype(bytes),
        }
    }
}

fn read_error(packet: u64, offset: usize, message: impl std::fmt::Display) -> CbpfError {
    CbpfError::PcapRead {
        packet,
        offset: offset as u64,
        message: message.to_string(),
    }
}

fn bad_start(f: Fail) -> CbpfError {
    match f {
        Fail::Incomplete => read_error(0, 0, "the file is shorter than its header"),
        Fail::Bad(m) => read_error(0, 0, m),
    }
}

/// An iterator over the packets of a pcap or pcapng file held in memory.
pub struct Packets<'a> {
    format: Format,
    all: &'a [u8],
    at: usize,
    index: u64,
    failed: bool,
    first_linktype: Option<u32>,
}

impl<'a> Packets<'a> {
    /// Starts reading `bytes`, a whole pcap or pcapng file.
    pub fn new(bytes: &'a [u8]) -> Result<Packets<'a>, CbpfError> {
        let (format, at) = Format::open(bytes).map_err(bad_start)?;
        let first_linktype = format.linktype(bytes);
        Ok(Packets {
            format,
            all: bytes,
            at,
            index: 0,
            failed: false,
            first_linktype,
        })
    }

    /// The link type of the file (pcap) or of its first interface (pcapng),
    /// if it has one.
    pub fn linktype(&self) -> Option<u32> {
        self.first_linktype
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<Packet<'a>, CbpfError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed && self.at < self.all.len() {
            let slice = &self.all[self.at..];
            match self.format.parse(slice) {
                Ok(Record { consumed, packet }) => {
                    self.at += consumed;
                    if let Some((range, timestamp, wirelen, linktype)) = packet {
                        self.index += 1;
                        return Some(Ok(Packet {
                            timestamp,
                            data: &slice[range],
                            wirelen,
                            linktype,
                        }));
                    }
                }
                Err(f) => {
                    self.failed = true;
                    let message = match f {
                        Fail::Incomplete => "the file ends inside this record".to_string(),
                        Fail::Bad(m) => m,
                    };
                    return Some(Err(read_error(self.index, self.at, message)));
                }
            }
        }
        None
    }
}

/// Packets read from a stream (a file, a pipe) through a reused buffer, so
/// that files of any size are read in constant memory. Not an [`Iterator`]:
/// each packet borrows the buffer until the next call.
pub struct PcapStream<R: Read> {
    reader: R,
    format: Format,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of the file dropped from the front of `buf`.
    dropped: u64,
    eof: bool,
    index: u64,
    failed: bool,
    first_linktype: Option<u32>,
}

const STREAM_CHUNK: usize = 1 << 20;

/// The longest record the stream buffers (libpcap's largest snapshot length
/// for any link type is 256 MiB).
const MAX_RECORD: usize = 256 << 20;

impl<R: Read> PcapStream<R> {
    /// Reads the file header from `reader`.
    pub fn new(mut reader: R) -> Result<PcapStream<R>, CbpfError> {
        let mut buf = vec![0; STREAM_CHUNK];
        let mut end = 0;
        let mut eof = false;
        while end < buf.len() && !eof {
            match reader.read(&mut buf[end..]) {
                Ok(0) => eof = true,
                Ok(n) => end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_error(0, end, e)),
            }
        }
        let (format, start) = Format::open(&buf[..end]).map_err(bad_start)?;
        let first_linktype = format.linktype(&buf[..end]);
        Ok(PcapStream {
            reader,
            format,
            buf,
            start,
            end,
            dropped: 0,
            eof,
            index: 0,
            failed: false,
            first_linktype,
        })
    }

    /// The link type of the file (pcap) or of its first interface within the
    /// first megabyte (pcapng), if it has one.
    pub fn linktype(&self) -> Option<u32> {
        self.first_linktype
    }

    /// Whether the file's timestamps are finer than microseconds (a
    /// nanosecond pcap, or any pcapng, whose resolution is per interface), so
    /// that a copy should be written with nanosecond stamps.
    pub fn nanosecond(&self) -> bool {
        match &self.format {
            Format::Pcap { nanos, .. } => *nanos,
            Format::PcapNg { .. } => true,
        }
    }

    /// Moves the unparsed bytes to the front and reads more; grows the buffer
    /// when one record does not fit.
    fn refill(&mut self) -> std::io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.dropped += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next packet, `None` at the end of the file, or the error that ends
    /// the reading (naming the packet and its byte offset).
    pub fn next_packet(&mut self) -> Option<Result<Packet<'_>, CbpfError>> {
        if self.failed {
            return None;
        }
        let found = loop {
            if self.start == self.end && self.eof {
                return None;
            }
            let offset = self.dropped as usize + self.start;
            match self.format.parse(&self.buf[self.start..self.end]) {
                Ok(Record { consumed, packet }) => {
                    let base = self.start;
                    self.start += consumed;
                    if let Some((range, ts, wirelen, linktype)) = packet {
                        break (base + range.start..base + range.end, ts, wirelen, linktype);
                    }
                }
                Err(Fail::Incomplete) if !self.eof => {
                    if self.end - self.start >= MAX_RECORD {
                        self.failed = true;
                        return Some(Err(read_error(
                            self.index,
                            offset,
                            format!("a record longer than {} MiB", MAX_RECORD >> 20),
                        )));
                    }
                    if let Err(e) = self.refill() {
                        self.failed = true;
                        return Some(Err(read_error(self.index, offset, e)));
                    }
                }
                Err(f) => {
                    self.failed = true;
                    let message = match f {
                        Fail::Incomplete => "the file ends inside this record".to_string(),
                        Fail::Bad(m) => m,
                    };
                    return Some(Err(read_error(self.index, offset, message)));
                }
            }
        };
        self.index += 1;
        let (range, timestamp, wirelen, linktype) = found;
        Some(Ok(Packet {
            timestamp,
            data: &self.buf[range],
            wirelen,
            linktype,
        }))
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
