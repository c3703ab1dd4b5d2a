//! Attachments in the running kernel, observed from this process: a syscall
//! tracepoint reporting through a ring buffer and a perf buffer, a uprobe
//! and a uretprobe on a function of this test binary, perf-event sampling,
//! and a socket filter on a UDP socket. Each detaches when its link drops.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use oxbpf_kernel::attach::{mount_tracefs_at, tracefs, tracepoint_id_in, unmount};
use oxbpf_kernel::perfbuf::{PerfBuffer, PerfEvent};
use oxbpf_kernel::ringbuf::RingBuf;
use oxbpf_kernel::Kernel;
use oxbpf_object::Object;

/// kattach.o with `target_tgid` set to this process, loaded; `None` (after a
/// skip line) when not root.
fn load(test: &str) -> Option<Kernel> {
    if !oxbpf_kernel::sys::privileged() {
        println!("skipped {test}: needs root (CAP_BPF and CAP_PERFMON) to attach programs");
        return None;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return None;
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/kattach.o");
    let mut obj = Object::parse(&std::fs::read(path).unwrap()).unwrap();
    obj.set_global("target_tgid", &std::process::id().to_le_bytes())
        .unwrap();
    Some(Kernel::load(&obj).unwrap())
}

fn counter(k: &Kernel, slot: u32) -> u64 {
    let v = k
        .map("counters")
        .unwrap()
        .lookup(&slot.to_ne_bytes())
        .unwrap()
        .unwrap();
    u64::from_ne_bytes(v[..8].try_into().unwrap())
}

/// A tracefs to read tracepoint ids from: the system's, or one this test
/// mounts in its own directory and unmounts on drop.
struct Tracefs {
    dir: PathBuf,
    mounted: bool,
}

impl Tracefs {
    fn get(test: &str) -> Option<Tracefs> {
        if let Some(dir) = tracefs() {
            return Some(Tracefs {
                dir,
                mounted: false,
            });
        }
        let dir = std::env::temp_dir().join(format!("oxbpf-tracefs-{}-{test}", std::process::id()));
        match mount_tracefs_at(&dir) {
            Ok(()) => Some(Tracefs { dir, mounted: true }),
            Err(e) => {
                println!("skipped {test}: no tracefs and cannot mount one: {e}");
                None
            }
        }
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = unmount(&self.dir);
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

fn getppid() {
    // SAFETY: getppid has no preconditions.
    std::hint::black_box(unsafe { libc::getppid() });
}

#[test]
fn tracepoint_events_arrive_through_the_ring_and_perf_buffers() {
    let test = "tracepoint_events";
    let Some(k) = load(test) else { return };
    let Some(fs) = Tracefs::get(test) else { return };
    let id = tracepoint_id_in(&fs.dir, "syscalls", "sys_enter_getppid").unwrap();
    let mut ring = RingBuf::new(k.map("events").unwrap()).unwrap();
    let mut perf = PerfBuffer::new(k.map("perf_events").unwrap(), 8).unwrap();
    let link = k
        .attach_tracepoint_id("on_getppid", id, "syscalls/sys_enter_getppid")
        .unwrap();
    for _ in 0..5 {
        getppid();
    }
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while records.len() < 5 && Instant::now() < deadline {
        ring.poll(Duration::from_millis(200), |r| records.push(r.to_vec()))
            .unwrap();
    }
    let word = |r: &[u8], i: usize| u32::from_ne_bytes(r[i * 4..i * 4 + 4].try_into().unwrap());
    assert_eq!(records.len(), 5, "{records:?}");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.len(), 16);
        assert_eq!(word(r, 0), std::process::id(), "tgid");
        assert_eq!(word(r, 2), i as u32, "seq");
        assert_eq!(word(r, 3) as i64, libc::SYS_getppid, "syscall number");
    }
    let mut samples = Vec::new();
    while samples.len() < 5 && Instant::now() < deadline {
        for e in perf.poll(Duration::from_millis(200)).unwrap() {
            match e {
                PerfEvent::Sample { data, .. } => samples.push(data),
                PerfEvent::Lost { count, .. } => panic!("{count} samples lost"),
            }
        }
    }
    assert_eq!(samples.len(), 5);
    for (s, r) in samples.iter().zip(&records) {
        assert_eq!(&s[..16], &r[..], "the perf sample carries the same event");
    }
    drop(link);
    getppid();
    assert_eq!(ring.consume(|_| {}), 0, "no events after detaching");
    println!("{test}: 5 ring buffer records and 5 perf samples, none after detach");
}

/// The function the uprobe test probes.
#[no_mangle]
#[inline(never)]
pub extern "C" fn oxbpf_kernel_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3) + 1
}

