//! Loading oxbpf objects into the Linux kernel through bpf(2): BTF (sanitized
//! for the running kernel), maps created from the object's definitions (with
//! BTF key and value types; global data included, `.rodata` frozen; map in
//! map, prog arrays and perf event arrays), programs relocated to map file
//! descriptors and CO-RE-relocated against `/sys/kernel/btf/vmlinux`,
//! `BPF_PROG_TEST_RUN`, the host's map operations, attachments that detach on
//! drop, and ring and perf buffer readers. The only crate that talks to the
//! OS's BPF, all through the mockable [`sys::Sys`].
//!
//! ```no_run
//! use oxbpf_kernel::Kernel;
//!
//! let obj = oxbpf_object::Object::parse(&std::fs::read("packet.o").unwrap()).unwrap();
//! let k = Kernel::load(&obj).unwrap();
//! let out = k.test_run("xdp_parse", &[0u8; 64], None).unwrap();
//! println!("{}", out.retval);
//! ```

pub mod attach;
pub mod btf;
pub mod error;
pub mod feature;
pub mod info;
pub mod interrupt;
pub mod maps;
pub mod packet_socket;
pub mod perfbuf;
pub mod ringbuf;
pub mod sections;
pub mod symbols;
pub mod sys;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use oxbpf_isa::{LddwSrc, RawInsn};
use oxbpf_object::{BtfType, MapDef, MapOrigin, Object, ProgramType};

pub use attach::Link;
pub use error::KernelError;
pub use info::{prog_info, prog_list, ProgInfo};
pub use maps::{Entry, Map, MapInfo};
use sys::{call, call_fd, cmd, Attr, Sys};

/// What a test run returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    pub retval: u64,
    pub data_out: Vec<u8>,
    /// The context after the run (when a context was passed in).
    pub ctx_out: Vec<u8>,
    /// Average run time in nanoseconds, as the kernel measured it.
    pub duration_ns: u32,
}

/// How to load an object.
#[derive(Clone)]
pub struct LoadOptions {
    /// The system-call layer (the running kernel by default).
    pub sys: Arc<dyn Sys>,
    /// Upload the object's BTF and attach types to maps and programs.
    pub btf: bool,
    /// Apply CO-RE relocations against this kernel BTF (None: skip).
    pub core_target: Option<std::path::PathBuf>,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            sys: sys::real(),
            btf: true,
            core_target: Some(VMLINUX_BTF.into()),
        }
    }
}

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// An object's maps created in the kernel and its programs loaded on demand.
pub struct Kernel {
    sys: Arc<dyn Sys>,
    object: Object,
    btf_fd: Option<OwnedFd>,
    btf_strings: std::collections::HashMap<String, u32>,
    /// Why the object's BTF was not uploaded, if it was not.
    btf_error: Option<String>,
    /// One map per object map, or why the kernel refused it.
    maps: Vec<Result<Map, String>>,
    programs: RefCell<BTreeMap<String, OwnedFd>>,
    vmlinux: std::sync::OnceLock<Option<oxbpf_object::Btf>>,
    core_target: Option<std::path::PathBuf>,
}

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

/// Map-in-map types, which need an inner map template.
fn is_map_in_map(t: u32) -> bool {
    matches!(t, 12 | 13)
}

impl Kernel {
    /// Creates the object's maps in the kernel (programs load on first use),
    /// with BTF and CO-RE against the running kernel.
    pub fn load(object: &Object) -> Result<Kernel, KernelError> {
        Kernel::load_with(object, LoadOptions::default())
    }

