//! The adversarial corpus: programs that try to get something unsafe past
//! oxbpf's verifier, modelled on the Linux verifier's published bugs and
//! their classes. Verified programs run without run-time checks (the
//! unchecked interpreter and JIT), so an accepted unsafe program is memory
//! corruption in the host process.
//!
//! Every case must be rejected. A case the verifier accepts instead runs in
//! every engine, each in a child process (a crash is then a failed case, not
//! a dead test run), on inputs chosen to trigger its bug; it passes only if
//! every engine finishes, the checked engines saw no access outside the
//! run's memory regions, and all engines agree.
//!
//! One module per class; `all()` lists every case. The test driver is
//! `crates/runtime/tests/adversarial.rs`.
#![allow(dead_code)]

pub mod bounds;
pub mod calls;
pub mod engines;
pub mod kernel;
pub mod maps;
pub mod memory;
pub mod packet;
pub mod pointers;
pub mod pruning;
pub mod refs;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxbpf::object::{MapDef, MapOrigin, Object, Program, ProgramType};
use oxbpf::{Engine, Options, Runtime};
use oxbpf_verifier::{verify, Input as VerifierInput, Reason};

/// The environment variable naming the case a child process runs.
pub const CASE_ENV: &str = "OXBPF_ADVERSARIAL_CASE";
/// The environment variable naming the engine a child process runs it in.
pub const ENGINE_ENV: &str = "OXBPF_ADVERSARIAL_ENGINE";
/// How long one child may take.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// One input of a run: packet or plain bytes, an optional context, and the
/// 16 bytes key 0 of `hash`, `array` and `.data` hold beforehand.
#[derive(Clone, Debug)]
pub struct Run {
    pub data: Vec<u8>,
    pub ctx: Option<Vec<u8>>,
    pub value: [u8; 16],
}

/// Another program in the case's object (a tail-call target), put in slot
/// `slot` of the `progs` program array.
#[derive(Clone, Debug)]
pub struct Extra {
    pub name: &'static str,
    pub ty: ProgramType,
    pub asm: String,
    pub slot: u32,
}

/// One adversarial program.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    /// The CVE or bug class it models.
    pub models: &'static str,
    pub ty: ProgramType,
    pub asm: String,
    /// The reason the verifier must give, when pinned.
    pub reason: Option<Reason>,
    /// Judged as an unprivileged loader (socket filters, cgroup skb).
    pub unprivileged: bool,
    pub extra: Vec<Extra>,
    /// Inputs for runs when the verifier accepts (default: boundary inputs of the type).
    pub runs: Vec<Run>,
    /// Why the kernel is expected to differ (it accepts), if it does.
    pub kernel_accepts: Option<&'static str>,
    /// The program leaks a pointer to an unprivileged loader: no run can show
    /// that, so accepting it is a failure in itself.
    pub leak: bool,
}

/// A case that must be rejected; `reason` pins the rejection reason.
pub fn case(
    name: &'static str,
    models: &'static str,
    ty: ProgramType,
    asm: impl Into<String>,
    reason: Option<Reason>,
) -> Case {
    Case {
        name,
        models,
        ty,
        asm: asm.into(),
        reason,
        unprivileged: false,
        extra: Vec::new(),
        runs: Vec::new(),
        kernel_accepts: None,
        leak: false,
    }
}

impl Case {
    /// Judged as an unprivileged loader would be.
    pub fn unpriv(mut self) -> Case {
        self.unprivileged = true;
        self
    }

    /// Adds a program of type `ty` in slot `slot` of the `progs` array.
    pub fn tail_target(
        mut self,
        name: &'static str,
        ty: ProgramType,
        asm: impl Into<String>,
        slot: u32,
    ) -> Case {
        self.extra.push(Extra {
            name,
            ty,
            asm: asm.into(),
            slot,
        });
        self
    }

    /// Judged as an unprivileged loader, to whom the program leaks a pointer.
    pub fn leak(mut self) -> Case {
        self.unprivileged = true;
        self.leak = true;
        self
    }

    /// Adds a run with the type's smallest input and map values holding
    /// `lo` (bytes 0..8) and `hi` (bytes 8..16), little-endian.
    pub fn value(mut self, lo: u64, hi: u64) -> Case {
        let mut run = boundary_inputs(self.ty).swap_remove(0);
        run.value[..8].copy_from_slice(&lo.to_le_bytes());
        run.value[8..].copy_from_slice(&hi.to_le_bytes());
        self.runs.push(run);
        self
    }

