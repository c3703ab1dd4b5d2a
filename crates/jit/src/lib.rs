//! A JIT compiler for eBPF, for x86-64 and AArch64.
//!
//! A [`JitProgram`] compiles a loaded [`Program`] (the interpreter's validated,
//! helper-resolved form) to machine code in W^X memory and runs it with the
//! same memory regions, helpers and errors as the interpreter.
//!
//! Two modes:
//! - [`Mode::Checked`] (the default, for unverified programs): every memory
//!   access is checked against the run's regions, back-edges draw on an
//!   instruction budget, call depth is limited to 8 frames, and every fault is
//!   reported as the interpreter reports it.
//! - [`Mode::Unchecked`], for programs a verifier approved: no run-time checks.
//!   Building one is `unsafe`, because nothing then stops a bad program.
//!
//! ```
//! use oxbpf_jit::JitProgram;
//! use oxbpf_vm::{Helpers, Program};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let code = oxbpf_isa::assemble_bytes("r0 = *(u8 *)(r1 + 1)\nr0 += r2\nexit")?;
//! let program = Program::new(&code, &Helpers::new())?;
//! let mut jit = JitProgram::compile(program, &Default::default())?;
//! assert_eq!(jit.run(&mut [10, 20, 30])?, 23);
//! // Out-of-bounds accesses are caught, as in the interpreter:
//! assert!(jit.run(&mut [10]).is_err());
//! # Ok(())
//! # }
//! ```

pub mod aarch64;
pub mod error;
pub mod exec_mem;
#[cfg(feature = "disasm")]
pub mod listing;
pub mod x86;

mod context;
mod labels;
mod plan;

pub use error::JitError;

use context::{JitContext, Status, Trampoline};
use exec_mem::ExecMemory;
use oxbpf_vm::{MemoryMap, Program, RawRegion, Region, VmError, MAX_REGIONS, STACK_SIZE};

/// Whether this host can run the code the JIT emits: x86-64 with the System V
/// calling convention, or AArch64 on Linux. Elsewhere programs still compile
/// (for a named [`Arch`]), so that their code can be listed, but runs fail
/// with [`VmError::Unsupported`]; the runtime and the CLI use the
/// interpreter there instead.
pub const HOST_SUPPORTED: bool = cfg!(any(
    all(target_arch = "x86_64", not(windows)),
    all(target_arch = "aarch64", target_os = "linux")
));

/// The instruction set code is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86-64, System V calling convention.
    X86_64,
    /// AArch64 (AAPCS64).
    Aarch64 {
        /// Use the LSE atomics (ARMv8.1); without them, LL/SC loops.
        lse: bool,
    },
}

impl Arch {
    /// The host's instruction set (x86-64 on hosts the JIT cannot run on),
    /// with LSE atomics where the CPU has them.
    pub fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64 {
                lse: aarch64::compile::host_has_lse(),
            }
        } else {
            Arch::X86_64
        }
    }

    /// Whether code for this instruction set runs on this host.
    pub fn runs_here(self) -> bool {
        HOST_SUPPORTED
            && match self {
                Arch::X86_64 => cfg!(target_arch = "x86_64"),
                Arch::Aarch64 { lse } => {
                    cfg!(target_arch = "aarch64") && (!lse || aarch64::compile::host_has_lse())
                }
            }
    }
}

impl Default for Arch {
    fn default() -> Arch {
        Arch::host()
    }
}

/// The error of running code on a host that cannot run it.
#[cold]
fn foreign_host() -> VmError {
    VmError::Unsupported {
        index: 0,
        what: "running the JIT's code on this host (use the interpreter)",
    }
}

/// Whether compiled code checks memory accesses at run time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Every access checked against the run's regions; budget and call depth enforced.
    #[default]
    Checked,
    /// No run-time checks: only for programs a verifier has approved. Registers
    /// the program reads before writing (other than r1, r2 and r10) are undefined.
    Unchecked,
}

