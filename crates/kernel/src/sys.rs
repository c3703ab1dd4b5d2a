//! The bpf(2) system call with `union bpf_attr` built as a zeroed byte buffer
//! whose fields are written at the kernel ABI's offsets.

use std::os::fd::{FromRawFd, OwnedFd};

use crate::error::KernelError;

/// bpf(2) commands used here.
pub mod cmd {
    pub const MAP_CREATE: u32 = 0;
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_GET_NEXT_KEY: u32 = 4;
    pub const PROG_LOAD: u32 = 5;
    pub const OBJ_PIN: u32 = 6;
    pub const PROG_TEST_RUN: u32 = 10;
    pub const PROG_GET_NEXT_ID: u32 = 11;
    pub const PROG_GET_FD_BY_ID: u32 = 13;
    pub const OBJ_GET_INFO_BY_FD: u32 = 15;
    pub const MAP_FREEZE: u32 = 22;
    pub const LINK_CREATE: u32 = 28;
}

/// A `union bpf_attr` under construction.
pub struct Attr([u8; 160]);

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

    /// Copies `b` in at `off`.
    pub fn bytes(mut self, off: usize, b: &[u8]) -> Attr {
        self.0[off..off + b.len()].copy_from_slice(b);
        self
    }

    /// Reads the 32-bit field at `off` (outputs such as a test run's retval).
    pub fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().expect("four bytes"))
    }
}

fn name(command: u32) -> &'static str {
    match command {
        cmd::MAP_CREATE => "BPF_MAP_CREATE",
        cmd::MAP_LOOKUP_ELEM => "BPF_MAP_LOOKUP_ELEM",
        cmd::MAP_UPDATE_ELEM => "BPF_MAP_UPDATE_ELEM",
        cmd::MAP_GET_NEXT_KEY => "BPF_MAP_GET_NEXT_KEY",
        cmd::PROG_LOAD => "BPF_PROG_LOAD",
        cmd::PROG_TEST_RUN => "BPF_PROG_TEST_RUN",
        cmd::MAP_FREEZE => "BPF_MAP_FREEZE",
        cmd::OBJ_PIN => "BPF_OBJ_PIN",
        cmd::LINK_CREATE => "BPF_LINK_CREATE",
        cmd::PROG_GET_NEXT_ID => "BPF_PROG_GET_NEXT_ID",
        cmd::PROG_GET_FD_BY_ID => "BPF_PROG_GET_FD_BY_ID",
        cmd::OBJ_GET_INFO_BY_FD => "BPF_OBJ_GET_INFO_BY_FD",
        _ => "bpf",
    }
}

/// Runs bpf(`command`, `attr`); returns the non-negative result.
///
/// Pointers written into `attr` must stay valid for the call.
pub fn bpf(command: u32, attr: &mut Attr) -> Result<i64, std::io::Error> {
    // SAFETY: `attr` is a writable buffer of the size passed; the pointers the
    // caller wrote into it point at memory it keeps alive for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command as libc::c_long,
            attr.0.as_mut_ptr(),
            attr.0.len(),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Like [`bpf`], for commands that return a new file descriptor.
pub fn bpf_fd(command: u32, attr: &mut Attr) -> Result<OwnedFd, KernelError> {
    let fd = bpf(command, attr).map_err(|e| syscall_error(command, e))?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The error for a failed command, with advice for permission errors.
pub fn syscall_error(command: u32, source: std::io::Error) -> KernelError {
    let hint = match source.raw_os_error() {
        Some(libc::EPERM) => {
            " (needs CAP_BPF, and CAP_NET_ADMIN or CAP_PERFMON for some program types; run as root)"
                .into()
        }
        Some(libc::ENOSYS) => " (the kernel has no bpf(2))".into(),
        _ => String::new(),
    };
    KernelError::Syscall {
        command: name(command),
        source,
        hint,
    }
}

/// Whether this process may use bpf(2) (root, or CAP_BPF present).
pub fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
