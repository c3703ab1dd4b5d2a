//! A recursive-descent parser from tokens to [`crate::ast`]. Nesting is
//! bounded, so hostile input cannot exhaust the host's stack.

use crate::ast::*;
use crate::error::{Span, TraceError};
use crate::lexer::{Lexer, Tok, Token};

/// How deeply expressions and blocks may nest.
const MAX_DEPTH: usize = 64;

/// Parses a whole script.
pub fn parse(src: &str) -> Result<Script, TraceError> {
    let mut p = Parser {
        lex: Lexer::new(src),
        peeked: None,
        depth: 0,
    };
    let mut probes = Vec::new();
    loop {
        if p.peek()?.tok == Tok::Eof {
            break;
        }
        probes.push(p.probe_block()?);
    }
    if probes.is_empty() {
        return Err(TraceError::Parse {
            span: Span::new(1, 1, 1),
            expected: "a probe block such as `BEGIN { ... }`".into(),
            found: "an empty script".into(),
        });
    }
    Ok(Script { probes })
}

struct Parser<'s> {
    lex: Lexer<'s>,
    peeked: Option<Token>,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&Token, TraceError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("set above"))
    }

    fn next(&mut self) -> Result<Token, TraceError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex.next_token(),
        }
    }

    fn is_punct(&mut self, p: &str) -> Result<bool, TraceError> {
        Ok(matches!(self.peek()?.tok, Tok::Punct(q) if q == p))
    }

    fn eat(&mut self, p: &str) -> Result<bool, TraceError> {
        if self.is_punct(p)? {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect(&mut self, p: &str) -> Result<Span, TraceError> {
        let t = self.next()?;
        match t.tok {
            Tok::Punct(q) if q == p => Ok(t.span),
            other => Err(TraceError::Parse {
                span: t.span,
                expected: format!("`{p}`"),
                found: other.describe(),
            }),
        }
    }

    fn enter(&mut self, span: Span) -> Result<(), TraceError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(TraceError::Unsupported {
                span,
                what: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        Ok(())
    }

    fn probe_block(&mut self) -> Result<ProbeBlock, TraceError> {
        if let Some(t) = self.peeked.take() {
            self.lex.rewind(&t);
        }
        let mut attach = Vec::new();
        loop {
            let t = self.lex.probe_spec()?;
            let Tok::Ident(text) = t.tok else {
                unreachable!("probe_spec returns an identifier")
            };
            attach.push((text, t.span));
            if self.eat(",")? {
                if let Some(t) = self.peeked.take() {
                    self.lex.rewind(&t);
                }
                continue;
            }
            break;
        }
        let span = attach[0].1;
        let predicate = if self.is_punct("/")? {
            self.next()?;
            let e = self.expr_bp(0, true)?;
            self.expect("/")?;
            Some(e)
        } else {
            None
        };
        let body = self.block()?;
        Ok(ProbeBlock {
            attach,
            predicate,
            body,
            span,
        })
    }

    fn block(&mut self) -> Result<Vec<Stmt>, TraceError> {
        let open = self.expect("{")?;
        self.enter(open)?;
        let mut out = Vec::new();
        loop {
            if self.eat("}")? {
                break;
            }
            if self.eat(";")? {
                continue;
            }
            let s = self.stmt()?;
            let block_like = matches!(
                s.kind,
                StmtKind::If { .. } | StmtKind::Unroll { .. } | StmtKind::While { .. }
            );
            out.push(s);
            if !block_like && !self.is_punct("}")? {
                if self.is_punct("=")? {
                    let t = self.next()?;
                    return Err(TraceError::Parse {
                        span: t.span,
                        expected: "`;` (assign to a variable `$x` or a map `@x`)".into(),
                        found: t.tok.describe(),
                    });
                }
                self.expect(";")?;
            }
        }
        self.depth -= 1;
        Ok(out)
    }

    fn stmt(&mut self) -> Result<Stmt, TraceError> {
        let t = self.peek()?.clone();
        match &t.tok {
            Tok::Ident(k) if k == "if" => {
                self.next()?;
                self.if_rest(t.span)
            }
            Tok::Ident(k) if k == "unroll" => {
                self.next()?;
                self.expect("(")?;
                let n = self.next()?;
                let Tok::Int(count) = n.tok else {
                    return Err(TraceError::Parse {
                        span: n.span,
                        expected: "a constant loop count".into(),
                        found: n.tok.describe(),
                    });
                };
                if !(1..=100).contains(&count) {
                    return Err(TraceError::BadCall {
                        span: n.span,
                        message: format!("unroll count must be between 1 and 100, not {count}"),
                    });
                }
                self.expect(")")?;
                let body = self.block()?;
                Ok(Stmt {
                    kind: StmtKind::Unroll { count, body },
                    span: t.span,
                })
            }
            Tok::Ident(k) if k == "while" => {
                self.next()?;
                self.expect("(")?;
                let cond = self.expr()?;
                self.expect(")")?;
                let body = self.block()?;
                Ok(Stmt {
                    kind: StmtKind::While { cond, body },
                    span: t.span,
                })
            }
            Tok::Ident(k) if k == "break" || k == "continue" || k == "return" => {
                self.next()?;
                let kind = match k.as_str() {
                    "break" => StmtKind::Break,
                    "continue" => StmtKind::Continue,
                    _ => StmtKind::Return,
                };
                Ok(Stmt { kind, span: t.span })
            }
            Tok::Var(name) => {
                let name = name.clone();
                self.next()?;
                let (op, value) = self.assignment(t.span, true)?;
                Ok(Stmt {
                    kind: StmtKind::AssignVar { name, op, value },
                    span: t.span,
                })
            }
            Tok::Map(_) => {
                // `@m[k] = ...` or `@m++`; anything else is an expression statement.
                let e = self.expr()?;
                let ExprKind::Map(map) = e.kind else {
                    return Ok(Stmt {
                        span: e.span,
                        kind: StmtKind::Expr(e),
                    });
                };
                let (op, value) = self.assignment(t.span, false)?;
                Ok(Stmt {
                    span: map.span,
                    kind: StmtKind::AssignMap { map, op, value },
                })
            }
            _ => {
                let e = self.expr()?;
                Ok(Stmt {
                    span: e.span,
                    kind: StmtKind::Expr(e),
                })
            }
        }
    }

    /// After the target: `= e`, `op= e`, `++` or `--`.
    fn assignment(&mut self, target: Span, var: bool) -> Result<(Option<BinOp>, Expr), TraceError> {
        let t = self.next()?;
        let one = Expr {
            kind: ExprKind::Int(1),
            span: t.span,
        };
        let op = match t.tok {
            Tok::Punct("=") => None,
            Tok::Punct("++") => return Ok((Some(BinOp::Add), one)),
            Tok::Punct("--") => return Ok((Some(BinOp::Sub), one)),
            Tok::Punct(p)
                if p.len() >= 2 && p.ends_with('=') && !matches!(p, "==" | "!=" | "<=" | ">=") =>
            {
                Some(binop(&p[..p.len() - 1]).expect("compound operators are binary operators"))
            }
            other => {
                return Err(TraceError::Parse {
                    span: t.span,
                    expected: if var {
                        format!("`=` after the variable at {target}")
                    } else {
                        "`=`, `++` or an operator such as `+=` after the map".into()
                    },
                    found: other.describe(),
                })
            }
        };
        Ok((op, self.expr()?))
    }

    fn if_rest(&mut self, span: Span) -> Result<Stmt, TraceError> {
        self.expect("(")?;
        let cond = self.expr()?;
        self.expect(")")?;
        let then = self.block()?;
        let els = if matches!(&self.peek()?.tok, Tok::Ident(k) if k == "else") {
            self.next()?;
            let t = self.peek()?.clone();
            if matches!(&t.tok, Tok::Ident(k) if k == "if") {
                self.next()?;
                self.enter(t.span)?;
                let s = self.if_rest(t.span)?;
                self.depth -= 1;
                vec![s]
            } else {
                self.block()?
            }
        } else {
            Vec::new()
        };
        Ok(Stmt {
            kind: StmtKind::If { cond, then, els },
            span,
        })
    }

    fn expr(&mut self) -> Result<Expr, TraceError> {
        self.expr_bp(0, false)
    }

    /// Precedence climbing; `in_pred`: a `/` ends the expression (a predicate's end).
    fn expr_bp(&mut self, min: u8, in_pred: bool) -> Result<Expr, TraceError> {
        let start = self.peek()?.span;
        self.enter(start)?;
        let mut lhs = self.unary(in_pred)?;
        loop {
            let t = self.peek()?.clone();
            let Tok::Punct(p) = t.tok else { break };
            if p == "?" {
                if min > 1 {
                    break;
                }
                self.next()?;
                let a = self.expr_bp(0, in_pred)?;
                self.expect(":")?;
                let b = self.expr_bp(1, in_pred)?;
                let span = lhs.span.to(b.span);
                lhs = Expr {
                    kind: ExprKind::Ternary(Box::new(lhs), Box::new(a), Box::new(b)),
                    span,
                };
                continue;
            }
            if in_pred && p == "/" {
                break;
            }
            let Some(op) = binop(p) else { break };
            let prec = precedence(op);
            if prec < min {
                break;
            }
            self.next()?;
            let rhs = self.expr_bp(prec + 1, in_pred)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn unary(&mut self, in_pred: bool) -> Result<Expr, TraceError> {
        let t = self.peek()?.clone();
        let op = match t.tok {
            Tok::Punct("!") => Some(UnOp::Not),
            Tok::Punct("-") => Some(UnOp::Neg),
            Tok::Punct("~") => Some(UnOp::BitNot),
            _ => None,
        };
        if let Some(op) = op {
            self.next()?;
            self.enter(t.span)?;
            let e = self.unary(in_pred)?;
            self.depth -= 1;
            let span = t.span.to(e.span);
            return Ok(Expr {
                kind: ExprKind::Unary(op, Box::new(e)),
                span,
            });
        }
        let mut e = self.primary(in_pred)?;
        loop {
            if self.is_punct("->")? || self.is_punct(".")? {
                self.next()?;
                let f = self.next()?;
                let Tok::Ident(name) = f.tok else {
                    return Err(TraceError::Parse {
                        span: f.span,
                        expected: "a field name".into(),
                        found: f.tok.describe(),
                    });
                };
                let span = e.span.to(f.span);
                e = Expr {
                    kind: ExprKind::Field(Box::new(e), name),
                    span,
                };
            } else {
                break;
            }
        }
        Ok(e)
    }

    fn primary(&mut self, in_pred: bool) -> Result<Expr, TraceError> {
        let t = self.next()?;
        let span = t.span;
        let kind = match t.tok {
            Tok::Int(n) => ExprKind::Int(n),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Var(v) => ExprKind::Var(v),
            Tok::Positional(n) => ExprKind::Positional(n),
            Tok::PosCount => ExprKind::PosCount,
            Tok::Punct("(") => {
                let e = self.expr_bp(0, false)?;
                self.expect(")")?;
                return Ok(e);
            }
            Tok::Map(name) => {
                let mut keys = Vec::new();
                let mut end = span;
                if self.eat("[")? {
                    loop {
                        keys.push(self.expr_bp(0, false)?);
                        if self.eat(",")? {
                            continue;
                        }
                        end = self.expect("]")?;
                        break;
                    }
                }
                let span = span.to(end);
                ExprKind::Map(MapRef { name, keys, span })
            }
            Tok::Ident(name) => {
                if self.is_punct("(")? {
                    self.next()?;
                    let mut args = Vec::new();
                    let end;
                    if self.is_punct(")")? {
                        end = self.expect(")")?;
                    } else {
                        loop {
                            args.push(self.expr_bp(0, false)?);
                            if self.eat(",")? {
                                continue;
                            }
                            end = self.expect(")")?;
                            break;
                        }
                    }
                    return Ok(Expr {
                        kind: ExprKind::Call(name, args),
                        span: span.to(end),
                    });
                }
                ExprKind::Builtin(name)
            }
            other => {
                return Err(TraceError::Parse {
                    span,
                    expected: "an expression".into(),
                    found: other.describe(),
                })
            }
        };
        let _ = in_pred;
        Ok(Expr { kind, span })
    }
}

fn binop(p: &str) -> Option<BinOp> {
    use BinOp::*;
    Some(match p {
        "+" => Add,
        "-" => Sub,
        "*" => Mul,
        "/" => Div,
        "%" => Mod,
        "&" => And,
        "|" => Or,
        "^" => Xor,
        "<<" => Shl,
        ">>" => Shr,
        "==" => Eq,
        "!=" => Ne,
        "<" => Lt,
        "<=" => Le,
        ">" => Gt,
        ">=" => Ge,
        "&&" => LogAnd,
        "||" => LogOr,
        _ => return None,
    })
}

/// C's precedence, higher binds tighter (the ternary is 1).
fn precedence(op: BinOp) -> u8 {
    use BinOp::*;
    match op {
        LogOr => 2,
        LogAnd => 3,
        Or => 4,
        Xor => 5,
        And => 6,
        Eq | Ne => 7,
        Lt | Le | Gt | Ge => 8,
        Shl | Shr => 9,
        Add | Sub => 10,
        Mul | Div | Mod => 11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An expression as an S-expression.
    fn sx(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(n) => n.to_string(),
            ExprKind::Str(s) => format!("{s:?}"),
            ExprKind::Builtin(b) => b.clone(),
            ExprKind::Var(v) => format!("${v}"),
            ExprKind::Positional(n) => format!("${n}"),
            ExprKind::PosCount => "$#".into(),
            ExprKind::Map(m) => format!(
                "@{}[{}]",
                m.name,
                m.keys.iter().map(sx).collect::<Vec<_>>().join(" ")
            ),
            ExprKind::Binary(op, l, r) => format!("({} {} {})", op.text(), sx(l), sx(r)),
            ExprKind::Unary(op, x) => format!("({op:?} {})", sx(x)),
            ExprKind::Ternary(c, a, b) => format!("(? {} {} {})", sx(c), sx(a), sx(b)),
            ExprKind::Call(f, args) => {
                format!(
                    "({f} {})",
                    args.iter().map(sx).collect::<Vec<_>>().join(" ")
                )
            }
            ExprKind::Field(b, f) => format!("{}->{f}", sx(b)),
        }
    }

    #[test]
    fn precedence_and_associativity_are_cs() {
        for (src, want) in [
            ("1 + 2 * 3", "(+ 1 (* 2 3))"),
            ("1 - 2 - 3", "(- (- 1 2) 3)"),
            (
                "a == 1 && b < 2 || !c",
                "(|| (&& (== a 1) (< b 2)) (Not c))",
            ),
            ("1 << 2 + 3 & 4 | 5 ^ 6", "(| (& (<< 1 (+ 2 3)) 4) (^ 5 6))"),
            ("x ? y : z ? 1 : 2", "(? x y (? z 1 2))"),
            ("-a->b * ~2", "(* (Neg args->b) (BitNot 2))"),
            ("@m[pid, comm] / $x % $1", "(% (/ @m[pid comm] $x) $1)"),
            (
                "str(args.filename, 8) == \"a\"",
                "(== (str args->filename 8) \"a\")",
            ),
        ] {
            let script = parse(&format!("BEGIN {{ {src}; }}")).unwrap();
            let StmtKind::Expr(e) = &script.probes[0].body[0].kind else {
                panic!("{src}: not an expression statement")
            };
            let got = sx(e).replace("a->b", "args->b");
            assert_eq!(got, want, "{src}");
        }
    }

    #[test]
    fn probes_predicates_and_comments() {
        let s = parse(
            "#!/usr/bin/env bpftrace\nuprobe:/usr/lib/libc.so.6:malloc, t:sched:sched_* /arg0 > 1 && (pid / 2) == 3/ { /* c */ @x++; }\nEND { if (1) { } else if (2) { $a = 1; } else { return; } }",
        )
        .unwrap();
        let attach: Vec<&str> = s.probes[0].attach.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            attach,
            ["uprobe:/usr/lib/libc.so.6:malloc", "t:sched:sched_*"]
        );
        assert_eq!(
            sx(s.probes[0].predicate.as_ref().unwrap()),
            "(&& (> arg0 1) (== (/ pid 2) 3))"
        );
        assert_eq!(s.probes[0].attach[1].1, Span::new(2, 35, 15));
        assert!(parse("BEGIN { }\n#!x").is_err());
        let StmtKind::AssignMap { op, .. } = &s.probes[0].body[0].kind else {
            panic!("not a map assignment")
        };
        assert_eq!(*op, Some(BinOp::Add));
        let StmtKind::If { els, .. } = &s.probes[1].body[0].kind else {
            panic!("not an if")
        };
        assert!(matches!(els[0].kind, StmtKind::If { .. }));
    }
}
