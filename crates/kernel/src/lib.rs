//! Loading oxbpf objects into the Linux kernel through bpf(2): maps (global
//! data included, `.rodata` frozen), programs relocated to map file
//! descriptors, `BPF_PROG_TEST_RUN`, and map reads. The only crate that talks
//! to the OS's BPF.
//!
//! ```no_run
//! use oxbpf_kernel::Kernel;
//!
//! let obj = oxbpf_object::Object::parse(&std::fs::read("packet.o").unwrap()).unwrap();
//! let k = Kernel::load(&obj).unwrap();
//! let out = k.test_run("xdp_parse", &[0u8; 64], None).unwrap();
//! println!("{}", out.retval);
//! ```

pub mod error;
pub mod sys;

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};

use oxbpf_isa::{LddwSrc, RawInsn};
use oxbpf_object::{MapOrigin, Object, ProgramType};

pub use error::KernelError;
use sys::{bpf, bpf_fd, cmd, syscall_error, Attr};

/// A map entry: key bytes and value bytes.
pub type Entry = (Vec<u8>, Vec<u8>);

/// What a test run returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    pub retval: u64,
    pub data_out: Vec<u8>,
}

/// An object's maps created in the kernel and its programs loaded on demand.
pub struct Kernel {
    object: Object,
    /// One descriptor per object map (`None` for types not created yet).
    maps: Vec<Option<OwnedFd>>,
    programs: std::cell::RefCell<BTreeMap<String, OwnedFd>>,
}

/// Map types this backend creates (others need BTF or inner-map templates).
const SIMPLE_MAPS: &[u32] = &[1, 2, 5, 6, 9, 10, 11, 22, 23, 27];

fn map_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    let clean: Vec<u8> = name
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
        .take(15)
        .collect();
    out[..clean.len()].copy_from_slice(&clean);
    out
}

impl Kernel {
    /// Creates the object's maps in the kernel (programs load on first use).
    pub fn load(object: &Object) -> Result<Kernel, KernelError> {
        let mut maps = Vec::with_capacity(object.maps.len());
        for def in &object.maps {
            if !SIMPLE_MAPS.contains(&def.map_type) {
                maps.push(None);
                continue;
            }
            let mut attr = Attr::new()
                .u32(0, def.map_type)
                .u32(4, def.key_size)
                .u32(8, def.value_size)
                .u32(12, def.max_entries)
                .u32(16, def.map_flags)
                .bytes(28, &map_name(&def.name));
            let fd = bpf_fd(cmd::MAP_CREATE, &mut attr)?;
            if let MapOrigin::GlobalData { read_only, .. } = def.origin {
                update(&fd, &0u32.to_ne_bytes(), &def.data)?;
                if read_only {
                    let mut attr = Attr::new().u32(0, fd.as_raw_fd() as u32);
                    bpf(cmd::MAP_FREEZE, &mut attr)
                        .map_err(|e| syscall_error(cmd::MAP_FREEZE, e))?;
                }
            }
            maps.push(Some(fd));
        }
        Ok(Kernel {
            object: object.clone(),
            maps,
            programs: Default::default(),
        })
    }

    fn map_fd(&self, index: usize, program: &str) -> Result<i32, KernelError> {
        self.maps
            .get(index)
            .and_then(|m| m.as_ref())
            .map(|fd| fd.as_raw_fd())
            .ok_or_else(|| {
                let name = self.object.maps.get(index).map_or("?", |m| m.name.as_str());
                KernelError::Unsupported(format!(
                    "program `{program}` uses map `{name}`, which this backend does not create yet"
                ))
            })
    }

