//! Helper functions: host code that programs call by id.

use std::collections::HashMap;
use std::sync::Arc;

use crate::memory::MemoryView;

/// What a helper sees besides its arguments: the run's memory, checked.
pub struct HelperContext<'r> {
    /// The memory regions of the current run.
    pub memory: MemoryView<'r>,
    pub(crate) callback: &'r mut dyn FnMut(u64, [u64; 5]) -> Result<u64, String>,
}

impl<'r> HelperContext<'r> {
    /// A context for a helper called by an engine other than the interpreter:
    /// `callback` runs the program's function at a code address.
    pub fn new(
        memory: MemoryView<'r>,
        callback: &'r mut dyn FnMut(u64, [u64; 5]) -> Result<u64, String>,
    ) -> HelperContext<'r> {
        HelperContext { memory, callback }
    }

    /// Calls the program's function at code address `addr` (a callback the
    /// program passed, as to `bpf_loop`) with r1..r5 = `args`; returns its r0.
    pub fn call(&mut self, addr: u64, args: [u64; 5]) -> Result<u64, String> {
        (self.callback)(addr, args)
    }
}

/// A helper: receives r1 to r5 and returns r0, or an error message that stops the program.
pub type HelperFn =
    Arc<dyn Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, String> + Send + Sync>;

/// The helpers a host offers to programs, by kernel helper id.
#[derive(Clone, Default)]
pub struct Helpers {
    map: HashMap<u32, HelperFn>,
}

impl Helpers {
    /// No helpers.
    pub fn new() -> Helpers {
        Helpers::default()
    }

    /// Registers `f` under `id`, replacing any earlier helper with that id.
    pub fn register(
        &mut self,
        id: u32,
        f: impl Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.map.insert(id, Arc::new(f));
        self
    }

    /// The helper registered under `id`.
    pub fn get(&self, id: u32) -> Option<&HelperFn> {
        self.map.get(&id)
    }

    /// Whether no helper is registered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The helpers of the bpf_conformance plugin protocol: helper 5 returns its first argument.
    pub fn conformance() -> Helpers {
        let mut h = Helpers::new();
        h.register(5, |_, args| Ok(args[0]));
        h
    }
}

impl std::fmt::Debug for Helpers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<_> = self.map.keys().collect();
        ids.sort();
        f.debug_struct("Helpers").field("ids", &ids).finish()
    }
}
