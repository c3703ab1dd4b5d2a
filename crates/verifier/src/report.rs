//! What the verifier says: the reason a program is rejected (with the place,
//! the state, the path and a hint), the statistics of an accepted one, and the
//! text, JSON and Graphviz renderings.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::time::Duration;

use oxbpf_isa::Syntax;

use crate::structure::Cfg;

/// The kind of rule a rejected program broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An instruction does not decode (unknown opcode, nonzero reserved field).
    Decode,
    /// The program is empty or otherwise malformed.
    Structure,
    /// A jump or call goes outside the program or its function.
    JumpOutOfRange,
    /// A jump lands in the second half of an lddw.
    JumpIntoLddw,
    /// Execution can fall off the end of a function.
    FallThrough,
    /// An instruction no path reaches.
    Unreachable,
    /// A loop in an unprivileged program.
    BackEdge,
    /// More than 8 nested calls.
    CallDepth,
    /// More than 512 bytes of stack along a call chain.
    StackTooLarge,
    /// A register is read before it is written.
    UninitRegister,
    /// The frame pointer r10 is written.
    FramePointerWrite,
    /// Memory is accessed through something that is not a pointer to it.
    InvalidMemAccess,
    /// An access outside the object the pointer points into.
    OutOfBounds,
    /// A pointer that may be NULL is used before the NULL check.
    PossiblyNull,
    /// Stack bytes are read before they are written.
    UninitStack,
    /// A packet access not proven to be within data_end.
    PacketBounds,
    /// A context access the program type does not allow.
    ContextAccess,
    /// Arithmetic not allowed on a pointer.
    PointerArithmetic,
    /// A comparison of pointers in unprivileged mode.
    PointerComparison,
    /// A pointer value escapes in unprivileged mode.
    PointerLeak,
    /// A call to a helper oxbpf does not implement.
    UnknownHelper,
    /// A helper the program type or mode may not call.
    HelperUnavailable,
    /// A helper argument of the wrong type, size or map.
    HelperArgument,
    /// A reserved ring buffer record not submitted or discarded on some path.
    ReferenceLeak,
    /// An invalid release of a reference.
    InvalidRelease,
    /// A return value outside the program type's range.
    ReturnValue,
    /// A loop that repeats the same state.
    InfiniteLoop,
    /// Exploration went past the complexity limit.
    TooComplex,
    /// An instruction or feature this verifier does not support.
    Unsupported,
    /// The program writes to read-only memory.
    ReadOnly,
    /// The program reads memory it may only write (a `BPF_F_WRONLY_PROG` map).
    WriteOnly,
    /// Division or modulo by the constant 0.
    DivisionByZero,
}

impl Reason {
    /// A stable lower-case name, for JSON and tests.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Decode => "decode",
            Reason::Structure => "structure",
            Reason::JumpOutOfRange => "jump_out_of_range",
            Reason::JumpIntoLddw => "jump_into_lddw",
            Reason::FallThrough => "fall_through",
            Reason::Unreachable => "unreachable",
            Reason::BackEdge => "back_edge",
            Reason::CallDepth => "call_depth",
            Reason::StackTooLarge => "stack_too_large",
            Reason::UninitRegister => "uninit_register",
            Reason::FramePointerWrite => "frame_pointer_write",
            Reason::InvalidMemAccess => "invalid_mem_access",
            Reason::OutOfBounds => "out_of_bounds",
            Reason::PossiblyNull => "possibly_null",
            Reason::UninitStack => "uninit_stack",
            Reason::PacketBounds => "packet_bounds",
            Reason::ContextAccess => "context_access",
            Reason::PointerArithmetic => "pointer_arithmetic",
            Reason::PointerComparison => "pointer_comparison",
            Reason::PointerLeak => "pointer_leak",
            Reason::UnknownHelper => "unknown_helper",
            Reason::HelperUnavailable => "helper_unavailable",
            Reason::HelperArgument => "helper_argument",
            Reason::ReferenceLeak => "reference_leak",
            Reason::InvalidRelease => "invalid_release",
            Reason::ReturnValue => "return_value",
            Reason::InfiniteLoop => "infinite_loop",
            Reason::TooComplex => "too_complex",
            Reason::Unsupported => "unsupported",
            Reason::ReadOnly => "read_only",
            Reason::WriteOnly => "write_only",
            Reason::DivisionByZero => "division_by_zero",
        }
    }
}

/// Why a program was rejected, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    /// The failing instruction's slot index.
    pub insn: usize,
    /// The instruction in the kernel log's syntax (`(79) r1 = *(u64 *)(r2 +0)`).
    pub insn_text: String,
    /// One sentence saying what is wrong.
    pub message: String,
    /// What to change.
    pub hint: String,
    /// Registers and stack at the failing instruction, one item per entry.
    pub state: Vec<String>,
    /// The instructions where the path to the failure changed course: (from, to).
    pub path: Vec<(usize, usize)>,
    /// The C source line, when the object has BTF line info.
    pub source: Option<String>,
}

impl Rejection {
    /// A rejection found before any path was explored.
    pub fn structural(reason: Reason, insn: usize, message: String, hint: &str) -> Box<Rejection> {
        Box::new(Rejection {
            reason,
            insn,
            insn_text: String::new(),
            message,
            hint: hint.to_string(),
            state: Vec::new(),
            path: Vec::new(),
            source: None,
        })
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rejected at instruction {}: {}",
            self.insn, self.insn_text
        )?;
        if let Some(src) = &self.source {
            writeln!(f, "  source: {src}")?;
        }
        writeln!(f, "  {}", self.message)?;
        writeln!(f, "  hint: {}", self.hint)?;
        if !self.state.is_empty() {
            writeln!(f, "  state: {}", self.state.join(" "))?;
        }
        if !self.path.is_empty() {
            let steps: Vec<String> = self.path.iter().map(|(a, b)| format!("{a}->{b}")).collect();
            writeln!(f, "  path: {}", steps.join(" "))?;
        }
        Ok(())
    }
}