/// Compilation options.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Checked or unchecked code.
    pub mode: Mode,
    /// Hide program-chosen constants behind random keys (against JIT spraying).
    pub constant_blinding: bool,
    /// The instruction set to compile for (the host's by default).
    pub arch: Arch,
}

/// An array map whose lookups the JIT may inline: `bpf_map_lookup_elem(map,
/// &key)` with `map` the constant `handle` becomes `key < max_entries ?
/// base + key * stride : NULL`, with no call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayMap {
    /// The value an `lddw` of the map loads (what helper 1 receives in r1).
    pub handle: u64,
    /// Address of element 0.
    pub base: u64,
    /// Bytes from one element to the next.
    pub stride: u32,
    /// Number of elements.
    pub max_entries: u32,
}

/// A map whose `bpf_map_lookup_elem` (helper 1) and `bpf_map_update_elem`
/// (helper 2) the JIT calls directly, without the generic helper machinery,
/// when r1 holds its handle as a constant and the key (and value) lie on the
/// stack; otherwise the helper runs as usual.
#[derive(Clone, Copy, Debug)]
pub struct DirectMap {
    /// The value an `lddw` of the map loads.
    pub handle: u64,
    /// Bytes of a key.
    pub key_size: u32,
    /// Bytes of a value.
    pub value_size: u32,
    /// Passed as the first argument of both functions.
    pub data: *const std::ffi::c_void,
    /// `lookup(data, key)`: the value's address, or 0.
    pub lookup: unsafe extern "C" fn(*const std::ffi::c_void, *const u8) -> u64,
    /// `update(data, key, value, flags)`: 0 or a negative errno.
    pub update: unsafe extern "C" fn(*const std::ffi::c_void, *const u8, *const u8, u64) -> u64,
}

/// Maps the JIT may treat specially (see [`JitProgram::compile_with_maps`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct KnownMaps<'a> {
    /// Array maps: lookups become inline address arithmetic.
    pub arrays: &'a [ArrayMap],
    /// Other maps: lookups and updates become direct calls.
    pub direct: &'a [DirectMap],
}

/// A compiled program with its stack and run context.
pub struct JitProgram {
    code: ExecMemory,
    program: Box<Program>,
    entries: Vec<u32>,
    slot_offsets: Vec<u32>,
    body_end: u32,
    ctx: Box<JitContext>,
    map: Box<MemoryMap>,
    stack: Box<[u64; STACK_SIZE / 8]>,
    mode: Mode,
    budget: Option<u64>,
    direct: Option<DirectFn>,
    /// Whether the code charges back-edges to the budget.
    budget_code: bool,
    /// Whether the program calls helpers (which see the run's regions).
    calls_helpers: bool,
    /// What it was compiled with, to compile it again with budget checks.
    options: Options,
    arrays: Vec<ArrayMap>,
    direct_maps: Vec<DirectMap>,
}

/// The direct entry: r1, r2 in, r0 out.
type DirectFn = unsafe extern "C" fn(u64, u64) -> u64;

/// Whether execution can run past the last slot (its last instruction is not
/// an `exit` or an unconditional jump).
fn falls_off_the_end(program: &Program) -> bool {
    let last = (0..program.len()).rev().find_map(|s| program.insn(s));
    !matches!(
        last,
        Some(oxbpf_isa::Insn::Exit | oxbpf_isa::Insn::Ja { .. } | oxbpf_isa::Insn::Ja32 { .. })
    )
}

/// Whether `program` calls helpers (by id or with callx).
fn calls_helpers(program: &Program) -> bool {
    (0..program.len()).any(|slot| {
        matches!(
            program.insn(slot),
            Some(
                oxbpf_isa::Insn::Call {
                    kind: oxbpf_isa::CallKind::Helper | oxbpf_isa::CallKind::Kfunc,
                    ..
                } | oxbpf_isa::Insn::Callx { .. }
            )
        )
    })
}

