//! The tokenizer: identifiers, `$variables`, `@maps`, numbers, strings and
//! operators, with `//` and `/* */` comments skipped. Probe specifications
//! (`uprobe:/bin/bash:readline`) are read raw, on the parser's request.

use crate::error::{Span, TraceError};

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A name: keywords, builtins, functions, probe types.
    Ident(String),
    /// `$name`.
    Var(String),
    /// `$1`, `$2`, ...
    Positional(u32),
    /// `$#`.
    PosCount,
    /// `@name`, or `@` alone (the name is empty).
    Map(String),
    /// An integer literal.
    Int(u64),
    /// A string literal with its escapes resolved.
    Str(String),
    /// Operators and punctuation.
    Punct(&'static str),
    /// The end of the script.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Var(s) => format!("`${s}`"),
            Tok::Positional(n) => format!("`${n}`"),
            Tok::PosCount => "`$#`".into(),
            Tok::Map(s) => format!("`@{s}`"),
            Tok::Int(n) => format!("`{n}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "the end of the script".into(),
        }
    }
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
    /// Byte offset of the token's first character.
    pub start: usize,
}

/// Operators, longest first so that `<<=` wins over `<<` and `<`.
const PUNCT: &[&str] = &[
    "<<=", ">>=", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "->", "++", "--", "+=", "-=",
    "*=", "/=", "%=", "&=", "|=", "^=", "{", "}", "(", ")", "[", "]", ";", ",", ":", "?", "=", "<",
    ">", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", ".",
];

/// A position-based tokenizer over one script.
#[derive(Clone)]
pub struct Lexer<'s> {
    src: &'s str,
    /// Byte offset of the next character.
    pub pos: usize,
    line: u32,
    col: u32,
}

