//! Tracepoints as tracefs describes them: the list of `category:name` pairs
//! and each one's `format` file, parsed into fields. The host supplies the
//! text (see [`Tracefs`]); nothing here reads files.

/// Where the compiler learns which tracepoints exist and what their records hold.
pub trait Tracefs {
    /// Every tracepoint as (category, name).
    fn tracepoints(&self) -> Vec<(String, String)>;
    /// The text of `events/CATEGORY/NAME/format`, if the tracepoint exists.
    fn format(&self, category: &str, name: &str) -> Option<String>;
    /// Why no tracepoint can be found at all (tracefs missing or unreadable), if so.
    fn unavailable(&self) -> Option<String> {
        None
    }
}

/// A tracefs with no tracepoints (scripts without tracepoint probes).
pub struct NoTracefs;

impl Tracefs for NoTracefs {
    fn tracepoints(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn format(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

/// An in-memory tracefs: (category, name, format text) triples, for tests and embedding.
pub struct StaticTracefs(pub Vec<(String, String, String)>);

impl Tracefs for StaticTracefs {
    fn tracepoints(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(c, n, _)| (c.clone(), n.clone()))
            .collect()
    }
    fn format(&self, category: &str, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(c, n, _)| c == category && n == name)
            .map(|(_, _, f)| f.clone())
    }
}

/// What a field holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// An integer (pointers included) of `size` bytes.
    Int { signed: bool },
    /// A fixed `char[N]` array, read as a string.
    CharArray,
    /// A `__data_loc char[]`: a u32 whose low half is the string's offset in the record.
    DataLocStr,
    /// Any other array or type the language cannot read.
    Other,
}

/// One field of a tracepoint record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The C type as tracefs prints it.
    pub c_type: String,
    pub offset: u32,
    pub size: u32,
    pub kind: FieldKind,
}

/// Parses a tracefs `format` file into its fields (the `common_` ones included).
pub fn parse_format(text: &str) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else {
            continue;
        };
        let mut decl = "";
        let (mut offset, mut size, mut signed) = (None, None, false);
        for part in rest.split(';') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("offset:") {
                offset = v.trim().parse::<u32>().ok();
            } else if let Some(v) = part.strip_prefix("size:") {
                size = v.trim().parse::<u32>().ok();
            } else if let Some(v) = part.strip_prefix("signed:") {
                signed = v.trim() == "1";
            } else if decl.is_empty() && !part.is_empty() {
                decl = part;
            }
        }
        let (Some(offset), Some(size)) = (offset, size) else {
            return Err(format!("cannot read field line `{line}`"));
        };
        let (c_type, name) = match decl.rfind(|c: char| c.is_whitespace() || c == '*') {
            Some(i) => (decl[..=i].trim().to_string(), decl[i + 1..].trim()),
            None => (String::new(), decl),
        };
        let (name, array) = match name.split_once('[') {
            Some((n, _)) => (n.to_string(), true),
            None => (name.to_string(), false),
        };
        let kind = if c_type.starts_with("__data_loc") {
            if c_type.contains("char") {
                FieldKind::DataLocStr
            } else {
                FieldKind::Other
            }
        } else if array {
            if c_type.ends_with("char") {
                FieldKind::CharArray
            } else {
                FieldKind::Other
            }
        } else if matches!(size, 1 | 2 | 4 | 8) {
            FieldKind::Int {
                signed: signed && !c_type.contains('*'),
            }
        } else {
            FieldKind::Other
        };
        out.push(Field {
            name,
            c_type,
            offset,
            size,
            kind,
        });
    }
    if out.is_empty() {
        return Err("the format file lists no fields".into());
    }
    Ok(out)
}

/// Whether `text` matches the glob `pattern` (`*` any run, `?` one character).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openat_format() {
        let text = "name: sys_enter_openat\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:char comm[16];\toffset:32;\tsize:16;\tsigned:0;\n\tfield:__data_loc char[] name;\toffset:48;\tsize:4;\tsigned:0;\n";
        let f = parse_format(text).unwrap();
        let names: Vec<_> = f
            .iter()
            .map(|f| (f.name.as_str(), f.offset, f.kind.clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("common_type", 0, FieldKind::Int { signed: false }),
                ("__syscall_nr", 8, FieldKind::Int { signed: true }),
                ("filename", 24, FieldKind::Int { signed: false }),
                ("comm", 32, FieldKind::CharArray),
                ("name", 48, FieldKind::DataLocStr),
            ]
        );
    }

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("sys_enter_*", "sys_enter_openat", true),
            ("sys_enter_*", "sys_exit_openat", false),
            ("*open*", "sys_enter_openat", true),
            ("sys_?nter_read", "sys_enter_read", true),
            ("read", "readv", false),
            ("*", "", true),
        ] {
            assert_eq!(glob(p, t), want, "{p} vs {t}");
        }
    }
}
