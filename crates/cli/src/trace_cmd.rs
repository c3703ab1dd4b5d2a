//! `oxbpf trace`: bpftrace scripts compiled by oxbpf, verified by oxbpf's
//! verifier, and run in the kernel through oxbpf's loader.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use clap::Args;
use oxbpf_kernel::ringbuf::RingBuf;
use oxbpf_kernel::{Kernel, LoadOptions};
use oxbpf_trace::output::Element;
use oxbpf_trace::session::{Backend, Session};
use oxbpf_trace::{compile, Compiled, MapDecl, Options, Probe, Tracefs};

use crate::error::CliError;

/// Arguments of `oxbpf trace`.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  oxbpf trace -e 'BEGIN { printf(\"hello\\n\"); exit(); }'\n  oxbpf trace -e 'tracepoint:syscalls:sys_enter_openat /pid == $1/ { @ = count(); }' 1234\n  oxbpf trace -l 'sched:*'"
)]
pub struct TraceArgs {
    /// The script as text (otherwise the first argument names a script file).
    #[arg(short = 'e', value_name = "PROGRAM")]
    program: Option<String>,
    /// A script file (without -e), then the positional parameters $1, $2, ...
    #[arg(value_name = "ARGS", allow_negative_numbers = true)]
    args: Vec<String>,
    /// Run this command once the probes are attached, and stop when it exits.
    #[arg(short = 'c', value_name = "CMD")]
    command: Option<String>,
    /// Attach uprobes to this process only, and stop when it exits.
    #[arg(short = 'p', value_name = "PID")]
    pid: Option<i32>,
    /// Write the output to this file instead of stdout.
    #[arg(short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Quiet: no "Attaching N probes..." line.
    #[arg(short = 'q')]
    quiet: bool,
    /// Print each generated program's disassembly and oxbpf's verifier
    /// verdict; load nothing (no root needed, except to read tracefs).
    #[arg(long)]
    dry_run: bool,
    /// List the tracepoints matching PATTERN (a glob such as `sched:*`), then exit.
    #[arg(short = 'l', value_name = "PATTERN", num_args = 0..=1, default_missing_value = "*")]
    list: Option<String>,
}

/// Tracepoints as the running kernel's tracefs lists them.
struct HostTracefs {
    root: Option<PathBuf>,
}

impl HostTracefs {
    fn new() -> HostTracefs {
        let root =
            oxbpf_kernel::attach::tracefs().or_else(|| oxbpf_kernel::attach::mount_tracefs().ok());
        HostTracefs { root }
    }
}

impl Tracefs for HostTracefs {
    fn tracepoints(&self) -> Vec<(String, String)> {
        let Some(root) = &self.root else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let dirs = |p: &Path| -> Vec<String> {
            std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        };
        for cat in dirs(&root.join("events")) {
            for ev in dirs(&root.join("events").join(&cat)) {
                if root
                    .join("events")
                    .join(&cat)
                    .join(&ev)
                    .join("format")
                    .is_file()
                {
                    out.push((cat.clone(), ev));
                }
            }
        }
        out.sort();
        out
    }

    fn unavailable(&self) -> Option<String> {
        self.root.is_none().then(|| {
            "tracefs is not mounted and cannot be mounted here (tracepoints need root)".to_string()
        })
    }

    fn format(&self, category: &str, name: &str) -> Option<String> {
        if category.contains('/') || name.contains('/') || category.starts_with('.') {
            return None;
        }
        let root = self.root.as_ref()?;
        std::fs::read_to_string(root.join("events").join(category).join(name).join("format")).ok()
    }
}

/// The kernel as a session backend.
struct KernelBackend<'k> {
    kernel: &'k Kernel,
    ring: RingBuf,
    /// Records read while waiting, not yet drained.
    pending: Vec<Vec<u8>>,
}

impl KernelBackend<'_> {
    fn map(&self, d: &MapDecl) -> Result<&oxbpf_kernel::Map, String> {
        self.kernel
            .map(&Compiled::map_object_name(&d.name))
            .map_err(|e| e.to_string())
    }
}

