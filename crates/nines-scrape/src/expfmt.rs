//! The Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text.
//!
//! Parsing is split in two so a scrape loop can skip most of the work on
//! series it has seen before: [`Parser::next_sample`] only finds where a
//! line's series part ends and reads its value and timestamp, returning
//! the raw series text (a cache key); [`parse_series`] turns that text
//! into a name and labels only when the cache misses.
//!
//! Choices where the formats leave room:
//! - OpenMetrics `_created` samples of counters, histograms, summaries and
//!   gauge histograms are metadata (a creation time, not a measurement)
//!   and are not returned, as Prometheus does with created-timestamp
//!   handling enabled. In the 0.0.4 format they are ordinary samples.
//! - Exemplars (` # {...} value [ts]` after an OpenMetrics sample) are
//!   checked to be well-formed enough to skip and then ignored.
//! - OpenMetrics timestamps are seconds (may be fractional); 0.0.4
//!   timestamps are integer milliseconds.

use std::borrow::Cow;

use rustc_hash::FxHashSet;

/// Which text format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// Picks the format from a `Content-Type` header; anything that is not
    /// OpenMetrics is read as the 0.0.4 text format (Prometheus 2 did the
    /// same, and many exporters send no or odd content types).
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(ct) if ct.trim_start().starts_with("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }
}

/// A parse failure: which line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One sample line, its series part still unparsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawSample<'a> {
    /// The exact text of the metric name and label block.
    pub series: &'a [u8],
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds, if the line has one.
    pub timestamp_ms: Option<i64>,
    /// 1-based line number, for errors found later.
    pub line: usize,
}

/// A parsed series: metric name and labels in the order written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeriesText<'a> {
    /// The metric name.
    pub name: Cow<'a, str>,
    /// The labels, without `__name__`.
    pub labels: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// Reads sample lines out of a body, skipping comments and metadata.
pub struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    line: usize,
    format: Format,
    seen_eof: bool,
    /// OpenMetrics families typed counter/histogram/summary/gaugehistogram,
    /// whose `_created` samples are skipped.
    created_families: FxHashSet<&'a [u8]>,
}

