//! Label matchers as Alertmanager and amtool write them: `name="value"`,
//! `name!=value`, `name=~"regex"`, `name!~"regex"`, alone or as a list
//! (`{a="b", c=~"d.*"}`, braces optional). Values may be quoted (with `\"`,
//! `\\` and `\n` escapes) or bare; names may be quoted for labels beyond
//! Prometheus's classic charset. Matching follows Prometheus: regexes are
//! anchored and a missing label reads as the empty string.

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub use nines_tsdb::{MatchOp, Matcher};

/// What is wrong with a matcher text, and where (a character offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("matcher {input:?} at character {at}: {message}")]
pub struct MatcherError {
    /// The text as given.
    pub input: String,
    /// 0-based character offset of the problem.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

/// Longest matcher text accepted, so hostile input stays cheap.
pub const MAX_INPUT: usize = 64 << 10;

/// Parses one or more matchers (`{a="b",c!~"d"}` or `a=b, c!~d`).
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
    Parser::new(input)?.list()
}

/// Parses exactly one matcher.
pub fn parse_matcher(input: &str) -> Result<Matcher, MatcherError> {
    let mut p = Parser::new(input)?;
    let mut all = p.list()?;
    match all.len() {
        1 => Ok(all.remove(0)),
        n => Err(p.error(0, format!("expected one matcher, found {n}"))),
    }
}

/// Whether every matcher accepts the labels.
pub fn matches_all(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
}

/// The operator of Alertmanager's JSON matcher flags.
pub fn op_from_flags(is_regex: bool, is_equal: bool) -> MatchOp {
    match (is_regex, is_equal) {
        (false, true) => MatchOp::Equal,
        (false, false) => MatchOp::NotEqual,
        (true, true) => MatchOp::Regex,
        (true, false) => MatchOp::NotRegex,
    }
}

/// Alertmanager's JSON form of a matcher:
/// `{"name", "value", "isRegex", "isEqual"}`.
pub fn matcher_json(m: &Matcher) -> serde_json::Value {
    serde_json::json!({
        "name": m.name,
        "value": m.value,
        "isRegex": matches!(m.op, MatchOp::Regex | MatchOp::NotRegex),
        "isEqual": matches!(m.op, MatchOp::Equal | MatchOp::Regex),
    })
}

/// The operator as written.
pub fn op_text(op: MatchOp) -> &'static str {
    match op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Regex => "=~",
        MatchOp::NotRegex => "!~",
    }
}

/// A matcher written back so [`parse_matcher`] reads the same one:
/// `name="value"` with the value always quoted.
pub fn format_matcher(m: &Matcher) -> String {
    let mut out = String::new();
    if is_classic_name(&m.name) {
        out.push_str(&m.name);
    } else {
        quote_into(&mut out, &m.name);
    }
    out.push_str(op_text(m.op));
    quote_into(&mut out, &m.value);
    out
}

/// Matchers written as a list: `{a="b", c=~"d"}`.
pub fn format_matchers(ms: &[Matcher]) -> String {
    let inner: Vec<String> = ms.iter().map(format_matcher).collect();
    format!("{{{}}}", inner.join(", "))
}

fn quote_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => {
                let _ = write!(out, "{c}");
            }
        }
    }
    out.push('"');
}