    /// Adds a run on this packet (or plain input) and context.
    pub fn input(mut self, data: Vec<u8>, ctx: Option<Vec<u8>>) -> Case {
        self.runs.push(Run {
            data,
            ctx,
            value: [0xff; 16],
        });
        self
    }

    /// The kernel's verifier accepts this program, for `why`.
    pub fn kernel_accepts(mut self, why: &'static str) -> Case {
        self.kernel_accepts = Some(why);
        self
    }

    /// The inputs to run on: boundary inputs for its type, then the case's own.
    pub fn inputs(&self) -> Vec<Run> {
        let mut v = boundary_inputs(self.ty);
        v.extend(self.runs.iter().cloned());
        v
    }
}

/// Zero-length (or minimal), maximal and all-0xff inputs for a program type.
pub fn boundary_inputs(ty: ProgramType) -> Vec<Run> {
    use oxbpf::Convention as C;
    let run = |data: Vec<u8>, ctx: Option<Vec<u8>>, fill| Run {
        data,
        ctx,
        value: [fill; 16],
    };
    match C::of(ty) {
        C::Xdp => vec![
            run(vec![0; 14], None, 0),
            run(vec![0xff; 64], None, 0xff),
            run(vec![0xff; 4096 - 256], None, 0xff),
        ],
        C::Skb { .. } | C::FlowDissector => vec![
            run(vec![0; 14], None, 0),
            run(vec![0xff; 64], None, 0xff),
            run(vec![0xff; 4096], None, 0xff),
        ],
        C::Context => vec![
            run(Vec::new(), None, 0),
            run(Vec::new(), Some(vec![0xff; 4096]), 0xff),
            run(Vec::new(), Some(vec![0x80; 4096]), 0x7f),
        ],
        C::Plain => vec![run(Vec::new(), None, 0), run(vec![0xff; 4096], None, 0xff)],
    }
}

/// The section a program of type `ty` comes from.
pub fn section(ty: ProgramType) -> &'static str {
    use ProgramType as P;
    match ty {
        P::Xdp => "xdp",
        P::SocketFilter => "socket",
        P::SchedCls => "tc",
        P::CgroupSkb => "cgroup_skb/ingress",
        P::Kprobe => "kprobe/do_nanosleep",
        P::Tracepoint => "tracepoint/syscalls/sys_enter_nanosleep",
        P::RawTracepoint => "raw_tp/sys_enter",
        P::PerfEvent => "perf_event",
        P::Syscall => "syscall",
        _ => "",
    }
}

/// Map indices of the corpus maps, for `map_idx(N)`.
pub const HASH: u32 = 0;
pub const ARRAY: u32 = 1;
pub const RINGBUF: u32 = 2;
pub const PROGS: u32 = 3;
pub const RODATA: u32 = 4;
pub const DATA: u32 = 5;

/// The bytes of the frozen `.rodata` map: u32 0 at 0, u32 8 at 4, "%d\0" at
/// 8, "%s\0" at 12.
pub fn rodata() -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[4] = 8;
    b[8..11].copy_from_slice(b"%d\0");
    b[12..15].copy_from_slice(b"%s\0");
    b
}

fn map(name: &str, map_type: u32, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        name: name.to_string(),
        origin: MapOrigin::Btf,
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
        pinning: 0,
        numa_node: 0,
        key_type: None,
        value_type: None,
        inner: None,
        initial_slots: Vec::new(),
        data: Vec::new(),
    }
}

/// The corpus maps. Value maps hold one entry, so that any access past a
/// value leaves the map's storage and a checked engine sees it.
pub fn maps(progs: Vec<(u32, String)>) -> Vec<MapDef> {
    let mut prog_array = map("progs", 3, 4, 4, 4);
    prog_array.initial_slots = progs;
    vec![
        map("hash", 1, 4, 16, 1),
        map("array", 2, 4, 16, 1),
        map("rb", 27, 0, 0, 4096),
        prog_array,
        MapDef::global(".rodata", ".rodata", rodata(), true, None),
        MapDef::global(".data", ".data", vec![0; 16], false, None),
    ]
}

