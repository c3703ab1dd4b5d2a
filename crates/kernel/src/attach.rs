//! Attaching loaded programs: XDP, tracepoints, raw tracepoints, kprobes,
//! uprobes and uretprobes, perf-event sampling, and socket filters. Every
//! attach returns a [`Link`]; dropping it detaches the program.

use crate::error::KernelError;
use crate::sys::{call_fd, cmd, owned, Attr, Sys};
use crate::Kernel;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// `enum bpf_attach_type` values used by `BPF_LINK_CREATE` here.
const BPF_XDP: u32 = 37;
const BPF_PERF_EVENT: u32 = 41;

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;
const PERF_FLAG_FD_CLOEXEC: u64 = 8;
const PERF_EVENT_IOC_ENABLE: u64 = 0x2400;
const PERF_EVENT_IOC_SET_BPF: u64 = 0x4004_2408;

/// `SO_ATTACH_BPF` and `SO_DETACH_BPF` (the same value as `SO_DETACH_FILTER`).
const SO_ATTACH_BPF: libc::c_int = 50;
const SO_DETACH_BPF: libc::c_int = 27;

/// Where tracefs is usually mounted, newest first.
pub const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// What keeps an attachment alive.
enum Hold {
    /// A bpf_link, or a raw tracepoint descriptor.
    Fd(OwnedFd),
    /// A perf event with the program attached (through a bpf_link when the
    /// kernel has one for it; closing the event detaches either way).
    Perf {
        link: Option<OwnedFd>,
        event: OwnedFd,
    },
    /// Several attachments made as one (sampling on every CPU).
    Many(Vec<Link>),
    /// A program attached to a socket the caller owns.
    Socket(RawFd),
}

/// An attachment; dropping it detaches the program.
pub struct Link {
    hold: Hold,
    what: String,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Link({})", self.what)
    }
}

impl Link {
    /// The descriptor that holds the attachment (the bpf_link or the perf
    /// event; the socket for socket filters; the first one for groups).
    pub fn fd(&self) -> i32 {
        match &self.hold {
            Hold::Fd(fd) => fd.as_raw_fd(),
            Hold::Perf { link, event } => link.as_ref().unwrap_or(event).as_raw_fd(),
            Hold::Many(v) => v.first().map_or(-1, |l| l.fd()),
            Hold::Socket(s) => *s,
        }
    }

    /// What is attached where, for messages.
    pub fn describe(&self) -> &str {
        &self.what
    }

    /// Pins a bpf_link in bpffs, so that it outlives this process.
    pub fn pin(&self, sys: &dyn Sys, path: &Path) -> Result<(), KernelError> {
        match &self.hold {
            Hold::Fd(fd) | Hold::Perf { link: Some(fd), .. } => {
                crate::pin_fd(sys, fd.as_raw_fd(), path)
            }
            _ => Err(KernelError::Unsupported(format!(
                "{} is not a bpf_link and cannot be pinned",
                self.what
            ))),
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Hold::Socket(sock) = self.hold {
            let zero: libc::c_int = 0;
            // SAFETY: the option value is a readable int of the size passed.
            unsafe {
                libc::setsockopt(
                    sock,
                    libc::SOL_SOCKET,
                    SO_DETACH_BPF,
                    (&zero as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        // Descriptors close here; the kernel detaches links and perf events.
    }
}

/// A `struct perf_event_attr` (128 bytes, `PERF_ATTR_SIZE_VER7`).
#[derive(Clone)]
pub struct PerfAttr(pub [u8; 128]);

impl PerfAttr {
    /// An attribute of event `type_` with `config`, sized.
    pub fn new(type_: u32, config: u64) -> PerfAttr {
        let mut a = PerfAttr([0; 128]);
        a.put_u32(0, type_);
        a.put_u32(4, 128);
        a.put_u64(8, config);
        a
    }

    /// Writes a 32-bit field.
    pub fn put_u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }

    /// Writes a 64-bit field.
    pub fn put_u64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }

    /// Sets the flag bit `bit` of the bitfield word (disabled = 0, freq = 10, ...).
    pub fn flag(&mut self, bit: u32) {
        let mut w = u64::from_ne_bytes(self.0[40..48].try_into().expect("eight bytes"));
        w |= 1 << bit;
        self.put_u64(40, w);
    }
}

/// Opens a perf event through `sys`.
pub fn perf_event_open(
    sys: &dyn Sys,
    attr: &mut PerfAttr,
    pid: i32,
    cpu: i32,
) -> Result<OwnedFd, KernelError> {
    let fd = sys
        .perf_event_open(&mut attr.0, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)
        .map_err(|e| {
            KernelError::os(
                "perf_event_open",
                e,
                "CAP_PERFMON (or CAP_SYS_ADMIN, or a lower kernel.perf_event_paranoid)",
            )
        })?;
    Ok(owned(fd))
}

/// The mounted tracefs directory, if any.
pub fn tracefs() -> Option<PathBuf> {
    TRACEFS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
}

/// Mounts tracefs at `/sys/kernel/tracing` unless one is mounted; returns it.
pub fn mount_tracefs() -> Result<PathBuf, KernelError> {
    if let Some(p) = tracefs() {
        return Ok(p);
    }
    let dir = PathBuf::from(TRACEFS[0]);
    mount("tracefs", &dir, "tracefs")?;
    Ok(dir)
}

/// Mounts bpffs at `dir` unless `dir` already is one.
pub fn mount_bpffs(dir: &Path) -> Result<(), KernelError> {
    if is_bpffs(dir) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|source| KernelError::Io {
        path: dir.into(),
        source,
    })?;
    mount("bpf", dir, "bpf")
}

/// Whether `dir` is on a bpf filesystem.
pub fn is_bpffs(dir: &Path) -> bool {
    const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct passed.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid path string and `st` a writable statfs.
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    r == 0 && st.f_type as i64 == BPF_FS_MAGIC
}

fn mount(source: &str, dir: &Path, fstype: &str) -> Result<(), KernelError> {
    let c = |s: &[u8]| std::ffi::CString::new(s).expect("no NUL");
    let (src, target, ty) = (
        c(source.as_bytes()),
        std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| {
            KernelError::Unsupported(format!("{} contains a NUL byte", dir.display()))
        })?,
        c(fstype.as_bytes()),
    );
    // SAFETY: all three are valid C strings; no mount data.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            ty.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(KernelError::os(
            format!("mount -t {fstype} {}", dir.display()),
            std::io::Error::last_os_error(),
            "CAP_SYS_ADMIN",
        ));
    }
    Ok(())
}

