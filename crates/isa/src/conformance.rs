//! The bpf_conformance `.data` test format: assembly, input memory and expected result.

use crate::error::IsaError;

/// One parsed `.data` test.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConformanceTest {
    /// The `-- asm` section, comments removed.
    pub asm: String,
    /// The `-- raw` section: whole instructions as 64-bit little-endian words.
    pub raw: Option<Vec<u64>>,
    /// The `-- mem` section's bytes.
    pub mem: Vec<u8>,
    /// The expected r0.
    pub result: Option<u64>,
    /// The expected error text.
    pub error: Option<String>,
}

impl ConformanceTest {
    /// Parses a `.data` file's text.
    pub fn parse(text: &str) -> Result<ConformanceTest, IsaError> {
        let mut t = ConformanceTest::default();
        let mut section = "";
        for (n, line) in text.lines().enumerate() {
            let bad = |column: usize, message: String| IsaError::Asm {
                line: n + 1,
                column,
                message,
            };
            let body = line.split('#').next().unwrap_or("");
            if let Some(i) = body.find("--") {
                section = body[i + 2..].trim();
                if section == "raw" {
                    t.raw = Some(Vec::new());
                }
                continue;
            }
            match section {
                "asm" => {
                    t.asm.push_str(body);
                    t.asm.push('\n');
                }
                "mem" => {
                    for tok in body.split_whitespace() {
                        let column = line.find(tok).map_or(1, |c| c + 1);
                        if tok.len() % 2 != 0 {
                            return Err(bad(
                                column,
                                format!("memory byte `{tok}` is not hex pairs"),
                            ));
                        }
                        for k in (0..tok.len()).step_by(2) {
                            let b = tok
                                .get(k..k + 2)
                                .and_then(|s| u8::from_str_radix(s, 16).ok())
                                .ok_or_else(|| {
                                    bad(column, format!("invalid memory byte in `{tok}`"))
                                })?;
                            t.mem.push(b);
                        }
                    }
                }
                "raw" => {
                    for tok in body.split_whitespace() {
                        let v = parse_u64(tok)
                            .ok_or_else(|| bad(1, format!("invalid raw instruction `{tok}`")))?;
                        t.raw.get_or_insert_with(Vec::new).push(v);
                    }
                }
                "result" => {
                    let s = body.trim();
                    if !s.is_empty() {
                        let v =
                            parse_u64(s).ok_or_else(|| bad(1, format!("invalid result `{s}`")))?;
                        t.result = Some(v);
                    }
                }
                "error" => {
                    let s = body.trim();
                    if !s.is_empty() {
                        t.error = Some(s.to_string());
                    }
                }
                _ => {}
            }
        }
        Ok(t)
    }

    /// The program's bytecode: the raw section if present, else the assembled asm.
    pub fn bytecode(&self) -> Result<Vec<u8>, IsaError> {
        match &self.raw {
            Some(words) => Ok(words.iter().flat_map(|w| w.to_le_bytes()).collect()),
            None => crate::asm::assemble_bytes(&self.asm),
        }
    }
}

/// Parses `0x...` as hex, anything else as decimal (optionally negative).
fn parse_u64(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(d) = s.strip_prefix('-') {
        d.parse::<u64>().ok().map(|v| v.wrapping_neg())
    } else {
        s.parse::<u64>().ok()
    }
}