/// Counters of an exploration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instructions processed over all paths.
    pub insns_processed: u64,
    /// States stored for pruning.
    pub states_explored: u64,
    /// Paths cut short because a stored state covered them.
    pub states_pruned: u64,
    /// Most paths pending at once.
    pub peak_states: u64,
    /// Stack bytes of the deepest call chain.
    pub stack_depth: u64,
    /// Instructions walked back to mark precise scalars.
    pub precision_steps: u64,
    /// Stored states whose scalars all had to count as precise.
    pub precision_fallbacks: u64,
    /// Wall time.
    pub time: Duration,
}

/// The verdict on one program.
#[derive(Clone, Debug)]
pub struct Report {
    /// The program's name.
    pub name: String,
    /// `None` when accepted.
    pub rejection: Option<Box<Rejection>>,
    pub stats: Stats,
    /// The log-level-2-like trace, when requested.
    pub log: Option<String>,
    /// The control-flow graph, when the structure checks passed.
    pub cfg: Option<Cfg>,
}

impl Report {
    /// Whether the program was accepted.
    pub fn accepted(&self) -> bool {
        self.rejection.is_none()
    }

    /// The summary a person reads.
    pub fn text(&self) -> String {
        match &self.rejection {
            Some(r) => format!("{}: {r}", self.name),
            None => format!(
                "{}: accepted: {} instructions processed, {} states explored ({} pruned), peak {} pending states, stack {} bytes, {:.3?}\n",
                self.name,
                self.stats.insns_processed,
                self.stats.states_explored,
                self.stats.states_pruned,
                self.stats.peak_states,
                self.stats.stack_depth,
                self.stats.time
            ),
        }
    }

    /// The verdict as one JSON object.
    pub fn json(&self) -> String {
        let s = &self.stats;
        let mut out = format!(
            "{{\"program\":{},\"accepted\":{},\"insns_processed\":{},\"states_explored\":{},\"states_pruned\":{},\"peak_states\":{},\"stack_depth\":{},\"time_us\":{}",
            json_str(&self.name),
            self.accepted(),
            s.insns_processed,
            s.states_explored,
            s.states_pruned,
            s.peak_states,
            s.stack_depth,
            s.time.as_micros()
        );
        if let Some(r) = &self.rejection {
            let state: Vec<String> = r.state.iter().map(|x| json_str(x)).collect();
            let path: Vec<String> = r.path.iter().map(|(a, b)| format!("[{a},{b}]")).collect();
            let _ = write!(
                out,
                ",\"reason\":{},\"insn\":{},\"insn_text\":{},\"message\":{},\"hint\":{},\"source\":{},\"state\":[{}],\"path\":[{}]",
                json_str(r.reason.name()),
                r.insn,
                json_str(&r.insn_text),
                json_str(&r.message),
                json_str(&r.hint),
                r.source.as_deref().map_or("null".to_string(), json_str),
                state.join(","),
                path.join(",")
            );
        }
        out.push('}');
        out
    }

    /// The control-flow graph in Graphviz syntax; the failing path and
    /// instruction are drawn in red.
    pub fn dot(&self) -> String {
        let mut out = String::from("digraph cfg {\n  node [shape=box fontname=monospace];\n");
        let Some(cfg) = &self.cfg else {
            out.push_str("}\n");
            return out;
        };
        let n = cfg.insns.len();
        // Basic blocks: leaders are the entry, jump targets and the slots after jumps.
        let mut leaders = BTreeSet::new();
        leaders.insert(0);
        for pc in 0..n {
            let Some(insn) = cfg.insns[pc] else { continue };
            let branches = cfg.succ[pc].len() != 1 || insn.jump_offset().is_some();
            if branches || matches!(insn, oxbpf_isa::Insn::Exit) {
                for &s in &cfg.succ[pc] {
                    leaders.insert(s);
                }
                leaders.insert(pc + insn.slots());
            }
        }
        for sp in &cfg.subprogs {
            leaders.insert(sp.start);
        }
        let leaders: Vec<usize> = leaders.into_iter().filter(|&l| l < n).collect();
        let block_of = |pc: usize| match leaders.binary_search(&pc) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let fail = self.rejection.as_ref().map(|r| r.insn);
        let mut hot: BTreeSet<(usize, usize)> = BTreeSet::new();
        if let Some(r) = &self.rejection {
            for &(a, b) in &r.path {
                hot.insert((block_of(a), block_of(b)));
            }
        }
        for (b, &start) in leaders.iter().enumerate() {
            let end = leaders.get(b + 1).copied().unwrap_or(n);
            let mut label = String::new();
            for pc in start..end {
                if let Some(insn) = cfg.insns[pc] {
                    let _ = write!(
                        label,
                        "{pc}: {}\\l",
                        dot_escape(&insn.display(Syntax::Kernel).to_string())
                    );
                }
            }
            let color = if fail.is_some_and(|f| f >= start && f < end) {
                " color=red penwidth=2 style=filled fillcolor=\"#ffdddd\""
            } else {
                ""
            };
            let _ = writeln!(out, "  b{b} [label=\"{label}\"{color}];");
            let last = (start..end).rev().find(|&pc| cfg.insns[pc].is_some());
            if let Some(last) = last {
                for &s in &cfg.succ[last] {
                    let t = block_of(s);
                    let style = if hot.contains(&(b, t)) || (fail.is_some() && hot.is_empty()) {
                        " [color=red penwidth=2]"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "  b{b} -> b{t}{style};");
                }
            }
        }
        out.push_str("}\n");
        out
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
