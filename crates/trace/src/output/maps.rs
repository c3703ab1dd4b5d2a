//! Maps printed as bpftrace prints them: `@name[key]: value` sorted by value,
//! `stats`/`avg` lines, and `hist`/`lhist` tables with `[lo, hi)` rows and bars.

use std::cmp::Ordering;

use crate::types::{MapDecl, MapKind, Ty, STRLEN};

/// One map element: the BPF key and its value, one per CPU for per-CPU maps.
pub type Element = (Vec<u8>, Vec<Vec<u8>>);

/// Buckets of one histogram: (bucket index, count).
type Buckets = Vec<(u64, u64)>;

/// Width of the `@` bar of a histogram row.
const BAR: u64 = 52;

/// One part of a decoded key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum KeyPart {
    Int(i64),
    Str(String),
}

impl KeyPart {
    fn text(&self) -> String {
        match self {
            KeyPart::Int(n) => n.to_string(),
            KeyPart::Str(s) => s.clone(),
        }
    }
}

fn cmp_parts(a: &[KeyPart], b: &[KeyPart]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (KeyPart::Int(p), KeyPart::Int(q)) => p.cmp(q),
            (KeyPart::Str(p), KeyPart::Str(q)) => p.cmp(q),
            (KeyPart::Int(_), KeyPart::Str(_)) => Ordering::Less,
            (KeyPart::Str(_), KeyPart::Int(_)) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Text of a NUL-terminated string buffer.
pub fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
        .unwrap_or(0)
}

fn decode_key(decl: &MapDecl, key: &[u8]) -> Vec<KeyPart> {
    let mut off = 0;
    decl.key
        .iter()
        .map(|t| match t {
            Ty::Str => {
                let s = c_string(key.get(off..off + STRLEN).unwrap_or(&[]));
                off += STRLEN;
                KeyPart::Str(s)
            }
            _ => {
                let v = u64_at(key, off) as i64;
                off += 8;
                KeyPart::Int(v)
            }
        })
        .collect()
}

