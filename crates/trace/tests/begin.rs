//! BEGIN/END scripts compiled, verified and run in oxbpf's runtime, against
//! the output bpftrace prints for the same scripts.

mod common;

use common::run;

#[test]
fn printf_and_scalar_maps() {
    let out = run(
        r#"BEGIN { printf("[%d] [%5d] [%-5d|] [%x] [%s] [%-8s|] [%c] [%lu] [%05d] [%u]\n", -5, 42, 42, 255, "hi", "ab", 65, 18446744073709551615, 42, -1); @a = 1; @b["x"] = 2; @b["y"] = 1; exit(); }"#,
    );
    assert_eq!(
        out,
        "[-5] [   42] [42   |] [ff] [hi] [ab      |] [A] [18446744073709551615] [00042] [4294967295]\n\n\n@a: 1\n@b[y]: 1\n@b[x]: 2\n"
    );
}

#[test]
fn arithmetic_and_control_flow() {
    let out = run(r#"BEGIN {
        $x = 7; $y = 3;
        printf("%d %d %d %d %d %d %d\n", $x + $y, $x - $y, $x * $y, $x / $y, $x % $y, $x << 2, -$x >> 1);
        printf("%d %d %d %d %d %d\n", $x > $y, $x == 7, $x != 7, !$x, $x && 0, $x || 0);
        $i = 0; $sum = 0;
        while ($i < 10) { $i++; if ($i == 3) { continue; } if ($i > 6) { break; } $sum += $i; }
        printf("sum %d i %d\n", $sum, $i);
        unroll(3) { $sum = $sum * 2; }
        if ($sum > 100) { printf("big\n"); } else if ($sum > 50) { printf("medium %d\n", $sum); } else { printf("small\n"); }
        printf("%s %d\n", $x > 5 ? "yes" : "no", $x > 5 ? 10 : 20);
        exit();
    }"#);
    assert_eq!(
        out,
        "10 4 21 2 1 28 -4\n1 1 0 0 0 1\nsum 18 i 7\nbig\nyes 10\n\n\n"
    );
}

#[test]
fn aggregations_print_like_bpftrace() {
    let out = run(
        "BEGIN { @x[1,2] = max(3); @x[2,1] = max(1); @m = min(-3); @q = -5; @n[\"a\"] = stats(-4); @c = count(); @c = count(); @s = sum(5); @s = sum(7); @v = avg(3); @v = avg(4); exit(); }",
    );
    assert_eq!(
        out,
        "\n\n@c: 2\n@m: -3\n@n[a]: count 1, average -4, total -4\n\n@q: -5\n@s: 12\n@v: 3\n\n@x[2, 1]: 1\n@x[1, 2]: 3\n"
    );
}

#[test]
fn hist_and_lhist_tables() {
    let out = run("BEGIN { @h = hist(5); @h = hist(0); @h = hist(-1); @h = hist(1500); @l = lhist(5, 0, 100, 10); @l = lhist(150, 0, 100, 10); @l = lhist(-3, 0, 100, 10); exit(); }");
    let bar = "@".repeat(52);
    let empty = " ".repeat(52);
    let mut want = String::from("\n\n@h: \n");
    want += &format!("(..., 0)               1 |{bar}|\n[0]                    1 |{bar}|\n[1]                    0 |{empty}|\n");
    for l in [
        "[2, 4)",
        "[4, 8)",
        "[8, 16)",
        "[16, 32)",
        "[32, 64)",
        "[64, 128)",
        "[128, 256)",
        "[256, 512)",
        "[512, 1K)",
        "[1K, 2K)",
    ] {
        let c = if l == "[4, 8)" || l == "[1K, 2K)" {
            1
        } else {
            0
        };
        want += &format!("{l:<16}{c:>8} |{}|\n", if c == 1 { &bar } else { &empty });
    }
    want += "\n@l: \n";
    want += &format!("(..., 0)               1 |{bar}|\n[0, 10)                1 |{bar}|\n");
    for lo in (10..100).step_by(10) {
        want += &format!("{:<16}       0 |{empty}|\n", format!("[{lo}, {})", lo + 10));
    }
    want += &format!("[100, ...)             1 |{bar}|\n\n");
    assert_eq!(out, want);
}

