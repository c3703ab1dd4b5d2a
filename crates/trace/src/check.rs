//! Semantic checks: the type of every expression, which names exist in which
//! probe, and one key type and one value kind per map across the script.

use std::collections::HashMap;

use crate::ast::*;
use crate::error::{Span, TraceError};
use crate::probe::Probe;
use crate::tracefs::{Field, FieldKind};
use crate::types::{parse_format, MapDecl, MapKind, Piece, Ty};

/// Object map indices before the script's own maps: the event ring buffer,
/// the start time and the lost-event counter.
pub const FIRST_USER_MAP: usize = 3;

/// Bytes of a tracepoint record that programs may read (the verifier's limit).
const MAX_RECORD: u32 = 2048;

/// Builtins that are unsigned 64-bit integers everywhere.
const INT_BUILTINS: &[&str] = &[
    "pid", "tid", "uid", "gid", "cpu", "nsecs", "elapsed", "rand",
];

/// The aggregation functions, valid only as `@m[k] = f(...)`.
pub const AGGREGATIONS: &[&str] = &[
    "count", "sum", "avg", "min", "max", "stats", "hist", "lhist",
];

/// Arguments a probe's context holds as `arg0..argN`.
pub fn arg_count(probe: &Probe) -> usize {
    match probe {
        Probe::RawTracepoint { .. } => 12,
        Probe::Uprobe { ret: false, .. } => 6,
        _ => 0,
    }
}

/// What the checker knows while it walks one probe.
pub struct Env<'a> {
    pub probe: &'a Probe,
    /// The tracepoint's fields (empty for other probes).
    pub fields: &'a [Field],
    /// The positional parameters `$1..$N`.
    pub params: &'a [String],
    pub locals: HashMap<String, Ty>,
    /// The pid `cpid` yields (a `-c` command's), if any.
    pub cpid: Option<u32>,
    /// Every map of the script, in the order first used.
    pub maps: &'a mut Vec<MapDecl>,
    /// `while` loops around the current statement.
    loops: usize,
}

fn mismatch(span: Span, message: impl Into<String>) -> TraceError {
    TraceError::TypeMismatch {
        span,
        message: message.into(),
    }
}

fn bad_call(span: Span, message: impl Into<String>) -> TraceError {
    TraceError::BadCall {
        span,
        message: message.into(),
    }
}

/// An integer constant: a literal, a negated literal or an integer positional parameter.
pub fn constant(e: &Expr, params: &[String]) -> Option<i64> {
    match &e.kind {
        ExprKind::Int(n) => i64::try_from(*n).ok(),
        ExprKind::Unary(UnOp::Neg, inner) => constant(inner, params).map(|v| v.wrapping_neg()),
        ExprKind::Positional(n) => params.get(*n as usize - 1)?.parse::<i64>().ok(),
        _ => None,
    }
}

