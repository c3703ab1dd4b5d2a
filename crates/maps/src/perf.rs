//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one buffer of records per CPU, filled by
//! `bpf_perf_event_output` and drained by the host.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::error::MapError;

/// Bytes each CPU's buffer holds before records are counted as lost.
pub const PER_CPU_BYTES: usize = 64 * 4096;

#[derive(Debug, Default)]
struct CpuBuffer {
    records: VecDeque<Vec<u8>>,
    bytes: usize,
}

/// Per-CPU record buffers with a count of records lost to full buffers.
#[derive(Debug)]
pub struct PerfBuffers {
    cpus: Vec<Mutex<CpuBuffer>>,
    lost: AtomicU64,
}

impl PerfBuffers {
    /// Buffers for `ncpus` CPUs.
    pub fn new(ncpus: usize) -> PerfBuffers {
        PerfBuffers {
            cpus: (0..ncpus.max(1))
                .map(|_| Mutex::new(CpuBuffer::default()))
                .collect(),
            lost: AtomicU64::new(0),
        }
    }

    /// Appends a record to CPU `cpu`'s buffer.
    pub fn output(&self, cpu: usize, data: &[u8]) -> Result<(), MapError> {
        let slot = self.cpus.get(cpu).ok_or(MapError::TooBig)?;
        let mut b = slot.lock().unwrap_or_else(|e| e.into_inner());
        if b.bytes + data.len() > PER_CPU_BYTES {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return Err(MapError::NoSpace);
        }
        b.bytes += data.len();
        b.records.push_back(data.to_vec());
        Ok(())
    }

    /// Hands every buffered record to `f(cpu, record)`, CPU by CPU; returns the count.
    pub fn read(&self, mut f: impl FnMut(usize, &[u8])) -> usize {
        let mut n = 0;
        for (cpu, slot) in self.cpus.iter().enumerate() {
            let drained: Vec<Vec<u8>> = {
                let mut b = slot.lock().unwrap_or_else(|e| e.into_inner());
                b.bytes = 0;
                b.records.drain(..).collect()
            };
            for r in drained {
                f(cpu, &r);
                n += 1;
            }
        }
        n
    }

    /// Records dropped because a buffer was full.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Number of CPUs.
    pub fn ncpus(&self) -> usize {
        self.cpus.len()
    }
}
