//! Reading programs and memory from files in the formats the CLI accepts.

use std::io::Read;
use std::path::Path;

use oxbpf_isa::{assemble_bytes, ConformanceTest};

use crate::error::CliError;

/// How to read a program file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Guess from the name and contents.
    Auto,
    /// Assembly text (llvm or conformance dialect).
    Asm,
    /// Raw little-endian bytecode.
    Bin,
    /// Hex text of the bytecode, whitespace ignored.
    Hex,
    /// A bpf_conformance `.data` test (program and memory).
    Data,
}

/// A program read from a file, with input memory if the file carried some.
pub struct LoadedInput {
    pub bytecode: Vec<u8>,
    pub mem: Option<Vec<u8>>,
    /// True for `.data` files, which expect the conformance helpers.
    pub conformance: bool,
}

/// Reads `path` (`-` for stdin).
pub fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    let io = |source| CliError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(io)?;
        Ok(buf)
    } else {
        std::fs::read(path).map_err(io)
    }
}

/// Parses hex text such as `b7 00 00 00` or `b7000000`; `#` comments allowed.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut digits = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for (col, c) in line.char_indices() {
            if c.is_ascii_hexdigit() {
                digits.push(c.to_digit(16).expect("hex digit") as u8);
            } else if !c.is_whitespace() && c != ',' {
                return Err(format!(
                    "line {}, column {}: `{c}` is not a hex digit",
                    n + 1,
                    col + 1
                ));
            }
        }
    }
    if digits.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    Ok(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

fn looks_like_hex(text: &str) -> bool {
    let body: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect();
    body.chars().any(|c| c.is_ascii_hexdigit())
        && body
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c.is_whitespace() || c == ',')
}

/// Reads a program in `format`, guessing when `Auto`.
pub fn load_program(path: &Path, format: Format) -> Result<LoadedInput, CliError> {
    let bytes = read_file(path)?;
    let name = path.to_string_lossy();
    let format = match format {
        Format::Auto => guess(path, &bytes),
        f => f,
    };
    let text = || {
        std::str::from_utf8(&bytes)
            .map_err(|e| CliError::Input(format!("{name}: not UTF-8 text ({e})")))
    };
    let isa = |source| CliError::Isa {
        context: name.to_string(),
        source,
    };
    Ok(match format {
        Format::Bin => LoadedInput {
            bytecode: bytes,
            mem: None,
            conformance: false,
        },
        Format::Hex => LoadedInput {
            bytecode: parse_hex(text()?).map_err(|e| CliError::Input(format!("{name}: {e}")))?,
            mem: None,
            conformance: false,
        },
        Format::Asm => LoadedInput {
            bytecode: assemble_bytes(text()?).map_err(isa)?,
            mem: None,
            conformance: false,
        },
        Format::Data | Format::Auto => {
            let t = ConformanceTest::parse(text()?).map_err(isa)?;
            LoadedInput {
                bytecode: t.bytecode().map_err(isa)?,
                mem: Some(t.mem),
                conformance: true,
            }
        }
    })
}

fn guess(path: &Path, bytes: &[u8]) -> Format {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("data") => return Format::Data,
        Some("s" | "asm") => return Format::Asm,
        Some("bin" | "o") => return Format::Bin,
        Some("hex") => return Format::Hex,
        _ => {}
    }
    match std::str::from_utf8(bytes) {
        Ok(t) if looks_like_hex(t) => Format::Hex,
        Ok(t) if t.contains("-- asm") => Format::Data,
        Ok(_) if !bytes.contains(&0) => Format::Asm,
        _ => Format::Bin,
    }
}
