//! Probing what the running kernel supports, as `bpftool feature probe`
//! does: each program type by loading a two-instruction program, each map
//! type by creating a small map, and each helper by loading a call to it.

use crate::error::KernelError;
use crate::sys::{cmd, owned, Attr, Sys};

/// A probe's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// The kernel accepted it.
    Yes,
    /// The kernel refused it (the errno, or the verifier's reason).
    No(String),
    /// Not probed: it needs something the probe cannot give (an attach
    /// target, BTF of a specific type).
    Skipped(&'static str),
}

impl Support {
    /// Whether the kernel accepted it.
    pub fn yes(&self) -> bool {
        *self == Support::Yes
    }
}

/// `r0 = 0; exit`.
const RET0: [u8; 16] = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];

fn load(
    sys: &dyn Sys,
    prog_type: u32,
    attach: u32,
    insns: &[u8],
    log: Option<&mut Vec<u8>>,
) -> std::io::Result<()> {
    let license = c"GPL";
    let mut attr = Attr::new()
        .u32(0, prog_type)
        .u32(4, (insns.len() / 8) as u32)
        .ptr(8, insns)
        .u64(16, license.as_ptr() as u64)
        .u32(68, attach);
    if let Some(log) = log {
        attr = attr
            .u32(24, 1)
            .u32(28, log.len() as u32)
            .u64(32, log.as_mut_ptr() as u64);
    }
    sys.bpf(cmd::PROG_LOAD, &mut attr)
        .map(|fd| drop(owned(fd as i32)))
}

fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EINVAL) => "EINVAL".into(),
        Some(libc::EPERM) => "EPERM (not permitted to this process: a capability such as CAP_SYS_RESOURCE, CAP_PERFMON or CAP_NET_ADMIN is missing)".into(),
        Some(libc::ENOTSUPP_) => "ENOTSUPP".into(),
        _ => e.to_string(),
    }
}

mod libc {
    pub use ::libc::*;
    /// The kernel-internal "not supported" (524), which bpf(2) can return.
    pub const ENOTSUPP_: i32 = 524;
}

/// The expected attach type a probe of program type `t` needs.
fn probe_attach_type(t: u32) -> u32 {
    match t {
        18 => 10, // cgroup_sock_addr: connect4
        25 => 21, // cgroup_sockopt: getsockopt
        30 => 36, // sk_lookup
        _ => 0,
    }
}

/// Confirms this process may use bpf(2) at all, by creating a one-element
/// array map; a permission error here is the one probes cannot go on from.
/// After it, a probe's EPERM means only that one feature is not available to
/// this process (an arena map without CAP_SYS_RESOURCE, say).
pub fn probe_access(sys: &dyn Sys) -> Result<(), KernelError> {
    let mut attr = Attr::new().u32(0, 2).u32(4, 4).u32(8, 4).u32(12, 1);
    sys.bpf(cmd::MAP_CREATE, &mut attr)
        .map(|fd| drop(owned(fd as i32)))
        .map_err(|e| crate::sys::syscall_error(cmd::MAP_CREATE, e))
}

/// Whether the kernel loads programs of type `prog_type`.
pub fn probe_prog_type(sys: &dyn Sys, prog_type: u32) -> Result<Support, KernelError> {
    if matches!(prog_type, 26..=29) {
        return Ok(Support::Skipped("needs a BTF attach target"));
    }
    match load(sys, prog_type, probe_attach_type(prog_type), &RET0, None) {
        Ok(()) => Ok(Support::Yes),
        Err(e) => Ok(Support::No(errno_text(&e))),
    }
}

/// Whether the kernel creates maps of type `map_type`.
pub fn probe_map_type(sys: &dyn Sys, map_type: u32) -> Result<Support, KernelError> {
    let page = crate::ringbuf::page_size() as u32;
    let (key, value, max, flags) = match map_type {
        0 => return Ok(Support::Skipped("unspec")),
        24 | 26 | 28 | 29 | 32 => return Ok(Support::Skipped("needs BTF of its value type")),
        33 => (0, 0, 1, 1 << 10), // arena: BPF_F_MMAPABLE
        4 => (4, 4, 1, 0),
        7 => (4, 8, 1, 0),
        11 => (8, 4, 1, 1),       // LPM trie: BPF_F_NO_PREALLOC
        19 | 21 => (16, 4, 0, 0), // cgroup storage
        22 | 23 | 30 => (0, 4, 1, 0),
        27 | 31 => (0, 0, page, 0),
        _ => (4, 4, 1, 0),
    };
    let inner = if matches!(map_type, 12 | 13) {
        let mut a = Attr::new().u32(0, 2).u32(4, 4).u32(8, 4).u32(12, 1);
        match sys.bpf(cmd::MAP_CREATE, &mut a) {
            Ok(fd) => Some(owned(fd as i32)),
            Err(e) => return Ok(Support::No(format!("inner map: {}", errno_text(&e)))),
        }
    } else {
        None
    };
    let mut attr = Attr::new()
        .u32(0, map_type)
        .u32(4, key)
        .u32(8, value)
        .u32(12, max)
        .u32(16, flags)
        .u32(
            20,
            inner
                .as_ref()
                .map_or(0, |f| std::os::fd::AsRawFd::as_raw_fd(f) as u32),
        );
    if map_type == 33 {
        attr = attr.u64(64, 0);
    }
    match sys.bpf(cmd::MAP_CREATE, &mut attr) {
        Ok(fd) => {
            drop(owned(fd as i32));
            Ok(Support::Yes)
        }
        Err(e) => Ok(Support::No(errno_text(&e))),
    }
}

