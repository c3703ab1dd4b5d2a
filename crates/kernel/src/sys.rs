//! The system calls this crate makes (bpf(2), perf_event_open(2), ioctl(2)),
//! behind the [`Sys`] trait so that tests can replace the kernel with a mock,
//! and `union bpf_attr` built as a zeroed byte buffer whose fields are written
//! at the kernel ABI's offsets.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

use crate::error::KernelError;

/// bpf(2) commands used here.
pub mod cmd {
    pub const MAP_CREATE: u32 = 0;
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const MAP_GET_NEXT_KEY: u32 = 4;
    pub const PROG_LOAD: u32 = 5;
    pub const OBJ_PIN: u32 = 6;
    pub const OBJ_GET: u32 = 7;
    pub const PROG_TEST_RUN: u32 = 10;
    pub const PROG_GET_NEXT_ID: u32 = 11;
    pub const MAP_GET_NEXT_ID: u32 = 12;
    pub const PROG_GET_FD_BY_ID: u32 = 13;
    pub const MAP_GET_FD_BY_ID: u32 = 14;
    pub const OBJ_GET_INFO_BY_FD: u32 = 15;
    pub const RAW_TRACEPOINT_OPEN: u32 = 17;
    pub const BTF_LOAD: u32 = 18;
    pub const MAP_FREEZE: u32 = 22;
    pub const MAP_LOOKUP_BATCH: u32 = 24;
    pub const MAP_LOOKUP_AND_DELETE_BATCH: u32 = 25;
    pub const MAP_UPDATE_BATCH: u32 = 26;
    pub const MAP_DELETE_BATCH: u32 = 27;
    pub const LINK_CREATE: u32 = 28;
}

/// The name of bpf(2) command `command`, as the kernel headers spell it.
pub fn command_name(command: u32) -> &'static str {
    match command {
        cmd::MAP_CREATE => "BPF_MAP_CREATE",
        cmd::MAP_LOOKUP_ELEM => "BPF_MAP_LOOKUP_ELEM",
        cmd::MAP_UPDATE_ELEM => "BPF_MAP_UPDATE_ELEM",
        cmd::MAP_DELETE_ELEM => "BPF_MAP_DELETE_ELEM",
        cmd::MAP_GET_NEXT_KEY => "BPF_MAP_GET_NEXT_KEY",
        cmd::PROG_LOAD => "BPF_PROG_LOAD",
        cmd::OBJ_PIN => "BPF_OBJ_PIN",
        cmd::OBJ_GET => "BPF_OBJ_GET",
        cmd::PROG_TEST_RUN => "BPF_PROG_TEST_RUN",
        cmd::PROG_GET_NEXT_ID => "BPF_PROG_GET_NEXT_ID",
        cmd::MAP_GET_NEXT_ID => "BPF_MAP_GET_NEXT_ID",
        cmd::PROG_GET_FD_BY_ID => "BPF_PROG_GET_FD_BY_ID",
        cmd::MAP_GET_FD_BY_ID => "BPF_MAP_GET_FD_BY_ID",
        cmd::OBJ_GET_INFO_BY_FD => "BPF_OBJ_GET_INFO_BY_FD",
        cmd::RAW_TRACEPOINT_OPEN => "BPF_RAW_TRACEPOINT_OPEN",
        cmd::BTF_LOAD => "BPF_BTF_LOAD",
        cmd::MAP_FREEZE => "BPF_MAP_FREEZE",
        cmd::MAP_LOOKUP_BATCH => "BPF_MAP_LOOKUP_BATCH",
        cmd::MAP_LOOKUP_AND_DELETE_BATCH => "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
        cmd::MAP_UPDATE_BATCH => "BPF_MAP_UPDATE_BATCH",
        cmd::MAP_DELETE_BATCH => "BPF_MAP_DELETE_BATCH",
        cmd::LINK_CREATE => "BPF_LINK_CREATE",
        _ => "bpf",
    }
}

/// A `union bpf_attr` under construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr(pub [u8; 160]);

impl Default for Attr {
    fn default() -> Attr {
        Attr::new()
    }
}

impl Attr {
    /// All fields zero.
    pub fn new() -> Attr {
        Attr([0; 160])
    }

    /// Sets the 32-bit field at `off`.
    pub fn u32(mut self, off: usize, v: u32) -> Attr {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }

    /// Sets the 64-bit field at `off`.
    pub fn u64(mut self, off: usize, v: u64) -> Attr {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }

    /// Sets the 64-bit field at `off` to the address of `b` (0 when empty).
    pub fn ptr(self, off: usize, b: &[u8]) -> Attr {
        let p = if b.is_empty() { 0 } else { b.as_ptr() as u64 };
        self.u64(off, p)
    }

    /// Copies `b` in at `off`.
    pub fn bytes(mut self, off: usize, b: &[u8]) -> Attr {
        self.0[off..off + b.len()].copy_from_slice(b);
        self
    }

