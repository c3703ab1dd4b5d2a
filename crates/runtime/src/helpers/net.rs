//! Redirects, FIB lookups, stack ids, jiffies, cookies and perf samples:
//! the helpers of networking datapaths that do not reshape the packet.

use std::sync::Arc;

use oxbpf_maps::{MapError, MapType};
use oxbpf_vm::Helpers;

use super::packet::{kind, RunKind, RUN};
use super::{current_cpu, err, map, neg, read, Shared, EINVAL};
use crate::test_run::Redirect;

/// `XDP_REDIRECT` and `TC_ACT_REDIRECT`, what the redirect helpers return.
pub const XDP_REDIRECT: u64 = 4;
pub const TC_ACT_REDIRECT: u64 = 7;
const TC_ACT_SHOT: u64 = 2;
const XDP_ABORTED: u64 = 0;
/// The ticks per second `bpf_jiffies64` counts: CONFIG_HZ of Debian's and
/// most distributions' kernels (the runtime cannot read the running kernel's).
pub const JIFFIES_HZ: u64 = 250;
/// What `bpf_get_netns_cookie` returns: the cookie of the initial network
/// namespace, which the kernel numbers first.
pub const NETNS_COOKIE: u64 = 1;
/// The one frame of the kernel stack `bpf_get_stackid` records: userspace
/// has no kernel stack, so the runtime records this fixed address.
pub const KERNEL_STACK_IP: u64 = 0xffff_ffff_8100_0000;
/// The one frame of the user stack (`BPF_F_USER_STACK`).
pub const USER_STACK_IP: u64 = 0x0000_5555_5555_0000;
/// `BPF_FIB_LKUP_RET_NOT_FWDED`: what `bpf_fib_lookup` answers without a
/// host FIB hook (the packet is for this host; nothing is forwarded).
pub const FIB_NOT_FWDED: u64 = 4;
/// Bytes of `struct bpf_fib_lookup`.
pub const FIB_PARAMS: usize = 64;

/// A host's FIB: given `struct bpf_fib_lookup` (64 bytes, the kernel's UAPI
/// layout, read and written in place) and the flags, the BPF_FIB_LKUP_RET_*
/// code or a negative errno.
pub type FibHook = Arc<dyn Fn(&mut [u8], u32) -> i64 + Send + Sync>;

/// `CLOCK_MONOTONIC` in nanoseconds.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `jiffies_64` now: the kernel starts it at INITIAL_JIFFIES (300 seconds
/// before wrapping 32 bits) and counts JIFFIES_HZ ticks a second since boot.
pub fn jiffies64() -> u64 {
    let initial = (-(300 * JIFFIES_HZ as i64)) as u32 as u64;
    initial + monotonic_ns() / (1_000_000_000 / JIFFIES_HZ)
}

fn set_redirect(r: Option<Redirect>) {
    RUN.with(|run| run.borrow_mut().redirect = r);
}

