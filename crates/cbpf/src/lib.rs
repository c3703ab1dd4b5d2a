//! Classic BPF: the instruction model, tcpdump's listings, the kernel's
//! checker, an interpreter, translation to eBPF, and pcap I/O.

pub mod insn;

pub use insn::Insn;
