//! SLO windows: rolling (the last 30 days, always) or calendar (this
//! week, month or quarter in a time zone, starting afresh at each period).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::error::{Error, Result};

/// A calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarUnit {
    /// Monday 00:00 to the next Monday 00:00 (ISO weeks).
    Week,
    /// The 1st 00:00 to the next 1st 00:00.
    Month,
    /// January, April, July or October 1st 00:00 to the next one.
    Quarter,
}

impl CalendarUnit {
    /// The unit a config names (`week`, `month`, `quarter`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            "quarter" => Some(Self::Quarter),
            _ => None,
        }
    }

    /// The name a config uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
        }
    }

    /// The first day of the period holding `d`.
    fn start_of(self, d: Date) -> Result<Date> {
        let out = match self {
            Self::Week => d.checked_sub(i32::from(d.weekday().to_monday_zero_offset()).days()),
            Self::Month => Ok(d.first_of_month()),
            Self::Quarter => Date::new(d.year(), (d.month() - 1) / 3 * 3 + 1, 1),
        };
        out.map_err(|_| Error::TimeOutOfRange(0))
    }

    /// The first day of the next period.
    fn next(self, start: Date) -> Result<Date> {
        let span = match self {
            Self::Week => 7.days(),
            Self::Month => 1.month(),
            Self::Quarter => 3.months(),
        };
        start.checked_add(span).map_err(|_| Error::TimeOutOfRange(0))
    }
}

/// A half-open span of time `[start, end)` in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First millisecond inside.
    pub start: i64,
    /// First millisecond after.
    pub end: i64,
}

impl Period {
    /// Its length in milliseconds.
    pub fn len(&self) -> i64 {
        self.end - self.start
    }

    /// True for an empty span.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// The window an SLO is judged over.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// The last `length_ms`, moving with time.
    Rolling {
        /// Length in milliseconds.
        length_ms: i64,
    },
    /// The calendar period holding "now", in a time zone.
    Calendar {
        /// Week, month or quarter.
        unit: CalendarUnit,
        /// Where midnight is.
        tz: TimeZone,
        /// The IANA name, as written.
        tz_name: String,
    },
}

impl Window {
    /// A calendar window in the named IANA time zone.
    pub fn calendar(unit: CalendarUnit, tz_name: &str) -> Result<Self> {
        let tz = TimeZone::get(tz_name).map_err(|_| Error::UnknownTimeZone(tz_name.to_string()))?;
        Ok(Self::Calendar {
            unit,
            tz,
            tz_name: tz_name.to_string(),
        })
    }

    /// The period the SLO is judged over at `now`: for a rolling window
    /// `(now - length, now]` as `[now - length + 1, now + 1)`; for a
    /// calendar window the whole period holding `now` (which ends later).
    pub fn period_at(&self, now: i64) -> Result<Period> {
        match self {
            Self::Rolling { length_ms } => {
                let start = now.checked_sub(*length_ms).ok_or(Error::TimeOutOfRange(now))?;
                let end = now.checked_add(1).ok_or(Error::TimeOutOfRange(now))?;
                Ok(Period { start: start + 1, end })
            }
            Self::Calendar { unit, tz, .. } => {
                let day = to_date(now, tz)?;
                let start = unit.start_of(day)?;
                let end = unit.next(start)?;
                Ok(Period {
                    start: midnight(start, tz)?,
                    end: midnight(end, tz)?,
                })
            }
        }
    }

    /// The period before `p` (for history): the same length earlier for a
    /// rolling window, the previous calendar period otherwise.
    pub fn previous(&self, p: Period) -> Result<Period> {
        match self {
            Self::Rolling { length_ms } => Ok(Period {
                start: p.start.checked_sub(*length_ms).ok_or(Error::TimeOutOfRange(p.start))?,
                end: p.start,
            }),
            Self::Calendar { .. } => self.period_at(p.start.checked_sub(1).ok_or(Error::TimeOutOfRange(p.start))?),
        }
    }

    /// A nominal length for scaling burn rates: the rolling length, or the
    /// length of the period holding `now`.
    pub fn length_at(&self, now: i64) -> Result<i64> {
        Ok(self.period_at(now)?.len())
    }

