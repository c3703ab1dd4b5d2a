//! Loading corpus programs into the running kernel through bpf(2), with the
//! corpus maps created there.

use std::os::fd::{AsRawFd, OwnedFd};

use oxbpf_isa::{LddwSrc, RawInsn};
use oxbpf_kernel::sys::{bpf, bpf_fd, cmd, Attr};

use super::Case;

const BPF_F_RDONLY_PROG: u32 = 1 << 7;
const BPF_F_WRONLY_PROG: u32 = 1 << 8;

/// The corpus maps, created in the kernel (index → descriptor).
pub fn create_maps() -> Result<Vec<OwnedFd>, String> {
    let mut fds = Vec::new();
    for m in super::maps() {
        let flags = if m.read_only { BPF_F_RDONLY_PROG } else { 0 }
            | if m.write_only { BPF_F_WRONLY_PROG } else { 0 };
        let mut attr = Attr::new()
            .u32(0, m.map_type)
            .u32(4, m.key_size)
            .u32(8, m.value_size)
            .u32(12, m.max_entries)
            .u32(16, flags);
        let fd = bpf_fd(cmd::MAP_CREATE, &mut attr).map_err(|e| format!("map {}: {e}", m.name))?;
        if let Some(data) = &m.frozen {
            let key = 0u32.to_ne_bytes();
            let mut attr = Attr::new()
                .u32(0, fd.as_raw_fd() as u32)
                .u64(8, key.as_ptr() as u64)
                .u64(16, data.as_ptr() as u64);
            bpf(cmd::MAP_UPDATE_ELEM, &mut attr)
                .map_err(|e| format!("map {} update: {e}", m.name))?;
            let mut attr = Attr::new().u32(0, fd.as_raw_fd() as u32);
            bpf(cmd::MAP_FREEZE, &mut attr).map_err(|e| format!("map {} freeze: {e}", m.name))?;
        }
        fds.push(fd);
    }
    Ok(fds)
}

/// Loads a case into the kernel: `Ok(())` when its verifier accepts, else its log.
pub fn kernel_verdict(case: &Case, maps: &[OwnedFd]) -> Result<(), String> {
    kernel_load(case, maps).map(|_| ())
}

/// Loads a case into the kernel: the program when its verifier accepts, else its log.
pub fn kernel_load(case: &Case, maps: &[OwnedFd]) -> Result<OwnedFd, String> {
    let mut insns: Vec<RawInsn> = super::slots(case);
    for r in insns.iter_mut() {
        if r.opcode == 0x18 {
            let fd = |i: i32| maps.get(i as usize).map_or(-1, |m| m.as_raw_fd());
            if r.src == LddwSrc::MapIdx.code() {
                r.src = LddwSrc::MapFd.code();
                r.imm = fd(r.imm);
            } else if r.src == LddwSrc::MapIdxValue.code() {
                r.src = LddwSrc::MapValue.code();
                r.imm = fd(r.imm);
            }
        }
    }
    let bytes: Vec<u8> = insns.iter().flat_map(|r| r.to_bytes()).collect();
    let license = c"GPL";
    let mut log = vec![0u8; 1 << 16];
    let mut attr = Attr::new()
        .u32(0, case.ty.kernel_id())
        .u32(4, insns.len() as u32)
        .u64(8, bytes.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64)
        .u32(24, 1)
        .u32(28, log.len() as u32)
        .u64(32, log.as_mut_ptr() as u64)
        .u32(68, expected_attach_type(case.section));
    match bpf_fd(cmd::PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let last: Vec<&str> = text.lines().rev().take(3).collect();
            Err(format!(
                "{e}: {}",
                last.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ))
        }
    }
}

/// The kernel's `enum bpf_attach_type` value for the attach types the
/// corpus's sections name (0, BPF_CGROUP_INET_INGRESS, otherwise).
fn expected_attach_type(section: &str) -> u32 {
    match section {
        "cgroup_skb/egress" => 1,
        "cgroup/bind4" => 8,
        "cgroup/bind6" => 9,
        "cgroup/connect4" => 10,
        "cgroup/connect6" => 11,
        "cgroup/sendmsg4" => 14,
        "cgroup/recvmsg4" => 19,
        "cgroup/recvmsg6" => 20,
        _ => 0,
    }
}
