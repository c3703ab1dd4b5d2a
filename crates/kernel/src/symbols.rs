//! Where a uprobe goes: a symbol's file offset in an ELF binary, looked up in
//! its symbol tables (`.symtab`, `.dynsym`) and, when the binary only imports
//! it, in the shared libraries it needs (`DT_NEEDED`).

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::error::KernelError;

/// A resolved probe location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    /// The file the symbol is defined in (the binary or one of its libraries).
    pub path: PathBuf,
    /// Virtual address of the symbol in that file.
    pub address: u64,
    /// Offset of the symbol in the file, as uprobes take it.
    pub offset: u64,
}

/// Directories searched for a library given by name.
const LIB_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
];

fn sym_err(path: &Path, message: impl Into<String>) -> KernelError {
    KernelError::Symbol {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Finds a binary or library: paths with a `/` as they are, else a library in
/// the usual directories, else an executable on `PATH`.
pub fn find_binary(name: &Path) -> Result<PathBuf, KernelError> {
    if name.as_os_str().as_encoded_bytes().contains(&b'/') {
        return Ok(name.to_path_buf());
    }
    let path_dirs = std::env::var("PATH").unwrap_or_default();
    LIB_DIRS
        .iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path_dirs))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| sym_err(name, "not found in the library directories or on PATH"))
}

/// Resolves `symbol` in `binary` (a path or a library name) to a file offset,
/// following `DT_NEEDED` one level when the binary does not define it.
pub fn resolve(binary: &Path, symbol: &str) -> Result<ProbeTarget, KernelError> {
    let path = find_binary(binary)?;
    let data = std::fs::read(&path).map_err(|source| KernelError::Io {
        path: path.clone(),
        source,
    })?;
    if let Some(t) = resolve_in(&path, &data, symbol)? {
        return Ok(t);
    }
    let needed = needed_libraries(&path, &data)?;
    for lib in &needed {
        let Ok(lib_path) = find_binary(Path::new(lib)) else {
            continue;
        };
        let Ok(lib_data) = std::fs::read(&lib_path) else {
            continue;
        };
        if let Ok(Some(t)) = resolve_in(&lib_path, &lib_data, symbol) {
            return Ok(t);
        }
    }
    Err(sym_err(
        &path,
        if needed.is_empty() {
            format!("no symbol `{symbol}`")
        } else {
            format!(
                "no symbol `{symbol}`, nor in its libraries ({})",
                needed.join(", ")
            )
        },
    ))
}

/// The symbol's location in this one file, if the file defines it.
pub fn resolve_in(
    path: &Path,
    data: &[u8],
    symbol: &str,
) -> Result<Option<ProbeTarget>, KernelError> {
    let file =
        object::File::parse(data).map_err(|e| sym_err(path, format!("not an ELF file: {e}")))?;
    let found = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| !s.is_undefined() && s.address() != 0)
        .filter(|s| matches!(s.kind(), SymbolKind::Text | SymbolKind::Unknown))
        .find(|s| {
            s.name_bytes().is_ok_and(|n| {
                // Versioned names (`malloc@@GLIBC_2.2.5`) match their base name.
                n == symbol.as_bytes()
                    || n.strip_prefix(symbol.as_bytes())
                        .is_some_and(|rest| rest.starts_with(b"@"))
            })
        });
    let Some(sym) = found else {
        return Ok(None);
    };
    let address = sym.address();
    for seg in file.segments() {
        let (start, size) = (seg.address(), seg.size());
        if address >= start && address - start < size {
            let (file_off, file_size) = seg.file_range();
            if address - start >= file_size {
                return Err(sym_err(
                    path,
                    format!("symbol `{symbol}` at {address:#x} lies outside the file's bytes"),
                ));
            }
            let offset = (address - start).checked_add(file_off).ok_or_else(|| {
                sym_err(path, format!("symbol `{symbol}`: file offset overflows"))
            })?;
            return Ok(Some(ProbeTarget {
                path: path.to_path_buf(),
                address,
                offset,
            }));
        }
    }
    // Relocatable or odd files: fall back to the section's file position.
    if let Some(section) = sym
        .section_index()
        .and_then(|i| file.section_by_index(i).ok())
    {
        let within = address.checked_sub(section.address());
        if let (Some((off, _)), Some(within)) = (section.file_range(), within) {
            if let Some(offset) = within.checked_add(off) {
                return Ok(Some(ProbeTarget {
                    path: path.to_path_buf(),
                    address,
                    offset,
                }));
            }
        }
    }
    Err(sym_err(
        path,
        format!("symbol `{symbol}` at {address:#x} is in no loadable segment"),
    ))
}

