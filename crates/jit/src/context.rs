//! The run context that compiled code reaches through r12, and the host
//! functions it calls: helpers, callx and the slow memory check.

use std::mem::offset_of;
use std::panic::{catch_unwind, AssertUnwindSafe};

use oxbpf_vm::{
    HelperContext, MemoryMap, MemoryView, Program, VmError, CODE_BASE, MAX_FRAMES, STACK_FRAME,
};

/// How a run ended (the `status` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Status {
    Running = 0,
    OutOfBounds = 1,
    Misaligned = 2,
    Budget = 3,
    BadCallx = 4,
    Helper = 5,
    CallDepth = 6,
    /// A legacy packet load fell outside the packet: the run returns 0.
    ExitZero = 7,
    FellOffEnd = 8,
}

/// Kinds of memory access, for out-of-bounds reports (`fault_aux`).
pub(crate) const ACCESS_KINDS: [&str; 4] = ["read", "write", "atomic", "packet read"];

/// Everything compiled code reads or writes besides registers and program memory.
/// Its layout is part of the generated code (see the `OFF_*` constants).
#[repr(C)]
pub(crate) struct JitContext {
    /// Start of the fast-path region (the input memory, region 1).
    pub input_start: u64,
    /// Per access: offsets below this value are inside; index `size_index + 4*write`.
    pub input_lim: [u64; 8],
    /// Start of the stack region (region 0).
    pub stack_start: u64,
    /// As `input_lim`, for the stack.
    pub stack_lim: [u64; 8],
    /// The region the slow path last found an access in (map values, say).
    pub cache_start: u64,
    /// As `input_lim`, for the cached region.
    pub cache_lim: [u64; 8],
    /// Back-edge budget left (checked mode).
    pub budget: u64,
    /// Frames in use.
    pub depth: u32,
    /// A [`Status`].
    pub status: u32,
    pub fault_pc: u64,
    pub fault_addr: u64,
    pub fault_len: u64,
    pub fault_aux: u64,
    /// Host stack pointer to unwind to on a fault (set by the entry trampoline).
    pub saved_rsp: u64,
    /// r10 + 512 for the function being entered.
    pub entry_fp: u64,
    /// Native address of the function being entered.
    pub entry_target: u64,
    /// r1..r5 on entry.
    pub args: [u64; 5],
    /// Slot of the helper call or callx in progress.
    pub cur_pc: u64,
    /// r10 at the helper call in progress (callbacks run below it).
    pub cur_fp: u64,
    /// The value of a callx register.
    pub callx_value: u64,
    /// The regions of the run (owned by the compiled program, beside this context).
    pub map: *const MemoryMap,
    pub program: *const Program,
    /// Base address of the code and each slot's function entry offset (`u32::MAX`: none).
    pub code_base: u64,
    pub entries: *const [u32],
    /// The trampoline, for callbacks.
    pub trampoline: Option<Trampoline>,
    /// The packet of legacy ld_abs/ld_ind: its address and length.
    pub packet_start: u64,
    pub packet_len: u64,
    pub budget_total: u64,
    pub helper_message: String,
}

/// The entry trampoline: runs `entry_target` with `entry_fp` and `args`.
pub(crate) type Trampoline = unsafe extern "C" fn(*mut JitContext) -> u64;

