//! Maintenance windows: planned time, per service, whose events do not
//! count against its SLOs. A window is one-off (`start` to `end`) or
//! recurring (weekdays at a local time for a duration, in an IANA zone).
//!
//! A minute is excluded when any part of it overlaps a window, so a window
//! from 02:00 to 02:30 excludes the thirty minutes ending 02:01 … 02:30.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::repo::StoredWindow;
use crate::rollup::MINUTE_MS;

/// A maintenance window as written in config or sent to the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSpec {
    /// The service whose SLOs it applies to.
    pub service: String,
    /// Its name; config windows are kept in step with the config by
    /// `service/name`. Optional through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why: shown in status and audit.
    pub reason: String,
    /// One-off: when it starts; recurring: when the recurrence begins
    /// (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// One-off: when it ends; recurring: when the recurrence stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// One-off: its length, instead of `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Makes the window repeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring: Option<RecurringSpec>,
}

/// `recurring:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringSpec {
    /// Days it happens on (`monday` … `sunday`, or `mon` … `sun`); every
    /// day when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<String>,
    /// Local start time, `HH:MM`.
    pub time: String,
    /// How long each occurrence lasts (`2h`).
    pub duration: String,
    /// Where `time` is read; UTC if not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// When a window happens, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Once, `[start, end)` in ms.
    Once {
        /// First instant.
        start_ms: i64,
        /// First instant after it.
        end_ms: i64,
    },
    /// On some weekdays at a local time.
    Weekly {
        /// Bit `n` set: weekday `n` (Monday = 0) is on.
        weekdays: u8,
        /// Local start time.
        time: Time,
        /// Length of each occurrence.
        duration_ms: i64,
        /// Where `time` is read.
        tz: TimeZone,
        /// Occurrences starting before this are not part of it.
        from_ms: Option<i64>,
        /// Occurrences starting at or after this are not part of it.
        until_ms: Option<i64>,
    },
}

/// A validated window.
#[derive(Debug, Clone, PartialEq)]
pub struct Maintenance {
    /// As written (kept to show and to store).
    pub spec: MaintenanceSpec,
    /// When it happens.
    pub schedule: Schedule,
}

/// Longest one-off window or occurrence: longer "maintenance" is an
/// outage by another name, and should be an SLO decision instead.
const MAX_LENGTH_MS: i64 = 7 * 86_400_000;

impl Maintenance {
    /// Validates a spec; each problem with the field it is about.
    pub fn from_spec(spec: MaintenanceSpec) -> Result<Self, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        if let Err(e) = crate::spec::check_identifier(&spec.service) {
            problems.push(("service", e));
        }
        if let Some(name) = &spec.name {
            if let Err(e) = crate::spec::check_identifier(name) {
                problems.push(("name", e));
            }
        }
        if spec.reason.trim().is_empty() {
            problems.push(("reason", "say why: the reason is shown wherever the window is".into()));
        }
        let schedule = parse_schedule(
            Timing {
                start: spec.start.as_deref(),
                end: spec.end.as_deref(),
                duration: spec.duration.as_deref(),
                recurring: spec.recurring.as_ref(),
            },
            MAX_LENGTH_MS,
            &mut problems,
        );
        match schedule {
            Some(schedule) if problems.is_empty() => Ok(Self { spec, schedule }),
            _ => Err(problems),
        }
    }

    /// Its occurrences that overlap `[from_ms, to_ms)`, in order.
    pub fn occurrences(&self, from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
        self.schedule.occurrences(from_ms, to_ms)
    }
}

impl Schedule {
    /// Occurrences overlapping `[from_ms, to_ms)`, in order.
    pub fn occurrences(&self, from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
        match self {
            Self::Once { start_ms, end_ms } => {
                if *start_ms < to_ms && *end_ms > from_ms {
                    vec![(*start_ms, *end_ms)]
                } else {
                    Vec::new()
                }
            }
            Self::Weekly {
                weekdays,
                time,
                duration_ms,
                tz,
                from_ms: first,
                until_ms,
            } => {
                let lo = from_ms.saturating_sub(*duration_ms).max(first.unwrap_or(i64::MIN));
                let hi = to_ms.min(until_ms.unwrap_or(i64::MAX));
                if lo >= hi {
                    return Vec::new();
                }
                let (Some(mut day), Some(last)) = (local_date(lo, tz), local_date(hi, tz)) else {
                    return Vec::new();
                };
                // A day before the first: an occurrence starting late the
                // previous local day may reach into the range.
                day = day.yesterday().unwrap_or(day);
                let mut out = Vec::new();
                while day <= last {
                    if weekdays & (1 << day.weekday().to_monday_zero_offset()) != 0 {
                        if let Ok(z) = day.to_datetime(*time).to_zoned(tz.clone()) {
                            let start = z.timestamp().as_millisecond();
                            let end = start.saturating_add(*duration_ms);
                            let in_bounds = first.is_none_or(|f| start >= f) && until_ms.is_none_or(|u| start < u);
                            if in_bounds && start < to_ms && end > from_ms {
                                out.push((start, end));
                            }
                        }
                    }
                    match day.tomorrow() {
                        Ok(next) => day = next,
                        Err(_) => break,
                    }
                }
                out
            }
        }
    }
}