    /// Like [`Kernel::load`], with options (a mock kernel, no BTF, another CO-RE target).
    pub fn load_with(object: &Object, options: LoadOptions) -> Result<Kernel, KernelError> {
        let sys = options.sys;
        let mut object = object.clone();
        let needs_core = object.programs.iter().any(|p| !p.core_relos.is_empty());
        if let (true, Some(target)) = (needs_core, options.core_target.as_ref()) {
            let raw = std::fs::read(target).map_err(|source| KernelError::Io {
                path: target.clone(),
                source,
            })?;
            let btf = oxbpf_object::Btf::parse(&raw)?;
            object.apply_core(&btf)?;
        }
        let mut k = Kernel {
            sys,
            object,
            btf_fd: None,
            btf_strings: Default::default(),
            btf_error: None,
            maps: Vec::new(),
            programs: Default::default(),
            vmlinux: Default::default(),
            core_target: options.core_target,
        };
        if options.btf {
            k.upload_btf();
        }
        for i in 0..k.object.maps.len() {
            let def = k.object.maps[i].clone();
            match k.create_map(&def) {
                Ok(m) => k.maps.push(Ok(m)),
                // Permission errors apply to every map.
                Err(e) if e.is_permission() => return Err(e),
                // Programs cannot run without their globals.
                Err(e) if matches!(def.origin, MapOrigin::GlobalData { .. }) => {
                    return Err(e_with_map(&def.name, &e))
                }
                Err(e) => k.maps.push(Err(e.to_string())),
            }
        }
        k.fill_map_slots()?;
        Ok(k)
    }

    /// The object as loaded (CO-RE applied).
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// The system-call layer in use.
    pub fn sys(&self) -> &Arc<dyn Sys> {
        &self.sys
    }

    /// The uploaded BTF's descriptor, or why there is none.
    pub fn btf_fd(&self) -> Result<i32, String> {
        match (&self.btf_fd, &self.btf_error) {
            (Some(fd), _) => Ok(fd.as_raw_fd()),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Err("the object has no BTF".into()),
        }
    }

