//! The query parser: a lexer and a recursive-descent parser with explicit limits.
//!
//! Precedence, loosest first: `OR`, then `AND` (explicit or implicit, by juxtaposition), then
//! `NOT` (and its shorthand `-`), then `NEAR/n`, which only joins terms, prefixes and phrases.
//! The query's length is checked before anything else and the recursion depth is bounded, so
//! parsing is linear in the query and cannot exhaust the stack.

use unicode_segmentation::UnicodeSegmentation;

use super::filters::parse_filter;
use super::normalise::{Flavor, Normaliser};
use super::query::{Expr, Query, QueryError, QueryErrorKind, TextLeaf};
use super::{FieldLookup, Limits};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Near(u64),
    /// The text between double quotes.
    Phrase(String),
    Word(String),
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::And => "AND".into(),
            Tok::Or => "OR".into(),
            Tok::Not => "NOT".into(),
            Tok::Near(n) => format!("NEAR/{n}"),
            Tok::Phrase(p) => format!("\"{p}\""),
            Tok::Word(w) => format!("`{w}`"),
            Tok::End => "end of query".into(),
        }
    }
}

fn err(position: usize, kind: QueryErrorKind) -> QueryError {
    QueryError { position, kind }
}

fn expected(position: usize, expected: &'static str, found: String) -> QueryError {
    err(position, QueryErrorKind::Expected { expected, found })
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

/// Splits a query into tokens, each with its position in chars.
fn lex(query: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                out.push((Tok::LParen, start));
                i += 1;
            }
            ')' => {
                out.push((Tok::RParen, start));
                i += 1;
            }
            '"' => {
                let Some(len) = chars[i + 1..].iter().position(|&c| c == '"') else {
                    return Err(expected(
                        start,
                        "a closing '\"' for this phrase",
                        "end of query".into(),
                    ));
                };
                let inner: String = chars[i + 1..i + 1 + len].iter().collect();
                out.push((Tok::Phrase(inner), start));
                i += len + 2;
            }
            '-' if chars
                .get(i + 1)
                .is_some_and(|&n| !n.is_whitespace() && n != ')') =>
            {
                out.push((Tok::Not, start));
                i += 1;
            }
            _ => {
                while i < chars.len() && !ends_word(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push((classify(word, start)?, start));
            }
        }
    }
    out.push((Tok::End, chars.len()));
    Ok(out)
}

fn classify(word: String, pos: usize) -> Result<Tok, QueryError> {
    Ok(match word.as_str() {
        "AND" => Tok::And,
        "OR" => Tok::Or,
        "NOT" => Tok::Not,
        w if w == "NEAR" || w.starts_with("NEAR/") => {
            let digits = w.strip_prefix("NEAR/").unwrap_or("");
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(expected(
                    pos,
                    "a distance after NEAR, as in NEAR/3",
                    format!("`{w}`"),
                ));
            }
            Tok::Near(digits.parse().unwrap_or(u64::MAX))
        }
        _ => Tok::Word(word),
    })
}

/// Parses one query for a signal normalised in `flavor`.
pub fn parse(
    query: &str,
    flavor: Flavor,
    limits: &Limits,
    fields: FieldLookup<'_>,
) -> Result<Query, QueryError> {
    if query.len() > limits.max_query_bytes {
        return Err(err(
            0,
            QueryErrorKind::TooLong {
                bytes: query.len(),
                limit: limits.max_query_bytes,
            },
        ));
    }
    let toks = lex(query)?;
    let mut p = Parser {
        toks,
        at: 0,
        limits,
        fields,
        norm: Normaliser::new(flavor),
        prefix_norm: Normaliser::new(flavor.unstemmed()),
        terms: 0,
    };
    let expr = p.or(0)?;
    let (tok, pos) = p.peek();
    if *tok != Tok::End {
        let found = tok.describe();
        return Err(expected(
            pos,
            "AND, OR, a term or the end of the query",
            found,
        ));
    }
    Ok(Query { expr, flavor })
}

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    at: usize,
    limits: &'a Limits,
    fields: FieldLookup<'a>,
    norm: Normaliser,
    prefix_norm: Normaliser,
    terms: usize,
}

