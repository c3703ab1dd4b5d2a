//! A generator of random well-formed scripts over a fixed-seed xorshift.

/// A xorshift generator. `tp`: the script is a sched_switch tracepoint probe;
/// `det`: only builtins whose values are the same in the kernel and in the
/// runtime (no pid, time, cpu or comm).
pub struct Rng {
    pub state: u64,
    pub tp: bool,
    pub det: bool,
}

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

pub fn int_expr(r: &mut Rng, depth: u32) -> String {
    if depth == 0 {
        return match r.below(6) {
            0 => r.below(1000).to_string(),
            1 => format!("-{}", r.below(50)),
            2 if r.det => r.pick(&["$#", "$1", "7"]).to_string(),
            2 => r
                .pick(&["pid", "tid", "cpu", "nsecs", "elapsed", "uid", "$#"])
                .to_string(),
            3 => r.pick(&["$a", "$b"]).to_string(),
            4 => format!("@i[{}]", r.below(4)),
            5 if r.tp => r
                .pick(&["args->prev_pid", "args.prev_state", "args->next_prio"])
                .into(),
            _ => "@n".to_string(),
        };
    }
    let d = depth - 1;
    match r.below(7) {
        0 | 1 => format!(
            "({} {} {})",
            int_expr(r, d),
            r.pick(&[
                "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", "<=", ">",
                ">=", "&&", "||"
            ]),
            int_expr(r, d)
        ),
        2 => format!("{}({})", r.pick(&["!", "-", "~"]), int_expr(r, d)),
        3 => format!(
            "({} ? {} : {})",
            int_expr(r, d),
            int_expr(r, d),
            int_expr(r, d)
        ),
        4 => format!(
            "({} {} {})",
            str_expr(r, d),
            r.pick(&["==", "!="]),
            str_expr(r, d)
        ),
        5 => format!(
            "strncmp({}, {}, {})",
            str_expr(r, d),
            str_expr(r, d),
            r.below(70)
        ),
        _ => int_expr(r, 0),
    }
}

pub fn str_expr(r: &mut Rng, depth: u32) -> String {
    match r.below(if depth == 0 { 4 } else { 6 }) {
        0 => format!(
            "\"{}\"",
            r.pick(&[
                "",
                "a",
                "abc",
                "oxbpf",
                "a string longer than sixty-four bytes, which is cut at sixty-three"
            ])
        ),
        1 if r.det => "\"det\"".into(),
        1 => "comm".into(),
        2 => "probe".into(),
        3 if r.tp && r.below(2) == 0 => r.pick(&["args->prev_comm", "args.next_comm"]).into(),
        3 => "$s".into(),
        4 => format!("str({}, {})", str_expr(r, depth - 1), 1 + r.below(70)),
        _ => format!(
            "({} ? {} : {})",
            int_expr(r, depth - 1),
            str_expr(r, depth - 1),
            str_expr(r, depth - 1)
        ),
    }
}

pub fn stmt(r: &mut Rng, depth: u32, in_loop: bool) -> String {
    let e = 1 + r.below(3) as u32;
    match r.below(if depth == 0 { 9 } else { 13 }) {
        0 => format!("$a = {};", int_expr(r, e)),
        1 => format!(
            "$b {}= {};",
            r.pick(&["+", "-", "*", "|", "^"]),
            int_expr(r, e)
        ),
        2 => format!("$s = {};", str_expr(r, e)),
        3 => format!("@i[{}] = {};", r.below(4), int_expr(r, e)),
        4 => format!("@n {}", r.pick(&["++;", "--;", "+= 3;"])),
        5 => format!(
            "@agg_{0}[{1}] = {0}({2});",
            r.pick(&["sum", "min", "max", "avg", "stats", "hist"]),
            str_expr(r, 1),
            int_expr(r, e)
        ),
        6 => format!("@c[{}, {}] = count();", int_expr(r, 1), str_expr(r, 1)),
        7 => format!(
            "printf(\"%d %s %5u|%-4x\\n\", {}, {}, {}, {});",
            int_expr(r, e),
            str_expr(r, e),
            int_expr(r, 1),
            int_expr(r, 1)
        ),
        8 if in_loop => r.pick(&["break;", "continue;"]).into(),
        8 => format!("@l = lhist({}, 0, 100, 10);", int_expr(r, e)),
        9 => format!(
            "if ({}) {{ {} }} else {{ {} }}",
            int_expr(r, e),
            block(r, depth - 1, in_loop),
            block(r, depth - 1, in_loop)
        ),
        10 => format!(
            "unroll({}) {{ {} }}",
            1 + r.below(3),
            block(r, depth - 1, in_loop)
        ),
        11 => format!(
            "$k = 0; while ($k < {}) {{ $k++; {} }}",
            r.below(5),
            block(r, depth - 1, true)
        ),
        _ => format!("delete(@i[{}]);", r.below(4)),
    }
}

pub fn block(r: &mut Rng, depth: u32, in_loop: bool) -> String {
    (0..1 + r.below(3))
        .map(|_| stmt(r, depth, in_loop))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One random script with every variable and map set first, so that reads have a type.
pub fn script(r: &mut Rng) -> String {
    let probe = if r.tp {
        "t:sched:sched_switch"
    } else {
        "BEGIN"
    };
    format!(
        "{probe} {{ $a = 1; $b = 2; $s = \"x\"; $k = 0; @n = 0; @i[0] = 0; {} exit(); }}",
        block(r, 3, false)
    )
}