/// A recorded window as evaluation applies it: an ended window stops at
/// its end, a withdrawn one does not apply at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The store's id (0 for one not stored yet).
    pub id: i64,
    /// The window.
    pub maintenance: Maintenance,
    /// Nothing from here on is maintenance (ms).
    pub cut_ms: Option<i64>,
}

impl Applied {
    /// How `stored` applies: `None` when withdrawn, an error when what
    /// was stored no longer validates (e.g. a time zone left the database).
    pub fn from_stored(stored: &StoredWindow) -> Option<Result<Self, String>> {
        if stored.withdrawn {
            return None;
        }
        Some(
            Maintenance::from_spec(stored.spec.clone())
                .map(|maintenance| Self {
                    id: stored.id,
                    maintenance,
                    cut_ms: stored.ended_at_ms,
                })
                .map_err(|problems| {
                    let list: Vec<String> = problems.into_iter().map(|(f, m)| format!("{f}: {m}")).collect();
                    format!(
                        "maintenance window {} no longer applies: {}",
                        stored.id,
                        list.join("; ")
                    )
                }),
        )
    }

    /// The service it applies to.
    pub fn service(&self) -> &str {
        &self.maintenance.spec.service
    }

    /// Its occurrences overlapping `[from_ms, to_ms)`, cut at its end.
    pub fn occurrences(&self, from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
        let to_ms = self.cut_ms.map_or(to_ms, |c| to_ms.min(c));
        let mut out = self.maintenance.occurrences(from_ms, to_ms);
        if let Some(cut) = self.cut_ms {
            for o in &mut out {
                o.1 = o.1.min(cut);
            }
            out.retain(|o| o.0 < o.1);
        }
        out
    }
}

/// The timing fields of a window (maintenance or change freeze).
#[derive(Debug, Clone, Copy)]
pub struct Timing<'a> {
    /// One-off start, or when a recurrence begins (RFC 3339).
    pub start: Option<&'a str>,
    /// One-off end, or when a recurrence stops.
    pub end: Option<&'a str>,
    /// One-off length instead of `end`.
    pub duration: Option<&'a str>,
    /// Repeats.
    pub recurring: Option<&'a RecurringSpec>,
}

/// Validates timing fields into a schedule (one-offs and occurrences at
/// most `max_ms` long); problems are pushed with their field.
pub fn parse_schedule(t: Timing<'_>, max_ms: i64, problems: &mut Vec<(&'static str, String)>) -> Option<Schedule> {
    let time = |field: &'static str, v: Option<&str>, problems: &mut Vec<(&'static str, String)>| {
        v.and_then(|s| match parse_time(s) {
            Ok(ms) => Some(ms),
            Err(e) => {
                problems.push((field, e));
                None
            }
        })
    };
    let start = time("start", t.start, problems);
    let end = time("end", t.end, problems);
    match t.recurring {
        None => {
            if t.start.is_none() {
                problems.push(("start", "a one-off window needs a start (RFC 3339)".into()));
            }
            let end = match (t.end, t.duration, start) {
                (Some(_), Some(_), _) => {
                    problems.push(("duration", "give end or duration, not both".into()));
                    None
                }
                (None, None, _) => {
                    problems.push(("end", "a one-off window needs an end or a duration".into()));
                    None
                }
                (None, Some(d), Some(s)) => match parse_length(d, max_ms) {
                    Ok(ms) => Some(s + ms),
                    Err(e) => {
                        problems.push(("duration", e));
                        None
                    }
                },
                _ => end,
            };
            match (start, end) {
                (Some(s), Some(e)) if e <= s => {
                    problems.push(("end", "the window ends before it starts".into()));
                    None
                }
                (Some(s), Some(e)) if e - s > max_ms => {
                    problems.push((
                        "end",
                        format!("a window lasts at most {}", crate::format_duration(max_ms)),
                    ));
                    None
                }
                (Some(start_ms), Some(end_ms)) => Some(Schedule::Once { start_ms, end_ms }),
                _ => None,
            }
        }
        Some(r) => {
            if t.duration.is_some() {
                problems.push(("duration", "a recurring window's length is recurring.duration".into()));
            }
            if let (Some(s), Some(e)) = (start, end) {
                if e <= s {
                    problems.push(("end", "the recurrence ends before it starts".into()));
                }
            }
            match parse_recurring(r, max_ms) {
                Ok((weekdays, time, duration_ms, tz)) => Some(Schedule::Weekly {
                    weekdays,
                    time,
                    duration_ms,
                    tz,
                    from_ms: start,
                    until_ms: end,
                }),
                Err(e) => {
                    problems.push(("recurring", e));
                    None
                }
            }
        }
    }
}

