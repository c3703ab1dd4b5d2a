//! The oxbpf eBPF interpreter.
//!
//! A [`Vm`] runs a validated [`Program`] against explicit memory [`Region`]s: a
//! 512-byte stack per frame (8 frames), the input memory, and whatever else the
//! host lends. Any access outside them, a misaligned atomic or a runaway loop
//! (with a budget set) stops the program with a [`VmError`] naming the instruction.
//!
//! ```
//! use oxbpf_vm::{Helpers, Vm};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let code = oxbpf_isa::assemble_bytes("r0 = *(u8 *)(r1 + 1)\nr0 += r2\nexit")?;
//! let mut helpers = Helpers::new();
//! helpers.register(5, |_ctx, args| Ok(args[0])); // helper id → Rust closure
//! let mut vm = Vm::new(&code, &helpers)?;
//! vm.set_budget(Some(1_000_000)); // optional: stop runaway programs
//! assert_eq!(vm.run(&mut [10, 20, 30])?, 23);
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod helpers;
pub mod interpreter;
pub mod memory;
pub mod program;

pub use error::VmError;
pub use helpers::{HelperContext, HelperFn, Helpers};
pub use interpreter::{NoTrace, Tracer, CODE_BASE, MAX_FRAMES, STACK_FRAME, STACK_SIZE};
pub use memory::{MemoryMap, MemoryView, RawRegion, Region, MAX_REGIONS};
pub use program::Program;

use interpreter::{execute, RunArgs};

/// An interpreter instance: a program, its stack and its settings.
#[derive(Debug)]
pub struct Vm {
    program: Program,
    stack: Box<[u64; STACK_SIZE / 8]>,
    /// The regions of the current run, kept between runs to save building it.
    map: Box<MemoryMap>,
    budget: Option<u64>,
    executed: Option<u64>,
}

impl Vm {
    /// Loads `bytecode`, resolving helper calls against `helpers`.
    pub fn new(bytecode: &[u8], helpers: &Helpers) -> Result<Vm, VmError> {
        Ok(Vm::from_program(Program::new(bytecode, helpers)?))
    }

    /// Wraps an already loaded program.
    pub fn from_program(program: Program) -> Vm {
        Vm {
            program,
            stack: Box::new([0; STACK_SIZE / 8]),
            map: Box::new(MemoryMap::new()),
            budget: None,
            executed: None,
        }
    }

    /// The loaded program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Limits each run to `budget` executed instructions (`None`: no limit, and no counting).
    pub fn set_budget(&mut self, budget: Option<u64>) {
        self.budget = budget;
    }

    /// Instructions executed by the last successful run, if it had a budget
    /// (set a budget of `u64::MAX` to count without limiting).
    pub fn executed(&self) -> Option<u64> {
        self.executed
    }

    /// Runs with r1 = the address of `mem` and r2 = its length (both 0 when `mem` is empty).
    pub fn run(&mut self, mem: &mut [u8]) -> Result<u64, VmError> {
        self.run_traced(mem, &mut NoTrace)
    }

    /// Like [`Vm::run`], reporting each executed instruction to `tracer`.
    pub fn run_traced<T: Tracer>(
        &mut self,
        mem: &mut [u8],
        tracer: &mut T,
    ) -> Result<u64, VmError> {
        let (r1, r2) = if mem.is_empty() {
            (0, 0)
        } else {
            (mem.as_ptr() as u64, mem.len() as u64)
        };
        let region = Region::writable(mem);
        self.run_with(&[r1, r2, 0, 0, 0], &[region], tracer)
    }

    /// Runs with the given r1..r5 and regions. The first region is also the packet
    /// seen by legacy ld_abs/ld_ind instructions.
    pub fn run_with<T: Tracer>(
        &mut self,
        args: &[u64; 5],
        regions: &[Region<'_>],
        tracer: &mut T,
    ) -> Result<u64, VmError> {
        self.run_inner::<T, true>(args, regions, tracer)
    }

    /// Like [`Vm::run`], without checking the program's loads, stores and
    /// atomics against `mem` (helpers still check what they are given).
    ///
    /// # Safety
    /// As for [`Vm::run_unchecked_with`], with `mem` as the one region: a
    /// verifier must have proved every access inside the stack or `mem`.
    pub unsafe fn run_unchecked(&mut self, mem: &mut [u8]) -> Result<u64, VmError> {
        let (r1, r2) = if mem.is_empty() {
            (0, 0)
        } else {
            (mem.as_ptr() as u64, mem.len() as u64)
        };
        let region = Region::writable(mem);
        // SAFETY: the caller's promise covers this one region.
        unsafe { self.run_unchecked_with(&[r1, r2, 0, 0, 0], &[region], &mut NoTrace) }
    }

    /// Like [`Vm::run_with`], without checking the program's loads, stores and
    /// atomics against the regions (helpers still check what they are given).
    ///
    /// # Safety
    /// A verifier must have proved that every access the program can make lies
    /// inside its stack or inside the memory these arguments and regions give
    /// it, laid out as the verifier assumed (context, packet and map value
    /// sizes). An access outside is undefined behaviour.
    pub unsafe fn run_unchecked_with<T: Tracer>(
        &mut self,
        args: &[u64; 5],
        regions: &[Region<'_>],
        tracer: &mut T,
    ) -> Result<u64, VmError> {
        self.run_inner::<T, false>(args, regions, tracer)
    }

    fn run_inner<T: Tracer, const CHECKED: bool>(
        &mut self,
        args: &[u64; 5],
        regions: &[Region<'_>],
        tracer: &mut T,
    ) -> Result<u64, VmError> {
        let map = &mut *self.map;
        map.clear();
        // The top `stack_size` bytes of the buffer, ending at r10.
        let stack_size = self.program.stack_size();
        let stack = &mut self.stack[(STACK_SIZE - stack_size) / 8..];
        // Start each run from a zeroed stack so results never depend on an earlier run.
        stack.fill(0);
        let stack_start = stack.as_mut_ptr() as u64;
        map.push(memory::RawRegion {
            start: stack_start,
            len: stack_size as u64,
            writable: true,
        });
        for r in regions {
            if !map.push(r.raw) {
                return Err(VmError::TooManyRegions {
                    count: regions.len() + 1,
                    max: MAX_REGIONS,
                });
            }
        }
        let packet = regions.first().map_or((0, 0), |r| (r.raw.start, r.raw.len));
        let run_args = RunArgs {
            regs: *args,
            map,
            packet,
            stack_top: stack_start + stack_size as u64,
            budget: self.budget.unwrap_or(u64::MAX),
            start_pc: 0,
            base_depth: 0,
        };
        // Counting costs a little per instruction, so only budgeted runs count.
        let mut message = String::new();
        let result = if self.budget.is_some() {
            execute::<T, true, CHECKED>(&self.program, run_args, tracer, &mut message)
                .map(|(r0, n)| (r0, Some(n)))
        } else {
            execute::<T, false, CHECKED>(&self.program, run_args, tracer, &mut message)
                .map(|(r0, _)| (r0, None))
        };
        match result {
            Ok((r0, executed)) => {
                self.executed = executed;
                Ok(r0)
            }
            Err(fault) => Err(fault.into_error(map, message)),
        }
    }
}
