//! The kernel's helper functions, by helper id, working on this runtime's maps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use oxbpf_maps::{Map, MapError};
use oxbpf_vm::{HelperContext, Helpers};

/// Map handles are opaque values (`HANDLE_BASE + index`) that no region contains.
pub(crate) const HANDLE_BASE: u64 = 0x4d41_5000_0000_0000;

/// Where `bpf_trace_printk` output goes.
pub type TraceSink = Arc<Mutex<dyn FnMut(&str) + Send>>;

/// What the helpers share: the maps, the CPU id programs see, the trace sink.
pub(crate) struct Shared {
    pub maps: Vec<Option<Arc<Map>>>,
    /// Program arrays, by map index.
    pub prog_arrays: Vec<Option<Mutex<ProgArray>>>,
    /// Arrays and hashes of maps, by map index: key → inner map index.
    pub map_of_maps: Vec<Option<Mutex<InnerMaps>>>,
    pub cpu: usize,
    pub trace: TraceSink,
}

/// A program array's contents, and the one program type it holds.
#[derive(Default)]
pub(crate) struct ProgArray {
    /// The type every program in the array has, and every caller must have:
    /// as in the kernel, the first program put in it or loaded with it sets it.
    pub owner: Option<oxbpf_object::ProgramType>,
    /// Slot → program name.
    pub slots: Vec<Option<String>>,
}

/// A map of maps' contents: key → index of the inner map.
pub(crate) type InnerMaps = std::collections::BTreeMap<Vec<u8>, usize>;

/// The most tail calls one run may chain (the kernel's MAX_TAIL_CALL_CNT).
pub const MAX_TAIL_CALLS: u32 = 33;

/// A helper's error message that stops the program for a successful tail call.
pub(crate) const TAIL_CALL: &str = "<tail call>";

/// Bytes of the per-thread area where `bpf_for_each_map_elem` puts the key it
/// passes to the callback (programs may read it during the run).
pub(crate) const SCRATCH_BYTES: usize = 512;

/// The CPU the running program is on: its instance's CPU id.
pub(crate) fn current_cpu() -> usize {
    CPU.with(|c| c.get())
}

thread_local! {
    /// The CPU id of the instance running on this thread.
    pub(crate) static CPU: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The key area for `bpf_for_each_map_elem`, registered as a read-only region.
    pub(crate) static KEY_SCRATCH: Box<std::cell::UnsafeCell<[u8; SCRATCH_BYTES]>> =
        Box::new(std::cell::UnsafeCell::new([0; SCRATCH_BYTES]));
    /// The program a tail call jumps to, and how many tail calls this run made.
    pub(crate) static TAIL: std::cell::RefCell<(Option<String>, u32)> = const { std::cell::RefCell::new((None, 0)) };
}

const EFAULT: i64 = 14;
const EINVAL: i64 = 22;

fn neg(e: i64) -> u64 {
    (-e) as u64
}

fn err(e: &MapError) -> u64 {
    neg(e.errno() as i64)
}

fn map(shared: &Shared, handle: u64) -> Result<&Arc<Map>, String> {
    handle
        .checked_sub(HANDLE_BASE)
        .and_then(|i| shared.maps.get(i as usize))
        .and_then(|m| m.as_ref())
        .ok_or_else(|| format!("{handle:#x} is not a map"))
}

fn read<'a>(
    ctx: &'a HelperContext<'_>,
    addr: u64,
    len: usize,
    what: &str,
) -> Result<&'a [u8], String> {
    ctx.memory
        .read(addr, len)
        .ok_or_else(|| format!("{what} pointer {addr:#x} (+{len}) is outside the program's memory"))
}

fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1_000_000_000
}

fn prandom() -> u32 {
    static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let mut x = STATE.load(Ordering::Relaxed);
    loop {
        let mut y = x;
        y ^= y << 13;
        y ^= y >> 7;
        y ^= y << 17;
        match STATE.compare_exchange_weak(x, y, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return (y >> 32) as u32,
            Err(cur) => x = cur,
        }
    }
}