pub(crate) const OFF_INPUT_START: i32 = offset_of!(JitContext, input_start) as i32;
pub(crate) const OFF_INPUT_LIM: i32 = offset_of!(JitContext, input_lim) as i32;
pub(crate) const OFF_STACK_START: i32 = offset_of!(JitContext, stack_start) as i32;
pub(crate) const OFF_STACK_LIM: i32 = offset_of!(JitContext, stack_lim) as i32;
pub(crate) const OFF_CACHE_START: i32 = offset_of!(JitContext, cache_start) as i32;
pub(crate) const OFF_CACHE_LIM: i32 = offset_of!(JitContext, cache_lim) as i32;
pub(crate) const OFF_BUDGET: i32 = offset_of!(JitContext, budget) as i32;
pub(crate) const OFF_DEPTH: i32 = offset_of!(JitContext, depth) as i32;
pub(crate) const OFF_STATUS: i32 = offset_of!(JitContext, status) as i32;
pub(crate) const OFF_FAULT_PC: i32 = offset_of!(JitContext, fault_pc) as i32;
pub(crate) const OFF_FAULT_ADDR: i32 = offset_of!(JitContext, fault_addr) as i32;
pub(crate) const OFF_FAULT_LEN: i32 = offset_of!(JitContext, fault_len) as i32;
pub(crate) const OFF_SAVED_RSP: i32 = offset_of!(JitContext, saved_rsp) as i32;
pub(crate) const OFF_ENTRY_FP: i32 = offset_of!(JitContext, entry_fp) as i32;
pub(crate) const OFF_ENTRY_TARGET: i32 = offset_of!(JitContext, entry_target) as i32;
pub(crate) const OFF_ARGS: i32 = offset_of!(JitContext, args) as i32;
pub(crate) const OFF_CUR_PC: i32 = offset_of!(JitContext, cur_pc) as i32;
pub(crate) const OFF_CUR_FP: i32 = offset_of!(JitContext, cur_fp) as i32;
pub(crate) const OFF_CALLX_VALUE: i32 = offset_of!(JitContext, callx_value) as i32;
pub(crate) const OFF_PACKET_START: i32 = offset_of!(JitContext, packet_start) as i32;
pub(crate) const OFF_PACKET_LEN: i32 = offset_of!(JitContext, packet_len) as i32;

impl JitContext {
    pub(crate) fn new() -> JitContext {
        JitContext {
            input_start: 0,
            input_lim: [0; 8],
            stack_start: 0,
            stack_lim: [0; 8],
            cache_start: 0,
            cache_lim: [0; 8],
            budget: u64::MAX,
            depth: 0,
            status: 0,
            fault_pc: 0,
            fault_addr: 0,
            fault_len: 0,
            fault_aux: 0,
            saved_rsp: 0,
            entry_fp: 0,
            entry_target: 0,
            args: [0; 5],
            cur_pc: 0,
            cur_fp: 0,
            callx_value: 0,
            map: std::ptr::null(),
            program: std::ptr::null(),
            code_base: 0,
            entries: &[],
            trampoline: None,
            packet_start: 0,
            packet_len: 0,
            budget_total: 0,
            helper_message: String::new(),
        }
    }

    /// The regions of the current run.
    fn map(&self) -> &MemoryMap {
        // SAFETY: set before every run to the owner's map, which outlives it
        // and is not modified during it.
        unsafe { &*self.map }
    }

    /// Fills the fast-path tables from the run's first two regions, and empties the cache.
    pub(crate) fn set_fast_regions(&mut self) {
        // SAFETY: as in `map`; read before the tables are written.
        let map: &MemoryMap = unsafe { &*self.map };
        let regions = map.regions();
        (self.input_start, self.input_lim) = limits(regions.get(1));
        (self.stack_start, self.stack_lim) = limits(regions.first());
        (self.cache_start, self.cache_lim) = limits(None);
    }

    fn fault(&mut self, status: Status, pc: u64) {
        self.status = status as u32;
        self.fault_pc = pc;
    }