    /// How the config writes it.
    pub fn describe(&self) -> String {
        match self {
            Self::Rolling { length_ms } => format!("rolling {}", crate::format_duration(*length_ms)),
            Self::Calendar { unit, tz_name, .. } => format!("calendar {} ({tz_name})", unit.name()),
        }
    }
}

fn to_date(t: i64, tz: &TimeZone) -> Result<Date> {
    let ts = Timestamp::from_millisecond(t).map_err(|_| Error::TimeOutOfRange(t))?;
    Ok(ts.to_zoned(tz.clone()).date())
}

/// The first instant of `d` in `tz` (a day that starts in a DST gap starts
/// when the clocks land).
fn midnight(d: Date, tz: &TimeZone) -> Result<i64> {
    let z = d.to_zoned(tz.clone()).map_err(|_| Error::TimeOutOfRange(0))?;
    Ok(z.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_rolling_window_ends_now() {
        let w = Window::Rolling { length_ms: 3_600_000 };
        let p = w.period_at(10_000_000).unwrap();
        assert_eq!(p.len(), 3_600_000);
        assert_eq!(p.end, 10_000_001);
        assert_eq!(w.previous(p).unwrap().end, p.start);
        assert!(w.period_at(i64::MIN + 5).is_err());
        assert!(w.period_at(i64::MAX).is_err());
    }

    #[test]
    fn berlin_march_is_an_hour_short_and_october_an_hour_long() {
        let w = Window::calendar(CalendarUnit::Month, "Europe/Berlin").unwrap();
        let march = w.period_at(ms("2026-03-15T12:00:00Z")).unwrap();
        assert_eq!(march.start, ms("2026-02-28T23:00:00Z"), "midnight CET");
        assert_eq!(march.end, ms("2026-03-31T22:00:00Z"), "midnight CEST");
        assert_eq!(march.len(), (31 * 24 - 1) * 3_600_000);
        let october = w.period_at(ms("2026-10-31T22:59:59Z")).unwrap();
        assert_eq!(october.len(), (31 * 24 + 1) * 3_600_000);
        // The first instant of April in Berlin belongs to April.
        let april = w.period_at(march.end).unwrap();
        assert_eq!(april.start, march.end);
        assert_eq!(w.previous(april).unwrap(), march);
    }

    #[test]
    fn weeks_start_on_monday_and_quarters_on_the_quarter() {
        let w = Window::calendar(CalendarUnit::Week, "UTC").unwrap();
        // 2026-11-24 is a Tuesday.
        let p = w.period_at(ms("2026-11-24T10:00:00Z")).unwrap();
        assert_eq!(p.start, ms("2026-11-23T00:00:00Z"));
        assert_eq!(p.len(), 7 * 86_400_000);
        let q = Window::calendar(CalendarUnit::Quarter, "America/New_York").unwrap();
        let p = q.period_at(ms("2026-11-24T10:00:00Z")).unwrap();
        assert_eq!(p.start, ms("2026-10-01T04:00:00Z"));
        assert_eq!(p.end, ms("2027-01-01T05:00:00Z"));
    }

    proptest::proptest! {
        #[test]
        fn periods_hold_their_time_and_tile_the_calendar(
            t in 0i64..4_102_444_800_000,
            unit in 0usize..3,
            zone in 0usize..4,
        ) {
            let unit = [CalendarUnit::Week, CalendarUnit::Month, CalendarUnit::Quarter][unit];
            let zone = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"][zone];
            let w = Window::calendar(unit, zone).unwrap();
            let p = w.period_at(t).unwrap();
            proptest::prop_assert!(p.start <= t && t < p.end, "{p:?} {t}");
            proptest::prop_assert_eq!(w.previous(p).unwrap().end, p.start);
            proptest::prop_assert_eq!(w.period_at(p.end).unwrap().start, p.end);
            // Months and quarters vary by up to two days, DST adds an hour.
            let nominal = match unit {
                CalendarUnit::Week => 7 * 86_400_000,
                CalendarUnit::Month => 30 * 86_400_000,
                CalendarUnit::Quarter => 91 * 86_400_000,
            };
            proptest::prop_assert!((p.len() - nominal).abs() <= 2 * 86_400_000 + 3_600_000, "{p:?}");
        }
    }

    #[test]
    fn unknown_zones_are_named() {
        let e = Window::calendar(CalendarUnit::Month, "Mars/Olympus").unwrap_err();
        assert!(e.to_string().contains("Mars/Olympus"), "{e}");
    }
}
