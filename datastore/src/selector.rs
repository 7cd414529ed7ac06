//! Calico's label selector language: parser with position-bearing errors, and evaluator.
//!
//! Grammar (reconstructed from `libcalico-go/lib/selector/parser/parser.go`):
//!
//! ```text
//! selector   := ε (⇒ all()) | or_expr EOF
//! or_expr    := and_expr ( "||" and_expr )*
//! and_expr   := operation ( "&&" operation )*
//! operation  := "!"* ( "has(" IDENT ")" | "all()" | "global()"
//!                    | IDENT "==" STR | IDENT "!=" STR
//!                    | IDENT "contains" STR | IDENT "starts" "with" STR | IDENT "ends" "with" STR
//!                    | IDENT "in" "{" [STR ("," STR)*] "}" | IDENT ("not" "in" | "notin") "{" … "}"
//!                    | "(" or_expr ")" )
//! IDENT      := [A-Za-z0-9_./-]+ (at most 512 characters)
//! STR        := '…' | "…" (no escapes)
//! ```
//!
//! Semantics (`ast.go`): `==`, `in`, `contains`, `starts with`, `ends with` and `has` are false when the label is
//! missing; `!=` and `not in` are **true** when it is missing. `all()` and `global()` (Nodes are not namespaced)
//! always match.
//!
//! ```
//! use datastore::selector::Selector;
//! use std::collections::BTreeMap;
//! let sel: Selector = "route-reflector == 'true' && !has(drain)".parse().unwrap();
//! let labels = BTreeMap::from([("route-reflector".to_string(), "true".to_string())]);
//! assert!(sel.matches(&labels));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest label name the tokenizer accepts (Calico's limit).
const MAX_IDENT: usize = 512;
/// Deepest parenthesis / negation nesting accepted (keeps the recursive parser's stack bounded).
const MAX_DEPTH: usize = 64;

/// A parse error with the byte offset in the selector text where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector {selector:?} at position {position}: {message}")]
pub struct SelectorError {
    /// The selector text.
    pub selector: String,
    /// Byte offset of the problem.
    pub position: usize,
    /// What was wrong.
    pub message: String,
}

/// A parsed selector expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expr {
    /// `all()`: matches everything.
    All,
    /// `global()`: matches non-namespaced resources (every Node).
    Global,
    /// `has(k)`.
    Has(String),
    /// `k == 'v'`.
    Eq(String, String),
    /// `k != 'v'` (true when `k` is missing).
    Ne(String, String),
    /// `k in {…}`.
    In(String, Vec<String>),
    /// `k not in {…}` (true when `k` is missing).
    NotIn(String, Vec<String>),
    /// `k contains 'v'`.
    Contains(String, String),
    /// `k starts with 'v'`.
    StartsWith(String, String),
    /// `k ends with 'v'`.
    EndsWith(String, String),
    /// `!e`.
    Not(Box<Expr>),
    /// `a && b && …`.
    And(Vec<Expr>),
    /// `a || b || …`.
    Or(Vec<Expr>),
}

impl Expr {
    /// Evaluates the expression against a label lookup function.
    pub fn eval<'a>(&self, get: &impl Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            Expr::All | Expr::Global => true,
            Expr::Has(k) => get(k).is_some(),
            Expr::Eq(k, v) => get(k) == Some(v.as_str()),
            Expr::Ne(k, v) => get(k) != Some(v.as_str()),
            Expr::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Expr::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Expr::Contains(k, v) => get(k).is_some_and(|x| x.contains(v.as_str())),
            Expr::StartsWith(k, v) => get(k).is_some_and(|x| x.starts_with(v.as_str())),
            Expr::EndsWith(k, v) => get(k).is_some_and(|x| x.ends_with(v.as_str())),
            Expr::Not(e) => !e.eval(get),
            Expr::And(es) => es.iter().all(|e| e.eval(get)),
            Expr::Or(es) => es.iter().any(|e| e.eval(get)),
        }
    }
}

