//! Labels and branch fix-ups, shared by the assemblers: a label is named
//! before its place is known; each use records where its field is and what
//! kind of field it is, and `resolve` patches them all once the code is laid
//! out. How a field is encoded is the instruction set's business.

/// A position in the code that jumps can name before it is placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(pub u32);

/// Labels, their places and the fields that name them (`K`: the field's kind).
#[derive(Debug)]
pub(crate) struct Labels<K> {
    places: Vec<Option<usize>>,
    uses: Vec<(usize, Label, K)>,
}

impl<K> Default for Labels<K> {
    fn default() -> Self {
        Labels {
            places: Vec::new(),
            uses: Vec::new(),
        }
    }
}

impl<K: Copy> Labels<K> {
    /// Room for about `n` labels.
    pub(crate) fn with_capacity(n: usize) -> Labels<K> {
        Labels {
            places: Vec::with_capacity(n),
            uses: Vec::with_capacity(n * 2),
        }
    }

    /// A new, unplaced label.
    pub(crate) fn label(&mut self) -> Label {
        self.places.push(None);
        Label(self.places.len() as u32 - 1)
    }

    /// Places `l` at offset `pos`.
    pub(crate) fn bind(&mut self, l: Label, pos: usize) {
        self.places[l.0 as usize] = Some(pos);
    }

    /// Where `l` was placed, if it has been.
    pub(crate) fn offset_of(&self, l: Label) -> Option<usize> {
        self.places[l.0 as usize]
    }

    /// Records a field of kind `kind` at offset `at` that names `l`.
    pub(crate) fn use_at(&mut self, at: usize, l: Label, kind: K) {
        self.uses.push((at, l, kind));
    }

    /// Calls `patch(at, target, kind)` for every use; fails with the first
    /// label never placed, or with what `patch` fails with.
    pub(crate) fn resolve<E>(
        &self,
        unplaced: impl Fn(Label) -> E,
        mut patch: impl FnMut(usize, usize, K) -> Result<(), E>,
    ) -> Result<(), E> {
        for &(at, l, kind) in &self.uses {
            let target = self.offset_of(l).ok_or_else(|| unplaced(l))?;
            patch(at, target, kind)?;
        }
        Ok(())
    }
}

/// The entry label of the function a BPF-to-BPF call at `pc` with immediate
/// `imm` enters: `None` for the program's own entry (slot 0), which has no
/// label; an error for a target that starts no function.
pub(crate) fn call_target(
    entries: &[Option<Label>],
    pc: usize,
    imm: i32,
) -> Result<Option<Label>, crate::JitError> {
    let target = (pc as i64 + 1 + imm as i64) as usize;
    if target == 0 {
        return Ok(None);
    }
    entries
        .get(target)
        .copied()
        .flatten()
        .map(Some)
        .ok_or(crate::JitError::Unsupported {
            index: pc,
            what: "a call to an unknown function",
        })
}
