//! Run clang-built eBPF objects in userspace.
//!
//! A [`Runtime`] takes a loaded [`Object`], creates its maps (global data
//! included, with any values the host set before load), and runs its programs
//! in the interpreter with the kernel's helpers: map access, ring buffers,
//! time, randomness, `bpf_trace_printk`, probe reads and `bpf_strncmp`.
//!
//! ```no_run
//! use oxbpf::Runtime;
//!
//! let elf = std::fs::read("counter.o").unwrap();
//! let rt = Runtime::from_elf(&elf).unwrap();
//! let mut packet = vec![0u8; 64];
//! let ret = rt.run("count", &mut packet).unwrap();
//! for (key, value) in rt.map_entries("counts").unwrap() {
//!     println!("{key} => {value}");
//! }
//! # let _ = ret;
//! ```

pub mod error;
pub mod helpers;
pub mod hooks;
mod lowmem;
pub mod test_run;

use std::sync::{Arc, Mutex};

use oxbpf_isa::LddwSrc;
use oxbpf_maps::{Map, MapSpec, MapType, BPF_ANY};
use oxbpf_object::{MapOrigin, Object};
use oxbpf_vm::{Helpers, NoTrace, Program, Region, Vm};

pub use error::RuntimeError;
pub use helpers::{FibHook, TraceSink};
pub use hooks::Hooks;
pub use oxbpf_maps as maps;
pub use oxbpf_object as object;
pub use test_run::{Convention, Redirect, TestRun};

use helpers::{kernel_helpers, InnerMaps, ProgArray, Shared, HANDLE_BASE, TAIL, TAIL_CALL};

/// The kernel's ids of `BPF_MAP_TYPE_PROG_ARRAY`, `_ARRAY_OF_MAPS` and `_HASH_OF_MAPS`.
const PROG_ARRAY: u32 = 3;
const ARRAY_OF_MAPS: u32 = 12;
const HASH_OF_MAPS: u32 = 13;

/// Sets the `LINUX_KERNEL_VERSION` extern, when the object has one the host
/// left at 0, to the running kernel's version, as libbpf does.
pub fn set_kernel_version(object: &mut Object) -> Result<(), RuntimeError> {
    if object
        .global_bytes("LINUX_KERNEL_VERSION")
        .is_ok_and(|b| b.iter().all(|&x| x == 0))
    {
        if let Some(v) = running_kernel_version() {
            object.set_global("LINUX_KERNEL_VERSION", &v.to_le_bytes())?;
        }
    }
    Ok(())
}

/// Ties program array `array` (named `map`) to `program`'s type `t`, or
/// refuses a program of another type, as the kernel's `bpf_prog_map_compatible` does.
fn bind(
    array: &mut ProgArray,
    map: &str,
    program: &str,
    t: oxbpf_object::ProgramType,
) -> Result<(), RuntimeError> {
    match array.owner {
        Some(owner) if owner != t => Err(RuntimeError::ProgArrayType {
            map: map.to_string(),
            program: program.to_string(),
            owner: owner.name(),
            found: t.name(),
        }),
        _ => {
            array.owner = Some(t);
            Ok(())
        }
    }
}

/// Checks that `candidate` may sit in map of maps `outer`: of its inner
/// template's type, sizes and flags, which is what the verifier assumed of
/// the maps a lookup in `outer` returns (the kernel's `bpf_map_meta_equal`).
fn inner_fits(
    outer: &oxbpf_object::MapDef,
    candidate: &oxbpf_object::MapDef,
) -> Result<(), RuntimeError> {
    let Some(t) = &outer.inner else {
        return Err(RuntimeError::InnerMap {
            outer: outer.name.clone(),
            inner: candidate.name.clone(),
            why: "the map of maps declares no inner map template".to_string(),
        });
    };
    let shape = |m: &oxbpf_object::MapDef| (m.map_type, m.key_size, m.value_size, m.map_flags);
    if shape(t) != shape(candidate) {
        let show = |m: &oxbpf_object::MapDef| {
            format!(
                "{} map, key {} bytes, value {} bytes, flags {:#x}",
                oxbpf_object::map_type_name(m.map_type),
                m.key_size,
                m.value_size,
                m.map_flags
            )
        };
        return Err(RuntimeError::InnerMap {
            outer: outer.name.clone(),
            inner: candidate.name.clone(),
            why: format!("it is a {}, the template a {}", show(candidate), show(t)),
        });
    }
    Ok(())
}

