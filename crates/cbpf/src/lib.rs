//! Classic BPF: the instruction model, tcpdump's listings, the kernel's
//! checker, an interpreter, translation to eBPF, and pcap I/O.
//!
//! - [`insn`]: `struct sock_filter` and the opcode constants;
//! - [`interp`]: the interpreter, with libpcap's `bpf_filter` semantics;
//! - [`check()`]: the kernel's `bpf_check_classic` rules;
//! - [`listing`]: `tcpdump -d`, `-dd` and `-ddd`, and readers for the last two;
//! - [`to_ebpf`]: the kernel's `bpf_convert_filter`, run on oxbpf's VM or JIT;
//! - [`pcap`]: pcap and pcapng in, pcap out; [`summary`]: `tcpdump -n` lines;
//! - [`synth`]: generated traffic for tests and benchmarks.
//!
//! ```
//! use oxbpf_cbpf::{check, interp, listing, to_ebpf::EbpfFilter};
//!
//! // `tcpdump -ddd arp` on Ethernet.
//! let prog = listing::parse_ddd("4\n40 0 0 12\n21 0 1 2054\n6 0 0 262144\n6 0 0 0\n").unwrap();
//! check(&prog).unwrap();
//! assert_eq!(listing::dump_d(&prog).lines().nth(1).unwrap(), "(001) jeq      #0x806           jt 2\tjf 3");
//! let mut arp = vec![0xff; 42];
//! arp[12..14].copy_from_slice(&[0x08, 0x06]);
//! assert_eq!(interp::run(&prog, &arp, 60), 262144);
//! assert_eq!(EbpfFilter::new(&prog).unwrap().run(&arp, 60), 262144);
//! ```

pub mod check;
pub mod error;
pub mod insn;
pub mod interp;
pub mod listing;
pub mod pcap;
pub mod summary;
pub mod synth;
pub mod to_ebpf;

pub use check::check;
pub use error::CbpfError;
pub use insn::Insn;
