//! Recursive-descent parser for libpcap's grammar (grammar.y), including
//! qualifier inheritance (`host a or b`) and libpcap's arithmetic precedence.

use crate::ast::*;
use crate::error::FilterError;
use crate::lexer::{Tok, Token};

/// Keywords that libpcap has and oxbpf does not implement.
const UNSUPPORTED: [&str; 27] = [
    "protochain",
    "gateway",
    "esis",
    "es-is",
    "isis",
    "is-is",
    "clnp",
    "ifindex",
    "pppoed",
    "pppoes",
    "geneve",
    "llc",
    "radio",
    "type",
    "subtype",
    "dir",
    "ra",
    "ta",
    "addr1",
    "addr2",
    "addr3",
    "addr4",
    "on",
    "ifname",
    "rnr",
    "rulenum",
    "vpi",
];

/// Words that are keywords and never names.
fn is_keyword(w: &str) -> bool {
    Proto::from_keyword(w).is_some()
        || link_protocol(w).is_some()
        || matches!(
            w,
            "src"
                | "dst"
                | "host"
                | "net"
                | "mask"
                | "port"
                | "portrange"
                | "proto"
                | "broadcast"
                | "multicast"
                | "less"
                | "greater"
                | "len"
                | "length"
                | "and"
                | "or"
                | "not"
                | "vlan"
                | "mpls"
        )
        || UNSUPPORTED.contains(&w)
}

/// Parses a whole expression; `None` for an empty one (which matches all).
pub fn parse(tokens: &[Token], src_len: usize) -> Result<Option<Expr>, FilterError> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        toks: tokens,
        i: 0,
        end: src_len,
        depth: 0,
    };
    let (e, _) = p.expr()?;
    if p.i < tokens.len() {
        return Err(p.unexpected());
    }
    Ok(Some(e))
}

struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
    end: usize,
    depth: usize,
}

