//! Memory regions: the only memory a program may touch.
//!
//! Addresses seen by programs are host addresses, so helpers and the host can
//! exchange pointers with programs directly. Every access is checked against the
//! regions of the current run before it happens.

use std::marker::PhantomData;

/// A region of host memory lent to one run of a program.
#[derive(Debug)]
pub struct Region<'a> {
    pub(crate) raw: RawRegion,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> Region<'a> {
    /// A region the program may read and write.
    pub fn writable(mem: &'a mut [u8]) -> Region<'a> {
        Region {
            raw: RawRegion {
                start: mem.as_mut_ptr() as u64,
                len: mem.len() as u64,
                writable: true,
            },
            _borrow: PhantomData,
        }
    }

    /// A region the program may only read.
    pub fn readable(mem: &'a [u8]) -> Region<'a> {
        Region {
            raw: RawRegion {
                start: mem.as_ptr() as u64,
                len: mem.len() as u64,
                writable: false,
            },
            _borrow: PhantomData,
        }
    }

    /// A region over memory the caller guarantees, such as a map's storage.
    ///
    /// # Safety
    /// `len` bytes at `ptr` must stay valid (and, when `writable`, writable
    /// through raw pointers) for the lifetime `'a`.
    pub unsafe fn from_raw(ptr: *mut u8, len: usize, writable: bool) -> Region<'a> {
        Region {
            raw: RawRegion {
                start: ptr as u64,
                len: len as u64,
                writable,
            },
            _borrow: PhantomData,
        }
    }

    /// The address the program sees for the first byte.
    pub fn addr(&self) -> u64 {
        self.raw.start
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.raw.len as usize
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.len == 0
    }

    /// The region without its borrow (for engines such as the JIT).
    pub fn raw(&self) -> RawRegion {
        self.raw
    }
}

/// A region without its borrow, valid for the duration of one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawRegion {
    /// Address of the first byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// Whether the program may write it.
    pub writable: bool,
}

/// The maximum number of regions in one run (stack included).
pub const MAX_REGIONS: usize = 64;

/// The regions of one run: region 0 is the stack, region 1 the input memory.
#[derive(Clone, Copy, Debug)]
pub struct MemoryMap {
    regions: [RawRegion; MAX_REGIONS],
    count: usize,
}

impl Default for MemoryMap {
    fn default() -> Self {
        MemoryMap::new()
    }
}

impl MemoryMap {
    /// No regions.
    pub fn new() -> MemoryMap {
        MemoryMap {
            regions: [RawRegion::default(); MAX_REGIONS],
            count: 0,
        }
    }

    /// Removes every region.
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// The regions, in the order they were added.
    pub fn regions(&self) -> &[RawRegion] {
        &self.regions[..self.count]
    }

    /// Adds a region; false when [`MAX_REGIONS`] are already in use.
    pub fn push(&mut self, r: RawRegion) -> bool {
        if self.count == MAX_REGIONS {
            return false;
        }
        self.regions[self.count] = r;
        self.count += 1;
        true
    }

    /// The host pointer for `len` bytes at `addr`, if they lie inside one region
    /// (a writable one when `write`).
    #[inline(always)]
    pub fn translate(&self, addr: u64, len: u64, write: bool) -> Option<*mut u8> {
        // The input memory (region 1) and the stack (region 0) take most
        // accesses; unused slots have length 0 and never match.
        if self.regions[1].contains(addr, len, write) || self.regions[0].contains(addr, len, write)
        {
            return Some(addr as *mut u8);
        }
        self.translate_rest(addr, len, write)
    }

    /// [`MemoryMap::translate`] over the regions after the first two.
    #[inline(never)]
    fn translate_rest(&self, addr: u64, len: u64, write: bool) -> Option<*mut u8> {
        let rest = self.regions.get(2..self.count).unwrap_or(&[]);
        rest.iter()
            .any(|r| r.contains(addr, len, write))
            .then_some(addr as *mut u8)
    }
}

