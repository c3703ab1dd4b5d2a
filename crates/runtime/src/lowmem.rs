//! Buffers below 4 GiB. Programs read `xdp_md.data` and `__sk_buff.data` as
//! 32-bit fields (the kernel's verifier rewrites those loads into pointer loads);
//! placing packets below 4 GiB lets the 32-bit values be the real addresses.
//!
//! Freed buffers stay with their thread for the next test run: zeroing one
//! costs far less than the `mmap` and `munmap` a fresh one takes.

use std::cell::RefCell;

/// Freed mappings (address, length) kept by a thread, unmapped when it ends.
struct Pool(Vec<(usize, usize)>);

impl Drop for Pool {
    fn drop(&mut self) {
        for &(ptr, len) in &self.0 {
            unmap(ptr as *mut u8, len);
        }
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool(Vec::new())) };
}

/// At most this many bytes of freed buffers are kept per thread.
const POOL_BYTES: usize = 1 << 20;

fn unmap(ptr: *mut u8, len: usize) {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    // SAFETY: callers pass a mapping `LowMem::new` made and nothing else uses.
    unsafe {
        libc::munmap(ptr as *mut libc::c_void, len);
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    let _ = (ptr, len);
}

/// An anonymous mapping in the low 2 GiB of the address space.
pub struct LowMem {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value.
unsafe impl Send for LowMem {}

impl LowMem {
    /// `len` zeroed bytes below 2 GiB.
    pub fn new(len: usize) -> std::io::Result<LowMem> {
        let len = len.max(1).div_ceil(4096) * 4096;
        let reused = POOL
            .try_with(|p| {
                let mut p = p.borrow_mut();
                let i = p.0.iter().position(|&(_, l)| l == len)?;
                Some(p.0.swap_remove(i).0)
            })
            .ok()
            .flatten();
        if let Some(ptr) = reused {
            let ptr = ptr as *mut u8;
            // SAFETY: a whole mapping of `len` bytes from the pool, owned from now on.
            unsafe { std::ptr::write_bytes(ptr, 0, len) };
            return Ok(LowMem { ptr, len });
        }
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        {
            // SAFETY: an anonymous private mapping with no address hint; the
            // result is checked before use.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            Ok(LowMem {
                ptr: p as *mut u8,
                len,
            })
        }
        #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
        {
            let _ = len;
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "packet contexts need MAP_32BIT (Linux on x86-64)",
            ))
        }
    }

    /// The first byte's address.
    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }

    /// The mapping as bytes.
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` readable and writable bytes owned by self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for LowMem {
    fn drop(&mut self) {
        let (ptr, len) = (self.ptr as usize, self.len);
        let kept = POOL
            .try_with(|p| {
                let mut p = p.borrow_mut();
                let pooled: usize = p.0.iter().map(|&(_, l)| l).sum();
                let keep = pooled + len <= POOL_BYTES;
                if keep {
                    p.0.push((ptr, len));
                }
                keep
            })
            .unwrap_or(false);
        if !kept {
            unmap(self.ptr, self.len);
        }
    }
}