impl<'a> Parser<'a> {
    /// A parser over a whole response body.
    pub fn new(buf: &'a [u8], format: Format) -> Self {
        Self {
            buf,
            pos: 0,
            line: 0,
            format,
            seen_eof: false,
            created_families: FxHashSet::default(),
        }
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            message: message.into(),
        }
    }

    /// The next sample, `Ok(None)` at the end of the body.
    pub fn next_sample(&mut self) -> Result<Option<RawSample<'a>>, ParseError> {
        loop {
            if self.pos >= self.buf.len() {
                if self.format == Format::OpenMetrics && !self.seen_eof {
                    return Err(self.err("OpenMetrics body does not end with \"# EOF\""));
                }
                return Ok(None);
            }
            let start = self.pos;
            let end = memchr_newline(&self.buf[start..]).map_or(self.buf.len(), |i| start + i);
            self.pos = end + 1;
            self.line += 1;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if self.seen_eof {
                if line.is_empty() && self.pos >= self.buf.len() {
                    continue;
                }
                return Err(self.err("content after \"# EOF\""));
            }
            if self.format == Format::Text {
                line = trim_start(line);
            }
            if line.is_empty() {
                if self.format == Format::OpenMetrics {
                    return Err(self.err("empty line (OpenMetrics allows none)"));
                }
                continue;
            }
            if line[0] == b'#' {
                self.comment(line)?;
                continue;
            }
            if let Some(sample) = self.sample(line)? {
                return Ok(Some(sample));
            }
        }
    }

    fn comment(&mut self, line: &'a [u8]) -> Result<(), ParseError> {
        let rest = trim_start(&line[1..]);
        if self.format == Format::OpenMetrics {
            if line == b"# EOF" {
                self.seen_eof = true;
                return Ok(());
            }
            if let Some(t) = rest.strip_prefix(b"TYPE") {
                let mut parts = trim_start(t).splitn(2, |b| *b == b' ' || *b == b'\t');
                let family = parts.next().unwrap_or_default();
                let kind = trim_start(parts.next().unwrap_or_default());
                match kind {
                    b"counter" | b"histogram" | b"summary" | b"gaugehistogram" => {
                        self.created_families.insert(family);
                    }
                    b"gauge" | b"info" | b"stateset" | b"unknown" => {}
                    other => return Err(self.err(format!("unknown metric type {:?}", String::from_utf8_lossy(other)))),
                }
            }
        }
        Ok(())
    }

    fn sample(&mut self, line: &'a [u8]) -> Result<Option<RawSample<'a>>, ParseError> {
        let series_end = scan_series(line).map_err(|m| self.err(m))?;
        let series = &line[..series_end];
        if self.format == Format::OpenMetrics && self.is_created_sample(series) {
            return Ok(None);
        }
        let mut rest = line[series_end..].splitn(2, |b| *b == b'#');
        let value_part = rest.next().unwrap_or_default();
        if let Some(exemplar) = rest.next() {
            if self.format == Format::Text {
                return Err(self.err("unexpected '#' after the value"));
            }
            check_exemplar(exemplar).map_err(|m| self.err(m))?;
        }
        let mut fields = value_part
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|f| !f.is_empty());
        let value = match fields.next() {
            Some(v) => {
                parse_float(v).ok_or_else(|| self.err(format!("invalid value {:?}", String::from_utf8_lossy(v))))?
            }
            None => return Err(self.err("missing value")),
        };
        let timestamp_ms = match fields.next() {
            None => None,
            Some(t) => Some(match self.format {
                Format::Text => std::str::from_utf8(t)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| self.err(format!("invalid timestamp {:?}", String::from_utf8_lossy(t))))?,
                Format::OpenMetrics => parse_float(t)
                    .filter(|s| s.is_finite() && s.abs() < 9.2e15)
                    .map(|s| (s * 1000.0).round() as i64)
                    .ok_or_else(|| self.err(format!("invalid timestamp {:?}", String::from_utf8_lossy(t))))?,
            }),
        };
        if fields.next().is_some() {
            return Err(self.err("unexpected text after the timestamp"));
        }
        Ok(Some(RawSample {
            series,
            value,
            timestamp_ms,
            line: self.line,
        }))
    }

    fn is_created_sample(&self, series: &[u8]) -> bool {
        if self.created_families.is_empty() {
            return false;
        }
        let name_end = series.iter().position(|b| *b == b'{').unwrap_or(series.len());
        let name = &series[..name_end];
        name.strip_suffix(b"_created")
            .is_some_and(|family| self.created_families.contains(family))
    }
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| *c == b'\n')
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| **c == b' ' || **c == b'\t').count();
    &b[n..]
}

/// Finds the end of the series part (metric name plus optional `{...}`),
/// honouring quotes so a `}` or space inside a label value is not taken
/// for the end.
fn scan_series(line: &[u8]) -> Result<usize, String> {
    let mut i = 0;
    while i < line.len() && !matches!(line[i], b' ' | b'\t' | b'{') {
        i += 1;
    }
    if i < line.len() && line[i] == b'{' {
        i += 1;
        let mut in_quotes = false;
        loop {
            let Some(&c) = line.get(i) else {
                return Err("unterminated label block".into());
            };
            i += 1;
            match c {
                b'\\' if in_quotes => i += 1,
                b'"' => in_quotes = !in_quotes,
                b'}' if !in_quotes => break,
                _ => {}
            }
        }
    } else if i == 0 {
        return Err("missing metric name".into());
    }
    Ok(i)
}

fn check_exemplar(b: &[u8]) -> Result<(), String> {
    let b = trim_start(b);
    if b.first() != Some(&b'{') {
        return Err("exemplar must start with '{'".into());
    }
    let end = scan_series(b).map_err(|m| format!("exemplar: {m}"))?;
    let mut fields = b[end..].split(|c| *c == b' ').filter(|f| !f.is_empty());
    match fields.next().and_then(parse_float) {
        Some(_) => Ok(()),
        None => Err("exemplar without a valid value".into()),
    }
}

/// Parses a float the way Go's `strconv.ParseFloat` reads exposition
/// values: decimals, exponents, `NaN`, `+Inf`, `-Inf`, `Inf`, any case.
pub fn parse_float(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if let Ok(v) = s.parse::<f64>() {
        // Rust accepts "infinity"/"nan" spellings Go also accepts; it does
        // not accept hex floats or underscores, which exporters never send.
        return Some(v);
    }
    None
}

