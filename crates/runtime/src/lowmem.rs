//! Buffers below 4 GiB. Programs read `xdp_md.data` and `__sk_buff.data` as
//! 32-bit fields (the kernel's verifier rewrites those loads into pointer loads);
//! placing packets below 4 GiB lets the 32-bit values be the real addresses.

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
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        // SAFETY: unmapping exactly the mapping this value created.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}
