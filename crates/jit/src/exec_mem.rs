//! Executable memory kept W^X: written while read-write, then sealed read+execute.

use crate::error::JitError;

/// A sealed block of machine code.
pub struct ExecMemory {
    ptr: *mut u8,
    len: usize,
    map_len: usize,
}

// SAFETY: the memory is immutable (read+execute) once sealed, so sharing it
// between threads is as safe as sharing a `&[u8]`.
unsafe impl Send for ExecMemory {}
// SAFETY: as above; nothing writes to it after `seal`.
unsafe impl Sync for ExecMemory {}

impl ExecMemory {
    /// Copies `code` into fresh pages and makes them read+execute (never both
    /// writable and executable).
    pub fn seal(code: &[u8]) -> Result<ExecMemory, JitError> {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let map_len = code.len().max(1).div_ceil(page) * page;
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(JitError::Memory {
                what: "mmap",
                source: std::io::Error::last_os_error(),
            });
        }
        let ptr = ptr as *mut u8;
        // SAFETY: the mapping is `map_len >= code.len()` bytes, writable, and new.
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), ptr, code.len());
            // Pad with int3 so a stray jump past the end traps.
            std::ptr::write_bytes(ptr.add(code.len()), 0xcc, map_len - code.len());
        }
        // SAFETY: `ptr`/`map_len` describe the mapping made above.
        if unsafe { libc::mprotect(ptr.cast(), map_len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            let source = std::io::Error::last_os_error();
            // SAFETY: unmapping the mapping made above, which nothing else references.
            unsafe { libc::munmap(ptr.cast(), map_len) };
            return Err(JitError::Memory {
                what: "mprotect",
                source,
            });
        }
        Ok(ExecMemory {
            ptr,
            len: code.len(),
            map_len,
        })
    }

    /// The address of the first byte.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// The machine code.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes at `ptr` are mapped readable for the lifetime of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for ExecMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by `self` and no code runs from it any more
        // (running code borrows the program that owns this memory).
        unsafe { libc::munmap(self.ptr.cast(), self.map_len) };
    }
}