/// Parses the series text of a [`RawSample`]: `name`, `name{l="v",...}`,
/// or the quoted UTF-8 forms `{"name",l="v"}` and `{"l.x"="v"}`.
pub fn parse_series(series: &[u8]) -> Result<SeriesText<'_>, String> {
    let text = std::str::from_utf8(series).map_err(|_| "series is not valid UTF-8".to_string())?;
    let brace = text.find('{');
    let bare_name = &text[..brace.unwrap_or(text.len())];
    let mut out = SeriesText {
        name: Cow::Borrowed(bare_name),
        labels: Vec::new(),
    };
    let Some(brace) = brace else {
        return Ok(out);
    };
    let mut rest = &text[brace + 1..];
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            if !r.is_empty() {
                return Err("text after the label block".into());
            }
            break;
        }
        let name: Cow<'_, str>;
        if rest.starts_with('"') {
            let (s, r) = quoted(rest)?;
            rest = r.trim_start();
            if rest.starts_with(',') || rest.starts_with('}') {
                if !out.name.is_empty() {
                    return Err("metric name given twice".into());
                }
                out.name = s;
                rest = rest.strip_prefix(',').unwrap_or(rest);
                continue;
            }
            name = s;
        } else {
            let n = rest
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                .count();
            if n == 0 {
                return Err(format!("expected a label name at {:?}", preview(rest)));
            }
            name = Cow::Borrowed(&rest[..n]);
            rest = rest[n..].trim_start();
        }
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("expected '=' after label {name:?}"))?
            .trim_start();
        let (value, r) = quoted(rest)?;
        out.labels.push((name, value));
        rest = r.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err(format!("expected ',' or '}}' at {:?}", preview(rest)));
        }
    }
    if out.name.is_empty() {
        return Err("missing metric name".into());
    }
    Ok(out)
}

fn preview(s: &str) -> &str {
    let end = s.char_indices().nth(20).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

/// Reads a `"..."` string with `\\`, `\"` and `\n` escapes; borrows when
/// there are none.
fn quoted(s: &str) -> Result<(Cow<'_, str>, &str), String> {
    let body = s
        .strip_prefix('"')
        .ok_or_else(|| format!("expected '\"' at {:?}", preview(s)))?;
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut owned: Option<String> = None;
    let mut run_start = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let value = match owned {
                    Some(mut o) => {
                        o.push_str(&body[run_start..i]);
                        Cow::Owned(o)
                    }
                    None => Cow::Borrowed(&body[..i]),
                };
                return Ok((value, &body[i + 1..]));
            }
            b'\\' => {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&body[run_start..i]);
                match bytes.get(i + 1) {
                    Some(b'\\') => o.push('\\'),
                    Some(b'"') => o.push('"'),
                    Some(b'n') => o.push('\n'),
                    Some(_) => {
                        // The 0.0.4 format keeps unknown escapes as written.
                        o.push('\\');
                        i += 1;
                        run_start = i;
                        continue;
                    }
                    None => break,
                }
                i += 2;
                run_start = i;
            }
            _ => i += 1,
        }
    }
    Err("unterminated quoted string".into())
}

