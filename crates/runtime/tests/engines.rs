//! Every program of every ELF fixture gives the same results in the
//! interpreter and in the JIT: return values, packets afterwards, errors and
//! map contents.

use std::path::{Path, PathBuf};

use oxbpf::object::Object;
use oxbpf::{Convention, Engine, Options, Runtime};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn objects() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["fixtures/elf", "fixtures/object"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "o") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("zeros".to_string(), vec![0u8; 64])];
    let dir = root().join("fixtures/elf/packets");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, std::fs::read(&p).unwrap()));
    }
    out
}

/// Hides hexadecimal numbers (host addresses differ from run to run), and where
/// an out-of-bounds address lay relative to the regions (the nearest region
/// depends on where the allocator placed each run's buffers).
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

fn runtime(path: &Path, engine: Engine) -> Option<Runtime> {
    let obj = Object::parse(&std::fs::read(path).unwrap()).ok()?;
    let options = Options {
        budget: Some(10_000_000),
        engine,
        trace: std::sync::Arc::new(std::sync::Mutex::new(|_: &str| {})),
        ..Options::default()
    };
    let mut rt = Runtime::with_options(obj, options).ok()?;
    // Clocks, random numbers and thread ids differ from one run to the next:
    // fix them so that the two engines' transcripts can be compared.
    for (name, value) in [
        ("ktime_get_ns", 1_000_000u64),
        ("ktime_get_boot_ns", 2_000_000),
        ("ktime_get_coarse_ns", 3_000_000),
        ("ktime_get_tai_ns", 4_000_000),
        ("jiffies64", 5_000),
        ("get_prandom_u32", 0x1234_5678),
        ("get_current_pid_tgid", 0x0000_1000_0000_1001),
    ] {
        let id = oxbpf_isa::helper_id(name).expect("a kernel helper name") as u32;
        rt.register_helper(id, move |_, _| Ok(value));
    }
    Some(rt)
}

/// Everything one engine did with the object: one line per run, then the maps.
fn transcript(path: &Path, engine: Engine) -> Vec<String> {
    transcript_of(path, engine, None)
}

/// [`transcript`] of the programs in `only` (all when `None`).
fn transcript_of(path: &Path, engine: Engine, only: Option<&[String]>) -> Vec<String> {
    let Some(rt) = runtime(path, engine) else {
        return vec!["object does not load".into()];
    };
    let mut lines = Vec::new();
    let programs: Vec<String> = rt
        .object()
        .programs
        .iter()
        .map(|p| p.name.clone())
        .filter(|n| only.is_none_or(|o| o.contains(n)))
        .collect();
    for name in &programs {
        let mut inst = match rt.instance(name) {
            Ok(i) => i,
            Err(e) => {
                lines.push(format!("{name}: {}", without_addresses(&e.to_string())));
                continue;
            }
        };
        let prog_type = rt.object().program(name).unwrap().prog_type;
        for (input, mut data) in inputs() {
            // Inputs that stand for a whole context get at least the size the
            // verifier assumes for it, so that verified, unchecked runs (which
            // pad shorter ones) and checked runs see the same bytes.
            if matches!(
                Convention::of(prog_type),
                Convention::Context | Convention::Plain
            ) {
                if let oxbpf_verifier::context::Layout::ReadOnly { size, .. } =
                    oxbpf_verifier::context::layout(prog_type)
                {
                    data.resize(data.len().max(size as usize), 0);
                }
            }
            let line = match inst.test_run(&data, None) {
                Ok(r) => format!(
                    "{name} {input}: r0 = {:#x}, data_out = {:02x?}",
                    r.retval, r.data_out
                ),
                Err(e) => format!("{name} {input}: {}", without_addresses(&e.to_string())),
            };
            lines.push(line);
        }
    }
    for m in &rt.object().maps {
        if let Ok(entries) = rt.map_entries(&m.name) {
            lines.push(format!("map {}: {entries:?}", m.name));
        }
    }
    lines
}

#[test]
fn interpreter_and_jit_agree_on_every_fixture() {
    let mut runs = 0;
    for path in objects() {
        let want = transcript(&path, Engine::Interpreter);
        let got = transcript(&path, Engine::Jit);
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(g, w, "{}", path.display());
        }
        assert_eq!(got.len(), want.len(), "{}", path.display());
        runs += want.iter().filter(|l| l.contains(": r0 = ")).count();
    }
    println!("interpreter and JIT agree on {runs} test runs over every fixture");
    assert!(runs > 100, "only {runs} runs succeeded");
}

/// Runs every fixture program `engine` (a verified one) accepts, and checks
/// the transcripts match the checked interpreter's.
fn verified_engine_agrees(engine: Engine) {
    let (mut accepted, mut rejected) = (0, 0);
    for path in objects() {
        let Some(rt) = runtime(&path, engine) else {
            continue;
        };
        let names: Vec<String> = rt
            .object()
            .programs
            .iter()
            .map(|p| p.name.clone())
            .filter(|n| match rt.instance(n) {
                Ok(_) => true,
                Err(e) => {
                    // Rejections are the verifier's, in its words.
                    let text = e.to_string();
                    assert!(
                        text.contains("rejected at instruction") || !text.contains("panicked"),
                        "{text}"
                    );
                    rejected += 1;
                    false
                }
            })
            .collect();
        accepted += names.len();
        let want = transcript_of(&path, Engine::Interpreter, Some(&names));
        let got = transcript_of(&path, engine, Some(&names));
        assert_eq!(got, want, "{}", path.display());
    }
    println!(
        "{engine:?}: {accepted} programs agree with the checked interpreter; {rejected} refused"
    );
    assert!(accepted > 60, "only {accepted} programs were accepted");
}

#[test]
fn verified_programs_run_unchecked_with_the_interpreters_results() {
    verified_engine_agrees(Engine::JitVerified);
}

#[test]
fn verified_programs_run_unchecked_in_the_interpreter_with_its_checked_results() {
    verified_engine_agrees(Engine::InterpreterVerified);
}

#[test]
fn jit_instances_move_between_threads() {
    fn is_send<T: Send>(_: &T) {}
    let rt = runtime(&root().join("fixtures/elf/packet.o"), Engine::Jit).unwrap();
    let inst = rt.instance("xdp_parse").unwrap();
    is_send(&inst);
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut inst = inst;
            let pkt = std::fs::read(root().join("fixtures/elf/packets/dns.bin")).unwrap();
            assert_eq!(inst.test_run(&pkt, None).unwrap().retval, 1);
        });
    });
}