/// Registers the helpers.
pub(crate) fn register(h: &mut Helpers, shared: &Arc<Shared>) {
    // bpf_redirect(ifindex, flags): tc may ask for BPF_F_INGRESS; XDP takes no flags.
    h.register(23, |_, a| {
        let (ifindex, flags) = (a[0] as u32, a[1]);
        let xdp = kind() == RunKind::Xdp;
        if xdp && flags != 0 {
            return Ok(XDP_ABORTED);
        }
        if !xdp && flags & !1 != 0 {
            return Ok(TC_ACT_SHOT);
        }
        set_redirect(Some(Redirect::Interface { ifindex, flags }));
        Ok(if xdp { XDP_REDIRECT } else { TC_ACT_REDIRECT })
    });
    // bpf_redirect_map(map, key, flags): the low two bits of flags are the
    // action when the key has no entry.
    let s = shared.clone();
    h.register(51, move |_, a| {
        const ACTIONS: u64 = 3;
        const BROADCAST: u64 = 1 << 3;
        const EXCLUDE_INGRESS: u64 = 1 << 4;
        let m = map(&s, a[0])?;
        let (key, flags) = (a[1] as u32, a[2]);
        let t = m.spec().map_type;
        let extra = match t {
            MapType::DevMap | MapType::DevMapHash => BROADCAST | EXCLUDE_INGRESS,
            MapType::CpuMap | MapType::XskMap => 0,
            _ => return Err(format!("bpf_redirect_map on a {} map", t.name())),
        };
        if flags & !(ACTIONS | extra) != 0 {
            return Ok(XDP_ABORTED);
        }
        let found = m.lookup_ptr(&key.to_le_bytes(), current_cpu()).is_ok();
        if !found && flags & BROADCAST == 0 {
            set_redirect(None);
            return Ok(flags & ACTIONS);
        }
        let name = a[0]
            .checked_sub(super::HANDLE_BASE)
            .and_then(|i| s.names.get(i as usize))
            .cloned()
            .unwrap_or_default();
        set_redirect(Some(Redirect::Map {
            map: name,
            key,
            flags: flags & (BROADCAST | EXCLUDE_INGRESS),
        }));
        Ok(XDP_REDIRECT)
    });
    // bpf_fib_lookup(ctx, params, plen, flags)
    let s = shared.clone();
    h.register(69, move |ctx, a| {
        const KNOWN_FLAGS: u64 = 0x3f;
        const AF_INET: u8 = 2;
        const AF_INET6: u8 = 10;
        const EAFNOSUPPORT: i64 = 97;
        let (params, plen, flags) = (a[1], a[2] as u32 as usize, a[3]);
        if plen < FIB_PARAMS || flags & !KNOWN_FLAGS != 0 {
            return Ok(neg(EINVAL));
        }
        let mut p = read(ctx, params, FIB_PARAMS, "fib params")?.to_vec();
        if p[0] != AF_INET && p[0] != AF_INET6 {
            return Ok(neg(EAFNOSUPPORT));
        }
        let hook = s.fib.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(hook) = hook else {
            return Ok(FIB_NOT_FWDED);
        };
        let ret = hook(&mut p, flags as u32);
        ctx.memory
            .write(params, &p)
            .ok_or("fib params are not writable")?;
        Ok(ret as u64)
    });
    h.register(118, |_, _| Ok(jiffies64()));
    h.register(122, |_, _| Ok(NETNS_COOKIE));
    // bpf_get_socket_cookie(skb): the kernel's test run gives its skb a fresh
    // socket each run, so each run has a cookie of its own.
    h.register(46, |_, _| {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1 << 12);
        Ok(RUN.with(|r| {
            let mut r = r.borrow_mut();
            *r.socket_cookie
                .get_or_insert_with(|| NEXT.fetch_add(1, Ordering::Relaxed))
        }))
    });
    // bpf_get_stackid(ctx, map, flags): a one-frame stack (see KERNEL_STACK_IP).
    let s = shared.clone();
    h.register(27, move |_, a| {
        let m = map(&s, a[1])?;
        if m.spec().map_type != MapType::StackTrace {
            return Err("bpf_get_stackid needs a stack trace map".into());
        }
        let ip = if a[2] & oxbpf_maps::stack_trace::BPF_F_USER_STACK != 0 {
            USER_STACK_IP
        } else {
            KERNEL_STACK_IP
        };
        Ok(m.stack_id(&[ip], a[2])
            .map_or_else(|e: MapError| err(&e), |id| id as u64))
    });
    // bpf_perf_event_output(ctx, map, flags, data, size): flags' low 32 bits
    // pick the CPU buffer (BPF_F_CURRENT_CPU: this one); for packet programs,
    // bits 32-51 ask for that many packet bytes after the data.
    let s = shared.clone();
    h.register(25, move |ctx, a| {
        const INDEX: u64 = 0xffff_ffff;
        const CTXLEN: u64 = 0xf_ffff << 32;
        let flags = a[2];
        let packet = kind() != RunKind::Other;
        let allowed = if packet { INDEX | CTXLEN } else { INDEX };
        if flags & !allowed != 0 {
            return Ok(neg(EINVAL));
        }
        let mut sample = read(ctx, a[3], a[4] as usize, "data")?.to_vec();
        match super::skb::ctx_bytes(ctx, a[0], (flags & CTXLEN) >> 32)? {
            Ok(bytes) => sample.extend_from_slice(&bytes),
            Err(e) => return Ok(neg(e)),
        }
        let m = map(&s, a[1])?;
        let perf = m.perf().ok_or("not a perf event array")?;
        let index = flags & INDEX;
        let cpu = if index == INDEX {
            current_cpu()
        } else {
            index as usize
        };
        Ok(perf.output(cpu, &sample).map_or_else(|e| err(&e), |_| 0))
    });
}
