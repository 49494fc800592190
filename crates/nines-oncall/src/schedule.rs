//! A schedule: layers stacked, overrides on top. At any instant the
//! latest override that covers it wins; otherwise the highest layer (the
//! last written) that has someone; otherwise nobody is on call.

use crate::rotation::Layer;
use crate::OncallError;

/// Someone covering a period in place of the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Who covers.
    pub user: String,
    /// Inclusive start (ms).
    pub start_ms: i64,
    /// Exclusive end (ms).
    pub end_ms: i64,
}

/// A validated schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Its name.
    pub name: String,
    /// The team it belongs to, if any.
    pub team: Option<String>,
    /// Its IANA zone name, for display.
    pub time_zone: String,
    /// Lowest first.
    pub layers: Vec<Layer>,
    /// From the config, in the order written.
    pub overrides: Vec<Override>,
}

/// Where a shift comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShiftSource {
    /// A layer, by index and name.
    Layer(usize, String),
    /// An override.
    Override,
}

/// One person on call for a stretch of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// The user's name.
    pub user: String,
    /// Inclusive start (ms).
    pub start_ms: i64,
    /// Exclusive end (ms).
    pub end_ms: i64,
    /// The layer or override that put them there.
    pub source: ShiftSource,
}

/// The longest period one question may cover: a year and a bit, enough
/// for any calendar feed while keeping the work per request small.
pub const MAX_PERIOD_MS: i64 = 400 * 86_400_000;

/// How far around an instant [`Schedule::at`] looks to report the whole
/// shift it falls in; longer shifts are reported cut to this window.
pub const AT_WINDOW_MS: i64 = 35 * 86_400_000;