impl<'s> Lexer<'s> {
    /// A lexer at the start of `src`.
    pub fn new(src: &'s str) -> Lexer<'s> {
        Lexer {
            src,
            pos: 0,
            line: 1,
            col: 1,
        }
    }

    /// Moves back to the start of `t`, a token this lexer returned.
    pub fn rewind(&mut self, t: &Token) {
        self.pos = t.start;
        self.line = t.span.line;
        self.col = t.span.col;
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn here(&self) -> Span {
        Span::new(self.line, self.col, 1)
    }

    fn skip_trivia(&mut self) -> Result<(), TraceError> {
        // A script file may start with `#!/usr/bin/env bpftrace`.
        if self.pos == 0 && self.src.starts_with("#!") {
            while self.peek_char().is_some_and(|c| c != '\n') {
                self.bump();
            }
        }
        loop {
            match (self.peek_char(), self.peek_at(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while let Some(c) = self.peek_char() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let span = self.here();
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek_char(), self.peek_at(1)) {
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            (Some(_), _) => {
                                self.bump();
                            }
                            (None, _) => {
                                return Err(TraceError::Lex {
                                    span,
                                    message: "unterminated comment".into(),
                                })
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek_char().is_some_and(&f) {
            self.bump();
        }
        self.src[start..self.pos].to_string()
    }

    /// The next token.
    pub fn next_token(&mut self) -> Result<Token, TraceError> {
        self.skip_trivia()?;
        let start = self.pos;
        let (line, col) = (self.line, self.col);
        let tok = self.scan()?;
        let len = self.src[start..self.pos].chars().count().max(1) as u32;
        Ok(Token {
            tok,
            span: Span::new(line, col, len),
            start,
        })
    }

    fn scan(&mut self) -> Result<Tok, TraceError> {
        let span = self.here();
        let Some(c) = self.peek_char() else {
            return Ok(Tok::Eof);
        };
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if c.is_ascii_alphabetic() || c == '_' {
            return Ok(Tok::Ident(self.take_while(ident)));
        }
        if c.is_ascii_digit() {
            return self.number(span);
        }
        match c {
            '$' => {
                self.bump();
                match self.peek_char() {
                    Some('#') => {
                        self.bump();
                        Ok(Tok::PosCount)
                    }
                    Some(d) if d.is_ascii_digit() => {
                        let digits = self.take_while(|c| c.is_ascii_digit());
                        match digits.parse::<u32>() {
                            Ok(n) if n > 0 => Ok(Tok::Positional(n)),
                            _ => Err(TraceError::Lex {
                                span,
                                message: format!("bad positional parameter `${digits}`"),
                            }),
                        }
                    }
                    Some(d) if d.is_ascii_alphabetic() || d == '_' => {
                        Ok(Tok::Var(self.take_while(ident)))
                    }
                    _ => Err(TraceError::Lex {
                        span,
                        message: "`$` must start a variable such as `$x` or `$1`".into(),
                    }),
                }
            }
            '@' => {
                self.bump();
                Ok(Tok::Map(self.take_while(ident)))
            }
            '"' => self.string(span),
            '\'' => {
                self.bump();
                let ch = match self.bump() {
                    Some('\\') => self.escape(span)?,
                    Some(ch) if ch != '\'' => ch,
                    _ => {
                        return Err(TraceError::Lex {
                            span,
                            message: "empty character literal".into(),
                        })
                    }
                };
                if self.bump() != Some('\'') || !ch.is_ascii() {
                    return Err(TraceError::Lex {
                        span,
                        message: "a character literal holds one ASCII character".into(),
                    });
                }
                Ok(Tok::Int(ch as u64))
            }
            _ => {
                let rest = &self.src[self.pos..];
                for p in PUNCT {
                    if rest.starts_with(p) {
                        for _ in 0..p.len() {
                            self.bump();
                        }
                        return Ok(Tok::Punct(p));
                    }
                }
                Err(TraceError::Lex {
                    span,
                    message: format!("unexpected character `{}`", c.escape_debug()),
                })
            }
        }
    }

    fn number(&mut self, span: Span) -> Result<Tok, TraceError> {
        let text = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        let clean = text.replace('_', "");
        let (digits, radix) = if let Some(h) = clean
            .strip_prefix("0x")
            .or_else(|| clean.strip_prefix("0X"))
        {
            (h.to_string(), 16)
        } else if let Some(b) = clean.strip_prefix("0b") {
            (b.to_string(), 2)
        } else {
            (clean.clone(), 10)
        };
        // Decimal literals may end in a unit suffix or a scientific exponent.
        let (digits, mult) = match radix {
            10 => {
                let units: [(&str, u64); 7] = [
                    ("ns", 1),
                    ("us", 1_000),
                    ("ms", 1_000_000),
                    ("s", 1_000_000_000),
                    ("m", 60_000_000_000),
                    ("h", 3_600_000_000_000),
                    ("d", 86_400_000_000_000),
                ];
                if let Some((d, m)) = units
                    .iter()
                    .find_map(|(u, m)| digits.strip_suffix(u).map(|d| (d.to_string(), *m)))
                    .filter(|(d, _)| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
                {
                    (d, m)
                } else if let Some((d, e)) = digits.split_once('e') {
                    let e: u32 = e.parse().map_err(|_| bad_number(span, &text))?;
                    (
                        d.to_string(),
                        10u64
                            .checked_pow(e)
                            .ok_or_else(|| bad_number(span, &text))?,
                    )
                } else {
                    (digits, 1)
                }
            }
            _ => (digits, 1),
        };
        u64::from_str_radix(&digits, radix)
            .ok()
            .and_then(|v| v.checked_mul(mult))
            .map(Tok::Int)
            .ok_or_else(|| bad_number(span, &text))
    }

    fn escape(&mut self, span: Span) -> Result<char, TraceError> {
        Ok(match self.bump() {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('0') => '\0',
            Some('\\') => '\\',
            Some('"') => '"',
            Some('\'') => '\'',
            Some('x') => {
                let h: String = (0..2).filter_map(|_| self.bump()).collect();
                u8::from_str_radix(&h, 16)
                    .map(|b| b as char)
                    .map_err(|_| TraceError::Lex {
                        span,
                        message: format!("bad escape `\\x{h}`"),
                    })?
            }
            other => {
                return Err(TraceError::Lex {
                    span,
                    message: format!(
                        "unknown escape `\\{}`",
                        other.map(|c| c.to_string()).unwrap_or_default()
                    ),
                })
            }
        })
    }

    fn string(&mut self, span: Span) -> Result<Tok, TraceError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(Tok::Str(s)),
                Some('\\') => s.push(self.escape(span)?),
                Some(c) => s.push(c),
                None => {
                    return Err(TraceError::Lex {
                        span,
                        message: "unterminated string".into(),
                    })
                }
            }
        }
    }

    /// Reads a probe specification such as `tracepoint:syscalls:sys_enter_*`
    /// or `uprobe:/bin/bash:readline` as raw text. It ends at whitespace, `{`,
    /// `,`, or a `/` outside a uprobe's path.
    pub fn probe_spec(&mut self) -> Result<Token, TraceError> {
        self.skip_trivia()?;
        let start = self.pos;
        let span = self.here();
        let mut colons = 0;
        let is_uprobe = |s: &str| {
            let head = s.split(':').next().unwrap_or("");
            matches!(head, "uprobe" | "uretprobe" | "u" | "ur")
        };
        while let Some(c) = self.peek_char() {
            if c.is_whitespace() || c == '{' || c == ',' || c == ';' {
                break;
            }
            if c == '/' && !(is_uprobe(&self.src[start..self.pos]) && colons == 1) {
                break;
            }
            if c == ':' {
                colons += 1;
            }
            self.bump();
        }
        let text = self.src[start..self.pos].to_string();
        if text.is_empty() {
            let found = self.clone().next_token()?.tok.describe();
            return Err(TraceError::Parse {
                span,
                expected: "a probe such as `tracepoint:syscalls:sys_enter_openat` or `BEGIN`"
                    .into(),
                found,
            });
        }
        Ok(Token {
            span: Span::new(span.line, span.col, text.chars().count() as u32),
            tok: Tok::Ident(text),
            start,
        })
    }
}

fn bad_number(span: Span, text: &str) -> TraceError {
    TraceError::Lex {
        span,
        message: format!("bad number `{text}`"),
    }
}
