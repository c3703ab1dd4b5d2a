//! The Linux kernel's verdict on each case, loaded through bpf(2) when the
//! test runs as root and the kernel lets it load programs. Programs are only
//! loaded, never run in the kernel.

use super::{object, Case};

/// A usable kernel.
pub struct Kernel;

/// Why the kernel comparison does not run.
pub fn why_skipped() -> String {
    if !oxbpf_kernel::sys::privileged() {
        return "not root (loading programs needs CAP_BPF)".into();
    }
    match probe_load() {
        Ok(()) => "no reason".into(),
        Err(e) => format!("the kernel does not load a trivial program: {e}"),
    }
}

fn probe_load() -> Result<(), String> {
    let case = super::case(
        "probe",
        "a trivial program",
        oxbpf::object::ProgramType::SocketFilter,
        "r0 = 0\nexit",
        None,
    );
    let k = oxbpf_kernel::Kernel::load(&object(&case)?).map_err(|e| e.to_string())?;
    k.program_fd("probe").map(|_| ()).map_err(|e| e.to_string())
}

/// The kernel's reason: the last line of its verifier log, or of the error.
fn reason(e: &oxbpf_kernel::KernelError) -> String {
    match e {
        oxbpf_kernel::KernelError::Rejected { log, .. } if !log.trim().is_empty() => last_line(log),
        e => last_line(&e.to_string()),
    }
}

/// The last line of a kernel log or error, shortened.
fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .find(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with("processed ") && !l.starts_with("verification time")
        })
        .unwrap_or("")
        .trim();
    line.chars().take(120).collect()
}

impl Kernel {
    /// The kernel, when the comparison can run.
    pub fn probe() -> Option<Kernel> {
        (oxbpf_kernel::sys::privileged() && probe_load().is_ok()).then_some(Kernel)
    }

    /// The kernel's verdict on `case`, next to ours (`ours`: oxbpf accepted).
    pub fn note(&self, case: &Case, ours: bool) -> String {
        if case.unprivileged {
            return "not compared (an unprivileged case; the kernel is reached as root)".into();
        }
        let verdict = self.load(case);
        match (verdict, ours) {
            (Err(log), _) if log.contains("missing btf func_info") => {
                "rejects, for want of BTF func_info (callbacks need it); not comparable".into()
            }
            (Err(log), _) => format!("rejects too ({log})"),
            (Ok(()), false) => match case.kernel_accepts {
                Some(why) => format!("accepts ({why}); oxbpf is stricter"),
                None => "accepts; oxbpf is stricter".into(),
            },
            (Ok(()), true) => "accepts as well; the runs above decide".into(),
        }
    }

    /// Loads the case's programs (and fills its program array): `Err` with
    /// the kernel's reason when it refuses.
    fn load(&self, case: &Case) -> Result<(), String> {
        let obj = object(case)?;
        let k = oxbpf_kernel::Kernel::load(&obj).map_err(|e| reason(&e))?;
        k.program_fd(case.name).map_err(|e| reason(&e))?;
        for e in &case.extra {
            k.program_fd(e.name)
                .map_err(|err| format!("tail-call target: {}", reason(&err)))?;
        }
        k.fill_prog_arrays()
            .map_err(|e| format!("program array update: {}", reason(&e)))?;
        Ok(())
    }
}