    /// The error for a run that ended with a fault status.
    pub(crate) fn error(&mut self) -> Option<VmError> {
        let pc = self.fault_pc as usize;
        let status = self.status;
        self.status = Status::Running as u32;
        Some(match status {
            s if s == Status::OutOfBounds as u32 => {
                let kind = ACCESS_KINDS[(self.fault_aux as usize).min(3)];
                VmError::OutOfBounds {
                    pc,
                    addr: self.fault_addr,
                    len: self.fault_len as usize,
                    kind,
                    where_: self.map().locate(
                        self.fault_addr,
                        self.fault_len,
                        !kind.contains("read"),
                    ),
                }
            }
            s if s == Status::Misaligned as u32 => VmError::MisalignedAtomic {
                pc,
                addr: self.fault_addr,
                len: self.fault_len as usize,
            },
            s if s == Status::Budget as u32 => VmError::BudgetExhausted {
                pc,
                budget: self.budget_total,
            },
            s if s == Status::BadCallx as u32 => VmError::BadCallx {
                pc,
                value: self.fault_aux,
            },
            s if s == Status::Helper as u32 => VmError::Helper {
                pc,
                id: self.fault_aux as u32,
                message: std::mem::take(&mut self.helper_message),
            },
            s if s == Status::CallDepth as u32 => VmError::CallDepth {
                pc,
                max: MAX_FRAMES,
            },
            s if s == Status::FellOffEnd as u32 => VmError::FellOffEnd { pc },
            _ => return None,
        })
    }

    /// Runs the function at slot `target` with r10 = `fp` - 512 (what a callback
    /// from a helper does); returns its r0 or the fault as text.
    fn call_function(&mut self, target: usize, fp: u64, args: [u64; 5]) -> Result<u64, String> {
        // SAFETY: `entries` points at the compiled program's table, which outlives the run.
        let entries = unsafe { &*self.entries };
        let offset = match entries.get(target) {
            Some(&o) if o != u32::MAX => o,
            _ => {
                return Err(format!(
                    "{:#x} is not the address of a function",
                    CODE_BASE.wrapping_add(target as u64)
                ))
            }
        };
        let frames_used = self.depth;
        if frames_used as usize >= MAX_FRAMES {
            return Err(format!("a callback would exceed {MAX_FRAMES} frames"));
        }
        let Some(trampoline) = self.trampoline else {
            return Err("no trampoline".into());
        };
        let saved = (
            self.entry_fp,
            self.entry_target,
            self.args,
            self.cur_pc,
            self.cur_fp,
        );
        self.entry_fp = fp;
        self.entry_target = self.code_base + offset as u64;
        self.args = args;
        self.depth = frames_used + 1;
        // SAFETY: the trampoline and the function entry were compiled together
        // for this context's program, whose memory regions are live for the run.
        let r0 = unsafe { trampoline(self) };
        self.depth = frames_used;
        (
            self.entry_fp,
            self.entry_target,
            self.args,
            self.cur_pc,
            self.cur_fp,
        ) = saved;
        if self.status == Status::ExitZero as u32 {
            self.status = Status::Running as u32;
            return Ok(0);
        }
        match self.error() {
            None => Ok(r0),
            Some(e) => Err(format!("in callback: {e}")),
        }
    }
}

/// A region's start and, per access size and kind, the offsets below which an
/// access lies inside it (`size_index + 4 * write`); all zero for no region.
fn limits(r: Option<&oxbpf_vm::RawRegion>) -> (u64, [u64; 8]) {
    let mut lim = [0; 8];
    let Some(r) = r else {
        return (0, lim);
    };
    for (i, size) in [1u64, 2, 4, 8].into_iter().enumerate() {
        let l = r.len.saturating_sub(size - 1);
        lim[i] = l;
        lim[i + 4] = if r.writable { l } else { 0 };
    }
    (r.start, lim)
}

