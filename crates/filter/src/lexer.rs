//! Splits a filter expression into tokens, each with its byte offset.

use crate::error::FilterError;
use std::net::Ipv6Addr;

/// One token of the filter language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A number (decimal, `0x` hex or leading-zero octal), including the
    /// named constants such as `tcpflags` and `icmp-echo`.
    Num(u32),
    /// A dotted IPv4 address or prefix with 1 to 4 parts, and its bit length.
    Hid(u32, u32),
    /// An IPv6 address.
    Hid6(Ipv6Addr),
    /// A 48-bit Ethernet address.
    Eid([u8; 6]),
    /// A name: a keyword, a service, a protocol, or a `\`-escaped word.
    Word(String),
    /// A `\`-escaped word, always a name and never a keyword.
    Escaped(String),
    /// Punctuation or an operator, as written (`(`, `&&`, `<=`, ...).
    Punct(&'static str),
}

/// A token and the byte offset where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What was read.
    pub tok: Tok,
    /// Byte offset in the expression.
    pub pos: usize,
}

const PUNCTS: [&str; 25] = [
    "&&", "||", "<<", ">>", "<=", ">=", "==", "!=", "(", ")", "[", "]", ":", "+", "-", "*", "/",
    "%", "&", "|", "^", "!", "<", ">", "=",
];

/// Named numbers of the language (libpcap's lexer turns these into numbers).
fn named_number(w: &str) -> Option<u32> {
    Some(match w {
        "icmptype" | "icmp6type" => 0,
        "icmpcode" | "icmp6code" => 1,
        "tcpflags" => 13,
        "tcp-fin" => 0x01,
        "tcp-syn" => 0x02,
        "tcp-rst" => 0x04,
        "tcp-push" => 0x08,
        "tcp-ack" => 0x10,
        "tcp-urg" => 0x20,
        "tcp-ece" => 0x40,
        "tcp-cwr" => 0x80,
        "icmp-echoreply" => 0,
        "icmp-unreach" => 3,
        "icmp-sourcequench" => 4,
        "icmp-redirect" => 5,
        "icmp-echo" => 8,
        "icmp-routeradvert" => 9,
        "icmp-routersolicit" => 10,
        "icmp-timxceed" => 11,
        "icmp-paramprob" => 12,
        "icmp-tstamp" => 13,
        "icmp-tstampreply" => 14,
        "icmp-ireq" => 15,
        "icmp-ireqreply" => 16,
        "icmp-maskreq" => 17,
        "icmp-maskreply" => 18,
        "icmp6-destinationunreach" => 1,
        "icmp6-packettoobig" => 2,
        "icmp6-timeexceeded" => 3,
        "icmp6-parameterproblem" => 4,
        "icmp6-echo" => 128,
        "icmp6-echoreply" => 129,
        "icmp6-multicastlistenerquery" => 130,
        "icmp6-multicastlistenerreportv1" => 131,
        "icmp6-multicastlistenerdone" => 132,
        "icmp6-routersolicit" => 133,
        "icmp6-routeradvert" => 134,
        "icmp6-neighborsolicit" => 135,
        "icmp6-neighboradvert" => 136,
        "icmp6-redirect" => 137,
        "icmp6-routerrenum" => 138,
        "icmp6-nodeinformationquery" => 139,
        "icmp6-nodeinformationresponse" => 140,
        "icmp6-ineighbordiscoverysolicit" => 141,
        "icmp6-ineighbordiscoveryadvert" => 142,
        "icmp6-multicastlistenerreportv2" => 143,
        "icmp6-homeagentdiscoveryrequest" => 144,
        "icmp6-homeagentdiscoveryreply" => 145,
        "icmp6-mobileprefixsolicit" => 146,
        "icmp6-mobileprefixadvert" => 147,
        "icmp6-certpathsolicit" => 148,
        "icmp6-certpathadvert" => 149,
        "icmp6-multicastrouteradvert" => 151,
        "icmp6-multicastroutersolicit" => 152,
        "icmp6-multicastrouterterm" => 153,
        _ => return None,
    })
}

/// Parses a number as libpcap does: `0x` hex, leading `0` octal, else decimal.
pub fn parse_number(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() {
            return None;
        }
        u32::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

/// Reads a MAC address written as six 1-2 digit hex groups split by `:`.
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *m = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// Reads the other MAC forms libpcap's lexer has: six groups split by `-`
/// or `.`, three 4-digit groups split by `.`, or 12 bare hex digits.
fn parse_mac_word(w: &str) -> Option<[u8; 6]> {
    let hex = |p: &str, max: usize| {
        !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let mut mac = [0u8; 6];
    if w.len() == 12 && hex(w, 12) {
        for (i, m) in mac.iter_mut().enumerate() {
            *m = u8::from_str_radix(&w[2 * i..2 * i + 2], 16).ok()?;
        }
        return Some(mac);
    }
    for sep in ['-', '.'] {
        let parts: Vec<&str> = w.split(sep).collect();
        if parts.len() == 6 && parts.iter().all(|p| hex(p, 2)) {
            for (m, p) in mac.iter_mut().zip(&parts) {
                *m = u8::from_str_radix(p, 16).ok()?;
            }
            return Some(mac);
        }
    }
    let parts: Vec<&str> = w.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|p| p.len() == 4 && hex(p, 4)) {
        for (i, p) in parts.iter().enumerate() {
            mac[2 * i] = u8::from_str_radix(&p[..2], 16).ok()?;
            mac[2 * i + 1] = u8::from_str_radix(&p[2..], 16).ok()?;
        }
        return Some(mac);
    }
    None
}

/// Reads a dotted IPv4 address of 1 to 4 numeric parts, left-aligned as
/// libpcap's `__pcap_atoin` does, returning (value, bits).
fn parse_dotted(s: &str) -> Option<(u32, u32)> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() < 2 || parts.len() > 4 {
        return None;
    }
    let mut v: u32 = 0;
    for p in &parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
            return None;
        }
        let n: u32 = p.parse().ok()?;
        if n > 255 {
            return None;
        }
        v = (v << 8) | n;
    }
    Some((v, parts.len() as u32 * 8))
}