fn program(name: &str, ty: ProgramType, asm: &str) -> Result<Program, String> {
    let insns = oxbpf_isa::assemble(asm).map_err(|e| format!("{name}: does not assemble: {e}"))?;
    let insns = oxbpf_isa::raw_slots(&oxbpf_isa::encode_program(&insns))
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(Program {
        name: name.to_string(),
        section: section(ty).to_string(),
        prog_type: ty,
        attach: None,
        main_len: insns.len(),
        insns,
        subprograms: Vec::new(),
        section_offset: 0,
        func_info: Vec::new(),
        line_info: Vec::new(),
        core_relos: Vec::new(),
        ksyms: Vec::new(),
    })
}

/// The case as an object: its program (named after the case), any tail-call
/// targets, and the corpus maps.
pub fn object(case: &Case) -> Result<Object, String> {
    let mut programs = vec![program(case.name, case.ty, &case.asm)?];
    for e in &case.extra {
        programs.push(program(e.name, e.ty, &e.asm)?);
    }
    let slots = case
        .extra
        .iter()
        .map(|e| (e.slot, e.name.to_string()))
        .collect();
    Ok(Object {
        license: "GPL".into(),
        kernel_version: None,
        programs,
        maps: maps(slots),
        globals: Vec::new(),
        ..Object::default()
    })
}

/// The verifier's verdict on the case's program: `None` when accepted, else
/// the reason, the rejection's sentence at its instruction, and the report.
pub fn verdict(case: &Case) -> Result<Option<(Reason, String, String)>, String> {
    let obj = object(case)?;
    let maps = oxbpf_verifier::object_maps(&obj);
    let prog = obj.program(case.name).map_err(|e| e.to_string())?;
    let input = VerifierInput::program(prog, &maps);
    let opts = oxbpf_verifier::Options {
        privileged: !case.unprivileged,
        ..Default::default()
    };
    let report = verify(&input, &opts);
    Ok(report.rejection.as_ref().map(|r| {
        (
            r.reason,
            format!("at {}: {}", r.insn, r.message),
            report.text(),
        )
    }))
}

/// The engines an accepted case runs in: checked first, then unchecked.
pub const ENGINES: [(&str, Engine); 4] = [
    ("interpreter", Engine::Interpreter),
    ("jit", Engine::Jit),
    ("unchecked-interpreter", Engine::InterpreterVerified),
    ("unchecked-jit", Engine::JitVerified),
];

/// Hides hexadecimal numbers (host addresses differ between runs) and where
/// an address lay relative to the regions (engines describe it differently).
fn without_addresses(text: &str) -> String {
    let text = match text.find("outside the program's memory (") {
        Some(i) => &text[..i + "outside the program's memory".len()],
        None => text,
    };
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        out.push_str("0x?");
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out + rest
}

fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// An error as an outcome line: `refused:` when the verifier rejected a
/// program (a verified engine will not run it), `fault:` for an access
/// outside the run's memory, `error:` otherwise.
fn outcome_of(e: oxbpf::RuntimeError) -> String {
    use oxbpf_vm::VmError as V;
    let kind = match &e {
        oxbpf::RuntimeError::Rejected { .. } => "refused",
        oxbpf::RuntimeError::Vm {
            source: V::OutOfBounds { .. } | V::MisalignedAtomic { .. } | V::BadCallx { .. },
            ..
        } => "fault",
        _ => "error",
    };
    format!("{kind}: {}", without_addresses(&e.to_string()))
}

/// Runs `case` on one input in `engine`: one line describing the outcome
/// (return value, output and map contents, or the error).
fn run_once(case: &Case, engine: Engine, input: &Run) -> String {
    let obj = match object(case) {
        Ok(o) => o,
        Err(e) => return format!("error: {e}"),
    };
    let options = Options {
        ncpus: 1,
        budget: Some(10_000_000),
        engine,
        trace: std::sync::Arc::new(std::sync::Mutex::new(|_: &str| {})),
        ..Options::default()
    };
    let rt = match Runtime::with_options(obj, options) {
        Ok(rt) => rt,
        Err(e) => return format!("error: {e}"),
    };
    for name in ["hash", "array", ".data"] {
        let Ok(m) = rt.map(name) else { continue };
        let mut value = input.value.to_vec();
        value.resize(m.spec().value_size as usize, 0);
        if let Err(e) = m.update(&0u32.to_le_bytes(), &value, 0) {
            return format!("error: filling {name}: {e}");
        }
    }
    let mut inst = match rt.instance(case.name) {
        Ok(i) => i,
        Err(e) => return outcome_of(e),
    };
    let out = match inst.test_run(&input.data, input.ctx.as_deref()) {
        Ok(r) => format!(
            "retval {:#x}, output {:016x}",
            r.retval,
            digest(&r.data_out)
        ),
        Err(e) => return outcome_of(e),
    };
    let mut maps = String::new();
    for (name, m) in rt.maps() {
        if m.spec().map_type == oxbpf::maps::MapType::RingBuf {
            continue;
        }
        let all: Vec<u8> = m
            .entries()
            .into_iter()
            .flat_map(|(k, v)| [k, v])
            .flatten()
            .collect();
        maps.push_str(&format!(", {name} {:016x}", digest(&all)));
    }
    out + &maps
}