/// A label source a selector can be evaluated against.
pub trait Labels {
    /// The value of label `key`, if present.
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> Labels for HashMap<String, String, S> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A parsed Calico selector that remembers its source text.
#[derive(Debug, Clone)]
pub struct Selector {
    source: String,
    expr: Expr,
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for Selector {}
impl std::hash::Hash for Selector {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

impl Selector {
    /// Parses a selector. An empty (or blank) selector means `all()`.
    pub fn parse(source: &str) -> Result<Selector, SelectorError> {
        let tokens = tokenize(source)?;
        let mut p = Parser {
            src: source,
            tokens,
            pos: 0,
            depth: 0,
        };
        let expr = if p.tokens.is_empty() {
            Expr::All
        } else {
            let e = p.or_expr()?;
            if let Some(t) = p.tokens.get(p.pos) {
                return Err(p.err_at(t.start, format!("unexpected {}", t.kind.describe())));
            }
            e
        };
        Ok(Selector {
            source: source.to_string(),
            expr,
        })
    }

    /// The `all()` selector.
    pub fn all() -> Selector {
        Selector {
            source: "all()".to_string(),
            expr: Expr::All,
        }
    }

    /// The source text as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Evaluates the selector against a set of labels.
    pub fn matches(&self, labels: &impl Labels) -> bool {
        self.expr.eval(&|k| labels.label(k))
    }
}

impl FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for Selector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Selector::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokKind {
    Word(String),
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Not,
    EqEq,
    NotEq,
    And,
    Or,
}

impl TokKind {
    fn describe(&self) -> String {
        match self {
            TokKind::Word(w) => format!("word {w:?}"),
            TokKind::Str(s) => format!("string {s:?}"),
            TokKind::LParen => "'('".into(),
            TokKind::RParen => "')'".into(),
            TokKind::LBrace => "'{'".into(),
            TokKind::RBrace => "'}'".into(),
            TokKind::Comma => "','".into(),
            TokKind::Not => "'!'".into(),
            TokKind::EqEq => "'=='".into(),
            TokKind::NotEq => "'!='".into(),
            TokKind::And => "'&&'".into(),
            TokKind::Or => "'||'".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokKind,
    start: usize,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

fn tokenize(src: &str) -> Result<Vec<Token>, SelectorError> {
    let err = |position: usize, message: String| SelectorError {
        selector: src.to_string(),
        position,
        message,
    };
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let two = b.get(i..i + 2);
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => TokKind::LParen,
            b')' => TokKind::RParen,
            b'{' => TokKind::LBrace,
            b'}' => TokKind::RBrace,
            b',' => TokKind::Comma,
            b'!' if two == Some(b"!=") => {
                i += 1;
                TokKind::NotEq
            }
            b'!' => TokKind::Not,
            b'=' if two == Some(b"==") => {
                i += 1;
                TokKind::EqEq
            }
            b'&' if two == Some(b"&&") => {
                i += 1;
                TokKind::And
            }
            b'|' if two == Some(b"||") => {
                i += 1;
                TokKind::Or
            }
            b'\'' | b'"' => {
                let close = src[i + 1..]
                    .find(c as char)
                    .ok_or_else(|| err(start, "unterminated string".into()))?;
                let s = src[i + 1..i + 1 + close].to_string();
                i += close + 1;
                TokKind::Str(s)
            }
            c if is_ident_byte(c) => {
                let mut j = i;
                while j < b.len() && is_ident_byte(b[j]) {
                    j += 1;
                }
                if j - i > MAX_IDENT {
                    return Err(err(start, format!("label longer than {MAX_IDENT} characters")));
                }
                let w = src[i..j].to_string();
                i = j - 1;
                TokKind::Word(w)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(err(start, format!("unexpected character {ch:?}")));
            }
        };
        i += 1;
        out.push(Token { kind, start });
    }
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err_at(&self, position: usize, message: String) -> SelectorError {
        SelectorError {
            selector: self.src.to_string(),
            position,
            message,
        }
    }

    fn err_here(&self, expected: &str) -> SelectorError {
        match self.tokens.get(self.pos) {
            Some(t) => self.err_at(
                t.start,
                format!("expected {expected}, found {}", t.kind.describe()),
            ),
            None => self.err_at(
                self.src.len(),
                format!("expected {expected}, found end of selector"),
            ),
        }
    }

    fn peek(&self) -> Option<&TokKind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn peek_at(&self, n: usize) -> Option<&TokKind> {
        self.tokens.get(self.pos + n).map(|t| &t.kind)
    }

    fn eat(&mut self, k: &TokKind) -> bool {
        if self.peek() == Some(k) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, k: &TokKind, what: &str) -> Result<(), SelectorError> {
        if self.eat(k) {
            Ok(())
        } else {
            Err(self.err_here(what))
        }
    }

    fn or_expr(&mut self) -> Result<Expr, SelectorError> {
        let mut parts = vec![self.and_expr()?];
        while self.eat(&TokKind::Or) {
            parts.push(self.and_expr()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, SelectorError> {
        let mut parts = vec![self.operation()?];
        while self.eat(&TokKind::And) {
            parts.push(self.operation()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn operation(&mut self) -> Result<Expr, SelectorError> {
        let mut negations = 0usize;
        while self.eat(&TokKind::Not) {
            negations += 1;
        }
        let e = self.primary()?;
        // A run of leading `!` collapses by parity.
        Ok(if negations % 2 == 1 {
            Expr::Not(Box::new(e))
        } else {
            e
        })
    }

    fn word(&mut self) -> Option<String> {
        match self.peek() {
            Some(TokKind::Word(w)) => {
                let w = w.clone();
                self.pos += 1;
                Some(w)
            }
            _ => None,
        }
    }

    fn string(&mut self) -> Result<String, SelectorError> {
        match self.peek() {
            Some(TokKind::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.err_here("a quoted string")),
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(TokKind::Word(w)) if w == kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn primary(&mut self) -> Result<Expr, SelectorError> {
        if self.eat(&TokKind::LParen) {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.err_here("less nesting"));
            }
            let e = self.or_expr()?;
            self.depth -= 1;
            self.expect(&TokKind::RParen, "')'")?;
            return Ok(e);
        }
        let fn_call = self.peek_at(1) == Some(&TokKind::LParen);
        let Some(label) = self.word() else {
            return Err(self.err_here("a label, has(), all(), global(), '!' or '('"));
        };
        if fn_call {
            match label.as_str() {
                "has" => {
                    self.pos += 1;
                    let Some(k) = self.word() else {
                        return Err(self.err_here("a label name"));
                    };
                    self.expect(&TokKind::RParen, "')'")?;
                    return Ok(Expr::Has(k));
                }
                "all" | "global" => {
                    self.pos += 1;
                    self.expect(&TokKind::RParen, "')'")?;
                    return Ok(if label == "all" { Expr::All } else { Expr::Global });
                }
                _ => {
                    self.pos -= 1;
                    return Err(self.err_here("has(), all() or global()"));
                }
            }
        }
        if self.eat(&TokKind::EqEq) {
            return Ok(Expr::Eq(label, self.string()?));
        }
        if self.eat(&TokKind::NotEq) {
            return Ok(Expr::Ne(label, self.string()?));
        }
        if self.keyword("contains") {
            return Ok(Expr::Contains(label, self.string()?));
        }
        if self.keyword("starts") {
            if !self.keyword("with") {
                return Err(self.err_here("'with'"));
            }
            return Ok(Expr::StartsWith(label, self.string()?));
        }
        if self.keyword("ends") {
            if !self.keyword("with") {
                return Err(self.err_here("'with'"));
            }
            return Ok(Expr::EndsWith(label, self.string()?));
        }
        if self.keyword("in") {
            return Ok(Expr::In(label, self.set()?));
        }
        if self.keyword("notin") {
            return Ok(Expr::NotIn(label, self.set()?));
        }
        if self.keyword("not") {
            if !self.keyword("in") {
                return Err(self.err_here("'in'"));
            }
            return Ok(Expr::NotIn(label, self.set()?));
        }
        Err(self.err_here("an operator (==, !=, in, not in, contains, starts with, ends with)"))
    }

    fn set(&mut self) -> Result<Vec<String>, SelectorError> {
        self.expect(&TokKind::LBrace, "'{'")?;
        let mut out = Vec::new();
        if self.eat(&TokKind::RBrace) {
            return Ok(out);
        }
        loop {
            out.push(self.string()?);
            if self.eat(&TokKind::RBrace) {
                return Ok(out);
            }
            self.expect(&TokKind::Comma, "',' or '}'")?;
        }
    }
}