    fn upload_btf(&mut self) {
        let Some(btf) = self.object.btf.as_ref() else {
            return;
        };
        let blob = btf::encode(&self.object, btf);
        let mut log = vec![0u8; 64 * 1024];
        let mut attr = Attr::new()
            .ptr(0, &blob.bytes)
            .u64(8, log.as_mut_ptr() as u64)
            .u32(16, blob.bytes.len() as u32)
            .u32(20, log.len() as u32)
            .u32(24, 1);
        match call_fd(&*self.sys, cmd::BTF_LOAD, &mut attr) {
            Ok(fd) => {
                self.btf_fd = Some(fd);
                self.btf_strings = blob.strings;
            }
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                self.btf_error = Some(format!("{e}\n{}", text.trim_end()));
            }
        }
    }

    fn create_map(&self, def: &MapDef) -> Result<Map, KernelError> {
        let mut max_entries = def.max_entries;
        let (mut key_size, mut value_size) = (def.key_size, def.value_size);
        if def.map_type == 4 {
            // Perf event arrays: one slot per CPU unless sized.
            if max_entries == 0 {
                max_entries = maps::possible_cpus() as u32;
            }
            key_size = 4;
            value_size = 4;
        }
        let inner = match (&def.inner, is_map_in_map(def.map_type)) {
            (Some(inner), true) => Some(self.create_map(inner)?),
            (None, true) => {
                return Err(KernelError::Unsupported(format!(
                    "map `{}` holds maps but declares no inner map",
                    def.name
                )))
            }
            _ => None,
        };
        if is_map_in_map(def.map_type) {
            value_size = 4;
        }
        let base = Attr::new()
            .u32(0, def.map_type)
            .u32(4, key_size)
            .u32(8, value_size)
            .u32(12, max_entries)
            .u32(16, def.map_flags)
            .u32(20, inner.as_ref().map_or(0, |m| m.fd() as u32))
            .u32(24, def.numa_node)
            .bytes(28, &map_name(&def.name));
        let with_btf = match (&self.btf_fd, def.value_type) {
            (Some(fd), Some(v)) if !is_map_in_map(def.map_type) && def.map_type != 3 => {
                let key = def.key_type.unwrap_or(0);
                Some(
                    base.clone()
                        .u32(48, fd.as_raw_fd() as u32)
                        .u32(52, key)
                        .u32(56, v),
                )
            }
            _ => None,
        };
        let fd = match with_btf {
            Some(mut attr) => match call_fd(&*self.sys, cmd::MAP_CREATE, &mut attr) {
                Ok(fd) => fd,
                // As libbpf: if the kernel refuses the types, create it without them.
                Err(e) if e.is_permission() => return Err(e),
                Err(_) => call_fd(&*self.sys, cmd::MAP_CREATE, &mut base.clone())?,
            },
            None => call_fd(&*self.sys, cmd::MAP_CREATE, &mut base.clone())?,
        };
        let info = MapInfo {
            map_type: def.map_type,
            id: 0,
            key_size,
            value_size,
            max_entries,
            map_flags: def.map_flags,
            name: def.name.clone(),
            btf_id: 0,
            btf_key_type_id: def.key_type.unwrap_or(0),
            btf_value_type_id: def.value_type.unwrap_or(0),
        };
        let map = Map::with_info(fd, self.sys.clone(), info);
        if let MapOrigin::GlobalData { read_only, .. } = def.origin {
            if !def.data.is_empty() {
                map.update(&0u32.to_ne_bytes(), &def.data, maps::BPF_ANY)?;
            }
            if read_only {
                map.freeze()?;
            }
        }
        Ok(map)
    }

    /// Puts the maps named in map-in-map initial slots into their outer maps.
    fn fill_map_slots(&self) -> Result<(), KernelError> {
        for (def, map) in self.object.maps.iter().zip(&self.maps) {
            let Ok(outer) = map else { continue };
            if !is_map_in_map(def.map_type) {
                continue;
            }
            for (slot, name) in &def.initial_slots {
                let i = self.object.map_index(name)?;
                let fd = self.map_fd(i, &def.name)?;
                outer.update(
                    &slot.to_ne_bytes(),
                    &(fd as u32).to_ne_bytes(),
                    maps::BPF_ANY,
                )?;
            }
        }
        Ok(())
    }

    /// Puts the loaded programs named in prog-array initial slots into their
    /// arrays; programs not loaded yet are skipped.
    pub fn fill_prog_arrays(&self) -> Result<usize, KernelError> {
        let mut filled = 0;
        for (def, map) in self.object.maps.iter().zip(&self.maps) {
            let Ok(array) = map else { continue };
            if def.map_type != 3 {
                continue;
            }
            for (slot, name) in &def.initial_slots {
                let Some(fd) = self.programs.borrow().get(name).map(|f| f.as_raw_fd()) else {
                    continue;
                };
                array.update(
                    &slot.to_ne_bytes(),
                    &(fd as u32).to_ne_bytes(),
                    maps::BPF_ANY,
                )?;
                filled += 1;
            }
        }
        Ok(filled)
    }

    fn map_fd(&self, index: usize, program: &str) -> Result<i32, KernelError> {
        let name = self.object.maps.get(index).map_or("?", |m| m.name.as_str());
        match self.maps.get(index) {
            Some(Ok(m)) => Ok(m.fd()),
            Some(Err(why)) => Err(KernelError::Unsupported(format!(
                "`{program}` uses map `{name}`, which the kernel refused: {why}"
            ))),
            None => Err(KernelError::Unsupported(format!(
                "`{program}` uses map {index}, which the object does not define"
            ))),
        }
    }

    /// The kernel map created for the object's map `name`.
    pub fn map(&self, name: &str) -> Result<&Map, KernelError> {
        let i = self.object.map_index(name)?;
        match &self.maps[i] {
            Ok(m) => Ok(m),
            Err(why) => Err(KernelError::Unsupported(format!(
                "map `{name}` was not created: {why}"
            ))),
        }
    }

    /// Each object map with the kernel map made for it, or why there is none.
    pub fn maps(&self) -> impl Iterator<Item = (&MapDef, Result<&Map, &str>)> {
        self.object
            .maps
            .iter()
            .zip(&self.maps)
            .map(|(d, m)| (d, m.as_ref().map_err(|s| s.as_str())))
    }

    fn vmlinux(&self) -> Option<&oxbpf_object::Btf> {
        self.vmlinux
            .get_or_init(|| {
                let path = self.core_target.as_deref()?;
                oxbpf_object::Btf::parse(&std::fs::read(path).ok()?).ok()
            })
            .as_ref()
    }

    /// Loads program `name` (once); returns its descriptor.
    pub fn program_fd(&self, name: &str) -> Result<i32, KernelError> {
        if let Some(fd) = self.programs.borrow().get(name) {
            return Ok(fd.as_raw_fd());
        }
        let prog = self.object.program(name)?;
        let prog_type = prog.prog_type;
        if prog_type == ProgramType::Unspec {
            return Err(KernelError::Unsupported(format!(
                "program `{name}` is in section `{}`, which names no kernel program type",
                prog.section
            )));
        }
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
        let hints = sections::load_hints(&prog.section);
        let attach_btf_id = match &hints.btf_target {
            Some(target) => {
                let vmlinux = self.vmlinux().ok_or_else(|| {
                    KernelError::Unsupported(format!(
                        "`{name}` attaches to `{target}`, which needs the kernel's BTF ({VMLINUX_BTF})"
                    ))
                })?;
                let want_typedef = target.starts_with("btf_trace_");
                vmlinux
                    .find(target, |t| {
                        if want_typedef {
                            matches!(t, BtfType::Typedef { .. })
                        } else {
                            matches!(t, BtfType::Func { .. })
                        }
                    })
                    .ok_or_else(|| {
                        KernelError::Unsupported(format!(
                            "`{name}` attaches to `{target}`, which the kernel's BTF does not have"
                        ))
                    })?
            }
            None => 0,
        };
        let bytes: Vec<u8> = insns.iter().flat_map(|r| r.to_bytes()).collect();
        let license = std::ffi::CString::new(self.object.license.clone()).unwrap_or_default();
        let func_info: Vec<u8> = prog
            .func_info
            .iter()
            .flat_map(|f| [(f.insn as u32).to_ne_bytes(), f.type_id.to_ne_bytes()].concat())
            .collect();
        let line_info: Vec<u8> = prog
            .line_info
            .iter()
            .flat_map(|l| {
                let s = |t: &str| self.btf_strings.get(t).copied().unwrap_or(0);
                [
                    (l.insn as u32).to_ne_bytes(),
                    s(&l.file).to_ne_bytes(),
                    s(&l.source).to_ne_bytes(),
                    ((l.line << 10) | (l.column & 0x3ff)).to_ne_bytes(),
                ]
                .concat()
            })
            .collect();
        let mut log_buf = vec![0u8; 1 << 22];
        let base = Attr::new()
            .u32(0, prog_type.kernel_id())
            .u32(4, insns.len() as u32)
            .ptr(8, &bytes)
            .u64(16, license.as_ptr() as u64)
            .u32(24, 1)
            .u32(28, log_buf.len() as u32)
            .u64(32, log_buf.as_mut_ptr() as u64)
            .u32(40, self.object.kernel_version.unwrap_or(0))
            .u32(44, hints.prog_flags)
            .bytes(48, &map_name(name))
            .u32(68, hints.expected_attach_type)
            .u32(108, attach_btf_id);
        let with_btf = match &self.btf_fd {
            Some(fd) if !prog.func_info.is_empty() => {
                let mut a = base
                    .clone()
                    .u32(72, fd.as_raw_fd() as u32)
                    .u32(76, 8)
                    .ptr(80, &func_info)
                    .u32(88, prog.func_info.len() as u32);
                if !prog.line_info.is_empty() {
                    a = a
                        .u32(92, 16)
                        .ptr(96, &line_info)
                        .u32(104, prog.line_info.len() as u32);
                }
                Some(a)
            }
            _ => None,
        };
        let log_text = |log: &[u8]| {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            String::from_utf8_lossy(&log[..end]).into_owned()
        };
        let mut first_error = None;
        if let Some(mut attr) = with_btf {
            match self.sys.bpf(cmd::PROG_LOAD, &mut attr) {
                Ok(fd) => return Ok(self.keep(name, fd)),
                Err(source) => {
                    let log = log_text(&log_buf);
                    first_error = Some(KernelError::Rejected {
                        program: name.to_string(),
                        source,
                        at: rejection_site(&log, &prog.line_info),
                        log,
                    });
                    log_buf.fill(0);
                }
            }
        }
        // Without BTF (none, or the kernel refused the func/line info).
        match self.sys.bpf(cmd::PROG_LOAD, &mut base.clone()) {
            Ok(fd) => Ok(self.keep(name, fd)),
            Err(source) => {
                if source.raw_os_error() == Some(libc::EPERM)
                    && (first_error.is_none() || !sys::privileged())
                {
                    return Err(sys::syscall_error(cmd::PROG_LOAD, source));
                }
                // The first attempt's log carries source lines; prefer it.
                Err(first_error.unwrap_or_else(|| {
                    let log = log_text(&log_buf);
                    KernelError::Rejected {
                        program: name.to_string(),
                        source,
                        at: rejection_site(&log, &prog.line_info),
                        log,
                    }
                }))
            }
        }
    }

    fn keep(&self, name: &str, fd: i64) -> i32 {
        let fd = sys::owned(fd as i32);
        let raw = fd.as_raw_fd();
        self.programs.borrow_mut().insert(name.to_string(), fd);
        raw
    }

    /// `BPF_PROG_TEST_RUN` of program `name` once with `data_in` (and `ctx_in`).
    pub fn test_run(
        &self,
        name: &str,
        data_in: &[u8],
        ctx_in: Option<&[u8]>,
    ) -> Result<TestRun, KernelError> {
        self.test_run_repeat(name, data_in, ctx_in, 1)
    }

    /// `BPF_PROG_TEST_RUN` with the kernel repeating the run `repeat` times
    /// (raw tracepoint and syscall programs, which the kernel runs once per
    /// call, are called `repeat` times).
    pub fn test_run_repeat(
        &self,
        name: &str,
        data_in: &[u8],
        ctx_in: Option<&[u8]>,
        repeat: u32,
    ) -> Result<TestRun, KernelError> {
        let fd = self.program_fd(name)?;
        let prog_type = self.object.program(name)?.prog_type;
        if matches!(prog_type, ProgramType::RawTracepoint | ProgramType::Syscall) {
            // These take only a context: no data, no repeat, no ctx_out (a
            // syscall program's context is written back in place).
            if !data_in.is_empty() {
                return Err(KernelError::Unsupported(format!(
                    "`{name}` is a {} program: it takes a context, not data",
                    prog_type.name()
                )));
            }
            let mut ctx = ctx_in.unwrap_or(&[]).to_vec();
            let mut attr = Attr::new().u32(0, fd as u32).u32(40, ctx.len() as u32).u64(
                48,
                if ctx.is_empty() {
                    0
                } else {
                    ctx.as_mut_ptr() as u64
                },
            );
            let mut result = None;
            for _ in 0..repeat.max(1) {
                call(&*self.sys, cmd::PROG_TEST_RUN, &mut attr)?;
                result = Some(attr.get_u32(4));
            }
            return Ok(TestRun {
                retval: result.unwrap_or(0) as u64,
                data_out: Vec::new(),
                ctx_out: if prog_type == ProgramType::Syscall {
                    ctx
                } else {
                    Vec::new()
                },
                duration_ns: 0,
            });
        }
        let mut out = vec![0u8; data_in.len() + 4096];
        let ctx = ctx_in.unwrap_or(&[]);
        let mut ctx_out = vec![0u8; ctx.len()];
        let mut attr = Attr::new()
            .u32(0, fd as u32)
            .u32(8, data_in.len() as u32)
            .u32(12, out.len() as u32)
            .ptr(16, data_in)
            .u64(24, out.as_mut_ptr() as u64)
            .u32(32, repeat.max(1))
            .u32(40, ctx.len() as u32)
            .u32(44, ctx_out.len() as u32)
            .ptr(48, ctx)
            .u64(
                56,
                if ctx.is_empty() {
                    0
                } else {
                    ctx_out.as_mut_ptr() as u64
                },
            );
        call(&*self.sys, cmd::PROG_TEST_RUN, &mut attr)?;
        out.truncate((attr.get_u32(12) as usize).min(out.len()));
        ctx_out.truncate((attr.get_u32(44) as usize).min(ctx_out.len()));
        Ok(TestRun {
            retval: attr.get_u32(4) as u64,
            data_out: out,
            ctx_out,
            duration_ns: attr.get_u32(36),
        })
    }

    /// Loads every program whose section names a kernel program type, then
    /// fills prog-array initial slots; returns each program's name with its
    /// descriptor or the reason it was refused.
    pub fn load_all(&self) -> Vec<(String, Result<i32, KernelError>)> {
        let out: Vec<_> = self
            .object
            .programs
            .iter()
            .filter(|p| p.prog_type != ProgramType::Unspec)
            .map(|p| (p.name.clone(), self.program_fd(&p.name)))
            .chain(self.object.broken.iter().map(|b| {
                let name = b.program.clone().unwrap_or_else(|| b.section.clone());
                let e = KernelError::Unsupported(format!(
                    "section {} could not be prepared: {}",
                    b.section, b.error
                ));
                (name, Err(e))
            }))
            .collect();
        // Slots of refused programs stay empty; a failure here is a kernel error
        // that the next map operation will report again.
        let _ = self.fill_prog_arrays();
        out
    }

    /// Pins the loaded programs at `dir/NAME` and the created maps at
    /// `dir/maps/NAME` in a bpffs directory (created if missing).
    pub fn pin(&self, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, KernelError> {
        let io = |source: std::io::Error| KernelError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir.join("maps")).map_err(io)?;
        let mut pinned = Vec::new();
        for (name, fd) in self.programs.borrow().iter() {
            let path = dir.join(name);
            pin_fd(&*self.sys, fd.as_raw_fd(), &path)?;
            pinned.push(path);
        }
        for (def, map) in self.object.maps.iter().zip(&self.maps) {
            if let Ok(map) = map {
                let path = dir.join("maps").join(def.name.trim_start_matches('.'));
                map.pin(&path)?;
                pinned.push(path);
            }
        }
        Ok(pinned)
    }

    /// Sets `key` to `value` in map `name` (BPF_ANY).
    pub fn map_update(&self, name: &str, key: &[u8], value: &[u8]) -> Result<(), KernelError> {
        self.map(name)?.update(key, value, maps::BPF_ANY)
    }

    /// Every (key, value) of map `name`, in the kernel's iteration order.
    pub fn map_entries(&self, name: &str) -> Result<Vec<Entry>, KernelError> {
        self.map(name)?.entries()
    }
}