impl Backend for KernelBackend<'_> {
    fn run_once(&mut self, program: &str) -> Result<(), String> {
        self.kernel
            .test_run(program, &[], None)
            .map(|_| ())
            .map_err(|e| format!("running {program}: {e}"))
    }

    fn elements(&mut self, d: &MapDecl) -> Result<Vec<Element>, String> {
        let m = self.map(d)?;
        let size = d.kind.value_size();
        let stride = if d.kind.per_cpu() {
            size.next_multiple_of(8)
        } else {
            size
        };
        Ok(m.entries()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(k, v)| {
                let cpus = v
                    .chunks(stride)
                    .map(|c| c[..size.min(c.len())].to_vec())
                    .collect();
                (k, cpus)
            })
            .collect())
    }

    fn clear(&mut self, d: &MapDecl) -> Result<(), String> {
        let m = self.map(d)?;
        for k in m.keys().map_err(|e| e.to_string())? {
            m.delete(&k).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn zero(&mut self, d: &MapDecl) -> Result<(), String> {
        let m = self.map(d)?;
        let zeros = vec![0u8; m.value_len()];
        for k in m.keys().map_err(|e| e.to_string())? {
            m.update(&k, &zeros, 0).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn drain(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        for rec in self.pending.drain(..) {
            f(&rec);
        }
        self.ring.consume(f);
        Ok(())
    }

    fn lost(&mut self) -> Result<u64, String> {
        let m = self
            .kernel
            .map(oxbpf_trace::LOST_NAME)
            .map_err(|e| e.to_string())?;
        let v = m
            .lookup(&0u32.to_le_bytes())
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        Ok(v.chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .sum())
    }

    fn wait(&mut self, timeout: Duration) -> Result<(), String> {
        let pending = &mut self.pending;
        self.ring
            .poll(timeout, |rec| pending.push(rec.to_vec()))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn list(pattern: &str, out: &mut dyn Write) -> Result<(), CliError> {
    let fs = HostTracefs::new();
    if fs.root.is_none() {
        return Err(CliError::Input(
            "tracefs is not mounted and could not be mounted (run as root)".into(),
        ));
    }
    let pattern = pattern
        .strip_prefix("tracepoint:")
        .or_else(|| pattern.strip_prefix("t:"))
        .unwrap_or(pattern);
    for (cat, name) in fs.tracepoints() {
        let full = format!("{cat}:{name}");
        if oxbpf_trace::tracefs::glob(pattern, &full) || oxbpf_trace::tracefs::glob(pattern, &name)
        {
            writeln!(out, "tracepoint:{full}").map_err(io_err)?;
        }
    }
    Ok(())
}

fn io_err(source: std::io::Error) -> CliError {
    CliError::Io {
        path: "<output>".into(),
        source,
    }
}

/// Runs `oxbpf trace`.
pub fn run(args: TraceArgs) -> Result<(), CliError> {
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::fs::File::create(p).map_err(|source| CliError::Io {
            path: p.clone(),
            source,
        })?),
        None => Box::new(std::io::stdout()),
    };
    if let Some(pattern) = &args.list {
        return list(pattern, &mut out);
    }
    let (src, file, params) = match (&args.program, args.args.split_first()) {
        (Some(p), _) => (p.clone(), "<stdin>".to_string(), args.args.clone()),
        (None, Some((file, rest))) => (
            std::fs::read_to_string(file).map_err(|source| CliError::Io {
                path: file.into(),
                source,
            })?,
            file.clone(),
            rest.to_vec(),
        ),
        (None, None) => {
            return Err(CliError::Input(
                "give a script with -e PROGRAM or as a file (see oxbpf trace --help)".into(),
            ))
        }
    };
    let file = if args.program.is_some() {
        "-e".to_string()
    } else {
        file
    };
    // The command starts stopped, so that `cpid` is known when compiling and
    // the command runs only once the probes are attached.
    let child = match (&args.command, args.dry_run) {
        (Some(cmd), false) => Some(CommandGuard(spawn_stopped(cmd)?)),
        _ => None,
    };
    let cpid = match (&child, &args.command) {
        (Some(ch), _) => Some(ch.0.id()),
        // A dry run compiles `cpid` as 0.
        (None, Some(_)) => Some(0),
        (None, None) => None,
    };
    let fs = HostTracefs::new();
    let compiled = match compile(&src, &Options { params, cpid }, &fs) {
        Ok(c) => c,
        Err(e) => {
            drop(child);
            eprint!("{}", e.render(&src, &file));
            std::process::exit(1);
        }
    };
    if args.dry_run {
        return dry_run(&compiled, &mut out);
    }
    trace(&compiled, &args, child, &mut out)
}

/// Starts `cmd` through a shell that stops itself before it execs the
/// command (same pid); [`resume`] lets it go on.
fn spawn_stopped(cmd: &str) -> Result<Child, CliError> {
    let words = split_command(cmd)?;
    if words.is_empty() {
        return Err(CliError::Input("-c needs a command".into()));
    }
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg("kill -STOP $$ && exec \"$@\"")
        .arg("oxbpf-trace")
        .args(&words)
        .spawn()
        .map_err(|source| CliError::Io {
            path: "/bin/sh".into(),
            source,
        })?;
    let stat = format!("/proc/{}/stat", child.id());
    for _ in 0..5000 {
        let state = std::fs::read_to_string(&stat).unwrap_or_default();
        // The state follows the command name in parentheses.
        if let Some((_, rest)) = state.rsplit_once(") ") {
            if rest.starts_with('T') {
                return Ok(child);
            }
            if rest.starts_with('Z') || rest.starts_with('X') {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(CliError::Input(format!("-c: `{cmd}` did not start")))
}

/// The `-c` command: killed (and reaped) when dropped unless it has ended, so
/// that no error path leaves it stopped.
struct CommandGuard(Child);

impl Drop for CommandGuard {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Lets a command started by [`spawn_stopped`] run.
fn resume(child: &Child) {
    // SAFETY: kill(2) with a pid this process started and has not reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGCONT);
    }
}

fn dry_run(c: &Compiled, out: &mut dyn Write) -> Result<(), CliError> {
    let mut text = String::new();
    for prog in &c.object.programs {
        let probe = c.probe_of(&prog.name).map_or_else(
            || "(start time for elapsed)".to_string(),
            |p| p.probe.name(),
        );
        let code = oxbpf_isa::disassemble(&prog.bytecode(), oxbpf_isa::Syntax::Llvm).map_err(
            |source| CliError::Isa {
                context: prog.name.clone(),
                source,
            },
        )?;
        text.push_str(&format!(
            "{probe}: program {} ({}, {} instructions)\n{code}",
            prog.name,
            prog.prog_type.name(),
            prog.insns.len()
        ));
        text.push_str(&format!(
            "verifier: {}\n",
            oxbpf_trace::verify_program(c, prog).text().trim_end()
        ));
    }
    for m in &c.maps {
        text.push_str(&format!(
            "map @{}: {}, key {} bytes, value {} bytes{}\n",
            m.name,
            m.kind.name(),
            m.key_size(),
            m.kind.value_size(),
            if m.kind.per_cpu() { ", per-CPU" } else { "" }
        ));
    }
    out.write_all(text.as_bytes()).map_err(io_err)
}

fn attach(k: &Kernel, c: &Compiled, pid: Option<i32>) -> Result<Vec<oxbpf_kernel::Link>, CliError> {
    let mut links = Vec::new();
    for p in &c.probes {
        let name = &p.program;
        let link = match &p.probe {
            Probe::Begin | Probe::End => continue,
            Probe::Tracepoint { category, name: tp } => k.attach_tracepoint(name, category, tp),
            Probe::RawTracepoint { name: tp } => k.attach_raw_tracepoint(name, tp),
            Probe::Interval { period_ns } => k.attach_perf_timer(name, *period_ns, 0),
            Probe::Profile { hz } => k.attach_perf_sampling(name, *hz),
            Probe::Uprobe { path, symbol, ret } => {
                k.attach_uprobe(name, Path::new(path), symbol, *ret, pid)
            }
        };
        links
            .push(link.map_err(|e| CliError::Input(format!("attaching {}: {e}", p.probe.name())))?);
    }
    Ok(links)
}

/// Splits `-c`'s command into words as a shell would for quotes and
/// backslashes (no variables, globs or redirections).
fn split_command(cmd: &str) -> Result<Vec<String>, CliError> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\\' => word.get_or_insert_default().extend(chars.next()),
            '\'' | '"' => {
                let w = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => w.extend(chars.next()),
                        Some(x) => w.push(x),
                        None => return Err(CliError::Input(format!("-c: unterminated {c} quote"))),
                    }
                }
            }
            c => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Detaches every link. Closing a tracepoint's perf event waits for an RCU
/// grace period (tens of milliseconds), so the links close from many
/// threads at once (362 `syscalls:sys_enter_*` probes: 12 s instead of 26 s;
/// the kernel serializes the rest).
fn detach(links: Vec<oxbpf_kernel::Link>) {
    let mut groups: Vec<Vec<oxbpf_kernel::Link>> = (0..64).map(|_| Vec::new()).collect();
    for (i, l) in links.into_iter().enumerate() {
        groups[i % 64].push(l);
    }
    std::thread::scope(|s| {
        for g in groups.into_iter().filter(|g| !g.is_empty()) {
            s.spawn(move || drop(g));
        }
    });
}

/// Whether process `pid` still runs (a zombie has ended).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| !rest.starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

fn trace(
    c: &Compiled,
    args: &TraceArgs,
    mut child: Option<CommandGuard>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let kernel = Kernel::load_with(
        &c.object,
        LoadOptions {
            btf: false,
            core_target: None,
            ..LoadOptions::default()
        },
    )
    .map_err(|e| CliError::Input(format!("loading the script's programs: {e}")))?;
    let ring = RingBuf::new(
        kernel
            .map(oxbpf_trace::RINGBUF_NAME)
            .map_err(|e| CliError::Input(e.to_string()))?,
    )
    .map_err(|e| CliError::Input(e.to_string()))?;
    let mut backend = KernelBackend {
        kernel: &kernel,
        ring,
        pending: Vec::new(),
    };
    oxbpf_kernel::interrupt::install().map_err(|e| CliError::Input(e.to_string()))?;
    let fail = |e: String| CliError::Input(e);
    let mut session = Session::new(c, wall_clock);
    // Load every program first, so that BEGIN's output is not followed by a load error.
    for p in &c.object.programs {
        kernel
            .program_fd(&p.name)
            .map_err(|e| CliError::Input(format!("loading {}: {e}", p.name)))?;
    }
    if !args.quiet {
        let n = c.probes.len();
        writeln!(
            out,
            "Attaching {n} probe{}...",
            if n == 1 { "" } else { "s" }
        )
        .map_err(io_err)?;
    }
    session.begin(&mut backend, out).map_err(fail)?;
    let mut links = Vec::new();
    if !session.exited {
        links = attach(&kernel, c, args.pid)?;
        if let Some(ch) = &child {
            resume(&ch.0);
        }
        loop {
            if session.poll(&mut backend, out).map_err(fail)?
                || oxbpf_kernel::interrupt::requested()
            {
                break;
            }
            if let Some(ch) = child.as_mut() {
                if ch.0.try_wait().ok().flatten().is_some() {
                    break;
                }
            }
            if args.pid.is_some_and(|p| !alive(p)) {
                break;
            }
            // A signal ends the wait early (the handler has no SA_RESTART).
            backend.wait(Duration::from_millis(100)).map_err(fail)?;
        }
    }
    detach(links);
    drop(child);
    session.finish(&mut backend, out).map_err(fail)?;
    let lost = backend.lost().map_err(fail)?;
    if lost > 0 {
        eprintln!("oxbpf: lost {lost} events: the ring buffer was full");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_commands_like_a_shell() {
        for (cmd, want) in [
            ("ls -l /tmp", vec!["ls", "-l", "/tmp"]),
            (
                "python3 -c 'import os; print(1)'",
                vec!["python3", "-c", "import os; print(1)"],
            ),
            (
                r#"echo "a \"b\" c" d\ e ''"#,
                vec!["echo", "a \"b\" c", "d e", ""],
            ),
        ] {
            assert_eq!(super::split_command(cmd).unwrap(), want, "{cmd}");
        }
        assert!(super::split_command("echo 'open").is_err());
    }
}
