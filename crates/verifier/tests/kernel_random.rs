//! Random programs judged by oxbpf's verifier and by the kernel's: bounds
//! arithmetic over ALU32 and ALU64 (shifts, masks, sign extensions), signed
//! and unsigned JMP and JMP32 refinements and stack spills and fills, ending
//! in a stack access at a computed offset, which only a sound range proves in
//! bounds. Every program oxbpf accepts and the kernel rejects is a failure
//! unless it is of a kind listed in `explain`. The seed is fixed, so a run is
//! reproducible; `OXBPF_RANDOM_SEED` and `OXBPF_RANDOM_CASES` change it.

mod corpus;

use corpus::kernel::{create_maps, kernel_verdict};
use corpus::{acc, judge, Expect};
use oxbpf_kernel::sys::privileged;
use oxbpf_object::ProgramType;

/// A small xorshift generator: deterministic for a seed, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// One random program in assembly: r0-r5 start as packet-length-derived
/// unknowns or constants, then random ALU, jumps and spills, then a one-byte
/// stack read at fp-64 plus a register's value.
fn program(rng: &mut Rng) -> String {
    let mut s = String::from("r6 = r1\n*(u64 *)(r10 - 64) = 0\n*(u64 *)(r10 - 56) = 0\n*(u64 *)(r10 - 48) = 0\n*(u64 *)(r10 - 40) = 0\n");
    for r in 0..=5 {
        if rng.below(3) == 0 {
            s += &format!("r{r} = {}\n", rng.below(200) as i64 - 50);
        } else {
            // skb->len, mark or priority: unknown 32-bit numbers.
            let off = [0, 8, 32][rng.below(3) as usize];
            s += &format!("r{r} = *(u32 *)(r6 + {off})\n");
        }
    }
    let n = 6 + rng.below(14);
    let mut label = 0;
    for _ in 0..n {
        let d = rng.below(6);
        let src = if rng.below(2) == 0 {
            format!("r{}", rng.below(6))
        } else {
            format!("{}", rng.below(70) as i64 - 6)
        };
        match rng.below(10) {
            0..=3 => {
                let op = rng.pick(&[
                    "+=", "-=", "&=", "|=", "^=", "*=", "<<=", ">>=", "s>>=", "=",
                ]);
                let src = if matches!(op, "<<=" | ">>=" | "s>>=") {
                    format!("{}", rng.below(64))
                } else {
                    src
                };
                if rng.below(2) == 0 {
                    let src = if src.starts_with('r') {
                        src.replace('r', "w")
                    } else {
                        src
                    };
                    let src = if matches!(op, "<<=" | ">>=" | "s>>=") {
                        format!("{}", rng.below(32))
                    } else {
                        src
                    };
                    s += &format!("w{d} {op} {src}\n");
                } else {
                    s += &format!("r{d} {op} {src}\n");
                }
            }
            4 => {
                let bits = rng.pick(&["8", "16", "32"]);
                s += &format!("r{d} = (s{bits})r{}\n", rng.below(6));
            }
            5..=7 => {
                let cond = rng.pick(&[">", ">=", "<", "<=", "s>", "s>=", "s<", "s<=", "==", "!="]);
                let (reg, src) = if rng.below(2) == 0 {
                    (
                        format!("w{d}"),
                        if src.starts_with('r') {
                            src.replace('r', "w")
                        } else {
                            src
                        },
                    )
                } else {
                    (format!("r{d}"), src)
                };
                label += 1;
                s += &format!("if {reg} {cond} {src} goto l{label}\n");
                // The fall-through does one more thing before the label.
                s += &format!("r{} &= {}\nl{label}:\n", rng.below(6), rng.below(64));
            }
            _ => {
                let slot = 8 * (1 + rng.below(3));
                s += &format!("*(u64 *)(r10 - {slot}) = r{d}\n");
                s += &format!("r{} = *(u64 *)(r10 - {slot})\n", rng.below(6));
            }
        }
    }
    let k = rng.below(6);
    s += &format!("r7 = r10\nr7 += -64\nr7 += r{k}\nr0 = *(u8 *)(r7 + 0)\nexit\n");
    s
}

/// The program with each sign-extending move `rD = (sN)rS` spelled as the
/// shift pair that computes the same value, or `None` when it has none.
fn movsx_as_shifts(asm: &str) -> Option<String> {
    let mut changed = false;
    let mut out = String::new();
    for line in asm.lines() {
        let parsed = line.split_once(" = (s").and_then(|(dst, rest)| {
            let (bits, src) = rest.split_once(')')?;
            Some((dst, bits.parse::<u32>().ok()?, src))
        });
        match parsed {
            Some((dst, bits, src)) => {
                let k = 64 - bits;
                out += &format!("{dst} = {src}\n{dst} <<= {k}\n{dst} s>>= {k}\n");
                changed = true;
            }
            None => out += &format!("{line}\n"),
        }
    }
    changed.then_some(out)
}

/// Why the kernel rejects a program oxbpf accepts, when a check confirms a
/// known kind: the kernel keeps no known bits through a sign-extending move
/// (movsx) whose source's low bits are known, where oxbpf sign-extends them.
/// Confirmed when the kernel accepts the same program with each movsx written
/// as the shift pair that computes the same value.
fn explain(asm: &str, maps: &[std::os::fd::OwnedFd]) -> Option<&'static str> {
    let shifted = movsx_as_shifts(asm)?;
    let case = acc("random_shifted", ProgramType::SocketFilter, shifted);
    kernel_verdict(&case, maps)
        .is_ok()
        .then_some("the kernel's movsx bounds drop known bits; with shifts it agrees")
}

#[test]
fn random_bounds_programs_against_the_kernel() {
    let test = "random_bounds_programs_against_the_kernel";
    if !privileged() {
        println!("skipped {test}: needs root (CAP_BPF) to load programs into the kernel");
        return;
    }
    let maps = match create_maps() {
        Ok(m) => m,
        Err(e) => {
            println!("skipped {test}: the kernel refused the corpus maps: {e}");
            return;
        }
    };
    let seed = std::env::var("OXBPF_RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0b9f_5eed_u64);
    let cases: usize = std::env::var("OXBPF_RANDOM_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let mut rng = Rng(seed | 1);
    let (mut both, mut neither, mut only_kernel, mut explained) = (0, 0, 0, 0);
    let mut unsound = Vec::new();
    for i in 0..cases {
        let asm = program(&mut rng);
        let case = acc(
            format!("random_{i}"),
            ProgramType::SocketFilter,
            asm.clone(),
        );
        let (ours, text) = judge(&case);
        let kernel = kernel_verdict(&case, &maps);
        match (ours == Expect::Accept, kernel.is_ok()) {
            (true, true) => both += 1,
            (false, false) => neither += 1,
            (false, true) => only_kernel += 1,
            (true, false) => match explain(&asm, &maps) {
                Some(_) => explained += 1,
                None => unsound.push(format!(
                    "random_{i}: oxbpf accepts, the kernel rejects:\n{asm}\nkernel: {}\noxbpf: {text}",
                    kernel.err().unwrap_or_default().lines().rev().take(3).collect::<Vec<_>>().join(" | ")
                )),
            },
        }
    }
    println!(
        "{cases} random programs (seed {seed:#x}): both accept {both}, both reject {neither}, \
         only the kernel accepts {only_kernel}, only oxbpf accepts {} ({explained} explained)",
        unsound.len() + explained
    );
    assert!(
        unsound.is_empty(),
        "{} programs oxbpf accepts and the kernel rejects:\n\n{}",
        unsound.len(),
        unsound.join("\n\n")
    );
}