/// The running kernel's version as `KERNEL_VERSION(a, b, c)`, from its release string.
pub fn running_kernel_version() -> Option<u32> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok());
    let (a, b, c) = (next()?, next()?, next().unwrap_or(0));
    Some((a << 16) | (b << 8) | c.min(255))
}

/// Settings for [`Runtime::with_options`].
pub struct Options {
    /// How many CPUs per-CPU maps keep values for.
    pub ncpus: usize,
    /// The CPU id instances start with (`Instance::set_cpu` changes one instance's).
    pub cpu: usize,
    /// Where `bpf_trace_printk` writes; stderr by default.
    pub trace: TraceSink,
    /// An instruction budget per run (`None`: unlimited). With the JIT, each
    /// back-edge draws the number of slots it jumps back over.
    pub budget: Option<u64>,
    /// What runs the programs: the interpreter by default.
    pub engine: Engine,
}

/// What runs the programs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// The interpreter.
    #[default]
    Interpreter,
    /// The x86-64 JIT in checked mode: every memory access is checked, as in
    /// the interpreter. On other hosts, the interpreter.
    Jit,
    /// The JIT without run-time memory checks for programs oxbpf's verifier
    /// accepts (as a privileged loader); `Runtime::instance` refuses the
    /// others. Program types whose test-run context the runtime cannot size
    /// to the verifier's layout run checked instead.
    JitVerified,
    /// The interpreter without run-time memory checks for programs oxbpf's
    /// verifier accepts, on the same terms as [`Engine::JitVerified`].
    InterpreterVerified,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ncpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: 0,
            // Like the kernel's trace_pipe, one line per call.
            trace: Arc::new(Mutex::new(|s: &str| {
                eprintln!("{}", s.trim_end_matches('\n'))
            })),
            budget: None,
            engine: Engine::Interpreter,
        }
    }
}

/// An object with its maps created, ready to run programs.
pub struct Runtime {
    object: Object,
    shared: Arc<Shared>,
    helpers: Helpers,
    budget: Option<u64>,
    engine: Engine,
    /// Whether helpers 1 and 2 are still the runtime's map lookup and update
    /// (the JIT then inlines array lookups and calls the others directly).
    own_map_helpers: bool,
}

impl Runtime {
    /// Parses an ELF object and prepares it with default options.
    pub fn from_elf(elf: &[u8]) -> Result<Runtime, RuntimeError> {
        Runtime::with_options(Object::parse(elf)?, Options::default())
    }

