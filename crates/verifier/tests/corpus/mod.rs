//! The accept/reject corpus: programs in assembly, each with the verdict and,
//! for rejections, the reason. Every rule area has its own table; the
//! per-area test files run one table each and the kernel differential test
//! runs them all.
#![allow(dead_code)]

pub mod helpers;
pub mod kernel;
pub mod loops;
pub mod memory;
pub mod modes;
pub mod packet;
pub mod precision;
pub mod registers;
pub mod structure;

use oxbpf_object::ProgramType;
use oxbpf_verifier::{verify, Input, MapInfo, Options, Reason};

/// What the verifier must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    Accept,
    Reject(Reason),
}

/// How the Linux kernel's verifier relates to the expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelNote {
    /// The kernel gives the same verdict.
    Same,
    /// The kernel's verdict differs, for this reason.
    Differs(&'static str),
    /// Not loaded into the kernel, for this reason.
    Skip(&'static str),
}

/// One corpus program.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub ty: ProgramType,
    pub asm: String,
    pub expect: Expect,
    pub unprivileged: bool,
    pub kernel: KernelNote,
    /// The ELF section it would come from (its attach type), or empty.
    pub section: &'static str,
    /// Judged in strict mode (no uninitialized stack reads even when privileged).
    pub strict: bool,
}

impl Case {
    /// Judged as an unprivileged loader would be (not loaded into the kernel,
    /// which these tests reach as root).
    pub fn unpriv(mut self) -> Case {
        self.unprivileged = true;
        self.kernel = KernelNote::Skip("unprivileged mode (the tests run as root)");
        self
    }

    /// The kernel disagrees, for `why`.
    pub fn kernel_differs(mut self, why: &'static str) -> Case {
        self.kernel = KernelNote::Differs(why);
        self
    }

    /// Judged as coming from section `section` (an attach type).
    pub fn section(mut self, section: &'static str) -> Case {
        self.section = section;
        self
    }

    /// Judged in oxbpf's strict mode, which the kernel has no equivalent of.
    pub fn strict(mut self) -> Case {
        self.strict = true;
        self.kernel = KernelNote::Skip("oxbpf's strict mode");
        self
    }

    /// Not loaded into the kernel, for `why`.
    pub fn no_kernel(mut self, why: &'static str) -> Case {
        self.kernel = KernelNote::Skip(why);
        self
    }
}

/// An accepted program.
pub fn acc(name: impl Into<String>, ty: ProgramType, asm: impl Into<String>) -> Case {
    Case {
        name: name.into(),
        ty,
        asm: asm.into(),
        expect: Expect::Accept,
        unprivileged: false,
        kernel: KernelNote::Same,
        section: "",
        strict: false,
    }
}

/// A read of never-written stack: accepted as the privileged kernel does
/// (the bytes are unknown numbers), and rejected in strict mode as `NAME_strict`.
pub fn uninit_read(name: impl Into<String>, ty: ProgramType, asm: impl Into<String>) -> [Case; 2] {
    let (name, asm) = (name.into(), asm.into());
    [
        rej(
            format!("{name}_strict"),
            ty,
            asm.clone(),
            Reason::UninitStack,
        )
        .strict(),
        acc(name, ty, asm),
    ]
}

/// A program rejected for `reason`.
pub fn rej(
    name: impl Into<String>,
    ty: ProgramType,
    asm: impl Into<String>,
    reason: Reason,
) -> Case {
    Case {
        expect: Expect::Reject(reason),
        ..acc(name, ty, asm)
    }
}

/// The maps every corpus program may use, by index (`map_idx(N)`).
pub fn maps() -> Vec<MapInfo> {
    let mut rodata = MapInfo::new("rodata", 2, 4, 16, 1);
    rodata.read_only = true;
    let mut bytes = b"hi %d\0".to_vec();
    bytes.resize(16, 0);
    bytes[8] = 42;
    rodata.frozen = Some(bytes);
    vec![
        MapInfo::new("hash", 1, 4, 8, 16),
        MapInfo::new("array", 2, 4, 16, 4),
        MapInfo::new("rb", 27, 0, 0, 4096),
        MapInfo::new("progs", 3, 4, 4, 4),
        rodata,
        MapInfo::new("queue", 22, 0, 8, 16),
        MapInfo::new("events", 4, 4, 4, 4),
        MapInfo {
            write_only: true,
            ..MapInfo::new("wronly", 2, 4, 8, 1)
        },
        MapInfo {
            holds: vec![ProgramType::Xdp],
            ..MapInfo::new("xdp_progs", 3, 4, 4, 4)
        },
        MapInfo {
            read_only: true,
            ..MapInfo::new("rdonly_queue", 22, 0, 8, 16)
        },
    ]
}

/// Assembles a case's program.
pub fn slots(case: &Case) -> Vec<oxbpf_isa::RawInsn> {
    let insns = oxbpf_isa::assemble(&case.asm)
        .unwrap_or_else(|e| panic!("case {}: does not assemble: {e}\n{}", case.name, case.asm));
    oxbpf_isa::raw_slots(&oxbpf_isa::encode_program(&insns)).expect("whole instructions")
}

/// The verifier's verdict on a case: `Ok(())` or the rejection reason.
pub fn judge(case: &Case) -> (Expect, String) {
    let slots = slots(case);
    let maps = maps();
    let mut input = Input::new(&slots, case.ty);
    input.maps = &maps;
    input.name = case.name.clone();
    input.section = case.section;
    let opts = Options {
        privileged: !case.unprivileged,
        strict: case.strict,
        ..Options::default()
    };
    let report = verify(&input, &opts);
    let got = match &report.rejection {
        None => Expect::Accept,
        Some(r) => Expect::Reject(r.reason),
    };
    (got, report.text())
}

/// Checks every case's verdict; panics listing the ones that differ.
pub fn run(cases: Vec<Case>) {
    let mut wrong = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for case in &cases {
        assert!(
            names.insert(case.name.clone()),
            "duplicate case name {}",
            case.name
        );
        let (got, text) = judge(case);
        if got != case.expect {
            wrong.push(format!(
                "{}: expected {:?}, got {:?}\n{}\n{}",
                case.name, case.expect, got, case.asm, text
            ));
        }
    }
    println!(
        "{} cases, {} as expected",
        cases.len(),
        cases.len() - wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "{} cases differ:\n\n{}",
        wrong.len(),
        wrong.join("\n\n")
    );
}

/// Every case of every table.
pub fn all() -> Vec<Case> {
    let mut v = structure::cases();
    v.extend(registers::cases());
    v.extend(memory::cases());
    v.extend(packet::cases());
    v.extend(helpers::cases());
    v.extend(loops::cases());
    v.extend(modes::cases());
    v.extend(precision::cases());
    v
}
