//! `BPF_MAP_TYPE_RINGBUF`: records reserved by programs, then submitted or
//! discarded, and consumed by the host in reservation order.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::MapError;
use crate::storage::Bytes;

/// Size of the header the kernel puts before each record.
pub const RECORD_HEADER: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Busy,
    Committed,
    Discarded,
    /// Filler at the end of the buffer so a record need not wrap.
    Padding,
}

#[derive(Debug)]
struct Record {
    /// Offset of the header in the data area.
    offset: usize,
    /// Bytes the record occupies (header, data, alignment).
    span: usize,
    len: usize,
    state: State,
}

#[derive(Debug, Default)]
struct Positions {
    producer: u64,
    consumer: u64,
    records: VecDeque<Record>,
    /// Consumers waiting in `poll`: submits wake them only when there are any
    /// (a wake-up is a system call).
    waiters: usize,
}

/// A ring buffer of `size` bytes (a power of two).
#[derive(Debug)]
pub struct RingBuf {
    data: Bytes,
    pos: Mutex<Positions>,
    ready: Condvar,
}

impl RingBuf {
    /// A ring buffer of `size` bytes; the kernel requires a power of two.
    pub fn new(size: usize) -> Result<RingBuf, MapError> {
        if size < 8 || !size.is_power_of_two() {
            return Err(MapError::Invalid(format!(
                "ring buffer size {size} is not a power of two"
            )));
        }
        Ok(RingBuf {
            data: Bytes::zeroed(size),
            pos: Mutex::new(Positions::default()),
            ready: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Positions> {
        self.pos.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The data area programs write records into: (address, length).
    pub fn data_region(&self) -> (*mut u8, usize) {
        (self.data.ptr(0), self.data.len())
    }

    /// Reserves `len` bytes; returns the address of the record's data.
    pub fn reserve(&self, len: usize) -> Result<*mut u8, MapError> {
        let size = self.data.len();
        let span = RECORD_HEADER + len.div_ceil(8) * 8;
        // A zero-length record is a header alone, as in the kernel.
        if span > size / 2 {
            return Err(MapError::Invalid(format!(
                "record of {len} bytes does not fit"
            )));
        }
        let mut p = self.lock();
        let used = (p.producer - p.consumer) as usize;
        let offset = (p.producer as usize) % size;
        let pad = if offset + span > size {
            size - offset
        } else {
            0
        };
        if used + pad + span > size {
            return Err(MapError::NoSpace);
        }
        if pad > 0 {
            p.records.push_back(Record {
                offset,
                span: pad,
                len: 0,
                state: State::Padding,
            });
            p.producer += pad as u64;
        }
        let offset = (p.producer as usize) % size;
        p.records.push_back(Record {
            offset,
            span,
            len,
            state: State::Busy,
        });
        p.producer += span as u64;
        Ok(self.data.ptr(offset + RECORD_HEADER))
    }

    fn finish(&self, data: u64, state: State, wake: bool) -> Result<(), MapError> {
        let base = self.data.ptr(0) as u64;
        let offset = data.wrapping_sub(base).wrapping_sub(RECORD_HEADER as u64) as usize;
        let mut p = self.lock();
        // Newest first: a program usually submits the record it reserved last,
        // while older committed ones wait for the consumer.
        let rec = p
            .records
            .iter_mut()
            .rev()
            .find(|r| r.offset == offset && r.state == State::Busy)
            .ok_or_else(|| MapError::Invalid(format!("{data:#x} is not a reserved record")))?;
        rec.state = state;
        let wake = wake && p.waiters > 0;
        drop(p);
        if wake {
            self.ready.notify_all();
        }
        Ok(())
    }

    /// Commits the record whose data starts at `data`.
    pub fn submit(&self, data: u64, wake: bool) -> Result<(), MapError> {
        self.finish(data, State::Committed, wake)
    }

    /// Drops the record whose data starts at `data`.
    pub fn discard(&self, data: u64, wake: bool) -> Result<(), MapError> {
        self.finish(data, State::Discarded, wake)
    }

    /// Copies `bytes` into a new record and commits it.
    pub fn output(&self, bytes: &[u8], wake: bool) -> Result<(), MapError> {
        let p = self.reserve(bytes.len())?;
        // SAFETY: `reserve` returned room for `bytes.len()` bytes inside the buffer.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        self.submit(p as u64, wake)
    }

    /// `bpf_ringbuf_query`: 0 available data, 1 ring size, 2 consumer and 3 producer position.
    pub fn query(&self, what: u64) -> u64 {
        let p = self.lock();
        match what {
            0 => p.producer - p.consumer,
            1 => self.data.len() as u64,
            2 => p.consumer,
            3 => p.producer,
            _ => 0,
        }
    }

    /// Hands every committed record, in order, to `f`, stopping at the first
    /// record still being written. Returns how many records `f` saw.
    pub fn consume(&self, mut f: impl FnMut(&[u8])) -> usize {
        let mut seen = 0;
        loop {
            let mut p = self.lock();
            let Some(front) = p.records.front() else {
                break;
            };
            if front.state == State::Busy {
                break;
            }
            let rec = p.records.pop_front().expect("front exists");
            p.consumer += rec.span as u64;
            drop(p);
            if rec.state == State::Committed {
                let bytes = self.data.read(rec.offset + RECORD_HEADER, rec.len);
                f(&bytes);
                seen += 1;
            }
        }
        seen
    }

    /// Waits up to `timeout` for a committed record, then consumes; returns the count.
    pub fn poll(&self, timeout: Duration, f: impl FnMut(&[u8])) -> usize {
        let ready = |p: &mut Positions| p.records.front().is_some_and(|r| r.state != State::Busy);
        let mut p = self.lock();
        p.waiters += 1;
        let (mut p, _) = self
            .ready
            .wait_timeout_while(p, timeout, |p| !ready(p))
            .unwrap_or_else(|e| e.into_inner());
        p.waiters -= 1;
        drop(p);
        self.consume(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_length_records_are_headers_alone() {
        let rb = RingBuf::new(64).unwrap();
        rb.output(&[], true).unwrap();
        let p = rb.reserve(0).unwrap();
        rb.submit(p as u64, true).unwrap();
        rb.output(&[7], true).unwrap();
        let mut seen = Vec::new();
        assert_eq!(rb.consume(|b| seen.push(b.to_vec())), 3);
        assert_eq!(seen, vec![vec![], vec![], vec![7]]);
        // Two headers and one 8-byte-aligned record.
        assert_eq!(rb.query(3), 8 + 8 + 16);
    }

    #[test]
    fn records_come_out_in_reservation_order_once_committed() {
        let rb = RingBuf::new(64).unwrap();
        let a = rb.reserve(4).unwrap();
        let b = rb.reserve(4).unwrap();
        // SAFETY: both reservations are 4 bytes long.
        unsafe {
            a.copy_from([1u8, 1, 1, 1].as_ptr(), 4);
            b.copy_from([2u8, 2, 2, 2].as_ptr(), 4);
        }
        rb.submit(b as u64, true).unwrap();
        let mut got = Vec::new();
        assert_eq!(rb.consume(|r| got.push(r.to_vec())), 0, "a is still busy");
        rb.submit(a as u64, true).unwrap();
        assert_eq!(rb.consume(|r| got.push(r.to_vec())), 2);
        assert_eq!(got, vec![vec![1; 4], vec![2; 4]]);
        assert_eq!(rb.query(0), 0);
    }

    #[test]
    fn discarded_records_are_skipped_and_space_is_reused() {
        let rb = RingBuf::new(64).unwrap();
        for round in 0..20u8 {
            let p = rb.reserve(12).unwrap();
            if round % 2 == 0 {
                rb.discard(p as u64, false).unwrap();
            } else {
                // SAFETY: 12 bytes were reserved.
                unsafe { p.write_bytes(round, 12) };
                rb.submit(p as u64, false).unwrap();
            }
            let mut got = Vec::new();
            rb.consume(|r| got.push(r.to_vec()));
            assert_eq!(
                got,
                if round % 2 == 0 {
                    vec![]
                } else {
                    vec![vec![round; 12]]
                }
            );
        }
        assert_eq!(rb.query(0), 0);
    }

    #[test]
    fn poll_wakes_on_submit_from_another_thread() {
        let rb = std::sync::Arc::new(RingBuf::new(64).unwrap());
        let producer = {
            let rb = rb.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                rb.output(&[7; 4], true).unwrap();
            })
        };
        let mut got = Vec::new();
        let n = rb.poll(Duration::from_secs(10), |r| got.push(r.to_vec()));
        producer.join().unwrap();
        assert_eq!((n, got), (1, vec![vec![7; 4]]));
        assert_eq!(
            rb.poll(Duration::from_millis(1), |_| {}),
            0,
            "nothing more arrives"
        );
    }

    #[test]
    fn full_buffer_refuses_reservations() {
        let rb = RingBuf::new(64).unwrap();
        let _a = rb.reserve(24).unwrap();
        let _b = rb.reserve(16).unwrap();
        assert_eq!(rb.reserve(16), Err(MapError::NoSpace));
        assert!(rb.submit(12345, true).is_err());
    }
}