impl Parser<'_> {
    fn peek(&self) -> (&Tok, usize) {
        let (t, p) = &self.toks[self.at.min(self.toks.len() - 1)];
        (t, *p)
    }

    fn bump(&mut self) -> (Tok, usize) {
        let i = self.at.min(self.toks.len() - 1);
        self.at += 1;
        self.toks[i].clone()
    }

    fn deeper(&self, depth: usize, pos: usize) -> Result<usize, QueryError> {
        if depth + 1 > self.limits.max_depth {
            return Err(err(
                pos,
                QueryErrorKind::TooDeep {
                    limit: self.limits.max_depth,
                },
            ));
        }
        Ok(depth + 1)
    }

    fn count_term(&mut self, pos: usize) -> Result<(), QueryError> {
        self.terms += 1;
        if self.terms > self.limits.max_terms_per_query {
            return Err(err(
                pos,
                QueryErrorKind::TooManyTerms {
                    limit: self.limits.max_terms_per_query,
                },
            ));
        }
        Ok(())
    }

    fn or(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut items = vec![self.and(depth)?];
        while *self.peek().0 == Tok::Or {
            self.bump();
            items.push(self.and(depth)?);
        }
        Ok(flatten(items, false))
    }

    fn and(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary(depth)?];
        loop {
            match self.peek().0 {
                Tok::And => {
                    self.bump();
                }
                Tok::Word(_) | Tok::Phrase(_) | Tok::LParen | Tok::Not => {}
                _ => break,
            }
            items.push(self.unary(depth)?);
        }
        Ok(flatten(items, true))
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let (tok, pos) = self.peek();
        if *tok == Tok::Not {
            let depth = self.deeper(depth, pos)?;
            self.bump();
            return Ok(match self.unary(depth)? {
                Expr::Not(inner) => *inner,
                e => Expr::Not(Box::new(e)),
            });
        }
        self.near(depth)
    }

    fn near(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let left_pos = self.peek().1;
        let left = self.primary(depth)?;
        let (tok, pos) = self.peek();
        let Tok::Near(n) = *tok else {
            return Ok(left);
        };
        let Expr::Text(left) = left else {
            return Err(expected(
                left_pos,
                "a term, prefix or phrase before NEAR",
                "a group or a filter".into(),
            ));
        };
        if n > u64::from(self.limits.max_near_distance) {
            return Err(err(
                pos,
                QueryErrorKind::NearTooFar {
                    distance: n,
                    limit: self.limits.max_near_distance,
                },
            ));
        }
        self.bump();
        let right_pos = self.peek().1;
        let Expr::Text(right) = self.primary(depth)? else {
            return Err(expected(
                right_pos,
                "a term, prefix or phrase after NEAR",
                "a group or a filter".into(),
            ));
        };
        let (tok, pos) = self.peek();
        if let Tok::Near(_) = tok {
            let found = tok.describe();
            return Err(expected(
                pos,
                "AND or OR (NEAR cannot be chained; join pairs with AND)",
                found,
            ));
        }
        Ok(Expr::Near {
            left,
            right,
            distance: n as u32,
        })
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let (tok, pos) = self.bump();
        match tok {
            Tok::LParen => {
                let depth = self.deeper(depth, pos)?;
                let e = self.or(depth)?;
                let (tok, p) = self.bump();
                if tok != Tok::RParen {
                    return Err(expected(p, "')' or another term", tok.describe()));
                }
                Ok(e)
            }
            Tok::Phrase(inner) => {
                self.count_term(pos)?;
                if let Some(star) = inner.chars().position(|c| c == '*') {
                    return Err(expected(
                        pos + 1 + star,
                        "words (wildcards are not allowed inside phrases)",
                        "'*'".into(),
                    ));
                }
                self.phrase(&inner, pos, &format!("\"{inner}\""))
            }
            Tok::Word(w) => {
                self.count_term(pos)?;
                if let Some((name, value)) = field_syntax(&w) {
                    if value.is_empty() {
                        return Err(expected(
                            pos + name.len() + 1,
                            "a value after the field name",
                            "nothing".into(),
                        ));
                    }
                    return parse_filter(name, value, self.fields)
                        .map(Expr::Filter)
                        .map_err(|kind| err(pos, kind));
                }
                match w.find('*') {
                    Some(i) if i + 1 == w.len() => self.prefix(&w[..i], pos),
                    Some(i) => Err(expected(
                        pos + w[..i].chars().count(),
                        "letters or digits ('*' is allowed only at the end of a word)",
                        "'*'".into(),
                    )),
                    None => self.phrase(&w, pos, &format!("`{w}`")),
                }
            }
            other => Err(expected(
                pos,
                "a term, a \"phrase\", '(' or a field filter",
                other.describe(),
            )),
        }
    }

    /// A term or quoted phrase: its words, normalised. A term that segments into several words
    /// (`e-mail`) is a phrase of them.
    fn phrase(&self, text: &str, pos: usize, shown: &str) -> Result<Expr, QueryError> {
        let words: Vec<String> = text
            .unicode_words()
            .map(|w| self.norm.normalise(w))
            .collect();
        if words.is_empty() {
            return Err(expected(
                pos,
                "a term with a letter or digit",
                shown.to_owned(),
            ));
        }
        if words.len() > self.limits.max_phrase_words {
            return Err(err(
                pos,
                QueryErrorKind::PhraseTooLong {
                    words: words.len(),
                    limit: self.limits.max_phrase_words,
                },
            ));
        }
        Ok(Expr::Text(TextLeaf::Phrase(words)))
    }

    fn prefix(&self, body: &str, pos: usize) -> Result<Expr, QueryError> {
        let words: Vec<&str> = body.unicode_words().collect();
        let [word] = words[..] else {
            return Err(expected(
                pos,
                "a single word before '*'",
                format!("`{body}*`"),
            ));
        };
        let prefix = self.prefix_norm.normalise(word);
        let chars = prefix.chars().count();
        let (min, max) = (self.limits.min_prefix_chars, self.limits.max_prefix_chars);
        if chars < min || chars > max {
            return Err(err(
                pos,
                QueryErrorKind::BadPrefixLength { chars, min, max },
            ));
        }
        Ok(Expr::Text(TextLeaf::Prefix(prefix)))
    }
}

/// `name:value` where `name` looks like a field name (`[a-z_][a-z0-9_]*`).
fn field_syntax(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once(':')?;
    let mut b = name.bytes();
    let first_ok = b
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == b'_');
    (first_ok && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'))
        .then_some((name, value))
}

/// One child stays itself; nested groups of the same operator merge.
fn flatten(items: Vec<Expr>, and: bool) -> Expr {
    if items.len() == 1 {
        return items.into_iter().next().unwrap_or(Expr::And(Vec::new()));
    }
    let mut out = Vec::with_capacity(items.len());
    for e in items {
        match e {
            Expr::And(v) if and => out.extend(v),
            Expr::Or(v) if !and => out.extend(v),
            e => out.push(e),
        }
    }
    if and { Expr::And(out) } else { Expr::Or(out) }
}