/// The id of tracepoint `category/name` in the mounted tracefs.
pub fn tracepoint_id(category: &str, name: &str) -> Result<u64, KernelError> {
    let base = tracefs().ok_or_else(|| {
        KernelError::Unsupported(format!(
            "tracefs is not mounted (at {} or {}); mount it with `mount -t tracefs tracefs {}`",
            TRACEFS[0], TRACEFS[1], TRACEFS[0]
        ))
    })?;
    tracepoint_id_in(&base, category, name)
}

/// The id of tracepoint `category/name` in the tracefs mounted at `tracefs`.
pub fn tracepoint_id_in(tracefs: &Path, category: &str, name: &str) -> Result<u64, KernelError> {
    let bad = |s: &str| s.is_empty() || s.contains('/') || s.contains("..");
    if bad(category) || bad(name) {
        return Err(KernelError::Unsupported(format!(
            "`{category}/{name}` is not a tracepoint name"
        )));
    }
    let path = tracefs.join("events").join(category).join(name).join("id");
    let text = std::fs::read_to_string(&path).map_err(|source| KernelError::Io {
        path: path.clone(),
        source,
    })?;
    text.trim().parse().map_err(|_| KernelError::Symbol {
        path,
        message: format!("not a tracepoint id: {:?}", text.trim()),
    })
}

/// Mounts a tracefs instance at `dir` (created if missing).
pub fn mount_tracefs_at(dir: &Path) -> Result<(), KernelError> {
    std::fs::create_dir_all(dir).map_err(|source| KernelError::Io {
        path: dir.into(),
        source,
    })?;
    mount("tracefs", dir, "tracefs")
}

/// Unmounts `dir` (a tracefs or bpffs this process mounted).
pub fn unmount(dir: &Path) -> Result<(), KernelError> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| KernelError::Unsupported(format!("{} contains a NUL byte", dir.display())))?;
    // SAFETY: `c` is a valid path string.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(KernelError::os(
            format!("umount {}", dir.display()),
            std::io::Error::last_os_error(),
            "CAP_SYS_ADMIN",
        ));
    }
    Ok(())
}

/// The perf event type of a dynamic PMU (`kprobe`, `uprobe`), and the config
/// bit that makes a return probe.
fn pmu(name: &str) -> Result<(u32, u32), KernelError> {
    let dir = Path::new("/sys/bus/event_source/devices").join(name);
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p).map_err(|source| KernelError::Io { path: p, source })
    };
    let ty = read(dir.join("type"))?;
    let ty: u32 = ty.trim().parse().map_err(|_| KernelError::Symbol {
        path: dir.join("type"),
        message: format!("not a PMU type: {:?}", ty.trim()),
    })?;
    let bit = read(dir.join("format/retprobe"))
        .ok()
        .and_then(|s| s.trim().strip_prefix("config:")?.parse().ok())
        .unwrap_or(0);
    Ok((ty, bit))
}