impl Schedule {
    /// The shifts over `[from_ms, to_ms)`, in time order, with
    /// `extra` overrides (e.g. made through the API) above the config's.
    pub fn shifts(&self, from_ms: i64, to_ms: i64, extra: &[Override]) -> Result<Vec<Shift>, OncallError> {
        if to_ms <= from_ms {
            return Err(OncallError::Period("the end must be after the start".into()));
        }
        if to_ms - from_ms > MAX_PERIOD_MS {
            return Err(OncallError::Period(format!(
                "a period may span at most {} days",
                MAX_PERIOD_MS / 86_400_000
            )));
        }
        let layers: Vec<_> = self.layers.iter().map(|l| l.segments(from_ms, to_ms)).collect();
        let overrides: Vec<&Override> = self
            .overrides
            .iter()
            .chain(extra)
            .filter(|o| o.start_ms < to_ms && from_ms < o.end_ms)
            .collect();
        let mut cuts = vec![from_ms, to_ms];
        for segs in &layers {
            cuts.extend(segs.iter().flat_map(|s| [s.start_ms, s.end_ms]));
        }
        cuts.extend(overrides.iter().flat_map(|o| [o.start_ms, o.end_ms]));
        cuts.retain(|&c| from_ms <= c && c <= to_ms);
        cuts.sort_unstable();
        cuts.dedup();
        let mut out: Vec<Shift> = Vec::new();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let Some((user, source)) = self.holder(a, &layers, &overrides) else {
                continue;
            };
            match out.last_mut() {
                Some(last) if last.end_ms == a && last.user == user && last.source == source => last.end_ms = b,
                _ => out.push(Shift {
                    user,
                    start_ms: a,
                    end_ms: b,
                    source,
                }),
            }
        }
        Ok(out)
    }

    fn holder(
        &self,
        at: i64,
        layers: &[Vec<crate::rotation::Segment>],
        overrides: &[&Override],
    ) -> Option<(String, ShiftSource)> {
        if let Some(o) = overrides.iter().rev().find(|o| o.start_ms <= at && at < o.end_ms) {
            return Some((o.user.clone(), ShiftSource::Override));
        }
        for (i, segs) in layers.iter().enumerate().rev() {
            let idx = segs.partition_point(|s| s.end_ms <= at);
            if let Some(s) = segs.get(idx).filter(|s| s.start_ms <= at) {
                let layer = &self.layers[i];
                return Some((
                    layer.participants[s.participant].clone(),
                    ShiftSource::Layer(i, layer.name.clone()),
                ));
            }
        }
        None
    }

    /// The shift holding `at_ms`, if anyone is on call then; its start and
    /// end are cut to [`AT_WINDOW_MS`] either side.
    pub fn at(&self, at_ms: i64, extra: &[Override]) -> Result<Option<Shift>, OncallError> {
        let from = at_ms.saturating_sub(AT_WINDOW_MS);
        let to = at_ms.saturating_add(AT_WINDOW_MS);
        Ok(self
            .shifts(from, to, extra)?
            .into_iter()
            .find(|s| s.start_ms <= at_ms && at_ms < s.end_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;
    use jiff::Timestamp;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn layer(name: &str, people: &[&str], hours: i64, start: &str) -> Layer {
        Layer {
            name: name.into(),
            participants: people.iter().map(|p| p.to_string()).collect(),
            shift_minutes: hours * 60,
            start: start.parse().unwrap(),
            tz: TimeZone::UTC,
            restriction: None,
        }
    }

    fn schedule(layers: Vec<Layer>, overrides: Vec<Override>) -> Schedule {
        Schedule {
            name: "s".into(),
            team: None,
            time_zone: "UTC".into(),
            layers,
            overrides,
        }
    }

    #[test]
    fn a_higher_layer_wins_where_it_has_someone_and_overrides_win_over_all() {
        let base = layer("base", &["alice", "bob"], 24, "2026-11-01T00:00");
        let mut day = layer("day", &["carol"], 24, "2026-11-01T09:00");
        day.shift_minutes = 24 * 60;
        day.restriction = Some(
            serde_norway::from_str::<nines_routing::interval::TimeIntervalSpec>(
                "name: r\ntime_intervals:\n- times: [{start_time: '09:00', end_time: '17:00'}]\n",
            )
            .unwrap()
            .validate()
            .unwrap(),
        );
        let cover = Override {
            user: "dave".into(),
            start_ms: ms("2026-11-02T12:00:00Z"),
            end_ms: ms("2026-11-02T13:00:00Z"),
        };
        let s = schedule(vec![base, day], vec![cover]);
        let got: Vec<_> = s
            .shifts(ms("2026-11-02T00:00:00Z"), ms("2026-11-03T00:00:00Z"), &[])
            .unwrap()
            .into_iter()
            .map(|s| (s.user, s.start_ms, s.end_ms))
            .collect();
        assert_eq!(
            got,
            vec![
                ("bob".into(), ms("2026-11-02T00:00:00Z"), ms("2026-11-02T09:00:00Z")),
                ("carol".into(), ms("2026-11-02T09:00:00Z"), ms("2026-11-02T12:00:00Z")),
                ("dave".into(), ms("2026-11-02T12:00:00Z"), ms("2026-11-02T13:00:00Z")),
                ("carol".into(), ms("2026-11-02T13:00:00Z"), ms("2026-11-02T17:00:00Z")),
                ("bob".into(), ms("2026-11-02T17:00:00Z"), ms("2026-11-03T00:00:00Z")),
            ]
        );
        let extra = Override {
            user: "erin".into(),
            start_ms: ms("2026-11-02T12:30:00Z"),
            end_ms: ms("2026-11-02T14:00:00Z"),
        };
        let at = s.at(ms("2026-11-02T12:45:00Z"), &[extra]).unwrap().unwrap();
        assert_eq!((at.user.as_str(), at.source), ("erin", ShiftSource::Override));
        let at = s.at(ms("2026-11-02T20:00:00Z"), &[]).unwrap().unwrap();
        assert_eq!((at.user.as_str(), at.start_ms), ("bob", ms("2026-11-02T17:00:00Z")));
    }

    #[test]
    fn gaps_are_nobody_and_periods_are_bounded() {
        let s = schedule(vec![layer("l", &["a"], 24, "2026-11-10T00:00")], vec![]);
        assert_eq!(s.at(ms("2026-11-09T00:00:00Z"), &[]).unwrap(), None);
        assert!(matches!(s.shifts(5, 5, &[]), Err(OncallError::Period(_))));
        assert!(matches!(
            s.shifts(0, MAX_PERIOD_MS + 1, &[]),
            Err(OncallError::Period(_))
        ));
    }
}