/// Formats a `bpf_trace_printk`/`bpf_snprintf` format string with its arguments.
pub fn format_printk(fmt: &[u8], args: &[u64], read_str: &dyn Fn(u64) -> Option<String>) -> String {
    let mut out = String::new();
    let mut next = args.iter().copied();
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        if c != b'%' {
            out.push(c as char);
            i += 1;
            continue;
        }
        i += 1;
        let mut longs = 0;
        while i < fmt.len() && fmt[i] == b'l' {
            longs += 1;
            i += 1;
        }
        let Some(&conv) = fmt.get(i) else { break };
        i += 1;
        if conv == b'%' {
            out.push('%');
            continue;
        }
        let v = next.next().unwrap_or(0);
        let v32 = longs == 0;
        match conv {
            b'd' | b'i' => out.push_str(&if v32 {
                (v as i32).to_string()
            } else {
                (v as i64).to_string()
            }),
            b'u' => out.push_str(&if v32 {
                (v as u32).to_string()
            } else {
                v.to_string()
            }),
            b'x' => out.push_str(&if v32 {
                format!("{:x}", v as u32)
            } else {
                format!("{v:x}")
            }),
            b'p' => out.push_str(&format!("{v:#x}")),
            b'c' => out.push(v as u8 as char),
            b's' => out.push_str(&read_str(v).unwrap_or_else(|| "(bad string)".into())),
            other => {
                out.push('%');
                out.push(other as char);
            }
        }
    }
    out
}

/// `bpf_map_lookup_elem` called directly by JIT-compiled code on `map`, a
/// `*const Map`, with `key` pointing at its key on the program's stack.
///
/// # Safety
/// `map` must point at a live map and `key` at `key_size` readable bytes.
pub(crate) unsafe extern "C" fn direct_lookup(map: *const std::ffi::c_void, key: *const u8) -> u64 {
    // SAFETY: as the caller promises.
    let (map, key) = unsafe {
        let map = &*(map as *const Map);
        (
            map,
            std::slice::from_raw_parts(key, map.spec().key_size as usize),
        )
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map.lookup_ptr(key, current_cpu())
            .map_or(0, |v| v.ptr as u64)
    }))
    .unwrap_or(0)
}

/// `bpf_map_update_elem` called directly by JIT-compiled code (see [`direct_lookup`]).
///
/// # Safety
/// As for [`direct_lookup`], and `value` must point at `value_size` readable bytes.
pub(crate) unsafe extern "C" fn direct_update(
    map: *const std::ffi::c_void,
    key: *const u8,
    value: *const u8,
    flags: u64,
) -> u64 {
    // SAFETY: as the caller promises.
    let (map, key, value) = unsafe {
        let map = &*(map as *const Map);
        let spec = map.spec();
        (
            map,
            std::slice::from_raw_parts(key, spec.key_size as usize),
            std::slice::from_raw_parts(value, spec.value_size as usize),
        )
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map.update_from_program(key, value, flags, current_cpu())
            .map_or_else(|e| err(&e), |_| 0)
    }))
    .unwrap_or(neg(EFAULT))
}

/// Whether the runtime implements kernel helper `id` (a host may register
/// others with `Runtime::register_helper`).
pub fn implements(id: i32) -> bool {
    static IDS: std::sync::OnceLock<Helpers> = std::sync::OnceLock::new();
    let helpers = IDS.get_or_init(|| {
        kernel_helpers(Arc::new(Shared {
            maps: Vec::new(),
            prog_arrays: Vec::new(),
            map_of_maps: Vec::new(),
            cpu: 0,
            trace: Arc::new(Mutex::new(|_: &str| {})),
        }))
    });
    u32::try_from(id).is_ok_and(|id| helpers.get(id).is_some())
}