/// Runs in a child process when the environment names a case and engine:
/// prints `ADV begin N` before and `ADV result N: outcome` after input N.
pub fn child_main() {
    let (Ok(name), Ok(engine)) = (std::env::var(CASE_ENV), std::env::var(ENGINE_ENV)) else {
        return;
    };
    let case = all()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case named {name}"));
    let (_, engine) = ENGINES
        .iter()
        .find(|(n, _)| *n == engine)
        .unwrap_or_else(|| panic!("no engine named {engine}"));
    let mut out = std::io::stdout();
    for (i, input) in case.inputs().iter().enumerate() {
        let _ = writeln!(out, "ADV begin {i}");
        let _ = out.flush();
        let line = run_once(&case, *engine, input);
        let _ = writeln!(out, "ADV result {i}: {line}");
        let _ = out.flush();
    }
}

/// What one engine did with every input, or how its child process died.
fn run_child(case: &Case, engine: &str) -> Result<Vec<String>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // Under qemu-user (see `.cargo/config.toml`) the child runs through the
    // runner named in OXBPF_TEST_RUNNER: it cannot exec this binary itself.
    let runner = std::env::var("OXBPF_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut child = match words.next() {
        Some(first) => {
            let mut c = Command::new(first);
            c.args(words).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    let mut child = child
        .args(["--exact", "child", "--nocapture", "--test-threads", "1"])
        .env(CASE_ENV, case.name)
        .env(ENGINE_ENV, engine)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start a child process: {e}"))?;
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut o) = stdout {
            let _ = std::io::Read::read_to_string(&mut o, &mut s);
        }
        s
    });
    let stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut o) = stderr {
            let _ = std::io::Read::read_to_string(&mut o, &mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > CHILD_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for the child: {e}")),
        }
    };
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let mut results = Vec::new();
    let mut begun = None;
    for line in stdout.lines() {
        if let Some(n) = line.strip_prefix("ADV begin ") {
            begun = Some(n.to_string());
        } else if let Some(r) = line.strip_prefix("ADV result ") {
            let (_, outcome) = r.split_once(": ").unwrap_or(("", r));
            results.push(outcome.to_string());
            begun = None;
        }
    }
    let at = begun.map_or(String::new(), |n| format!(" on input {n}"));
    match status {
        None => Err(format!("did not finish in {CHILD_TIMEOUT:?}{at}")),
        Some(s) if !s.success() => {
            use std::os::unix::process::ExitStatusExt as _;
            let how = match s.signal() {
                Some(sig) => format!("was killed by signal {sig} ({})", signal_name(sig)),
                None => format!("exited with {s}"),
            };
            let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(format!("{how}{at}\n      {}", tail.join("\n      ")))
        }
        Some(_) => Ok(results),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        _ => "?",
    }
}

/// Runs an accepted case in every engine; returns what went wrong.
pub fn run_accepted(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let mut outcomes: Vec<(&str, Vec<String>)> = Vec::new();
    for (engine, _) in ENGINES {
        match run_child(case, engine) {
            Ok(r) => outcomes.push((engine, r)),
            Err(e) => problems.push(format!("{engine}: {e}")),
        }
    }
    let inputs = case.inputs();
    for (i, input) in inputs.iter().enumerate() {
        let describe = format!(
            "input {i} ({} bytes, ctx {}, map values {:02x?})",
            input.data.len(),
            input
                .ctx
                .as_ref()
                .map_or("none".into(), |c| format!("{} bytes", c.len())),
            input.value
        );
        let result = |engine: &str| {
            outcomes
                .iter()
                .find(|(e, _)| *e == engine)
                .and_then(|(_, r)| r.get(i))
        };
        let (Some(interp), Some(jit)) = (result("interpreter"), result("jit")) else {
            problems.push(format!("a checked engine gave no result for {describe}"));
            continue;
        };
        if interp != jit {
            problems.push(format!(
                "the checked engines disagree on {describe}: interpreter: {interp}; jit: {jit}"
            ));
        }
        for engine in ["unchecked-interpreter", "unchecked-jit"] {
            let Some(r) = result(engine) else {
                continue;
            };
            if r.starts_with("refused:") {
                continue;
            }
            if interp.starts_with("fault:") {
                problems.push(format!(
                    "{engine} ran, unchecked, a program that touches memory outside the regions on {describe}: {interp}"
                ));
            } else if r != interp {
                problems.push(format!(
                    "{engine} disagrees with the checked interpreter on {describe}: {r}; checked: {interp}"
                ));
            }
        }
    }
    problems
}