impl<'a> Env<'a> {
    /// An environment for one probe.
    pub fn new(
        probe: &'a Probe,
        fields: &'a [Field],
        params: &'a [String],
        maps: &'a mut Vec<MapDecl>,
    ) -> Env<'a> {
        Env {
            probe,
            fields,
            params,
            locals: HashMap::new(),
            cpid: None,
            maps,
            loops: 0,
        }
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Option<&MapDecl> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// The tracepoint field `name`.
    pub fn field(&self, name: &str, span: Span) -> Result<&Field, TraceError> {
        let tp = match self.probe {
            Probe::Tracepoint { category, name } => format!("{category}:{name}"),
            _ => {
                return Err(mismatch(
                    span,
                    format!(
                        "`args` exists only in tracepoint probes, not in {}",
                        self.probe.name()
                    ),
                ))
            }
        };
        self.fields
            .iter()
            .find(|f| f.name == name && !f.name.starts_with("common_"))
            .ok_or_else(|| TraceError::UnknownField {
                span,
                field: name.to_string(),
                tracepoint: tp,
                fields: self
                    .fields
                    .iter()
                    .filter(|f| !f.name.starts_with("common_"))
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The type of the positional parameter `$n`.
    pub fn positional(&self, n: u32, span: Span) -> Result<Ty, TraceError> {
        match self.params.get(n as usize - 1) {
            Some(p) if p.parse::<i64>().is_ok() => Ok(Ty::Int { signed: true }),
            Some(_) => Ok(Ty::Str),
            None => Err(bad_call(
                span,
                format!(
                    "positional parameter ${n} was not given ({} were)",
                    self.params.len()
                ),
            )),
        }
    }

    /// The type of an expression read for its value.
    pub fn ty(&self, e: &Expr) -> Result<Ty, TraceError> {
        let int = Ty::Int { signed: true };
        Ok(match &e.kind {
            ExprKind::Int(n) => Ty::Int {
                signed: *n <= i64::MAX as u64,
            },
            ExprKind::Str(_) => Ty::Str,
            ExprKind::Builtin(b) => self.builtin(b, e.span)?,
            ExprKind::Var(v) => *self.locals.get(v).ok_or_else(|| TraceError::UnknownIdent {
                span: e.span,
                name: format!("${v}"),
            })?,
            ExprKind::Positional(n) => self.positional(*n, e.span)?,
            ExprKind::PosCount => Ty::Int { signed: false },
            ExprKind::Map(m) => match self.read_map(m)?.kind {
                MapKind::Value(t) => t,
                _ => unreachable!("read_map returns value maps"),
            },
            ExprKind::Binary(op, l, r) => {
                let (lt, rt) = (self.ty(l)?, self.ty(r)?);
                match (op, lt, rt) {
                    (BinOp::Eq | BinOp::Ne, Ty::Str, Ty::Str) => Ty::Int { signed: false },
                    (_, Ty::Int { signed: a }, Ty::Int { signed: b }) => {
                        if op.is_comparison() {
                            Ty::Int { signed: false }
                        } else {
                            Ty::Int { signed: a || b }
                        }
                    }
                    _ => {
                        return Err(mismatch(
                            e.span,
                            format!("`{}` between {} and {}", op.text(), lt.name(), rt.name()),
                        ))
                    }
                }
            }
            ExprKind::Unary(op, x) => match self.ty(x)? {
                Ty::Int { .. } => match op {
                    UnOp::Not => Ty::Int { signed: false },
                    UnOp::Neg => int,
                    UnOp::BitNot => self.ty(x)?,
                },
                t => {
                    return Err(mismatch(
                        e.span,
                        format!("unary operator on a {}", t.name()),
                    ))
                }
            },
            ExprKind::Ternary(c, a, b) => {
                self.want_int(c)?;
                let (at, bt) = (self.ty(a)?, self.ty(b)?);
                if !at.compatible(bt) || at == Ty::Void {
                    return Err(mismatch(
                        e.span,
                        format!("the branches are {} and {}", at.name(), bt.name()),
                    ));
                }
                at
            }
            ExprKind::Call(name, args) => self.call(name, args, e.span)?,
            ExprKind::Field(base, f) => {
                if !matches!(&base.kind, ExprKind::Builtin(b) if b == "args") {
                    return Err(mismatch(
                        e.span,
                        "fields can only be read from `args` (args->field)",
                    ));
                }
                let field = self.field(f, e.span)?;
                if field.offset + field.size > MAX_RECORD {
                    return Err(TraceError::Unsupported {
                        span: e.span,
                        what: format!(
                            "field `{f}` past the first {MAX_RECORD} bytes of the record"
                        ),
                    });
                }
                match field.kind {
                    FieldKind::Int { signed } => Ty::Int { signed },
                    FieldKind::CharArray | FieldKind::DataLocStr => Ty::Str,
                    FieldKind::Other => {
                        return Err(TraceError::Unsupported {
                            span: e.span,
                            what: format!(
                                "reading field `{f}` of type `{}`",
                                self.field(f, e.span)?.c_type
                            ),
                        })
                    }
                }
            }
        })
    }

    fn want_int(&self, e: &Expr) -> Result<(), TraceError> {
        match self.ty(e)? {
            Ty::Int { .. } => Ok(()),
            t => Err(mismatch(
                e.span,
                format!("expected an integer, found a {}", t.name()),
            )),
        }
    }

    fn builtin(&self, b: &str, span: Span) -> Result<Ty, TraceError> {
        if INT_BUILTINS.contains(&b) {
            return Ok(Ty::Int { signed: false });
        }
        match b {
            "comm" | "probe" => Ok(Ty::Str),
            "cpid" => match self.cpid {
                Some(_) => Ok(Ty::Int { signed: false }),
                None => Err(mismatch(span, "`cpid` needs a command to run (-c CMD)")),
            },
            "retval" => match self.probe {
                Probe::Uprobe { ret: true, .. } => Ok(Ty::Int { signed: true }),
                p => Err(mismatch(
                    span,
                    format!("`retval` exists only in uretprobes, not in {}", p.name()),
                )),
            },
            "args" => Err(mismatch(
                span,
                "`args` is a record: read a field, as in args->name",
            )),
            _ => {
                if let Some(n) = b.strip_prefix("arg").and_then(|n| n.parse::<usize>().ok()) {
                    let have = arg_count(self.probe);
                    return if n < have {
                        Ok(Ty::Int { signed: false })
                    } else if have == 0 {
                        Err(mismatch(
                            span,
                            format!(
                                "`{b}` exists only in rawtracepoint and uprobe probes, not in {}{}",
                                self.probe.name(),
                                if matches!(self.probe, Probe::Tracepoint { .. }) {
                                    " (use args->field)"
                                } else {
                                    ""
                                }
                            ),
                        ))
                    } else {
                        Err(mismatch(
                            span,
                            format!("{} has arg0 to arg{}", self.probe.name(), have - 1),
                        ))
                    };
                }
                Err(TraceError::UnknownIdent {
                    span,
                    name: b.to_string(),
                })
            }
        }
    }

    /// The declaration of a map read in an expression (a value map with a matching key).
    pub fn read_map(&self, m: &MapRef) -> Result<&MapDecl, TraceError> {
        let decl = self.map(&m.name).ok_or_else(|| {
            mismatch(
                m.span,
                format!("@{} is read before any assignment gives it a type", m.name),
            )
        })?;
        if !matches!(decl.kind, MapKind::Value(_)) {
            return Err(TraceError::Unsupported {
                span: m.span,
                what: format!(
                    "reading @{} in an expression: it holds {} aggregates, which are printed, not read",
                    m.name,
                    decl.kind.name()
                ),
            });
        }
        self.check_key(decl, m)?;
        Ok(decl)
    }

    fn key_types(&self, m: &MapRef) -> Result<Vec<Ty>, TraceError> {
        m.keys
            .iter()
            .map(|k| match self.ty(k)? {
                Ty::Void => Err(mismatch(k.span, "a map key needs a value")),
                t => Ok(match t {
                    Ty::Int { .. } => Ty::Int { signed: true },
                    t => t,
                }),
            })
            .collect()
    }

    /// Checks that `m`'s key has the declared key type.
    pub fn check_key(&self, decl: &MapDecl, m: &MapRef) -> Result<(), TraceError> {
        let key = self.key_types(m)?;
        if key != decl.key {
            return Err(TraceError::MapKeyMismatch {
                span: m.span,
                map: decl.display_name(),
                first: MapDecl::key_name(&decl.key),
                second: MapDecl::key_name(&key),
            });
        }
        Ok(())
    }

    fn named_map(&self, e: &Expr, what: &str, keyed: bool) -> Result<String, TraceError> {
        match &e.kind {
            ExprKind::Map(m) if keyed || m.keys.is_empty() => {
                let decl = self
                    .map(&m.name)
                    .ok_or_else(|| mismatch(m.span, format!("@{} is never assigned", m.name)))?;
                if keyed {
                    self.check_key(decl, m)?;
                }
                Ok(m.name.clone())
            }
            _ => Err(bad_call(
                e.span,
                format!(
                    "{what} takes a map{}",
                    if keyed {
                        " element such as @m[key]"
                    } else {
                        " such as @m"
                    }
                ),
            )),
        }
    }

    fn call(&self, name: &str, args: &[Expr], span: Span) -> Result<Ty, TraceError> {
        let arity = |n: std::ops::RangeInclusive<usize>| {
            if n.contains(&args.len()) {
                Ok(())
            } else {
                Err(bad_call(
                    span,
                    format!(
                        "{name}() takes {} argument{}, not {}",
                        if n.start() == n.end() {
                            n.start().to_string()
                        } else {
                            format!("{} to {}", n.start(), n.end())
                        },
                        if *n.end() == 1 { "" } else { "s" },
                        args.len()
                    ),
                ))
            }
        };
        match name {
            "str" => {
                arity(1..=2)?;
                match self.ty(&args[0])? {
                    Ty::Int { .. } | Ty::Str => {}
                    t => return Err(mismatch(args[0].span, format!("str() of a {}", t.name()))),
                }
                if let Some(n) = args.get(1) {
                    match constant(n, self.params) {
                        Some(v) if v >= 1 => {}
                        _ => {
                            return Err(bad_call(
                                n.span,
                                "str()'s length must be a positive constant",
                            ))
                        }
                    }
                }
                Ok(Ty::Str)
            }
            "strncmp" => {
                arity(3..=3)?;
                for a in &args[..2] {
                    if self.ty(a)? != Ty::Str {
                        return Err(mismatch(a.span, "strncmp() compares strings"));
                    }
                }
                match constant(&args[2], self.params) {
                    Some(v) if v >= 0 => Ok(Ty::Int { signed: false }),
                    _ => Err(bad_call(
                        args[2].span,
                        "strncmp()'s length must be a constant",
                    )),
                }
            }
            "printf" => {
                let Some(ExprKind::Str(fmt)) = args.first().map(|a| &a.kind) else {
                    return Err(bad_call(
                        span,
                        "printf() needs a format string literal first",
                    ));
                };
                let pieces = parse_format(fmt).map_err(|m| bad_call(args[0].span, m))?;
                let specs: Vec<_> = pieces
                    .iter()
                    .filter_map(|p| match p {
                        Piece::Spec(s) => Some(s),
                        Piece::Text(_) => None,
                    })
                    .collect();
                if specs.len() != args.len() - 1 {
                    return Err(bad_call(
                        span,
                        format!(
                            "the format has {} conversion{} but {} argument{} follow{}",
                            specs.len(),
                            if specs.len() == 1 { "" } else { "s" },
                            args.len() - 1,
                            if args.len() == 2 { "" } else { "s" },
                            if args.len() == 2 { "s" } else { "" }
                        ),
                    ));
                }
                for (s, a) in specs.iter().zip(&args[1..]) {
                    let t = self.ty(a)?;
                    match (s.wants_string(), t) {
                        (true, Ty::Str) | (false, Ty::Int { .. }) => {}
                        _ => {
                            return Err(mismatch(
                                a.span,
                                format!(
                                    "%{} takes {}, not a {}",
                                    s.conv,
                                    if s.wants_string() {
                                        "a string"
                                    } else {
                                        "an integer"
                                    },
                                    t.name()
                                ),
                            ))
                        }
                    }
                }
                Ok(Ty::Void)
            }
            "print" => {
                arity(1..=1)?;
                if let ExprKind::Map(m) = &args[0].kind {
                    if m.keys.is_empty() {
                        self.named_map(&args[0], "print", false)?;
                        return Ok(Ty::Void);
                    }
                }
                match self.ty(&args[0])? {
                    Ty::Void => Err(mismatch(args[0].span, "print() of nothing")),
                    _ => Ok(Ty::Void),
                }
            }
            "exit" => {
                arity(0..=0)?;
                Ok(Ty::Void)
            }
            "time" => {
                arity(0..=1)?;
                if let Some(a) = args.first() {
                    if !matches!(a.kind, ExprKind::Str(_)) {
                        return Err(bad_call(a.span, "time() takes a strftime format literal"));
                    }
                }
                Ok(Ty::Void)
            }
            "delete" => {
                arity(1..=1)?;
                self.named_map(&args[0], "delete", true)?;
                Ok(Ty::Void)
            }
            "clear" | "zero" => {
                arity(1..=1)?;
                self.named_map(&args[0], name, false)?;
                Ok(Ty::Void)
            }
            _ if AGGREGATIONS.contains(&name) => Err(bad_call(
                span,
                format!("{name}() can only be assigned to a map, as in @m = {name}(...)"),
            )),
            _ => Err(TraceError::UnknownFunction {
                span,
                name: name.to_string(),
            }),
        }
    }

    /// The kind of map an aggregation call makes, after checking its arguments.
    pub fn aggregation(
        &self,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> Result<MapKind, TraceError> {
        let want = match name {
            "count" => 0,
            "lhist" => 4,
            _ => 1,
        };
        if args.len() != want {
            return Err(bad_call(
                span,
                format!(
                    "{name}() takes {want} argument{}, not {}",
                    if want == 1 { "" } else { "s" },
                    args.len()
                ),
            ));
        }
        if let Some(a) = args.first() {
            self.want_int(a)?;
        }
        Ok(match name {
            "count" => MapKind::Count,
            "sum" => MapKind::Sum,
            "avg" => MapKind::Avg,
            "min" => MapKind::Min,
            "max" => MapKind::Max,
            "stats" => MapKind::Stats,
            "hist" => MapKind::Hist,
            _ => {
                let c = |i: usize| {
                    constant(&args[i], self.params).ok_or_else(|| {
                        bad_call(
                            args[i].span,
                            "lhist()'s min, max and step must be constants",
                        )
                    })
                };
                let (min, max, step) = (c(1)?, c(2)?, c(3)?);
                let buckets = max.checked_sub(min).map(|w| w / step.max(1));
                if step <= 0 || max <= min || buckets.is_none_or(|b| b > 1000) {
                    return Err(bad_call(
                        span,
                        "lhist() needs min < max, a positive step and at most 1000 buckets",
                    ));
                }
                MapKind::Lhist { min, max, step }
            }
        })
    }

    /// Declares the map or checks it against its declaration.
    fn declare(&mut self, m: &MapRef, kind: MapKind, signed: bool) -> Result<(), TraceError> {
        let key = self.key_types(m)?;
        if let Some(decl) = self.map(&m.name) {
            if decl.key != key {
                return Err(TraceError::MapKeyMismatch {
                    span: m.span,
                    map: decl.display_name(),
                    first: MapDecl::key_name(&decl.key),
                    second: MapDecl::key_name(&key),
                });
            }
            let same = match (decl.kind, kind) {
                (MapKind::Value(a), MapKind::Value(b)) => a.compatible(b),
                (a, b) => a == b,
            };
            if !same {
                return Err(mismatch(
                    m.span,
                    format!(
                        "@{} holds {} but is given {} here",
                        m.name,
                        decl.kind.name(),
                        kind.name()
                    ),
                ));
            }
            return Ok(());
        }
        let index = FIRST_USER_MAP + self.maps.len();
        self.maps.push(MapDecl {
            name: m.name.clone(),
            key,
            kind,
            signed,
            index,
            span: m.span,
        });
        Ok(())
    }

    /// Checks a statement list, declaring locals and maps.
    pub fn block(&mut self, stmts: &[Stmt]) -> Result<(), TraceError> {
        for s in stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    /// Checks a predicate.
    pub fn predicate(&mut self, e: &Expr) -> Result<(), TraceError> {
        self.declare_reads(e)?;
        self.want_int(e)
    }

    /// Declares the maps `e` reads that no assignment has typed yet: they
    /// hold integers (an unset element reads as 0), as counters and timestamps do.
    fn declare_reads(&mut self, e: &Expr) -> Result<(), TraceError> {
        match &e.kind {
            ExprKind::Map(m) => {
                for k in &m.keys {
                    self.declare_reads(k)?;
                }
                if self.map(&m.name).is_none() {
                    self.declare(m, MapKind::Value(Ty::Int { signed: true }), true)?;
                }
            }
            ExprKind::Binary(_, a, b) => {
                self.declare_reads(a)?;
                self.declare_reads(b)?;
            }
            ExprKind::Unary(_, a) | ExprKind::Field(a, _) => self.declare_reads(a)?,
            ExprKind::Ternary(a, b, c) => {
                self.declare_reads(a)?;
                self.declare_reads(b)?;
                self.declare_reads(c)?;
            }
            // print, delete, clear and zero name maps without reading them.
            ExprKind::Call(name, args)
                if !matches!(name.as_str(), "print" | "delete" | "clear" | "zero") =>
            {
                for a in args {
                    self.declare_reads(a)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), TraceError> {
        match &s.kind {
            StmtKind::Expr(e) | StmtKind::AssignVar { value: e, .. } => self.declare_reads(e)?,
            StmtKind::AssignMap { map, value, .. } => {
                for k in &map.keys {
                    self.declare_reads(k)?;
                }
                self.declare_reads(value)?;
            }
            StmtKind::If { cond, .. } | StmtKind::While { cond, .. } => self.declare_reads(cond)?,
            _ => {}
        }
        match &s.kind {
            StmtKind::Expr(e) => {
                self.ty(e)?;
            }
            StmtKind::AssignVar { name, op, value } => {
                let t = self.ty(value)?;
                if t == Ty::Void {
                    return Err(mismatch(value.span, "this has no value to assign"));
                }
                match (self.locals.get(name), op) {
                    (None, Some(_)) => {
                        return Err(TraceError::UnknownIdent {
                            span: s.span,
                            name: format!("${name}"),
                        })
                    }
                    (Some(old), _) if !old.compatible(t) => {
                        return Err(mismatch(
                            value.span,
                            format!(
                                "${name} holds a {} but is assigned a {}",
                                old.name(),
                                t.name()
                            ),
                        ))
                    }
                    (Some(Ty::Str), Some(_)) | (_, Some(_)) if t == Ty::Str => {
                        return Err(mismatch(s.span, "arithmetic on a string"))
                    }
                    (None, None) => {
                        self.locals.insert(name.clone(), t);
                    }
                    _ => {}
                }
            }
            StmtKind::AssignMap { map, op, value } => {
                if let (ExprKind::Call(f, args), None) = (&value.kind, op) {
                    if AGGREGATIONS.contains(&f.as_str()) {
                        let kind = self.aggregation(f, args, value.span)?;
                        let signed = match args.first() {
                            Some(a) => matches!(self.ty(a)?, Ty::Int { signed: true }),
                            None => false,
                        };
                        return self.declare(map, kind, signed);
                    }
                }
                let t = self.ty(value)?;
                if t == Ty::Void {
                    return Err(mismatch(value.span, "this has no value to assign"));
                }
                if op.is_some() && t == Ty::Str {
                    return Err(mismatch(s.span, "arithmetic on a string"));
                }
                let signed = matches!(t, Ty::Int { signed: true }) || op.is_some();
                let t = match t {
                    Ty::Int { .. } => Ty::Int { signed },
                    t => t,
                };
                self.declare(map, MapKind::Value(t), signed)?;
            }
            StmtKind::If { cond, then, els } => {
                self.want_int(cond)?;
                self.block(then)?;
                self.block(els)?;
            }
            StmtKind::Unroll { body, .. } => self.block(body)?,
            StmtKind::While { cond, body } => {
                self.want_int(cond)?;
                self.loops += 1;
                self.block(body)?;
                self.loops -= 1;
            }
            StmtKind::Break | StmtKind::Continue => {
                if self.loops == 0 {
                    return Err(bad_call(
                        s.span,
                        "break and continue belong inside a while loop",
                    ));
                }
            }
            StmtKind::Return => {}
        }
        Ok(())
    }
}