/// Parses a whole body for fuzzing: never panics.
#[doc(hidden)]
pub fn fuzz_parse(body: &[u8], open_metrics: bool) -> usize {
    let format = if open_metrics {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    let mut p = Parser::new(body, format);
    let mut n = 0;
    while let Ok(Some(s)) = p.next_sample() {
        if parse_series(s.series).is_ok() {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = (String, Vec<(String, String)>, f64, Option<i64>);

    fn all(body: &str, format: Format) -> Result<Vec<Parsed>, ParseError> {
        let mut p = Parser::new(body.as_bytes(), format);
        let mut out = Vec::new();
        while let Some(s) = p.next_sample()? {
            let st = parse_series(s.series).map_err(|m| ParseError {
                line: s.line,
                message: m,
            })?;
            out.push((
                st.name.into_owned(),
                st.labels
                    .into_iter()
                    .map(|(n, v)| (n.into_owned(), v.into_owned()))
                    .collect(),
                s.value,
                s.timestamp_ms,
            ));
        }
        Ok(out)
    }

    #[test]
    fn text_format_with_comments_escapes_and_timestamps() {
        let body = "# HELP http_requests_total The total.\n\
                    # TYPE http_requests_total counter\n\
                    http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                    http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
                    \n\
                    msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n\
                    metric_without_timestamp_and_labels 12.47\n\
                    something_weird{problem=\"division by zero\"} +Inf -3982045\n\
                    nan_value NaN\n\
                    trailing_comma{a=\"1\",} -Inf\n";
        let got = all(body, Format::Text).unwrap();
        assert_eq!(got.len(), 7);
        assert_eq!(
            got[0].1,
            vec![("method".into(), "post".into()), ("code".into(), "200".into())]
        );
        assert_eq!(got[0].3, Some(1395066363000));
        assert_eq!(got[2].1[0].1, "C:\\DIR\\FILE.TXT");
        assert_eq!(got[2].1[1].1, "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(
            got[3],
            ("metric_without_timestamp_and_labels".into(), vec![], 12.47, None)
        );
        assert_eq!(got[4].2, f64::INFINITY);
        assert_eq!(got[4].3, Some(-3982045));
        assert!(got[5].2.is_nan());
        assert_eq!(got[6].1, vec![("a".into(), "1".into())]);
    }

    #[test]
    fn braces_and_spaces_inside_values_do_not_end_the_series() {
        let got = all("m{a=\"x} y\",b=\"\\\"}\"} 1\n", Format::Text).unwrap();
        assert_eq!(got[0].1, vec![("a".into(), "x} y".into()), ("b".into(), "\"}".into())]);
    }

    #[test]
    fn quoted_utf8_names() {
        let got = all("{\"my.metric\",\"http.method\"=\"GET\"} 2\n", Format::Text).unwrap();
        assert_eq!(got[0].0, "my.metric");
        assert_eq!(got[0].1, vec![("http.method".into(), "GET".into())]);
    }

    #[test]
    fn openmetrics_eof_created_exemplars_and_second_timestamps() {
        let body = "# TYPE foo counter\n\
                    # UNIT foo seconds\n\
                    foo_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
                    foo_created 1520430000.123\n\
                    # TYPE g gauge\n\
                    g_created 5\n\
                    # EOF\n";
        let got = all(body, Format::OpenMetrics).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "foo_total");
        assert_eq!(got[0].3, Some(1520879607789));
        assert_eq!(got[1].0, "g_created");
    }

    #[test]
    fn openmetrics_requires_eof_and_nothing_after() {
        assert!(all("a 1\n", Format::OpenMetrics).unwrap_err().message.contains("EOF"));
        assert!(all("a 1\n# EOF\nb 2\n", Format::OpenMetrics).is_err());
        assert!(all("a 1\n# EOF", Format::OpenMetrics).is_ok());
    }

    #[test]
    fn errors_name_the_line() {
        let e = all("ok 1\nbad{a=\"1\" 2\n", Format::Text).unwrap_err();
        assert_eq!(e.line, 2);
        let e = all("ok 1\n\nm notanumber\n", Format::Text).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("invalid value"));
        assert!(all("m 1 2 3\n", Format::Text).is_err());
        assert!(all("m{a=1} 1\n", Format::Text).is_err());
        assert!(all("m 1 # {a=\"b\"} 1\n", Format::Text).is_err());
    }

    #[test]
    fn content_type_picks_the_format() {
        assert_eq!(
            Format::from_content_type(Some("application/openmetrics-text; version=1.0.0; charset=utf-8")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_content_type(Some("text/plain; version=0.0.4")),
            Format::Text
        );
        assert_eq!(Format::from_content_type(None), Format::Text);
    }

    proptest::proptest! {
        #[test]
        fn written_series_parse_back(
            name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
            labels in proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "\\PC{0,12}"), 0..5),
            value in proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
        ) {
            let mut line = name.clone();
            if !labels.is_empty() {
                line.push('{');
                for (i, (n, v)) in labels.iter().enumerate() {
                    if i > 0 { line.push(','); }
                    let esc = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                    line.push_str(&format!("{n}=\"{esc}\""));
                }
                line.push('}');
            }
            line.push_str(&format!(" {value:?}\n"));
            let got = all(&line, Format::Text).unwrap();
            proptest::prop_assert_eq!(got.len(), 1);
            proptest::prop_assert_eq!(&got[0].0, &name);
            proptest::prop_assert_eq!(&got[0].1, &labels);
            proptest::prop_assert_eq!(got[0].2, value);
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            fuzz_parse(&body, false);
            fuzz_parse(&body, true);
        }
    }
}
