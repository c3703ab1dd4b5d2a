//! The syntax tree of a script. Every node carries its span.

use crate::error::Span;

/// A whole script: its probe blocks in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub probes: Vec<ProbeBlock>,
}

/// `attach, attach /predicate/ { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeBlock {
    /// The attach points as written, such as `tracepoint:syscalls:sys_enter_*`.
    pub attach: Vec<(String, Span)>,
    pub predicate: Option<Expr>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// A map reference: `@name` or `@name[key, ...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MapRef {
    /// The name without `@` (empty for `@`).
    pub name: String,
    pub keys: Vec<Expr>,
    pub span: Span,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogAnd,
    LogOr,
}

impl BinOp {
    /// The operator as written.
    pub fn text(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            And => "&",
            Or => "|",
            Xor => "^",
            Shl => "<<",
            Shr => ">>",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            LogAnd => "&&",
            LogOr => "||",
        }
    }

    /// Whether the result is a truth value (0 or 1).
    pub fn is_comparison(self) -> bool {
        use BinOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge | LogAnd | LogOr)
    }
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `!`
    Not,
    /// `-`
    Neg,
    /// `~`
    BitNot,
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(u64),
    Str(String),
    /// A builtin such as `pid`, `comm` or `arg0`.
    Builtin(String),
    /// `$name`.
    Var(String),
    /// `$1`...
    Positional(u32),
    /// `$#`.
    PosCount,
    Map(MapRef),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Unary(UnOp, Box<Expr>),
    /// `cond ? a : b`.
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `name(args)`.
    Call(String, Vec<Expr>),
    /// `base->field` or `base.field`.
    Field(Box<Expr>, String),
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

/// The kinds of statement.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// An expression evaluated for its effect, such as `printf(...)`.
    Expr(Expr),
    /// `$x = e` or `$x op= e` (`op` set).
    AssignVar {
        name: String,
        op: Option<BinOp>,
        value: Expr,
    },
    /// `@m[k] = e` or `@m[k] op= e`.
    AssignMap {
        map: MapRef,
        op: Option<BinOp>,
        value: Expr,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        els: Vec<Stmt>,
    },
    Unroll {
        count: u64,
        body: Vec<Stmt>,
    },
    While {
        cond: Expr,
        body: Vec<Stmt>,
    },
    Break,
    Continue,
    /// Ends the probe's run.
    Return,
}
