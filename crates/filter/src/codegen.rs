//! Code generation: each primitive becomes tests in the block graph, with
//! the meaning libpcap's gencode.c gives it. Primitives are generated in
//! source order, because `vlan` and `mpls` move the offsets of everything
//! that follows them.

use crate::ast::*;
use crate::cfg::{Frag, Graph};
use crate::error::FilterError;
use crate::names::{self, PortProto};
use crate::LinkType;
use oxbpf_cbpf::insn::op;
use oxbpf_cbpf::Insn;
use std::net::Ipv6Addr;

const ETHERTYPE_IP: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const ETHERTYPE_ARP: u32 = 0x0806;
const ETHERTYPE_REVARP: u32 = 0x8035;
const ETHERTYPE_MPLS: u32 = 0x8847;
const ETHERTYPE_IPX: u32 = 0x8137;
const ETHERTYPE_ATALK: u32 = 0x809b;
const ETHERTYPE_AARP: u32 = 0x80f3;
const ETHERMTU: u32 = 1500;
const LLCSAP_IP: u32 = 0x06;
const LLCSAP_IPX: u32 = 0xe0;
const LLCSAP_NETBEUI: u32 = 0xf0;
const LLCSAP_ISONS: u32 = 0xfe;
/// Linux SLL protocol values for 802.3 (raw) and 802.2 (LLC) frames.
const SLL_P_802_3: u32 = 0x0001;
const SLL_P_802_2: u32 = 0x0004;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const IPPROTO_SCTP: u32 = 132;
const IPPROTO_FRAGMENT: u32 = 44;

fn ld(size: u16, k: u32) -> Insn {
    Insn::stmt(op::LD | size | op::ABS, k)
}

fn ld_ind(size: u16, k: u32) -> Insn {
    Insn::stmt(op::LD | size | op::IND, k)
}

fn size_bits(bytes: u32) -> u16 {
    match bytes {
        1 => op::B,
        2 => op::H,
        _ => op::W,
    }
}

const JEQ: u16 = op::JMP | op::JEQ | op::K;
const JGT: u16 = op::JMP | op::JGT | op::K;
const JGE: u16 = op::JMP | op::JGE | op::K;
const JSET: u16 = op::JMP | op::JSET | op::K;

/// The generator's state: the graph and libpcap's offset variables.
pub struct Gen {
    /// The blocks made so far.
    pub g: Graph,
    link: LinkType,
    /// Offset of the link-layer type field, if the link type has one.
    off_linktype: Option<u32>,
    /// Offset of the network-layer header.
    off_nl: u32,
    /// Number of MPLS labels matched so far.
    mpls_depth: u32,
}

impl Gen {
    /// A generator for packets of `link`.
    pub fn new(link: LinkType) -> Gen {
        let (off_linktype, off_nl) = match link {
            LinkType::Ethernet => (Some(12), 14),
            LinkType::LinuxSll => (Some(14), 16),
            LinkType::RawIp => (None, 0),
        };
        Gen {
            g: Graph::default(),
            link,
            off_linktype,
            off_nl,
            mpls_depth: 0,
        }
    }

