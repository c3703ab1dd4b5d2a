//! `--trace`: each executed instruction and the registers it changed.

use std::io::Write;

use oxbpf_isa::Insn;
use oxbpf_vm::{Program, Tracer};

/// Prints one line per executed instruction.
pub struct PrintTracer<'p, W: Write> {
    program: &'p Program,
    out: W,
    last: Option<(usize, [u64; 11])>,
}

impl<'p, W: Write> PrintTracer<'p, W> {
    /// A tracer over `program` writing to `out`.
    pub fn new(program: &'p Program, out: W) -> Self {
        PrintTracer {
            program,
            out,
            last: None,
        }
    }

    /// Flushes buffered lines.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    fn emit(&mut self, regs: &[u64; 11]) {
        let Some((pc, before)) = self.last.take() else {
            return;
        };
        let text = self
            .program
            .insn(pc)
            .map_or_else(|| "?".to_string(), Insn::to_string);
        let changed: Vec<String> = (0..11)
            .filter(|&i| before[i] != regs[i])
            .map(|i| format!("r{i} = {:#x}", regs[i]))
            .collect();
        let line = format!("{pc:>5}: {text:<40} {}", changed.join(", "));
        if let Err(e) = writeln!(self.out, "{}", line.trim_end()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }
}

impl<W: Write> Tracer for PrintTracer<'_, W> {
    fn step(&mut self, pc: usize, regs: &[u64; 11]) {
        self.emit(regs);
        self.last = Some((pc, *regs));
    }

    fn finish(&mut self, regs: &[u64; 11]) {
        self.emit(regs);
    }
}
