//! Evaluation: a query is parsed once, every selector's data is fetched
//! once for the whole query span, and the expression is evaluated at each
//! step over that data.
//!
//! Semantics follow Prometheus 3.x: range selectors and the lookback
//! window are left-open (`(t - range, t]`), a staleness marker ends a
//! series for instant selectors and is never part of a range.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use promql_parser::parser::{self, AtModifier, Expr, Offset};
use rustc_hash::FxHashMap;

use crate::error::EvalError;
use crate::storage::{convert_matchers, Queryable};
use crate::value::{Labels, Sample, Series, Value};
use crate::{aggregate, binary, functions};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct Engine {
    /// How far back an instant selector looks for a sample.
    pub lookback: Duration,
    /// Subquery step when none is written.
    pub default_subquery_step: Duration,
    /// Most samples a query may hold from storage at once.
    pub max_samples: usize,
    /// Longest a query may run.
    pub timeout: Duration,
    /// Most samples a query may look at over its whole evaluation (each
    /// sample counted every time a step or subquery step reads it), as
    /// VictoriaMetrics's `-search.maxSamplesPerQuery`: bounds the work of
    /// nested subqueries that hold little but read much.
    pub max_samples_processed: u64,
    /// Set to call the query off (its client went away); checked as often
    /// as the deadline.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Most series a query may return.
    pub max_series: usize,
    /// Prometheus's `promql-delayed-name-removal`: functions and operators
    /// only mark `__name__` for removal, and it goes when evaluation ends,
    /// so `label_replace` can still read it and intermediate results do
    /// not collide. Off by default, as in Prometheus 3.x.
    pub delayed_name_removal: bool,
    /// Answer instant selectors, range functions over selectors and the
    /// folding aggregations over either series-major, reading the store
    /// one series at a time (see `batch.rs`). Same answers, less time and
    /// memory; off only to cross-check the two paths.
    pub series_major: bool,
}

impl Default for Engine {
    fn default() -> Self {
        Self {
            lookback: Duration::from_secs(300),
            default_subquery_step: Duration::from_secs(60),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_samples_processed: DEFAULT_MAX_SAMPLES_PROCESSED,
            cancel: None,
            max_series: 1_000_000,
            delayed_name_removal: false,
            series_major: true,
        }
    }
}

/// Warnings and infos raised while evaluating, as Prometheus words them
/// (`PromQL warning: ... (line:col)`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    /// Results may be incomplete or misleading.
    pub warnings: Vec<String>,
    /// Hints about the query.
    pub infos: Vec<String>,
}

/// A result with the annotations raised while computing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated<T> {
    /// The result.
    pub value: T,
    /// Warnings and infos.
    pub annotations: Annotations,
}

/// Deepest nesting of parentheses, braces and brackets a query may have:
/// parsing and evaluation recurse, and a hostile query must not exhaust
/// the stack.
pub const MAX_NESTING: usize = 128;

/// Most operator characters a query may have outside strings and label
/// matchers: bounds the depth of a chain like `1+1+1+...`. Callers should
/// still evaluate on a thread with a generous stack (the server uses
/// [`QUERY_STACK_BYTES`]).
pub const MAX_OPERATORS: usize = 10_000;

/// Default of [`Engine::max_samples_processed`].
pub const DEFAULT_MAX_SAMPLES_PROCESSED: u64 = 1_000_000_000;

/// Most steps a range query may have (Prometheus's guard against absurd
/// resolutions).
pub const MAX_RANGE_STEPS: i128 = 11_000;

/// Stack size for a thread that parses and evaluates queries.
pub const QUERY_STACK_BYTES: usize = 64 << 20;

/// Parses a query, turning the parser's message into `bad_data`.
pub fn parse(query: &str) -> Result<Expr, EvalError> {
    let mut depth = 0usize;
    let mut braces = 0usize;
    let mut operators = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in query.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '+' | '-' | '*' | '/' | '%' | '^' | '<' | '>' | '=' | '!' if braces == 0 => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Err(EvalError::BadData(format!(
                        "query has more than {MAX_OPERATORS} operators"
                    )));
                }
            }
            '(' | '{' | '[' => {
                if c == '{' {
                    braces += 1;
                }
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(EvalError::BadData(format!(
                        "query nests deeper than {MAX_NESTING} levels of parentheses, braces or brackets"
                    )));
                }
            }
            ')' | '}' | ']' => {
                if c == '}' {
                    braces = braces.saturating_sub(1);
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    parser::parse(query).map_err(EvalError::BadData)
}

/// A duration in milliseconds, saturating: a written range such as
/// `[100000000y]` must not wrap into a negative time span.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        Some(Offset::Pos(d)) => millis(*d),
        Some(Offset::Neg(d)) => -millis(*d),
        None => 0,
    }
}

