//! Turning one scraped body into an append batch: parse, merge target
//! labels, metric relabeling, limits, staleness, synthetic series.
//!
//! A per-target cache ([`SeriesCache`]) maps the raw series text of each
//! exposition line to its final labels (or "dropped"), so a series seen
//! before costs a comparison instead of label parsing and relabeling. The
//! cache also knows which series the last successful scrape had, which is
//! what staleness markers are written from.

use nines_tsdb::{Db, RefSample, SeriesRef, STALE_NAN_BITS};

use crate::cache::{FinalLabels, SeriesCache};
use crate::expfmt::{parse_series, Format, Parser};
use crate::relabel::{self, LabelSet};
use crate::spec::ScrapeSpec;
use crate::target::Target;

/// The synthetic series written for every scrape, in this order.
pub const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// What one scrape produced, for the synthetic series and the targets API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeReport {
    /// Samples in the body.
    pub scraped: u64,
    /// Samples left after metric relabeling.
    pub post_relabel: u64,
    /// Series not in the cache before this scrape.
    pub series_added: u64,
    /// Samples the store refused (out of order, conflicts, ...).
    pub rejected: u64,
    /// Why the scrape failed, if it did.
    pub error: Option<String>,
}

/// The per-target state that outlives one scrape.
pub struct TargetState {
    target: Target,
    cache: SeriesCache,
    /// Store refs of the synthetic series, in `SYNTHETIC` order.
    synthetic_refs: [Option<SeriesRef>; 5],
    iteration: u64,
    /// Whether the last scrape wrote any series (for stop-time staleness).
    last_ok: bool,
    /// Timestamp of the last synthetic samples written.
    last_scrape_ms: Option<i64>,
}

/// What parsing one body produced.
#[derive(Default)]
struct Parsed {
    report: ScrapeReport,
    /// Samples to store.
    accepted: Vec<Accepted>,
    /// Cache entries of every line, in body order.
    seen: Vec<u32>,
}

struct Accepted {
    entry: u32,
    t: i64,
    v: f64,
}

impl TargetState {
    /// Fresh state for a target.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            cache: SeriesCache::default(),
            synthetic_refs: [None; 5],
            iteration: 0,
            last_ok: false,
            last_scrape_ms: None,
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Series the cache holds (live or recently gone).
    pub fn cached_series(&self) -> usize {
        self.cache.len()
    }

    /// Writes the result of one scrape at `ts` (ms): the body's samples on
    /// success, staleness markers for series that went away (all of them
    /// if the scrape failed), and the synthetic series. `body` is `Err`
    /// when fetching failed.
    pub fn ingest(
        &mut self,
        db: &Db,
        spec: &ScrapeSpec,
        body: Result<(&[u8], Format), String>,
        ts: i64,
        duration_secs: f64,
    ) -> ScrapeReport {
        self.iteration += 1;
        let mut out = Parsed::default();
        match body.and_then(|(b, f)| self.parse(spec, b, f, ts, &mut out)) {
            Ok(()) => self.cache.commit(std::mem::take(&mut out.seen), self.iteration),
            Err(e) => {
                out.accepted.clear();
                out.report.error = Some(e);
            }
        }
        let Parsed {
            mut report, accepted, ..
        } = out;
        let stale: Vec<u32> = self
            .cache
            .iter()
            .filter(|(_, e)| e.last_seen + 1 == self.iteration && !e.explicit_ts && !e.dropped)
            .map(|(i, _)| i)
            .collect();
        let up = if report.error.is_none() { 1.0 } else { 0.0 };
        let synthetic = [
            up,
            duration_secs,
            report.scraped as f64,
            report.post_relabel as f64,
            report.series_added as f64,
        ];
        report.rejected = self.write(db, spec, &accepted, &stale, ts, Some(synthetic));
        self.last_ok = report.error.is_none();
        self.last_scrape_ms = Some(ts);
        self.evict();
        report
    }

