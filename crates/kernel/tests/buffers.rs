//! Ring and perf buffers under load: more events than they hold (the ring
//! buffer drops what does not fit, the perf buffer reports lost samples),
//! then enough traffic, read as it comes, to wrap both around several times.
//! In a test binary of its own, so that no other test's syscalls add events.

use std::path::PathBuf;
use std::time::Duration;

use oxbpf_kernel::attach::{mount_tracefs_at, tracefs, tracepoint_id_in, unmount};
use oxbpf_kernel::perfbuf::{PerfBuffer, PerfEvent};
use oxbpf_kernel::ringbuf::RingBuf;
use oxbpf_kernel::Kernel;
use oxbpf_object::Object;

fn getppid() {
    // SAFETY: getppid has no preconditions.
    std::hint::black_box(unsafe { libc::getppid() });
}

fn seq(r: &[u8]) -> u32 {
    u32::from_ne_bytes(r[8..12].try_into().unwrap())
}

#[test]
fn buffers_overflow_and_wrap_without_losing_their_place() {
    let test = "buffers_overflow_and_wrap";
    if !oxbpf_kernel::sys::privileged() {
        println!("skipped {test}: needs root (CAP_BPF and CAP_PERFMON)");
        return;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return;
    }
    let (dir, mounted) = match tracefs() {
        Some(d) => (d, false),
        None => {
            let d = std::env::temp_dir().join(format!("oxbpf-tracefs-{}", std::process::id()));
            if let Err(e) = mount_tracefs_at(&d) {
                println!("skipped {test}: no tracefs and cannot mount one: {e}");
                return;
            }
            (d, true)
        }
    };
    let id = tracepoint_id_in(&dir, "syscalls", "sys_enter_getppid");
    if mounted {
        let _ = unmount(&dir);
        let _ = std::fs::remove_dir(&dir);
    }
    let id = id.unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/kattach.o");
    let mut obj = Object::parse(&std::fs::read(path).unwrap()).unwrap();
    obj.set_global("target_tgid", &std::process::id().to_le_bytes())
        .unwrap();
    let k = Kernel::load(&obj).unwrap();
    let mut ring = RingBuf::new(k.map("events").unwrap()).unwrap();
    // One data page per CPU: 4096 bytes hold 128 samples of 32 bytes.
    let mut perf = PerfBuffer::new(k.map("perf_events").unwrap(), 1).unwrap();
    let _link = k
        .attach_tracepoint_id("on_getppid", id, "syscalls/sys_enter_getppid")
        .unwrap();

    // Overflow: 4000 events with nobody reading. The ring buffer (64 KiB,
    // 24 bytes a record) keeps the first ones; the perf buffer (one page a
    // CPU) fills sooner and counts the rest as lost.
    for _ in 0..4000 {
        getppid();
    }
    let mut kept = Vec::new();
    ring.consume(|r| kept.push(seq(r)));
    let full = kept.len();
    assert!(full > 1000 && full < 4000, "{full}");
    assert!(kept.windows(2).all(|w| w[1] == w[0] + 1), "consecutive");
    let (mut samples, mut lost) = (0u64, 0u64);
    let mut tally = |events: Vec<PerfEvent>| {
        for e in events {
            match e {
                PerfEvent::Sample { .. } => samples += 1,
                PerfEvent::Lost { count, .. } => lost += count,
            }
        }
    };
    tally(perf.read());
    // The kernel reports the loss with its next write, once there is room.
    getppid();
    tally(perf.read());
    ring.consume(|r| kept.push(seq(r)));
    assert!(lost > 0, "the perf ring was full");
    // The program skips its perf output when the ring buffer is full, so the
    // perf buffer saw exactly the events the ring buffer kept.
    assert_eq!(kept.len(), full + 1);
    assert_eq!(
        samples + lost,
        kept.len() as u64,
        "every sample delivered or counted lost"
    );

    // Wrap: 20 rounds of 100 events, read after each, go round both rings.
    let mut ring_seqs = Vec::new();
    let mut perf_seqs = Vec::new();
    for _ in 0..20 {
        for _ in 0..100 {
            getppid();
        }
        ring.poll(Duration::from_millis(100), |r| ring_seqs.push(seq(r)))
            .unwrap();
        for e in perf.poll(Duration::from_millis(100)).unwrap() {
            match e {
                PerfEvent::Sample { data, .. } => perf_seqs.push(seq(&data)),
                PerfEvent::Lost { count, .. } => panic!("{count} lost while reading"),
            }
        }
    }
    ring.consume(|r| ring_seqs.push(seq(r)));
    perf_seqs.extend(perf.read().into_iter().map(|e| match e {
        PerfEvent::Sample { data, .. } => seq(&data),
        PerfEvent::Lost { count, .. } => panic!("{count} lost"),
    }));
    assert_eq!(ring_seqs.len(), 2000);
    assert!(ring_seqs.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(perf_seqs.len(), 2000);
    // Samples of one CPU come in order; across CPUs they interleave.
    perf_seqs.sort();
    perf_seqs.dedup();
    assert_eq!(perf_seqs.len(), 2000, "no sample read twice");
    println!(
        "{test}: ring kept {full} of 4000, perf {samples} + {lost} lost; then 2000 each after wrapping"
    );
}