fn key_text(decl: &MapDecl, parts: &[KeyPart]) -> String {
    if decl.key.is_empty() {
        String::new()
    } else {
        format!(
            "[{}]",
            parts
                .iter()
                .map(|p| p.text())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// A value combined over CPUs, ready to sort and print.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Int(i128),
    Str(String),
    Stats { count: u64, total: i128 },
}

fn combine(decl: &MapDecl, cpus: &[Vec<u8>]) -> Option<Value> {
    let num = |v: u64| -> i128 {
        if decl.signed {
            v as i64 as i128
        } else {
            v as i128
        }
    };
    Some(match decl.kind {
        MapKind::Value(Ty::Str) => Value::Str(c_string(cpus.first()?)),
        MapKind::Value(_) => Value::Int(num(u64_at(cpus.first()?, 0))),
        MapKind::Count | MapKind::Hist | MapKind::Lhist { .. } => {
            Value::Int(cpus.iter().map(|c| u64_at(c, 0) as i128).sum())
        }
        MapKind::Sum => Value::Int(num(cpus
            .iter()
            .fold(0u64, |a, c| a.wrapping_add(u64_at(c, 0))))),
        MapKind::Min | MapKind::Max => {
            let set = cpus
                .iter()
                .filter(|c| u64_at(c, 8) != 0)
                .map(|c| u64_at(c, 0) as i64);
            let v = if decl.kind == MapKind::Min {
                set.min()
            } else {
                set.max()
            };
            Value::Int(v.unwrap_or(0) as i128)
        }
        MapKind::Avg | MapKind::Stats => {
            let count = cpus.iter().map(|c| u64_at(c, 0)).sum();
            let total = num(cpus.iter().fold(0u64, |a, c| a.wrapping_add(u64_at(c, 8))));
            Value::Stats { count, total }
        }
    })
}

fn sort_key(v: &Value) -> (i128, String) {
    match v {
        Value::Int(n) => (*n, String::new()),
        Value::Str(s) => (0, s.clone()),
        Value::Stats { count, total } => (average(*count, *total), String::new()),
    }
}

fn average(count: u64, total: i128) -> i128 {
    if count == 0 {
        0
    } else {
        total / count as i128
    }
}

/// Prints a map as bpftrace does at exit and for `print(@m)`.
pub fn format_map(decl: &MapDecl, elements: &[Element]) -> String {
    if decl.kind.bucketed() {
        return format_hist(decl, elements);
    }
    let mut rows: Vec<(Vec<KeyPart>, Value)> = elements
        .iter()
        .filter_map(|(k, v)| Some((decode_key(decl, k), combine(decl, v)?)))
        .collect();
    // Ascending by value; equal values in descending key order.
    rows.sort_by(|a, b| {
        sort_key(&a.1)
            .cmp(&sort_key(&b.1))
            .then_with(|| cmp_parts(&b.0, &a.0))
    });
    let mut out = String::new();
    if rows.is_empty() {
        out.push('\n');
    }
    for (key, value) in &rows {
        let text = match value {
            Value::Int(n) => n.to_string(),
            Value::Str(s) => s.clone(),
            Value::Stats { count, total } => {
                if decl.kind == MapKind::Stats {
                    format!(
                        "count {count}, average {}, total {total}",
                        average(*count, *total)
                    )
                } else {
                    average(*count, *total).to_string()
                }
            }
        };
        out.push_str(&format!(
            "{}{}: {text}\n",
            decl.display_name(),
            key_text(decl, key)
        ));
    }
    if matches!(decl.kind, MapKind::Avg | MapKind::Stats) {
        out.push('\n');
    }
    out
}

/// A bucket bound with bpftrace's K/M/G/T/P/E suffixes for multiples of 1024.
pub fn bound(n: i128) -> String {
    const SUFFIX: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    let mut v = n;
    let mut unit = None;
    for s in SUFFIX {
        if v != 0 && v % 1024 == 0 {
            v /= 1024;
            unit = Some(s);
        } else {
            break;
        }
    }
    match unit {
        Some(s) => format!("{v}{s}"),
        None => n.to_string(),
    }
}

/// The label of bucket `i` of a `hist`: bucket `i` >= 3 holds [2^(i-2), 2^(i-1)).
pub fn hist_label(i: u64) -> String {
    match i {
        0 => "(..., 0)".into(),
        1 => "[0]".into(),
        2 => "[1]".into(),
        _ => {
            let lo = 1i128 << (i - 2).min(100);
            format!("[{}, {})", bound(lo), bound(lo * 2))
        }
    }
}

/// The label of bucket `i` of an `lhist(min, max, step)`.
pub fn lhist_label(i: u64, min: i64, max: i64, step: i64) -> String {
    let buckets = ((max - min) / step) as u64;
    if i == 0 {
        format!("(..., {})", bound(min as i128))
    } else if i > buckets {
        format!(
            "[{}, ...)",
            bound(min as i128 + buckets as i128 * step as i128)
        )
    } else {
        let lo = min as i128 + (i as i128 - 1) * step as i128;
        format!("[{}, {})", bound(lo), bound(lo + step as i128))
    }
}

/// The rows of one histogram: from the first to the last non-empty bucket.
pub fn hist_rows(counts: &[(u64, u64)], label: impl Fn(u64) -> String) -> String {
    let nonzero: Vec<&(u64, u64)> = counts.iter().filter(|(_, c)| *c != 0).collect();
    let (Some(first), Some(last)) = (nonzero.first(), nonzero.last()) else {
        return String::new();
    };
    let max = nonzero.iter().map(|(_, c)| *c).max().unwrap_or(1);
    let mut out = String::new();
    for i in first.0..=last.0 {
        let c = counts
            .iter()
            .find(|(b, _)| *b == i)
            .map(|(_, c)| *c)
            .unwrap_or(0);
        let n = (c as u128 * BAR as u128 / max as u128) as usize;
        out.push_str(&format!(
            "{:<16}{:>8} |{}{}|\n",
            label(i),
            c,
            "@".repeat(n),
            " ".repeat(BAR as usize - n)
        ));
    }
    out
}

fn format_hist(decl: &MapDecl, elements: &[Element]) -> String {
    let uk = decl.user_key_size();
    // Group buckets by the script's key.
    let mut groups: Vec<(Vec<u8>, Buckets)> = Vec::new();
    for (k, v) in elements {
        let (user, bucket) = (k.get(..uk).unwrap_or(k).to_vec(), u64_at(k, uk));
        let count: u64 = v.iter().map(|c| u64_at(c, 0)).sum();
        match groups.iter_mut().find(|(u, _)| *u == user) {
            Some((_, b)) => b.push((bucket, count)),
            None => groups.push((user, vec![(bucket, count)])),
        }
    }
    let mut groups: Vec<(Vec<KeyPart>, u64, Buckets)> = groups
        .into_iter()
        .map(|(k, mut b)| {
            b.sort();
            let total = b.iter().map(|(_, c)| c).sum();
            (decode_key(decl, &k), total, b)
        })
        .collect();
    groups.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| cmp_parts(&b.0, &a.0)));
    if groups.is_empty() {
        return "\n".into();
    }
    let mut out = String::new();
    for (key, _, buckets) in groups {
        out.push_str(&format!(
            "{}{}: \n",
            decl.display_name(),
            key_text(decl, &key)
        ));
        out.push_str(&match decl.kind {
            MapKind::Lhist { min, max, step } => {
                hist_rows(&buckets, |i| lhist_label(i, min, max, step))
            }
            _ => hist_rows(&buckets, hist_label),
        });
        out.push('\n');
    }
    out
}
