//! The eBPF translation on oxbpf's VM against the classic interpreter, over
//! random valid classic programs and random packets.

mod common;

use oxbpf_cbpf::insn::{code, op::*};
use oxbpf_cbpf::interp;
use oxbpf_cbpf::listing::parse_ddd;
use oxbpf_cbpf::to_ebpf::EbpfFilter;
use oxbpf_cbpf::Insn;
use proptest::prelude::*;

/// Every opcode the checker admits.
fn opcodes() -> Vec<u16> {
    (0..=0xffu16).filter(|&c| code::is_known(c)).collect()
}

fn k_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..64,
        1 => any::<u32>(),
        1 => prop::sample::select(vec![0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 31, 32, 33, 0x800]),
    ]
}

fn raw_insn() -> impl Strategy<Value = Insn> {
    (prop::sample::select(opcodes()), 0u8..6, 0u8..6, k_value())
        .prop_map(|(code, jt, jf, k)| Insn { code, jt, jf, k })
}

fn program() -> impl Strategy<Value = Vec<Insn>> {
    (prop::collection::vec(raw_insn(), 0..40), any::<bool>()).prop_map(|(p, ret_a)| {
        let ret = Insn::stmt(if ret_a { RET | A } else { RET | K }, 0x1234);
        common::make_valid(p, ret)
    })
}

fn packet() -> impl Strategy<Value = (Vec<u8>, u32)> {
    prop::collection::vec(any::<u8>(), 0..96).prop_flat_map(|p| {
        let len = p.len() as u32;
        (
            Just(p),
            prop_oneof![Just(len), len..len + 1500, any::<u32>()],
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn translation_agrees_with_interpreter(prog in program(), packets in prop::collection::vec(packet(), 1..6)) {
        let mut vm = EbpfFilter::new(&prog).expect("a checked program translates and loads");
        #[cfg(target_arch = "x86_64")]
        let mut jit = oxbpf_cbpf::to_ebpf::JitFilter::new(&prog).expect("and compiles");
        for (pkt, wirelen) in &packets {
            let want = interp::try_run(&prog, pkt, *wirelen).expect("checked programs run");
            prop_assert_eq!(vm.run(pkt, *wirelen), want, "VM: packet {:02x?} wirelen {}", pkt, wirelen);
            #[cfg(target_arch = "x86_64")]
            prop_assert_eq!(jit.run(pkt, *wirelen), want, "JIT: packet {:02x?} wirelen {}", pkt, wirelen);
        }
    }
}

#[test]
fn tcpdump_programs_agree_on_real_frames() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/goldens/tcpdump");
    // An Ethernet/IPv4/TCP SYN to port 80, then its bytes rotated to make others.
    let mut frame = vec![
        0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0x66, 0x77, 0x88, 0x99, 0xaa, 0x08,
        0x00, // ethernet
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // ipv4
        0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0, // tcp
    ];
    let mut agreed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ddd") {
            continue;
        }
        let prog = parse_ddd(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut vm = EbpfFilter::new(&prog).unwrap();
        #[cfg(target_arch = "x86_64")]
        let mut jit = oxbpf_cbpf::to_ebpf::JitFilter::new(&prog).unwrap();
        for shift in 0..frame.len() {
            frame.rotate_left(1);
            for cut in [frame.len(), 20, 37] {
                let pkt = &frame[..cut];
                let wirelen = 54 + shift as u32 * 40;
                let want = interp::run(&prog, pkt, wirelen);
                assert_eq!(vm.run(pkt, wirelen), want, "{}", path.display());
                #[cfg(target_arch = "x86_64")]
                assert_eq!(jit.run(pkt, wirelen), want, "JIT {}", path.display());
                agreed += 1;
            }
        }
    }
    assert!(agreed > 1000);
}

#[test]
fn translation_follows_the_kernel_layout() {
    use oxbpf_cbpf::to_ebpf::to_ebpf;
    // tcpdump -ddd 'ip' : ldh [12]; jeq #0x800 jt 2 jf 3; ret #262144; ret #0
    let prog = parse_ddd("4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n").unwrap();
    let bytes = oxbpf_isa::encode_program(&to_ebpf(&prog).unwrap());
    let text = oxbpf_isa::disassemble(&bytes, oxbpf_isa::Syntax::Llvm).unwrap();
    for want in ["w0 ^= w0", "w7 ^= w7", "r6 = r1", "r9 = r2", "exit"] {
        assert!(text.contains(want), "{want} missing from\n{text}");
    }
    // A rejected program is not translated.
    assert!(to_ebpf(&[Insn::stmt(LD | IMM, 0)]).is_err());
}
