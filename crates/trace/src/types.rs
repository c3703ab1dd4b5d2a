//! The language's types, the maps a script declares by using them, and the
//! events its programs send to user space.

use crate::error::Span;

/// Bytes every string occupies, in maps, events and on the stack (bpftrace's default).
pub const STRLEN: usize = 64;

/// The type of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// A 64-bit integer.
    Int { signed: bool },
    /// A NUL-terminated string of at most [`STRLEN`] bytes (63 characters).
    Str,
    /// No value (function calls done for their effect).
    Void,
}

impl Ty {
    /// Bytes the value takes in a key, an event or a stack slot.
    pub fn size(self) -> usize {
        match self {
            Ty::Int { .. } => 8,
            Ty::Str => STRLEN,
            Ty::Void => 0,
        }
    }

    /// How the type reads in messages.
    pub fn name(self) -> &'static str {
        match self {
            Ty::Int { signed: true } => "int64",
            Ty::Int { signed: false } => "uint64",
            Ty::Str => "string",
            Ty::Void => "none",
        }
    }

    /// Whether two types can be stored in the same place.
    pub fn compatible(self, other: Ty) -> bool {
        matches!(
            (self, other),
            (Ty::Int { .. }, Ty::Int { .. }) | (Ty::Str, Ty::Str) | (Ty::Void, Ty::Void)
        )
    }
}

/// What a map holds per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// Values assigned with `=`.
    Value(Ty),
    /// `count()`.
    Count,
    /// `sum(x)`.
    Sum,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
    /// `avg(x)`.
    Avg,
    /// `stats(x)`.
    Stats,
    /// `hist(x)`: power-of-two buckets.
    Hist,
    /// `lhist(x, min, max, step)`: linear buckets.
    Lhist { min: i64, max: i64, step: i64 },
}

impl MapKind {
    /// The function that makes values of this kind, for messages.
    pub fn name(self) -> String {
        match self {
            MapKind::Value(t) => format!("{} values", t.name()),
            MapKind::Count => "count()".into(),
            MapKind::Sum => "sum()".into(),
            MapKind::Min => "min()".into(),
            MapKind::Max => "max()".into(),
            MapKind::Avg => "avg()".into(),
            MapKind::Stats => "stats()".into(),
            MapKind::Hist => "hist()".into(),
            MapKind::Lhist { .. } => "lhist()".into(),
        }
    }

    /// Whether the BPF map is per-CPU (aggregations are; assigned values are not).
    pub fn per_cpu(self) -> bool {
        !matches!(self, MapKind::Value(_))
    }

    /// Bytes of one value in the BPF map.
    pub fn value_size(self) -> usize {
        match self {
            MapKind::Value(t) => t.size(),
            // [value, set] and [count, total].
            MapKind::Min | MapKind::Max | MapKind::Avg | MapKind::Stats => 16,
            MapKind::Count | MapKind::Sum | MapKind::Hist | MapKind::Lhist { .. } => 8,
        }
    }

    /// Whether the key carries a bucket index after the script's key.
    pub fn bucketed(self) -> bool {
        matches!(self, MapKind::Hist | MapKind::Lhist { .. })
    }
}

/// A map as the script uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDecl {
    /// The name without `@` (empty for `@`).
    pub name: String,
    /// The key's parts; empty for a map without a key.
    pub key: Vec<Ty>,
    pub kind: MapKind,
    /// Whether values print as signed numbers.
    pub signed: bool,
    /// Index of the BPF map in the compiled object.
    pub index: usize,
    /// Where the map is first used.
    pub span: Span,
}

impl MapDecl {
    /// Bytes of the BPF key: the script's key (8 bytes when it has none), then the bucket.
    pub fn key_size(&self) -> usize {
        let k: usize = self.key.iter().map(|t| t.size()).sum::<usize>().max(8);
        if self.kind.bucketed() {
            k + 8
        } else {
            k
        }
    }

    /// Bytes of the script's key alone.
    pub fn user_key_size(&self) -> usize {
        self.key.iter().map(|t| t.size()).sum::<usize>().max(8)
    }

    /// The name as printed: `@name`.
    pub fn display_name(&self) -> String {
        format!("@{}", self.name)
    }

    /// The key type as it reads in messages.
    pub fn key_name(key: &[Ty]) -> String {
        if key.is_empty() {
            "no key".into()
        } else {
            format!(
                "[{}]",
                key.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

/// One piece of a printf format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text printed as is (`%%` already reduced to `%`).
    Text(String),
    /// A conversion.
    Spec(Spec),
}

/// A printf conversion: `%[flags][width][.precision][length]conv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub left: bool,
    pub zero: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    /// Bytes of the C type the length modifier names (`hh` 1, `h` 2, none 4, `l`/`ll`/`z`/`j` 8).
    pub int_bytes: usize,
    /// The conversion character: d i u x X o c s p.
    pub conv: char,
}

impl Spec {
    /// The type of argument the conversion takes.
    pub fn wants_string(&self) -> bool {
        self.conv == 's'
    }
}

/// What a program sends to user space through the ring buffer; the record
/// starts with the event's index as a u64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `printf`: the format and each argument's type, laid out one after another.
    Printf { format: Vec<Piece>, args: Vec<Ty> },
    /// `print(@m)`.
    PrintMap { map: String },
    /// `print(x)`.
    PrintValue { ty: Ty },
    /// `exit()`.
    Exit,
    /// `clear(@m)`.
    Clear { map: String },
    /// `zero(@m)`.
    Zero { map: String },
    /// `time(fmt)`: a strftime format.
    Time { format: String },
}

/// Parses a printf format; `Err` holds the message for an unknown conversion.
pub fn parse_format(fmt: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '%' {
            text.push(c);
            continue;
        }
        if chars.get(i) == Some(&'%') {
            text.push('%');
            i += 1;
            continue;
        }
        let mut spec = Spec {
            left: false,
            zero: false,
            plus: false,
            space: false,
            alt: false,
            width: None,
            precision: None,
            int_bytes: 4,
            conv: 'd',
        };
        while let Some(&f) = chars.get(i) {
            match f {
                '-' => spec.left = true,
                '0' => spec.zero = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '#' => spec.alt = true,
                _ => break,
            }
            i += 1;
        }
        let num = |i: &mut usize| {
            let start = *i;
            while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            (start != *i).then(|| {
                chars[start..*i]
                    .iter()
                    .collect::<String>()
                    .parse::<usize>()
                    .unwrap_or(usize::MAX)
                    .min(4096)
            })
        };
        spec.width = num(&mut i);
        if chars.get(i) == Some(&'.') {
            i += 1;
            spec.precision = Some(num(&mut i).unwrap_or(0));
        }
        let mut longs = 0;
        loop {
            match chars.get(i) {
                Some('h') => spec.int_bytes = if spec.int_bytes == 2 { 1 } else { 2 },
                Some('l') => {
                    longs += 1;
                    spec.int_bytes = 8
                }
                Some('z' | 'j' | 't') => spec.int_bytes = 8,
                _ => break,
            }
            i += 1;
        }
        let _ = longs;
        match chars.get(i) {
            Some(&conv @ ('d' | 'i' | 'u' | 'x' | 'X' | 'o' | 'c' | 's' | 'p')) => {
                spec.conv = conv;
                i += 1;
            }
            Some(&other) => return Err(format!("unknown printf conversion `%{other}`")),
            None => return Err("the format ends inside a conversion".into()),
        }
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        out.push(Piece::Spec(spec));
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}
