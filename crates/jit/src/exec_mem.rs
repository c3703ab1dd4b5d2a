//! Executable memory kept W^X: written while read-write, then sealed read+execute.
//!
//! Freed code pages go back to a small pool instead of to the OS: reusing them
//! costs two `mprotect` calls (read-write to write the new code, then
//! read+execute) and no page faults, where a fresh mapping costs an `mmap`, a
//! fault per page and an `munmap` later.

use std::sync::Mutex;

use crate::error::JitError;

/// Freed mappings (address, length), kept read+execute until reused.
static POOL: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
/// At most this many bytes of freed code pages are kept.
const POOL_BYTES: usize = 1 << 20;

/// A mapping of exactly `map_len` bytes from the pool, made writable, if one is there.
fn from_pool(map_len: usize) -> Option<*mut u8> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let i = pool.iter().position(|&(_, l)| l == map_len)?;
    let (ptr, _) = pool.swap_remove(i);
    drop(pool);
    // SAFETY: the mapping came from `seal` and nothing runs from it (its owner dropped it).
    if unsafe { libc::mprotect(ptr as *mut _, map_len, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
        // SAFETY: as above; give it back to the OS instead.
        unsafe { libc::munmap(ptr as *mut _, map_len) };
        return None;
    }
    Some(ptr as *mut u8)
}

/// The padding byte after the code: `int3` on x86-64; on AArch64, zero
/// words are `udf #0`, which traps.
const PAD: u8 = if cfg!(target_arch = "aarch64") {
    0
} else {
    0xcc
};

/// Makes instructions just written at `ptr` visible to instruction fetch.
/// x86-64 keeps its caches coherent; AArch64 needs the data cache cleaned
/// to the point of unification, then the instruction cache invalidated, by
/// line (sizes from CTR_EL0), each with a barrier, and an `isb` (the
/// sequence of the Arm ARM, "Concurrent modification and execution").
#[cfg(target_arch = "aarch64")]
fn sync_icache(ptr: *mut u8, len: usize) {
    let ctr: u64;
    // SAFETY: Linux lets user space read CTR_EL0; the read has no side effects.
    unsafe { std::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let dline = 4usize << ((ctr >> 16) & 0xf);
    let iline = 4usize << (ctr & 0xf);
    let (start, end) = (ptr as usize, ptr as usize + len);
    let mut a = start & !(dline - 1);
    while a < end {
        // SAFETY: cleaning a cache line of mapped memory changes no contents.
        unsafe { std::arch::asm!("dc cvau, {}", in(reg) a, options(nostack)) };
        a += dline;
    }
    // SAFETY: a barrier has no memory-safety preconditions.
    unsafe { std::arch::asm!("dsb ish", options(nostack)) };
    let mut a = start & !(iline - 1);
    while a < end {
        // SAFETY: invalidating instruction-cache lines changes no memory.
        unsafe { std::arch::asm!("ic ivau, {}", in(reg) a, options(nostack)) };
        a += iline;
    }
    // SAFETY: barriers have no memory-safety preconditions.
    unsafe { std::arch::asm!("dsb ish", "isb", options(nostack)) };
}

#[cfg(not(target_arch = "aarch64"))]
fn sync_icache(_ptr: *mut u8, _len: usize) {}

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
        let ptr = match from_pool(map_len) {
            Some(p) => p,
            None => {
                // SAFETY: an anonymous private mapping with no address hint; the result is checked.
                let p = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        map_len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    )
                };
                if p == libc::MAP_FAILED {
                    return Err(JitError::Memory {
                        what: "mmap",
                        source: std::io::Error::last_os_error(),
                    });
                }
                p as *mut u8
            }
        };
        // SAFETY: the mapping is `map_len >= code.len()` bytes, writable, and new.
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), ptr, code.len());
            // Pad so that a stray jump past the end traps.
            std::ptr::write_bytes(ptr.add(code.len()), PAD, map_len - code.len());
        }
        sync_icache(ptr, map_len);
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
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let pooled: usize = pool.iter().map(|&(_, l)| l).sum();
        if pooled + self.map_len <= POOL_BYTES {
            // Still read+execute, and unreachable until `seal` rewrites it.
            pool.push((self.ptr as usize, self.map_len));
            return;
        }
        drop(pool);
        // SAFETY: the mapping is owned by `self` and no code runs from it any more
        // (running code borrows the program that owns this memory).
        unsafe { libc::munmap(self.ptr.cast(), self.map_len) };
    }
}
