//! Request parameters as the Prometheus API takes them: repeated `match[]`
//! selectors, and times as RFC 3339 or Unix seconds.

use nines_tsdb::{MatchOp, Matcher, METRIC_NAME};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::Expr;

use crate::error::ApiError;

/// Parameters from the query string and, for form POSTs, the body.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (query or body).
    pub fn parse(raw: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Adds the pairs of another source.
    pub fn extend(&mut self, other: Params) {
        self.0.extend(other.0);
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// One series selector: alternatives (from `or` inside braces), each a
/// conjunction of matchers.
pub type Selector = Vec<Vec<Matcher>>;

/// Parses a series selector like `up{job="api"}`.
pub fn parse_selector(text: &str) -> Result<Selector, ApiError> {
    let expr = promql_parser::parser::parse(text)
        .map_err(|e| ApiError::bad_data(format!("invalid selector {text:?}: {e}")))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(ApiError::bad_data(format!(
            "invalid selector {text:?}: not a series selector"
        )));
    };
    let name_matcher = vs.name.as_ref().map(|n| Matcher::equal(METRIC_NAME, n.clone()));
    let convert = |ms: &[promql_parser::label::Matcher]| -> Result<Vec<Matcher>, ApiError> {
        let mut out: Vec<Matcher> = name_matcher.iter().cloned().collect();
        for m in ms {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::Regex,
                PMatchOp::NotRe(_) => MatchOp::NotRegex,
            };
            out.push(Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| ApiError::bad_data(e.to_string()))?);
        }
        // Prometheus refuses selectors that would match every series.
        if out.iter().all(Matcher::matches_empty) {
            return Err(ApiError::bad_data(format!(
                "invalid selector {text:?}: vector selector must contain at least one non-empty matcher"
            )));
        }
        Ok(out)
    };
    let mut alternatives = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        alternatives.push(convert(&vs.matchers.matchers)?);
    } else {
        for group in &vs.matchers.or_matchers {
            alternatives.push(convert(group)?);
        }
    }
    Ok(alternatives)
}

/// Parses every `match[]`.
pub fn selectors(params: &Params) -> Result<Vec<Selector>, ApiError> {
    params.all("match[]").into_iter().map(parse_selector).collect()
}

/// Parses a time parameter: RFC 3339 or (fractional) Unix seconds. Returns
/// milliseconds, or `default` when absent.
pub fn time_param(params: &Params, key: &str, default: i64) -> Result<i64, ApiError> {
    match params.get(key) {
        None | Some("") => Ok(default),
        Some(v) => parse_time(v).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter {key:?}: cannot parse {v:?} to a valid timestamp"
            ))
        }),
    }
}

/// Parses RFC 3339 or Unix seconds into milliseconds, clamped to the
/// times Prometheus can represent ([`nines_tsdb::MIN_TIMESTAMP_MS`] to
/// [`nines_tsdb::MAX_TIMESTAMP_MS`]), so that arithmetic on two parsed
/// times never overflows.
pub fn parse_time(v: &str) -> Option<i64> {
    let ms = if let Ok(secs) = v.parse::<f64>() {
        if secs.is_nan() {
            return None;
        }
        // A float cast saturates; the clamp below makes it exact.
        (secs * 1000.0).round() as i64
    } else {
        parse_rfc3339(v)?
    };
    Some(ms.clamp(nines_tsdb::MIN_TIMESTAMP_MS, nines_tsdb::MAX_TIMESTAMP_MS))
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` to Unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut pos = 19;
    let mut millis = 0i64;
    if b.get(pos) == Some(&b'.') {
        let start = pos + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end == start {
            return None;
        }
        let digits = &s[start..end];
        let first3: String = digits.chars().chain("000".chars()).take(3).collect();
        millis = first3.parse().ok()?;
        pos = end;
    }
    let offset_min = match b.get(pos)? {
        b'Z' | b'z' if pos + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if pos + 6 == b.len() && b[pos + 3] == b':' => {
            let (oh, om) = (num(pos + 1..pos + 3)?, num(pos + 4..pos + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_min * 60;
    Some(secs * 1000 + millis)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A `limit` parameter: `default` when absent, else a number from 1 to
/// `max`.
pub fn limit(given: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match given {
        None => Ok(default),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::bad_data(format!("limit: {l:?} is not a number from 1 to {max}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_like_prometheus() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.123"), Some(1_700_000_000_123));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2023-11-14T22:13:20.5Z"), Some(1_700_000_000_500));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00"), Some(1_700_000_000_000));
        assert_eq!(parse_time("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(parse_time("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("NaN"), None);
        // Beyond what Prometheus represents: clamped, never wrapped.
        assert_eq!(parse_time("-9300000000000000"), Some(nines_tsdb::MIN_TIMESTAMP_MS));
        assert_eq!(parse_time("9000000000000000"), Some(9_000_000_000_000_000_000));
        assert_eq!(parse_time("1e300"), Some(nines_tsdb::MAX_TIMESTAMP_MS));
        assert_eq!(parse_time("-Inf"), Some(nines_tsdb::MIN_TIMESTAMP_MS));
    }

    #[test]
    fn selectors_become_matchers() {
        let s = parse_selector(r#"up{job=~"a|b", zone!=""}"#).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].len(), 3);
        assert_eq!(s[0][0].name, "__name__");
        let e = parse_selector(r#"{job=""}"#).unwrap_err();
        assert!(e.message.contains("non-empty matcher"), "{}", e.message);
        let e = parse_selector("rate(x[5m])").unwrap_err();
        assert!(e.message.contains("not a series selector"), "{}", e.message);
        let s = parse_selector(r#"{job="a" or job="b"}"#).unwrap();
        assert_eq!(s.len(), 2);
    }
}