    /// Creates the object's maps. Global variables set on `object` before this
    /// call (`Object::set_global`) are the maps' initial contents.
    pub fn with_options(mut object: Object, options: Options) -> Result<Runtime, RuntimeError> {
        set_kernel_version(&mut object)?;
        let mut maps = Vec::with_capacity(object.maps.len());
        for def in &object.maps {
            let Some(map_type) = MapType::from_kernel_id(def.map_type) else {
                maps.push(None);
                continue;
            };
            let mut spec = MapSpec::new(
                &def.name,
                map_type,
                def.key_size,
                def.value_size,
                def.max_entries,
            );
            spec.flags = def.map_flags;
            let map = Map::new(spec, options.ncpus).map_err(|source| RuntimeError::Map {
                map: def.name.clone(),
                source,
            })?;
            if let MapOrigin::GlobalData { read_only, .. } = def.origin {
                map.update(&0u32.to_le_bytes(), &def.data, BPF_ANY)
                    .map_err(|source| RuntimeError::Map {
                        map: def.name.clone(),
                        source,
                    })?;
                // As libbpf freezes `.rodata`: the verifier takes its bytes as
                // constants, so neither the host nor a program may change them.
                if read_only {
                    map.freeze();
                }
            }
            maps.push(Some(Arc::new(map)));
        }
        // Program arrays hold program names, filled from the object's
        // initializers, which must all be of one program type.
        let mut prog_arrays = Vec::with_capacity(object.maps.len());
        for d in &object.maps {
            if d.map_type != PROG_ARRAY {
                prog_arrays.push(None);
                continue;
            }
            let mut array = ProgArray {
                owner: None,
                slots: vec![None; d.max_entries as usize],
            };
            for (i, name) in &d.initial_slots {
                let t = object.program(name)?.prog_type;
                bind(&mut array, &d.name, name, t)?;
                if let Some(s) = array.slots.get_mut(*i as usize) {
                    *s = Some(name.clone());
                }
            }
            prog_arrays.push(Some(Mutex::new(array)));
        }
        // Maps of maps hold inner map indices, filled from the object's initializers.
        let map_of_maps = object
            .maps
            .iter()
            .map(|d| {
                matches!(d.map_type, ARRAY_OF_MAPS | HASH_OF_MAPS)
                    .then(|| {
                        let mut slots = InnerMaps::new();
                        for (i, name) in &d.initial_slots {
                            let Ok(m) = object.map_index(name) else {
                                continue;
                            };
                            inner_fits(d, &object.maps[m])?;
                            slots.insert(i.to_le_bytes().to_vec(), m);
                        }
                        Ok(Mutex::new(slots))
                    })
                    .transpose()
            })
            .collect::<Result<_, RuntimeError>>()?;
        let shared = Arc::new(Shared {
            maps,
            names: object.maps.iter().map(|d| d.name.clone()).collect(),
            fib: Mutex::new(None),
            prog_arrays,
            map_of_maps,
            cpu: options.cpu,
            trace: options.trace,
        });
        // Where the JIT's code cannot run, its engines are the interpreter's
        // with the same checks.
        let engine = match options.engine {
            Engine::Jit if !oxbpf_jit::HOST_SUPPORTED => Engine::Interpreter,
            Engine::JitVerified if !oxbpf_jit::HOST_SUPPORTED => Engine::InterpreterVerified,
            e => e,
        };
        Ok(Runtime {
            helpers: kernel_helpers(shared.clone()),
            object,
            shared,
            budget: options.budget,
            engine,
            own_map_helpers: true,
        })
    }

    /// Registers a helper of the host's own under `id` (replacing a kernel helper
    /// with that id); programs loaded afterwards (`instance`, `run`) can call it.
    pub fn register_helper(
        &mut self,
        id: u32,
        f: impl Fn(&mut oxbpf_vm::HelperContext<'_>, [u64; 5]) -> Result<u64, String>
            + Send
            + Sync
            + 'static,
    ) {
        self.helpers.register(id, f);
        if id == 1 || id == 2 {
            self.own_map_helpers = false;
        }
    }

    /// Sets the FIB `bpf_fib_lookup` consults (see [`helpers::FibHook`]);
    /// without one, lookups answer `BPF_FIB_LKUP_RET_NOT_FWDED`.
    pub fn set_fib_hook(&self, hook: Option<FibHook>) {
        *self.shared.fib.lock().unwrap_or_else(|e| e.into_inner()) = hook;
    }

    /// The object.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Result<&Arc<Map>, RuntimeError> {
        let i = self.object.map_index(name)?;
        self.shared.maps[i]
            .as_ref()
            .ok_or_else(|| RuntimeError::NotFound {
                what: "implemented map",
                name: name.to_string(),
            })
    }

    /// Every map that exists at run time, with its name.
    pub fn maps(&self) -> impl Iterator<Item = (&str, &Arc<Map>)> {
        self.object
            .maps
            .iter()
            .zip(&self.shared.maps)
            .filter_map(|(d, m)| m.as_ref().map(|m| (d.name.as_str(), m)))
    }