/// Whether running `program` needs the run's regions in the context: helper
/// calls (their memory views, callbacks) and legacy packet loads do.
fn needs_run_state(program: &Program) -> bool {
    (0..program.len()).any(|slot| {
        matches!(
            program.insn(slot),
            Some(
                oxbpf_isa::Insn::Call {
                    kind: oxbpf_isa::CallKind::Helper | oxbpf_isa::CallKind::Kfunc,
                    ..
                } | oxbpf_isa::Insn::Callx { .. }
                    | oxbpf_isa::Insn::LdAbs { .. }
                    | oxbpf_isa::Insn::LdInd { .. }
            )
        )
    })
}

// SAFETY: the raw pointers inside (the context's) point into memory the
// program owns and moves with it (its boxes and code mapping), or at map data
// that `compile_with_maps`' caller vouched for from any thread; running needs
// `&mut self`, so one thread at a time uses the context and stack.
unsafe impl Send for JitProgram {}

impl std::fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitProgram")
            .field("code_bytes", &self.code.bytes().len())
            .field("mode", &self.mode)
            .finish()
    }
}

impl JitProgram {
    /// Compiles `program` in checked mode. `options.mode` must be
    /// [`Mode::Checked`]: unchecked code needs [`JitProgram::compile_with_mode`],
    /// and asking for it here is an error rather than a silent downgrade.
    pub fn compile(program: Program, options: &Options) -> Result<JitProgram, JitError> {
        if options.mode != Mode::Checked {
            return Err(JitError::UncheckedNeedsUnsafe);
        }
        Self::build(program, options, KnownMaps::default())
    }

    /// Like [`JitProgram::compile_with_mode`], with lookups in `maps.arrays`
    /// inlined and lookups and updates of `maps.direct` called directly.
    ///
    /// # Safety
    /// As for [`JitProgram::compile_with_mode`] when `options.mode` is
    /// [`Mode::Unchecked`]. And:
    /// Helpers 1 and 2 must be `bpf_map_lookup_elem` and `bpf_map_update_elem`
    /// over these maps; array storage must outlive the compiled program and be
    /// among every run's regions; each `DirectMap`'s functions must be sound to
    /// call, from any thread, with its `data` and stack pointers to
    /// `key_size`/`value_size` bytes, and return addresses only inside the
    /// run's regions.
    pub unsafe fn compile_with_maps(
        program: Program,
        options: &Options,
        maps: KnownMaps<'_>,
    ) -> Result<JitProgram, JitError> {
        Self::build(program, options, maps)
    }

    /// Compiles `program` with the mode in `options`.
    ///
    /// # Safety
    /// With [`Mode::Unchecked`], the program must have been proved safe for the
    /// regions it will be given (by a verifier): compiled code then reads and
    /// writes wherever the program's pointers lead.
    pub unsafe fn compile_with_mode(
        program: Program,
        options: &Options,
    ) -> Result<JitProgram, JitError> {
        Self::build(program, options, KnownMaps::default())
    }

    fn build(
        program: Program,
        options: &Options,
        maps: KnownMaps<'_>,
    ) -> Result<JitProgram, JitError> {
        Self::build_with(program, options, maps, false)
    }