/// The failing instruction of a verifier log (the last instruction it
/// printed) with its C source line, in oxbpf's verifier's words; empty when
/// the log names no instruction.
pub fn rejection_site(log: &str, lines: &[oxbpf_object::LineInfo]) -> String {
    let insn = log.lines().rev().find_map(|l| {
        let (n, rest) = l.split_once(": (")?;
        n.parse::<usize>().ok().filter(|_| rest.len() > 2)
    });
    let Some(insn) = insn else {
        return String::new();
    };
    let mut out = format!("\nrejected at instruction {insn}");
    if let Some(l) = lines.iter().rev().find(|l| l.insn <= insn) {
        let file = l.file.rsplit('/').next().unwrap_or(&l.file);
        out.push_str(&format!(
            "\n  source: {file}:{}: {}",
            l.line,
            l.source.trim()
        ));
    }
    out
}

fn e_with_map(name: &str, e: &KernelError) -> KernelError {
    KernelError::Unsupported(format!("creating map `{name}`: {e}"))
}

/// Pins descriptor `fd` at `path` in bpffs.
pub fn pin_fd(sys: &dyn Sys, fd: i32, path: &std::path::Path) -> Result<(), KernelError> {
    let c = cstring(path)?;
    let mut attr = Attr::new().u64(0, c.as_ptr() as u64).u32(8, fd as u32);
    call(sys, cmd::OBJ_PIN, &mut attr)?;
    Ok(())
}

