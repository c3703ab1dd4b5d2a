//! Classic BPF: the instruction model, tcpdump's listings, the kernel's
//! checker, an interpreter, translation to eBPF, and pcap I/O.

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
