//! Runs compiled scripts in oxbpf's userspace runtime: the session logic the
//! CLI uses, over maps and a ring buffer that live in this process.

#![allow(dead_code)]

pub mod gen;

use oxbpf::{Options as RtOptions, Runtime};
use oxbpf_trace::output::Element;
use oxbpf_trace::session::{Backend, Session};
use oxbpf_trace::{compile, Compiled, MapDecl, Options, Tracefs};

/// CPUs the runtime's per-CPU maps keep.
pub const NCPUS: usize = 4;

/// A runtime holding one script's maps.
pub struct RuntimeBackend {
    pub rt: Runtime,
    pub cpu: usize,
}

impl RuntimeBackend {
    /// Prepares the compiled object's maps.
    pub fn new(c: &Compiled) -> RuntimeBackend {
        let opts = RtOptions {
            ncpus: NCPUS,
            ..RtOptions::default()
        };
        RuntimeBackend {
            rt: Runtime::with_options(c.object.clone(), opts).expect("runtime"),
            cpu: 0,
        }
    }

    /// Runs `program` once on `ctx` on CPU `self.cpu`; returns r0.
    pub fn fire(&mut self, program: &str, ctx: &mut [u8]) -> u64 {
        let mut inst = self.rt.instance(program).expect("instance");
        inst.set_cpu(self.cpu);
        inst.run(ctx).unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    fn map(&self, d: &MapDecl) -> &std::sync::Arc<oxbpf::maps::Map> {
        self.rt
            .map(&Compiled::map_object_name(&d.name))
            .expect("map")
    }
}

impl Backend for RuntimeBackend {
    fn run_once(&mut self, program: &str) -> Result<(), String> {
        let mut ctx = vec![0u8; 96];
        self.fire(program, &mut ctx);
        Ok(())
    }

    fn elements(&mut self, d: &MapDecl) -> Result<Vec<Element>, String> {
        let m = self.map(d);
        let size = d.kind.value_size();
        let stride = m.host_value_size() / if d.kind.per_cpu() { m.ncpus() } else { 1 };
        Ok(m.entries()
            .into_iter()
            .map(|(k, v)| {
                let cpus = v.chunks(stride).map(|c| c[..size].to_vec()).collect();
                (k, cpus)
            })
            .collect())
    }

    fn clear(&mut self, d: &MapDecl) -> Result<(), String> {
        let m = self.map(d);
        for (k, _) in m.entries() {
            m.delete(&k).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn zero(&mut self, d: &MapDecl) -> Result<(), String> {
        let m = self.map(d);
        let zeros = vec![0u8; m.host_value_size()];
        for (k, _) in m.entries() {
            m.update(&k, &zeros, 0).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn drain(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        let m = self
            .rt
            .map(oxbpf_trace::RINGBUF_NAME)
            .map_err(|e| e.to_string())?;
        m.ringbuf().expect("a ring buffer").consume(f);
        Ok(())
    }
}

/// Compiles `src`, panicking with the rendered error.
pub fn build(src: &str, params: &[&str], fs: &dyn Tracefs) -> Compiled {
    let opts = Options {
        params: params.iter().map(|s| s.to_string()).collect(),
        cpid: Some(4242),
    };
    compile(src, &opts, fs).unwrap_or_else(|e| panic!("{}", e.render(src, "test.bt")))
}

/// Runs BEGIN, then `fire` (which may run other probes), then END and the
/// exit printout; returns everything printed.
pub fn run_with(
    c: &Compiled,
    fire: impl FnOnce(&mut RuntimeBackend, &mut Session<'_>, &mut Vec<u8>),
) -> String {
    let mut b = RuntimeBackend::new(c);
    let mut s = Session::new(c, || 0);
    let mut out = Vec::new();
    s.begin(&mut b, &mut out).expect("begin");
    fire(&mut b, &mut s, &mut out);
    s.finish(&mut b, &mut out).expect("finish");
    String::from_utf8(out).expect("utf-8")
}

/// Compiles and runs a script that has only BEGIN/END probes.
pub fn run(src: &str) -> String {
    let c = build(src, &[], &oxbpf_trace::NoTracefs);
    run_with(&c, |_, _, _| {})
}

/// A tracefs holding sched:sched_switch, with the format of a 6.18 kernel.
pub fn sched_tracefs() -> oxbpf_trace::StaticTracefs {
    oxbpf_trace::StaticTracefs(vec![(
        "sched".into(),
        "sched_switch".into(),
        include_str!("../fixtures/sched_sched_switch.format").into(),
    )])
}