/// Calls `f` with a helper context for this run; records a failure in the context.
fn run_helper(ctx: &mut JitContext, id: u32, f: &oxbpf_vm::HelperFn, args: [u64; 5]) -> u64 {
    // SAFETY: as in `JitContext::map`; the map is not part of `*ctx`, so the
    // callback's access to the context does not alias it.
    let map: &MemoryMap = unsafe { &*ctx.map };
    let fp = ctx.cur_fp;
    let pc = ctx.cur_pc;
    let ctx_ptr: *mut JitContext = ctx;
    let mut callback = |addr: u64, a: [u64; 5]| {
        if addr < CODE_BASE {
            return Err(format!("{addr:#x} is not the address of a function"));
        }
        let target = addr.wrapping_sub(CODE_BASE) as usize;
        // SAFETY: the context outlives the helper call; the helper holds no
        // other reference into it while the callback runs.
        unsafe { (*ctx_ptr).call_function(target, fp, a) }
    };
    let mut hctx = HelperContext::new(MemoryView::new(map), &mut callback);
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut hctx, args)))
        .unwrap_or_else(|_| Err("the helper panicked".to_string()));
    // SAFETY: as above; the callback and the helper context are gone.
    let ctx = unsafe { &mut *ctx_ptr };
    match result {
        Ok(v) => v,
        Err(message) => {
            ctx.helper_message = message;
            ctx.fault_aux = id as u64;
            ctx.fault(Status::Helper, pc);
            0
        }
    }
}

/// `call imm`: the helper resolved for slot `cur_pc`.
pub(crate) unsafe extern "C" fn host_call_helper(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    ctx: *mut JitContext,
) -> u64 {
    call_resolved(ctx, [r1, r2, r3, r4, r5], false)
}

/// `callx reg`: the helper whose id is in `callx_value`.
pub(crate) unsafe extern "C" fn host_callx(
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    ctx: *mut JitContext,
) -> u64 {
    call_resolved(ctx, [r1, r2, r3, r4, r5], true)
}

/// Finds the helper of the call at `cur_pc` (by its immediate, or for callx
/// by `callx_value`) and runs it.
fn call_resolved(ctx: *mut JitContext, args: [u64; 5], callx: bool) -> u64 {
    // SAFETY: compiled code passes its own context, valid for the run.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: the program outlives every run of its compiled code, and is a
    // separate allocation from the context.
    let program: &Program = unsafe { &*ctx.program };
    let found = if callx {
        u32::try_from(ctx.callx_value)
            .ok()
            .and_then(|id| program.helpers().get(id).map(|f| (id, f)))
    } else {
        program.helper_at(ctx.cur_pc as usize)
    };
    match found {
        Some((id, f)) => run_helper(ctx, id, f, args),
        None if callx => {
            ctx.fault_aux = ctx.callx_value;
            ctx.fault(Status::BadCallx, ctx.cur_pc);
            0
        }
        None => {
            ctx.helper_message = "no helper at this call".into();
            ctx.fault(Status::Helper, ctx.cur_pc);
            0
        }
    }
}

/// The memory-check description compiled code passes in r10: `len | kind << 4
/// | pc << 8` (lengths are at most 8, kinds at most 3, programs at most 2^24 slots).
pub(crate) fn check_info(len: u64, kind: u64, pc: usize) -> u32 {
    (len as u32) | (kind as u32) << 4 | (pc as u32) << 8
}

/// The slow memory check: whether `len` bytes at `addr` lie in any region;
/// `info` is a [`check_info`]. Returns 1 when allowed; on a fault records it
/// and returns 0.
pub(crate) unsafe extern "C" fn host_check(ctx: *mut JitContext, addr: u64, info: u64) -> u64 {
    // SAFETY: compiled code passes its own context, valid for the run.
    let ctx = unsafe { &mut *ctx };
    let len = info & 0xf;
    let kind = (info >> 4) & 0xf;
    let write = kind != 0;
    if ctx.map().translate(addr, len, write).is_some() {
        let hit = ctx.map().regions().iter().copied().find(|r| {
            let off = addr.wrapping_sub(r.start);
            off < r.len && r.len - off >= len
        });
        (ctx.cache_start, ctx.cache_lim) = limits(hit.as_ref());
        return 1;
    }
    ctx.fault_addr = addr;
    ctx.fault_len = len;
    ctx.fault_aux = kind;
    ctx.fault(Status::OutOfBounds, (info >> 8) & 0xff_ffff);
    0
}

/// The frame-pointer step of each call, for callers computing r10.
pub(crate) const FRAME: u64 = STACK_FRAME as u64;
