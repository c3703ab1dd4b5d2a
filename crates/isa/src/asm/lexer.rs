//! Splitting one line of assembly into tokens with their columns.

/// One token and the 1-based column where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub column: usize,
}

/// Token kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A name: mnemonic, register (`r1`, `w1`, `%r1`), label or keyword.
    Ident(String),
    /// An unsigned number, decimal or `0x` hex; a leading minus is a separate token.
    Num(u128),
    /// Punctuation, longest match first: `<<=`, `==`, `+=`, `(`, ...
    Punct(&'static str),
}

const PUNCTS: [&str; 30] = [
    "<<=", ">>=", "==", "!=", ">=", "<=", "+=", "-=", "*=", "/=", "|=", "&=", "%=", "^=", "<<",
    ">>", "=", "<", ">", "+", "-", "*", "/", "|", "&", "%", "^", "(", ")", ",",
];

const MORE_PUNCTS: [&str; 4] = ["[", "]", ":", "!"];

/// Tokenizes `line`; on failure returns the column and a message.
pub(crate) fn tokenize(line: &str) -> Result<Vec<Token>, (usize, String)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let column = line[..i].chars().count() + 1;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let is_ident_start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b'.';
        let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
        if is_ident_start(c) || (c == b'%' && i + 1 < bytes.len() && is_ident_start(bytes[i + 1])) {
            let start = i;
            i += 1;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            out.push(Token {
                kind: Tok::Ident(line[start..i].to_string()),
                column,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let text = line[start..i].replace('_', "");
            let parsed =
                if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                    u128::from_str_radix(hex, 16)
                } else {
                    text.parse::<u128>()
                };
            let n =
                parsed.map_err(|_| (column, format!("invalid number `{}`", &line[start..i])))?;
            out.push(Token {
                kind: Tok::Num(n),
                column,
            });
            continue;
        }
        let rest = &line[i..];
        let Some(p) = PUNCTS
            .iter()
            .chain(MORE_PUNCTS.iter())
            .find(|p| rest.starts_with(**p))
        else {
            let ch = rest.chars().next().unwrap_or('?');
            return Err((column, format!("unexpected character `{ch}`")));
        };
        out.push(Token {
            kind: Tok::Punct(p),
            column,
        });
        i += p.len();
    }
    Ok(out)
}
