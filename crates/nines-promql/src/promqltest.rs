//! A runner for Prometheus's promqltest scripts (`load`, `clear`, `eval`
//! with `expect` lines), reporting passed, failed and skipped evals.

use promql_parser::parser::{self, Expr};

use crate::engine::Engine;
use crate::storage::MemStorage;
use crate::value::{Labels, Value};

/// The outcome of one eval.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It gave the expected answer.
    Passed,
    /// It did not; the message says how.
    Failed(String),
    /// It was not run; the reason says why.
    Skipped(String),
}

/// One eval's outcome with where it is.
#[derive(Debug, Clone)]
pub struct EvalReport {
    /// 1-based line of the `eval`.
    pub line: usize,
    /// The query.
    pub query: String,
    /// What happened.
    pub outcome: Outcome,
}

/// What an eval says of one kind of annotation.
#[derive(Debug, Default, Clone)]
enum AnnotationExpect {
    /// Not checked.
    #[default]
    Unchecked,
    /// At least one, optionally with this exact text or matching regex.
    Some(Option<String>, Option<String>),
    /// None at all.
    None,
}

impl AnnotationExpect {
    fn parse(rest: &str) -> Self {
        let rest = rest.trim();
        if let Some(m) = rest.strip_prefix("msg:") {
            AnnotationExpect::Some(Some(m.trim().to_string()), None)
        } else if let Some(r) = rest.strip_prefix("regex:") {
            AnnotationExpect::Some(None, Some(r.trim().to_string()))
        } else {
            AnnotationExpect::Some(None, None)
        }
    }