    /// `budget`: emit the back-edge budget checks (checked mode only).
    fn build_with(
        program: Program,
        options: &Options,
        maps: KnownMaps<'_>,
        budget: bool,
    ) -> Result<JitProgram, JitError> {
        let mut ctx = Box::new(JitContext::new());
        let mut stack = Box::new([0u64; STACK_SIZE / 8]);
        let unchecked_leaf = options.mode == Mode::Unchecked && !needs_run_state(&program);
        let fixed = plan::Fixed {
            ctx: &mut *ctx as *mut JitContext as u64,
            stack_top: stack.as_mut_ptr() as u64 + STACK_SIZE as u64,
            lean: unchecked_leaf && !falls_off_the_end(&program),
            budget: budget && options.mode == Mode::Checked,
        };
        let compiled = match options.arch {
            Arch::X86_64 => x86::compile::compile(&program, options, fixed, maps)?,
            Arch::Aarch64 { lse } => {
                aarch64::compile::compile(&program, options, fixed, maps, lse)?
            }
        };
        let code = ExecMemory::seal(&compiled.code)?;
        // Programs that need no per-run state beyond r1, r2 and the stack (no
        // helpers, no legacy packet loads) run unchecked through the direct entry.
        let direct = unchecked_leaf.then(|| {
            // SAFETY: the direct entry was compiled with the C signature
            // `fn(u64, u64) -> u64` of `options.arch`, for this context and
            // stack; it is only called where that code runs (`runs_here`).
            unsafe {
                std::mem::transmute::<*const u8, DirectFn>(
                    code.as_ptr().add(compiled.direct_entry as usize),
                )
            }
        });
        let calls_helpers = calls_helpers(&program);
        let program = Box::new(program);
        let entries = compiled.entries;
        ctx.program = &*program;
        ctx.entries = entries.as_slice();
        ctx.code_base = code.as_ptr() as u64;
        // SAFETY: offset 0 of the code is the trampoline, compiled with the C
        // signature `fn(*mut JitContext) -> u64` of `options.arch`; it is only
        // called where that code runs (`runs_here`).
        ctx.trampoline =
            Some(unsafe { std::mem::transmute::<*const u8, Trampoline>(code.as_ptr()) });
        Ok(JitProgram {
            code,
            program,
            entries,
            slot_offsets: compiled.slot_offsets,
            body_end: compiled.body_end,
            ctx,
            map: Box::new(MemoryMap::new()),
            stack,
            direct,
            mode: options.mode,
            budget: None,
            budget_code: budget && options.mode == Mode::Checked,
            calls_helpers,
            options: *options,
            arrays: maps.arrays.to_vec(),
            direct_maps: maps.direct.to_vec(),
        })
    }

    /// The loaded program this was compiled from.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The machine code (the trampoline first, then the body).
    pub fn code(&self) -> &[u8] {
        self.code.bytes()
    }

    /// The address the code is mapped at.
    pub fn code_address(&self) -> u64 {
        self.code.as_ptr() as u64
    }

    /// Offset of each slot's machine code within [`JitProgram::code`].
    pub fn slot_offsets(&self) -> &[u32] {
        &self.slot_offsets
    }

    /// The machine code of the instruction at `slot` (empty for an lddw's second half).
    pub fn slot_code(&self, slot: usize) -> &[u8] {
        let Some(&start) = self.slot_offsets.get(slot) else {
            return &[];
        };
        let end = self.body_end_of(slot);
        &self.code()[start as usize..end]
    }

    /// The end of the code of the instruction at `slot`.
    pub(crate) fn body_end_of(&self, slot: usize) -> usize {
        let next = self.slot_offsets[slot + 1..]
            .iter()
            .find(|&&o| o > self.slot_offsets[slot]);
        match next {
            Some(&o) => o as usize,
            None => self.body_end as usize,
        }
    }

    /// The compilation mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The instruction set of the code.
    pub fn arch(&self) -> Arch {
        self.options.arch
    }

    /// Limits each run (checked mode): every back-edge taken draws the number of
    /// slots it jumps back over; running out stops the program.
    ///
    /// Code compiles without budget checks (they cost up to a third in tight
    /// loops); the first budget set recompiles the program with them.
    pub fn set_budget(&mut self, budget: Option<u64>) -> Result<(), JitError> {
        if budget.is_some() && self.mode == Mode::Checked && !self.budget_code {
            let maps = KnownMaps {
                arrays: &self.arrays,
                direct: &self.direct_maps,
            };
            *self = Self::build_with((*self.program).clone(), &self.options, maps, true)?;
        }
        self.budget = budget;
        Ok(())
    }