    /// Reads the 32-bit field at `off` (outputs such as a test run's retval).
    pub fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().expect("four bytes"))
    }

    /// Reads the 64-bit field at `off`.
    pub fn get_u64(&self, off: usize) -> u64 {
        u64::from_ne_bytes(self.0[off..off + 8].try_into().expect("eight bytes"))
    }
}

/// The system calls the backend makes. [`RealSys`] calls the kernel; tests
/// that need no root implement this trait to script the kernel's answers.
///
/// Implementations must honour the kernel's contract for the pointers written
/// into the attributes: they point at memory the caller keeps alive.
pub trait Sys: Send + Sync {
    /// bpf(`command`, `attr`); the non-negative result (often a new descriptor).
    fn bpf(&self, command: u32, attr: &mut Attr) -> std::io::Result<i64>;
    /// perf_event_open(`attr`, `pid`, `cpu`, `group_fd`, `flags`); a new descriptor.
    fn perf_event_open(
        &self,
        attr: &mut [u8],
        pid: i32,
        cpu: i32,
        group_fd: i32,
        flags: u64,
    ) -> std::io::Result<i32>;
    /// ioctl(`fd`, `request`, `arg`).
    fn ioctl(&self, fd: i32, request: u64, arg: u64) -> std::io::Result<i32>;
}

/// The running kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealSys;

fn check(r: i64) -> std::io::Result<i64> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Sys for RealSys {
    fn bpf(&self, command: u32, attr: &mut Attr) -> std::io::Result<i64> {
        // SAFETY: `attr` is a writable buffer of the size passed; the pointers the
        // caller wrote into it point at memory it keeps alive for the call.
        check(unsafe {
            libc::syscall(
                libc::SYS_bpf,
                command as libc::c_long,
                attr.0.as_mut_ptr(),
                attr.0.len(),
            )
        })
    }

    fn perf_event_open(
        &self,
        attr: &mut [u8],
        pid: i32,
        cpu: i32,
        group_fd: i32,
        flags: u64,
    ) -> std::io::Result<i32> {
        // SAFETY: `attr` is a perf_event_attr whose size field the caller set
        // to at most `attr.len()`; pointers in it outlive the call.
        check(unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                attr.as_mut_ptr(),
                pid as libc::c_long,
                cpu as libc::c_long,
                group_fd as libc::c_long,
                flags as libc::c_ulong,
            )
        })
        .map(|fd| fd as i32)
    }

    fn ioctl(&self, fd: i32, request: u64, arg: u64) -> std::io::Result<i32> {
        // SAFETY: the requests used here take an integer argument.
        check(unsafe { libc::ioctl(fd, request as _, arg as libc::c_ulong) } as i64)
            .map(|r| r as i32)
    }
}

/// The default system-call layer: the running kernel.
pub fn real() -> Arc<dyn Sys> {
    Arc::new(RealSys)
}

/// Runs bpf(`command`, `attr`) on the running kernel.
///
/// Pointers written into `attr` must stay valid for the call.
pub fn bpf(command: u32, attr: &mut Attr) -> Result<i64, std::io::Error> {
    RealSys.bpf(command, attr)
}

/// Runs a bpf(2) command through `sys`, mapping failure to [`KernelError`].
pub fn call(sys: &dyn Sys, command: u32, attr: &mut Attr) -> Result<i64, KernelError> {
    sys.bpf(command, attr)
        .map_err(|e| syscall_error(command, e))
}

/// Like [`call`], for commands that return a new file descriptor.
pub fn call_fd(sys: &dyn Sys, command: u32, attr: &mut Attr) -> Result<OwnedFd, KernelError> {
    let fd = call(sys, command, attr)?;
    Ok(owned(fd as i32))
}

/// Takes ownership of a descriptor the kernel just returned.
pub fn owned(fd: i32) -> OwnedFd {
    // SAFETY: callers pass a new descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Like [`bpf`], for commands that return a new file descriptor.
pub fn bpf_fd(command: u32, attr: &mut Attr) -> Result<OwnedFd, KernelError> {
    call_fd(&RealSys, command, attr)
}

/// The capability a bpf(2) command needs, for permission errors.
fn capability_hint(command: u32) -> &'static str {
    match command {
        cmd::PROG_GET_NEXT_ID
        | cmd::MAP_GET_NEXT_ID
        | cmd::PROG_GET_FD_BY_ID
        | cmd::MAP_GET_FD_BY_ID => "needs CAP_SYS_ADMIN to walk the kernel's programs and maps",
        cmd::LINK_CREATE => {
            "needs CAP_BPF with CAP_NET_ADMIN (network hooks) or CAP_PERFMON (tracing)"
        }
        cmd::RAW_TRACEPOINT_OPEN => "needs CAP_BPF and CAP_PERFMON to attach tracing programs",
        cmd::PROG_LOAD => {
            "needs CAP_BPF, plus CAP_NET_ADMIN for network or CAP_PERFMON for tracing programs"
        }
        _ => "needs CAP_BPF (or CAP_SYS_ADMIN)",
    }
}