/// Splits `src` into tokens.
pub fn lex(src: &str) -> Result<Vec<Token>, FilterError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b == b'\\' {
            let start = i;
            i += 1;
            let s = i;
            while i < bytes.len() && !b" !()\n\t\r".contains(&bytes[i]) {
                i += 1;
            }
            if i == s {
                return Err(FilterError::syntax(
                    start,
                    "'\\' must be followed by a name",
                ));
            }
            out.push(Token {
                tok: Tok::Escaped(src[s..i].to_string()),
                pos: start,
            });
            continue;
        }
        // An address with colons: IPv6 or a MAC.
        if b.is_ascii_hexdigit() || b == b':' {
            let mut j = i;
            while j < bytes.len()
                && (bytes[j].is_ascii_hexdigit() || bytes[j] == b':' || bytes[j] == b'.')
            {
                j += 1;
            }
            let cand = &src[i..j];
            if cand.contains(':') {
                // Longest prefix that is an address (so `2:2]` in `ip[2:2]` is not one).
                if let Some(mac) = parse_mac(cand) {
                    out.push(Token {
                        tok: Tok::Eid(mac),
                        pos: i,
                    });
                    i = j;
                    continue;
                }
                if cand.contains("::") || cand.matches(':').count() == 7 {
                    if let Ok(a) = cand.parse::<Ipv6Addr>() {
                        out.push(Token {
                            tok: Tok::Hid6(a),
                            pos: i,
                        });
                        i = j;
                        continue;
                    }
                    if cand.starts_with(':') || cand.matches(':').count() >= 2 {
                        return Err(FilterError::syntax(i, format!("bad IPv6 address {cand:?}")));
                    }
                }
            }
        }
        if b.is_ascii_alphanumeric() {
            let start = i;
            while i < bytes.len() && is_word_byte(bytes[i]) {
                i += 1;
            }
            // libpcap's ID rule does not end a word with '-' or '_'.
            while i > start + 1 && matches!(bytes[i - 1], b'-' | b'_') {
                i -= 1;
            }
            let w = &src[start..i];
            let tok = if let Some(n) = named_number(w) {
                Tok::Num(n)
            } else if let Some(mac) = parse_mac_word(w) {
                Tok::Eid(mac)
            } else if w.bytes().next().is_some_and(|c| c.is_ascii_digit())
                && w.bytes().all(|c| c.is_ascii_alphanumeric())
            {
                match parse_number(w) {
                    Some(n) => Tok::Num(n),
                    None => return Err(FilterError::syntax(start, format!("bad number {w:?}"))),
                }
            } else if let Some((v, bits)) = parse_dotted(w) {
                Tok::Hid(v, bits)
            } else {
                Tok::Word(w.to_string())
            };
            out.push(Token { tok, pos: start });
            continue;
        }
        match PUNCTS.iter().find(|p| src[i..].starts_with(**p)) {
            Some(p) => {
                out.push(Token {
                    tok: Tok::Punct(p),
                    pos: i,
                });
                i += p.len();
            }
            None => {
                let c = src[i..].chars().next().unwrap_or('?');
                return Err(FilterError::syntax(
                    i,
                    format!("unexpected character {c:?}"),
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_addresses_numbers_and_operators() {
        assert_eq!(
            toks("ip[2:2] >= 0x10"),
            vec![
                Tok::Word("ip".into()),
                Tok::Punct("["),
                Tok::Num(2),
                Tok::Punct(":"),
                Tok::Num(2),
                Tok::Punct("]"),
                Tok::Punct(">="),
                Tok::Num(16)
            ]
        );
        assert_eq!(toks("010"), vec![Tok::Num(8)]);
        assert_eq!(toks("10.1"), vec![Tok::Hid(0x0a01, 16)]);
        assert_eq!(toks("1:2:3:4:5:6"), vec![Tok::Eid([1, 2, 3, 4, 5, 6])]);
        let m = Tok::Eid([0, 0x11, 0x22, 0x33, 0x44, 0x55]);
        for form in [
            "00-11-22-33-44-55",
            "0011.2233.4455",
            "00.11.22.33.44.55",
            "001122334455",
        ] {
            assert_eq!(toks(form), vec![m.clone()], "{form}");
        }
        assert_eq!(toks("::1"), vec![Tok::Hid6(Ipv6Addr::LOCALHOST)]);
        assert_eq!(toks("tcp-syn"), vec![Tok::Num(2)]);
        assert_eq!(toks("10-20"), vec![Tok::Word("10-20".into())]);
        assert_eq!(toks("\\tcp"), vec![Tok::Escaped("tcp".into())]);
        assert_eq!(
            toks("!a&&b"),
            vec![
                Tok::Punct("!"),
                Tok::Word("a".into()),
                Tok::Punct("&&"),
                Tok::Word("b".into())
            ]
        );
    }

    #[test]
    fn bad_characters_name_their_offset() {
        let e = lex("ip and $").unwrap_err();
        assert_eq!(e.column(), 8);
    }
}
