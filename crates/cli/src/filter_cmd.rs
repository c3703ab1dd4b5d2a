//! `oxbpf filter`: tcpdump's filters on capture files, run on oxbpf's VM.

use std::collections::HashMap;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{ArgAction, Args, ValueEnum};
use oxbpf_cbpf::pcap::{PcapOut, PcapStream, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW};
#[cfg(target_arch = "x86_64")]
use oxbpf_cbpf::to_ebpf::JitFilter;
use oxbpf_cbpf::to_ebpf::{to_ebpf, EbpfFilter};
use oxbpf_cbpf::{interp, listing, summary, Insn};
use oxbpf_filter::LinkType;

use crate::error::CliError;

/// Link types a filter can be compiled for.
#[derive(Clone, Copy, ValueEnum)]
pub enum LinkArg {
    /// Ethernet (`EN10MB`).
    Ethernet,
    /// Raw IPv4/IPv6.
    Raw,
    /// Linux cooked capture (`LINUX_SLL`).
    Sll,
}

/// Arguments of `oxbpf filter`.
#[derive(Args)]
pub struct FilterArgs {
    /// The filter expression (pcap-filter syntax); several words are joined
    /// with spaces, as tcpdump does. Empty: every packet matches.
    #[arg(allow_hyphen_values = false)]
    expr: Vec<String>,
    /// Read packets from this pcap or pcapng file (`-`: standard input).
    #[arg(short = 'r', value_name = "FILE")]
    read: Option<PathBuf>,
    /// Capture live on this interface (root): an AF_PACKET socket with the
    /// compiled filter attached in the kernel (SO_ATTACH_FILTER).
    #[arg(short = 'i', value_name = "IFACE", conflicts_with_all = ["read", "program"])]
    iface: Option<String>,
    /// Write matching packets to this pcap file instead of printing them
    /// (`-`: standard output).
    #[arg(short = 'w', value_name = "FILE")]
    write: Option<PathBuf>,
    /// Stop after this many matching packets.
    #[arg(short = 'c', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max: Option<u64>,
    /// Print the compiled program and exit: -d as tcpdump's listing, -dd as
    /// a C array, -ddd as decimal numbers.
    #[arg(short = 'd', action = ArgAction::Count)]
    dump: u8,
    /// Print only the number of matching packets.
    #[arg(long)]
    count: bool,
    /// Print the program's eBPF translation (llvm syntax) and exit.
    #[arg(long)]
    ebpf: bool,
    /// Run the classic interpreter instead of the eBPF translation.
    #[arg(long, conflicts_with_all = ["jit", "vm"])]
    cbpf_interp: bool,
    /// Compile the eBPF translation with oxbpf's x86-64 JIT (the default on x86-64).
    #[arg(long, conflicts_with = "vm")]
    jit: bool,
    /// Run the eBPF translation on oxbpf's interpreter (the default elsewhere).
    #[arg(long)]
    vm: bool,
    /// Use a classic program from a file (tcpdump's -ddd or -dd output)
    /// instead of compiling an expression.
    #[arg(long, value_name = "FILE", conflicts_with = "expr")]
    program: Option<PathBuf>,
    /// The link type to compile for when no file gives one (for -d alone).
    #[arg(short = 'y', long, value_enum)]
    linktype: Option<LinkArg>,
    /// Snapshot length: what accepting filters return (0: 262144, as tcpdump).
    #[arg(short = 's', default_value_t = 262144, value_parser = parse_snaplen)]
    snaplen: u32,
    /// Accepted for tcpdump compatibility; addresses are never resolved.
    #[arg(short = 'n', hide = true)]
    numeric: bool,
}

/// A filter ready to run: the classic program and, unless the classic
/// interpreter was asked for, its translation loaded into the VM.
enum Runner {
    /// The classic interpreter.
    Classic(Vec<Insn>),
    /// The eBPF translation on the VM.
    Vm(EbpfFilter),
    /// The eBPF translation compiled by the JIT.
    #[cfg(target_arch = "x86_64")]
    Jit(JitFilter),
}

