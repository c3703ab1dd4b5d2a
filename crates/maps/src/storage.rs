//! Value memory that programs reach through raw pointers while the host reads
//! and writes it: fixed, 8-byte aligned, never moved while the map lives.

use std::cell::UnsafeCell;

/// A block of 8-byte-aligned bytes shared between programs and the host.
///
/// As in the kernel, concurrent plain reads and writes of a value are racy by
/// design (programs use atomics where it matters); the bytes are only ever
/// touched through raw pointers, never through Rust references.
pub struct Bytes {
    words: Box<[UnsafeCell<u64>]>,
    len: usize,
}

// SAFETY: the memory is only accessed through raw pointers (`ptr`, `read`,
// `write`), with the same racy-by-design contract as BPF map values in the kernel.
unsafe impl Sync for Bytes {}
// SAFETY: owning the allocation on another thread is fine; see `Sync`.
unsafe impl Send for Bytes {}

impl Bytes {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Bytes {
        let words = (0..len.div_ceil(8)).map(|_| UnsafeCell::new(0)).collect();
        Bytes { words, len }
    }

    /// A copy of `data`.
    pub fn from_slice(data: &[u8]) -> Bytes {
        let b = Bytes::zeroed(data.len());
        b.write(0, data);
        b
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the block is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of byte `off` (for handing to programs).
    pub fn ptr(&self, off: usize) -> *mut u8 {
        debug_assert!(off <= self.len);
        // UnsafeCell<u64> has the layout of u64; the slice is contiguous.
        (self.words.as_ptr() as *mut u8).wrapping_add(off)
    }

    /// Copies `len` bytes out from `off`. Panics if out of range (callers check sizes).
    pub fn read(&self, off: usize, len: usize) -> Vec<u8> {
        assert!(off + len <= self.len, "read past the end of a map value");
        let mut out = vec![0u8; len];
        // SAFETY: the range lies inside the allocation (asserted above).
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(off), out.as_mut_ptr(), len) };
        out
    }

    /// Copies `data` in at `off`. Panics if out of range (callers check sizes).
    pub fn write(&self, off: usize, data: &[u8]) {
        assert!(
            off + data.len() <= self.len,
            "write past the end of a map value"
        );
        // SAFETY: the range lies inside the allocation (asserted above).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr(off), data.len()) };
    }

    /// Zeroes the block.
    pub fn clear(&self) {
        self.write(0, &vec![0u8; self.len]);
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.len)
    }
}