/// For each minute `first..=last`, whether a window covers any of it.
pub fn excluded_minutes<'a>(windows: impl IntoIterator<Item = &'a (i64, i64)>, first: i64, last: i64) -> Vec<bool> {
    let len = usize::try_from(last - first + 1).unwrap_or(0);
    let mut out = vec![false; len];
    for &(start, end) in windows {
        let lo = (start.div_euclid(MINUTE_MS) + 1).max(first);
        let hi = (end + MINUTE_MS - 1).div_euclid(MINUTE_MS).min(last);
        for k in lo..=hi {
            out[(k - first) as usize] = true;
        }
    }
    out
}

/// An RFC 3339 time, as ms.
pub fn parse_time(s: &str) -> Result<i64, String> {
    s.parse::<Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| format!("{s:?} is not an RFC 3339 time (2026-12-01T22:00:00Z)"))
}

fn parse_length(s: &str, max_ms: i64) -> Result<i64, String> {
    match nines_promql::parse_duration_ms(s) {
        Some(ms) if (MINUTE_MS..=max_ms).contains(&ms) && s.chars().any(|c| c.is_ascii_alphabetic()) => Ok(ms),
        _ => Err(format!(
            "{s:?} is not a duration between 1m and {}",
            crate::format_duration(max_ms)
        )),
    }
}

fn parse_recurring(r: &RecurringSpec, max_ms: i64) -> Result<(u8, Time, i64, TimeZone), String> {
    let mut weekdays = 0u8;
    for d in &r.weekdays {
        let day = parse_weekday(d).ok_or_else(|| format!("{d:?} is not a weekday (monday … sunday)"))?;
        weekdays |= 1 << day.to_monday_zero_offset();
    }
    if weekdays == 0 {
        weekdays = 0x7f;
    }
    let time = parse_clock(&r.time).ok_or_else(|| format!("time {:?} is not HH:MM", r.time))?;
    let duration_ms = parse_length(&r.duration, max_ms).map_err(|e| format!("duration: {e}"))?;
    let tz_name = r.time_zone.as_deref().unwrap_or("UTC");
    let tz = TimeZone::get(tz_name).map_err(|_| crate::Error::UnknownTimeZone(tz_name.to_string()).to_string())?;
    Ok((weekdays, time, duration_ms, tz))
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    let s = s.to_ascii_lowercase();
    let days = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    days.iter()
        .find(|(name, _)| s == *name || (s.len() == 3 && name.starts_with(&s)))
        .map(|(_, d)| *d)
}

