//! Differential test (root): random deterministic scripts run in the kernel
//! (loaded by oxbpf's loader, BEGIN through BPF_PROG_TEST_RUN) print exactly
//! what they print in oxbpf's runtime. Without root or bpf(2), it prints a
//! skip line.

mod common;

use common::gen::{script, Rng};
use oxbpf_kernel::ringbuf::RingBuf;
use oxbpf_kernel::{Kernel, LoadOptions};
use oxbpf_trace::output::Element;
use oxbpf_trace::session::{Backend, Session};
use oxbpf_trace::{compile, Compiled, MapDecl, NoTracefs, Options};

struct KernelBackend<'k> {
    kernel: &'k Kernel,
    ring: RingBuf,
}

impl Backend for KernelBackend<'_> {
    fn run_once(&mut self, program: &str) -> Result<(), String> {
        self.kernel
            .test_run(program, &[], None)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn elements(&mut self, d: &MapDecl) -> Result<Vec<Element>, String> {
        let m = self
            .kernel
            .map(&Compiled::map_object_name(&d.name))
            .map_err(|e| e.to_string())?;
        let size = d.kind.value_size();
        let stride = if d.kind.per_cpu() {
            size.next_multiple_of(8)
        } else {
            size
        };
        Ok(m.entries()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(k, v)| (k, v.chunks(stride).map(|c| c[..size].to_vec()).collect()))
            .collect())
    }

    fn clear(&mut self, _: &MapDecl) -> Result<(), String> {
        Err("not generated".into())
    }

    fn zero(&mut self, _: &MapDecl) -> Result<(), String> {
        Err("not generated".into())
    }

    fn drain(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        self.ring.consume(f);
        Ok(())
    }
}

fn in_kernel(c: &Compiled) -> Result<String, String> {
    let opts = LoadOptions {
        btf: false,
        core_target: None,
        ..LoadOptions::default()
    };
    let kernel = Kernel::load_with(&c.object, opts).map_err(|e| e.to_string())?;
    let ring = RingBuf::new(
        kernel
            .map(oxbpf_trace::RINGBUF_NAME)
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let mut b = KernelBackend {
        kernel: &kernel,
        ring,
    };
    let mut s = Session::new(c, || 0);
    let mut out = Vec::new();
    s.begin(&mut b, &mut out)?;
    s.finish(&mut b, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn kernel_and_runtime_print_the_same() {
    let probe = compile("BEGIN { exit(); }", &Options::default(), &NoTracefs).unwrap();
    if let Err(e) = in_kernel(&probe) {
        println!("skipped kernel_and_runtime_print_the_same: {e}");
        return;
    }
    let n: usize = std::env::var("OXBPF_TRACE_RANDOM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let seed: u64 = std::env::var("OXBPF_TRACE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x2545_f491_4f6c_dd1d);
    let mut r = Rng {
        state: seed.max(1),
        tp: false,
        det: true,
    };
    let opts = Options {
        params: vec!["5".into()],
        cpid: None,
    };
    let mut compared = 0;
    for _ in 0..n {
        let src = script(&mut r);
        let Ok(c) = compile(&src, &opts, &NoTracefs) else {
            continue;
        };
        let ours = common::run_with(&c, |_, _, _| {});
        let kernel = in_kernel(&c).unwrap_or_else(|e| panic!("{e}\n{src}"));
        assert_eq!(kernel, ours, "{src}");
        compared += 1;
    }
    assert!(compared > n * 5 / 6, "only {compared} of {n} compiled");
}
