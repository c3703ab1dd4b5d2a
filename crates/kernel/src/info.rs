//! What the kernel reports about loaded programs (`struct bpf_prog_info`):
//! the list of programs, one program's description, and its translated and
//! JIT-compiled instructions.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::error::KernelError;
use crate::sys::{call, call_fd, cmd, syscall_error, Attr, Sys};

/// A loaded program as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgInfo {
    pub id: u32,
    /// The kernel's program type id.
    pub prog_type: u32,
    pub name: String,
    /// The program tag (a hash of its instructions), as hex.
    pub tag: String,
    /// Number of translated instructions.
    pub xlated_insns: u32,
    /// Bytes of JIT-compiled machine code (0 without the JIT).
    pub jited_bytes: u32,
    /// Ids of the maps the program uses.
    pub map_ids: Vec<u32>,
    /// Id of the program's BTF (0 for none).
    pub btf_id: u32,
    /// Whether the license is GPL-compatible.
    pub gpl_compatible: bool,
    /// Nanoseconds since boot when it was loaded.
    pub load_time_ns: u64,
    /// Instructions the verifier processed.
    pub verified_insns: u32,
    /// Run count and total time (when `kernel.bpf_stats_enabled` is on).
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

const INFO_LEN: usize = 232;

fn get_info(sys: &dyn Sys, fd: i32, info: &mut [u8; INFO_LEN]) -> Result<(), KernelError> {
    let mut attr = Attr::new()
        .u32(0, fd as u32)
        .u32(4, info.len() as u32)
        .u64(8, info.as_mut_ptr() as u64);
    call(sys, cmd::OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(())
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes(b[o..o + 4].try_into().expect("four bytes"))
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_ne_bytes(b[o..o + 8].try_into().expect("eight bytes"))
}

/// `struct bpf_prog_info` of a program descriptor.
pub fn prog_info(fd: &OwnedFd) -> Result<ProgInfo, KernelError> {
    prog_info_with(&crate::sys::RealSys, fd.as_raw_fd())
}

/// Like [`prog_info`], through `sys`.
pub fn prog_info_with(sys: &dyn Sys, fd: i32) -> Result<ProgInfo, KernelError> {
    let mut info = [0u8; INFO_LEN];
    get_info(sys, fd, &mut info)?;
    let nr_maps = u32_at(&info, 52) as usize;
    let mut map_ids = vec![0u32; nr_maps];
    if nr_maps > 0 {
        // A second call fetches the map ids into our buffer.
        let mut again = [0u8; INFO_LEN];
        again[52..56].copy_from_slice(&(nr_maps as u32).to_ne_bytes());
        again[56..64].copy_from_slice(&(map_ids.as_mut_ptr() as u64).to_ne_bytes());
        get_info(sys, fd, &mut again)?;
        map_ids.truncate((u32_at(&again, 52) as usize).min(nr_maps));
    }
    let name_end = info[64..80].iter().position(|&b| b == 0).unwrap_or(16);
    let mut name = String::from_utf8_lossy(&info[64..64 + name_end]).into_owned();
    // The kernel keeps 15 characters of the name; as bpftool does, take the
    // whole one from the program's BTF when it may have been cut.
    if name_end == 15 && u32_at(&info, 128) != 0 && u32_at(&info, 144) > 0 {
        if let Some(full) = btf_func_name(sys, fd, u32_at(&info, 128)) {
            if full.starts_with(&name) {
                name = full;
            }
        }
    }
    Ok(ProgInfo {
        prog_type: u32_at(&info, 0),
        id: u32_at(&info, 4),
        tag: info[8..16].iter().map(|b| format!("{b:02x}")).collect(),
        jited_bytes: u32_at(&info, 16),
        xlated_insns: u32_at(&info, 20) / 8,
        load_time_ns: u64_at(&info, 40),
        map_ids,
        name,
        gpl_compatible: info[84] & 1 != 0,
        btf_id: u32_at(&info, 128),
        run_time_ns: u64_at(&info, 192),
        run_cnt: u64_at(&info, 200),
        verified_insns: u32_at(&info, 216),
    })
}

/// The name of the program's main function in its BTF (BTF object `btf_id`),
/// from its first func info record.
fn btf_func_name(sys: &dyn Sys, fd: i32, btf_id: u32) -> Option<String> {
    // struct bpf_func_info { insn_off, type_id }, one record asked for.
    let mut record = [0u32; 2];
    let mut again = [0u8; INFO_LEN];
    again[132..136].copy_from_slice(&8u32.to_ne_bytes());
    again[136..144].copy_from_slice(&(record.as_mut_ptr() as u64).to_ne_bytes());
    again[144..148].copy_from_slice(&1u32.to_ne_bytes());
    get_info(sys, fd, &mut again).ok()?;
    let btf = oxbpf_object::btf::Btf::parse(&btf_by_id(sys, btf_id).ok()?).ok()?;
    let name = btf.get(record[1])?.name();
    (!name.is_empty()).then(|| name.to_string())
}

/// Which of a program's instruction dumps to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dump {
    /// The instructions after the verifier's rewrites (`xlated_prog_insns`).
    Xlated,
    /// The JIT's machine code (`jited_prog_insns`).
    Jited,
}

