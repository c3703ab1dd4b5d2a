//! The tcpdump/libpcap filter language, compiled to classic BPF.
//!
//! This first version knows only the link-layer protocol names (`ip`, `ip6`,
//! `arp`, `rarp`); the full grammar follows.

use oxbpf_cbpf::insn::op;
use oxbpf_cbpf::Insn;

/// Why a filter expression could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The expression is not valid filter syntax.
    #[error("column {column}: syntax error: {message}")]
    Syntax {
        /// 1-based column of the offending token.
        column: usize,
        /// What was wrong.
        message: String,
    },
}

/// The link-layer header type of the packets a filter will see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// Ethernet II / 802.3 (`DLT_EN10MB`).
    Ethernet,
    /// Raw IPv4 or IPv6, no link header (`DLT_RAW`).
    RawIp,
    /// Linux cooked capture v1 (`DLT_LINUX_SLL`).
    LinuxSll,
}

impl LinkType {
    /// The link type for a pcap `DLT_`/`LINKTYPE_` value.
    pub fn from_dlt(dlt: u32) -> Option<LinkType> {
        match dlt {
            1 => Some(LinkType::Ethernet),
            12 | 101 => Some(LinkType::RawIp),
            113 => Some(LinkType::LinuxSll),
            _ => None,
        }
    }
}

/// Compiles a filter expression to a classic BPF program that returns
/// `snaplen` for accepted packets and 0 for rejected ones.
pub fn compile(expr: &str, link: LinkType, snaplen: u32) -> Result<Vec<Insn>, FilterError> {
    let word = expr.trim();
    let ethertype = match word {
        "ip" => 0x800,
        "ip6" => 0x86dd,
        "arp" => 0x806,
        "rarp" => 0x8035,
        "" => return Ok(vec![Insn::stmt(op::RET | op::K, snaplen)]),
        _ => {
            return Err(FilterError::Syntax {
                column: expr.len() - expr.trim_start().len() + 1,
                message: format!("unsupported expression {word:?}"),
            })
        }
    };
    let off = match link {
        LinkType::Ethernet => 12,
        LinkType::LinuxSll => 14,
        LinkType::RawIp => {
            return Err(FilterError::Syntax {
                column: 1,
                message: "raw IP not supported yet".into(),
            })
        }
    };
    Ok(vec![
        Insn::stmt(op::LD | op::H | op::ABS, off),
        Insn::jump(op::JMP | op::JEQ | op::K, ethertype, 0, 1),
        Insn::stmt(op::RET | op::K, snaplen),
        Insn::stmt(op::RET | op::K, 0),
    ])
}