    /// A map's entries formatted with its BTF key and value types (hex without BTF).
    pub fn map_entries(&self, name: &str) -> Result<Vec<(String, String)>, RuntimeError> {
        let i = self.object.map_index(name)?;
        let def = &self.object.maps[i];
        let map = self.map(name)?;
        let btf = self.object.btf.as_ref();
        let fmt = |ty: Option<u32>, bytes: &[u8]| match (btf, ty) {
            (Some(b), Some(t)) => b.format_value(t, bytes),
            _ => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        };
        let per_cpu = map.host_value_size() != def.value_size as usize;
        Ok(map
            .entries()
            .into_iter()
            .map(|(k, v)| {
                let value = if per_cpu {
                    let stride = v.len() / map.ncpus();
                    let cpus: Vec<String> = v
                        .chunks(stride)
                        .map(|c| fmt(def.value_type, &c[..def.value_size as usize]))
                        .collect();
                    format!("[{}]", cpus.join(", "))
                } else {
                    fmt(def.value_type, &v)
                };
                (fmt(def.key_type, &k), value)
            })
            .collect())
    }

    /// Loads the program `name` into a fresh interpreter instance.
    pub fn instance(&self, name: &str) -> Result<Instance<'_>, RuntimeError> {
        let prog = self.object.program(name)?;
        let vm_err = |source| RuntimeError::Vm {
            program: name.to_string(),
            source,
        };
        // Every helper the program calls must have an implementation here: the
        // verifier judges for the kernel, which has more helpers than oxbpf runs.
        for (_, insn) in prog.instructions()? {
            if let oxbpf_isa::Insn::Call {
                kind: oxbpf_isa::CallKind::Helper,
                imm,
            } = insn
            {
                if self.helpers.get(imm as u32).is_none() {
                    return Err(RuntimeError::UnimplementedHelper {
                        program: name.to_string(),
                        id: imm,
                        helper: oxbpf_isa::helper_name(imm).unwrap_or("unknown"),
                    });
                }
            }
        }
        // Check every map the program names exists at run time.
        for (_, insn) in prog.instructions()? {
            if let oxbpf_isa::Insn::Lddw {
                src: LddwSrc::MapIdx | LddwSrc::MapIdxValue,
                imm,
                ..
            } = insn
            {
                let i = imm as u32 as usize;
                if let Some(Some(array)) = self.shared.prog_arrays.get(i) {
                    let mut array = array.lock().unwrap_or_else(|e| e.into_inner());
                    bind(&mut array, &self.object.maps[i].name, name, prog.prog_type)?;
                }
                let is_prog_array = matches!(self.shared.prog_arrays.get(i), Some(Some(_)))
                    || matches!(self.shared.map_of_maps.get(i), Some(Some(_)));
                if let (Some(def), Some(None), false) = (
                    self.object.maps.get(i),
                    self.shared.maps.get(i),
                    is_prog_array,
                ) {
                    return Err(RuntimeError::UnsupportedMap {
                        program: name.to_string(),
                        map: def.name.clone(),
                        map_type: oxbpf_object::map_type_name(def.map_type),
                    });
                }
            }
        }
        let maps = &self.shared.maps;
        let resolve = |src: LddwSrc, imm: u64| -> Option<u64> {
            let i = imm as u32 as usize;
            match src {
                LddwSrc::MapIdx => {
                    let exists = matches!(maps.get(i), Some(Some(_)))
                        || matches!(self.shared.prog_arrays.get(i), Some(Some(_)))
                        || matches!(self.shared.map_of_maps.get(i), Some(Some(_)));
                    exists.then(|| HANDLE_BASE + i as u64)
                }
                LddwSrc::MapIdxValue => {
                    let (base, len) = maps.get(i)?.as_ref()?.storage()?;
                    let off = imm >> 32;
                    (off < len as u64).then(|| base as u64 + off)
                }
                _ => None,
            }
        };
        let program =
            Program::with_resolver(&prog.bytecode(), &self.helpers, &resolve).map_err(vm_err)?;
        let verified = matches!(
            self.engine,
            Engine::JitVerified | Engine::InterpreterVerified
        );
        if verified {
            let maps = oxbpf_verifier::object_maps(&self.object);
            let input = oxbpf_verifier::Input::program(prog, &maps);
            let report = oxbpf_verifier::verify(&input, &Default::default());
            if let Some(r) = report.rejection {
                return Err(RuntimeError::Rejected {
                    program: name.to_string(),
                    reason: r.to_string().trim_end().to_string(),
                });
            }
        }
        // Unchecked code runs only on contexts `test_run` builds at least as
        // large as the verifier's layouts.
        let unchecked = verified && test_run::verified_contexts_fit(prog.prog_type);
        let vm = match self.engine {
            Engine::Interpreter | Engine::InterpreterVerified => {
                let mut vm = Vm::from_program(program);
                vm.set_budget(self.budget);
                if unchecked {
                    Exec::VerifiedInterpreter(vm)
                } else {
                    Exec::Interpreter(vm)
                }
            }
            Engine::Jit | Engine::JitVerified => {
                let (arrays, direct) = if self.own_map_helpers {
                    self.known_maps()
                } else {
                    (Vec::new(), Vec::new())
                };
                let maps = oxbpf_jit::KnownMaps {
                    arrays: &arrays,
                    direct: &direct,
                };
                let jit_err = |e| RuntimeError::Jit {
                    program: name.to_string(),
                    source: Box::new(e),
                };
                let compile = |mode| {
                    let options = oxbpf_jit::Options {
                        mode,
                        constant_blinding: false,
                        ..Default::default()
                    };
                    // SAFETY: helpers 1 and 2 are the runtime's own map helpers
                    // over these maps (`own_map_helpers`), whose storage lives as
                    // long as the runtime, which the instance borrows, and is
                    // among every run's regions (`run_regions`); the direct
                    // functions read only the key and value lengths of their map.
                    // Unchecked code is built only for programs the verifier
                    // accepted, and runs only on contexts `test_run` builds at
                    // least as large as the verifier's layouts.
                    let mut jit = unsafe {
                        oxbpf_jit::JitProgram::compile_with_maps(program.clone(), &options, maps)
                    }
                    .map_err(jit_err)?;
                    jit.set_budget(self.budget).map_err(jit_err)?;
                    Ok::<_, RuntimeError>(Box::new(jit))
                };
                let checked = compile(oxbpf_jit::Mode::Checked)?;
                if unchecked {
                    Exec::Verified {
                        fast: compile(oxbpf_jit::Mode::Unchecked)?,
                        checked,
                    }
                } else {
                    Exec::Jit(checked)
                }
            }
        };
        Ok(Instance {
            runtime: self,
            name: name.to_string(),
            prog_type: prog.prog_type,
            cpu: self.shared.cpu,
            min_context: match vm {
                Exec::Verified { .. } | Exec::VerifiedInterpreter(_) => {
                    test_run::verified_context_size(prog.prog_type)
                }
                _ => 0,
            },
            vm,
            tail_targets: std::collections::HashMap::new(),
        })
    }

    /// The maps described for the JIT: plain arrays, whose lookups it inlines,
    /// and the rest, whose lookups and updates it calls directly.
    fn known_maps(&self) -> (Vec<oxbpf_jit::ArrayMap>, Vec<oxbpf_jit::DirectMap>) {
        let (mut arrays, mut direct) = (Vec::new(), Vec::new());
        for (i, map) in self.shared.maps.iter().enumerate() {
            let Some(map) = map else { continue };
            let spec = map.spec();
            let handle = HANDLE_BASE + i as u64;
            match (spec.map_type, map.storage()) {
                (oxbpf_maps::MapType::Array, Some((base, _))) => arrays.push(oxbpf_jit::ArrayMap {
                    handle,
                    base: base as u64,
                    stride: spec.value_size.div_ceil(8) * 8,
                    max_entries: spec.max_entries,
                }),
                _ => direct.push(oxbpf_jit::DirectMap {
                    handle,
                    key_size: spec.key_size,
                    value_size: spec.value_size,
                    data: &**map as *const oxbpf_maps::Map as *const std::ffi::c_void,
                    lookup: helpers::direct_lookup,
                    update: helpers::direct_update,
                }),
            }
        }
        (arrays, direct)
    }

    /// Puts map `inner` (or nothing) under `key` of the array or hash of maps `outer`.
    pub fn set_inner_map(
        &self,
        outer: &str,
        key: u32,
        inner: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let o = self.object.map_index(outer)?;
        let table = self.shared.map_of_maps[o]
            .as_ref()
            .ok_or_else(|| RuntimeError::NotFound {
                what: "map of maps",
                name: outer.to_string(),
            })?;
        let def = &self.object.maps[o];
        if def.map_type == ARRAY_OF_MAPS && key >= def.max_entries {
            return Err(RuntimeError::NotFound {
                what: "map-of-maps slot",
                name: format!("{outer}[{key}]"),
            });
        }
        let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
        match inner {
            Some(name) => {
                let i = self.object.map_index(name)?;
                inner_fits(def, &self.object.maps[i])?;
                t.insert(key.to_le_bytes().to_vec(), i);
            }
            None => {
                t.remove(key.to_le_bytes().as_slice());
            }
        }
        Ok(())
    }

    /// Puts program `program` (or nothing) in slot `index` of program array `map`,
    /// for `bpf_tail_call`.
    pub fn set_tail_call(
        &self,
        map: &str,
        index: u32,
        program: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let i = self.object.map_index(map)?;
        let table = self.shared.prog_arrays[i]
            .as_ref()
            .ok_or_else(|| RuntimeError::NotFound {
                what: "program array",
                name: map.to_string(),
            })?;
        let mut array = table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = program {
            let t = self.object.program(p)?.prog_type;
            bind(&mut array, map, p, t)?;
        }
        let slot = array
            .slots
            .get_mut(index as usize)
            .ok_or_else(|| RuntimeError::NotFound {
                what: "program array slot",
                name: format!("{map}[{index}]"),
            })?;
        *slot = program.map(String::from);
        Ok(())
    }

    /// Runs program `name` once with r1 = `data` and r2 = its length.
    pub fn run(&self, name: &str, data: &mut [u8]) -> Result<u64, RuntimeError> {
        self.instance(name)?.run(data)
    }
}