impl RawRegion {
    /// Whether `len` bytes at `addr` lie inside (and may be written, when `write`).
    #[inline(always)]
    fn contains(&self, addr: u64, len: u64, write: bool) -> bool {
        let off = addr.wrapping_sub(self.start);
        off < self.len && self.len - off >= len && (self.writable || !write)
    }
}

impl MemoryMap {
    /// Describes where `len` bytes at `addr` lie relative to the regions, for
    /// error messages; region 0 is the stack and region 1 the input memory.
    pub fn locate(&self, addr: u64, len: u64, write: bool) -> String {
        const NEAR: u64 = 4096;
        let name = |i: usize| match i {
            0 => "the stack".to_string(),
            1 => "the input memory".to_string(),
            n => format!("memory region {n}"),
        };
        if addr < NEAR {
            return format!(" (a null pointer plus {addr})");
        }
        // The description relative to the nearest region wins.
        let mut best: Option<(u64, String)> = None;
        for (i, r) in self.regions[..self.count].iter().enumerate() {
            let end = r.start.wrapping_add(r.len);
            let off = addr.wrapping_sub(r.start);
            let (distance, text) = if off < r.len {
                if off + len <= r.len && write && !r.writable {
                    (0, format!(" ({} is read-only)", name(i)))
                } else {
                    let text = format!(
                        " (it starts at offset {off} of {}, which is {} bytes long, and runs past its end)",
                        name(i),
                        r.len
                    );
                    (0, text)
                }
            } else if addr >= end {
                let text = match addr - end {
                    0 => format!(
                        " (just past the end of {}, which is {} bytes long)",
                        name(i),
                        r.len
                    ),
                    d => format!(
                        " ({d} bytes past the end of {}, which is {} bytes long)",
                        name(i),
                        r.len
                    ),
                };
                (addr - end + 1, text)
            } else {
                let d = r.start - addr;
                (d, format!(" ({d} bytes before {})", name(i)))
            };
            if distance < NEAR && best.as_ref().is_none_or(|(b, _)| distance < *b) {
                best = Some((distance, text));
            }
        }
        best.map(|(_, t)| t).unwrap_or_default()
    }
}

/// Checked access to the memory of a run, for helpers.
pub struct MemoryView<'r> {
    pub(crate) map: &'r MemoryMap,
}

impl<'r> MemoryView<'r> {
    /// A view of `map`'s regions.
    pub fn new(map: &'r MemoryMap) -> MemoryView<'r> {
        MemoryView { map }
    }

    /// The `len` bytes at `addr`, if the program may read them.
    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let p = self.map.translate(addr, len as u64, false)?;
        // SAFETY: `translate` proved [addr, addr+len) lies inside a region whose
        // memory is borrowed for the whole run, and helpers run inside the run.
        Some(unsafe { std::slice::from_raw_parts(p, len) })
    }

    /// Whether the program may write `len` bytes at `addr` (check before
    /// allocating a buffer of a length the program chose).
    pub fn can_write(&self, addr: u64, len: usize) -> bool {
        self.map.translate(addr, len as u64, true).is_some()
    }

    /// Copies `data` to `addr`, if the program may write there.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Option<()> {
        let p = self.map.translate(addr, data.len() as u64, true)?;
        // SAFETY: as in `read`, and the region is writable; `data` cannot alias
        // it mutably because `self` is borrowed mutably.
        unsafe { std::ptr::copy(data.as_ptr(), p, data.len()) };
        Some(())
    }

    /// The NUL-terminated string at `addr`, reading at most `max` bytes.
    pub fn read_cstr(&self, addr: u64, max: usize) -> Option<&[u8]> {
        let mut len = 0;
        while len < max {
            let b = self.read(addr.wrapping_add(len as u64), 1)?;
            if b[0] == 0 {
                break;
            }
            len += 1;
        }
        self.read(addr, len)
    }
}
