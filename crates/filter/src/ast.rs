//! The parsed form of a filter expression.

use std::net::Ipv6Addr;

/// A boolean filter expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Both must hold (evaluated left to right).
    And(Box<Expr>, Box<Expr>),
    /// Either must hold (evaluated left to right).
    Or(Box<Expr>, Box<Expr>),
    /// The operand must not hold.
    Not(Box<Expr>),
    /// One primitive test.
    Prim(Prim),
}

/// A primitive and the byte offset where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prim {
    /// What the primitive tests.
    pub kind: PrimKind,
    /// Byte offset in the expression.
    pub pos: usize,
}

/// The primitives of the language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrimKind {
    /// `[proto] [dir] [addr] ID`, or an ID that inherited its qualifiers.
    Id {
        /// The qualifiers in force.
        q: Qual,
        /// The value they apply to.
        val: IdVal,
    },
    /// A bare protocol name such as `tcp` or `ip6`.
    Proto(Proto),
    /// A link-level protocol by Ethernet type or LLC SAP (`decnet`, `stp`,
    /// `ipx`, `atalk`, ...).
    LinkProto(u32),
    /// `inbound` (true) or `outbound` (false).
    Direction(bool),
    /// `[proto] broadcast`.
    Broadcast(Proto),
    /// `[proto] multicast`.
    Multicast(Proto),
    /// `less N`: the wire length is at most N.
    Less(u32),
    /// `greater N`: the wire length is at least N.
    Greater(u32),
    /// `arith relop arith`.
    Rel {
        /// The comparison.
        op: RelOp,
        /// Left side.
        lhs: Arith,
        /// Right side.
        rhs: Arith,
    },
    /// `vlan [ID]` (the ID with its byte offset).
    Vlan(Option<(u32, usize)>),
    /// `mpls [LABEL]` (the label with its byte offset).
    Mpls(Option<(u32, usize)>),
}

/// Protocol qualifiers (libpcap's `Q_*` protocol values that oxbpf supports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Proto {
    Default,
    Link,
    Ip,
    Arp,
    Rarp,
    Sctp,
    Tcp,
    Udp,
    Icmp,
    Igmp,
    Igrp,
    Pim,
    Vrrp,
    Carp,
    Ip6,
    Icmp6,
    Ah,
    Esp,
}

impl Proto {
    /// The protocol qualifier a keyword names.
    pub fn from_keyword(w: &str) -> Option<Proto> {
        Some(match w {
            "link" | "ether" | "ppp" | "slip" | "fddi" | "tr" | "wlan" => Proto::Link,
            "ip" => Proto::Ip,
            "arp" => Proto::Arp,
            "rarp" => Proto::Rarp,
            "sctp" => Proto::Sctp,
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "icmp" => Proto::Icmp,
            "igmp" => Proto::Igmp,
            "igrp" => Proto::Igrp,
            "pim" => Proto::Pim,
            "vrrp" => Proto::Vrrp,
            "carp" => Proto::Carp,
            "ip6" => Proto::Ip6,
            "icmp6" => Proto::Icmp6,
            "ah" => Proto::Ah,
            "esp" => Proto::Esp,
            _ => return None,
        })
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Default => "default",
            Proto::Link => "link",
            Proto::Ip => "ip",
            Proto::Arp => "arp",
            Proto::Rarp => "rarp",
            Proto::Sctp => "sctp",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::Igmp => "igmp",
            Proto::Igrp => "igrp",
            Proto::Pim => "pim",
            Proto::Vrrp => "vrrp",
            Proto::Carp => "carp",
            Proto::Ip6 => "ip6",
            Proto::Icmp6 => "icmp6",
            Proto::Ah => "ah",
            Proto::Esp => "esp",
        }
    }
}

/// Direction qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Dir {
    Default,
    Src,
    Dst,
    SrcOrDst,
    SrcAndDst,
}

/// Address-kind qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Addr {
    Default,
    Host,
    Net,
    Port,
    Portrange,
    Proto,
    Gateway,
}

/// The three qualifiers of an ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Qual {
    /// Protocol.
    pub proto: Proto,
    /// Direction.
    pub dir: Dir,
    /// Address kind.
    pub addr: Addr,
}

/// The value an ID primitive applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdVal {
    /// A plain number.
    Num(u32),
    /// A dotted IPv4 address with 1 to 4 parts (value as written, bit count).
    V4 {
        /// The parts packed into the low `bits` bits.
        value: u32,
        /// 8 times the number of parts.
        bits: u32,
    },
    /// `HID/len` or `HID mask HID`.
    V4Masked {
        /// The parts packed into the low `bits` bits.
        value: u32,
        /// 8 times the number of parts.
        bits: u32,
        /// The network mask.
        mask: u32,
        /// The text form, for messages.
        text: String,
    },
    /// An IPv6 address with an optional prefix length.
    V6 {
        /// The address.
        addr: Ipv6Addr,
        /// `/len` if given.
        prefix: Option<u32>,
    },
    /// An Ethernet address.
    Mac([u8; 6]),
    /// A name (host, port, service, protocol or range).
    Name(String),
}

/// Comparison operators of relations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RelOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

/// Binary arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ArOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Lsh,
    Rsh,
}

/// An arithmetic expression over packet bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arith {
    /// A constant.
    Num(u32),
    /// The packet's wire length.
    Len,
    /// `proto[index:size]`.
    Load {
        /// The header the index is relative to.
        proto: Proto,
        /// Byte index into that header.
        index: Box<Arith>,
        /// 1, 2 or 4 bytes.
        size: u32,
        /// Byte offset of the accessor, for messages.
        pos: usize,
    },
    /// A binary operation.
    Bin(ArOp, Box<Arith>, Box<Arith>, usize),
    /// Unary minus.
    Neg(Box<Arith>),
}