/// A program ready to run, with its own interpreter state; one per thread.
pub struct Instance<'r> {
    runtime: &'r Runtime,
    name: String,
    prog_type: oxbpf_object::ProgramType,
    /// The CPU id this instance's programs see (per-CPU maps, BPF_F_CURRENT_CPU).
    cpu: usize,
    vm: Exec,
    /// Bytes a test run's plain or context input is padded to: the verifier's
    /// layout size when unchecked code runs on it, else 0.
    min_context: usize,
    /// Engines for the programs this one tail-calls, made on first use.
    tail_targets: std::collections::HashMap<String, Exec>,
}

/// A loaded program in its engine.
enum Exec {
    Interpreter(Vm),
    Jit(Box<oxbpf_jit::JitProgram>),
    /// A verified program: unchecked code for contexts the runtime builds,
    /// checked code for memory the host hands in.
    Verified {
        fast: Box<oxbpf_jit::JitProgram>,
        checked: Box<oxbpf_jit::JitProgram>,
    },
    /// A verified program in the interpreter: unchecked runs on contexts the
    /// runtime builds, checked runs on memory the host hands in.
    VerifiedInterpreter(Vm),
}

impl Exec {
    /// `built`: the first region is a context `test_run` built (so verified,
    /// unchecked code may run on it).
    fn run_with(
        &mut self,
        args: &[u64; 5],
        regions: &[Region<'_>],
        built: bool,
    ) -> Result<u64, oxbpf_vm::VmError> {
        match self {
            Exec::Interpreter(vm) => vm.run_with(args, regions, &mut NoTrace),
            Exec::Jit(jit) => jit.run_with(args, regions),
            Exec::Verified { fast, .. } if built => fast.run_with(args, regions),
            Exec::Verified { checked, .. } => checked.run_with(args, regions),
            // SAFETY: the verifier accepted the program, and `built` says the
            // context is one `test_run` sized to the verifier's layout; the
            // other regions are the runtime's maps and packet, as verified.
            Exec::VerifiedInterpreter(vm) if built => unsafe {
                vm.run_unchecked_with(args, regions, &mut NoTrace)
            },
            Exec::VerifiedInterpreter(vm) => vm.run_with(args, regions, &mut NoTrace),
        }
    }
}

impl Instance<'_> {
    /// Runs with r1 = `data` and r2 = its length; the maps stay shared.
    pub fn run(&mut self, data: &mut [u8]) -> Result<u64, RuntimeError> {
        helpers::packet::begin(helpers::packet::RunKind::Other, None);
        let (r1, r2) = if data.is_empty() {
            (0, 0)
        } else {
            (data.as_mut_ptr() as u64, data.len() as u64)
        };
        self.run_regions([r1, r2, 0, 0, 0], vec![Region::writable(data)], false)
    }

