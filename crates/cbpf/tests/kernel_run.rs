//! The interpreter against the running kernel: random valid classic programs
//! attached to an AF_PACKET socket on the loopback interface, and frames sent
//! through it. The kernel delivers a frame, cut to the filter's result, when
//! the result is not 0; the interpreter must give the same result. Needs root.
//!
//! Where libpcap and the kernel differ on purpose the programs avoid the
//! difference: no shifts by `X` (the kernel masks the amount, libpcap gives 0),
//! no ancillary loads, `ld [x + k]` only with `k < 2^31` (the kernel reads
//! larger ones as negative offsets into its special areas).

use std::time::{Duration, Instant};

mod common;

use oxbpf_cbpf::insn::{code, op::*};
use oxbpf_cbpf::interp;
use oxbpf_cbpf::Insn;
use oxbpf_kernel::packet_socket::PacketSocket;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// Our frames' ethertype (IEEE local experimental).
const ETHERTYPE: u16 = 0x88b5;

fn opcodes() -> Vec<u16> {
    (0..=0xffu16)
        .filter(|&c| code::is_known(c) && c != ALU | LSH | X && c != ALU | RSH | X)
        .collect()
}

fn insn() -> impl Strategy<Value = Insn> {
    let k = prop_oneof![
        6 => 0u32..80,
        1 => prop::sample::select(vec![0x800, 0x88b5, 0xffff, 0x7fff_ffff, 31]),
        1 => 0u32..0x8000_0000,
    ];
    (prop::sample::select(opcodes()), 0u8..5, 0u8..5, k).prop_map(|(code, jt, jf, k)| Insn {
        code,
        jt,
        jf,
        k,
    })
}

/// Random instructions made valid, ending in `ret`; a packet for them.
fn case() -> impl Strategy<Value = (Vec<Insn>, Vec<u8>)> {
    let ret = prop_oneof![Just(0u32), 1u32..100, Just(0xffff), Just(u32::MAX)];
    let body = prop::collection::vec(any::<u8>(), 0..80);
    (
        prop::collection::vec(insn(), 0..25),
        ret,
        any::<bool>(),
        body,
    )
        .prop_map(|(prog, ret, ret_a, body)| {
            let ret = if ret_a {
                Insn::stmt(RET | A, 0)
            } else {
                Insn::stmt(RET | K, ret)
            };
            let prog = common::make_valid(prog, ret);
            (prog, body)
        })
}

fn raw(prog: &[Insn]) -> Vec<(u16, u8, u8, u32)> {
    prog.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
}

/// Frames our run put on the loopback: destination and source MAC are the
/// nonce, so truncated copies can still be told apart from other traffic.
fn frame(nonce: u64, body: &[u8]) -> Vec<u8> {
    let mac = &nonce.to_be_bytes()[2..];
    let mut f = Vec::with_capacity(14 + body.len());
    f.extend(mac);
    f.extend(mac);
    f.extend(ETHERTYPE.to_be_bytes());
    f.extend(body);
    f
}

#[test]
fn interpreter_agrees_with_the_kernel() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { geteuid() } != 0 {
        println!("skipped interpreter_agrees_with_the_kernel: needs root (CAP_NET_RAW)");
        return;
    }
    // The sender takes nothing in; the witness sees every frame of ours.
    let sender = PacketSocket::open("lo", &[(0x06, 0, 0, 0)]).unwrap();
    let witness_filter = [
        (0x28, 0, 0, 12),
        (0x15, 0, 1, ETHERTYPE as u32),
        (0x06, 0, 0, 0xffff),
        (0x06, 0, 0, 0),
    ];
    let witness = PacketSocket::open("lo", &witness_filter).unwrap();
    witness.set_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut buf = vec![0u8; 4096];
    let (mut accepted, mut cut) = (0, 0);
    let cases = 800;
    for n in 0..cases {
        let (prog, body) = case().new_tree(&mut runner).unwrap().current();
        let nonce = 0x0200_0000_0000 | (std::process::id() as u64) << 16 | n as u64;
        let f = frame(nonce, &body);
        let want = interp::run(&prog, &f, f.len() as u32);
        let sock = PacketSocket::open("lo", &raw(&prog)).unwrap();
        sender.send(&f).unwrap();
        // Once the witness has both copies (leaving and arriving), so has `sock`.
        let mut copies = 0;
        let start = Instant::now();
        while copies < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "frame {n} never came back"
            );
            let r = witness.recv(&mut buf).unwrap();
            if r.caplen >= 12 && buf[..6] == f[..6] {
                copies += 1;
            }
        }
        let mut got = Vec::new();
        for attempt in 0..2 {
            while let Some(r) = sock.try_recv(&mut buf).unwrap() {
                let prefix = r.caplen.min(6);
                if buf[..prefix] == f[..prefix] {
                    got.push(r.wirelen);
                }
            }
            if got.len() == 2 * (want != 0) as usize || attempt == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let expect = if want == 0 {
            vec![]
        } else {
            vec![want.min(f.len() as u32); 2]
        };
        assert_eq!(got, expect, "case {n}: program {prog:?}\nframe {f:02x?}");
        if want != 0 {
            accepted += 1;
            if (want as usize) < f.len() {
                cut += 1;
            }
        }
    }
    println!("{cases} programs: {accepted} accepted their frame ({cut} cut short)");
    assert!(accepted > cases / 10 && accepted < cases * 9 / 10);
}

extern "C" {
    fn geteuid() -> u32;
}
