//! The user-space half of a run, over any backend (the kernel, or oxbpf's
//! runtime in tests): BEGIN first, events printed in ring buffer order,
//! `print`/`clear`/`zero`/`exit` acted on, then END and every map at exit.

use std::io::Write;

use crate::output::{
    decode, format_all_maps, format_map, time::strftime, Action, Element, EXIT_PREAMBLE,
};
use crate::{Compiled, MapDecl, Probe};

/// What runs the programs and holds the maps.
pub trait Backend {
    /// Runs a BEGIN or END program once, now.
    fn run_once(&mut self, program: &str) -> Result<(), String>;
    /// Every element of a script map (per-CPU maps: one value per CPU).
    fn elements(&mut self, decl: &MapDecl) -> Result<Vec<Element>, String>;
    /// Deletes every element.
    fn clear(&mut self, decl: &MapDecl) -> Result<(), String>;
    /// Sets every element's value to zero.
    fn zero(&mut self, decl: &MapDecl) -> Result<(), String>;
    /// Hands each ring buffer record waiting now to `f`, in order.
    fn drain(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<(), String>;
    /// Events the full ring buffer refused, over all CPUs.
    fn lost(&mut self) -> Result<u64, String> {
        Ok(0)
    }
    /// Blocks until a record may be waiting or `timeout` passes.
    fn wait(&mut self, timeout: std::time::Duration) -> Result<(), String> {
        std::thread::sleep(timeout);
        Ok(())
    }
}

/// One run of a compiled script.
pub struct Session<'c> {
    compiled: &'c Compiled,
    /// Wall-clock seconds since the epoch, for `time()`.
    clock: Box<dyn Fn() -> i64 + 'c>,
    /// Whether `exit()` ran.
    pub exited: bool,
}

impl<'c> Session<'c> {
    /// A session printing `time()` with `clock`.
    pub fn new(compiled: &'c Compiled, clock: impl Fn() -> i64 + 'c) -> Session<'c> {
        Session {
            compiled,
            clock: Box::new(clock),
            exited: false,
        }
    }

    fn programs(&self, which: &Probe) -> Vec<String> {
        self.compiled
            .probes
            .iter()
            .filter(|p| p.probe == *which)
            .map(|p| p.program.clone())
            .collect()
    }

    /// Records the start time, runs the BEGIN programs and prints what they sent.
    pub fn begin(&mut self, b: &mut dyn Backend, out: &mut dyn Write) -> Result<(), String> {
        b.run_once(crate::INIT_PROGRAM)?;
        for p in self.programs(&Probe::Begin) {
            b.run_once(&p)?;
            self.poll(b, out)?;
        }
        Ok(())
    }

    /// Prints the events waiting in the ring buffer; true once `exit()` ran.
    pub fn poll(&mut self, b: &mut dyn Backend, out: &mut dyn Write) -> Result<bool, String> {
        let mut actions = Vec::new();
        let mut bad = None;
        b.drain(&mut |rec| match decode(self.compiled, rec) {
            Ok(a) => actions.push(a),
            Err(e) => bad = Some(e.0),
        })?;
        if let Some(e) = bad {
            return Err(e);
        }
        let io = |e: std::io::Error| e.to_string();
        for a in actions {
            if self.exited {
                // bpftrace stops printing events once exit() was called.
                break;
            }
            match a {
                Action::Text(t) => out.write_all(t.as_bytes()).map_err(io)?,
                Action::PrintMap(name) => {
                    let decl = self.decl(&name)?;
                    let text = format_map(decl, &b.elements(decl)?);
                    out.write_all(text.as_bytes()).map_err(io)?;
                }
                Action::Clear(name) => b.clear(self.decl(&name)?)?,
                Action::Zero(name) => b.zero(self.decl(&name)?)?,
                Action::Time(f) => out
                    .write_all(strftime(&f, (self.clock)()).as_bytes())
                    .map_err(io)?,
                Action::Exit => self.exited = true,
            }
        }
        out.flush().map_err(io)?;
        Ok(self.exited)
    }

    fn decl(&self, name: &str) -> Result<&'c MapDecl, String> {
        self.compiled
            .maps
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| format!("no map @{name}"))
    }

    /// After every probe is detached: runs END, then prints every map.
    pub fn finish(&mut self, b: &mut dyn Backend, out: &mut dyn Write) -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        // Events sent before the detach still print (unless exit() came first).
        self.poll(b, out)?;
        self.exited = false;
        for p in self.programs(&Probe::End) {
            b.run_once(&p)?;
            self.poll(b, out)?;
            self.exited = false;
        }
        let mut err = None;
        let text = format_all_maps(self.compiled, |d| match b.elements(d) {
            Ok(e) => e,
            Err(e) => {
                err = Some(e);
                Vec::new()
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        out.write_all(EXIT_PREAMBLE.as_bytes()).map_err(io)?;
        out.write_all(text.as_bytes()).map_err(io)?;
        out.flush().map_err(io)
    }
}