impl Runner {
    #[inline]
    fn run(&mut self, data: &[u8], wirelen: u32) -> u32 {
        match self {
            Runner::Classic(prog) => interp::run(prog, data, wirelen),
            Runner::Vm(vm) => vm.run(data, wirelen),
            #[cfg(target_arch = "x86_64")]
            Runner::Jit(jit) => jit.run(data, wirelen),
        }
    }
}

fn input_error(msg: impl std::fmt::Display) -> CliError {
    CliError::Input(msg.to_string())
}

fn link_for(dlt: u32) -> Option<LinkType> {
    LinkType::from_dlt(dlt)
}

fn dlt_of(l: LinkArg) -> u32 {
    match l {
        LinkArg::Ethernet => LINKTYPE_ETHERNET,
        LinkArg::Raw => LINKTYPE_RAW,
        LinkArg::Sll => LINKTYPE_LINUX_SLL,
    }
}

impl FilterArgs {
    fn expression(&self) -> String {
        self.expr.join(" ")
    }

    /// The classic program for packets of link type `dlt`.
    fn program_for(&self, dlt: u32) -> Result<Vec<Insn>, CliError> {
        if let Some(path) = &self.program {
            return read_program(path);
        }
        let link = link_for(dlt).ok_or_else(|| {
            input_error(format!(
                "link type {dlt} is not one the filter compiler knows (Ethernet 1, raw IP 101, Linux SLL 113)"
            ))
        })?;
        let expr = self.expression();
        oxbpf_filter::compile(&expr, link, self.snaplen)
            .map_err(|e| input_error(format!("filter `{expr}`: {e}")))
    }

    fn runner_for(&self, dlt: u32) -> Result<Runner, CliError> {
        let prog = self.program_for(dlt)?;
        let bad = |e: oxbpf_cbpf::CbpfError| input_error(format!("program: {e}"));
        if self.cbpf_interp {
            oxbpf_cbpf::check(&prog).map_err(bad)?;
            return Ok(Runner::Classic(prog));
        }
        #[cfg(target_arch = "x86_64")]
        if !self.vm {
            return Ok(Runner::Jit(JitFilter::new(&prog).map_err(bad)?));
        }
        #[cfg(not(target_arch = "x86_64"))]
        if self.jit {
            return Err(input_error("--jit: the JIT compiles for x86-64 only"));
        }
        Ok(Runner::Vm(EbpfFilter::new(&prog).map_err(bad)?))
    }
}

/// Reads a `-ddd` (or `-dd`) listing.
fn read_program(path: &Path) -> Result<Vec<Insn>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed = if text.trim_start().starts_with('{') {
        listing::parse_dd(&text)
    } else {
        listing::parse_ddd(&text)
    };
    parsed.map_err(|e| input_error(format!("{}: {e}", path.display())))
}

/// Writes to stdout, ending quietly when the reader has gone (`| head`).
fn write_out(w: &mut impl Write, text: &[u8]) -> Result<(), CliError> {
    match w.write_all(text) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => r.map_err(|source| CliError::Io {
            path: "<stdout>".into(),
            source,
        }),
    }
}

