//! `oxbpf run --jit` and `oxbpf disasm --jit`: the JIT (x86-64 or AArch64)
//! from the command line.

use oxbpf_jit::{Arch, JitProgram, Mode, Options};
use oxbpf_vm::{Helpers, Program};

use crate::error::CliError;

/// Compiles `bytecode` in checked mode and runs it on `memory`; returns the report.
pub fn run(
    bytecode: &[u8],
    helpers: &Helpers,
    memory: &mut [u8],
    budget: Option<u64>,
    stats: bool,
) -> Result<String, CliError> {
    let start = std::time::Instant::now();
    let program = Program::new(bytecode, helpers)?;
    let mut jit = JitProgram::compile(program, &Options::default())?;
    let compiled = start.elapsed();
    jit.set_budget(budget)?;
    let start = std::time::Instant::now();
    let r0 = jit.run(memory)?;
    let ran = start.elapsed();
    let mut text = format!("r0 = {r0:#x} ({})\n", r0 as i64);
    if stats {
        text.push_str(&format!(
            "compiled {} instructions to {} bytes of {} in {compiled:?}; ran in {ran:?}\n",
            jit.program().len(),
            match jit.arch() {
                Arch::X86_64 => "x86-64",
                Arch::Aarch64 { .. } => "AArch64",
            },
            jit.code().len()
        ));
        if !memory.is_empty() {
            let hex: Vec<String> = memory.iter().map(|b| format!("{b:02x}")).collect();
            text.push_str(&format!("memory: {}\n", hex.join(" ")));
        }
    }
    Ok(text)
}

/// The listing of `bytecode` compiled for `arch` (helpers are left
/// unresolved: calls to any id compile).
pub fn listing(bytecode: &[u8], unchecked: bool, arch: Arch) -> Result<String, CliError> {
    let helpers = every_called_helper(bytecode);
    let program = Program::new(bytecode, &helpers)?;
    let options = Options {
        mode: if unchecked {
            Mode::Unchecked
        } else {
            Mode::Checked
        },
        constant_blinding: false,
        arch,
    };
    // SAFETY: the unchecked code is only listed, never run.
    let jit = unsafe { JitProgram::compile_with_mode(program, &options) }?;
    Ok(oxbpf_jit::listing::listing(&jit))
}

/// A registry with a placeholder for every helper id the program calls, so any
/// program can be compiled for listing.
fn every_called_helper(bytecode: &[u8]) -> Helpers {
    let mut helpers = Helpers::new();
    if let Ok(insns) = oxbpf_isa::decode_program(bytecode) {
        for (_, insn) in insns {
            if let oxbpf_isa::Insn::Call {
                kind: oxbpf_isa::CallKind::Helper,
                imm,
            } = insn
            {
                helpers.register(imm as u32, |_, _| Err("listing only".into()));
            }
        }
    }
    helpers
}

/// Refuses `--jit` where the JIT's x86-64 code cannot run.
pub fn host_check() -> Result<(), CliError> {
    if oxbpf_jit::HOST_SUPPORTED {
        Ok(())
    } else {
        Err(CliError::Input(format!(
            "--jit: the JIT emits x86-64 and AArch64 code, which this {} host cannot run; run without --jit (the interpreter)",
            std::env::consts::ARCH
        )))
    }
}