fn parse_clock(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

fn local_date(ms: i64, tz: &TimeZone) -> Option<Date> {
    // Two days inside jiff's range, so stepping a day either way works.
    const MARGIN: i64 = 2 * 86_400_000;
    let ms = ms.clamp(
        Timestamp::MIN.as_millisecond() + MARGIN,
        Timestamp::MAX.as_millisecond() - MARGIN,
    );
    Some(Timestamp::from_millisecond(ms).ok()?.to_zoned(tz.clone()).date())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        parse_time(s).unwrap()
    }

    fn once(start: &str, end: &str) -> Maintenance {
        Maintenance::from_spec(MaintenanceSpec {
            service: "api".into(),
            name: None,
            reason: "db upgrade".into(),
            start: Some(start.into()),
            end: Some(end.into()),
            duration: None,
            recurring: None,
        })
        .unwrap()
    }

    #[test]
    fn a_half_hour_window_excludes_thirty_minutes() {
        let m = once("2026-12-01T02:00:00Z", "2026-12-01T02:30:00Z");
        let k0 = ms("2026-12-01T02:00:00Z") / MINUTE_MS;
        let occ = m.occurrences(ms("2026-12-01T00:00:00Z"), ms("2026-12-02T00:00:00Z"));
        let ex = excluded_minutes(&occ, k0 - 5, k0 + 35);
        let minutes: Vec<i64> = (k0 - 5..=k0 + 35).filter(|k| ex[(k - (k0 - 5)) as usize]).collect();
        assert_eq!(minutes, (k0 + 1..=k0 + 30).collect::<Vec<_>>());
    }

    #[test]
    fn a_window_off_the_minute_covers_every_minute_it_touches() {
        let m = once("2026-12-01T02:00:30Z", "2026-12-01T02:01:10Z");
        let k0 = ms("2026-12-01T02:00:00Z") / MINUTE_MS;
        let occ = m.occurrences(0, i64::MAX);
        assert_eq!(excluded_minutes(&occ, k0, k0 + 3), vec![false, true, true, false]);
    }

    #[test]
    fn weekly_windows_follow_local_time_across_daylight_saving() {
        let m = Maintenance::from_spec(MaintenanceSpec {
            service: "api".into(),
            name: Some("patching".into()),
            reason: "Sunday patching".into(),
            start: None,
            end: None,
            duration: None,
            recurring: Some(RecurringSpec {
                weekdays: vec!["sun".into()],
                time: "02:30".into(),
                duration: "1h".into(),
                time_zone: Some("Europe/Berlin".into()),
            }),
        })
        .unwrap();
        // Berlin leaves summer time on Sunday 2026-10-25.
        let occ = m.occurrences(ms("2026-10-17T00:00:00Z"), ms("2026-11-02T00:00:00Z"));
        assert_eq!(
            occ,
            vec![
                (ms("2026-10-18T00:30:00Z"), ms("2026-10-18T01:30:00Z")),
                // 02:30 happens twice that night; the first (summer) one.
                (ms("2026-10-25T00:30:00Z"), ms("2026-10-25T01:30:00Z")),
                (ms("2026-11-01T01:30:00Z"), ms("2026-11-01T02:30:00Z")),
            ]
        );
        // Berlin skips 02:00–03:00 on 2026-03-29: 02:30 lands at 03:30 CEST.
        let spring = m.occurrences(ms("2026-03-28T00:00:00Z"), ms("2026-03-30T00:00:00Z"));
        assert_eq!(spring, vec![(ms("2026-03-29T01:30:00Z"), ms("2026-03-29T02:30:00Z"))]);
    }

    #[test]
    fn an_occurrence_reaching_into_the_range_is_found() {
        let m = Maintenance::from_spec(MaintenanceSpec {
            service: "api".into(),
            name: None,
            reason: "nightly".into(),
            start: Some("2026-01-01T00:00:00Z".into()),
            end: Some("2026-02-01T00:00:00Z".into()),
            duration: None,
            recurring: Some(RecurringSpec {
                weekdays: vec![],
                time: "23:00".into(),
                duration: "3h".into(),
                time_zone: None,
            }),
        })
        .unwrap();
        let occ = m.occurrences(ms("2026-01-10T01:00:00Z"), ms("2026-01-10T02:00:00Z"));
        assert_eq!(occ, vec![(ms("2026-01-09T23:00:00Z"), ms("2026-01-10T02:00:00Z"))]);
        // The last occurrence starts before the end and runs past it.
        assert_eq!(
            m.occurrences(ms("2026-02-01T01:00:00Z"), ms("2026-02-03T00:00:00Z"))
                .len(),
            1
        );
        assert!(m
            .occurrences(ms("2026-02-01T02:00:00Z"), ms("2026-02-03T00:00:00Z"))
            .is_empty());
        assert!(m
            .occurrences(ms("2025-12-30T00:00:00Z"), ms("2025-12-31T22:00:00Z"))
            .is_empty());
    }

    #[test]
    fn mistakes_are_named() {
        let bad = |f: &dyn Fn(&mut MaintenanceSpec)| {
            let mut s = MaintenanceSpec {
                service: "api".into(),
                name: None,
                reason: "r".into(),
                start: Some("2026-12-01T02:00:00Z".into()),
                end: Some("2026-12-01T03:00:00Z".into()),
                duration: None,
                recurring: None,
            };
            f(&mut s);
            Maintenance::from_spec(s).unwrap_err()
        };
        assert_eq!(bad(&|s| s.end = Some("2026-12-01T01:00:00Z".into()))[0].0, "end");
        assert_eq!(bad(&|s| s.start = Some("tomorrow".into()))[0].0, "start");
        assert_eq!(bad(&|s| s.reason = " ".into())[0].0, "reason");
        assert_eq!(bad(&|s| s.duration = Some("1h".into()))[0].0, "duration");
        assert_eq!(bad(&|s| s.end = Some("2026-12-31T00:00:00Z".into()))[0].0, "end");
        let e = bad(&|s| {
            s.recurring = Some(RecurringSpec {
                weekdays: vec!["funday".into()],
                time: "25:00".into(),
                duration: "1h".into(),
                time_zone: None,
            })
        });
        assert!(e[0].1.contains("funday"), "{e:?}");
    }
}
