//! Arbitrary bytecode gives the same r0, memory and faults in the interpreter
//! and in the checked JIT, and compiling it never panics. The first byte picks
//! the input memory size; the rest is the program.
#![no_main]

use libfuzzer_sys::fuzz_target;
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

fn normalize(r: &Result<u64, VmError>) -> String {
    match r {
        Err(VmError::OutOfBounds { pc, addr, len, kind, where_ }) => {
            // Addresses derived from r10 differ between the engines' stacks;
            // those near the input memory or null do not.
            let same = where_.contains("input memory") || where_.contains("null");
            let addr = if same { *addr } else { 0 };
            format!("oob {pc} {addr:#x} {len} {kind} {where_}")
        }
        Err(VmError::MisalignedAtomic { pc, addr, len }) => format!("mis {pc} {} {len}", addr & 7),
        Err(VmError::Helper { pc, id, message }) if message.contains("stack") => format!("helper {pc} {id}"),
        other => format!("{other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mem_len, rest)) = data.split_first() else { return };
    let split = rest.len().min(mem_len as usize % 64);
    let (mem_init, code) = rest.split_at(split);
    let Ok(program) = Program::new(code, &Helpers::conformance()) else { return };
    let Ok(mut jit) = JitProgram::compile(program.clone(), &Options::default()) else { return };
    let comparable = !decode_program(code)
        .map(|insns| insns.iter().any(|(_, i)| uses_frame_pointer_value(i)))
        .unwrap_or(true);
    let mut vm = Vm::from_program(program);
    vm.set_budget(Some(100_000));
    if jit.set_budget(Some(100_000)).is_err() { return }
    let mut mem = mem_init.to_vec();
    let want = vm.run(&mut mem);
    let want_mem = mem.clone();
    mem.copy_from_slice(mem_init);
    let got = jit.run(&mut mem);
    let exhausted = |r: &Result<u64, VmError>| matches!(r, Err(VmError::BudgetExhausted { .. }));
    if comparable && !exhausted(&want) && !exhausted(&got) {
        assert_eq!(normalize(&got), normalize(&want));
        assert_eq!(mem, want_mem);
    }
});
