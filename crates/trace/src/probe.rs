//! Attach points: `BEGIN`, `tracepoint:cat:name`, `rawtracepoint:name`,
//! `interval:s:N`, `profile:hz:N`, `uprobe:/path:sym`, and their expansion
//! (tracepoint wildcards against the host's tracefs).

use crate::error::{Span, TraceError};
use crate::tracefs::{glob, Tracefs};

/// One concrete place a program attaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Runs once before every other probe.
    Begin,
    /// Runs once after every other probe has been detached.
    End,
    /// A tracefs tracepoint.
    Tracepoint { category: String, name: String },
    /// A raw tracepoint: its arguments are `arg0`..`arg11`.
    RawTracepoint { name: String },
    /// A timer on one CPU with this period.
    Interval { period_ns: u64 },
    /// A CPU-clock sampler at this frequency on every CPU.
    Profile { hz: u64 },
    /// A user-space function entry (`ret`: its return).
    Uprobe {
        path: String,
        symbol: String,
        ret: bool,
    },
}

impl Probe {
    /// The name the `probe` builtin yields, as bpftrace spells it.
    pub fn name(&self) -> String {
        match self {
            Probe::Begin => "BEGIN".into(),
            Probe::End => "END".into(),
            Probe::Tracepoint { category, name } => format!("tracepoint:{category}:{name}"),
            Probe::RawTracepoint { name } => format!("rawtracepoint:{name}"),
            Probe::Interval { period_ns } => {
                if period_ns % 1_000_000_000 == 0 {
                    format!("interval:s:{}", period_ns / 1_000_000_000)
                } else if period_ns % 1_000_000 == 0 {
                    format!("interval:ms:{}", period_ns / 1_000_000)
                } else if period_ns % 1_000 == 0 {
                    format!("interval:us:{}", period_ns / 1_000)
                } else {
                    format!("interval:ns:{period_ns}")
                }
            }
            Probe::Profile { hz } => format!("profile:hz:{hz}"),
            Probe::Uprobe { path, symbol, ret } => format!(
                "{}:{path}:{symbol}",
                if *ret { "uretprobe" } else { "uprobe" }
            ),
        }
    }
}

/// Expands one attach point as written into the probes it names.
pub fn expand(text: &str, span: Span, fs: &dyn Tracefs) -> Result<Vec<Probe>, TraceError> {
    let unknown = |hint: &str| TraceError::UnknownProbe {
        span,
        probe: text.to_string(),
        hint: hint.to_string(),
    };
    let parts: Vec<&str> = text.split(':').collect();
    let number = |s: &str| -> Result<u64, TraceError> {
        s.parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| unknown(&format!(": `{s}` is not a positive whole number")))
    };
    let probe = match parts.as_slice() {
        ["BEGIN" | "begin"] => Probe::Begin,
        ["END" | "end"] => Probe::End,
        ["tracepoint" | "t", cat, name] if !cat.is_empty() && !name.is_empty() => {
            if let Some(why) = fs.unavailable() {
                return Err(unknown(&format!(": {why}")));
            }
            if cat.contains(['*', '?']) || name.contains(['*', '?']) {
                let mut found: Vec<(String, String)> = fs
                    .tracepoints()
                    .into_iter()
                    .filter(|(c, n)| glob(cat, c) && glob(name, n))
                    .collect();
                found.sort();
                if found.is_empty() {
                    return Err(unknown(": no tracepoint matches"));
                }
                return Ok(found
                    .into_iter()
                    .map(|(category, name)| Probe::Tracepoint { category, name })
                    .collect());
            }
            if fs.format(cat, name).is_none() {
                return Err(unknown(
                    ": no such tracepoint in tracefs (see `oxbpf trace -l`)",
                ));
            }
            Probe::Tracepoint {
                category: cat.to_string(),
                name: name.to_string(),
            }
        }
        ["rawtracepoint" | "rt", name] if !name.is_empty() && !name.contains(['*', '?']) => {
            Probe::RawTracepoint {
                name: name.to_string(),
            }
        }
        ["rawtracepoint" | "rt", _, name] if !name.is_empty() && !name.contains(['*', '?']) => {
            Probe::RawTracepoint {
                name: name.to_string(),
            }
        }
        ["interval" | "i", unit, n] => {
            let n = number(n)?;
            let mult = match *unit {
                "s" => 1_000_000_000,
                "ms" => 1_000_000,
                "us" => 1_000,
                "hz" => {
                    return Ok(vec![Probe::Interval {
                        period_ns: 1_000_000_000 / n.min(1_000_000_000),
                    }])
                }
                _ => return Err(unknown(": the unit must be s, ms, us or hz")),
            };
            Probe::Interval {
                period_ns: n
                    .checked_mul(mult)
                    .ok_or_else(|| unknown(": the period is too long"))?,
            }
        }
        ["profile" | "p", "hz", n] => Probe::Profile { hz: number(n)? },
        ["uprobe" | "u" | "uretprobe" | "ur", path, symbol]
            if !path.is_empty() && !symbol.is_empty() && !symbol.contains(['*', '?']) =>
        {
            Probe::Uprobe {
                path: path.to_string(),
                symbol: symbol.to_string(),
                ret: matches!(parts[0], "uretprobe" | "ur"),
            }
        }
        [kind, ..] => {
            let hint = match *kind {
                "kprobe" | "k" | "kretprobe" | "kr" | "fentry" | "fexit" | "f" | "fr" => {
                    ": this kernel and oxbpf trace support no kprobes or fentry; use tracepoints"
                }
                "tracepoint" | "t" => ": write tracepoint:CATEGORY:NAME",
                "uprobe" | "uretprobe" | "u" | "ur" => {
                    ": write uprobe:PATH:SYMBOL (symbol wildcards are not supported)"
                }
                "interval" | "i" => ": write interval:s:N or interval:ms:N",
                "profile" | "p" => ": write profile:hz:N",
                "rawtracepoint" | "rt" => ": write rawtracepoint:NAME",
                _ => "",
            };
            return Err(unknown(hint));
        }
        [] => return Err(unknown("")),
    };
    Ok(vec![probe])
}