    fn check(&self, what: &str, got: &[String]) -> Result<(), String> {
        match self {
            AnnotationExpect::Unchecked => Ok(()),
            AnnotationExpect::None if got.is_empty() => Ok(()),
            AnnotationExpect::None => Err(format!("expected no {what}, got {got:?}")),
            AnnotationExpect::Some(msg, re) => {
                let ok = match (msg, re) {
                    (Some(m), _) => got.iter().any(|g| g == m),
                    (None, Some(r)) => regex::Regex::new(r).is_ok_and(|re| got.iter().any(|g| re.is_match(g))),
                    (None, None) => !got.is_empty(),
                };
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "expected {what} {:?}, got {got:?}",
                        msg.as_ref().or(re.as_ref())
                    ))
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Expectation {
    fail: bool,
    fail_msg: Option<String>,
    fail_regex: Option<String>,
    warn: AnnotationExpect,
    info: AnnotationExpect,
    ordered: bool,
    string: Option<String>,
    range_vector: bool,
}

fn parse_number(s: &str) -> Option<f64> {
    match s {
        "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        "stale" => Some(f64::from_bits(nines_tsdb::STALE_NAN_BITS)),
        _ => {
            if let Some(hex) = s.strip_prefix("0x") {
                return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
            }
            s.parse().ok()
        }
    }
}

/// Most values one points string may expand to (a year of minutes is
/// half a million), so a typo like `0+1x1000000000` is an error, not an
/// exhausted machine.
pub const MAX_POINTS: usize = 5_000_000;

/// Expands a points string (`1 2 _ 3+1x2 stale _x3`) into optional
/// values; `None` if it is not valid or expands past [`MAX_POINTS`].
pub fn expand_points(s: &str) -> Option<Vec<Option<f64>>> {
    let mut out = Vec::new();
    let room = |out: &Vec<Option<f64>>, more: usize| out.len().checked_add(more).is_some_and(|n| n <= MAX_POINTS);
    for item in s.split_whitespace() {
        if !room(&out, 1) {
            return None;
        }
        if item == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = item.strip_prefix("_x") {
            let n: usize = n.parse().ok()?;
            if !room(&out, n) {
                return None;
            }
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        if let Some((base, times)) = item.rsplit_once('x') {
            if let Ok(times) = times.parse::<usize>() {
                if !room(&out, times.saturating_add(1)) {
                    return None;
                }
                // a+bxn, a-bxn or axn: n+1 values.
                let split = base
                    .char_indices()
                    .skip(1)
                    .find(|(i, c)| (*c == '+' || *c == '-') && !base[..*i].ends_with(['e', 'E']))
                    .map(|(i, _)| i);
                let (start, step) = match split {
                    Some(i) => (parse_number(&base[..i])?, parse_number(&base[i..])?),
                    None => (parse_number(base)?, 0.0),
                };
                for k in 0..=times {
                    out.push(Some(start + step * k as f64));
                }
                continue;
            }
        }
        out.push(Some(parse_number(item)?));
    }
    Some(out)
}

/// Splits `metric{labels} rest` into labels and the rest.
fn split_series(line: &str) -> Option<(Labels, &str)> {
    let line = line.trim();
    let first_space = line.find(char::is_whitespace).unwrap_or(line.len());
    let end = if let Some(brace) = line.find('{').filter(|b| *b < first_space) {
        // Find the matching close brace outside quotes.
        let mut in_q = false;
        let mut esc = false;
        let mut close = None;
        for (i, c) in line[brace..].char_indices() {
            if esc {
                esc = false;
                continue;
            }
            match c {
                '\\' if in_q => esc = true,
                '"' => in_q = !in_q,
                '}' if !in_q => {
                    close = Some(brace + i + 1);
                    break;
                }
                _ => {}
            }
        }
        close?
    } else {
        line.find(char::is_whitespace).unwrap_or(line.len())
    };
    let (sel, rest) = line.split_at(end);
    if sel.trim() == "{}" {
        return Some((Labels::default(), rest.trim()));
    }
    let expr = parser::parse(sel).ok()?;
    let Expr::VectorSelector(vs) = expr else {
        return None;
    };
    let mut labels: Vec<(String, String)> = vs
        .matchers
        .matchers
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    if let Some(n) = vs.name {
        labels.push((crate::value::NAME.to_string(), n));
    }
    labels.sort();
    Some((labels.into(), rest.trim()))
}

/// A series written as `metric{label="value"}` (or `{...}`), as in
/// `load` blocks and promtool's `input_series`, with nothing after it.
pub fn parse_series(text: &str) -> Option<Labels> {
    match split_series(text)? {
        (labels, "") => Some(labels),
        _ => None,
    }
}

/// Equal within a relative 1e-6 (NaN equals NaN, stale only stale), as
/// Prometheus's test scripts compare values.
pub fn almost_equal(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return nines_tsdb::is_stale_nan(a) == nines_tsdb::is_stale_nan(b);
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < f64::MIN_POSITIVE {
        return diff < 1e-6 * f64::MIN_POSITIVE;
    }
    diff / (a.abs() + b.abs()).min(f64::MAX) < 1e-6
}

fn show(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Runs one script; returns every eval's outcome.
pub fn run_script(text: &str, experimental: bool) -> Vec<EvalReport> {
    // Prometheus's test engine runs with delayed name removal; so does
    // this runner, or name_label_dropping.test could not pass.
    let engine = Engine {
        delayed_name_removal: true,
        ..Engine::default()
    };
    let mut storage = MemStorage::default();
    // Series holding native histograms (not loaded) and, for
    // `load_with_nhcb`, the base names classic buckets are also exposed as.
    let mut native: Vec<Labels> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut reports = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "clear" {
            storage.clear();
            native.clear();
            continue;
        }
        if let Some(rest) = line
            .strip_prefix("load_with_nhcb ")
            .or_else(|| line.strip_prefix("load "))
        {
            let nhcb = line.starts_with("load_with_nhcb");
            let step = crate::duration::parse_duration_ms(rest.trim()).unwrap_or(60_000);
            while i < lines.len()
                && (lines[i].starts_with(' ') || lines[i].starts_with('\t'))
                && !lines[i].trim().is_empty()
            {
                let l = lines[i];
                i += 1;
                let Some((labels, points)) = split_series(l) else {
                    continue;
                };
                if points.contains("{{") {
                    native.push(labels);
                    continue;
                }
                if nhcb {
                    // Classic buckets are also loaded as a native histogram
                    // under the base name.
                    if let Some(n) = labels.iter().find(|(n, _)| n == crate::value::NAME) {
                        if let Some(base) = n.1.strip_suffix("_bucket") {
                            let mut l: Labels = labels
                                .iter()
                                .filter(|(k, _)| k != "le" && k != crate::value::NAME)
                                .cloned()
                                .collect();
                            crate::value::set(&mut l, crate::value::NAME, base);
                            native.push(l);
                        }
                    }
                }
                let Some(values) = expand_points(points) else {
                    continue;
                };
                let pts: Vec<(i64, f64)> = values
                    .iter()
                    .enumerate()
                    .filter_map(|(k, v)| v.map(|v| (k as i64 * step, v)))
                    .collect();
                storage.add(labels, &pts);
            }
            continue;
        }
        let eval_line = i;
        let (kind, rest, legacy_fail, legacy_ordered) = if let Some(r) = line.strip_prefix("eval_fail ") {
            ("eval", r, true, false)
        } else if let Some(r) = line.strip_prefix("eval_ordered ") {
            ("eval", r, false, true)
        } else if let Some(r) = line
            .strip_prefix("eval_warn ")
            .or_else(|| line.strip_prefix("eval_info "))
        {
            ("eval_annot", r, false, false)
        } else if let Some(r) = line.strip_prefix("eval ") {
            ("eval", r, false, false)
        } else {
            continue;
        };
        // Body: expect lines and expected results until a blank line.
        let mut exp = Expectation {
            fail: legacy_fail,
            ordered: legacy_ordered,
            warn: if kind == "eval_annot" {
                AnnotationExpect::Some(None, None)
            } else {
                AnnotationExpect::Unchecked
            },
            ..Default::default()
        };
        let mut expected: Vec<&str> = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            let l = lines[i].trim();
            i += 1;
            if l.starts_with('#') {
                continue;
            }
            if let Some(e) = l.strip_prefix("expect ") {
                let e = e.trim();
                if let Some(m) = e.strip_prefix("fail msg:") {
                    exp.fail = true;
                    exp.fail_msg = Some(m.trim().to_string());
                } else if let Some(r) = e.strip_prefix("fail regex:") {
                    exp.fail = true;
                    exp.fail_regex = Some(r.trim().to_string());
                } else if e == "fail" {
                    exp.fail = true;
                } else if e == "no_warn" {
                    exp.warn = AnnotationExpect::None;
                } else if e == "no_info" {
                    exp.info = AnnotationExpect::None;
                } else if let Some(r) = e.strip_prefix("warn") {
                    exp.warn = AnnotationExpect::parse(r);
                } else if let Some(r) = e.strip_prefix("info") {
                    exp.info = AnnotationExpect::parse(r);
                } else if e == "ordered" {
                    exp.ordered = true;
                } else if let Some(s) = e.strip_prefix("string ") {
                    let s = s.trim();
                    exp.string = Some(s.trim_matches(|c| c == '"' || c == '`').to_string());
                } else if e.starts_with("range vector") {
                    exp.range_vector = true;
                }
                continue;
            }
            expected.push(l);
        }
        let (query, report) = run_eval(&engine, &storage, rest, &exp, &expected, &native, experimental);
        reports.push(EvalReport {
            line: eval_line,
            query,
            outcome: report,
        });
    }
    reports
}

fn run_eval(
    engine: &Engine,
    storage: &MemStorage,
    rest: &str,
    exp: &Expectation,
    expected: &[&str],
    native: &[Labels],
    experimental: bool,
) -> (String, Outcome) {
    let (query, instant_at, range) = if let Some(r) = rest.strip_prefix("instant at ") {
        let (at, q) = r.split_once(' ').unwrap_or((r, ""));
        (q.trim().to_string(), crate::duration::parse_duration_ms(at), None)
    } else if let Some(r) = rest.strip_prefix("range from ") {
        // from <start> to <end> step <step> <query>
        let parts: Vec<&str> = r.splitn(6, ' ').collect();
        if parts.len() < 6 || parts[1] != "to" || parts[3] != "step" {
            return (r.to_string(), Outcome::Failed("cannot read the eval line".into()));
        }
        let range = (
            crate::duration::parse_duration_ms(parts[0]),
            crate::duration::parse_duration_ms(parts[2]),
            crate::duration::parse_duration_ms(parts[4]),
        );
        (parts[5].trim().to_string(), None, Some(range))
    } else {
        return (rest.to_string(), Outcome::Failed("cannot read the eval line".into()));
    };
    if experimental {
        return (query, Outcome::Skipped("experimental feature file".into()));
    }
    if expected.iter().any(|l| l.contains("{{")) {
        return (query, Outcome::Skipped("native histogram result".into()));
    }
    if touches_native(&query, native) {
        return (query, Outcome::Skipped("native histogram input".into()));
    }
    let result = match (instant_at, range) {
        (Some(t), None) => engine
            .instant(storage, &query, t)
            .map(|r| (Some(r.value), r.annotations)),
        (None, Some((Some(s), Some(e), Some(st)))) => engine
            .range(storage, &query, s, e, st)
            .map(|m| (Some(Value::Matrix(m.value)), m.annotations)),
        _ => return (query, Outcome::Failed("cannot read the eval times".into())),
    };
    let value = match result {
        Err(e) => {
            if exp.fail {
                if let Some(m) = &exp.fail_msg {
                    if !e.to_string().contains(m.as_str()) {
                        return (query, Outcome::Failed(format!("error {e:?} does not say {m:?}")));
                    }
                }
                if let Some(r) = &exp.fail_regex {
                    if regex::Regex::new(r).is_ok_and(|re| !re.is_match(&e.to_string())) {
                        return (query, Outcome::Failed(format!("error {e:?} does not match {r:?}")));
                    }
                }
                return (query, Outcome::Passed);
            }
            return (query, Outcome::Failed(format!("unexpected error: {e}")));
        }
        Ok(v) => v,
    };
    if exp.fail {
        return (query, Outcome::Failed("expected an error, got a result".into()));
    }
    let (value, annotations) = value;
    let grid = range.and_then(|(s, _, st)| Some((s?, st?)));
    let verdict = compare(value, exp, expected, grid)
        .and_then(|()| exp.warn.check("warnings", &annotations.warnings))
        .and_then(|()| exp.info.check("infos", &annotations.infos));
    match verdict {
        Ok(()) => (query, Outcome::Passed),
        Err(m) => (query, Outcome::Failed(m)),
    }
}

/// Compares a result with the expected lines; `grid` is a range query's
/// (start, step), which places expected points in time.
fn compare(value: Option<Value>, exp: &Expectation, expected: &[&str], grid: Option<(i64, i64)>) -> Result<(), String> {
    let Some(value) = value else {
        return Err("no value".into());
    };
    if let Some(s) = &exp.string {
        return match value {
            Value::String(v) if &v == s => Ok(()),
            other => Err(format!("expected string {s:?}, got {other:?}")),
        };
    }
    match value {
        Value::Scalar(v) => {
            let want = expected.first().and_then(|l| parse_number(l.trim()));
            match want {
                Some(w) if almost_equal(w, v) => Ok(()),
                _ => Err(format!("expected scalar {:?}, got {v}", expected.first())),
            }
        }
        Value::String(s) => Err(format!("unexpected string {s:?}")),
        Value::Vector(samples) => {
            let mut want = Vec::new();
            for l in expected {
                let (labels, rest) = split_series(l).ok_or_else(|| format!("cannot read expected line {l:?}"))?;
                let v = parse_number(rest).ok_or_else(|| format!("cannot read value in {l:?}"))?;
                want.push((labels, v));
            }
            if want.len() != samples.len() {
                return Err(format!(
                    "expected {} samples, got {}: {}",
                    want.len(),
                    samples.len(),
                    samples
                        .iter()
                        .map(|s| format!("{} {}", show(&s.labels), s.value))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            for (k, (labels, v)) in want.iter().enumerate() {
                let found = if exp.ordered {
                    samples.get(k).filter(|s| &s.labels == labels)
                } else {
                    samples.iter().find(|s| &s.labels == labels)
                };
                match found {
                    Some(s) if almost_equal(*v, s.value) => {}
                    Some(s) => return Err(format!("{}: expected {v}, got {}", show(labels), s.value)),
                    None => {
                        return Err(format!(
                            "{} missing{}; got {}",
                            show(labels),
                            if exp.ordered { " at its position" } else { "" },
                            samples.iter().map(|s| show(&s.labels)).collect::<Vec<_>>().join(" ")
                        ))
                    }
                }
            }
            Ok(())
        }
        Value::Matrix(series) => {
            let mut want = Vec::new();
            for l in expected {
                let (labels, rest) = split_series(l).ok_or_else(|| format!("cannot read expected line {l:?}"))?;
                let pts = expand_points(rest).ok_or_else(|| format!("cannot read points in {l:?}"))?;
                want.push((labels, pts));
            }
            if grid.is_none() && !exp.range_vector {
                return Err("got a range vector".into());
            }
            if want.len() != series.len() {
                return Err(format!(
                    "expected {} series, got {}: {}",
                    want.len(),
                    series.len(),
                    series.iter().map(|s| show(&s.labels)).collect::<Vec<_>>().join(" ")
                ));
            }
            for (labels, pts) in &want {
                let Some(s) = series.iter().find(|s| &s.labels == labels) else {
                    return Err(format!("{} missing", show(labels)));
                };
                let wanted: Vec<(i64, f64)> = match grid {
                    Some((start, step)) => pts
                        .iter()
                        .enumerate()
                        .filter_map(|(k, v)| v.map(|v| (start + k as i64 * step, v)))
                        .collect(),
                    None => s
                        .points
                        .iter()
                        .map(|p| p.0)
                        .zip(pts.iter().flatten().copied())
                        .collect(),
                };
                let same = s.points.len() == wanted.len()
                    && s.points
                        .iter()
                        .zip(&wanted)
                        .all(|(a, b)| a.0 == b.0 && almost_equal(a.1, b.1));
                if !same {
                    return Err(format!("{}: expected {wanted:?}, got {:?}", show(labels), s.points));
                }
            }
            Ok(())
        }
    }
}

/// True if any selector of `query` matches a native-histogram series.
fn touches_native(query: &str, native: &[Labels]) -> bool {
    if native.is_empty() {
        return false;
    }
    let Ok(expr) = parser::parse(query) else {
        // Native-histogram-only operators (`</`, `>/`) do not parse; such a
        // query still names the series it reads.
        let words: Vec<&str> = query
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .collect();
        return native
            .iter()
            .filter_map(|l| crate::value::get(l, crate::value::NAME))
            .any(|name| words.contains(&name));
    };
    let mut selectors = Vec::new();
    collect_selectors(&expr, &mut selectors);
    selectors.iter().any(|vs| {
        let groups: Vec<&Vec<promql_parser::label::Matcher>> = if vs.matchers.or_matchers.is_empty() {
            vec![&vs.matchers.matchers]
        } else {
            vs.matchers.or_matchers.iter().collect()
        };
        groups.iter().any(|group| {
            let Ok(mut matchers) = crate::storage::convert_matchers(group) else {
                return false;
            };
            if let Some(n) = &vs.name {
                matchers.push(nines_tsdb::Matcher::equal(crate::value::NAME, n.clone()));
            }
            native.iter().any(|labels| {
                matchers
                    .iter()
                    .all(|m| m.matches(crate::value::get(labels, &m.name).unwrap_or("")))
            })
        })
    })
}

fn collect_selectors<'a>(e: &'a Expr, out: &mut Vec<&'a parser::VectorSelector>) {
    match e {
        Expr::VectorSelector(vs) => out.push(vs),
        Expr::MatrixSelector(ms) => out.push(&ms.vs),
        Expr::Subquery(s) => collect_selectors(&s.expr, out),
        Expr::Aggregate(a) => {
            collect_selectors(&a.expr, out);
            if let Some(p) = &a.param {
                collect_selectors(p, out);
            }
        }
        Expr::Unary(u) => collect_selectors(&u.expr, out),
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Expr::Paren(p) => collect_selectors(&p.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect_selectors(a, out)),
        _ => {}
    }
}