/// Runs `oxbpf filter`.
pub fn run(args: FilterArgs) -> Result<(), CliError> {
    let read_name = args
        .read
        .as_ref()
        .map_or(String::new(), |p| p.display().to_string());
    let mut packets = match &args.read {
        Some(path) => {
            let file: Box<dyn Read> = if path.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::fs::File::open(path).map_err(|source| CliError::Io {
                    path: path.clone(),
                    source,
                })?)
            };
            Some(PcapStream::new(file).map_err(|e| input_error(format!("{read_name}: {e}")))?)
        }
        None => None,
    };
    let file_dlt = match &args.iface {
        Some(iface) => Some(iface_linktype(iface)?),
        None => packets.as_ref().and_then(|p| p.linktype()),
    };
    let dlt = args
        .linktype
        .map(dlt_of)
        .or(file_dlt)
        .unwrap_or(LINKTYPE_ETHERNET);

    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    if args.dump > 0 || args.ebpf {
        let prog = args.program_for(dlt)?;
        let mut text = match args.dump {
            0 => String::new(),
            1 => listing::dump_d(&prog),
            2 => listing::dump_dd(&prog),
            _ => listing::dump_ddd(&prog),
        };
        if args.ebpf {
            let ebpf = to_ebpf(&prog).map_err(|e| input_error(format!("program: {e}")))?;
            let bytes = oxbpf_isa::encode_program(&ebpf);
            let listing =
                oxbpf_isa::disassemble(&bytes, oxbpf_isa::Syntax::Llvm).map_err(|source| {
                    CliError::Isa {
                        context: "eBPF translation".into(),
                        source,
                    }
                })?;
            text.push_str(&listing);
        }
        write_out(&mut out, text.as_bytes())?;
        return out.flush().map_err(|source| CliError::Io {
            path: "<stdout>".into(),
            source,
        });
    }
    if let Some(iface) = &args.iface {
        return live(&args, iface, &mut out);
    }
    let Some(packets) = packets.as_mut() else {
        return Err(input_error(
            "give a capture file with -r FILE (or -d to list the program)",
        ));
    };

    let mut writer = match &args.write {
        Some(path) => Some(
            PcapOut::with_resolution(
                BufWriter::with_capacity(1 << 20, create(path)?),
                dlt,
                args.snaplen,
                packets.nanosecond(),
            )
            .map_err(|e| input_error(format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };

    // One program per link type (pcapng interfaces may differ); `runner` is
    // the current one, the others wait in `runners`.
    let mut runner = args.runner_for(dlt)?;
    let mut runners: HashMap<u32, Runner> = HashMap::new();
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_report = started;
    let mut seen: u64 = 0;
    let mut matched: u64 = 0;
    let mut reported = false;
    let print = !args.count && writer.is_none();
    let mut current = dlt;
    while let Some(packet) = packets.next_packet() {
        let p = packet.map_err(|e| input_error(format!("{read_name}: {e}")))?;
        seen += 1;
        if p.linktype != current {
            let next = match runners.remove(&p.linktype) {
                Some(r) => r,
                None => args.runner_for(p.linktype)?,
            };
            runners.insert(current, std::mem::replace(&mut runner, next));
            current = p.linktype;
        }
        if runner.run(p.data, p.wirelen) != 0 {
            matched += 1;
            if let Some(w) = &mut writer {
                if p.linktype != dlt {
                    return Err(input_error(format!(
                        "{read_name}: packet {seen} has link type {}, but the pcap being written has {dlt}",
                        p.linktype
                    )));
                }
                w.write(p.timestamp, p.data, p.wirelen)
                    .map_err(|e| input_error(e.to_string()))?;
            } else if print {
                let mut line = summary::summarize(&p);
                line.push('\n');
                write_out(&mut out, line.as_bytes())?;
            }
            if args.max.is_some_and(|m| matched >= m) {
                break;
            }
        }
        if seen % 1_000_000 == 0
            || (tty && seen % 65536 == 0 && last_report.elapsed() > Duration::from_millis(500))
        {
            last_report = Instant::now();
            reported = true;
            eprintln!(
                "oxbpf: {seen} packets read, {matched} matched ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    if args.count {
        write_out(&mut out, format!("{matched}\n").as_bytes())?;
    }
    // Writing a file, or after progress lines, the last line gives the exact totals.
    if writer.is_some() || reported {
        eprintln!(
            "oxbpf: {seen} packets read, {matched} matched ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    if let Some(w) = writer {
        w.finish().map_err(|e| input_error(e.to_string()))?;
    }
    out.flush().map_err(|source| CliError::Io {
        path: "<stdout>".into(),
        source,
    })
}

/// The link type of a live interface, from its `ARPHRD_*` type in sysfs.
fn iface_linktype(iface: &str) -> Result<u32, CliError> {
    let path = PathBuf::from("/sys/class/net").join(iface).join("type");
    let text = std::fs::read_to_string(&path).map_err(|source| CliError::Io {
        path: path.clone(),
        source,
    })?;
    match text.trim() {
        // Ethernet, and loopback (which carries Ethernet headers).
        "1" | "772" => Ok(LINKTYPE_ETHERNET),
        // No link header (tun, WireGuard): raw IP.
        "65534" => Ok(LINKTYPE_RAW),
        t => Err(input_error(format!(
            "{iface}: hardware type {t} is not Ethernet, loopback or raw IP"
        ))),
    }
}

/// `-i IFACE`: packets the kernel's copy of the filter accepted.
fn live(args: &FilterArgs, iface: &str, out: &mut impl Write) -> Result<(), CliError> {
    let dlt = match args.linktype {
        Some(l) => dlt_of(l),
        None => iface_linktype(iface)?,
    };
    let prog = args.program_for(dlt)?;
    oxbpf_cbpf::check(&prog).map_err(|e| input_error(format!("program: {e}")))?;
    let filter: Vec<(u16, u8, u8, u32)> = prog.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
    let sock =
        oxbpf_kernel::packet_socket::PacketSocket::open(iface, &filter).map_err(|source| {
            CliError::Io {
                path: PathBuf::from(iface),
                source,
            }
        })?;
    let loopback = sock.arphrd() == 772;
    let mut writer = match &args.write {
        Some(path) => Some(
            PcapOut::with_resolution(create(path)?, dlt, args.snaplen, false)
                .map_err(|e| input_error(format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };
    let mut buf = vec![0u8; args.snaplen.clamp(64, 1 << 20) as usize];
    let mut matched = 0u64;
    while args.max.is_none_or(|m| matched < m) {
        let r = sock.recv(&mut buf).map_err(|source| CliError::Io {
            path: PathBuf::from(iface),
            source,
        })?;
        // As libpcap: on loopback every packet is seen leaving and arriving.
        if loopback && r.pkttype == oxbpf_kernel::packet_socket::PACKET_OUTGOING {
            continue;
        }
        matched += 1;
        let data = &buf[..r.caplen];
        if let Some(w) = &mut writer {
            w.write(r.timestamp, data, r.wirelen)
                .map_err(|e| input_error(e.to_string()))?;
        } else if !args.count {
            let p = oxbpf_cbpf::pcap::Packet {
                timestamp: r.timestamp,
                data,
                wirelen: r.wirelen,
                linktype: dlt,
            };
            let mut line = summary::summarize(&p);
            line.push('\n');
            write_out(out, line.as_bytes())?;
            out.flush().map_err(|source| CliError::Io {
                path: "<stdout>".into(),
                source,
            })?;
        }
    }
    if args.count {
        write_out(out, format!("{matched}\n").as_bytes())?;
    }
    if let Some(w) = writer {
        let mut f = w.finish().map_err(|e| input_error(e.to_string()))?;
        f.flush().map_err(|source| CliError::Io {
            path: "<pcap>".into(),
            source,
        })?;
    }
    out.flush().map_err(|source| CliError::Io {
        path: "<stdout>".into(),
        source,
    })
}

/// tcpdump's `-s`: 0 means the default, 262144.
fn parse_snaplen(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(0) => Ok(262144),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The output file for `-w` (`-`: standard output).
fn create(path: &Path) -> Result<Box<dyn Write>, CliError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdout()));
    }
    let file = std::fs::File::create(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Box::new(file))
}