impl Engine {
    fn check_series(&self, n: usize) -> Result<(), EvalError> {
        if n > self.max_series {
            return Err(EvalError::Execution(format!(
                "query returned {n} series, more than the limit of {} (query.max_series)",
                self.max_series
            )));
        }
        Ok(())
    }

    /// Evaluates `query` at `t` (ms).
    pub fn instant(&self, storage: &dyn Queryable, query: &str, t: i64) -> Result<Evaluated<Value>, EvalError> {
        let expr = parse(query)?;
        let ev = Evaluator::prepare(self, storage, &expr, query, t, t, 0)?;
        let v = ev.eval(&expr, t)?;
        let value = match v {
            Value::Vector(mut vec) => {
                if vec.iter().any(|s| s.drop_name) {
                    for s in &mut vec {
                        if s.drop_name {
                            ev.drop_name(&mut s.labels);
                        }
                    }
                    functions::check_unique(&vec)?;
                }
                self.check_series(vec.len())?;
                sort_if_unordered(&expr, &mut vec);
                Value::Vector(vec)
            }
            Value::Matrix(m) => {
                let m = without_dropped_names(m)?;
                self.check_series(m.len())?;
                Value::Matrix(m)
            }
            other => other,
        };
        Ok(Evaluated {
            value,
            annotations: ev.annotations.into_inner(),
        })
    }

    /// Evaluates `query` at every `step` from `start` to `end` (ms); the
    /// result is a range vector (a scalar becomes one series without
    /// labels).
    pub fn range(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Evaluated<Vec<Series>>, EvalError> {
        let expr = parse(query)?;
        if step <= 0 {
            return Err(EvalError::BadData(
                "zero or negative query resolution step widths are not accepted".into(),
            ));
        }
        if end < start {
            return Err(EvalError::BadData("end timestamp must not be before start time".into()));
        }
        // Wide arithmetic: the span of two extreme times does not fit i64.
        if (i128::from(end) - i128::from(start)) / i128::from(step) > MAX_RANGE_STEPS {
            return Err(EvalError::BadData(format!(
                "exceeded maximum resolution of {MAX_RANGE_STEPS} points per timeseries. Try decreasing the query resolution (?step=XX)"
            )));
        }
        match expr.value_type() {
            parser::value::ValueType::Vector | parser::value::ValueType::Scalar => {}
            other => {
                return Err(EvalError::BadData(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    type_word(other)
                )))
            }
        }
        let ev = Evaluator::prepare(self, storage, &expr, query, start, end, step)?;
        warn_ineffective_sort(&ev, &expr);
        let mut out = StepSeries::default();
        let mut t = start;
        while t <= end {
            ev.check_deadline("query evaluation")?;
            out.add(t, ev.eval(&expr, t)?, "range query must be a scalar or instant vector")?;
            // Near the end of time the next step does not exist.
            match t.checked_add(step) {
                Some(next) => t = next,
                None => break,
            }
        }
        let series = without_dropped_names(out.finish())?;
        self.check_series(series.len())?;
        Ok(Evaluated {
            value: series,
            annotations: ev.annotations.into_inner(),
        })
    }
}

