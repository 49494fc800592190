//! Time intervals as Alertmanager writes them (`time_intervals:`), which a
//! route names to be muted in (`mute_time_intervals`) or active only in
//! (`active_time_intervals`). An interval matches when every field it sets
//! matches (times, weekdays, days of month, months, years), each field
//! being a list of ranges any of which may match, in the interval's IANA
//! time zone (`location`, UTC by default).

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;

use nines_alerting::rulefile::{PathPart, Problem};

/// `time_intervals:` entry: a name and its intervals.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpec {
    /// How routes refer to it.
    pub name: String,
    /// Matches when any of these does.
    #[serde(default)]
    pub time_intervals: Vec<IntervalSpec>,
}

/// One interval as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalSpec {
    /// Times of day, `HH:MM` to `HH:MM` (end exclusive, up to `24:00`).
    #[serde(default)]
    pub times: Vec<TimeRangeSpec>,
    /// `monday`, or `monday:friday`.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// `1`, `1:5`, or from the end: `-1` is the last day.
    #[serde(default)]
    pub days_of_month: Vec<String>,
    /// `january`, `1`, `january:march`.
    #[serde(default)]
    pub months: Vec<String>,
    /// `2026`, `2026:2027`.
    #[serde(default)]
    pub years: Vec<String>,
    /// IANA time zone, e.g. `Europe/Berlin`; UTC when absent (`Local` is
    /// refused: the machine's zone is not something a config should
    /// depend on).
    #[serde(default)]
    pub location: Option<String>,
}

/// `{start_time: "09:00", end_time: "17:00"}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeSpec {
    /// Inclusive.
    pub start_time: String,
    /// Exclusive.
    pub end_time: String,
}

/// A validated named time interval.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    /// Its name.
    pub name: String,
    intervals: Vec<Interval>,
}

#[derive(Debug, Clone)]
struct Interval {
    /// Minutes of the day, `[start, end)`.
    times: Vec<(i32, i32)>,
    /// Monday = 1 … Sunday = 7.
    weekdays: Vec<(i32, i32)>,
    /// Negative counts from the month's end.
    days_of_month: Vec<(i32, i32)>,
    months: Vec<(i32, i32)>,
    years: Vec<(i32, i32)>,
    tz: TimeZone,
}

impl TimeInterval {
    /// Whether `ms` falls in any of its intervals.
    pub fn contains(&self, ms: i64) -> bool {
        let Ok(ts) = Timestamp::from_millisecond(ms) else {
            return false;
        };
        self.intervals.iter().any(|i| i.contains(ts))
    }

    /// The minutes of the day at which a `times` range starts or ends.
    /// Together with local midnights these are the only moments
    /// [`TimeInterval::contains`] can change its answer, which lets a
    /// caller cut a period into pieces that are wholly in or out.
    pub fn minute_boundaries(&self) -> Vec<i32> {
        let mut out: Vec<i32> = self
            .intervals
            .iter()
            .flat_map(|i| i.times.iter().flat_map(|&(a, b)| [a, b]))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn within(ranges: &[(i32, i32)], x: i32) -> bool {
    ranges.is_empty() || ranges.iter().any(|&(a, b)| a <= x && x <= b)
}

impl Interval {
    fn contains(&self, ts: Timestamp) -> bool {
        let local = ts.to_zoned(self.tz.clone());
        let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
        if !self.times.is_empty() && !self.times.iter().any(|&(a, b)| a <= minute && minute < b) {
            return false;
        }
        let weekday = i32::from(local.weekday().to_monday_one_offset());
        let days_in_month = i32::from(local.days_in_month());
        let day = i32::from(local.day());
        let days_ok = self.days_of_month.is_empty()
            || self.days_of_month.iter().any(|&(a, b)| {
                let from_end = |d: i32| if d < 0 { days_in_month + 1 + d } else { d };
                let (a, b) = (from_end(a), from_end(b).min(days_in_month));
                a <= day && day <= b
            });
        within(&self.weekdays, weekday)
            && days_ok
            && within(&self.months, i32::from(local.month()))
            && within(&self.years, i32::from(local.year()))
    }
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn hh_mm(s: &str) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    ((0..=23).contains(&h) && (0..=59).contains(&m) || total == 24 * 60).then_some(total)
}

/// Reads one list item into an inclusive range.
type RangeParser = dyn Fn(&str) -> Result<(i32, i32), String>;

/// Parses `a` or `a:b` with `one` reading each end; checks `a <= b`.
fn range(text: &str, one: impl Fn(&str) -> Option<i32>) -> Result<(i32, i32), String> {
    let (a, b) = match text.split_once(':') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (text.trim(), text.trim()),
    };
    let (x, y) = (
        one(a).ok_or_else(|| format!("{a:?} is not valid here"))?,
        one(b).ok_or_else(|| format!("{b:?} is not valid here"))?,
    );
    if x > y {
        return Err(format!("{text:?}: the range ends before it starts"));
    }
    Ok((x, y))
}

fn named(list: &'static [&'static str]) -> impl Fn(&str) -> Option<i32> {
    move |s: &str| {
        let lower = s.to_ascii_lowercase();
        list.iter()
            .position(|n| *n == lower)
            .map(|i| i as i32 + 1)
            .or_else(|| s.parse::<i32>().ok().filter(|n| (1..=list.len() as i32).contains(n)))
    }
}