/// The program's translated instructions or machine code.
pub fn prog_dump(sys: &dyn Sys, fd: i32, which: Dump) -> Result<Vec<u8>, KernelError> {
    let mut info = [0u8; INFO_LEN];
    get_info(sys, fd, &mut info)?;
    let (len_off, ptr_off) = match which {
        Dump::Jited => (16, 24),
        Dump::Xlated => (20, 32),
    };
    let len = u32_at(&info, len_off) as usize;
    let mut buf = vec![0u8; len];
    if len == 0 {
        return Ok(buf);
    }
    let mut again = [0u8; INFO_LEN];
    again[len_off..len_off + 4].copy_from_slice(&(len as u32).to_ne_bytes());
    again[ptr_off..ptr_off + 8].copy_from_slice(&(buf.as_mut_ptr() as u64).to_ne_bytes());
    get_info(sys, fd, &mut again)?;
    buf.truncate((u32_at(&again, len_off) as usize).min(len));
    Ok(buf)
}

/// The raw BTF of the kernel BTF object with id `id` (a map's or program's).
pub fn btf_by_id(sys: &dyn Sys, id: u32) -> Result<Vec<u8>, KernelError> {
    const BTF_GET_FD_BY_ID: u32 = 19;
    let mut attr = Attr::new().u32(0, id);
    let fd = call_fd(sys, BTF_GET_FD_BY_ID, &mut attr)?;
    let get = |buf: &mut [u8], out: &mut [u8; 32]| -> Result<u32, KernelError> {
        if !buf.is_empty() {
            out[0..8].copy_from_slice(&(buf.as_mut_ptr() as u64).to_ne_bytes());
            out[8..12].copy_from_slice(&(buf.len() as u32).to_ne_bytes());
        }
        let mut attr = Attr::new()
            .u32(0, fd.as_raw_fd() as u32)
            .u32(4, out.len() as u32)
            .u64(8, out.as_mut_ptr() as u64);
        call(sys, cmd::OBJ_GET_INFO_BY_FD, &mut attr)?;
        Ok(u32_at(out, 8))
    };
    let size = get(&mut [], &mut [0u8; 32])? as usize;
    let mut buf = vec![0u8; size];
    let got = get(&mut buf, &mut [0u8; 32])? as usize;
    buf.truncate(got.min(size));
    Ok(buf)
}

/// Kernel addresses of the program's JIT-compiled functions (main first).
pub fn jited_ksyms(sys: &dyn Sys, fd: i32) -> Result<Vec<u64>, KernelError> {
    let mut info = [0u8; INFO_LEN];
    get_info(sys, fd, &mut info)?;
    let n = (u32_at(&info, 104) as usize).min(4096);
    let mut addrs = vec![0u64; n];
    if n == 0 {
        return Ok(addrs);
    }
    let mut again = [0u8; INFO_LEN];
    again[104..108].copy_from_slice(&(n as u32).to_ne_bytes());
    again[112..120].copy_from_slice(&(addrs.as_mut_ptr() as u64).to_ne_bytes());
    get_info(sys, fd, &mut again)?;
    Ok(addrs)
}

