//! The checker against the running kernel's: random programs, valid and
//! not, attached as socket filters with SO_ATTACH_FILTER (which needs no
//! privileges); `check` must accept exactly what the kernel accepts.

use oxbpf_cbpf::check::{check, SKF_AD_OFF};
use oxbpf_cbpf::insn::code;
use oxbpf_cbpf::Insn;
use oxbpf_kernel::packet_socket::kernel_accepts;
use proptest::prelude::*;

fn opcode() -> impl Strategy<Value = u16> {
    let known: Vec<u16> = (0..=0xffu16).filter(|&c| code::is_known(c)).collect();
    prop_oneof![
        8 => prop::sample::select(known),
        1 => any::<u8>().prop_map(u16::from),
        1 => any::<u16>(),
    ]
}

fn k_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..20,
        1 => 28u32..36,
        1 => (0u32..80).prop_map(|n| SKF_AD_OFF.wrapping_add(n)),
        1 => any::<u32>(),
    ]
}

fn insn() -> impl Strategy<Value = Insn> {
    (opcode(), 0u8..4, 0u8..4, k_value()).prop_map(|(code, jt, jf, k)| Insn { code, jt, jf, k })
}

fn program() -> impl Strategy<Value = Vec<Insn>> {
    (prop::collection::vec(insn(), 0..12), any::<bool>()).prop_map(|(mut p, ret)| {
        // Often end in a return, so that the other rules get exercised.
        if ret {
            p.push(Insn::stmt(0x06, 0xffff));
        }
        p
    })
}

/// The kernel's verdict; `None` for an empty program where it cannot be
/// asked (qemu-user fails to copy an empty filter in, with ENOMEM or EFAULT,
/// before the kernel sees it).
fn kernel(prog: &[Insn]) -> Option<bool> {
    if prog.is_empty() && !empty_reaches_the_kernel() {
        return None;
    }
    let raw: Vec<(u16, u8, u8, u32)> = prog.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
    Some(kernel_accepts(&raw).expect("setsockopt failed other than with EINVAL"))
}

/// Whether an empty filter reaches the kernel (which answers EINVAL).
fn empty_reaches_the_kernel() -> bool {
    static REACHES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REACHES.get_or_init(|| match kernel_accepts(&[]) {
        Ok(_) => true,
        Err(e) => {
            println!("skipped empty programs: they do not reach the kernel here: {e}");
            false
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn checker_agrees_with_the_kernel(prog in program()) {
        let ours = check(&prog);
        if let Some(k) = kernel(&prog) {
            prop_assert_eq!(ours.is_ok(), k, "ours: {:?}", ours);
        }
    }
}

#[test]
fn long_programs() {
    for len in [4096, 4097] {
        let prog = vec![Insn::stmt(0x06, 0); len];
        assert_eq!(
            check(&prog).is_ok(),
            kernel(&prog).unwrap(),
            "{len} instructions"
        );
    }
}

#[test]
fn both_answers_are_exercised() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut yes, mut no) = (0, 0);
    for _ in 0..3000 {
        let prog = program().new_tree(&mut runner).unwrap().current();
        let Some(k) = kernel(&prog) else { continue };
        assert_eq!(check(&prog).is_ok(), k, "{prog:?}");
        if k {
            yes += 1;
        } else {
            no += 1;
        }
    }
    println!("{yes} accepted, {no} rejected");
    assert!(yes > 300 && no > 300, "{yes} accepted, {no} rejected");
}