fn day_of_month(text: &str) -> Result<(i32, i32), String> {
    let parse = |s: &str| s.parse::<i32>().ok().filter(|d| (1..=31).contains(&d.abs()));
    // A negative start goes with a negative end: "-3:-1" is the last three days.
    let (a, b) = match text.trim().strip_prefix('-').map(|rest| rest.split_once(":-")) {
        Some(Some((a, b))) => (format!("-{a}"), format!("-{b}")),
        _ => match text.split_once(':') {
            Some((a, b)) => (a.trim().to_string(), b.trim().to_string()),
            None => (text.trim().to_string(), text.trim().to_string()),
        },
    };
    let (x, y) = (
        parse(&a).ok_or_else(|| format!("{a:?} is not a day of the month (1 to 31, or -1 to -31 from the end)"))?,
        parse(&b).ok_or_else(|| format!("{b:?} is not a day of the month (1 to 31, or -1 to -31 from the end)"))?,
    );
    if (x < 0) != (y < 0) {
        return Err(format!(
            "{text:?}: both ends count from the start, or both from the end"
        ));
    }
    if x > y {
        return Err(format!("{text:?}: the range ends before it starts"));
    }
    Ok((x, y))
}

impl TimeIntervalSpec {
    /// Checks every field; problems carry their path below the entry.
    pub fn validate(&self) -> Result<TimeInterval, Vec<Problem>> {
        let mut problems: Vec<Problem> = Vec::new();
        if self.name.trim().is_empty() {
            problems.push((vec![PathPart::Field("name")], "a time interval needs a name".into()));
        }
        let mut intervals = Vec::new();
        for (i, spec) in self.time_intervals.iter().enumerate() {
            let at = |field: &'static str, j: Option<usize>| {
                let mut p = vec![
                    PathPart::Field("time_intervals"),
                    PathPart::Index(i),
                    PathPart::Field(field),
                ];
                if let Some(j) = j {
                    p.push(PathPart::Index(j));
                }
                p
            };
            let mut collect = |field: &'static str, items: &[String], parse: &RangeParser| {
                let mut out = Vec::new();
                for (j, item) in items.iter().enumerate() {
                    match parse(item) {
                        Ok(r) => out.push(r),
                        Err(e) => problems.push((at(field, Some(j)), e)),
                    }
                }
                out
            };
            let weekdays = collect("weekdays", &spec.weekdays, &|s| range(s, named(&WEEKDAYS)));
            let months = collect("months", &spec.months, &|s| range(s, named(&MONTHS)));
            let years = collect("years", &spec.years, &|s| {
                range(s, |y| y.parse::<i32>().ok().filter(|y| (1..=9999).contains(y)))
            });
            let days_of_month = collect("days_of_month", &spec.days_of_month, &day_of_month);
            let mut times = Vec::new();
            for (j, t) in spec.times.iter().enumerate() {
                match (hh_mm(&t.start_time), hh_mm(&t.end_time)) {
                    (Some(a), Some(b)) if a < b => times.push((a, b)),
                    (Some(_), Some(_)) => {
                        problems.push((at("times", Some(j)), "end_time must be after start_time".into()))
                    }
                    _ => problems.push((
                        at("times", Some(j)),
                        format!(
                            "{:?} to {:?}: times are HH:MM from 00:00 to 24:00",
                            t.start_time, t.end_time
                        ),
                    )),
                }
            }
            let tz = match spec.location.as_deref() {
                None | Some("UTC") => TimeZone::UTC,
                Some(name) => match TimeZone::get(name) {
                    Ok(tz) if !name.eq_ignore_ascii_case("local") => tz,
                    _ => {
                        problems.push((
                            at("location", None),
                            format!("{name:?} is not an IANA time zone (like Europe/Berlin)"),
                        ));
                        TimeZone::UTC
                    }
                },
            };
            intervals.push(Interval {
                times,
                weekdays,
                days_of_month,
                months,
                years,
                tz,
            });
        }
        if problems.is_empty() {
            Ok(TimeInterval {
                name: self.name.clone(),
                intervals,
            })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(yaml: &str) -> TimeInterval {
        let spec: TimeIntervalSpec = serde_norway::from_str(yaml).unwrap();
        spec.validate().unwrap()
    }

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn business_hours_in_a_zone_across_daylight_saving() {
        let office = interval(
            "name: office\ntime_intervals:\n- weekdays: ['monday:friday']\n  times: [{start_time: '09:00', end_time: '17:00'}]\n  location: Europe/Berlin\n",
        );
        // Friday 2026-03-27, winter time: 09:00 Berlin is 08:00 UTC.
        assert!(office.contains(at("2026-03-27T08:00:00Z")));
        assert!(!office.contains(at("2026-03-27T07:59:59Z")));
        // Monday 2026-03-30, summer time: 09:00 Berlin is 07:00 UTC.
        assert!(office.contains(at("2026-03-30T07:00:00Z")));
        assert!(!office.contains(at("2026-03-30T15:00:00Z")));
        // Saturday.
        assert!(!office.contains(at("2026-03-28T10:00:00Z")));
    }

    #[test]
    fn days_from_the_end_months_and_years() {
        let end = interval("name: close\ntime_intervals:\n- days_of_month: ['-2:-1']\n  months: ['february', 'december:december']\n  years: ['2026']\n");
        assert!(end.contains(at("2026-02-27T12:00:00Z")));
        assert!(end.contains(at("2026-02-28T23:59:00Z")));
        assert!(!end.contains(at("2026-02-26T12:00:00Z")));
        assert!(end.contains(at("2026-12-31T00:00:00Z")));
        assert!(!end.contains(at("2027-12-31T00:00:00Z")));
        assert!(!end.contains(at("2026-03-31T00:00:00Z")));
        let night = interval("name: night\ntime_intervals:\n- times: [{start_time: '22:00', end_time: '24:00'}, {start_time: '00:00', end_time: '06:00'}]\n");
        assert!(night.contains(at("2026-05-01T23:59:00Z")));
        assert!(night.contains(at("2026-05-01T00:00:00Z")));
        assert!(!night.contains(at("2026-05-01T06:00:00Z")));
    }

    #[test]
    fn problems_name_their_field() {
        let spec: TimeIntervalSpec = serde_norway::from_str(
            "name: bad\ntime_intervals:\n- weekdays: ['friday:monday', 'funday']\n  times: [{start_time: '17:00', end_time: '09:00'}]\n  days_of_month: ['-1:3', '0']\n  location: Mars/Olympus\n",
        )
        .unwrap();
        let problems = spec.validate().unwrap_err();
        let text: Vec<String> = problems.iter().map(|(p, m)| format!("{p:?} {m}")).collect();
        assert_eq!(problems.len(), 6, "{text:#?}");
        assert!(
            text[0].contains("weekdays") && text[0].contains("ends before"),
            "{text:#?}"
        );
        assert!(text.iter().any(|t| t.contains("funday")), "{text:#?}");
        assert!(text.iter().any(|t| t.contains("both ends")), "{text:#?}");
        assert!(text.iter().any(|t| t.contains("end_time must be after")), "{text:#?}");
        assert!(text.iter().any(|t| t.contains("Mars/Olympus")), "{text:#?}");
    }
}
