//! The tcpdump/libpcap filter language, compiled to classic BPF.
//!
//! [`compile`] reads an expression such as `tcp dst port 80 and not net
//! 10.0.0.0/8`, gives it the meaning libpcap gives it, optimizes the program
//! and returns classic BPF instructions:
//!
//! ```
//! use oxbpf_filter::{compile, LinkType};
//! let prog = compile("ip and udp port 53", LinkType::Ethernet, 262144).unwrap();
//! assert_eq!(prog.last().unwrap().k, 0); // ret #0
//! assert!(compile("host nosuchname", LinkType::Ethernet, 262144).is_err());
//! ```
//!
//! The pipeline: [`lexer`] → [`parser`] (to [`ast`]) → [`codegen`] (to the
//! block graph of [`cfg`](mod@cfg)) → [`optimize`] → [`emit`].

pub mod ast;
pub mod cfg;
pub mod codegen;
pub mod emit;
pub mod error;
pub mod lexer;
pub mod names;
pub mod optimize;
pub mod parser;

pub use error::FilterError;
use oxbpf_cbpf::Insn;

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
/// `snaplen` for accepted packets and 0 for rejected ones. An empty
/// expression accepts everything.
pub fn compile(expr: &str, link: LinkType, snaplen: u32) -> Result<Vec<Insn>, FilterError> {
    let tokens = lexer::lex(expr)?;
    let Some(ast) = parser::parse(&tokens, expr.len())? else {
        return Ok(vec![Insn::stmt(
            oxbpf_cbpf::insn::op::RET | oxbpf_cbpf::insn::op::K,
            snaplen,
        )]);
    };
    let mut gen = codegen::Gen::new(link);
    let frag = gen.expr(&ast)?;
    let mut graph = std::mem::take(&mut gen.g);
    let root = graph.finish(frag);
    let root = graph.drop_impossible_loads(root);
    let root = optimize::optimize(&mut graph, root);
    if root == cfg::Target::Reject {
        return Err(FilterError::RejectsAll);
    }
    Ok(emit::emit(&graph, root, snaplen))
}

/// Compiles without the optimizer (for comparing program sizes and for
/// testing the optimizer against the plain translation).
pub fn compile_unoptimized(
    expr: &str,
    link: LinkType,
    snaplen: u32,
) -> Result<Vec<Insn>, FilterError> {
    let tokens = lexer::lex(expr)?;
    let Some(ast) = parser::parse(&tokens, expr.len())? else {
        return Ok(vec![Insn::stmt(
            oxbpf_cbpf::insn::op::RET | oxbpf_cbpf::insn::op::K,
            snaplen,
        )]);
    };
    let mut gen = codegen::Gen::new(link);
    let frag = gen.expr(&ast)?;
    let mut graph = std::mem::take(&mut gen.g);
    let root = graph.finish(frag);
    let root = graph.drop_impossible_loads(root);
    Ok(emit::emit(&graph, root, snaplen))
}