    /// Marks every series of the last scrape and the synthetic series
    /// stale at `ts`: the target went away.
    pub fn mark_gone(&mut self, db: &Db, spec: &ScrapeSpec, ts: i64) {
        let Some(last) = self.last_scrape_ms else {
            return;
        };
        let ts = ts.max(last + 1);
        let stale: Vec<u32> = self
            .cache
            .iter()
            .filter(|(_, e)| self.last_ok && e.last_seen == self.iteration && !e.explicit_ts && !e.dropped)
            .map(|(i, _)| i)
            .collect();
        self.write(db, spec, &[], &stale, ts, None);
        self.last_scrape_ms = None;
    }

    fn parse(
        &mut self,
        spec: &ScrapeSpec,
        body: &[u8],
        format: Format,
        ts: i64,
        out: &mut Parsed,
    ) -> Result<(), String> {
        let Parsed { report, accepted, seen } = out;
        let mut parser = Parser::new(body, format);
        while let Some(sample) = parser.next_sample().map_err(|e| e.to_string())? {
            report.scraped += 1;
            let idx = match self.cache.find(seen.len(), sample.series) {
                Some(i) => i,
                None => {
                    let labels = self
                        .final_labels(spec, sample.series)
                        .map_err(|m| format!("line {}: {m}", sample.line))?;
                    report.series_added += 1;
                    self.cache.insert(sample.series, labels)
                }
            };
            seen.push(idx);
            let entry = self.cache.entry_mut(idx);
            if entry.dropped {
                continue;
            }
            let t = match sample.timestamp_ms {
                Some(t) if spec.honor_timestamps => {
                    entry.explicit_ts = true;
                    t
                }
                _ => {
                    entry.explicit_ts = false;
                    ts
                }
            };
            report.post_relabel += 1;
            accepted.push(Accepted {
                entry: idx,
                t,
                v: sample.value,
            });
        }
        if spec.sample_limit > 0 && report.post_relabel as usize > spec.sample_limit {
            return Err(format!(
                "sample_limit exceeded: {} samples, limit {}",
                report.post_relabel, spec.sample_limit
            ));
        }
        Ok(())
    }