/// Nesting limit, so that hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 200;

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.i + n).map(|t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |t| t.pos)
    }

    fn unexpected(&self) -> FilterError {
        match self.toks.get(self.i) {
            None => FilterError::syntax(self.end, "unexpected end of expression"),
            Some(t) => FilterError::syntax(t.pos, format!("unexpected {}", describe(&t.tok))),
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(x)) if *x == p)
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), FilterError> {
        if self.is_punct(p) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::TooComplex {
                pos: self.pos(),
                message: "expression nested too deeply".into(),
            });
        }
        Ok(())
    }

    /// `and`/`&&` → Some(true), `or`/`||` → Some(false).
    fn conj(&self) -> Option<bool> {
        match self.peek()? {
            Tok::Word(w) if w == "and" => Some(true),
            Tok::Word(w) if w == "or" => Some(false),
            Tok::Punct("&&") => Some(true),
            Tok::Punct("||") => Some(false),
            _ => None,
        }
    }

    fn is_not(&self) -> bool {
        self.is_word("not") || self.is_punct("!")
    }

    /// expr: term ((and|or) (term | id))*, all left-associative.
    fn expr(&mut self) -> Result<(Expr, Option<Qual>), FilterError> {
        self.enter()?;
        let (mut e, mut q) = self.term()?;
        while let Some(is_and) = self.conj() {
            self.i += 1;
            let (r, q2) = self.term_or_id(q)?;
            e = if is_and {
                Expr::And(Box::new(e), Box::new(r))
            } else {
                Expr::Or(Box::new(e), Box::new(r))
            };
            q = q2;
        }
        self.depth -= 1;
        Ok((e, q))
    }

    /// After `and`/`or`: a full term, or an ID inheriting `q`.
    fn term_or_id(&mut self, q: Option<Qual>) -> Result<(Expr, Option<Qual>), FilterError> {
        let Some(q) = q else {
            if let Some(t) = self.toks.get(self.i) {
                let bare = match &t.tok {
                    Tok::Hid(..) | Tok::Hid6(_) | Tok::Eid(_) | Tok::Escaped(_) => true,
                    Tok::Num(_) => {
                        !matches!(self.peek_at(1), Some(Tok::Punct(p)) if !matches!(*p, "(" | ")" | "&&" | "||" | "!"))
                    }
                    _ => false,
                };
                if bare {
                    return Err(FilterError::syntax(
                        t.pos,
                        format!("{} has no qualifier to inherit (the term before it is not host, net, port or proto)", describe(&t.tok)),
                    ));
                }
            }
            return self.term();
        };
        let save = self.i;
        let mut n = 0;
        while matches!(self.peek_at(n), Some(Tok::Word(w)) if w == "not")
            || matches!(self.peek_at(n), Some(Tok::Punct("!")))
        {
            n += 1;
        }
        match self.peek_at(n) {
            Some(Tok::Hid(..) | Tok::Hid6(_) | Tok::Eid(_) | Tok::Escaped(_)) => {
                return Ok((self.id(q)?, Some(q)));
            }
            Some(Tok::Word(w)) if !is_keyword(w) => return Ok((self.id(q)?, Some(q))),
            Some(Tok::Num(_)) => {
                let next = self.peek_at(n + 1);
                let arith_follows = matches!(next, Some(Tok::Punct(p)) if !matches!(*p, "(" | ")" | "&&" | "||" | "!"));
                if !arith_follows {
                    return Ok((self.id(q)?, Some(q)));
                }
            }
            Some(Tok::Punct("(")) => {
                let depth = self.depth;
                if let Ok(r) = self.term() {
                    return Ok(r);
                }
                self.i = save;
                self.depth = depth;
                return Ok((self.id(q)?, Some(q)));
            }
            _ => {}
        }
        self.term()
    }

    /// term: not term | rterm.
    fn term(&mut self) -> Result<(Expr, Option<Qual>), FilterError> {
        self.enter()?;
        let r = if self.is_not() {
            self.i += 1;
            let (e, q) = self.term()?;
            (Expr::Not(Box::new(e)), q)
        } else {
            self.rterm()?
        };
        self.depth -= 1;
        Ok(r)
    }

    fn rterm(&mut self) -> Result<(Expr, Option<Qual>), FilterError> {
        let pos = self.pos();
        let prim = |kind| Expr::Prim(Prim { kind, pos });
        match self.peek().cloned() {
            None => Err(self.unexpected()),
            Some(Tok::Punct("(")) => {
                let (save, depth) = (self.i, self.depth);
                if let Ok(r) = self.relation() {
                    return Ok((r, None));
                }
                self.i = save + 1;
                self.depth = depth;
                let (e, q) = self.expr()?;
                self.expect_punct(")")?;
                Ok((e, q))
            }
            Some(Tok::Num(_) | Tok::Punct("-")) => Ok((self.relation()?, None)),
            Some(t @ (Tok::Hid(..) | Tok::Hid6(_) | Tok::Eid(_))) => Err(FilterError::syntax(
                pos,
                format!("{} needs a qualifier such as 'host' or 'net'", describe(&t)),
            )),
            Some(Tok::Word(w)) => {
                if UNSUPPORTED.contains(&w.as_str()) {
                    return Err(FilterError::invalid(
                        pos,
                        format!("'{w}' is not supported by oxbpf"),
                    ));
                }
                if let Some(proto) = Proto::from_keyword(&w) {
                    match self.peek_at(1) {
                        Some(Tok::Punct("[")) => return Ok((self.relation()?, None)),
                        Some(Tok::Word(n)) if n == "broadcast" => {
                            self.i += 2;
                            return Ok((prim(PrimKind::Broadcast(proto)), None));
                        }
                        Some(Tok::Word(n)) if n == "multicast" => {
                            self.i += 2;
                            return Ok((prim(PrimKind::Multicast(proto)), None));
                        }
                        Some(Tok::Word(n))
                            if is_dir(n)
                                || is_aqual(n)
                                || n == "proto"
                                || n == "protochain"
                                || n == "gateway" =>
                        {
                            self.i += 1;
                            return self.head_id(proto, pos);
                        }
                        _ => {
                            self.i += 1;
                            return Ok((prim(PrimKind::Proto(proto)), None));
                        }
                    }
                }
                if let Some(v) = link_protocol(&w) {
                    if let Some(Tok::Word(n)) = self.peek_at(1) {
                        if is_dir(n)
                            || is_aqual(n)
                            || n == "proto"
                            || n == "broadcast"
                            || n == "multicast"
                        {
                            return Err(FilterError::invalid(
                                pos,
                                format!("'{w}' as a qualifier is not supported by oxbpf"),
                            ));
                        }
                    }
                    self.i += 1;
                    return Ok((prim(PrimKind::LinkProto(v)), None));
                }
                match w.as_str() {
                    "inbound" | "outbound" => {
                        self.i += 1;
                        Ok((prim(PrimKind::Direction(w == "inbound")), None))
                    }
                    _ if is_dir(&w) || is_aqual(&w) || w == "proto" => {
                        self.head_id(Proto::Default, pos)
                    }
                    "broadcast" => {
                        self.i += 1;
                        Ok((prim(PrimKind::Broadcast(Proto::Default)), None))
                    }
                    "multicast" => {
                        self.i += 1;
                        Ok((prim(PrimKind::Multicast(Proto::Default)), None))
                    }
                    "less" | "greater" => {
                        self.i += 1;
                        let n = self.num()?;
                        let k = if w == "less" {
                            PrimKind::Less(n)
                        } else {
                            PrimKind::Greater(n)
                        };
                        Ok((prim(k), None))
                    }
                    "vlan" | "mpls" => {
                        self.i += 1;
                        let n = if matches!(self.peek(), Some(Tok::Num(_))) {
                            let at = self.pos();
                            Some((self.num()?, at))
                        } else {
                            None
                        };
                        let k = if w == "vlan" {
                            PrimKind::Vlan(n)
                        } else {
                            PrimKind::Mpls(n)
                        };
                        Ok((prim(k), None))
                    }
                    "len" | "length" => Ok((self.relation()?, None)),
                    _ => Err(self.unexpected()),
                }
            }
            Some(_) => Err(self.unexpected()),
        }
    }

    fn num(&mut self) -> Result<u32, FilterError> {
        match self.peek() {
            Some(Tok::Num(n)) => {
                let n = *n;
                self.i += 1;
                Ok(n)
            }
            _ => Err(self.unexpected()),
        }
    }

    /// head id, with the protocol qualifier (if any) already consumed.
    fn head_id(&mut self, proto: Proto, pos: usize) -> Result<(Expr, Option<Qual>), FilterError> {
        let mut dir = Dir::Default;
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            if is_dir(&w) {
                self.i += 1;
                dir = if w == "src" { Dir::Src } else { Dir::Dst };
                // `src or dst`, `dst and src`, ...
                if let (Some(is_and), Some(Tok::Word(w2))) = (self.conj(), self.peek_at(1)) {
                    if is_dir(w2) && *w2 != w {
                        self.i += 2;
                        dir = if is_and {
                            Dir::SrcAndDst
                        } else {
                            Dir::SrcOrDst
                        };
                    }
                }
            }
        }
        let mut addr = Addr::Default;
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            addr = match w.as_str() {
                "host" => Addr::Host,
                "net" => Addr::Net,
                "port" => Addr::Port,
                "portrange" => Addr::Portrange,
                "proto" => Addr::Proto,
                "gateway" => Addr::Gateway,
                "protochain" => {
                    return Err(FilterError::invalid(
                        self.pos(),
                        "'protochain' is not supported by oxbpf",
                    ));
                }
                _ => Addr::Default,
            };
            if addr != Addr::Default {
                self.i += 1;
            }
        }
        if addr == Addr::Gateway {
            return Err(FilterError::invalid(
                pos,
                "'gateway' is not supported by oxbpf (it needs name lookups)",
            ));
        }
        let q = Qual { proto, dir, addr };
        Ok((self.id(q)?, Some(q)))
    }

    /// id: not id | ( id ((and|or) id)* ) | NUM | HID[/NUM | mask HID] | HID6[/NUM] | EID | name.
    fn id(&mut self, q: Qual) -> Result<Expr, FilterError> {
        self.enter()?;
        let pos = self.pos();
        let prim = |val| {
            Expr::Prim(Prim {
                kind: PrimKind::Id { q, val },
                pos,
            })
        };
        let r = match self.peek().cloned() {
            Some(Tok::Word(w)) if w == "not" => {
                self.i += 1;
                Expr::Not(Box::new(self.id(q)?))
            }
            Some(Tok::Punct("!")) => {
                self.i += 1;
                Expr::Not(Box::new(self.id(q)?))
            }
            Some(Tok::Punct("(")) => {
                self.i += 1;
                let mut e = self.id(q)?;
                while let Some(is_and) = self.conj() {
                    self.i += 1;
                    let r = self.id(q)?;
                    e = if is_and {
                        Expr::And(Box::new(e), Box::new(r))
                    } else {
                        Expr::Or(Box::new(e), Box::new(r))
                    };
                }
                self.expect_punct(")")?;
                e
            }
            Some(Tok::Num(n)) => {
                self.i += 1;
                prim(IdVal::Num(n))
            }
            Some(Tok::Hid(value, bits)) => {
                self.i += 1;
                if self.is_punct("/") {
                    self.i += 1;
                    let len_pos = self.pos();
                    let len = self.num()?;
                    if len > 32 {
                        return Err(FilterError::invalid(
                            len_pos,
                            format!("mask length must be <= 32, not {len}"),
                        ));
                    }
                    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                    let text = format!("{}/{len}", dotted(value, bits));
                    prim(IdVal::V4Masked {
                        value,
                        bits,
                        mask,
                        text,
                    })
                } else if self.is_word("mask") {
                    self.i += 1;
                    match self.peek().cloned() {
                        Some(Tok::Hid(m, mbits)) => {
                            self.i += 1;
                            let mask = m << (32 - mbits);
                            let text = format!("{} mask {}", dotted(value, bits), dotted(m, mbits));
                            prim(IdVal::V4Masked {
                                value,
                                bits,
                                mask,
                                text,
                            })
                        }
                        _ => return Err(self.unexpected()),
                    }
                } else {
                    prim(IdVal::V4 { value, bits })
                }
            }
            Some(Tok::Hid6(addr)) => {
                self.i += 1;
                let prefix = if self.is_punct("/") {
                    self.i += 1;
                    let len_pos = self.pos();
                    let len = self.num()?;
                    if len > 128 {
                        return Err(FilterError::invalid(
                            len_pos,
                            format!("mask length must be <= 128, not {len}"),
                        ));
                    }
                    Some(len)
                } else {
                    None
                };
                prim(IdVal::V6 { addr, prefix })
            }
            Some(Tok::Eid(mac)) => {
                self.i += 1;
                prim(IdVal::Mac(mac))
            }
            Some(Tok::Escaped(w)) => {
                self.i += 1;
                prim(IdVal::Name(w))
            }
            Some(Tok::Word(w)) if !is_keyword(&w) => {
                self.i += 1;
                prim(IdVal::Name(w))
            }
            _ => return Err(self.unexpected()),
        };
        self.depth -= 1;
        Ok(r)
    }

    /// arith relop arith.
    fn relation(&mut self) -> Result<Expr, FilterError> {
        let pos = self.pos();
        let lhs = self.arith(0)?;
        let op = match self.peek() {
            Some(Tok::Punct(">")) => RelOp::Gt,
            Some(Tok::Punct(">=")) => RelOp::Ge,
            Some(Tok::Punct("<")) => RelOp::Lt,
            Some(Tok::Punct("<=")) => RelOp::Le,
            Some(Tok::Punct("=" | "==")) => RelOp::Eq,
            Some(Tok::Punct("!=")) => RelOp::Ne,
            _ => return Err(self.unexpected()),
        };
        self.i += 1;
        let rhs = self.arith(0)?;
        Ok(Expr::Prim(Prim {
            kind: PrimKind::Rel { op, lhs, rhs },
            pos,
        }))
    }

    /// Binary arithmetic by precedence climbing. `^` and `%` have no
    /// precedence in libpcap's grammar, so bison shifts: they take the whole
    /// rest of the arithmetic expression as their right operand.
    fn arith(&mut self, min_prec: u8) -> Result<Arith, FilterError> {
        self.enter()?;
        let mut lhs = self.unary()?;
        loop {
            let pos = self.pos();
            let Some(Tok::Punct(p)) = self.peek() else {
                break;
            };
            let (op, prec) = match *p {
                "|" => (ArOp::Or, 1),
                "&" => (ArOp::And, 2),
                "<<" => (ArOp::Lsh, 3),
                ">>" => (ArOp::Rsh, 3),
                "+" => (ArOp::Add, 4),
                "-" => (ArOp::Sub, 4),
                "*" => (ArOp::Mul, 5),
                "/" => (ArOp::Div, 5),
                "^" => (ArOp::Xor, 0),
                "%" => (ArOp::Mod, 0),
                _ => break,
            };
            if prec == 0 {
                self.i += 1;
                let rhs = self.arith(0)?;
                lhs = Arith::Bin(op, Box::new(lhs), Box::new(rhs), pos);
                continue;
            }
            if prec < min_prec {
                break;
            }
            self.i += 1;
            let rhs = self.arith(prec + 1)?;
            lhs = Arith::Bin(op, Box::new(lhs), Box::new(rhs), pos);
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Arith, FilterError> {
        self.enter()?;
        let r = if self.is_punct("-") {
            self.i += 1;
            let mut operand = self.unary()?;
            while let Some(Tok::Punct(p @ ("^" | "%"))) = self.peek() {
                let op = if *p == "^" { ArOp::Xor } else { ArOp::Mod };
                let pos = self.pos();
                self.i += 1;
                let rhs = self.arith(0)?;
                operand = Arith::Bin(op, Box::new(operand), Box::new(rhs), pos);
            }
            Arith::Neg(Box::new(operand))
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(r)
    }

    fn primary(&mut self) -> Result<Arith, FilterError> {
        let pos = self.pos();
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.i += 1;
                Ok(Arith::Num(n))
            }
            Some(Tok::Punct("(")) => {
                self.i += 1;
                let a = self.arith(0)?;
                self.expect_punct(")")?;
                Ok(a)
            }
            Some(Tok::Word(w)) if w == "len" || w == "length" => {
                self.i += 1;
                Ok(Arith::Len)
            }
            Some(Tok::Word(w)) => {
                let Some(proto) = Proto::from_keyword(&w) else {
                    return Err(self.unexpected());
                };
                self.i += 1;
                self.expect_punct("[")?;
                let index = self.arith(0)?;
                let mut size = 1;
                if self.is_punct(":") {
                    self.i += 1;
                    let size_pos = self.pos();
                    size = self.num()?;
                    if !matches!(size, 1 | 2 | 4) {
                        return Err(FilterError::invalid(
                            size_pos,
                            "data size must be 1, 2, or 4",
                        ));
                    }
                }
                self.expect_punct("]")?;
                Ok(Arith::Load {
                    proto,
                    index: Box::new(index),
                    size,
                    pos,
                })
            }
            _ => Err(self.unexpected()),
        }
    }
}

