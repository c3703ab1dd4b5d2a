//! Buffers below 4 GiB. Programs read `xdp_md.data` and `__sk_buff.data` as
//! 32-bit fields (the kernel's verifier rewrites those loads into pointer loads);
//! placing packets below 4 GiB lets the 32-bit values be the real addresses.
//! Mappings are made below 2 GiB: with `MAP_32BIT` on x86-64, and elsewhere
//! on Linux (aarch64) by asking for addresses there with
//! `MAP_FIXED_NOREPLACE`, which never displaces an existing mapping.
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
    #[cfg(target_os = "linux")]
    // SAFETY: callers pass a mapping `LowMem::new` made and nothing else uses.
    unsafe {
        libc::munmap(ptr as *mut libc::c_void, len);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

/// Mappings end at or below this address.
#[cfg(all(target_os = "linux", not(target_arch = "x86_64")))]
const LIMIT: usize = 1 << 31;

/// `len` bytes of fresh anonymous memory below 2 GiB.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn map_low(len: usize) -> std::io::Result<*mut u8> {
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
    Ok(p as *mut u8)
}

/// `len` bytes of fresh anonymous memory below [`LIMIT`]: without
/// `MAP_32BIT`, by asking for addresses between 256 MiB and 2 GiB in turn,
/// with `MAP_FIXED_NOREPLACE` so that a taken range fails instead of being
/// replaced. A kernel older than 4.17 takes the flag as a plain hint: a
/// mapping it puts elsewhere is given back and the next address tried.
#[cfg(all(target_os = "linux", not(target_arch = "x86_64")))]
fn map_low(len: usize) -> std::io::Result<*mut u8> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const FIRST: usize = 1 << 28;
    /// Where the next search starts, so that threads do not all probe the same range.
    static NEXT: AtomicUsize = AtomicUsize::new(FIRST);
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    let step = len.div_ceil(page) * page;
    let span = LIMIT - FIRST;
    if step == 0 || step > span {
        return Err(std::io::Error::from_raw_os_error(libc::ENOMEM));
    }
    let start = NEXT.load(Ordering::Relaxed);
    // Probe at most this many addresses, covering the whole range once.
    let tries = (span / step).min(4096);
    let stride = (span / tries).max(step).div_ceil(page) * page;
    for i in 0..tries {
        let hint =
            FIRST + (start.saturating_sub(FIRST) + i * stride) % (span - step + 1) / page * page;
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping;
        // the result is checked before use.
        let p = unsafe {
            libc::mmap(
                hint as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            continue;
        }
        let addr = p as usize;
        if addr.checked_add(len).is_some_and(|end| end <= LIMIT) {
            NEXT.store(addr + step, Ordering::Relaxed);
            return Ok(p as *mut u8);
        }
        unmap(p as *mut u8, len);
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::OutOfMemory,
        "no free address range below 2 GiB for a packet context",
    ))
}

#[cfg(not(target_os = "linux"))]
fn map_low(_len: usize) -> std::io::Result<*mut u8> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "packet contexts need memory below 2 GiB, which only Linux provides here",
    ))
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
        Ok(LowMem {
            ptr: map_low(len)?,
            len,
        })
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