/// Removes `__name__` from series marked for it (delayed name removal).
/// Series that become one label set are merged when their points do not
/// share a time, as they would have been had the name gone at once;
/// otherwise the result is ambiguous, as Prometheus reports.
fn without_dropped_names(mut series: Vec<Series>) -> Result<Vec<Series>, EvalError> {
    if !series.iter().any(|s| s.drop_name) {
        return Ok(series);
    }
    for s in &mut series {
        if s.drop_name {
            crate::value::drop_name(&mut s.labels);
            s.drop_name = false;
        }
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    for s in series {
        match out.last_mut() {
            Some(prev) if prev.labels == s.labels => {
                prev.points.extend(s.points);
                prev.points.sort_by_key(|p| p.0);
                if prev.points.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(EvalError::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
            }
            _ => out.push(s),
        }
    }
    Ok(out)
}

/// Results of an expression evaluated step after step, gathered into
/// series (a range query's answer, a subquery's range vector), each with
/// whether its name is to be dropped.
#[derive(Default)]
struct StepSeries(FxHashMap<Labels, (Vec<(i64, f64)>, bool)>);

impl StepSeries {
    /// Adds the value at `t`; returns how many points that was. Only
    /// scalars and instant vectors can be gathered; `refusal` words the
    /// error for anything else.
    fn add(&mut self, t: i64, v: Value, refusal: &str) -> Result<usize, EvalError> {
        match v {
            Value::Scalar(v) => {
                self.0.entry(Labels::default()).or_default().0.push((t, v));
                Ok(1)
            }
            Value::Vector(samples) => {
                let n = samples.len();
                for s in samples {
                    let e = self.0.entry(s.labels).or_default();
                    e.0.push((t, s.value));
                    e.1 |= s.drop_name;
                }
                Ok(n)
            }
            other => Err(EvalError::BadData(format!("{refusal}, got {}", other.type_name()))),
        }
    }

    /// The series, sorted by labels.
    fn finish(self) -> Vec<Series> {
        let mut series: Vec<Series> = self
            .0
            .into_iter()
            .map(|(labels, (points, drop_name))| Series {
                labels,
                points,
                drop_name,
            })
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        series
    }
}

/// Sorting functions mean nothing in a range query (series come out
/// ordered by labels); Prometheus warns, and so does nines.
fn warn_ineffective_sort(ev: &Evaluator<'_>, e: &Expr) {
    match e {
        Expr::Call(c) => {
            if c.func.name.starts_with("sort") {
                ev.warn(
                    "sort is ineffective for range queries since results are always ordered by labels".into(),
                    &format!("{}(", c.func.name),
                );
            }
            c.args.args.iter().for_each(|a| warn_ineffective_sort(ev, a));
        }
        Expr::Aggregate(a) => warn_ineffective_sort(ev, &a.expr),
        Expr::Binary(b) => {
            warn_ineffective_sort(ev, &b.lhs);
            warn_ineffective_sort(ev, &b.rhs);
        }
        Expr::Paren(p) => warn_ineffective_sort(ev, &p.expr),
        Expr::Unary(u) => warn_ineffective_sort(ev, &u.expr),
        _ => {}
    }
}

fn type_word(t: parser::value::ValueType) -> &'static str {
    match t {
        parser::value::ValueType::Vector => "vector",
        parser::value::ValueType::Scalar => "scalar",
        parser::value::ValueType::Matrix => "range vector",
        parser::value::ValueType::String => "string",
    }
}

/// Instant results are sorted by labels unless the query orders them.
fn sort_if_unordered(expr: &Expr, v: &mut [Sample]) {
    let ordered = match expr {
        Expr::Call(c) => c.func.name.starts_with("sort"),
        Expr::Aggregate(a) => matches!(a.op.to_string().as_str(), "topk" | "bottomk"),
        Expr::Paren(p) => return sort_if_unordered(&p.expr, v),
        _ => false,
    };
    if !ordered {
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
}

/// The state of one query: fetched data and limits.
pub struct Evaluator<'e> {
    pub(crate) engine: &'e Engine,
    /// Selector data, keyed by the selector node's address.
    data: FxHashMap<usize, Vec<Series>>,
    /// The query's start and end, for `@ start()` / `@ end()`.
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// The range query's step (0 for an instant query).
    pub(crate) step: i64,
    deadline: Instant,
    query: String,
    annotations: std::cell::RefCell<Annotations>,
    /// Samples held: loaded from storage plus produced by subqueries.
    samples: std::cell::Cell<usize>,
    /// Samples looked at so far, against `max_samples_processed`.
    processed: std::cell::Cell<u64>,
    /// Label sets without `__name__`, by the identity of the label set
    /// they came from: a range query drops the same names at every step.
    nameless: std::cell::RefCell<FxHashMap<usize, Labels>>,
    /// Per selector and series, where the last window started and ended:
    /// successive steps move forward, so the next window is found by
    /// stepping from there instead of a binary search into cold memory.
    cursors: std::cell::RefCell<FxHashMap<(usize, bool), Vec<Window>>>,
    /// Per selector and series, its labels without `__name__`.
    nameless_by_series: std::cell::RefCell<FxHashMap<usize, Vec<Option<Labels>>>>,
    /// Nodes answered series-major before the walk (see `batch.rs`): their
    /// vector at each step, keyed by the node's address, taken as the walk
    /// reaches each step.
    batched: std::cell::RefCell<FxHashMap<usize, crate::batch::Steps>>,
}

/// The store matchers of one matcher set of a selector, with its metric
/// name as a matcher when written outside the braces.
pub(crate) fn selector_matchers(
    vs: &parser::VectorSelector,
    group: &[promql_parser::label::Matcher],
) -> Result<Vec<nines_tsdb::Matcher>, EvalError> {
    let mut matchers = convert_matchers(group)?;
    if let Some(name) = &vs.name {
        if !matchers.iter().any(|m| m.name == crate::value::NAME) {
            matchers.push(nines_tsdb::Matcher::equal(crate::value::NAME, name.clone()));
        }
    }
    Ok(matchers)
}

/// Where a series' last window started and ended (point indexes).
type Window = (usize, usize);

/// `points.partition_point(|p| p.0 <= bound)`, starting from `from` when
/// that is close: steps of a range query move forward a little at a time.
pub(crate) fn seek(points: &[(i64, f64)], from: usize, bound: i64) -> usize {
    let valid = from <= points.len() && (from == 0 || points[from - 1].0 <= bound);
    if valid {
        let mut i = from;
        let limit = (from + 64).min(points.len());
        while i < limit && points[i].0 <= bound {
            i += 1;
        }
        if i < limit || i == points.len() {
            return i;
        }
    }
    points.partition_point(|p| p.0 <= bound)
}

pub(crate) fn at_ms(at: &AtModifier, start: i64, end: i64) -> i64 {
    match at {
        AtModifier::Start => start,
        AtModifier::End => end,
        AtModifier::At(t) => match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => millis(d),
            Err(e) => -millis(e.duration()),
        },
    }
}

