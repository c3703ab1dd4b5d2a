//! C printf semantics for the conversions bpftrace accepts, on 64-bit
//! integers and strings.

use crate::types::{Piece, Spec};

/// One printf argument as the event carried it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    Int(u64),
    Str(String),
}

/// Formats `pieces` with `args` (one per conversion, checked at compile time).
pub fn format(pieces: &[Piece], args: &[Arg]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Spec(s) => {
                let a = args.next().cloned().unwrap_or(Arg::Int(0));
                out.push_str(&conversion(s, &a));
            }
        }
    }
    out
}

fn truncate(v: u64, bytes: usize) -> u64 {
    if bytes >= 8 {
        v
    } else {
        v & ((1u64 << (8 * bytes)) - 1)
    }
}

fn sign_extend(v: u64, bytes: usize) -> i64 {
    if bytes >= 8 {
        v as i64
    } else {
        let shift = 64 - 8 * bytes;
        ((v << shift) as i64) >> shift
    }
}

/// One conversion with its flags, width and precision.
pub fn conversion(s: &Spec, a: &Arg) -> String {
    let v = match a {
        Arg::Int(v) => *v,
        Arg::Str(text) => {
            let text: String = match s.precision {
                Some(p) => text.chars().take(p).collect(),
                None => text.clone(),
            };
            return pad(s, "", &text, false);
        }
    };
    let (sign, digits) = match s.conv {
        'd' | 'i' => {
            let n = sign_extend(v, s.int_bytes);
            let sign = if n < 0 {
                "-"
            } else if s.plus {
                "+"
            } else if s.space {
                " "
            } else {
                ""
            };
            (sign.to_string(), n.unsigned_abs().to_string())
        }
        'u' => (String::new(), truncate(v, s.int_bytes).to_string()),
        'x' => {
            let t = truncate(v, s.int_bytes);
            (
                if s.alt && t != 0 { "0x" } else { "" }.into(),
                format!("{t:x}"),
            )
        }
        'X' => {
            let t = truncate(v, s.int_bytes);
            (
                if s.alt && t != 0 { "0X" } else { "" }.into(),
                format!("{t:X}"),
            )
        }
        'o' => {
            let t = truncate(v, s.int_bytes);
            (
                if s.alt && t != 0 { "0" } else { "" }.into(),
                format!("{t:o}"),
            )
        }
        'p' => ("0x".into(), format!("{v:x}")),
        'c' => return pad(s, "", &((v as u8) as char).to_string(), false),
        _ => (String::new(), v.to_string()),
    };
    let digits = match s.precision {
        Some(0) if digits == "0" => String::new(),
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    pad(s, &sign, &digits, s.precision.is_none())
}

/// Pads `sign` + `body` to the width: left-justified, zero-filled (numbers) or right-justified.
fn pad(s: &Spec, sign: &str, body: &str, zero_ok: bool) -> String {
    let len = sign.chars().count() + body.chars().count();
    let width = s.width.unwrap_or(0);
    if len >= width {
        return format!("{sign}{body}");
    }
    let fill = width - len;
    if s.left {
        format!("{sign}{body}{}", " ".repeat(fill))
    } else if s.zero && zero_ok && s.conv != 's' && s.conv != 'c' {
        format!("{sign}{}{body}", "0".repeat(fill))
    } else {
        format!("{}{sign}{body}", " ".repeat(fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::parse_format;

    fn f(fmt: &str, args: &[Arg]) -> String {
        format(&parse_format(fmt).unwrap(), args)
    }

    #[test]
    fn matches_c_printf() {
        use Arg::*;
        let neg = |n: i64| Int(n as u64);
        for (fmt, args, want) in [
            ("[%d]", vec![neg(-5)], "[-5]"),
            ("[%5d]", vec![Int(42)], "[   42]"),
            ("[%-5d|]", vec![Int(42)], "[42   |]"),
            ("[%05d]", vec![Int(42)], "[00042]"),
            (
                "[%x] [%X] [%#x]",
                vec![Int(255), Int(255), Int(255)],
                "[ff] [FF] [0xff]",
            ),
            (
                "[%s] [%-8s|] [%8s]",
                vec![Str("hi".into()), Str("ab".into()), Str("cd".into())],
                "[hi] [ab      |] [      cd]",
            ),
            ("[%c]", vec![Int(65)], "[A]"),
            ("[%lu]", vec![neg(-1)], "[18446744073709551615]"),
            ("[%u]", vec![neg(-1)], "[4294967295]"),
            ("%d %d", vec![Int(4294967297), neg(-4294967297)], "1 -1"),
            (
                "%ld %lld",
                vec![Int(4294967297), neg(-4294967297)],
                "4294967297 -4294967297",
            ),
            (
                "100%% %.3s|%.5d",
                vec![Str("abcdef".into()), Int(42)],
                "100% abc|00042",
            ),
            ("%hhd %hu", vec![Int(0x1ff), Int(0x12345)], "-1 9029"),
            ("%+d % d", vec![Int(3), Int(3)], "+3  3"),
        ] {
            assert_eq!(f(fmt, &args), want, "{fmt}");
        }
    }
}