    /// Loads program `name` (once); returns its descriptor.
    pub fn program_fd(&self, name: &str) -> Result<i32, KernelError> {
        if let Some(fd) = self.programs.borrow().get(name) {
            return Ok(fd.as_raw_fd());
        }
        let prog = self.object.program(name)?;
        let mut insns: Vec<RawInsn> = prog.insns.clone();
        let mut i = 0;
        while i < insns.len() {
            if insns[i].opcode == 0x18 && i + 1 < insns.len() {
                let idx = insns[i].imm as u32 as usize;
                if insns[i].src == LddwSrc::MapIdx.code() {
                    insns[i].src = LddwSrc::MapFd.code();
                    insns[i].imm = self.map_fd(idx, name)?;
                } else if insns[i].src == LddwSrc::MapIdxValue.code() {
                    insns[i].src = LddwSrc::MapValue.code();
                    insns[i].imm = self.map_fd(idx, name)?;
                }
                i += 1;
            }
            i += 1;
        }
        let bytes: Vec<u8> = insns.iter().flat_map(|r| r.to_bytes()).collect();
        let license = std::ffi::CString::new(self.object.license.clone()).unwrap_or_default();
        let mut log = vec![0u8; 1 << 20];
        let prog_type = prog.prog_type;
        if prog_type == ProgramType::Unspec {
            return Err(KernelError::Unsupported(format!(
                "program `{name}` is in section `{}`, which names no kernel program type",
                prog.section
            )));
        }
        let mut attr = Attr::new()
            .u32(0, prog_type.kernel_id())
            .u32(4, insns.len() as u32)
            .u64(8, bytes.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64)
            .u32(24, 1)
            .u32(28, log.len() as u32)
            .u64(32, log.as_mut_ptr() as u64)
            .u32(40, self.object.kernel_version.unwrap_or(0))
            .bytes(48, &map_name(name));
        let fd = match bpf(cmd::PROG_LOAD, &mut attr) {
            Ok(fd) => fd,
            Err(source) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                return Err(KernelError::Rejected {
                    program: name.to_string(),
                    source,
                    log: String::from_utf8_lossy(&log[..end]).into_owned(),
                });
            }
        };
        // SAFETY: the kernel returned a new descriptor that nothing else owns.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
        let raw = fd.as_raw_fd();
        self.programs.borrow_mut().insert(name.to_string(), fd);
        Ok(raw)
    }

    /// `BPF_PROG_TEST_RUN` of program `name` once with `data_in` (and `ctx_in`).
    pub fn test_run(
        &self,
        name: &str,
        data_in: &[u8],
        ctx_in: Option<&[u8]>,
    ) -> Result<TestRun, KernelError> {
        let fd = self.program_fd(name)?;
        let mut out = vec![0u8; data_in.len() + 4096];
        let ctx = ctx_in.unwrap_or(&[]);
        let mut attr = Attr::new()
            .u32(0, fd as u32)
            .u32(8, data_in.len() as u32)
            .u32(12, out.len() as u32)
            .u64(
                16,
                if data_in.is_empty() {
                    0
                } else {
                    data_in.as_ptr() as u64
                },
            )
            .u64(24, out.as_mut_ptr() as u64)
            .u32(32, 1)
            .u32(40, ctx.len() as u32)
            .u64(
                48,
                if ctx.is_empty() {
                    0
                } else {
                    ctx.as_ptr() as u64
                },
            );
        bpf(cmd::PROG_TEST_RUN, &mut attr).map_err(|e| syscall_error(cmd::PROG_TEST_RUN, e))?;
        out.truncate(attr.get_u32(12) as usize);
        Ok(TestRun {
            retval: attr.get_u32(4) as u64,
            data_out: out,
        })
    }

    /// Loads every program whose section names a kernel program type; returns
    /// each program's name with its descriptor or the reason it was refused.
    pub fn load_all(&self) -> Vec<(String, Result<i32, KernelError>)> {
        self.object
            .programs
            .iter()
            .filter(|p| p.prog_type != ProgramType::Unspec)
            .map(|p| (p.name.clone(), self.program_fd(&p.name)))
            .collect()
    }

    /// Pins the loaded programs at `dir/NAME` and the created maps at
    /// `dir/maps/NAME` in a bpffs directory (created if missing).
    pub fn pin(&self, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, KernelError> {
        let io = |e: std::io::Error| KernelError::Unsupported(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir.join("maps")).map_err(io)?;
        let mut pinned = Vec::new();
        for (name, fd) in self.programs.borrow().iter() {
            let path = dir.join(name);
            pin_fd(fd.as_raw_fd(), &path)?;
            pinned.push(path);
        }
        for (def, fd) in self.object.maps.iter().zip(&self.maps) {
            if let Some(fd) = fd {
                let path = dir.join("maps").join(def.name.trim_start_matches('.'));
                pin_fd(fd.as_raw_fd(), &path)?;
                pinned.push(path);
            }
        }
        Ok(pinned)
    }

    /// Attaches XDP program `name` to the interface `ifname` through a bpf_link;
    /// dropping the returned link detaches it.
    pub fn attach_xdp(&self, name: &str, ifname: &str) -> Result<Link, KernelError> {
        let fd = self.program_fd(name)?;
        let c = std::ffi::CString::new(ifname)
            .map_err(|_| KernelError::Unsupported("interface name has a NUL byte".into()))?;
        // SAFETY: `c` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
        if ifindex == 0 {
            return Err(KernelError::Unsupported(format!(
                "no interface named `{ifname}`"
            )));
        }
        const BPF_XDP: u32 = 37;
        let mut attr = Attr::new()
            .u32(0, fd as u32)
            .u32(4, ifindex)
            .u32(8, BPF_XDP);
        Ok(Link(bpf_fd(cmd::LINK_CREATE, &mut attr)?))
    }

    /// Sets `key` to `value` in map `name` (BPF_ANY).
    pub fn map_update(&self, name: &str, key: &[u8], value: &[u8]) -> Result<(), KernelError> {
        let i = self.object.map_index(name)?;
        let fd = self.maps[i]
            .as_ref()
            .ok_or_else(|| KernelError::Unsupported(format!("map `{name}` was not created")))?;
        update(fd, key, value)
    }

    /// Every (key, value) of map `name`, in the kernel's iteration order.
    pub fn map_entries(&self, name: &str) -> Result<Vec<Entry>, KernelError> {
        let i = self.object.map_index(name)?;
        let def = &self.object.maps[i];
        let fd = self.map_fd(i, "<host>")?;
        let mut out = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        loop {
            let mut next = vec![0u8; def.key_size as usize];
            let mut attr = Attr::new()
                .u32(0, fd as u32)
                .u64(8, key.as_ref().map_or(0, |k| k.as_ptr() as u64))
                .u64(16, next.as_mut_ptr() as u64);
            match bpf(cmd::MAP_GET_NEXT_KEY, &mut attr) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
                Err(e) => return Err(syscall_error(cmd::MAP_GET_NEXT_KEY, e)),
            }
            let mut value = vec![0u8; def.value_size as usize];
            let mut attr = Attr::new()
                .u32(0, fd as u32)
                .u64(8, next.as_ptr() as u64)
                .u64(16, value.as_mut_ptr() as u64);
            bpf(cmd::MAP_LOOKUP_ELEM, &mut attr)
                .map_err(|e| syscall_error(cmd::MAP_LOOKUP_ELEM, e))?;
            out.push((next.clone(), value));
            key = Some(next);
        }
        Ok(out)
    }
}

