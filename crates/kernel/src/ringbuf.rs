//! A consumer of a `BPF_MAP_TYPE_RINGBUF` map: the consumer page mapped
//! writable, the producer page and the data area (mapped twice in a row by
//! the kernel, so records never wrap) read-only, and epoll to sleep until the
//! kernel signals new data.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::KernelError;
use crate::maps::Map;

const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HEADER: u64 = 8;

/// An mmap'd region, unmapped on drop.
pub(crate) struct Mapping {
    pub ptr: *mut u8,
    pub len: usize,
}

// SAFETY: the mapping is plain shared memory; access goes through atomics or
// through slices the owner hands out while it is borrowed.
unsafe impl Send for Mapping {}

impl Mapping {
    pub fn new(fd: i32, len: usize, prot: i32, offset: usize) -> Result<Mapping, KernelError> {
        // SAFETY: a fresh shared mapping of a descriptor the caller keeps open.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd,
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(KernelError::os(
                "mmap",
                std::io::Error::last_os_error(),
                "CAP_BPF",
            ));
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `new` mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// The page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// An epoll instance.
pub(crate) struct Epoll(pub OwnedFd);

impl Epoll {
    pub fn new() -> Result<Epoll, KernelError> {
        // SAFETY: epoll_create1 has no pointer arguments.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(KernelError::os(
                "epoll_create1",
                std::io::Error::last_os_error(),
                "nothing",
            ));
        }
        Ok(Epoll(crate::sys::owned(fd)))
    }

    pub fn add(&self, fd: i32, token: u64) -> Result<(), KernelError> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid event for the call.
        let r = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            return Err(KernelError::os(
                "epoll_ctl",
                std::io::Error::last_os_error(),
                "nothing",
            ));
        }
        Ok(())
    }

    /// Waits up to `timeout`; returns the tokens that are ready.
    pub fn wait(&self, timeout: Duration) -> Result<Vec<u64>, KernelError> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `events` has room for the count passed.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                ms,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(Vec::new());
            }
            return Err(KernelError::os("epoll_wait", e, "nothing"));
        }
        Ok(events[..n as usize].iter().map(|e| e.u64).collect())
    }
}

/// Duplicates a descriptor, so that a reader keeps its map open by itself.
pub(crate) fn dup(fd: i32) -> Result<OwnedFd, KernelError> {
    // SAFETY: F_DUPFD_CLOEXEC takes an integer argument.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(KernelError::os(
            "fcntl(F_DUPFD_CLOEXEC)",
            std::io::Error::last_os_error(),
            "nothing",
        ));
    }
    Ok(crate::sys::owned(new))
}

/// A ring buffer reader.
pub struct RingBuf {
    _map: OwnedFd,
    consumer: Mapping,
    producer: Mapping,
    page: usize,
    mask: u64,
    epoll: Epoll,
}

impl RingBuf {
    /// Maps ring buffer `map` for reading.
    pub fn new(map: &Map) -> Result<RingBuf, KernelError> {
        if map.info().map_type != 27 {
            return Err(KernelError::Unsupported(format!(
                "map `{}` is not a ring buffer",
                map.info().name
            )));
        }
        let size = map.info().max_entries as usize;
        let fd = dup(map.fd())?;
        let page = page_size();
        let consumer = Mapping::new(fd.as_raw_fd(), page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = Mapping::new(fd.as_raw_fd(), page + 2 * size, libc::PROT_READ, page)?;
        let epoll = Epoll::new()?;
        epoll.add(fd.as_raw_fd(), 0)?;
        Ok(RingBuf {
            _map: fd,
            consumer,
            producer,
            page,
            mask: (size as u64).saturating_sub(1),
            epoll,
        })
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page starts with the 8-byte aligned position.
        unsafe { &*(self.consumer.ptr as *const AtomicU64) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: the producer page starts with the 8-byte aligned position.
        unsafe { &*(self.producer.ptr as *const AtomicU64) }
    }

    /// Hands every committed record to `f`; returns how many there were.
    pub fn consume(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let mut n = 0;
        let mut cons = self.consumer_pos().load(Ordering::Acquire);
        loop {
            let prod = self.producer_pos().load(Ordering::Acquire);
            if cons >= prod {
                break;
            }
            let at = self.page + (cons & self.mask) as usize;
            // SAFETY: `at` is within the data area; record headers are 8-byte aligned.
            let len = unsafe { &*(self.producer.ptr.add(at) as *const AtomicU32) }
                .load(Ordering::Acquire);
            if len & BUSY != 0 {
                break; // reserved, not committed yet
            }
            let size = (len & !(BUSY | DISCARD)) as usize;
            if len & DISCARD == 0 && at + HEADER as usize + size <= self.producer.len {
                // SAFETY: the data area is mapped twice, so the record is
                // contiguous; the bound was just checked.
                let rec = unsafe {
                    std::slice::from_raw_parts(self.producer.ptr.add(at + HEADER as usize), size)
                };
                f(rec);
                n += 1;
            }
            cons += (size as u64 + HEADER).next_multiple_of(8);
            self.consumer_pos().store(cons, Ordering::Release);
        }
        n
    }

    /// Waits up to `timeout` for records, then consumes what is there.
    pub fn poll(&mut self, timeout: Duration, f: impl FnMut(&[u8])) -> Result<usize, KernelError> {
        self.epoll.wait(timeout)?;
        Ok(self.consume(f))
    }
}