/// The error for a failed command, with advice for permission errors.
pub fn syscall_error(command: u32, source: std::io::Error) -> KernelError {
    let hint = match source.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => format!(" ({})", capability_hint(command)),
        Some(libc::ENOSYS) => " (the kernel has no bpf(2))".into(),
        _ => String::new(),
    };
    KernelError::Syscall {
        command: command_name(command),
        source,
        hint,
    }
}

/// Whether this process may use bpf(2) (root, or CAP_BPF present).
pub fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Why bpf(2) cannot be used here, or `None` when it can: not root, or
/// bpf(2) missing (see [`bpf_missing`]). Tests that need the kernel print
/// this as their skip reason.
pub fn unavailable() -> Option<String> {
    if !privileged() {
        return Some("needs root (CAP_BPF)".into());
    }
    bpf_missing()
}

/// Why bpf(2) does not work at all here, whatever the privileges, or `None`
/// when it does: a trivial call (creating a one-element array map) fails
/// with an error other than a permission error, as it does under qemu-user,
/// which does not emulate bpf(2).
pub fn bpf_missing() -> Option<String> {
    static WHY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    WHY.get_or_init(|| {
        // BPF_MAP_TYPE_ARRAY (2), 4-byte keys and values, one entry.
        let mut attr = Attr::new().u32(0, 2).u32(4, 4).u32(8, 4).u32(12, 1);
        match bpf(cmd::MAP_CREATE, &mut attr) {
            Ok(fd) => {
                drop(owned(fd as i32));
                None
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => None,
            Err(e) => Some(format!(
                "bpf(2) does not work here (creating a one-element array map: {e}); \
                 qemu-user, for one, does not emulate it"
            )),
        }
    })
    .clone()
}

/// A scripted kernel for unit tests: every call is recorded, and a handler
/// chooses each result. Descriptors it hands out are real (opened on
/// `/dev/null`), so the code under test may close them.
pub mod mock {
    use std::os::fd::IntoRawFd;
    use std::sync::Mutex;

    use super::{Attr, Sys};

    /// A recorded call.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Call {
        /// bpf(2) with the command and the attributes as passed in.
        Bpf(u32, Attr),
        /// perf_event_open(2) with the attribute bytes, pid and cpu.
        PerfEventOpen(Vec<u8>, i32, i32),
        /// ioctl(2) with the descriptor, request and argument.
        Ioctl(i32, u64, u64),
    }

    type Handler = Box<dyn Fn(u32, &mut Attr) -> std::io::Result<i64> + Send + Sync>;

    /// The mock kernel.
    pub struct MockSys {
        handler: Handler,
        calls: Mutex<Vec<Call>>,
    }

    /// A fresh descriptor on `/dev/null`, for handlers that "create" objects.
    pub fn new_fd() -> i64 {
        std::fs::File::open("/dev/null")
            .expect("/dev/null opens")
            .into_raw_fd() as i64
    }

    impl MockSys {
        /// A mock whose bpf(2) answers come from `handler`.
        pub fn new(
            handler: impl Fn(u32, &mut Attr) -> std::io::Result<i64> + Send + Sync + 'static,
        ) -> MockSys {
            MockSys {
                handler: Box::new(handler),
                calls: Mutex::new(Vec::new()),
            }
        }

        /// Every call so far, in order.
        pub fn calls(&self) -> Vec<Call> {
            self.calls.lock().expect("not poisoned").clone()
        }

        /// The bpf(2) commands called so far, in order.
        pub fn commands(&self) -> Vec<u32> {
            self.calls()
                .into_iter()
                .filter_map(|c| match c {
                    Call::Bpf(cmd, _) => Some(cmd),
                    _ => None,
                })
                .collect()
        }
    }

    impl Sys for MockSys {
        fn bpf(&self, command: u32, attr: &mut Attr) -> std::io::Result<i64> {
            self.calls
                .lock()
                .expect("not poisoned")
                .push(Call::Bpf(command, attr.clone()));
            (self.handler)(command, attr)
        }

        fn perf_event_open(
            &self,
            attr: &mut [u8],
            pid: i32,
            cpu: i32,
            _group_fd: i32,
            _flags: u64,
        ) -> std::io::Result<i32> {
            self.calls
                .lock()
                .expect("not poisoned")
                .push(Call::PerfEventOpen(attr.to_vec(), pid, cpu));
            Ok(new_fd() as i32)
        }

        fn ioctl(&self, fd: i32, request: u64, arg: u64) -> std::io::Result<i32> {
            self.calls
                .lock()
                .expect("not poisoned")
                .push(Call::Ioctl(fd, request, arg));
            Ok(0)
        }
    }
}
