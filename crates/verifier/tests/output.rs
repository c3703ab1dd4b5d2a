//! What a rejection says: decoding errors with their place, kernel-style
//! instruction text, state, path, source line, hint; the log, JSON and DOT forms.

use oxbpf_object::{Object, ProgramType};
use oxbpf_verifier::{verify, verify_object, Input, Options, Reason};

fn raw(bytes: &[u8], ty: ProgramType) -> oxbpf_verifier::Report {
    let slots = oxbpf_verifier::slots(bytes).unwrap();
    verify(&Input::new(&slots, ty), &Options::default())
}

fn asm(text: &str, opts: &Options) -> oxbpf_verifier::Report {
    let insns = oxbpf_isa::assemble(text).unwrap();
    let slots = oxbpf_isa::raw_slots(&oxbpf_isa::encode_program(&insns)).unwrap();
    verify(&Input::new(&slots, ProgramType::Xdp), opts)
}

#[test]
fn undecodable_instructions_name_their_index() {
    for (bytes, index) in [
        // mov r0, 0 with a nonzero src field (reserved for BPF_K).
        (
            vec![0xb7, 0x10, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0],
            0,
        ),
        // exit with a nonzero imm.
        (
            vec![0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 1, 0, 0, 0],
            1,
        ),
        // An unknown opcode.
        (
            vec![0xb7, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0],
            1,
        ),
        // A truncated lddw.
        (vec![0x18, 0, 0, 0, 0, 0, 0, 0], 0),
    ] {
        let r = raw(&bytes, ProgramType::SocketFilter);
        let rej = r.rejection.expect("rejected");
        assert_eq!(rej.reason, Reason::Decode);
        assert_eq!(rej.insn, index);
        assert!(
            rej.message.contains(&format!("instruction {index}")),
            "{}",
            rej.message
        );
    }
    assert!(oxbpf_verifier::slots(&[0; 9]).is_err());
    assert_eq!(
        raw(&[], ProgramType::Xdp).rejection.unwrap().reason,
        Reason::Structure
    );
}

#[test]
fn a_rejection_carries_place_state_path_and_hint() {
    let r = asm(
        "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 8\nif r4 > r3 goto +1\nr0 = *(u64 *)(r2 + 4)\nr0 = 2\nexit",
        &Options::default(),
    );
    let rej = r.rejection.as_ref().unwrap();
    assert_eq!(rej.reason, Reason::PacketBounds);
    assert_eq!(rej.insn, 5);
    assert_eq!(rej.insn_text, "5: (79) r0 = *(u64 *)(r2 +4)");
    assert!(rej.message.contains("only 8 bytes"), "{}", rej.message);
    assert!(rej.hint.contains("data_end"), "{}", rej.hint);
    assert!(
        rej.state.iter().any(|s| s.starts_with("R2=pkt(r=8)")),
        "{:?}",
        rej.state
    );
    assert_eq!(rej.path, vec![(4, 5)]);
    let text = r.text();
    assert!(text.contains("rejected at instruction 5"), "{text}");
    let json: String = r.json();
    assert!(json.contains("\"reason\":\"packet_bounds\""), "{json}");
    assert!(json.contains("\"path\":[[4,5]]"), "{json}");
    let dot = r.dot();
    assert!(dot.contains("color=red"), "{dot}");
}

#[test]
fn null_hint_names_the_lookup() {
    let mut maps = vec![oxbpf_verifier::MapInfo::new("counts", 1, 4, 8, 8)];
    maps.truncate(1);
    let text = "*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = map_idx(0) ll\ncall bpf_map_lookup_elem\nr0 = *(u64 *)(r0 + 0)\nexit";
    let insns = oxbpf_isa::assemble(text).unwrap();
    let slots = oxbpf_isa::raw_slots(&oxbpf_isa::encode_program(&insns)).unwrap();
    let mut input = Input::new(&slots, ProgramType::Xdp);
    input.maps = &maps;
    let rej = verify(&input, &Options::default()).rejection.unwrap();
    assert_eq!(rej.reason, Reason::PossiblyNull);
    assert_eq!(rej.message, "R0 may be NULL here (map_value_or_null)");
    assert!(
        rej.hint.contains("check the result of bpf_map_lookup_elem"),
        "{}",
        rej.hint
    );
}

#[test]
fn source_lines_come_from_btf_line_info() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/elf/mixed_prog_array.o"
    );
    let obj = Object::parse(&std::fs::read(path).unwrap()).unwrap();
    let r = &verify_object(&obj, Some("xdp_caller"), &Options::default()).unwrap()[0];
    let src = r.rejection.as_ref().unwrap().source.as_deref().unwrap();
    assert!(src.starts_with("mixed_prog_array.c:"), "{src}");
    assert!(src.contains("bpf_tail_call(ctx, &jumps, 1)"), "{src}");
}

#[test]
fn the_full_log_shows_every_instruction_with_registers() {
    let opts = Options {
        log: true,
        ..Options::default()
    };
    let r = asm("r0 = 1\nr0 += 1\nexit", &opts);
    assert!(r.accepted());
    let log = r.log.unwrap();
    assert!(
        log.contains("0: (b7) r0 = 1\n    R0=1 R1=ctx() R10=fp()"),
        "{log}"
    );
    assert!(log.contains("1: (07) r0 += 1\n    R0=2"), "{log}");
    assert_eq!(r.stats.insns_processed, 3);
}