/// Opens the program with id `id`.
pub fn prog_fd_by_id(sys: &dyn Sys, id: u32) -> Result<OwnedFd, KernelError> {
    let mut attr = Attr::new().u32(0, id);
    call_fd(sys, cmd::PROG_GET_FD_BY_ID, &mut attr)
}

/// Every program loaded in the kernel.
pub fn prog_list() -> Result<Vec<ProgInfo>, KernelError> {
    prog_list_with(&crate::sys::RealSys)
}

/// Like [`prog_list`], through `sys`.
pub fn prog_list_with(sys: &dyn Sys) -> Result<Vec<ProgInfo>, KernelError> {
    let mut out = Vec::new();
    let mut id = 0u32;
    loop {
        let mut attr = Attr::new().u32(0, id);
        match sys.bpf(cmd::PROG_GET_NEXT_ID, &mut attr) {
            Ok(_) => id = attr.get_u32(4),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Err(e) => return Err(syscall_error(cmd::PROG_GET_NEXT_ID, e)),
        }
        let fd = match prog_fd_by_id(sys, id) {
            Ok(fd) => fd,
            Err(_) => continue, // unloaded meanwhile
        };
        out.push(prog_info_with(sys, fd.as_raw_fd())?);
    }
    Ok(out)
}

/// The kernel's name for program type `id` (bpftool's spelling).
pub fn prog_type_name(id: u32) -> &'static str {
    const NAMES: [&str; 33] = [
        "unspec",
        "socket_filter",
        "kprobe",
        "sched_cls",
        "sched_act",
        "tracepoint",
        "xdp",
        "perf_event",
        "cgroup_skb",
        "cgroup_sock",
        "lwt_in",
        "lwt_out",
        "lwt_xmit",
        "sock_ops",
        "sk_skb",
        "cgroup_device",
        "sk_msg",
        "raw_tracepoint",
        "cgroup_sock_addr",
        "lwt_seg6local",
        "lirc_mode2",
        "sk_reuseport",
        "flow_dissector",
        "cgroup_sysctl",
        "raw_tracepoint_writable",
        "cgroup_sockopt",
        "tracing",
        "struct_ops",
        "ext",
        "lsm",
        "sk_lookup",
        "syscall",
        "netfilter",
    ];
    NAMES.get(id as usize).copied().unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::mock::MockSys;

    #[test]
    fn dumps_ask_for_the_length_then_the_bytes() {
        let sys = MockSys::new(|command, attr| {
            assert_eq!(command, cmd::OBJ_GET_INFO_BY_FD);
            let info = attr.get_u64(8) as *mut u8;
            // SAFETY: the code under test passes an INFO_LEN buffer.
            let info = unsafe { std::slice::from_raw_parts_mut(info, INFO_LEN) };
            let ptr = u64_at(info, 32);
            if ptr == 0 {
                info[20..24].copy_from_slice(&16u32.to_ne_bytes());
            } else {
                // SAFETY: the second call passes a buffer of the length we gave.
                let out = unsafe { std::slice::from_raw_parts_mut(ptr as *mut u8, 16) };
                out.copy_from_slice(&[0xb7, 0, 0, 0, 7, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
            }
            Ok(0)
        });
        let code = prog_dump(&sys, 3, Dump::Xlated).unwrap();
        assert_eq!(code.len(), 16);
        assert_eq!(code[0], 0xb7);
        assert_eq!(sys.calls().len(), 2);
    }

    #[test]
    fn type_names_cover_known_ids() {
        assert_eq!(prog_type_name(6), "xdp");
        assert_eq!(prog_type_name(32), "netfilter");
        assert_eq!(prog_type_name(999), "unknown");
    }
}
