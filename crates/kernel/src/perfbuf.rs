//! A reader of a `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one `PERF_COUNT_SW_BPF_OUTPUT`
//! event per CPU, each with its mmap'd ring, stored in the map at the CPU's
//! index so that `bpf_perf_event_output` reaches it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::attach::{online_cpus, perf_event_open, PerfAttr};
use crate::error::KernelError;
use crate::maps::{Map, BPF_ANY};
use crate::ringbuf::{page_size, Epoll, Mapping};

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
const PERF_SAMPLE_RAW: u64 = 1 << 10;
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
const PERF_EVENT_IOC_ENABLE: u64 = 0x2400;

/// What a perf buffer delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PerfEvent {
    /// A sample's raw bytes (the kernel pads them to keep records aligned).
    Sample { cpu: usize, data: Vec<u8> },
    /// The kernel dropped `count` samples because the ring was full.
    Lost { cpu: usize, count: u64 },
}

struct CpuRing {
    cpu: usize,
    _event: OwnedFd,
    ring: Mapping,
}

/// A perf buffer reader.
pub struct PerfBuffer {
    rings: Vec<CpuRing>,
    page: usize,
    epoll: Epoll,
}

impl PerfBuffer {
    /// Opens one event per online CPU with `pages` data pages (a power of two)
    /// and stores them in perf event array `map`.
    pub fn new(map: &Map, pages: usize) -> Result<PerfBuffer, KernelError> {
        if map.info().map_type != 4 {
            return Err(KernelError::Unsupported(format!(
                "map `{}` is not a perf event array",
                map.info().name
            )));
        }
        let pages = pages.max(1).next_power_of_two();
        let page = page_size();
        let epoll = Epoll::new()?;
        let mut rings = Vec::new();
        let sys = crate::sys::RealSys;
        for cpu in online_cpus() {
            if cpu >= map.info().max_entries as usize {
                break;
            }
            let mut attr = PerfAttr::new(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT);
            attr.put_u64(16, 1); // sample_period
            attr.put_u64(24, PERF_SAMPLE_RAW); // sample_type
            attr.put_u32(48, 1); // wakeup_events
            let event = perf_event_open(&sys, &mut attr, -1, cpu as i32)?;
            let ring = Mapping::new(
                event.as_raw_fd(),
                (pages + 1) * page,
                libc::PROT_READ | libc::PROT_WRITE,
                0,
            )?;
            map.update(
                &(cpu as u32).to_ne_bytes(),
                &(event.as_raw_fd() as u32).to_ne_bytes(),
                BPF_ANY,
            )?;
            // SAFETY: ENABLE takes no argument.
            unsafe { libc::ioctl(event.as_raw_fd(), PERF_EVENT_IOC_ENABLE as _, 0) };
            epoll.add(event.as_raw_fd(), rings.len() as u64)?;
            rings.push(CpuRing {
                cpu,
                _event: event,
                ring,
            });
        }
        Ok(PerfBuffer { rings, page, epoll })
    }

    fn read_ring(&self, r: &CpuRing, out: &mut Vec<PerfEvent>) {
        let base = r.ring.ptr;
        // SAFETY: data_head and data_tail are 8-byte fields of the metadata page.
        let head = unsafe { &*(base.add(1024) as *const AtomicU64) }.load(Ordering::Acquire);
        // SAFETY: as above.
        let tail_ref = unsafe { &*(base.add(1032) as *const AtomicU64) };
        let mut tail = tail_ref.load(Ordering::Relaxed);
        let size = (r.ring.len - self.page) as u64;
        // SAFETY: the data area follows the metadata page.
        let data = unsafe { std::slice::from_raw_parts(base.add(self.page), size as usize) };
        let read = |at: u64, len: usize| -> Vec<u8> {
            (0..len as u64)
                .map(|i| data[((at + i) % size) as usize])
                .collect()
        };
        while tail + 8 <= head {
            let hdr = read(tail, 8);
            let kind = u32::from_ne_bytes(hdr[0..4].try_into().expect("four bytes"));
            let len = u16::from_ne_bytes([hdr[6], hdr[7]]) as u64;
            if len < 8 || tail + len > head {
                break;
            }
            let body = read(tail + 8, len as usize - 8);
            match kind {
                PERF_RECORD_SAMPLE if body.len() >= 4 => {
                    let n = u32::from_ne_bytes(body[0..4].try_into().expect("four bytes")) as usize;
                    let data = body[4..].get(..n).unwrap_or(&body[4..]).to_vec();
                    out.push(PerfEvent::Sample { cpu: r.cpu, data });
                }
                PERF_RECORD_LOST if body.len() >= 16 => {
                    let count = u64::from_ne_bytes(body[8..16].try_into().expect("eight bytes"));
                    out.push(PerfEvent::Lost { cpu: r.cpu, count });
                }
                _ => {}
            }
            tail += len;
        }
        tail_ref.store(tail, Ordering::Release);
    }

    /// Reads everything available on every CPU without waiting.
    pub fn read(&mut self) -> Vec<PerfEvent> {
        let mut out = Vec::new();
        for r in &self.rings {
            self.read_ring(r, &mut out);
        }
        out
    }

    /// Waits up to `timeout` for events, then reads what is there.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<PerfEvent>, KernelError> {
        self.epoll.wait(timeout)?;
        Ok(self.read())
    }

    /// The CPUs read from.
    pub fn cpus(&self) -> Vec<usize> {
        self.rings.iter().map(|r| r.cpu).collect()
    }
}