impl Kernel {
    fn perf_link(&self, prog: &str, event: OwnedFd, what: String) -> Result<Link, KernelError> {
        let fd = self.program_fd(prog)?;
        let mut attr = Attr::new()
            .u32(0, fd as u32)
            .u32(4, event.as_raw_fd() as u32)
            .u32(8, BPF_PERF_EVENT);
        match call_fd(&**self.sys(), cmd::LINK_CREATE, &mut attr) {
            Ok(link) => Ok(Link {
                hold: Hold::Perf {
                    link: Some(link),
                    event,
                },
                what,
            }),
            Err(e) if e.is_permission() => Err(e),
            Err(_) => {
                // Kernels without perf bpf_links: attach by ioctl.
                let ioctl = |req, arg| {
                    self.sys().ioctl(event.as_raw_fd(), req, arg).map_err(|e| {
                        KernelError::os("ioctl(PERF_EVENT_IOC_SET_BPF)", e, "CAP_PERFMON")
                    })
                };
                ioctl(PERF_EVENT_IOC_SET_BPF, fd as u64)?;
                ioctl(PERF_EVENT_IOC_ENABLE, 0)?;
                Ok(Link {
                    hold: Hold::Perf { link: None, event },
                    what,
                })
            }
        }
    }

    /// Attaches XDP program `name` to the interface `ifname` through a bpf_link.
    pub fn attach_xdp(&self, name: &str, ifname: &str) -> Result<Link, KernelError> {
        let fd = self.program_fd(name)?;
        let ifindex = ifindex(ifname)?;
        let mut attr = Attr::new()
            .u32(0, fd as u32)
            .u32(4, ifindex)
            .u32(8, BPF_XDP);
        let link = call_fd(&**self.sys(), cmd::LINK_CREATE, &mut attr)?;
        Ok(Link {
            hold: Hold::Fd(link),
            what: format!("xdp {name} on {ifname}"),
        })
    }

    /// Attaches program `name` to tracepoint `category/event`.
    pub fn attach_tracepoint(
        &self,
        name: &str,
        category: &str,
        event: &str,
    ) -> Result<Link, KernelError> {
        let id = tracepoint_id(category, event)?;
        self.attach_tracepoint_id(name, id, &format!("{category}/{event}"))
    }

    /// Attaches program `name` to the tracepoint with tracefs id `id`
    /// (`label` names it in messages).
    pub fn attach_tracepoint_id(
        &self,
        name: &str,
        id: u64,
        label: &str,
    ) -> Result<Link, KernelError> {
        let mut attr = PerfAttr::new(PERF_TYPE_TRACEPOINT, id);
        attr.put_u64(16, 1); // sample_period
        attr.put_u32(48, 1); // wakeup_events
        let ev = perf_event_open(&**self.sys(), &mut attr, -1, 0)?;
        self.perf_link(name, ev, format!("tracepoint {label}: {name}"))
    }

    /// Attaches program `name` to raw tracepoint `tracepoint` (such as `sys_enter`).
    pub fn attach_raw_tracepoint(&self, name: &str, tracepoint: &str) -> Result<Link, KernelError> {
        let fd = self.program_fd(name)?;
        let tp = std::ffi::CString::new(tracepoint)
            .map_err(|_| KernelError::Unsupported("tracepoint name has a NUL byte".into()))?;
        let mut attr = Attr::new().u64(0, tp.as_ptr() as u64).u32(8, fd as u32);
        let link = call_fd(&**self.sys(), cmd::RAW_TRACEPOINT_OPEN, &mut attr)?;
        Ok(Link {
            hold: Hold::Fd(link),
            what: format!("raw_tracepoint {tracepoint}: {name}"),
        })
    }

    /// Attaches kprobe program `name` to kernel function `function`
    /// (`retprobe`: on return).
    pub fn attach_kprobe(
        &self,
        name: &str,
        function: &str,
        retprobe: bool,
    ) -> Result<Link, KernelError> {
        let (ty, bit) = pmu("kprobe")?;
        let func = std::ffi::CString::new(function)
            .map_err(|_| KernelError::Unsupported("function name has a NUL byte".into()))?;
        let mut attr = PerfAttr::new(ty, if retprobe { 1 << bit } else { 0 });
        attr.put_u64(56, func.as_ptr() as u64); // kprobe_func
        let ev = perf_event_open(&**self.sys(), &mut attr, -1, 0)?;
        let kind = if retprobe { "kretprobe" } else { "kprobe" };
        self.perf_link(name, ev, format!("{kind} {function}: {name}"))
    }

