//! The bpf_conformance plugin protocol.
//!
//! One process per test: argv holds the input memory as `"aa  bb  "` hex (absent
//! when the test has none) and options; stdin holds the program as hex. The
//! program runs with r1 = the memory, r2 = its length; r0 is printed in hex.
//! `--jit` runs it in the JIT (checked mode) instead of the interpreter.

use std::io::Read;

use oxbpf_jit::{JitProgram, Options};
use oxbpf_vm::{Helpers, Program, Vm};

use crate::error::CliError;
use crate::input::parse_hex;

/// Instruction budget, so a runaway test fails instead of hanging the runner.
const BUDGET: u64 = 100_000_000;

/// Runs the plugin with the arguments after `conformance-plugin`.
/// Returns the text to print.
pub fn run(args: &[String]) -> Result<String, CliError> {
    let mut mem = Vec::new();
    let mut jit = false;
    for arg in args {
        match arg.as_str() {
            "--interpret" | "--interpreter" => jit = false,
            "--jit" => jit = true,
            a if a.starts_with("--") => {
                return Err(CliError::Input(format!("unknown plugin option `{a}`")))
            }
            a => {
                mem = parse_hex(a).map_err(|e| CliError::Input(format!("memory argument: {e}")))?
            }
        }
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|source| CliError::Io {
            path: "<stdin>".into(),
            source,
        })?;
    let code = parse_hex(&text).map_err(|e| CliError::Input(format!("program on stdin: {e}")))?;
    if jit {
        crate::jit_cmd::host_check()?;
    }
    let r0 = if jit {
        let program = Program::new(&code, &Helpers::conformance())?;
        let mut jit = JitProgram::compile(program, &Options::default())?;
        jit.set_budget(Some(BUDGET))?;
        jit.run(&mut mem)?
    } else {
        let mut vm = Vm::new(&code, &Helpers::conformance())?;
        vm.set_budget(Some(BUDGET));
        vm.run(&mut mem)?
    };
    Ok(format!("{r0:x}\n"))
}