    /// Labels for a series seen for the first time: target labels merged
    /// the Prometheus way, then metric relabeling, then the limits.
    fn final_labels(&self, spec: &ScrapeSpec, series: &[u8]) -> Result<Option<FinalLabels>, String> {
        let parsed = parse_series(series)?;
        let mut labels: LabelSet = Vec::with_capacity(parsed.labels.len() + self.target.labels.len() + 1);
        for (n, v) in &parsed.labels {
            relabel::set(&mut labels, n, v.to_string());
        }
        relabel::set(&mut labels, nines_tsdb::METRIC_NAME, parsed.name.to_string());
        for (name, value) in &self.target.labels {
            let scraped = labels
                .binary_search_by(|(n, _)| n.as_str().cmp(name))
                .ok()
                .map(|i| labels[i].1.clone());
            match scraped {
                Some(_) if spec.honor_labels => {}
                Some(existing) => {
                    let mut exported = format!("exported_{name}");
                    while labels.iter().any(|(n, _)| *n == exported) {
                        exported.insert_str(0, "exported_");
                    }
                    relabel::set(&mut labels, &exported, existing);
                    relabel::set(&mut labels, name, value.clone());
                }
                None => relabel::set(&mut labels, name, value.clone()),
            }
        }
        if !relabel::apply(&spec.metric_relabel, &mut labels) {
            return Ok(None);
        }
        if spec.label_limit > 0 && labels.len() > spec.label_limit {
            return Err(format!(
                "label_limit exceeded: {} labels, limit {}",
                labels.len(),
                spec.label_limit
            ));
        }
        for (n, v) in &labels {
            if spec.label_name_length_limit > 0 && n.len() > spec.label_name_length_limit {
                return Err(format!("label name {n:?} longer than label_name_length_limit"));
            }
            if spec.label_value_length_limit > 0 && v.len() > spec.label_value_length_limit {
                return Err(format!("value of label {n:?} longer than label_value_length_limit"));
            }
        }
        nines_tsdb::check_sorted_pairs(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .map_err(|e| e.to_string())?;
        Ok(Some(
            labels
                .into_iter()
                .map(|(n, v)| (n.into_boxed_str(), v.into_boxed_str()))
                .collect(),
        ))
    }

    /// Appends accepted samples, staleness markers and (optionally) the
    /// synthetic series; returns how many samples the store refused.
    /// Series refs from earlier appends are passed back to the store, so a
    /// series it already holds costs no label lookup there either.
    fn write(
        &mut self,
        db: &Db,
        spec: &ScrapeSpec,
        accepted: &[Accepted],
        stale: &[u32],
        ts: i64,
        synthetic: Option<[f64; 5]>,
    ) -> u64 {
        #[derive(Clone, Copy)]
        enum Owner {
            Series(u32),
            Synthetic(usize),
        }
        let stale_nan = f64::from_bits(STALE_NAN_BITS);
        let n = accepted.len() + stale.len() + SYNTHETIC.len();
        let mut samples: Vec<RefSample> = Vec::with_capacity(n);
        let mut owners: Vec<Owner> = Vec::with_capacity(n);
        let scraped = accepted
            .iter()
            .map(|a| (a.entry, a.t, a.v))
            .chain(stale.iter().map(|&e| (e, ts, stale_nan)));
        for (entry, t, v) in scraped {
            samples.push(RefSample {
                series: self.cache.entry(entry).series_ref,
                t,
                v,
            });
            owners.push(Owner::Series(entry));
        }
        for (k, series) in self.synthetic_refs.iter().enumerate() {
            samples.push(RefSample {
                series: *series,
                t: ts,
                v: synthetic.map_or(stale_nan, |values| values[k]),
            });
            owners.push(Owner::Synthetic(k));
        }
        let this = &*self;
        let result = db.append_refs(&mut samples, |i, sink| match owners[i] {
            Owner::Series(e) => {
                let entry = this.cache.entry(e);
                let rebuilt;
                let labels = match &entry.labels {
                    Some(l) => Some(l),
                    None => {
                        // The store forgot the series (idle in the head
                        // for long): derive its labels again.
                        rebuilt = this.final_labels(spec, this.cache.key(e)).ok().flatten();
                        rebuilt.as_ref()
                    }
                };
                let pairs: Vec<(&str, &str)> = labels
                    .map(|l| l.iter().map(|(n, v)| (&**n, &**v)).collect())
                    .unwrap_or_default();
                sink(&pairs);
            }
            Owner::Synthetic(k) => {
                let mut pairs = vec![(nines_tsdb::METRIC_NAME, SYNTHETIC[k])];
                pairs.extend(this.target.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                sink(&pairs);
            }
        });
        for (s, owner) in samples.iter().zip(&owners) {
            match *owner {
                Owner::Series(e) => {
                    let entry = self.cache.entry_mut(e);
                    entry.series_ref = s.series;
                    if s.series.is_some() {
                        entry.labels = None;
                    }
                }
                Owner::Synthetic(k) => self.synthetic_refs[k] = s.series,
            }
        }
        match result {
            Ok(r) => {
                if !r.errors.is_empty() {
                    tracing::debug!(target_url = %self.target.url, errors = ?r.errors, "scrape samples refused");
                }
                r.rejected()
            }
            Err(e) => {
                tracing::error!(target_url = %self.target.url, "storing scraped samples failed: {e}");
                n as u64
            }
        }
    }

    /// Forgets series not seen in the last two scrapes once they are the
    /// majority of the cache.
    fn evict(&mut self) {
        self.cache.evict(self.iteration.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relabel::{compile_all, RelabelConfig};
    use crate::target::{build_targets, tests::spec};
    use nines_tsdb::{Matcher, Options};

    fn open() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default(), nines_clock::system()).unwrap();
        (dir, db)
    }

    fn state(spec: &ScrapeSpec, labels: &[(&str, &str)]) -> TargetState {
        let group = crate::spec::TargetGroup {
            targets: vec!["h:1".into()],
            labels: labels.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        };
        let (mut t, _) = build_targets(spec, &[group]);
        TargetState::new(t.remove(0))
    }

    /// Every stored (labels, samples) of metric `name`.
    fn read(db: &Db, name: &str) -> Vec<(String, Vec<(i64, u64)>)> {
        let m = Matcher::equal("__name__", name);
        db.select(&[m], i64::MIN, i64::MAX)
            .unwrap()
            .into_iter()
            .map(|s| {
                let labels = s.labels().to_string();
                let samples = s
                    .samples()
                    .unwrap()
                    .into_iter()
                    .map(|(t, v)| (t, v.to_bits()))
                    .collect();
                (labels, samples)
            })
            .collect()
    }

    fn text(body: &str) -> Result<(&[u8], Format), String> {
        Ok((body.as_bytes(), Format::Text))
    }

    #[test]
    fn target_labels_win_unless_honor_labels() {
        let (_d, db) = open();
        let s = spec("j");
        let mut st = state(&s, &[("env", "prod")]);
        let r = st.ingest(&db, &s, text("m{env=\"dev\",job=\"other\"} 1\n"), 1000, 0.01);
        assert_eq!(r.error, None);
        let got = read(&db, "m");
        assert_eq!(
            got[0].0,
            "m{env=\"prod\", exported_env=\"dev\", exported_job=\"other\", instance=\"h:1\", job=\"j\"}"
        );
        let mut s2 = spec("k");
        s2.honor_labels = true;
        let mut st = state(&s2, &[("env", "prod")]);
        st.ingest(&db, &s2, text("n{env=\"dev\"} 1\n"), 1000, 0.01);
        assert!(read(&db, "n")[0].0.contains("env=\"dev\""));
    }

    #[test]
    fn synthetic_series_and_staleness_of_a_vanished_series() {
        let (_d, db) = open();
        let s = spec("j");
        let mut st = state(&s, &[]);
        st.ingest(&db, &s, text("a 1\nb 2\nc 3 500\n"), 1000, 0.5);
        let r = st.ingest(&db, &s, text("a 1\n"), 2000, 0.25);
        assert_eq!((r.scraped, r.post_relabel, r.series_added), (1, 1, 0));
        let b = read(&db, "b");
        assert_eq!(b[0].1, vec![(1000, 2f64.to_bits()), (2000, STALE_NAN_BITS)]);
        // A series with its own timestamp never gets a staleness marker.
        assert_eq!(read(&db, "c")[0].1, vec![(500, 3f64.to_bits())]);
        assert_eq!(
            read(&db, "up")[0].1,
            vec![(1000, 1f64.to_bits()), (2000, 1f64.to_bits())]
        );
        let dur = read(&db, "scrape_duration_seconds");
        assert_eq!(dur[0].1[1], (2000, 0.25f64.to_bits()));
        assert_eq!(read(&db, "scrape_series_added")[0].1[0], (1000, 3f64.to_bits()));
        assert_eq!(read(&db, "scrape_samples_scraped")[0].1[0], (1000, 3f64.to_bits()));
        // The target goes away: its series and the synthetic ones go stale.
        st.mark_gone(&db, &s, 3000);
        assert_eq!(read(&db, "a")[0].1.last(), Some(&(3000, STALE_NAN_BITS)));
        assert_eq!(read(&db, "up")[0].1.last(), Some(&(3000, STALE_NAN_BITS)));
    }

    #[test]
    fn a_failed_scrape_marks_everything_stale_and_reports_down() {
        let (_d, db) = open();
        let s = spec("j");
        let mut st = state(&s, &[]);
        st.ingest(&db, &s, text("a 1\n"), 1000, 0.1);
        let r = st.ingest(&db, &s, Err("connection refused".into()), 2000, 0.1);
        assert_eq!(r.error.as_deref(), Some("connection refused"));
        assert_eq!(read(&db, "a")[0].1.last(), Some(&(2000, STALE_NAN_BITS)));
        assert_eq!(read(&db, "up")[0].1.last(), Some(&(2000, 0f64.to_bits())));
        // A parse error fails the scrape too and stores nothing of the body.
        let r = st.ingest(&db, &s, text("a 1\nb{ 2\n"), 3000, 0.1);
        assert!(r.error.unwrap().contains("line 2"));
        assert_eq!(read(&db, "a")[0].1.len(), 2);
    }

    #[test]
    fn metric_relabeling_and_limits() {
        let (_d, db) = open();
        let mut s = spec("j");
        let rules: Vec<RelabelConfig> =
            serde_norway::from_str("- source_labels: [__name__]\n  regex: 'go_.*'\n  action: drop\n").unwrap();
        s.metric_relabel = compile_all(&rules).unwrap();
        s.sample_limit = 2;
        let mut st = state(&s, &[]);
        let r = st.ingest(&db, &s, text("go_a 1\ngo_b 1\nx 1\ny 1\n"), 1000, 0.1);
        assert_eq!((r.scraped, r.post_relabel, r.error.as_deref()), (4, 2, None));
        assert!(read(&db, "go_a").is_empty());
        // Dropped series stay known: seeing them again adds nothing.
        let r = st.ingest(&db, &s, text("go_a 1\ngo_b 1\nx 1\ny 1\n"), 1500, 0.1);
        assert_eq!(r.series_added, 0);
        let r = st.ingest(&db, &s, text("x 1\ny 1\nz 1\n"), 2000, 0.1);
        assert!(r.error.unwrap().contains("sample_limit"));
        assert!(read(&db, "z").is_empty());
        let mut s = spec("k");
        s.label_limit = 3;
        let mut st = state(&s, &[]);
        let r = st.ingest(&db, &s, text("m{a=\"1\",b=\"2\"} 1\n"), 1000, 0.1);
        assert!(r.error.unwrap().contains("label_limit"));
        let r = st.ingest(&db, &s, text("m{a-b=\"1\"} 1\n"), 2000, 0.1);
        assert!(r.error.is_some());
    }

    #[test]
    fn the_cache_forgets_series_gone_for_long() {
        let (_d, db) = open();
        let s = spec("j");
        let mut st = state(&s, &[]);
        let many: String = (0..200).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
        st.ingest(&db, &s, text(&many), 1000, 0.1);
        st.ingest(&db, &s, text("other 1\n"), 2000, 0.1);
        st.ingest(&db, &s, text("other 1\n"), 3000, 0.1);
        assert_eq!(st.cached_series(), 1);
    }
}

#[cfg(test)]
mod forgotten_series {
    use std::sync::Arc;

    use nines_clock::ManualClock;
    use nines_tsdb::{Db, Matcher, Options};

    use super::*;
    use crate::target::{build_targets, tests::spec};

    #[test]
    fn labels_are_derived_again_when_the_store_forgot_a_series() {
        const H: i64 = 3_600_000;
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(10 * H));
        let opts = Options {
            retention_ms: None,
            ..Options::default()
        };
        let db = Db::open(dir.path(), opts, clock.clone()).unwrap();
        let s = spec("j");
        let group = crate::spec::TargetGroup {
            targets: vec!["h:1".into()],
            labels: Default::default(),
        };
        let mut st = TargetState::new(build_targets(&s, &[group]).0.remove(0));
        let body = "m{a=\"1\"} 1\n";
        assert_eq!(
            st.ingest(&db, &s, Ok((body.as_bytes(), Format::Text)), 10 * H, 0.1)
                .rejected,
            0
        );
        db.flush().unwrap();
        clock.set(20 * H);
        db.maintain().unwrap();
        assert_eq!(db.head_series(), 0);
        let r = st.ingest(&db, &s, Ok((body.as_bytes(), Format::Text)), 20 * H, 0.1);
        assert_eq!((r.rejected, r.series_added), (0, 0));
        let got = db.select(&[Matcher::equal("__name__", "m")], 0, i64::MAX).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels().to_string(), "m{a=\"1\", instance=\"h:1\", job=\"j\"}");
        assert_eq!(got[0].samples().unwrap(), vec![(10 * H, 1.0), (20 * H, 1.0)]);
    }
}