/// An attachment; dropping it detaches the program.
pub struct Link(OwnedFd);

impl Link {
    /// The link's descriptor.
    pub fn fd(&self) -> i32 {
        self.0.as_raw_fd()
    }
}

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
}

/// Every program loaded in the kernel.
pub fn prog_list() -> Result<Vec<ProgInfo>, KernelError> {
    let mut out = Vec::new();
    let mut id = 0u32;
    loop {
        let mut attr = Attr::new().u32(0, id);
        match bpf(cmd::PROG_GET_NEXT_ID, &mut attr) {
            Ok(_) => id = attr.get_u32(4),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Err(e) => return Err(syscall_error(cmd::PROG_GET_NEXT_ID, e)),
        }
        let mut attr = Attr::new().u32(0, id);
        let fd = match bpf_fd(cmd::PROG_GET_FD_BY_ID, &mut attr) {
            Ok(fd) => fd,
            Err(_) => continue, // unloaded meanwhile
        };
        out.push(prog_info(&fd)?);
    }
    Ok(out)
}

/// `struct bpf_prog_info` of a program descriptor (the fields used here).
pub fn prog_info(fd: &OwnedFd) -> Result<ProgInfo, KernelError> {
    let mut info = [0u8; 256];
    let mut attr = Attr::new()
        .u32(0, fd.as_raw_fd() as u32)
        .u32(4, info.len() as u32)
        .u64(8, info.as_mut_ptr() as u64);
    bpf(cmd::OBJ_GET_INFO_BY_FD, &mut attr)
        .map_err(|e| syscall_error(cmd::OBJ_GET_INFO_BY_FD, e))?;
    let u32_at = |o: usize| u32::from_ne_bytes(info[o..o + 4].try_into().expect("four bytes"));
    let name_end = info[64..80].iter().position(|&b| b == 0).unwrap_or(16);
    Ok(ProgInfo {
        prog_type: u32_at(0),
        id: u32_at(4),
        tag: info[8..16].iter().map(|b| format!("{b:02x}")).collect(),
        xlated_insns: u32_at(20) / 8,
        name: String::from_utf8_lossy(&info[64..64 + name_end]).into_owned(),
    })
}

fn pin_fd(fd: i32, path: &std::path::Path) -> Result<(), KernelError> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| KernelError::Unsupported(format!("{} contains a NUL byte", path.display())))?;
    let mut attr = Attr::new().u64(0, c.as_ptr() as u64).u32(8, fd as u32);
    bpf(cmd::OBJ_PIN, &mut attr).map_err(|e| syscall_error(cmd::OBJ_PIN, e))?;
    Ok(())
}

fn update(fd: &OwnedFd, key: &[u8], value: &[u8]) -> Result<(), KernelError> {
    let mut attr = Attr::new()
        .u32(0, fd.as_raw_fd() as u32)
        .u64(8, key.as_ptr() as u64)
        .u64(16, value.as_ptr() as u64);
    bpf(cmd::MAP_UPDATE_ELEM, &mut attr).map_err(|e| syscall_error(cmd::MAP_UPDATE_ELEM, e))?;
    Ok(())
}