    fn link_name(&self) -> &'static str {
        match self.link {
            LinkType::Ethernet => "Ethernet",
            LinkType::RawIp => "Raw IP",
            LinkType::LinuxSll => "Linux cooked v1",
        }
    }

    fn cmp(&mut self, size: u16, off: u32, v: u32) -> Frag {
        self.g.test(vec![ld(size, off)], JEQ, v)
    }

    fn mcmp(&mut self, size: u16, off: u32, mask: u32, v: u32) -> Frag {
        if mask == u32::MAX {
            return self.cmp(size, off, v);
        }
        if mask == 0 {
            return Frag::Const(v == 0);
        }
        self.g.test(
            vec![ld(size, off), Insn::stmt(op::ALU | op::AND | op::K, mask)],
            JEQ,
            v,
        )
    }

    /// Generates a whole expression.
    pub fn expr(&mut self, e: &Expr) -> Result<Frag, FilterError> {
        Ok(match e {
            Expr::And(a, b) => {
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                self.g.and(a, b)
            }
            Expr::Or(a, b) => {
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                self.g.or(a, b)
            }
            Expr::Not(a) => {
                let a = self.expr(a)?;
                self.g.not(a)
            }
            Expr::Prim(p) => self.prim(p)?,
        })
    }

    fn prim(&mut self, p: &Prim) -> Result<Frag, FilterError> {
        let pos = p.pos;
        match &p.kind {
            PrimKind::Id { q, val } => self.id(*q, val, pos),
            PrimKind::Proto(proto) => self.proto_abbrev(*proto, pos),
            PrimKind::LinkProto(v) => self.linktype(*v, pos),
            PrimKind::Direction(inbound) => {
                if self.link != LinkType::LinuxSll {
                    return Err(FilterError::invalid(
                        pos,
                        format!(
                            "inbound/outbound not supported on {} when reading savefiles",
                            self.link_name()
                        ),
                    ));
                }
                // The SLL packet type; 4 is PACKET_OUTGOING.
                let out = self.cmp(op::H, 0, 4);
                Ok(if *inbound { self.g.not(out) } else { out })
            }
            PrimKind::Broadcast(proto) => self.broadcast(*proto, pos),
            PrimKind::Multicast(proto) => self.multicast(*proto, pos),
            PrimKind::Less(n) => {
                let b = self
                    .g
                    .test(vec![Insn::stmt(op::LD | op::W | op::LEN, 0)], JGT, *n);
                Ok(self.g.not(b))
            }
            PrimKind::Greater(n) => {
                Ok(self
                    .g
                    .test(vec![Insn::stmt(op::LD | op::W | op::LEN, 0)], JGE, *n))
            }
            PrimKind::Rel { op, lhs, rhs } => self.relation(*op, lhs, rhs, pos),
            PrimKind::Vlan(id) => self.vlan(*id, pos),
            PrimKind::Mpls(label) => self.mpls(*label, pos),
        }
    }

    /// A test of the link-layer protocol type (libpcap's gen_linktype).
    fn linktype(&mut self, ethertype: u32, pos: usize) -> Result<Frag, FilterError> {
        if self.mpls_depth > 0 {
            let version = match ethertype {
                ETHERTYPE_IP => 0x40,
                ETHERTYPE_IPV6 => 0x60,
                _ => return Err(FilterError::invalid(pos, "unsupported protocol over mpls")),
            };
            let bos = self.mcmp(op::B, self.off_nl - 4 + 2, 0x01, 0x01);
            let ver = self.mcmp(op::B, self.off_nl, 0xf0, version);
            return Ok(self.g.and(bos, ver));
        }
        Ok(match (self.link, self.off_linktype) {
            (LinkType::RawIp, _) | (_, None) => match ethertype {
                ETHERTYPE_IP => self.mcmp(op::B, self.off_nl, 0xf0, 0x40),
                ETHERTYPE_IPV6 => self.mcmp(op::B, self.off_nl, 0xf0, 0x60),
                _ => Frag::Const(false),
            },
            (LinkType::Ethernet, Some(off)) => {
                let llc = off + 2;
                if matches!(ethertype, LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI) {
                    let is_len = self.ether_is_length(off);
                    let sap = self.cmp(op::H, llc, (ethertype << 8) | ethertype);
                    self.g.and(is_len, sap)
                } else if ethertype == LLCSAP_IPX {
                    // Ethernet II, then 802.2 SNAP, 802.2 and raw 802.3.
                    let e2 = self.cmp(op::H, off, ETHERTYPE_IPX);
                    let is_len = self.ether_is_length(off);
                    let snap = self.snap(llc, 0, ETHERTYPE_IPX);
                    let sap = self.cmp(op::B, llc, LLCSAP_IPX);
                    let raw = self.cmp(op::H, llc, 0xffff);
                    let a = self.g.or(snap, sap);
                    let a = self.g.or(a, raw);
                    let a = self.g.and(is_len, a);
                    self.g.or(e2, a)
                } else if matches!(ethertype, ETHERTYPE_ATALK | ETHERTYPE_AARP) {
                    let e2 = self.cmp(op::H, off, ethertype);
                    let is_len = self.ether_is_length(off);
                    let org = if ethertype == ETHERTYPE_ATALK {
                        0x080007
                    } else {
                        0
                    };
                    let snap = self.snap(llc, org, ethertype);
                    let a = self.g.and(is_len, snap);
                    self.g.or(e2, a)
                } else if ethertype <= ETHERMTU {
                    // An 802.2 LLC frame (length field) with this DSAP.
                    let is_len = self.ether_is_length(off);
                    let dsap = self.cmp(op::B, llc, ethertype);
                    self.g.and(is_len, dsap)
                } else {
                    self.cmp(op::H, off, ethertype)
                }
            }
            (LinkType::LinuxSll, Some(off)) => {
                let llc = off + 2;
                if matches!(ethertype, LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI) {
                    let is_llc = self.cmp(op::H, off, SLL_P_802_2);
                    let sap = self.cmp(op::H, llc, (ethertype << 8) | ethertype);
                    self.g.and(is_llc, sap)
                } else if ethertype == LLCSAP_IPX {
                    let e2 = self.cmp(op::H, off, ETHERTYPE_IPX);
                    let raw = self.cmp(op::H, off, SLL_P_802_3);
                    let is_llc = self.cmp(op::H, off, SLL_P_802_2);
                    let sap = self.cmp(op::B, llc, LLCSAP_IPX);
                    let snap = self.snap(llc, 0, ETHERTYPE_IPX);
                    let a = self.g.or(sap, snap);
                    let a = self.g.and(is_llc, a);
                    let b = self.g.or(e2, raw);
                    self.g.or(b, a)
                } else if matches!(ethertype, ETHERTYPE_ATALK | ETHERTYPE_AARP) {
                    let e2 = self.cmp(op::H, off, ethertype);
                    let is_llc = self.cmp(op::H, off, SLL_P_802_2);
                    let org = if ethertype == ETHERTYPE_ATALK {
                        0x080007
                    } else {
                        0
                    };
                    let snap = self.snap(llc, org, ethertype);
                    let a = self.g.and(is_llc, snap);
                    self.g.or(e2, a)
                } else if ethertype <= ETHERMTU {
                    let is_llc = self.cmp(op::H, off, SLL_P_802_2);
                    let dsap = self.cmp(op::B, llc, ethertype);
                    self.g.and(is_llc, dsap)
                } else {
                    self.cmp(op::H, off, ethertype)
                }
            }
        })
    }

    /// The Ethernet type field holds an 802.3 length (<= 1500).
    fn ether_is_length(&mut self, off: u32) -> Frag {
        let t = self.g.test(vec![ld(op::H, off)], JGT, ETHERMTU);
        self.g.not(t)
    }

    /// An 802.2 SNAP header with this organization code and type at `off`.
    fn snap(&mut self, off: u32, org: u32, ptype: u32) -> Frag {
        let b = [
            0xaa,
            0xaa,
            0x03,
            (org >> 16) as u8,
            (org >> 8) as u8,
            org as u8,
            (ptype >> 8) as u8,
            ptype as u8,
        ];
        self.bcmp(off, &b)
    }

    fn proto_abbrev(&mut self, proto: Proto, pos: usize) -> Result<Frag, FilterError> {
        match proto {
            Proto::Ip => self.linktype(ETHERTYPE_IP, pos),
            Proto::Ip6 => self.linktype(ETHERTYPE_IPV6, pos),
            Proto::Arp => self.linktype(ETHERTYPE_ARP, pos),
            Proto::Rarp => self.linktype(ETHERTYPE_REVARP, pos),
            Proto::Tcp => self.ip_proto(IPPROTO_TCP, Proto::Default, pos),
            Proto::Udp => self.ip_proto(IPPROTO_UDP, Proto::Default, pos),
            Proto::Sctp => self.ip_proto(IPPROTO_SCTP, Proto::Default, pos),
            Proto::Icmp => self.ip_proto(1, Proto::Ip, pos),
            Proto::Igmp => self.ip_proto(2, Proto::Ip, pos),
            Proto::Igrp => self.ip_proto(9, Proto::Ip, pos),
            Proto::Pim => self.ip_proto(103, Proto::Default, pos),
            Proto::Vrrp | Proto::Carp => self.ip_proto(112, Proto::Ip, pos),
            Proto::Icmp6 => self.ip_proto(58, Proto::Ip6, pos),
            Proto::Ah => self.ip_proto(51, Proto::Default, pos),
            Proto::Esp => self.ip_proto(50, Proto::Default, pos),
            Proto::Link | Proto::Default => Err(FilterError::invalid(
                pos,
                "link layer applied in wrong context",
            )),
        }
    }

    /// `ip proto N`, `ip6 proto N` (with one fragment header), or both.
    fn ip_proto(&mut self, v: u32, proto: Proto, pos: usize) -> Result<Frag, FilterError> {
        match proto {
            Proto::Ip => {
                let lt = self.linktype(ETHERTYPE_IP, pos)?;
                let p = self.cmp(op::B, self.off_nl + 9, v);
                Ok(self.g.and(lt, p))
            }
            Proto::Ip6 => {
                let lt = self.linktype(ETHERTYPE_IPV6, pos)?;
                let direct = self.cmp(op::B, self.off_nl + 6, v);
                let frag = self.cmp(op::B, self.off_nl + 6, IPPROTO_FRAGMENT);
                let after = self.cmp(op::B, self.off_nl + 40, v);
                let viafrag = self.g.and(frag, after);
                let any = self.g.or(direct, viafrag);
                Ok(self.g.and(lt, any))
            }
            Proto::Default => {
                let a = self.ip_proto(v, Proto::Ip, pos)?;
                let b = self.ip_proto(v, Proto::Ip6, pos)?;
                Ok(self.g.or(a, b))
            }
            // Out-of-range values are compared as given, as libpcap does.
            Proto::Link => self.linktype(v, pos),
            other => Err(FilterError::invalid(
                pos,
                format!("'{}' modifier applied to 'proto'", other.name()),
            )),
        }
    }

    fn id(&mut self, q: Qual, val: &IdVal, pos: usize) -> Result<Frag, FilterError> {
        match val {
            IdVal::Num(v) => match q.addr {
                Addr::Default | Addr::Host | Addr::Net => {
                    if q.proto == Proto::Link {
                        return Err(FilterError::invalid(pos, "illegal link layer address"));
                    }
                    self.host(*v, u32::MAX, q.proto, q.dir, pos)
                }
                Addr::Port | Addr::Portrange => {
                    if *v > 65535 {
                        return Err(FilterError::invalid(
                            pos,
                            format!("illegal port number {v} > 65535"),
                        ));
                    }
                    let proto = self.port_proto(q.proto, pos)?;
                    self.port(*v, *v, proto, q.dir, pos)
                }
                Addr::Proto => {
                    if q.dir != Dir::Default {
                        return Err(FilterError::invalid(pos, "direction applied to 'proto'"));
                    }
                    self.ip_proto(*v, q.proto, pos)
                }
                Addr::Gateway => Err(FilterError::invalid(pos, "'gateway' requires a name")),
            },
            IdVal::V4 { value, bits } => match q.addr {
                Addr::Default | Addr::Host | Addr::Net => {
                    let shift = 32 - bits;
                    let (v, m) = if shift >= 32 {
                        (0, 0)
                    } else {
                        (value << shift, u32::MAX << shift)
                    };
                    self.host(v, m, q.proto, q.dir, pos)
                }
                _ => Err(FilterError::invalid(
                    pos,
                    "an IPv4 address is not a port or a protocol",
                )),
            },
            IdVal::V4Masked {
                value,
                bits,
                mask,
                text,
            } => {
                let v = value << (32 - bits);
                if v & !mask != 0 {
                    return Err(FilterError::invalid(
                        pos,
                        format!("non-network bits set in \"{text}\""),
                    ));
                }
                if q.addr != Addr::Net {
                    return Err(FilterError::invalid(pos, "Mask syntax for networks only"));
                }
                self.host(v, *mask, q.proto, q.dir, pos)
            }
            IdVal::V6 { addr, prefix } => {
                let len = prefix.unwrap_or(128);
                match q.addr {
                    Addr::Default | Addr::Host | Addr::Net => {}
                    _ => {
                        return Err(FilterError::invalid(
                            pos,
                            "an IPv6 address is not a port or a protocol",
                        ))
                    }
                }
                let a = u128::from(*addr);
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                if a & !m != 0 {
                    return Err(FilterError::invalid(
                        pos,
                        format!("non-network bits set in \"{addr}/{len}\""),
                    ));
                }
                if len != 128 && q.addr != Addr::Net {
                    return Err(FilterError::invalid(pos, "Mask syntax for networks only"));
                }
                self.host6(*addr, m, q.proto, q.dir, pos)
            }
            IdVal::Mac(mac) => {
                if !matches!(q.addr, Addr::Default | Addr::Host) || q.proto != Proto::Link {
                    return Err(FilterError::invalid(
                        pos,
                        "ethernet address used in non-ether expression",
                    ));
                }
                self.ether_host(mac, q.dir, pos)
            }
            IdVal::Name(name) => self.named(q, name, pos),
        }
    }

    fn named(&mut self, q: Qual, name: &str, pos: usize) -> Result<Frag, FilterError> {
        let unknown = |kind| FilterError::UnknownName {
            pos,
            kind,
            name: name.to_string(),
        };
        let dotted_digits =
            name.contains('.') && name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if dotted_digits
            && (2..=4).contains(&name.split('.').count())
            && matches!(q.addr, Addr::Default | Addr::Host | Addr::Net)
        {
            return Err(FilterError::invalid(
                pos,
                format!("invalid IPv4 address '{name}'"),
            ));
        }
        match q.addr {
            Addr::Default | Addr::Host | Addr::Net => Err(FilterError::Unresolved {
                pos,
                kind: match (q.addr, q.proto) {
                    (Addr::Net, _) => "network",
                    (_, Proto::Link) => "ether host",
                    _ => "host",
                },
                name: name.to_string(),
            }),
            Addr::Port => {
                let proto = self.port_proto(q.proto, pos)?;
                let (port, real) = names::service(name).ok_or_else(|| unknown("port"))?;
                let proto = self.service_proto(proto, real, name, pos)?;
                self.port(port.into(), port.into(), proto, q.dir, pos)
            }
            Addr::Portrange => {
                let proto = self.port_proto(q.proto, pos)?;
                let (lo, hi, real) = parse_range(name).ok_or_else(|| unknown("port range"))?;
                let proto = self.service_proto(proto, real, name, pos)?;
                self.port(lo, hi, proto, q.dir, pos)
            }
            Addr::Proto => {
                if q.dir != Dir::Default {
                    return Err(FilterError::invalid(pos, "direction applied to 'proto'"));
                }
                let v = match q.proto {
                    Proto::Link => names::ethertype(name)
                        .map(u32::from)
                        .ok_or_else(|| unknown("ether proto"))?,
                    _ => names::ip_protocol(name)
                        .map(u32::from)
                        .ok_or_else(|| unknown("protocol"))?,
                };
                self.ip_proto(v, q.proto, pos)
            }
            Addr::Gateway => Err(FilterError::invalid(
                pos,
                "'gateway' is not supported by oxbpf",
            )),
        }
    }

    /// The transport protocol a `port` qualifier allows (None = any).
    fn port_proto(&self, proto: Proto, pos: usize) -> Result<Option<u32>, FilterError> {
        match proto {
            Proto::Default => Ok(None),
            Proto::Tcp => Ok(Some(IPPROTO_TCP)),
            Proto::Udp => Ok(Some(IPPROTO_UDP)),
            Proto::Sctp => Ok(Some(IPPROTO_SCTP)),
            other => Err(FilterError::invalid(
                pos,
                format!("illegal qualifier of 'port': '{}'", other.name()),
            )),
        }
    }

    fn service_proto(
        &self,
        asked: Option<u32>,
        real: PortProto,
        name: &str,
        pos: usize,
    ) -> Result<Option<u32>, FilterError> {
        match (asked, real) {
            (None, PortProto::Tcp) => Ok(Some(IPPROTO_TCP)),
            (None, PortProto::Udp) => Ok(Some(IPPROTO_UDP)),
            (None, PortProto::Any) => Ok(None),
            (Some(IPPROTO_UDP), PortProto::Tcp) => {
                Err(FilterError::invalid(pos, format!("port '{name}' is tcp")))
            }
            (Some(IPPROTO_TCP), PortProto::Udp) => {
                Err(FilterError::invalid(pos, format!("port '{name}' is udp")))
            }
            (Some(p), _) => Ok(Some(p)),
        }
    }

    fn host(
        &mut self,
        addr: u32,
        mask: u32,
        proto: Proto,
        dir: Dir,
        pos: usize,
    ) -> Result<Frag, FilterError> {
        let (ethertype, src, dst) = match proto {
            // Inside MPLS only IPv4 is looked at, as libpcap does.
            Proto::Default if self.mpls_depth > 0 => {
                return self.host(addr, mask, Proto::Ip, dir, pos)
            }
            Proto::Default => {
                let a = self.host(addr, mask, Proto::Ip, dir, pos)?;
                let b = self.host(addr, mask, Proto::Arp, dir, pos)?;
                let ab = self.g.or(a, b);
                let c = self.host(addr, mask, Proto::Rarp, dir, pos)?;
                return Ok(self.g.or(ab, c));
            }
            Proto::Ip => (ETHERTYPE_IP, 12, 16),
            Proto::Arp => (ETHERTYPE_ARP, 14, 24),
            Proto::Rarp => (ETHERTYPE_REVARP, 14, 24),
            Proto::Ip6 => {
                return Err(FilterError::invalid(
                    pos,
                    "'ip6' modifier applied to ip host",
                ))
            }
            Proto::Link => return Err(FilterError::invalid(pos, "illegal link layer address")),
            other => {
                return Err(FilterError::invalid(
                    pos,
                    format!("'{}' modifier applied to host", other.name()),
                ))
            }
        };
        let lt = self.linktype(ethertype, pos)?;
        if matches!(lt, Frag::Const(false)) {
            return Ok(lt);
        }
        let base = self.off_nl;
        let hop = self.dir_pair(
            dir,
            |g| g.mcmp(op::W, base + src, mask, addr),
            |g| g.mcmp(op::W, base + dst, mask, addr),
        );
        Ok(self.g.and(lt, hop))
    }

    /// Combines a source and a destination test by direction.
    fn dir_pair(
        &mut self,
        dir: Dir,
        src: impl Fn(&mut Gen) -> Frag,
        dst: impl Fn(&mut Gen) -> Frag,
    ) -> Frag {
        match dir {
            Dir::Src => src(self),
            Dir::Dst => dst(self),
            Dir::SrcAndDst => {
                let a = src(self);
                let b = dst(self);
                self.g.and(a, b)
            }
            Dir::Default | Dir::SrcOrDst => {
                let a = src(self);
                let b = dst(self);
                self.g.or(a, b)
            }
        }
    }

    fn host6(
        &mut self,
        addr: Ipv6Addr,
        mask: u128,
        proto: Proto,
        dir: Dir,
        pos: usize,
    ) -> Result<Frag, FilterError> {
        match proto {
            Proto::Default | Proto::Ip6 => {}
            Proto::Ip => {
                return Err(FilterError::invalid(
                    pos,
                    "'ip' modifier applied to ip6 host",
                ))
            }
            other => {
                return Err(FilterError::invalid(
                    pos,
                    format!("'{}' modifier applied to ip6 host", other.name()),
                ))
            }
        }
        let lt = self.linktype(ETHERTYPE_IPV6, pos)?;
        let a = u128::from(addr);
        let base = self.off_nl;
        let words = move |g: &mut Gen, off: u32| {
            let mut acc = Frag::Const(true);
            for i in 0..4u32 {
                let shift = 96 - 32 * i;
                let m = (mask >> shift) as u32;
                if m == 0 {
                    continue;
                }
                let w = g.mcmp(op::W, base + off + 4 * i, m, (a >> shift) as u32 & m);
                acc = g.g.and(acc, w);
            }
            acc
        };
        let hop = self.dir_pair(dir, |g| words(g, 8), |g| words(g, 24));
        Ok(self.g.and(lt, hop))
    }

    /// Compares `bytes` at `off` in the link header, last word first (gen_bcmp).
    fn bcmp(&mut self, off: u32, bytes: &[u8]) -> Frag {
        let mut acc = Frag::Const(true);
        let mut size = bytes.len();
        while size >= 4 {
            let w = u32::from_be_bytes([
                bytes[size - 4],
                bytes[size - 3],
                bytes[size - 2],
                bytes[size - 1],
            ]);
            let t = self.cmp(op::W, off + size as u32 - 4, w);
            acc = self.g.and(acc, t);
            size -= 4;
        }
        while size >= 2 {
            let h = u32::from(u16::from_be_bytes([bytes[size - 2], bytes[size - 1]]));
            let t = self.cmp(op::H, off + size as u32 - 2, h);
            acc = self.g.and(acc, t);
            size -= 2;
        }
        if size == 1 {
            let t = self.cmp(op::B, off, bytes[0].into());
            acc = self.g.and(acc, t);
        }
        acc
    }

    fn ether_host(&mut self, mac: &[u8; 6], dir: Dir, pos: usize) -> Result<Frag, FilterError> {
        if self.link != LinkType::Ethernet {
            return Err(FilterError::invalid(pos, "ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel"));
        }
        Ok(self.dir_pair(dir, |g| g.bcmp(6, mac), |g| g.bcmp(0, mac)))
    }

    /// `[tcp|udp|sctp] [dir] port lo` or `portrange lo-hi`, for IPv6 and IPv4.
    fn port(
        &mut self,
        lo: u32,
        hi: u32,
        proto: Option<u32>,
        dir: Dir,
        pos: usize,
    ) -> Result<Frag, FilterError> {
        let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
        let protos: Vec<u32> = match proto {
            Some(p) => vec![p],
            None => vec![IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP],
        };
        let atom = move |g: &mut Gen, stmts: Vec<Insn>| {
            if lo == hi {
                g.g.test(stmts, JEQ, lo)
            } else {
                let ge = g.g.test(stmts.clone(), JGE, lo);
                let gt = g.g.test(stmts, JGT, hi);
                let le = g.g.not(gt);
                g.g.and(ge, le)
            }
        };
        // IPv6: fixed 40-byte header, next header taken as is.
        let lt6 = self.linktype(ETHERTYPE_IPV6, pos)?;
        let mut any6 = Frag::Const(false);
        let nl = self.off_nl;
        for &p in &protos {
            let pt = self.cmp(op::B, nl + 6, p);
            let ports = self.dir_pair(
                dir,
                |g| atom(g, vec![ld(op::H, nl + 40)]),
                |g| atom(g, vec![ld(op::H, nl + 42)]),
            );
            let one = self.g.and(pt, ports);
            any6 = self.g.or(any6, one);
        }
        let v6 = self.g.and(lt6, any6);
        // IPv4: first fragment only, header length from the IHL.
        let lt4 = self.linktype(ETHERTYPE_IP, pos)?;
        let mut any4 = Frag::Const(false);
        for &p in &protos {
            let pt = self.cmp(op::B, nl + 9, p);
            let fr = self.g.test(vec![ld(op::H, nl + 6)], JSET, 0x1fff);
            let notfrag = self.g.not(fr);
            let head = self.g.and(pt, notfrag);
            let msh = Insn::stmt(op::LDX | op::B | op::MSH, nl);
            let ports = self.dir_pair(
                dir,
                |g| atom(g, vec![msh, ld_ind(op::H, nl)]),
                |g| atom(g, vec![msh, ld_ind(op::H, nl + 2)]),
            );
            let one = self.g.and(head, ports);
            any4 = self.g.or(any4, one);
        }
        let v4 = self.g.and(lt4, any4);
        Ok(self.g.or(v6, v4))
    }

    fn broadcast(&mut self, proto: Proto, pos: usize) -> Result<Frag, FilterError> {
        match proto {
            Proto::Default | Proto::Link => {
                if self.link != LinkType::Ethernet {
                    return Err(FilterError::invalid(pos, "not a broadcast link"));
                }
                Ok(self.bcmp(0, &[0xff; 6]))
            }
            Proto::Ip => {
                let lt = self.linktype(ETHERTYPE_IP, pos)?;
                let off = self.off_nl + 16;
                let zero = self.cmp(op::W, off, 0);
                let ones = self.cmp(op::W, off, u32::MAX);
                let either = self.g.or(zero, ones);
                Ok(self.g.and(lt, either))
            }
            _ => Err(FilterError::invalid(
                pos,
                "only link-layer/IP broadcast filters supported",
            )),
        }
    }

    fn multicast(&mut self, proto: Proto, pos: usize) -> Result<Frag, FilterError> {
        match proto {
            Proto::Default | Proto::Link => {
                if self.link != LinkType::Ethernet {
                    return Err(FilterError::invalid(pos, "link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel"));
                }
                Ok(self.g.test(vec![ld(op::B, 0)], JSET, 1))
            }
            Proto::Ip => {
                let lt = self.linktype(ETHERTYPE_IP, pos)?;
                let t = self.g.test(vec![ld(op::B, self.off_nl + 16)], JGE, 224);
                Ok(self.g.and(lt, t))
            }
            Proto::Ip6 => {
                let lt = self.linktype(ETHERTYPE_IPV6, pos)?;
                let t = self.cmp(op::B, self.off_nl + 24, 255);
                Ok(self.g.and(lt, t))
            }
            _ => Err(FilterError::invalid(pos, "link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel")),
        }
    }

    fn vlan(&mut self, id: Option<(u32, usize)>, pos: usize) -> Result<Frag, FilterError> {
        if self.mpls_depth > 0 {
            return Err(FilterError::invalid(pos, "no VLAN match after MPLS"));
        }
        let Some(off) = self
            .off_linktype
            .filter(|_| self.link == LinkType::Ethernet)
        else {
            return Err(FilterError::invalid(
                pos,
                format!("no VLAN support for {}", self.link_name()),
            ));
        };
        let a = self.cmp(op::H, off, 0x8100);
        let b = self.cmp(op::H, off, 0x88a8);
        let ab = self.g.or(a, b);
        let c = self.cmp(op::H, off, 0x9100);
        let mut f = self.g.or(ab, c);
        if let Some((id, at)) = id {
            if id > 0x0fff {
                return Err(FilterError::invalid(
                    at,
                    format!("VLAN tag {id} greater than maximum 4095"),
                ));
            }
            let t = self.mcmp(op::H, self.off_nl, 0x0fff, id);
            f = self.g.and(f, t);
        }
        self.off_linktype = Some(off + 4);
        self.off_nl += 4;
        Ok(f)
    }

    fn mpls(&mut self, label: Option<(u32, usize)>, pos: usize) -> Result<Frag, FilterError> {
        let mut f = if self.mpls_depth > 0 {
            // Inside a label stack: the previous label must not be the last.
            self.mcmp(op::B, self.off_nl - 4 + 2, 0x01, 0)
        } else {
            if self.link != LinkType::Ethernet {
                return Err(FilterError::invalid(
                    pos,
                    format!("no MPLS support for {}", self.link_name()),
                ));
            }
            self.linktype(ETHERTYPE_MPLS, pos)?
        };
        if let Some((label, at)) = label {
            if label > 0xfffff {
                return Err(FilterError::invalid(
                    at,
                    format!("MPLS label {label} greater than maximum 1048575"),
                ));
            }
            let t = self.mcmp(op::W, self.off_nl, 0xffff_f000, label << 12);
            f = self.g.and(f, t);
        }
        self.off_nl += 4;
        self.mpls_depth += 1;
        Ok(f)
    }

    fn relation(
        &mut self,
        rel: RelOp,
        lhs: &Arith,
        rhs: &Arith,
        _pos: usize,
    ) -> Result<Frag, FilterError> {
        let mut guards = Frag::Const(true);
        let mut stmts = Vec::new();
        let (code, negate) = match rel {
            RelOp::Gt => (op::JGT, false),
            RelOp::Ge => (op::JGE, false),
            RelOp::Eq => (op::JEQ, false),
            RelOp::Lt => (op::JGE, true),
            RelOp::Le => (op::JGT, true),
            RelOp::Ne => (op::JEQ, true),
        };
        let t = match const_value(rhs)? {
            Some(k) => {
                self.arith(lhs, &mut stmts, &mut guards, 0)?;
                self.g.test(stmts, op::JMP | code | op::K, k)
            }
            None => {
                self.arith(rhs, &mut stmts, &mut guards, 0)?;
                stmts.push(Insn::stmt(op::ST, 0));
                self.arith(lhs, &mut stmts, &mut guards, 1)?;
                stmts.push(Insn::stmt(op::LDX | op::MEM, 0));
                self.g.test(stmts, op::JMP | code | op::X, 0)
            }
        };
        let t = if negate { self.g.not(t) } else { t };
        Ok(self.g.and(guards, t))
    }

    /// Appends statements that leave the value of `e` in A, using scratch
    /// slots from `depth` up; protocol checks the loads need go to `guards`.
    fn arith(
        &mut self,
        e: &Arith,
        s: &mut Vec<Insn>,
        guards: &mut Frag,
        depth: u32,
    ) -> Result<(), FilterError> {
        match e {
            Arith::Num(n) => s.push(Insn::stmt(op::LD | op::IMM, *n)),
            Arith::Len => s.push(Insn::stmt(op::LD | op::W | op::LEN, 0)),
            Arith::Neg(a) => {
                if let Some(k) = const_value(e)? {
                    s.push(Insn::stmt(op::LD | op::IMM, k));
                } else {
                    self.arith(a, s, guards, depth)?;
                    s.push(Insn::stmt(op::ALU | op::NEG, 0));
                }
            }
            Arith::Bin(o, a, b, pos) => {
                if let Some(k) = const_value(e)? {
                    s.push(Insn::stmt(op::LD | op::IMM, k));
                    return Ok(());
                }
                let code = alu_code(*o);
                match const_value(b)? {
                    Some(k) => {
                        self.arith(a, s, guards, depth)?;
                        s.push(Insn::stmt(op::ALU | code | op::K, k));
                    }
                    None => {
                        if depth >= op::MEMWORDS {
                            return Err(FilterError::TooComplex {
                                pos: *pos,
                                message: "too many registers needed to evaluate expression".into(),
                            });
                        }
                        self.arith(b, s, guards, depth)?;
                        s.push(Insn::stmt(op::ST, depth));
                        self.arith(a, s, guards, depth + 1)?;
                        s.push(Insn::stmt(op::LDX | op::MEM, depth));
                        s.push(Insn::stmt(op::ALU | code | op::X, 0));
                    }
                }
            }
            Arith::Load {
                proto,
                index,
                size,
                pos,
            } => self.load(*proto, index, *size, *pos, s, guards, depth)?,
        }
        if depth > op::MEMWORDS {
            return Err(FilterError::TooComplex {
                pos: 0,
                message: "too many registers needed to evaluate expression".into(),
            });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn load(
        &mut self,
        proto: Proto,
        index: &Arith,
        size: u32,
        pos: usize,
        s: &mut Vec<Insn>,
        guards: &mut Frag,
        depth: u32,
    ) -> Result<(), FilterError> {
        let sz = size_bits(size);
        let idx = const_value(index)?;
        let nl = self.off_nl;
        // Loads relative to a fixed offset: constant index, or index in X.
        let fixed = |g: &mut Gen,
                     s: &mut Vec<Insn>,
                     guards: &mut Frag,
                     base: u32|
         -> Result<(), FilterError> {
            match idx {
                Some(k) => s.push(ld(sz, base.wrapping_add(k))),
                None => {
                    g.arith(index, s, guards, depth)?;
                    s.push(Insn::stmt(op::MISC | op::TAX, 0));
                    s.push(ld_ind(sz, base));
                }
            }
            Ok(())
        };
        match proto {
            Proto::Link => fixed(self, s, guards, 0)?,
            Proto::Ip | Proto::Arp | Proto::Rarp | Proto::Ip6 => {
                let chk = self.proto_abbrev(proto, pos)?;
                *guards = self.g.and(guards.clone(), chk);
                fixed(self, s, guards, nl)?;
            }
            Proto::Icmp6 => {
                let lt = self.linktype(ETHERTYPE_IPV6, pos)?;
                let nh = self.cmp(op::B, nl + 6, 58);
                let chk = self.g.and(lt, nh);
                *guards = self.g.and(guards.clone(), chk);
                fixed(self, s, guards, nl + 40)?;
            }
            Proto::Tcp
            | Proto::Udp
            | Proto::Sctp
            | Proto::Icmp
            | Proto::Igmp
            | Proto::Igrp
            | Proto::Pim
            | Proto::Vrrp
            | Proto::Carp => {
                let p = match proto {
                    Proto::Tcp => IPPROTO_TCP,
                    Proto::Udp => IPPROTO_UDP,
                    Proto::Sctp => IPPROTO_SCTP,
                    Proto::Icmp => 1,
                    Proto::Igmp => 2,
                    Proto::Igrp => 9,
                    Proto::Pim => 103,
                    _ => 112,
                };
                // IPv4 only, and only the first fragment, as libpcap.
                let chk = self.ip_proto(p, Proto::Ip, pos)?;
                let fr = self.g.test(vec![ld(op::H, nl + 6)], JSET, 0x1fff);
                let notfrag = self.g.not(fr);
                let chk = self.g.and(chk, notfrag);
                *guards = self.g.and(guards.clone(), chk);
                let msh = Insn::stmt(op::LDX | op::B | op::MSH, nl);
                match idx {
                    Some(k) => {
                        s.push(msh);
                        s.push(ld_ind(sz, nl.wrapping_add(k)));
                    }
                    None => {
                        if depth >= op::MEMWORDS {
                            return Err(FilterError::TooComplex {
                                pos,
                                message: "too many registers needed to evaluate expression".into(),
                            });
                        }
                        self.arith(index, s, guards, depth)?;
                        s.push(Insn::stmt(op::ST, depth));
                        s.push(msh);
                        s.push(Insn::stmt(op::LD | op::MEM, depth));
                        s.push(Insn::stmt(op::ALU | op::ADD | op::X, 0));
                        s.push(Insn::stmt(op::MISC | op::TAX, 0));
                        s.push(ld_ind(sz, nl));
                    }
                }
            }
            Proto::Ah | Proto::Esp | Proto::Default => {
                return Err(FilterError::invalid(
                    pos,
                    format!("unsupported index operation on '{}'", proto.name()),
                ));
            }
        }
        Ok(())
    }
}

fn alu_code(o: ArOp) -> u16 {
    match o {
        ArOp::Add => op::ADD,
        ArOp::Sub => op::SUB,
        ArOp::Mul => op::MUL,
        ArOp::Div => op::DIV,
        ArOp::Mod => op::MOD,
        ArOp::And => op::AND,
        ArOp::Or => op::OR,
        ArOp::Xor => op::XOR,
        ArOp::Lsh => op::LSH,
        ArOp::Rsh => op::RSH,
    }
}

/// The value of a constant arithmetic expression (None if it reads the
/// packet). Division by a constant zero and shifts by more than 31 are
/// errors, as in libpcap.
fn const_value(e: &Arith) -> Result<Option<u32>, FilterError> {
    Ok(match e {
        Arith::Num(n) => Some(*n),
        Arith::Len | Arith::Load { .. } => None,
        Arith::Neg(a) => const_value(a)?.map(u32::wrapping_neg),
        Arith::Bin(o, a, b, p) => {
            let (a, b) = (const_value(a)?, const_value(b)?);
            if let Some(b) = b {
                match o {
                    ArOp::Div if b == 0 => {
                        return Err(FilterError::invalid(*p, "division by zero"))
                    }
                    ArOp::Mod if b == 0 => return Err(FilterError::invalid(*p, "modulus by zero")),
                    ArOp::Lsh | ArOp::Rsh if b > 31 => {
                        return Err(FilterError::invalid(*p, "shift by more than 31 bits"))
                    }
                    _ => {}
                }
            }
            match (a, b) {
                (Some(a), Some(b)) => oxbpf_cbpf::interp::alu(alu_code(*o), a, b).flatten(),
                _ => None,
            }
        }
    })
}

/// Parses `lo-hi` where each side is a number or a service name.
fn parse_range(s: &str) -> Option<(u32, u32, PortProto)> {
    let port = |p: &str| -> Option<(u32, Option<PortProto>)> {
        if let Some(n) = crate::lexer::parse_number(p) {
            return (n <= 65535).then_some((n, None));
        }
        names::service(p).map(|(n, pp)| (u32::from(n), Some(pp)))
    };
    for (i, _) in s.match_indices('-') {
        let (a, b) = (&s[..i], &s[i + 1..]);
        if let (Some((lo, pa)), Some((hi, pb))) = (port(a), port(b)) {
            let real = match (pa, pb) {
                (Some(x), _) | (None, Some(x)) => x,
                (None, None) => PortProto::Any,
            };
            return Some((lo, hi, real));
        }
    }
    None
}