/// The helpers, by kernel id, bound to `shared`.
pub(crate) fn kernel_helpers(shared: Arc<Shared>) -> Helpers {
    let mut h = Helpers::new();
    let s = shared.clone();
    h.register(1, move |ctx, a| {
        // A map of maps returns the inner map itself, as a map handle.
        if let Some(Some(outer)) = a[0]
            .checked_sub(HANDLE_BASE)
            .and_then(|i| s.map_of_maps.get(i as usize))
        {
            let key = read(ctx, a[1], 4, "key")?;
            let inner = outer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(key)
                .copied();
            return Ok(inner.map_or(0, |i| HANDLE_BASE + i as u64));
        }
        let m = map(&s, a[0])?;
        let key = read(ctx, a[1], m.spec().key_size as usize, "key")?;
        Ok(m.lookup_ptr(key, current_cpu()).map_or(0, |v| v.ptr as u64))
    });
    let s = shared.clone();
    h.register(2, move |ctx, a| {
        let m = map(&s, a[0])?;
        let key = read(ctx, a[1], m.spec().key_size as usize, "key")?;
        let value = read(ctx, a[2], m.spec().value_size as usize, "value")?;
        Ok(m.update_from_program(key, value, a[3], current_cpu())
            .map_or_else(|e| err(&e), |_| 0))
    });
    let s = shared.clone();
    h.register(3, move |ctx, a| {
        let m = map(&s, a[0])?;
        let key = read(ctx, a[1], m.spec().key_size as usize, "key")?;
        Ok(m.delete_from_program(key).map_or_else(|e| err(&e), |_| 0))
    });
    let probe_read = |ctx: &mut HelperContext<'_>, a: [u64; 5]| -> Result<u64, String> {
        let len = a[1] as u32 as usize;
        if !ctx.memory.can_write(a[0], len) {
            return Err(format!(
                "destination {:#x} (+{len}) is not writable by the program",
                a[0]
            ));
        }
        match ctx.memory.read(a[2], len).map(|b| b.to_vec()) {
            Some(bytes) => {
                ctx.memory
                    .write(a[0], &bytes)
                    .ok_or("destination is not writable")?;
                Ok(0)
            }
            None => {
                ctx.memory
                    .write(a[0], &vec![0; len])
                    .ok_or("destination is not writable")?;
                Ok(neg(EFAULT))
            }
        }
    };
    for id in [4, 112, 113] {
        h.register(id, probe_read);
    }
    let probe_read_str = |ctx: &mut HelperContext<'_>, a: [u64; 5]| -> Result<u64, String> {
        let max = a[1] as usize;
        if max == 0 {
            return Ok(neg(EINVAL));
        }
        match ctx.memory.read_cstr(a[2], max - 1).map(|b| b.to_vec()) {
            Some(mut bytes) => {
                bytes.push(0);
                ctx.memory
                    .write(a[0], &bytes)
                    .ok_or("destination is not writable")?;
                Ok(bytes.len() as u64)
            }
            None => Ok(neg(EFAULT)),
        }
    };
    for id in [45, 114, 115] {
        h.register(id, probe_read_str);
    }
    h.register(5, |_, _| Ok(now_ns()));
    h.register(125, |_, _| Ok(now_ns()));
    h.register(7, |_, _| Ok(prandom() as u64));
    h.register(8, |_, _| Ok(current_cpu() as u64));
    h.register(14, |_, _| {
        let pid = std::process::id() as u64;
        Ok((pid << 32) | pid)
    });
    h.register(15, |_, _| Ok(0));
    h.register(16, |ctx, a| {
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let size = a[1] as u32 as usize;
        if size == 0 {
            return Ok(neg(EINVAL));
        }
        if !ctx.memory.can_write(a[0], size) {
            return Err(format!(
                "comm buffer {:#x} (+{size}) is not writable by the program",
                a[0]
            ));
        }
        let mut buf = vec![0u8; size];
        let n = name.len().min(size - 1).min(15);
        buf[..n].copy_from_slice(&name.as_bytes()[..n]);
        ctx.memory
            .write(a[0], &buf)
            .ok_or("comm buffer is not writable")?;
        Ok(0)
    });
    let s = shared.clone();
    h.register(6, move |ctx, a| {
        let fmt = read(ctx, a[0], a[1] as usize, "format")?;
        let fmt = fmt.split(|&b| b == 0).next().unwrap_or(&[]).to_vec();
        let read_str = |p: u64| {
            ctx.memory
                .read_cstr(p, 256)
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let text = format_printk(&fmt, &[a[2], a[3], a[4]], &read_str);
        let len = text.len() as u64;
        (s.trace.lock().unwrap_or_else(|e| e.into_inner()))(&text);
        Ok(len)
    });
    let s = shared.clone();
    h.register(87, move |ctx, a| {
        let m = map(&s, a[0])?;
        let value = read(ctx, a[1], m.spec().value_size as usize, "value")?;
        Ok(m.push_from_program(value, a[2])
            .map_or_else(|e| err(&e), |_| 0))
    });
    for (id, remove) in [(88, true), (89, false)] {
        let s = shared.clone();
        h.register(id, move |ctx, a| {
            let m = map(&s, a[0])?;
            match m.pop_from_program(remove) {
                Ok(v) => {
                    ctx.memory
                        .write(a[1], &v)
                        .ok_or("value buffer is not writable")?;
                    Ok(0)
                }
                Err(e) => Ok(err(&e)),
            }
        });
    }
    let s = shared.clone();
    h.register(130, move |ctx, a| {
        let m = map(&s, a[0])?;
        let rb = m.ringbuf().ok_or("not a ring buffer")?;
        let data = read(ctx, a[1], a[2] as usize, "data")?;
        Ok(rb
            .output(data, a[3] & 1 == 0)
            .map_or_else(|e| err(&e), |_| 0))
    });
    let s = shared.clone();
    h.register(131, move |_, a| {
        let m = map(&s, a[0])?;
        let rb = m.ringbuf().ok_or("not a ring buffer")?;
        Ok(rb.reserve(a[1] as usize).map_or(0, |p| p as u64))
    });
    for (id, submit) in [(132, true), (133, false)] {
        let s = shared.clone();
        h.register(id, move |_, a| {
            let rb = s
                .maps
                .iter()
                .flatten()
                .filter_map(|m| m.ringbuf())
                .find(|rb| {
                    let (base, len) = rb.data_region();
                    a[0] >= base as u64 && a[0] < base as u64 + len as u64
                })
                .ok_or_else(|| format!("{:#x} is not a ring buffer record", a[0]))?;
            let wake = a[1] & 1 == 0;
            let r = if submit {
                rb.submit(a[0], wake)
            } else {
                rb.discard(a[0], wake)
            };
            r.map_err(|e| e.to_string())?;
            Ok(0)
        });
    }
    let s = shared.clone();
    h.register(134, move |_, a| {
        let m = map(&s, a[0])?;
        Ok(m.ringbuf().ok_or("not a ring buffer")?.query(a[1]))
    });
    // Packet helpers read and write the context's 32-bit data pointers (see test_run).
    let u32_at = |ctx: &HelperContext<'_>, addr: u64| -> Result<u64, String> {
        let b = read(ctx, addr, 4, "context")?;
        Ok(u32::from_le_bytes(b.try_into().expect("four bytes")) as u64)
    };
    // bpf_skb_load_bytes(skb, offset, to, len)
    h.register(26, move |ctx, a| {
        let (data, end) = (u32_at(ctx, a[0] + 76)?, u32_at(ctx, a[0] + 80)?);
        let (off, len) = (a[1] as u32 as u64, a[3] as u32 as u64);
        if len == 0 || data + off + len > end {
            return Ok(neg(EFAULT));
        }
        let bytes = read(ctx, data + off, len as usize, "packet")?.to_vec();
        ctx.memory
            .write(a[2], &bytes)
            .ok_or("destination is not writable")?;
        Ok(0)
    });
    // bpf_xdp_adjust_head(xdp, delta): moves data (and data_meta) within the frame.
    h.register(44, move |ctx, a| {
        let (data, end, frame) = (
            u32_at(ctx, a[0])?,
            u32_at(ctx, a[0] + 4)?,
            u32_at(ctx, a[0] + 24)?,
        );
        let new = data as i64 + a[1] as i32 as i64;
        // The kernel keeps room for struct xdp_frame (40 bytes) and an Ethernet header.
        if new < frame as i64 + 40 || new > end as i64 - 14 {
            return Ok(neg(EINVAL));
        }
        ctx.memory
            .write(a[0], &(new as u32).to_le_bytes())
            .ok_or("context is not writable")?;
        ctx.memory
            .write(a[0] + 8, &(new as u32).to_le_bytes())
            .ok_or("context is not writable")?;
        Ok(0)
    });
    // bpf_xdp_adjust_tail(xdp, delta): moves data_end; grown bytes are zeroed.
    h.register(65, move |ctx, a| {
        let (data, end, frame_end) = (
            u32_at(ctx, a[0])?,
            u32_at(ctx, a[0] + 4)?,
            u32_at(ctx, a[0] + 28)?,
        );
        let new = end as i64 + a[1] as i32 as i64;
        // The kernel keeps the frame's tail for struct skb_shared_info (320 bytes).
        if new < data as i64 + 14 || new > frame_end as i64 - 320 {
            return Ok(neg(EINVAL));
        }
        if new > end as i64 {
            ctx.memory
                .write(end, &vec![0; (new - end as i64) as usize])
                .ok_or("packet is not writable")?;
        }
        ctx.memory
            .write(a[0] + 4, &(new as u32).to_le_bytes())
            .ok_or("context is not writable")?;
        Ok(0)
    });
    // bpf_tail_call(ctx, prog_array, index): on success the program ends and
    // the target runs with the same context; on failure execution continues.
    let s = shared.clone();
    h.register(12, move |_, a| {
        let table = a[1]
            .checked_sub(HANDLE_BASE)
            .and_then(|i| s.prog_arrays.get(i as usize))
            .and_then(|t| t.as_ref())
            .ok_or_else(|| format!("{:#x} is not a program array", a[1]))?;
        let target = table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .slots
            .get(a[2] as u32 as usize)
            .cloned()
            .flatten();
        let Some(target) = target else {
            return Ok(neg(2)); // -ENOENT: empty slot, the program goes on
        };
        TAIL.with(|t| {
            let mut t = t.borrow_mut();
            if t.1 >= MAX_TAIL_CALLS {
                return Ok(neg(7)); // -E2BIG: too many tail calls
            }
            t.0 = Some(target);
            t.1 += 1;
            Err(TAIL_CALL.to_string())
        })
    });
    // bpf_snprintf(str, str_size, fmt, data, data_len): data holds u64 arguments.
    h.register(165, |ctx, a| {
        let fmt = ctx
            .memory
            .read_cstr(a[2], 1024)
            .ok_or("format pointer is outside the program's memory")?
            .to_vec();
        if a[4] % 8 != 0 || a[4] > 8 * 12 {
            return Ok(neg(EINVAL));
        }
        let data = read(ctx, a[3], a[4] as usize, "data")?;
        let args: Vec<u64> = data
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let read_str = |p: u64| {
            ctx.memory
                .read_cstr(p, 256)
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let text = format_printk(&fmt, &args, &read_str);
        let size = a[1] as usize;
        if size > 0 {
            let n = text.len().min(size - 1);
            let mut out = text.as_bytes()[..n].to_vec();
            out.push(0);
            ctx.memory
                .write(a[0], &out)
                .ok_or("output buffer is not writable")?;
        }
        Ok(text.len() as u64 + 1)
    });
    // bpf_perf_event_output(ctx, map, flags, data, size): flags' low 32 bits pick
    // the CPU buffer, BPF_F_CURRENT_CPU the current one.
    let s = shared.clone();
    h.register(25, move |ctx, a| {
        let m = map(&s, a[1])?;
        let perf = m.perf().ok_or("not a perf event array")?;
        let index = a[2] & 0xffff_ffff;
        let cpu = if index == 0xffff_ffff {
            current_cpu()
        } else {
            index as usize
        };
        let data = read(ctx, a[3], a[4] as usize, "data")?;
        Ok(perf.output(cpu, data).map_or_else(|e| err(&e), |_| 0))
    });
    // bpf_for_each_map_elem(map, callback, callback_ctx, flags): calls
    // callback(map, &key, &value, ctx) per element until it returns 1.
    let s = shared.clone();
    h.register(164, move |ctx, a| {
        let m = map(&s, a[0])?;
        if a[3] != 0 || m.spec().key_size as usize > SCRATCH_BYTES {
            return Ok(neg(EINVAL));
        }
        let mut calls = 0;
        for (key, _) in m.entries() {
            let Ok(value) = m.lookup_ptr(&key, current_cpu()) else {
                continue;
            };
            let key_ptr = KEY_SCRATCH.with(|k| {
                let p = k.get() as *mut u8;
                // SAFETY: the scratch area belongs to this thread and holds SCRATCH_BYTES;
                // the key fits (checked above).
                unsafe { std::ptr::copy_nonoverlapping(key.as_ptr(), p, key.len()) };
                p as u64
            });
            calls += 1;
            if ctx.call(a[1], [a[0], key_ptr, value.ptr as u64, a[2], 0])? == 1 {
                break;
            }
        }
        Ok(calls)
    });
    // bpf_loop(nr_loops, callback, callback_ctx, flags): calls callback(i, ctx)
    // until it returns 1; returns the number of calls.
    h.register(181, |ctx, a| {
        const MAX_LOOPS: u64 = 1 << 23;
        if a[0] > MAX_LOOPS || a[3] != 0 {
            return Ok(neg(7)); // -E2BIG / flags must be 0
        }
        for i in 0..a[0] {
            if ctx.call(a[1], [i, a[2], 0, 0, 0])? == 1 {
                return Ok(i + 1);
            }
        }
        Ok(a[0])
    });
    h.register(182, |ctx, a| {
        let s1 = read(ctx, a[0], a[1] as usize, "s1")?;
        let s2 = ctx
            .memory
            .read_cstr(a[2], a[1] as usize)
            .ok_or("s2 is outside the program's memory")?
            .to_vec();
        for (i, &c1) in s1.iter().enumerate() {
            let c2 = s2.get(i).copied().unwrap_or(0);
            if c1 != c2 || c1 == 0 {
                return Ok((c1 as i64 - c2 as i64) as u64);
            }
        }
        Ok(0)
    });
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printk_formats_like_the_kernel() {
        let s = |_| Some("bash".to_string());
        assert_eq!(
            format_printk(b"pid %d comm %s\n", &[7, 1, 0], &s),
            "pid 7 comm bash\n"
        );
        assert_eq!(
            format_printk(b"%u %x %lld %%", &[u64::MAX, 255, (-3i64) as u64], &s),
            "4294967295 ff -3 %"
        );
        assert_eq!(
            format_printk(b"%lu %c", &[1 << 40, 65, 0], &s),
            "1099511627776 A"
        );
    }
}