/// Link-level protocol names that are only primitives (never qualifiers
/// here): their Ethernet type or 802.2 LLC SAP, as libpcap's gen_linktype
/// takes them.
pub fn link_protocol(w: &str) -> Option<u32> {
    Some(match w {
        "decnet" => 0x6003,
        "lat" => 0x6004,
        "sca" => 0x6007,
        "moprc" => 0x6002,
        "mopdl" => 0x6001,
        "atalk" => 0x809b,
        "aarp" => 0x80f3,
        "stp" => 0x42,
        "ipx" => 0xe0,
        "netbeui" => 0xf0,
        "iso" => 0xfe,
        _ => return None,
    })
}

fn is_dir(w: &str) -> bool {
    w == "src" || w == "dst"
}

fn is_aqual(w: &str) -> bool {
    matches!(w, "host" | "net" | "port" | "portrange")
}

fn dotted(value: u32, bits: u32) -> String {
    let n = (bits / 8) as usize;
    let bytes = value.to_be_bytes();
    bytes[4 - n..]
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("number {n}"),
        Tok::Hid(v, b) => format!("address {}", dotted(*v, *b)),
        Tok::Hid6(a) => format!("address {a}"),
        Tok::Eid(m) => format!(
            "address {}",
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        ),
        Tok::Word(w) => format!("'{w}'"),
        Tok::Escaped(w) => format!("'\\{w}'"),
        Tok::Punct(p) => format!("'{p}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::lex;

    fn ast(s: &str) -> Expr {
        parse(&lex(s).unwrap(), s.len()).unwrap().unwrap()
    }

    fn err_col(s: &str) -> usize {
        match lex(s).and_then(|t| parse(&t, s.len())) {
            Ok(e) => panic!("{s:?} parsed: {e:?}"),
            Err(e) => e.column(),
        }
    }

    /// A compact rendering: ids as `proto/dir/addr:value`.
    fn show(e: &Expr) -> String {
        match e {
            Expr::And(a, b) => format!("({} & {})", show(a), show(b)),
            Expr::Or(a, b) => format!("({} | {})", show(a), show(b)),
            Expr::Not(a) => format!("!{}", show(a)),
            Expr::Prim(p) => match &p.kind {
                PrimKind::Id { q, val } => {
                    let v = match val {
                        IdVal::Num(n) => n.to_string(),
                        IdVal::V4 { value, bits } => dotted(*value, *bits),
                        IdVal::Name(n) => n.clone(),
                        other => format!("{other:?}"),
                    };
                    format!("{}/{:?}/{:?}:{v}", q.proto.name(), q.dir, q.addr)
                }
                PrimKind::Proto(p) => p.name().to_string(),
                PrimKind::Rel { op, lhs, rhs } => format!("[{} {op:?} {}]", arith(lhs), arith(rhs)),
                other => format!("{other:?}"),
            },
        }
    }

    fn arith(a: &Arith) -> String {
        match a {
            Arith::Num(n) => n.to_string(),
            Arith::Len => "len".into(),
            Arith::Load {
                proto, index, size, ..
            } => format!("{}[{}:{size}]", proto.name(), arith(index)),
            Arith::Bin(o, a, b, _) => format!("({} {o:?} {})", arith(a), arith(b)),
            Arith::Neg(a) => format!("-{}", arith(a)),
        }
    }

    #[test]
    fn ids_inherit_the_previous_qualifiers() {
        for (src, want) in [
            (
                "host 1.2.3.4 or 5.6.7.8",
                "(default/Default/Host:1.2.3.4 | default/Default/Host:5.6.7.8)",
            ),
            (
                "tcp dst port 21 or 80",
                "(tcp/Dst/Port:21 | tcp/Dst/Port:80)",
            ),
            (
                "host 1.2.3.4 and not 5.6.7.8",
                "(default/Default/Host:1.2.3.4 & !default/Default/Host:5.6.7.8)",
            ),
            (
                "port 80 or (81 or 82)",
                "(default/Default/Port:80 | (default/Default/Port:81 | default/Default/Port:82))",
            ),
            (
                "host 10.0.0.1 or tcp",
                "(default/Default/Host:10.0.0.1 | tcp)",
            ),
            ("src or dst port http", "default/SrcOrDst/Port:http"),
            ("ether proto \\arp", "link/Default/Proto:arp"),
        ] {
            assert_eq!(show(&ast(src)), want, "{src}");
        }
    }

    #[test]
    fn and_or_are_equal_and_left_associative_and_not_binds_tighter() {
        for (src, want) in [
            ("tcp or udp and icmp", "((tcp | udp) & icmp)"),
            ("tcp and udp or icmp", "((tcp & udp) | icmp)"),
            ("not tcp or udp", "(!tcp | udp)"),
            ("not (tcp or udp)", "!(tcp | udp)"),
            ("! tcp && ! udp || icmp", "((!tcp & !udp) | icmp)"),
        ] {
            assert_eq!(show(&ast(src)), want, "{src}");
        }
    }

    #[test]
    fn arithmetic_follows_libpcap_precedence() {
        for (src, want) in [
            ("ip[0] + 1 * 2 = 3", "[(ip[0:1] Add (1 Mul 2)) Eq 3]"),
            ("ip[0] - 1 - 2 = 3", "[((ip[0:1] Sub 1) Sub 2) Eq 3]"),
            ("ip[0] & 0xf << 2 = 3", "[(ip[0:1] And (15 Lsh 2)) Eq 3]"),
            ("ip[0] | 1 & 2 = 3", "[(ip[0:1] Or (1 And 2)) Eq 3]"),
            // `^` and `%` have no precedence in grammar.y: bison shifts.
            ("ip[0] ^ 1 & 3 = 2", "[(ip[0:1] Xor (1 And 3)) Eq 2]"),
            ("ip[0] % 3 * 2 = 2", "[(ip[0:1] Mod (3 Mul 2)) Eq 2]"),
            ("(ip[0] + 1) * 2 > len", "[((ip[0:1] Add 1) Mul 2) Gt len]"),
            ("tcp[tcpflags] & tcp-syn != 0", "[(tcp[13:1] And 2) Ne 0]"),
            ("ip[2:2] >= -1", "[ip[2:2] Ge -1]"),
        ] {
            assert_eq!(show(&ast(src)), want, "{src}");
        }
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        for (src, col) in [
            ("tcp or 80", 8),
            ("port 80 80", 9),
            ("10.0.0.1", 1),
            ("ip and", 7),
            ("tcp)", 4),
            ("ip[0:3] = 1", 6),
            ("host 1.2.3.4 and and", 18),
            ("net 10.0.0.0/40", 14),
        ] {
            assert_eq!(err_col(src), col, "{src}");
        }
    }
}