#[test]
fn uprobes_count_calls_and_returns_of_a_function_in_this_binary() {
    let test = "uprobes_count_calls";
    let Some(k) = load(test) else { return };
    let exe = std::env::current_exe().unwrap();
    let entry = k
        .attach_uprobe(
            "count_calls",
            &exe,
            "oxbpf_kernel_uprobe_target",
            false,
            None,
        )
        .unwrap();
    let ret = k
        .attach_uprobe(
            "count_returns",
            &exe,
            "oxbpf_kernel_uprobe_target",
            true,
            None,
        )
        .unwrap();
    let mut sum = 0u64;
    for i in 0..7 {
        sum += oxbpf_kernel_uprobe_target(i);
    }
    assert_eq!(counter(&k, 0), 7, "entries");
    assert_eq!(counter(&k, 1), 7, "returns");
    assert_eq!(
        counter(&k, 2),
        sum,
        "sum of return values read from pt_regs"
    );
    drop(entry);
    drop(ret);
    oxbpf_kernel_uprobe_target(100);
    assert_eq!(counter(&k, 0), 7, "no counting after detach");
    println!("{test}: 7 calls and 7 returns counted; detached after");
}

#[test]
fn uprobe_on_a_shared_library_function() {
    let test = "uprobe_on_a_shared_library_function";
    let Some(k) = load(test) else { return };
    // getpgid is imported from libc: resolution follows DT_NEEDED. (No other
    // test here calls it, so the count is this test's alone.)
    let exe = std::env::current_exe().unwrap();
    let at = oxbpf_kernel::symbols::resolve(&exe, "getpgid").unwrap();
    if at.path == exe {
        println!("skipped {test}: this binary links getpgid statically");
        return;
    }
    let link = k
        .attach_uprobe("count_calls", &exe, "getpgid", false, None)
        .unwrap();
    for _ in 0..4 {
        // SAFETY: getpgid has no preconditions.
        std::hint::black_box(unsafe { libc::getpgid(0) });
    }
    assert_eq!(counter(&k, 0), 4);
    drop(link);
    println!("{test}: 4 calls of {}:getpgid counted", at.path.display());
}

#[test]
fn perf_event_sampling_runs_the_program_until_detached() {
    let test = "perf_event_sampling";
    let Some(k) = load(test) else { return };
    let link = match k.attach_perf_sampling("on_sample", 1000) {
        Ok(l) => l,
        Err(e) => {
            println!("skipped {test}: this machine has no CPU clock event: {e}");
            return;
        }
    };
    let spin = |d: Duration| {
        let end = Instant::now() + d;
        let mut x = 0u64;
        while Instant::now() < end {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    };
    spin(Duration::from_millis(300));
    let during = counter(&k, 3);
    assert!(during > 0, "no samples in 300 ms at 1000 Hz");
    drop(link);
    let after = counter(&k, 3);
    spin(Duration::from_millis(100));
    assert_eq!(counter(&k, 3), after, "samples after detach");
    println!("{test}: {during} samples while attached, none after");
}

#[test]
fn socket_filter_drops_datagrams_until_detached() {
    let test = "socket_filter";
    let Some(k) = load(test) else { return };
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    let link = k
        .attach_socket("drop_x", std::os::fd::AsRawFd::as_raw_fd(&rx))
        .unwrap();
    for msg in [&b"hello"[..], b"xdrop", b"world"] {
        tx.send_to(msg, to).unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while let Ok(n) = rx.recv(&mut buf) {
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got, [b"hello".to_vec(), b"world".to_vec()]);
    assert_eq!((counter(&k, 4), counter(&k, 5)), (3, 1), "seen, dropped");
    drop(link);
    tx.send_to(b"xagain", to).unwrap();
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"xagain", "delivered after detach");
    println!("{test}: 1 of 3 datagrams dropped; none after detach");
}

#[test]
fn raw_tracepoint_counts_syscalls_of_this_process() {
    let test = "raw_tracepoint";
    let Some(k) = load(test) else { return };
    let link = k.attach_raw_tracepoint("raw_tally", "sys_enter").unwrap();
    // getpgid: a syscall no other test here makes (the tracepoint test
    // counts getppid exactly), and one that every architecture has.
    for _ in 0..3 {
        // SAFETY: getpgid has no preconditions.
        std::hint::black_box(unsafe { libc::getpgid(0) });
    }
    drop(link);
    let seen = k.map("raw_seen").unwrap();
    let n = seen
        .lookup(&(libc::SYS_getpgid as u64).to_ne_bytes())
        .unwrap()
        .map(|v| u64::from_ne_bytes(v[..8].try_into().unwrap()))
        .unwrap_or(0);
    // Every process's syscalls count here; at least ours.
    assert!(n >= 3, "{n}");
    println!("{test}: getpgid seen {n} times");
}