/// Every case of every class.
pub fn all() -> Vec<Case> {
    let mut v = bounds::cases();
    v.extend(pointers::cases());
    v.extend(memory::cases());
    v.extend(pruning::cases());
    v.extend(refs::cases());
    v.extend(packet::cases());
    v.extend(calls::cases());
    v.extend(maps::cases());
    v.extend(engines::cases());
    v
}

/// The verdicts on one class: prints a line per case, then panics listing
/// the cases that failed (accepted and unsafe in some engine, or rejected
/// for another reason than the pinned one).
pub fn check(class: &str, cases: Vec<Case>) {
    let kernel = kernel::Kernel::probe();
    let mut failures = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let (mut rejected, mut accepted) = (0, 0);
    for case in &cases {
        assert!(names.insert(case.name), "duplicate case {}", case.name);
        let v = match verdict(case) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        let ours = match &v {
            Some((reason, why, text)) => {
                rejected += 1;
                if let Some(want) = case.reason.filter(|w| w != reason) {
                    failures.push(format!(
                        "{} ({}): rejected as {reason:?}, but the case pins {want:?}\n{text}",
                        case.name, case.models
                    ));
                }
                format!("rejected ({}, {why})", reason.name())
            }
            None => {
                accepted += 1;
                let mut problems = run_accepted(case);
                if case.leak {
                    problems.insert(
                        0,
                        "accepted for an unprivileged loader a program that leaks a pointer".into(),
                    );
                }
                if problems.is_empty() {
                    "ACCEPTED, ran cleanly in every engine".to_string()
                } else {
                    failures.push(format!(
                        "{} ({}) was ACCEPTED and is unsafe:\n    {}\n{}",
                        case.name,
                        case.models,
                        problems.join("\n    "),
                        case.asm
                    ));
                    "ACCEPTED, UNSAFE".to_string()
                }
            }
        };
        let k = kernel.as_ref().map(|k| k.note(case, v.is_none()));
        println!(
            "{class}/{}: {ours}{}",
            case.name,
            k.map_or(String::new(), |k| format!("; kernel: {k}"))
        );
    }
    if kernel.is_none() {
        println!(
            "{class}: kernel comparison skipped: {}",
            kernel::why_skipped()
        );
    }
    println!(
        "{class}: {} cases, {rejected} rejected, {accepted} accepted, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} {class} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Looks up key `key` of map `map` into r0, jumping to `out` when NULL.
pub fn lookup(map: u32, key: u32) -> String {
    format!(
        "r1 = {key}\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr1 = map_idx({map}) ll\ncall bpf_map_lookup_elem\nif r0 == 0 goto out\n"
    )
}

/// A program that looks up key 0 of `array` (16 bytes; the pointer in r0 and
/// r7), loads its two u64s into r6 and r8, runs `body`, and exits with 0 at `out`.
pub fn on_value(body: &str) -> String {
    format!(
        "{}r7 = r0\nr6 = *(u64 *)(r0 + 0)\nr8 = *(u64 *)(r0 + 8)\n{body}\nout:\nr0 = 0\nexit",
        lookup(ARRAY, 0)
    )
}

/// Slots the instructions of `text` take.
pub fn slot_count(text: &str) -> usize {
    oxbpf_isa::assemble(text)
        .unwrap_or_else(|e| panic!("does not assemble: {e}\n{text}"))
        .iter()
        .map(|i| i.slots())
        .sum()
}

/// `before`, r2 = the address of callback `cb`, `after` (the rest of the
/// main function, its labels its own), then `cb`.
pub fn callback(before: &str, after: &str, cb: &str) -> String {
    let n = slot_count(after) + 1;
    format!("{before}r2 = code_addr(+{n}) ll\n{after}\n{cb}")
}