/// The `DT_NEEDED` entries of a dynamically linked ELF file.
pub fn needed_libraries(path: &Path, data: &[u8]) -> Result<Vec<String>, KernelError> {
    let file =
        object::File::parse(data).map_err(|e| sym_err(path, format!("not an ELF file: {e}")))?;
    let (Some(dynamic), Some(dynstr)) = (
        file.section_by_name(".dynamic"),
        file.section_by_name(".dynstr"),
    ) else {
        return Ok(Vec::new());
    };
    let (Ok(dynamic), Ok(strings)) = (dynamic.data(), dynstr.data()) else {
        return Ok(Vec::new());
    };
    let (entry, le) = (if file.is_64() { 16 } else { 8 }, file.is_little_endian());
    let word = |b: &[u8]| -> u64 {
        match (b.len(), le) {
            (8, true) => u64::from_le_bytes(b.try_into().expect("eight bytes")),
            (8, false) => u64::from_be_bytes(b.try_into().expect("eight bytes")),
            (4, true) => u32::from_le_bytes(b.try_into().expect("four bytes")).into(),
            (_, _) => u32::from_be_bytes(b.try_into().unwrap_or_default()).into(),
        }
    };
    const DT_NULL: u64 = 0;
    const DT_NEEDED: u64 = 1;
    let mut out = Vec::new();
    for e in dynamic.chunks_exact(entry) {
        let (tag, val) = (word(&e[..entry / 2]), word(&e[entry / 2..]));
        if tag == DT_NULL {
            break;
        }
        if tag == DT_NEEDED {
            let Some(tail) = strings.get(val as usize..) else {
                continue;
            };
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            out.push(String::from_utf8_lossy(&tail[..end]).into_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function of this test binary to resolve.
    #[no_mangle]
    #[inline(never)]
    pub extern "C" fn oxbpf_symbols_test_target(x: u64) -> u64 {
        std::hint::black_box(x) + 1
    }

    #[test]
    fn a_function_of_this_binary_resolves_to_its_file_bytes() {
        assert_eq!(oxbpf_symbols_test_target(1), 2);
        let exe = std::env::current_exe().unwrap();
        let t = resolve(&exe, "oxbpf_symbols_test_target").unwrap();
        assert_eq!(t.path, exe);
        // The file bytes at the offset are the function's first bytes in memory.
        let data = std::fs::read(&exe).unwrap();
        let code = oxbpf_symbols_test_target as *const u8;
        // SAFETY: reading 8 bytes of this function's code.
        let live = unsafe { std::slice::from_raw_parts(code, 8) };
        assert_eq!(&data[t.offset as usize..t.offset as usize + 8], live);
    }

    #[test]
    fn imported_symbols_are_found_in_shared_libraries() {
        let exe = std::env::current_exe().unwrap();
        let data = std::fs::read(&exe).unwrap();
        let needed = needed_libraries(&exe, &data).unwrap();
        if !needed.iter().any(|l| l.starts_with("libc.so")) {
            println!("skipped: this test binary does not link libc dynamically");
            return;
        }
        let t = resolve(&exe, "getpid").unwrap();
        assert_ne!(t.path, exe);
        assert!(
            t.path.to_string_lossy().contains("libc.so"),
            "{}",
            t.path.display()
        );
        let by_name = resolve(Path::new("libc.so.6"), "getpid").unwrap();
        assert_eq!(by_name.offset, t.offset);
    }

    #[test]
    fn missing_symbols_and_bad_files_are_errors() {
        let exe = std::env::current_exe().unwrap();
        let e = resolve(&exe, "no_such_symbol_oxbpf")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no symbol `no_such_symbol_oxbpf`"), "{e}");
        assert!(resolve_in(Path::new("x"), b"not elf", "f").is_err());
        assert!(needed_libraries(Path::new("x"), &[0x7f, b'E', b'L', b'F']).is_err());
    }
}