#[test]
fn keyed_hists_sort_by_total_and_bars_scale() {
    let out = run("BEGIN { @h[5] = hist(1); @h[1] = hist(1); @h[1] = hist(1); @h[3] = hist(1); @h[3] = hist(1); @h[3] = hist(1); @h[3] = hist(2); exit(); }");
    let bar = |n: usize| format!("{}{}", "@".repeat(n), " ".repeat(52 - n));
    assert_eq!(
        out,
        format!(
            "\n\n@h[5]: \n[1]                    1 |{}|\n\n@h[1]: \n[1]                    2 |{}|\n\n@h[3]: \n[1]                    3 |{}|\n[2, 4)                 1 |{}|\n\n",
            bar(52), bar(52), bar(52), bar(17)
        )
    );
}

#[test]
fn print_clear_zero_delete() {
    let out = run("BEGIN { @y = 1; print(@y); @h = hist(3); print(@h); @s = stats(4); print(@s); printf(\"after\\n\"); @c[1] = count(); @c[2] = count(); delete(@c[1]); @z = count(); zero(@z); @e[1] = sum(3); clear(@e); print(5); print(\"str\"); exit(); }");
    let bar = "@".repeat(52);
    assert_eq!(
        out,
        format!("@y: 1\n@h: \n[2, 4)                 1 |{bar}|\n\n@s: count 1, average 4, total 4\n\nafter\n5\nstr\n\n\n@c[2]: 1\n\n@h: \n[2, 4)                 1 |{bar}|\n\n@s: count 1, average 4, total 4\n\n@y: 1\n@z: 0\n")
    );
}

#[test]
fn strings_compare_and_builtins() {
    let out = run(
        r#"BEGIN { $s = "abc"; if ($s == "abc") { printf("eq\n"); } if ($s != "abd") { printf("ne\n"); } printf("%d %d %s|%s\n", strncmp($s, "abx", 2), strncmp($s, "abx", 3), str($s, 3), probe); @[comm] = count(); exit(); }"#,
    );
    assert!(out.starts_with("eq\nne\n0 1 ab|BEGIN\n"), "{out}");
    assert!(out.contains("\n@["), "{out}");
}

#[test]
fn exit_stops_the_probe_and_end_runs() {
    let out = run(
        r#"BEGIN { printf("one\n"); exit(); printf("never\n"); } END { printf("end %d\n", 1); }"#,
    );
    assert_eq!(out, "one\nend 1\n\n\n");
}

#[test]
fn positional_parameters() {
    let c = common::build(
        r#"BEGIN { printf("%d %s %d\n", $1 + 1, $2, $#); exit(); }"#,
        &["41", "word"],
        &oxbpf_trace::NoTracefs,
    );
    assert_eq!(common::run_with(&c, |_, _, _| {}), "42 word 2\n\n\n");
}

#[test]
fn elapsed_counts_from_the_start() {
    // The runtime's clock starts near 1e9 ns; elapsed must be far below it.
    let out =
        run(r#"BEGIN { printf("%d %d\n", elapsed < 1000000000, nsecs > 1000000000); exit(); }"#);
    assert_eq!(out, "1 1\n\n\n");
}

#[test]
fn maps_read_before_assignment_count_from_zero() {
    let out = run(
        r#"BEGIN { if (@x < 1) { printf("unset %d\n", @x); } @x = @x + 1; @x++; @y[1] += 5; @y[1] -= 1; printf("%d %d %d\n", @x, @y[1], @y[2]); exit(); }"#,
    );
    assert_eq!(out, "unset 0\n2 4 0\n\n\n@x: 2\n@y[1]: 4\n");
}

#[test]
fn hist_edges_at_the_top_of_the_range() {
    let out = run("BEGIN { @h = hist(9223372036854775807); @h = hist(4611686018427387904); @l = lhist(2048, 0, 4096, 1024); @l = lhist(5000, 0, 4096, 1024); exit(); }");
    let bar = "@".repeat(52);
    let empty = " ".repeat(52);
    assert_eq!(
        out,
        format!("\n\n@h: \n[4E, 8E)               2 |{bar}|\n\n@l: \n[2K, 3K)               1 |{bar}|\n[3K, 4K)               0 |{empty}|\n[4K, ...)              1 |{bar}|\n\n")
    );
}