    /// Runs with the given r1..r5 and regions, plus every map's storage;
    /// `built`: the first region is a context the runtime built (see `Exec`).
    pub(crate) fn run_regions(
        &mut self,
        args: [u64; 5],
        mut regions: Vec<Region<'_>>,
        built: bool,
    ) -> Result<u64, RuntimeError> {
        for (def, map) in self
            .runtime
            .object
            .maps
            .iter()
            .zip(&self.runtime.shared.maps)
        {
            let Some((ptr, len)) = map.as_ref().and_then(|m| m.storage()) else {
                continue;
            };
            let writable = !matches!(
                def.origin,
                MapOrigin::GlobalData {
                    read_only: true,
                    ..
                }
            );
            // SAFETY: the map's storage lives as long as the runtime, which this
            // instance borrows, and is only touched through raw pointers.
            regions.push(unsafe { Region::from_raw(ptr, len, writable) });
        }
        // The key area bpf_for_each_map_elem hands to callbacks, read-only to programs.
        let scratch = helpers::KEY_SCRATCH.with(|k| k.get() as *mut u8);
        // SAFETY: the thread-local area lives as long as this thread, which runs the program.
        regions.push(unsafe { Region::from_raw(scratch, helpers::SCRATCH_BYTES, false) });
        TAIL.with(|t| *t.borrow_mut() = (None, 0));
        helpers::CPU.with(|c| c.set(self.cpu));
        let mut current = self.name.clone();
        loop {
            let vm = if current == self.name {
                &mut self.vm
            } else {
                if !self.tail_targets.contains_key(&current) {
                    // The target runs on this program's context, laid out for
                    // this program's type; program arrays hold one type only,
                    // and this checks it again where it matters.
                    let t = self.runtime.object.program(&current)?.prog_type;
                    if t != self.prog_type {
                        return Err(RuntimeError::ProgArrayType {
                            map: "(tail call)".to_string(),
                            program: current,
                            owner: self.prog_type.name(),
                            found: t.name(),
                        });
                    }
                    let inst = self.runtime.instance(&current)?;
                    self.tail_targets.insert(current.clone(), inst.vm);
                }
                self.tail_targets.get_mut(&current).expect("inserted above")
            };
            match vm.run_with(&args, &regions, built) {
                Err(oxbpf_vm::VmError::Helper { message, .. }) if message == TAIL_CALL => {
                    // The tail call replaces the program: same context, fresh stack.
                    current = TAIL
                        .with(|t| t.borrow_mut().0.take())
                        .expect("a tail call names its target");
                }
                r => {
                    return r.map_err(|source| RuntimeError::Vm {
                        program: current,
                        source,
                    })
                }
            }
        }
    }

    /// Sets the CPU id this instance's programs see; give each thread its own to
    /// use per-CPU maps as the kernel does.
    pub fn set_cpu(&mut self, cpu: usize) {
        self.cpu = cpu;
    }

    /// Instructions executed by the last run (interpreter with a budget set;
    /// the JIT does not count).
    pub fn executed(&self) -> Option<u64> {
        match &self.vm {
            Exec::Interpreter(vm) | Exec::VerifiedInterpreter(vm) => vm.executed(),
            Exec::Jit(_) | Exec::Verified { .. } => None,
        }
    }
}
