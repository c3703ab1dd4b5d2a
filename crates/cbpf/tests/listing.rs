//! The listings against libpcap and tcpdump (goldens made by
//! tests/goldens/make_goldens.sh).

use std::fs;
use std::path::Path;

use oxbpf_cbpf::listing::{dump_d, dump_dd, dump_ddd, image, parse_dd, parse_ddd};
use oxbpf_cbpf::Insn;

fn goldens() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/goldens"))
}

#[test]
fn image_matches_libpcap_for_every_opcode() {
    let text = fs::read_to_string(goldens().join("bpf_image_all.txt")).unwrap();
    let mut checked = 0;
    for line in text.lines() {
        let (fields, want) = line.split_once('\t').unwrap();
        let f: Vec<u64> = fields.split(' ').map(|w| w.parse().unwrap()).collect();
        let insn = Insn {
            code: f[1] as u16,
            jt: f[2] as u8,
            jf: f[3] as u8,
            k: f[4] as u32,
        };
        assert_eq!(image(&insn, f[0] as usize), want, "{fields}");
        checked += 1;
    }
    assert_eq!(checked, 256 * 10 + 6 * 37);
}

#[test]
fn listings_match_tcpdump() {
    let index = fs::read_to_string(goldens().join("tcpdump/index.txt")).unwrap();
    let mut checked = 0;
    for line in index.lines() {
        let mut parts = line.splitn(3, '|');
        let base = parts.next().unwrap();
        let expr = parts.nth(1).unwrap();
        let read = |ext: &str| fs::read_to_string(goldens().join(format!("{base}.{ext}"))).unwrap();
        let prog = parse_ddd(&read("ddd")).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert!(!prog.is_empty(), "{expr}: tcpdump gave no program");
        assert_eq!(dump_d(&prog), read("d"), "-d of {expr}");
        assert_eq!(dump_dd(&prog), read("dd"), "-dd of {expr}");
        assert_eq!(dump_ddd(&prog), read("ddd"), "-ddd of {expr}");
        assert_eq!(parse_dd(&read("dd")).unwrap(), prog, "-dd parse of {expr}");
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} tcpdump goldens");
}

#[test]
fn ddd_parse_errors_name_the_place() {
    for (text, want) in [
        (
            "",
            "line 1, column 1: empty listing: expected the instruction count",
        ),
        ("x\n", "line 1, column 1: expected the instruction count"),
        ("1\n6 0 0\n", "line 2, column 6: missing field `k`"),
        (
            "1\n6 0 0 0 9\n",
            "line 2, column 9: unexpected `9` after the four fields",
        ),
        (
            "1\n6 0 256 0\n",
            "line 2, column 5: `256` is not a valid `jf` (a decimal number up to 255)",
        ),
        (
            "1\n70000 0 0 0\n",
            "line 2, column 1: `70000` is not a valid `code` (a decimal number up to 65535)",
        ),
        (
            "1\n6 0 0 4294967296\n",
            "line 2, column 7: `4294967296` is not a valid `k` (a decimal number up to 4294967295)",
        ),
        (
            "2\n6 0 0 0\n",
            "line 1, column 1: the count says 2 instructions but 1 follow",
        ),
        (
            "2,6 0 0 1,6 0 0 x",
            "line 1, column 17: `x` is not a valid `k` (a decimal number up to 4294967295)",
        ),
    ] {
        assert_eq!(parse_ddd(text).unwrap_err().to_string(), want, "{text:?}");
    }
    // iptables' comma form.
    let prog = parse_ddd("2,40 0 0 12,6 0 0 0").unwrap();
    assert_eq!(prog, vec![Insn::stmt(0x28, 12), Insn::stmt(6, 0)]);
}

#[test]
fn dd_parse_errors_name_the_place() {
    for (text, want) in [
        (
            "{ 0x28, 0, 0 },",
            "line 1, column 2: expected four fields: code, jt, jf, k",
        ),
        ("nope", "line 1, column 1: expected `{ code, jt, jf, k },`"),
        (
            "{ 0x28, 0, 0, 0x0000000c },\n{ 0x6, zz, 0, 0 },",
            "line 2, column 8: `zz` is not a number up to 255",
        ),
    ] {
        assert_eq!(parse_dd(text).unwrap_err().to_string(), want, "{text:?}");
    }
}

#[test]
fn dd_and_ddd_match_libpcap_for_every_opcode() {
    let dd = fs::read_to_string(goldens().join("bpf_dump_all.dd")).unwrap();
    let ddd = fs::read_to_string(goldens().join("bpf_dump_all.ddd")).unwrap();
    let prog = parse_ddd(&ddd).unwrap();
    assert_eq!(prog.len(), 256);
    assert_eq!(
        prog[0x95],
        Insn::jump(0x95, prog[0x95].k, 0x95 % 7, 255 - 0x95)
    );
    assert_eq!(dump_ddd(&prog), ddd);
    assert_eq!(dump_dd(&prog), dd);
    assert_eq!(parse_dd(&dd).unwrap(), prog);
}