/// Opens the object pinned at `path` in bpffs.
pub fn obj_get(sys: &dyn Sys, path: &std::path::Path) -> Result<OwnedFd, KernelError> {
    let c = cstring(path)?;
    let mut attr = Attr::new().u64(0, c.as_ptr() as u64);
    call_fd(sys, cmd::OBJ_GET, &mut attr)
}

fn cstring(path: &std::path::Path) -> Result<std::ffi::CString, KernelError> {
    std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| KernelError::Unsupported(format!("{} contains a NUL byte", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::mock::{new_fd, Call, MockSys};

    fn fixture(name: &str) -> Object {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/elf")
            .join(name);
        Object::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    fn options(sys: Arc<MockSys>) -> LoadOptions {
        LoadOptions {
            sys,
            btf: true,
            core_target: None,
        }
    }

    #[test]
    fn maps_get_btf_types_and_rodata_is_frozen() {
        let sys = Arc::new(MockSys::new(|command, _| match command {
            cmd::BTF_LOAD | cmd::MAP_CREATE | cmd::PROG_LOAD => Ok(new_fd()),
            _ => Ok(0),
        }));
        let obj = fixture("tracer.o");
        let k = Kernel::load_with(&obj, options(sys.clone())).unwrap();
        let calls = sys.calls();
        assert!(matches!(calls[0], Call::Bpf(cmd::BTF_LOAD, _)));
        let creates: Vec<&Attr> = calls
            .iter()
            .filter_map(|c| match c {
                Call::Bpf(cmd::MAP_CREATE, a) => Some(a),
                _ => None,
            })
            .collect();
        assert_eq!(creates.len(), obj.maps.len());
        for (def, attr) in obj.maps.iter().zip(&creates) {
            assert_eq!(attr.get_u32(0), def.map_type, "{}", def.name);
            // Every created map with a BTF value type carries it and the BTF fd.
            if let Some(v) = def.value_type {
                assert_eq!(attr.get_u32(56), v, "{}", def.name);
                assert_eq!(attr.get_u32(48) as i32, k.btf_fd().unwrap());
            }
        }
        let rodata = obj.maps.iter().filter(|m| m.map_flags & 0x80 != 0).count();
        assert!(rodata > 0);
        assert_eq!(
            sys.commands()
                .iter()
                .filter(|&&c| c == cmd::MAP_FREEZE)
                .count(),
            rodata
        );
    }

    #[test]
    fn maps_refusing_btf_are_created_without_it() {
        let sys = Arc::new(MockSys::new(|command, attr| match command {
            cmd::MAP_CREATE if attr.get_u32(48) != 0 => {
                Err(std::io::Error::from_raw_os_error(libc::EINVAL))
            }
            _ => Ok(new_fd()),
        }));
        let obj = fixture("packet.o");
        let k = Kernel::load_with(&obj, options(sys.clone())).unwrap();
        assert!(k.maps().all(|(_, m)| m.is_ok()));
    }

    #[test]
    fn programs_are_relocated_to_map_fds_with_line_info() {
        static LOADED: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());
        let sys = Arc::new(MockSys::new(|command, attr| {
            if command == cmd::PROG_LOAD {
                let n = attr.get_u32(4) as usize * 8;
                // SAFETY: the code under test passes `insn_cnt` instructions.
                let bytes = unsafe { std::slice::from_raw_parts(attr.get_u64(8) as *const u8, n) };
                *LOADED.lock().unwrap() = bytes.to_vec();
            }
            Ok(new_fd())
        }));
        let obj = fixture("packet.o");
        let k = Kernel::load_with(&obj, options(sys.clone())).unwrap();
        let fd = k.program_fd("xdp_parse").unwrap();
        assert_eq!(k.program_fd("xdp_parse").unwrap(), fd, "loaded once");
        let Some(Call::Bpf(_, attr)) = sys
            .calls()
            .into_iter()
            .rfind(|c| matches!(c, Call::Bpf(cmd::PROG_LOAD, _)))
        else {
            panic!("no PROG_LOAD");
        };
        let prog = obj.program("xdp_parse").unwrap();
        assert_eq!(attr.get_u32(0), 6);
        assert_eq!(attr.get_u32(4) as usize, prog.insns.len());
        assert_eq!(attr.get_u32(68), 37, "expected attach type BPF_XDP");
        assert_eq!(attr.get_u32(72) as i32, k.btf_fd().unwrap());
        assert_eq!(attr.get_u32(88) as usize, prog.func_info.len());
        assert_eq!(attr.get_u32(104) as usize, prog.line_info.len());
        // The instructions went in with map fds (pseudo src 1) in place of indices.
        let sent = LOADED.lock().unwrap().clone();
        let map_fds: Vec<i32> = k
            .maps()
            .filter_map(|(_, m)| m.ok())
            .map(|m| m.fd())
            .collect();
        let mut lddw = 0;
        for (slot, raw) in prog.insns.iter().enumerate() {
            if raw.opcode == 0x18 && raw.src == LddwSrc::MapIdx.code() {
                let got = &sent[slot * 8..slot * 8 + 8];
                assert_eq!(got[1] >> 4, LddwSrc::MapFd.code(), "slot {slot}");
                let imm = i32::from_le_bytes(got[4..8].try_into().unwrap());
                assert!(map_fds.contains(&imm), "slot {slot}: {imm}");
                lddw += 1;
            }
        }
        assert!(lddw > 0);
    }

    #[test]
    fn a_refused_program_returns_the_verifier_log() {
        let sys = Arc::new(MockSys::new(|command, attr| match command {
            cmd::PROG_LOAD => {
                let log = attr.get_u64(32) as *mut u8;
                let text = b"0: (b7) r0 = 0\nR0 !read_ok\n\0";
                // SAFETY: the code under test passes a log buffer of 4 MiB.
                unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), log, text.len()) };
                Err(std::io::Error::from_raw_os_error(libc::EACCES))
            }
            _ => Ok(new_fd()),
        }));
        let k = Kernel::load_with(&fixture("packet.o"), options(sys)).unwrap();
        let e = k.program_fd("xdp_parse").unwrap_err().to_string();
        assert!(
            e.contains("rejected program `xdp_parse`") && e.contains("R0 !read_ok"),
            "{e}"
        );
    }

    #[test]
    fn permission_errors_name_the_capability() {
        let sys = Arc::new(MockSys::new(|_, _| {
            Err(std::io::Error::from_raw_os_error(libc::EPERM))
        }));
        let e = Kernel::load_with(&fixture("packet.o"), options(sys))
            .err()
            .expect("refused");
        let cap = e.missing_capability().expect("a permission error");
        assert!(cap.contains("CAP_BPF"), "{cap}");
        // The hint's own parentheses stay balanced once the outer ones go.
        assert_eq!(cap.matches('(').count(), cap.matches(')').count(), "{cap}");
        assert!(e.to_string().contains("CAP_BPF"), "{e}");
    }

    #[test]
    fn rejection_sites_name_the_last_instruction_and_its_line() {
        let lines = [0usize, 5]
            .iter()
            .enumerate()
            .map(|(i, &insn)| oxbpf_object::LineInfo {
                insn,
                file: "/src/prog.c".into(),
                source: format!("  line{i};"),
                line: 10 + i as u32,
                column: 1,
            })
            .collect::<Vec<_>>();
        let log = "0: R1=ctx() R10=fp0\n; line0; @ prog.c:10\n0: (bf) r6 = r1\n7: (61) r1 = *(u32 *)(r6 +0)\ninvalid bpf_context access off=0 size=4\nprocessed 8 insns\n";
        assert_eq!(
            rejection_site(log, &lines),
            "\nrejected at instruction 7\n  source: prog.c:11: line1;"
        );
        assert_eq!(rejection_site("unknown opcode 8d\n", &lines), "");
    }
}