    /// Runs with r1 = the address of `mem` and r2 = its length (both 0 when `mem` is empty).
    #[inline]
    pub fn run(&mut self, mem: &mut [u8]) -> Result<u64, VmError> {
        if !self.options.arch.runs_here() {
            return Err(foreign_host());
        }
        let (r1, r2) = if mem.is_empty() {
            (0, 0)
        } else {
            (mem.as_ptr() as u64, mem.len() as u64)
        };
        match self.direct {
            Some(direct) => {
                // SAFETY: unchecked code, which the caller of `compile_with_mode`
                // vouched for; the context and stack it names are owned by `self`.
                let r0 = unsafe { direct(r1, r2) };
                if self.ctx.status != Status::Running as u32 {
                    return Err(self.direct_fault());
                }
                Ok(r0)
            }
            None => self.run_in_regions(mem, r1, r2),
        }
    }

    /// The error of a direct-entry run that faulted.
    #[cold]
    #[inline(never)]
    fn direct_fault(&mut self) -> VmError {
        self.ctx.error().unwrap_or(VmError::FellOffEnd { pc: 0 })
    }

    /// [`JitProgram::run`] through the context, with `mem` as the one region.
    #[inline(never)]
    fn run_in_regions(&mut self, mem: &mut [u8], r1: u64, r2: u64) -> Result<u64, VmError> {
        let region = Region::writable(mem);
        self.run_with(&[r1, r2, 0, 0, 0], &[region])
    }

    /// Runs with the given r1..r5 and regions. The first region is also the
    /// packet of legacy ld_abs/ld_ind instructions and the checked mode's fast path.
    pub fn run_with(&mut self, args: &[u64; 5], regions: &[Region<'_>]) -> Result<u64, VmError> {
        if !self.options.arch.runs_here() {
            return Err(foreign_host());
        }
        if regions.len() + 1 > MAX_REGIONS {
            return Err(VmError::TooManyRegions {
                count: regions.len() + 1,
                max: MAX_REGIONS,
            });
        }
        // The top `stack_size` bytes of the buffer, ending at r10, as in the interpreter.
        let stack_size = self.program.stack_size();
        let stack = &mut self.stack[(STACK_SIZE - stack_size) / 8..];
        if self.mode == Mode::Checked {
            // Unverified programs may read stack they never wrote: make that
            // read zeros, as in the interpreter.
            stack.fill(0);
        }
        let stack_start = stack.as_mut_ptr() as u64;
        // Only checks and helpers read the region table; unchecked code without
        // helpers needs the packet (the first region) at most.
        if self.mode == Mode::Checked || self.calls_helpers {
            let map = &mut *self.map;
            map.clear();
            map.push(RawRegion {
                start: stack_start,
                len: stack_size as u64,
                writable: true,
            });
            for r in regions {
                map.push(r.raw());
            }
        }
        let ctx = &mut *self.ctx;
        ctx.map = &*self.map;
        if self.mode == Mode::Checked {
            ctx.set_fast_regions();
        }
        (ctx.packet_start, ctx.packet_len) = regions
            .first()
            .map_or((0, 0), |r| (r.addr(), r.len() as u64));
        ctx.budget = self.budget.unwrap_or(u64::MAX);
        ctx.budget_total = self.budget.unwrap_or(u64::MAX);
        ctx.depth = 1;
        ctx.status = Status::Running as u32;
        ctx.args = *args;
        ctx.entry_fp = stack_start + stack_size as u64 + context::FRAME;
        ctx.entry_target = ctx.code_base + self.entries[0] as u64;
        let trampoline = ctx.trampoline.expect("set at build");
        // SAFETY: the code was compiled for this context layout and program; the
        // regions are borrowed for the duration of this call, and in checked
        // mode every access is checked against them.
        let r0 = unsafe { trampoline(ctx) };
        if ctx.status == Status::ExitZero as u32 {
            ctx.status = Status::Running as u32;
            return Ok(0);
        }
        match ctx.error() {
            None => Ok(r0),
            Some(e) => Err(e),
        }
    }
}