impl<'e> Evaluator<'e> {
    fn prepare(
        engine: &'e Engine,
        storage: &dyn Queryable,
        expr: &Expr,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Self, EvalError> {
        let mut ev = Evaluator {
            engine,
            data: FxHashMap::default(),
            start,
            end,
            step,
            deadline: Instant::now() + engine.timeout,
            query: query.to_string(),
            annotations: Default::default(),
            samples: Default::default(),
            processed: Default::default(),
            nameless: Default::default(),
            cursors: Default::default(),
            nameless_by_series: Default::default(),
            batched: Default::default(),
        };
        let mut total = 0usize;
        let mut nodes = Vec::new();
        if engine.series_major {
            crate::batch::plan(expr, &mut nodes);
        }
        for node in nodes {
            let steps = ev.batch(storage, node)?;
            total += steps.iter().map(Vec::len).sum::<usize>();
            ev.batched.get_mut().insert(node as *const Expr as usize, steps);
        }
        ev.fetch(storage, expr, start, end, &mut total)?;
        ev.samples.set(total);
        Ok(ev)
    }

    /// Fetches every selector under `e`, which is evaluated at times in
    /// `[lo, hi]`.
    fn fetch(
        &mut self,
        storage: &dyn Queryable,
        e: &Expr,
        lo: i64,
        hi: i64,
        total: &mut usize,
    ) -> Result<(), EvalError> {
        if self.batched.get_mut().contains_key(&(e as *const Expr as usize)) {
            return Ok(());
        }
        let lookback = millis(self.engine.lookback);
        let (start, end) = (self.start, self.end);
        let window = |at: &Option<AtModifier>, off: &Option<Offset>| {
            let off = offset_ms(off);
            match at {
                Some(a) => {
                    let t = at_ms(a, start, end);
                    (t.saturating_sub(off), t.saturating_sub(off))
                }
                None => (lo.saturating_sub(off), hi.saturating_sub(off)),
            }
        };
        match e {
            Expr::VectorSelector(vs) => {
                let (l, h) = window(&vs.at, &vs.offset);
                self.load(
                    storage,
                    vs as *const _ as usize,
                    vs,
                    l.saturating_sub(lookback),
                    h,
                    total,
                )?;
            }
            Expr::MatrixSelector(ms) => {
                let (l, h) = window(&ms.vs.at, &ms.vs.offset);
                self.load(
                    storage,
                    &ms.vs as *const _ as usize,
                    &ms.vs,
                    l.saturating_sub(millis(ms.range)),
                    h,
                    total,
                )?;
            }
            Expr::Subquery(sq) => {
                let (l, h) = window(&sq.at, &sq.offset);
                self.fetch(storage, &sq.expr, l.saturating_sub(millis(sq.range)), h, total)?;
            }
            Expr::Aggregate(a) => {
                self.fetch(storage, &a.expr, lo, hi, total)?;
                if let Some(p) = &a.param {
                    self.fetch(storage, p, lo, hi, total)?;
                }
            }
            Expr::Unary(u) => self.fetch(storage, &u.expr, lo, hi, total)?,
            Expr::Binary(b) => {
                self.fetch(storage, &b.lhs, lo, hi, total)?;
                self.fetch(storage, &b.rhs, lo, hi, total)?;
            }
            Expr::Paren(p) => self.fetch(storage, &p.expr, lo, hi, total)?,
            Expr::Call(c) => {
                for a in &c.args.args {
                    self.fetch(storage, a, lo, hi, total)?;
                }
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
        Ok(())
    }

    fn load(
        &mut self,
        storage: &dyn Queryable,
        key: usize,
        vs: &parser::VectorSelector,
        mint: i64,
        maxt: i64,
        total: &mut usize,
    ) -> Result<(), EvalError> {
        let mut all: Vec<Series> = Vec::new();
        let groups: Vec<&Vec<promql_parser::label::Matcher>> = if vs.matchers.or_matchers.is_empty() {
            vec![&vs.matchers.matchers]
        } else {
            vs.matchers.or_matchers.iter().collect()
        };
        let several = groups.len() > 1;
        let mut seen: rustc_hash::FxHashSet<Labels> = rustc_hash::FxHashSet::default();
        for group in groups {
            let matchers = selector_matchers(vs, group)?;
            for s in storage.select(&matchers, mint, maxt)? {
                // `or` groups may select a series twice; one group never does.
                if several && !seen.insert(s.labels.clone()) {
                    continue;
                }
                *total += s.points.len();
                all.push(s);
            }
            if *total > self.engine.max_samples {
                return Err(EvalError::TooManySamples("query loading"));
            }
        }
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.data.insert(key, all);
        Ok(())
    }

    /// Where `needle` first appears in the query, as Prometheus prints
    /// positions: `(line:column)`, both from 1.
    fn position(&self, needle: &str) -> String {
        let at = self.query.find(needle).unwrap_or(0);
        let before = &self.query[..at];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("({line}:{col})")
    }

    /// `labels` without `__name__`, computed once per source label set.
    pub(crate) fn drop_name(&self, labels: &mut Labels) {
        if !labels.iter().any(|(n, _)| n == crate::value::NAME) {
            return;
        }
        let key = labels.identity();
        let mut cache = self.nameless.borrow_mut();
        let dropped = cache.entry(key).or_insert_with(|| {
            let mut l = labels.clone();
            crate::value::drop_name(&mut l);
            l
        });
        *labels = dropped.clone();
    }

    /// Removes `__name__` from a sample whose value is new: at once, or
    /// when evaluation ends under delayed name removal.
    pub(crate) fn remove_name(&self, s: &mut Sample) {
        if self.engine.delayed_name_removal {
            s.drop_name = true;
        } else {
            self.drop_name(&mut s.labels);
        }
    }

    /// Records a warning about the node whose text is `node`.
    pub(crate) fn warn(&self, msg: String, node: &str) {
        let text = format!("PromQL warning: {msg} {}", self.position(node));
        let mut a = self.annotations.borrow_mut();
        if !a.warnings.contains(&text) {
            a.warnings.push(text);
        }
    }

    /// Records an info about the node whose text is `node`.
    pub(crate) fn info(&self, msg: String, node: &str) {
        let text = format!("PromQL info: {msg} {}", self.position(node));
        let mut a = self.annotations.borrow_mut();
        if !a.infos.contains(&text) {
            a.infos.push(text);
        }
    }

    /// Whether the query may go on: within its time, its work bound, and
    /// not called off. Called once per step, subquery step or series.
    pub(crate) fn check_deadline(&self, during: &'static str) -> Result<(), EvalError> {
        if Instant::now() > self.deadline {
            return Err(EvalError::Timeout(during));
        }
        if self.processed.get() > self.engine.max_samples_processed {
            return Err(EvalError::TooMuchWork(self.engine.max_samples_processed));
        }
        if self.engine.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(EvalError::Canceled(during));
        }
        Ok(())
    }

    /// Counts `n` samples looked at.
    pub(crate) fn processed(&self, n: usize) {
        self.processed.set(self.processed.get().saturating_add(n as u64));
    }

    /// The time a selector or subquery reads for evaluation time `t`: its
    /// `@` time if it has one, moved back by its `offset`.
    pub(crate) fn shifted(&self, at: Option<&parser::AtModifier>, offset: &Option<parser::Offset>, t: i64) -> i64 {
        at.map_or(t, |a| at_ms(a, self.start, self.end))
            .saturating_sub(offset_ms(offset))
    }

    /// The newest sample of each series a selector sees at `t`: in the
    /// lookback window and not a staleness marker.
    fn latest(&self, vs: &parser::VectorSelector, t: i64) -> Vec<(&Labels, i64, f64)> {
        let t = self.shifted(vs.at.as_ref(), &vs.offset, t);
        let lookback = millis(self.engine.lookback);
        let key = vs as *const _ as usize;
        let Some(series) = self.data.get(&key) else {
            return Vec::new();
        };
        let mut cursors = self.cursors.borrow_mut();
        let cursor = cursors
            .entry((key, false))
            .or_insert_with(|| vec![(0, 0); series.len()]);
        self.processed(series.len());
        let mut out = Vec::new();
        for (s, c) in series.iter().zip(cursor.iter_mut()) {
            let idx = seek(&s.points, c.1, t);
            c.1 = idx;
            if idx == 0 {
                continue;
            }
            let (ts, v) = s.points[idx - 1];
            if ts <= t.saturating_sub(lookback) || nines_tsdb::is_stale_nan(v) {
                continue;
            }
            out.push((&s.labels, ts, v));
        }
        out
    }

    /// The instant vector of a selector at `t`.
    fn vector_selector(&self, vs: &parser::VectorSelector, t: i64) -> Vector {
        self.latest(vs, t)
            .into_iter()
            .map(|(labels, _, value)| Sample::new(labels.clone(), value))
            .collect()
    }

    /// Labels and sample timestamps of a selector at `t`.
    pub(crate) fn selector_points(&self, vs: &parser::VectorSelector, t: i64) -> Vec<(Labels, i64)> {
        self.latest(vs, t)
            .into_iter()
            .map(|(l, ts, _)| (l.clone(), ts))
            .collect()
    }

    /// Calls `f` with each series' labels (without `__name__` when
    /// `drop_name`; computed once per series and query) and its points in
    /// the range of `ms` at `t`, borrowing them: no copy unless staleness
    /// markers must be filtered out. Series without points are skipped.
    pub(crate) fn for_each_range(
        &self,
        ms: &parser::MatrixSelector,
        t: i64,
        drop_name: bool,
        mut f: impl FnMut(Labels, &[(i64, f64)]),
    ) {
        let vs = &ms.vs;
        let t = self.shifted(vs.at.as_ref(), &vs.offset, t);
        let range = millis(ms.range);
        let key = vs as *const _ as usize;
        let Some(series) = self.data.get(&key) else {
            return;
        };
        let mut cursors = self.cursors.borrow_mut();
        let cursor = cursors.entry((key, true)).or_insert_with(|| vec![(0, 0); series.len()]);
        let mut nameless = self.nameless_by_series.borrow_mut();
        let nameless = nameless.entry(key).or_insert_with(|| vec![None; series.len()]);
        let mut filtered = Vec::new();
        for ((s, c), dropped) in series.iter().zip(cursor.iter_mut()).zip(nameless.iter_mut()) {
            let lo = seek(&s.points, c.0, t.saturating_sub(range));
            let hi = seek(&s.points, c.1.max(lo), t);
            *c = (lo, hi);
            let window = &s.points[lo..hi];
            self.processed(window.len() + 1);
            let stale = window.iter().any(|p| nines_tsdb::is_stale_nan(p.1));
            if stale {
                filtered.clear();
                filtered.extend(window.iter().filter(|p| !nines_tsdb::is_stale_nan(p.1)));
            }
            let points = if stale { &filtered[..] } else { window };
            if points.is_empty() {
                continue;
            }
            let labels = if drop_name {
                dropped
                    .get_or_insert_with(|| {
                        let mut l = s.labels.clone();
                        crate::value::drop_name(&mut l);
                        l
                    })
                    .clone()
            } else {
                s.labels.clone()
            };
            f(labels, points);
        }
    }

    /// The range vector of a matrix selector at `t`.
    fn matrix_selector(&self, ms: &parser::MatrixSelector, t: i64) -> Vec<Series> {
        let vs = &ms.vs;
        let t = self.shifted(vs.at.as_ref(), &vs.offset, t);
        let range = millis(ms.range);
        let Some(series) = self.data.get(&(vs as *const _ as usize)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for s in series {
            let lo = s.points.partition_point(|p| p.0 <= t.saturating_sub(range));
            let hi = s.points.partition_point(|p| p.0 <= t);
            self.processed(hi.saturating_sub(lo) + 1);
            let points: Vec<(i64, f64)> = s.points[lo..hi]
                .iter()
                .filter(|p| !nines_tsdb::is_stale_nan(p.1))
                .copied()
                .collect();
            if !points.is_empty() {
                out.push(Series::new(s.labels.clone(), points));
            }
        }
        out
    }

    fn subquery(&self, sq: &parser::SubqueryExpr, t: i64) -> Result<Vec<Series>, EvalError> {
        let t = self.shifted(sq.at.as_ref(), &sq.offset, t);
        let step = sq
            .step
            .map(millis)
            .filter(|s| *s > 0)
            .unwrap_or_else(|| millis(self.engine.default_subquery_step));
        let range = millis(sq.range);
        let from = t.saturating_sub(range);
        // Inner steps are aligned to multiples of the step, as in Prometheus.
        let mut inner = from.div_euclid(step).saturating_mul(step);
        if inner <= from {
            inner = inner.saturating_add(step);
        }
        let mut out = StepSeries::default();
        while inner <= t {
            self.check_deadline("subquery evaluation")?;
            let added = out.add(
                inner,
                self.eval(&sq.expr, inner)?,
                "subquery is only allowed on instant vector",
            )?;
            let held = self.samples.get() + added;
            if held > self.engine.max_samples {
                return Err(EvalError::TooManySamples("subquery evaluation"));
            }
            self.samples.set(held);
            match inner.checked_add(step) {
                Some(next) => inner = next,
                None => break,
            }
        }
        Ok(out.finish())
    }

    /// The vector a batched node holds for step `t`, if `e` is batched.
    fn take_batched(&self, e: &Expr, t: i64) -> Option<Result<Vector, EvalError>> {
        let mut batched = self.batched.borrow_mut();
        let steps = batched.get_mut(&(e as *const Expr as usize))?;
        let i = if self.step == 0 {
            0
        } else {
            // Wide: the distance between two extreme times overflows i64.
            (i128::from(t) - i128::from(self.start)) / i128::from(self.step)
        };
        match usize::try_from(i).ok().and_then(|i| steps.get_mut(i)) {
            Some(v) if i128::from(self.start) + i * i128::from(self.step) == i128::from(t) => {
                Some(Ok(std::mem::take(v)))
            }
            // Batched nodes are only planned where the walk reaches them at
            // the query's own steps.
            _ => Some(Err(EvalError::Execution(format!(
                "internal error: batched expression evaluated at {t}, not at a step of the query"
            )))),
        }
    }

    /// Evaluates `e` at `t`.
    pub fn eval(&self, e: &Expr, t: i64) -> Result<Value, EvalError> {
        if let Some(v) = self.take_batched(e, t) {
            return v.map(Value::Vector);
        }
        match e {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.vector_selector(vs, t))),
            Expr::MatrixSelector(ms) => Ok(Value::Matrix(self.matrix_selector(ms, t))),
            Expr::Subquery(sq) => Ok(Value::Matrix(self.subquery(sq, t)?)),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(v) => Ok(Value::Vector(
                    v.into_iter()
                        .map(|mut s| {
                            self.remove_name(&mut s);
                            s.value = -s.value;
                            s
                        })
                        .collect(),
                )),
                other => Err(EvalError::BadData(format!("unary minus on {}", other.type_name()))),
            }
            .and_then(|v| {
                if let Value::Vector(s) = &v {
                    crate::functions::check_unique(s)?;
                }
                Ok(v)
            }),
            Expr::Binary(b) => binary::eval(self, b, t),
            Expr::Aggregate(a) => aggregate::eval(self, a, t),
            Expr::Call(c) => functions::call(self, c, t),
            Expr::Extension(_) => Err(EvalError::BadData("unsupported expression".into())),
        }
    }
}

/// An instant vector.
pub type Vector = Vec<Sample>;
