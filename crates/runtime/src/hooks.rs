//! Host-defined hooks: the host names its own events, attaches programs to
//! them, and fires them with the event's data.

use std::collections::BTreeMap;

use crate::{Instance, Runtime, RuntimeError, TestRun};

/// Named hooks with the programs attached to each, run in attach order.
pub struct Hooks<'r> {
    runtime: &'r Runtime,
    attached: BTreeMap<String, Vec<(String, Instance<'r>)>>,
}

impl<'r> Hooks<'r> {
    /// No hooks yet.
    pub fn new(runtime: &'r Runtime) -> Hooks<'r> {
        Hooks {
            runtime,
            attached: BTreeMap::new(),
        }
    }

    /// Attaches program `program` to hook `hook` (created on first use).
    pub fn attach(&mut self, hook: &str, program: &str) -> Result<(), RuntimeError> {
        let inst = self.runtime.instance(program)?;
        self.attached
            .entry(hook.to_string())
            .or_default()
            .push((program.to_string(), inst));
        Ok(())
    }

    /// Detaches `program` from `hook`; returns whether it was attached.
    pub fn detach(&mut self, hook: &str, program: &str) -> bool {
        let Some(list) = self.attached.get_mut(hook) else {
            return false;
        };
        let before = list.len();
        list.retain(|(p, _)| p != program);
        before != list.len()
    }

    /// The programs attached to `hook`.
    pub fn programs(&self, hook: &str) -> Vec<&str> {
        self.attached
            .get(hook)
            .map(|l| l.iter().map(|(p, _)| p.as_str()).collect())
            .unwrap_or_default()
    }

    /// Fires `hook`: runs every attached program once on `data` (and `ctx`),
    /// each with its program type's meaning of the input; returns their results.
    pub fn fire(
        &mut self,
        hook: &str,
        data: &[u8],
        ctx: Option<&[u8]>,
    ) -> Result<Vec<TestRun>, RuntimeError> {
        let Some(list) = self.attached.get_mut(hook) else {
            return Err(RuntimeError::NotFound {
                what: "hook",
                name: hook.to_string(),
            });
        };
        list.iter_mut()
            .map(|(_, inst)| inst.test_run(data, ctx))
            .collect()
    }
}
