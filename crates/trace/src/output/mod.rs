//! What user space prints: ring buffer records decoded into text or actions,
//! and maps in bpftrace's format.

pub mod maps;
pub mod printf;
pub mod time;

pub use maps::{format_map, Element};

use crate::types::{Event, Ty, STRLEN};
use crate::Compiled;

/// What a ring buffer record asks user space to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Print this text.
    Text(String),
    /// Print map `@name` now.
    PrintMap(String),
    /// Empty map `@name`.
    Clear(String),
    /// Set every value of map `@name` to zero.
    Zero(String),
    /// Print the wall-clock time with this strftime format.
    Time(String),
    /// Stop tracing.
    Exit,
}

/// Why a record could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRecord(pub String);

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Decodes one ring buffer record.
pub fn decode(c: &Compiled, record: &[u8]) -> Result<Action, BadRecord> {
    let id =
        u64_at(record, 0).ok_or_else(|| BadRecord(format!("a {}-byte record", record.len())))?;
    let event = c
        .events
        .get(id as usize)
        .ok_or_else(|| BadRecord(format!("unknown event id {id}")))?;
    let arg = |off: usize, t: Ty| -> Result<printf::Arg, BadRecord> {
        let short = || BadRecord(format!("event {id}: the record is too short"));
        Ok(match t {
            Ty::Str => printf::Arg::Str(maps::c_string(
                record.get(off..off + STRLEN).ok_or_else(short)?,
            )),
            _ => printf::Arg::Int(u64_at(record, off).ok_or_else(short)?),
        })
    };
    Ok(match event {
        Event::Printf { format, args } => {
            let mut off = 8;
            let mut vals = Vec::new();
            for t in args {
                vals.push(arg(off, *t)?);
                off += t.size();
            }
            Action::Text(printf::format(format, &vals))
        }
        Event::PrintValue { ty } => Action::Text(match arg(8, *ty)? {
            printf::Arg::Str(s) => format!("{s}\n"),
            printf::Arg::Int(v) => match ty {
                Ty::Int { signed: true } => format!("{}\n", v as i64),
                _ => format!("{v}\n"),
            },
        }),
        Event::PrintMap { map } => Action::PrintMap(map.clone()),
        Event::Clear { map } => Action::Clear(map.clone()),
        Event::Zero { map } => Action::Zero(map.clone()),
        Event::Time { format } => Action::Time(format.clone()),
        Event::Exit => Action::Exit,
    })
}

/// The text printed at exit before the maps (bpftrace prints two newlines).
pub const EXIT_PREAMBLE: &str = "\n\n";

/// Every map at exit, sorted by name, each as [`format_map`] prints it;
/// `read` returns a map's elements.
pub fn format_all_maps(
    c: &Compiled,
    mut read: impl FnMut(&crate::MapDecl) -> Vec<Element>,
) -> String {
    let mut decls: Vec<&crate::MapDecl> = c.maps.iter().collect();
    decls.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    for d in decls {
        let elements = read(d);
        out.push_str(&format_map(d, &elements));
    }
    out
}