    /// Attaches uprobe program `name` to `symbol` in `binary` (a path, or a
    /// library name such as `libc.so.6`; symbols the binary imports are found
    /// in its shared libraries). `pid`: only that process (all when `None`).
    pub fn attach_uprobe(
        &self,
        name: &str,
        binary: &Path,
        symbol: &str,
        retprobe: bool,
        pid: Option<i32>,
    ) -> Result<Link, KernelError> {
        let at = crate::symbols::resolve(binary, symbol)?;
        self.attach_uprobe_at(name, &at.path, at.offset, retprobe, pid)
            .map(|mut l| {
                l.what = format!(
                    "{} {}:{symbol} (+{:#x}): {name}",
                    if retprobe { "uretprobe" } else { "uprobe" },
                    at.path.display(),
                    at.offset
                );
                l
            })
    }

    /// Attaches uprobe program `name` at file offset `offset` of `path`.
    pub fn attach_uprobe_at(
        &self,
        name: &str,
        path: &Path,
        offset: u64,
        retprobe: bool,
        pid: Option<i32>,
    ) -> Result<Link, KernelError> {
        let (ty, bit) = pmu("uprobe")?;
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| KernelError::Unsupported("path has a NUL byte".into()))?;
        let mut attr = PerfAttr::new(ty, if retprobe { 1 << bit } else { 0 });
        attr.put_u64(56, c.as_ptr() as u64); // uprobe_path
        attr.put_u64(64, offset); // probe_offset
        let (pid, cpu) = match pid {
            Some(p) => (p, -1),
            None => (-1, 0),
        };
        let ev = perf_event_open(&**self.sys(), &mut attr, pid, cpu)?;
        self.perf_link(
            name,
            ev,
            format!("uprobe {}+{offset:#x}: {name}", path.display()),
        )
    }

    /// Attaches perf_event program `name` to a CPU clock sampling at
    /// `frequency` Hz on every online CPU.
    pub fn attach_perf_sampling(&self, name: &str, frequency: u64) -> Result<Link, KernelError> {
        let mut links = Vec::new();
        for cpu in online_cpus() {
            let mut attr = PerfAttr::new(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK);
            attr.put_u64(16, frequency.max(1)); // sample_freq
            attr.flag(10); // freq
            let ev = perf_event_open(&**self.sys(), &mut attr, -1, cpu as i32)?;
            links.push(self.perf_link(name, ev, format!("perf_event cpu{cpu}: {name}"))?);
        }
        Ok(Link {
            hold: Hold::Many(links),
            what: format!("perf_event sampling at {frequency} Hz: {name}"),
        })
    }

    /// Attaches perf_event program `name` to a CPU-clock timer firing every
    /// `period_ns` nanoseconds on CPU `cpu` (bpftrace's `interval` probes).
    pub fn attach_perf_timer(
        &self,
        name: &str,
        period_ns: u64,
        cpu: usize,
    ) -> Result<Link, KernelError> {
        let mut attr = PerfAttr::new(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK);
        attr.put_u64(16, period_ns.max(1)); // sample_period
        let ev = perf_event_open(&**self.sys(), &mut attr, -1, cpu as i32)?;
        self.perf_link(
            name,
            ev,
            format!("perf_event timer every {period_ns} ns on cpu{cpu}: {name}"),
        )
    }

    /// Attaches socket filter `name` to socket `sock` (`SO_ATTACH_BPF`); the
    /// socket must outlive the link, which detaches it (`SO_DETACH_BPF`).
    pub fn attach_socket(&self, name: &str, sock: RawFd) -> Result<Link, KernelError> {
        let fd: libc::c_int = self.program_fd(name)?;
        // SAFETY: the option value is a readable int of the size passed.
        let r = unsafe {
            libc::setsockopt(
                sock,
                libc::SOL_SOCKET,
                SO_ATTACH_BPF,
                (&fd as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(KernelError::os(
                "setsockopt(SO_ATTACH_BPF)",
                std::io::Error::last_os_error(),
                "CAP_NET_ADMIN for raw sockets",
            ));
        }
        Ok(Link {
            hold: Hold::Socket(sock),
            what: format!("socket filter on fd {sock}: {name}"),
        })
    }

    /// Attaches program `name` where its section says (`tp/CAT/NAME`,
    /// `raw_tp/NAME`, `kprobe/FN`, `kretprobe/FN`, `uprobe/PATH:SYMBOL`,
    /// `uretprobe/PATH:SYMBOL`); `iface` for XDP, `frequency` for perf_event.
    pub fn attach_auto(
        &self,
        name: &str,
        iface: Option<&str>,
        frequency: Option<u64>,
    ) -> Result<Link, KernelError> {
        let prog = self.object().program(name)?;
        let section = prog.section.clone();
        let (head, target) = section.split_once('/').unwrap_or((&section, ""));
        let need = |what: &str| {
            KernelError::Unsupported(format!(
                "program `{name}` in section `{section}`: give {what} to attach it"
            ))
        };
        match head {
            "tp" | "tracepoint" => {
                let (cat, ev) = target.split_once('/').ok_or_else(|| need("CATEGORY/EVENT"))?;
                self.attach_tracepoint(name, cat, ev)
            }
            "raw_tp" | "raw_tracepoint" if !target.is_empty() => {
                self.attach_raw_tracepoint(name, target)
            }
            "kprobe" | "kretprobe" if !target.is_empty() => {
                self.attach_kprobe(name, target, head == "kretprobe")
            }
            "uprobe" | "uretprobe" => {
                let (path, sym) = target.rsplit_once(':').ok_or_else(|| need("PATH:SYMBOL"))?;
                self.attach_uprobe(name, Path::new(path), sym, head == "uretprobe", None)
            }
            "xdp" | "xdp.frags" => self.attach_xdp(name, iface.ok_or_else(|| need("--iface"))?),
            "perf_event" => self.attach_perf_sampling(name, frequency.unwrap_or(99)),
            _ => Err(KernelError::Unsupported(format!(
                "program `{name}` in section `{section}`: this backend cannot attach it from its section name"
            ))),
        }
    }
}

/// The index of network interface `ifname`.
pub fn ifindex(ifname: &str) -> Result<u32, KernelError> {
    let c = std::ffi::CString::new(ifname)
        .map_err(|_| KernelError::Unsupported("interface name has a NUL byte".into()))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if ifindex == 0 {
        return Err(KernelError::Unsupported(format!(
            "no interface named `{ifname}`"
        )));
    }
    Ok(ifindex)
}

/// The online CPUs (`/sys/devices/system/cpu/online`).
pub fn online_cpus() -> Vec<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
            out.extend(a..=b.min(a + 4096));
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::mock::{new_fd, Call, MockSys};
    use crate::LoadOptions;
    use std::sync::Arc;

    fn kernel(sys: Arc<MockSys>) -> Kernel {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/packet.o");
        let obj = oxbpf_object::Object::parse(&std::fs::read(path).unwrap()).unwrap();
        Kernel::load_with(
            &obj,
            LoadOptions {
                sys,
                btf: false,
                core_target: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn perf_attach_falls_back_to_the_ioctl() {
        let sys = Arc::new(MockSys::new(|command, _| match command {
            cmd::LINK_CREATE => Err(std::io::Error::from_raw_os_error(libc::EINVAL)),
            _ => Ok(new_fd()),
        }));
        let k = kernel(sys.clone());
        let ev =
            perf_event_open(&*sys, &mut PerfAttr::new(PERF_TYPE_TRACEPOINT, 7), -1, 0).unwrap();
        let link = k.perf_link("xdp_parse", ev, "test".into()).unwrap();
        let ioctls: Vec<u64> = sys
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Ioctl(_, req, _) => Some(req),
                _ => None,
            })
            .collect();
        assert_eq!(ioctls, [PERF_EVENT_IOC_SET_BPF, PERF_EVENT_IOC_ENABLE]);
        assert!(link.fd() >= 0);
    }

    #[test]
    fn perf_attrs_carry_type_size_config_and_flags() {
        let mut a = PerfAttr::new(PERF_TYPE_SOFTWARE, 0);
        a.flag(10);
        a.put_u64(16, 99);
        assert_eq!(u32::from_ne_bytes(a.0[4..8].try_into().unwrap()), 128);
        assert_eq!(u64::from_ne_bytes(a.0[40..48].try_into().unwrap()), 1 << 10);
        assert_eq!(u64::from_ne_bytes(a.0[16..24].try_into().unwrap()), 99);
    }

    #[test]
    fn auto_attach_explains_what_is_missing() {
        let sys = Arc::new(MockSys::new(|_, _| Ok(new_fd())));
        let k = kernel(sys);
        let e = k
            .attach_auto("xdp_parse", None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--iface"), "{e}");
    }

    #[test]
    fn online_cpus_are_listed() {
        assert!(!online_cpus().is_empty());
    }
}