/// Whether programs of type `prog_type` may call helper `helper`.
pub fn probe_helper(sys: &dyn Sys, prog_type: u32, helper: u32) -> Support {
    // call helper; r0 = 0; exit
    let mut insns = vec![0x85, 0, 0, 0];
    insns.extend_from_slice(&helper.to_le_bytes());
    insns.extend_from_slice(&RET0);
    let mut log = vec![0u8; 4096];
    let r = load(
        sys,
        prog_type,
        probe_attach_type(prog_type),
        &insns,
        Some(&mut log),
    );
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    match r {
        Ok(()) => Support::Yes,
        Err(_) if text.contains("invalid func") || text.contains("unknown func") => {
            Support::No("unknown helper".into())
        }
        Err(_) if text.contains("cannot use helper") || text.contains("not allowed") => {
            Support::No("not for this program type".into())
        }
        // Refused for its arguments (the empty registers): the helper exists here.
        Err(_) => Support::Yes,
    }
}

/// Program types this crate knows by id: 1 to 32.
pub const PROG_TYPES: std::ops::RangeInclusive<u32> = 1..=32;
/// Map types this crate knows by id: 1 to 33.
pub const MAP_TYPES: std::ops::RangeInclusive<u32> = 1..=33;
/// Helper ids probed: 1 to 211 (`bpf_get_func_ip` and the later ones).
pub const HELPERS: std::ops::RangeInclusive<u32> = 1..=211;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::mock::{new_fd, MockSys};

    #[test]
    fn helper_probes_read_the_verifier_log() {
        let sys = MockSys::new(|_, attr| {
            let helper = {
                // SAFETY: the probe passes 3 instructions.
                let insns = unsafe { std::slice::from_raw_parts(attr.get_u64(8) as *const u8, 24) };
                u32::from_le_bytes(insns[4..8].try_into().unwrap())
            };
            let msg: &[u8] = match helper {
                1 => return Ok(new_fd()),
                2 => b"invalid func unknown#2\n\0",
                3 => b"program of this type cannot use helper bpf_x#3\n\0",
                _ => b"R1 type=ctx expected=fp\n\0",
            };
            // SAFETY: the probe passes a 4096-byte log.
            unsafe {
                std::ptr::copy_nonoverlapping(msg.as_ptr(), attr.get_u64(32) as *mut u8, msg.len())
            };
            Err(std::io::Error::from_raw_os_error(libc::EINVAL))
        });
        assert_eq!(probe_helper(&sys, 1, 1), Support::Yes);
        assert_eq!(
            probe_helper(&sys, 1, 2),
            Support::No("unknown helper".into())
        );
        assert!(!probe_helper(&sys, 1, 3).yes());
        assert_eq!(probe_helper(&sys, 1, 4), Support::Yes);
    }

    #[test]
    fn only_the_access_probe_stops_on_permission_errors() {
        let sys = MockSys::new(|_, _| Err(std::io::Error::from_raw_os_error(libc::EPERM)));
        let e = probe_access(&sys).unwrap_err();
        assert!(e.is_permission(), "{e}");
        // One feature's EPERM (an arena map without CAP_SYS_RESOURCE) is that
        // feature missing, not a fatal error.
        match probe_map_type(&sys, 33).unwrap() {
            Support::No(why) => assert!(why.starts_with("EPERM"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(!probe_prog_type(&sys, 1).unwrap().yes());
        let sys = MockSys::new(|_, _| Err(std::io::Error::from_raw_os_error(libc::EINVAL)));
        assert_eq!(
            probe_prog_type(&sys, 1).unwrap(),
            Support::No("EINVAL".into())
        );
    }
}