fn is_classic_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Parser<'a> {
    input: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Result<Self, MatcherError> {
        let p = Self {
            input,
            chars: Vec::new(),
            pos: 0,
        };
        if input.len() > MAX_INPUT {
            return Err(p.error(MAX_INPUT, format!("longer than {MAX_INPUT} bytes")));
        }
        Ok(Self {
            chars: input.chars().collect(),
            ..p
        })
    }

    fn error(&self, at: usize, message: impl Into<String>) -> MatcherError {
        MatcherError {
            input: self.input.to_string(),
            at,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn list(&mut self) -> Result<Vec<Matcher>, MatcherError> {
        self.skip_space();
        let braced = self.eat('{');
        let mut out = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None if braced => return Err(self.error(self.pos, "missing the closing '}'")),
                None => break,
                Some('}') if braced => {
                    self.pos += 1;
                    self.skip_space();
                    if self.pos < self.chars.len() {
                        return Err(self.error(self.pos, "text after the closing '}'"));
                    }
                    break;
                }
                _ => {}
            }
            out.push(self.matcher(braced)?);
            self.skip_space();
            if !self.eat(',') {
                match self.peek() {
                    None if !braced => break,
                    Some('}') if braced => continue,
                    None => return Err(self.error(self.pos, "missing the closing '}'")),
                    Some(c) => return Err(self.error(self.pos, format!("expected ',' between matchers, found {c:?}"))),
                }
            }
        }
        if out.is_empty() {
            return Err(self.error(0, "no matcher"));
        }
        Ok(out)
    }

    fn matcher(&mut self, braced: bool) -> Result<Matcher, MatcherError> {
        let start = self.pos;
        let name = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            let from = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.pos += 1;
            }
            let name: String = self.chars[from..self.pos].iter().collect();
            if !is_classic_name(&name) {
                return Err(self.error(from, "expected a label name"));
            }
            name
        };
        self.skip_space();
        let op_at = self.pos;
        let op = match (self.peek(), self.chars.get(self.pos + 1).copied()) {
            (Some('='), Some('~')) => MatchOp::Regex,
            (Some('!'), Some('~')) => MatchOp::NotRegex,
            (Some('!'), Some('=')) => MatchOp::NotEqual,
            (Some('='), _) => MatchOp::Equal,
            _ => return Err(self.error(op_at, "expected one of =, !=, =~, !~")),
        };
        self.pos += if op == MatchOp::Equal { 1 } else { 2 };
        self.skip_space();
        let value = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            let from = self.pos;
            while self
                .peek()
                .is_some_and(|c| c != ',' && !(braced && c == '}') && c != '"')
            {
                self.pos += 1;
            }
            let raw: String = self.chars[from..self.pos].iter().collect();
            raw.trim().to_string()
        };
        Matcher::new(op, name, value).map_err(|e| self.error(start, e.to_string()))
    }

    fn quoted(&mut self) -> Result<String, MatcherError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error(open, "unterminated quoted string")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    let esc = self.chars.get(self.pos + 1).copied();
                    match esc {
                        Some('"') => out.push('"'),
                        Some('\\') => out.push('\\'),
                        Some('n') => out.push('\n'),
                        _ => return Err(self.error(self.pos, "unknown escape (use \\\", \\\\ or \\n)")),
                    }
                    self.pos += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn reads_the_forms_alertmanager_users_write() {
        let ms = parse_matchers(r#"{alertname="DiskFull", severity=~"page|critical" , team!=db,}"#).unwrap();
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[1].op, MatchOp::Regex);
        assert_eq!(ms[2].value, "db");
        let one = parse_matcher("service = checkout api").unwrap();
        assert_eq!((one.name.as_str(), one.value.as_str()), ("service", "checkout api"));
        let quoted = parse_matcher(r#""service.name"!="a\"b\\c""#).unwrap();
        assert_eq!(quoted.name, "service.name");
        assert_eq!(quoted.value, "a\"b\\c");
        assert_eq!(parse_matcher("x=").unwrap().value, "");
    }

    #[test]
    fn says_what_is_wrong_and_where() {
        for (text, at, says) in [
            ("", 0, "no matcher"),
            ("{a=b", 4, "closing"),
            ("a", 1, "expected one of"),
            ("1a=b", 0, "label name"),
            ("a=~\"(\"", 0, "regex"),
            ("a=\"b", 2, "unterminated"),
            ("a=\"\\x\"", 3, "unknown escape"),
            ("{a=b} c", 6, "after the closing"),
            ("{a=\"b\" c=d}", 7, "expected ','"),
        ] {
            let e = parse_matchers(text).unwrap_err();
            assert_eq!(e.at, at, "{text}: {e}");
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
        assert!(parse_matcher("a=b,c=d").unwrap_err().message.contains("expected one"));
    }

    #[test]
    fn matching_is_anchored_and_missing_labels_are_empty() {
        let ms = parse_matchers(r#"severity=~"page|critical",team!="db""#).unwrap();
        assert!(matches_all(&ms, &labels(&[("severity", "page")])));
        assert!(!matches_all(&ms, &labels(&[("severity", "pager")])));
        assert!(!matches_all(&ms, &labels(&[("severity", "page"), ("team", "db")])));
        let absent = parse_matchers(r#"team="""#).unwrap();
        assert!(matches_all(&absent, &labels(&[])));
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        let name = prop_oneof!["[a-zA-Z_][a-zA-Z0-9_]{0,8}", "[a-z.\\- ]{1,8}"];
        let value = "(\\PC|\\n|\"|\\\\){0,12}";
        let op = prop_oneof![Just(MatchOp::Equal), Just(MatchOp::NotEqual)];
        (name, op, value).prop_map(|(n, op, v)| Matcher::new(op, n, v).unwrap())
    }

    proptest! {
        #[test]
        fn formatted_matchers_parse_back(ms in proptest::collection::vec(arb_matcher(), 1..4)) {
            let text = format_matchers(&ms);
            let back = parse_matchers(&text).unwrap();
            prop_assert_eq!(back.len(), ms.len());
            for (a, b) in back.iter().zip(&ms) {
                prop_assert_eq!(&a.name, &b.name);
                prop_assert_eq!(a.op, b.op);
                prop_assert_eq!(&a.value, &b.value);
            }
        }

        #[test]
        fn any_text_parses_or_errs_without_panicking(text in "\\PC{0,40}") {
            let _ = parse_matchers(&text);
        }
    }
}
