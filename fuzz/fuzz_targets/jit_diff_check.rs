//! The check of the `jit_diff` fuzz target, shared with the JIT's tests
//! (`crates/jit/tests/fuzz_replay.rs`, which runs it on random inputs, also
//! under qemu-user for the arm64 back end).

use oxbpf_isa::{decode_program, Insn, Operand, Reg};
use oxbpf_jit::{JitProgram, Options};
use oxbpf_vm::{Helpers, Program, Vm, VmError};

/// Whether the program uses r10's value other than as an address base: each
/// engine has its own stack, so such programs may differ legitimately.
fn uses_frame_pointer_value(insn: &Insn) -> bool {
    let r10 = Reg::R10;
    match *insn {
        Insn::Alu { dst, src, .. } => dst == r10 || src == Operand::Reg(r10),
        Insn::Jmp { dst, src, .. } => dst == r10 || src == Operand::Reg(r10),
        Insn::Stx { src, .. } | Insn::Atomic { src, .. } => src == r10,
        Insn::Neg { dst, .. } | Insn::End { dst, .. } => dst == r10,
        Insn::Callx { reg } => reg == r10,
        Insn::LdInd { src, .. } => src == r10,
        _ => false,
    }
}

/// Whether `insn` addresses memory relative to r10.
fn r10_based(insn: &Insn) -> bool {
    match *insn {
        Insn::Ldx { src, .. } => src == Reg::R10,
        Insn::St { dst, .. } | Insn::Stx { dst, .. } | Insn::Atomic { dst, .. } => dst == Reg::R10,
        _ => false,
    }
}

/// The result, with what legitimately differs between the engines left
/// out; `r10_slots`: the slots of accesses relative to r10.
fn normalize(r: &Result<u64, VmError>, r10_slots: &[usize]) -> String {
    match r {
        Err(VmError::OutOfBounds { pc, len, kind, .. }) if r10_slots.contains(pc) => {
            // Relative to each engine's own stack: where it lands differs
            // (it may even land near the input memory in one of them).
            format!("oob {pc} stack-relative {len} {kind}")
        }
        Err(VmError::OutOfBounds {
            pc,
            addr,
            len,
            kind,
            where_,
        }) => {
            // Addresses derived from r10 differ between the engines' stacks;
            // those near the input memory or null do not.
            let same = where_.contains("input memory") || where_.contains("null");
            let addr = if same { *addr } else { 0 };
            // Elsewhere the nearest region may be an engine's own stack.
            let where_ = if same { where_.as_str() } else { "" };
            format!("oob {pc} {addr:#x} {len} {kind} {where_}")
        }
        Err(VmError::MisalignedAtomic { pc, addr, len }) => format!("mis {pc} {} {len}", addr & 7),
        Err(VmError::Helper { pc, id, message }) if message.contains("stack") => {
            format!("helper {pc} {id}")
        }
        other => format!("{other:?}"),
    }
}

/// The fuzz target's check of one input: arbitrary bytecode gives the same
/// r0, memory and faults in the interpreter and in the checked JIT (for the
/// host's instruction set), and compiling it never panics. The first byte
/// picks the input memory size; the rest is the program. Returns whether the
/// two engines' results were compared (the program loaded, compiled, and
/// neither ran out of budget or used r10's value).
pub fn check(data: &[u8]) -> bool {
    let Some((&mem_len, rest)) = data.split_first() else {
        return false;
    };
    let split = rest.len().min(mem_len as usize % 64);
    let (mem_init, code) = rest.split_at(split);
    let Ok(program) = Program::new(code, &Helpers::conformance()) else {
        return false;
    };
    let Ok(mut jit) = JitProgram::compile(program.clone(), &Options::default()) else {
        return false;
    };
    let Ok(insns) = decode_program(code) else {
        return false;
    };
    let comparable = !insns.iter().any(|(_, i)| uses_frame_pointer_value(i));
    let r10_slots: Vec<usize> = insns
        .iter()
        .filter(|(_, i)| r10_based(i))
        .map(|(slot, _)| *slot)
        .collect();
    let mut vm = Vm::from_program(program);
    vm.set_budget(Some(100_000));
    if jit.set_budget(Some(100_000)).is_err() {
        return false;
    }
    let mut mem = mem_init.to_vec();
    let want = vm.run(&mut mem);
    let want_mem = mem.clone();
    mem.copy_from_slice(mem_init);
    let got = jit.run(&mut mem);
    let exhausted = |r: &Result<u64, VmError>| matches!(r, Err(VmError::BudgetExhausted { .. }));
    let compared = comparable && !exhausted(&want) && !exhausted(&got);
    if compared {
        assert_eq!(normalize(&got, &r10_slots), normalize(&want, &r10_slots));
        assert_eq!(mem, want_mem);
    }
    compared
}
