//! Exact error-budget maths. Budgets are traffic-weighted: bad events over
//! total events across the whole window (never an average of short-window
//! ratios), and a window without traffic has no events rather than a NaN.

/// An objective: the fraction of good events (or good time slices) promised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective(f64);

impl Objective {
    /// From a percentage strictly between 0 and 100 (`99.9`).
    pub fn from_percent(percent: f64) -> Option<Self> {
        (percent.is_finite() && percent > 0.0 && percent < 100.0).then(|| Self(percent / 100.0))
    }

    /// The promised good fraction (`0.999`).
    pub fn target(self) -> f64 {
        self.0
    }

    /// The fraction that may be bad: the error budget (`0.001`).
    pub fn budget(self) -> f64 {
        1.0 - self.0
    }

    /// The objective as a percentage.
    pub fn percent(self) -> f64 {
        self.0 * 100.0
    }
}

/// Good and total events over some span. Bad = total − good.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Events {
    /// Events that met the objective.
    pub good: f64,
    /// All events.
    pub total: f64,
}

impl Events {
    /// Counts of good and all events.
    pub fn new(good: f64, total: f64) -> Self {
        Self { good, total }
    }

    /// Bad events (never negative, even if a good counter ran ahead).
    pub fn bad(&self) -> f64 {
        (self.total - self.good).max(0.0)
    }

    /// Good over total, or `None` without traffic.
    pub fn ratio(&self) -> Option<f64> {
        (self.total > 0.0).then(|| (self.good / self.total).clamp(0.0, 1.0))
    }

    /// Bad over total, or `None` without traffic.
    pub fn error_ratio(&self) -> Option<f64> {
        self.ratio().map(|r| 1.0 - r)
    }

    /// Both counts added.
    pub fn plus(self, other: Events) -> Events {
        Events {
            good: self.good + other.good,
            total: self.total + other.total,
        }
    }
}

/// How much of the budget a window has used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetUse {
    /// Bad events (or bad slices) allowed so far: total × budget.
    pub allowed: f64,
    /// Bad events (or bad slices) so far.
    pub consumed: f64,
    /// `consumed / allowed`; 0 with neither.
    pub consumed_fraction: f64,
    /// `1 − consumed_fraction`; negative once overspent.
    pub remaining_fraction: f64,
}

impl BudgetUse {
    /// The budget use of `events` under `objective`.
    pub fn of(events: Events, objective: Objective) -> Self {
        Self::from_counts(events.bad(), events.total * objective.budget())
    }

    fn from_counts(consumed: f64, allowed: f64) -> Self {
        let consumed_fraction = if consumed <= 0.0 {
            0.0
        } else if allowed > 0.0 {
            consumed / allowed
        } else {
            f64::INFINITY
        };
        Self {
            allowed,
            consumed,
            consumed_fraction,
            remaining_fraction: 1.0 - consumed_fraction,
        }
    }

    /// Events (or slices) still allowed to go bad.
    pub fn remaining(&self) -> f64 {
        self.allowed - self.consumed
    }
}

/// The timeslice view: a slice of the window is good when its good ratio
/// meets the slice threshold; slices without traffic count as good (no
/// events, nothing broken). The budget is then time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeBudget {
    /// Bad time allowed over the whole window: window × budget.
    pub allowed_ms: f64,
    /// Time in bad slices so far.
    pub consumed_ms: f64,
    /// The same as fractions of the allowed time.
    pub budget: BudgetUse,
}

impl TimeBudget {
    /// The time budget of a window of `window_ms` with `bad_slices` of
    /// `slice_ms` each gone bad.
    pub fn of(window_ms: i64, slice_ms: i64, bad_slices: u64, objective: Objective) -> Self {
        let allowed_ms = window_ms as f64 * objective.budget();
        let consumed_ms = bad_slices as f64 * slice_ms as f64;
        Self {
            allowed_ms,
            consumed_ms,
            budget: BudgetUse::from_counts(consumed_ms, allowed_ms),
        }
    }
}

/// Whether one slice is good: its good ratio at or above `threshold`
/// (a fraction); a slice without traffic is good.
pub fn slice_is_good(events: Events, threshold: f64) -> bool {
    events.ratio().is_none_or(|r| r >= threshold)
}

/// How fast the budget burns: the error ratio over the budget. 1 spends
/// exactly the budget over one window; `None` without traffic.
pub fn burn_rate(events: Events, objective: Objective) -> Option<f64> {
    events.error_ratio().map(|e| e / objective.budget())
}

/// When the rest of the budget is gone at a constant `burn` rate, as
/// milliseconds from now: `remaining × window / burn`. `Some(0)` when
/// already spent; `None` when nothing burns.
pub fn time_to_exhaustion(remaining_fraction: f64, burn: f64, window_ms: i64) -> Option<i64> {
    if remaining_fraction <= 0.0 {
        return Some(0);
    }
    (burn > 0.0 && burn.is_finite()).then(|| {
        (remaining_fraction * window_ms as f64 / burn)
            .round()
            .min(i64::MAX as f64) as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn o(p: f64) -> Objective {
        Objective::from_percent(p).unwrap()
    }

    #[test]
    fn a_million_events_at_three_nines_allow_a_thousand_bad() {
        let b = BudgetUse::of(Events::new(999_500.0, 1_000_000.0), o(99.9));
        assert!((b.allowed - 1000.0).abs() < 1e-6, "{}", b.allowed);
        assert_eq!(b.consumed, 500.0);
        assert!((b.remaining_fraction - 0.5).abs() < 1e-9);
        assert!((b.remaining() - 500.0).abs() < 1e-6);
    }

    #[test]
    fn three_nines_over_thirty_days_is_forty_three_minutes() {
        let t = TimeBudget::of(30 * DAY, 60_000, 0, o(99.9));
        assert!((t.allowed_ms - 43.2 * 60_000.0).abs() < 1e-3, "{}", t.allowed_ms);
        // 43 bad one-minute slices leave 0.2 of a minute.
        let t = TimeBudget::of(30 * DAY, 60_000, 43, o(99.9));
        assert!((t.allowed_ms - t.consumed_ms - 12_000.0).abs() < 1e-3);
        assert!(t.budget.remaining_fraction > 0.0);
        let t = TimeBudget::of(30 * DAY, 60_000, 44, o(99.9));
        assert!(t.budget.remaining_fraction < 0.0);
    }

    #[test]
    fn no_traffic_is_no_events_not_nan() {
        let none = Events::default();
        assert_eq!(none.ratio(), None);
        assert_eq!(burn_rate(none, o(99.0)), None);
        let b = BudgetUse::of(none, o(99.0));
        assert_eq!((b.consumed_fraction, b.remaining_fraction), (0.0, 1.0));
        assert!(slice_is_good(none, 0.99));
    }

    #[test]
    fn budgets_weigh_traffic_not_ratios() {
        // A quiet hour at 50% errors and a busy hour at 0%: the average of
        // ratios would say 25%, the events say 1%.
        let quiet = Events::new(10.0, 20.0);
        let busy = Events::new(980.0, 980.0);
        let both = quiet.plus(busy);
        assert!((both.error_ratio().unwrap() - 0.01).abs() < 1e-12);
    }

    #[test]
    fn burn_and_exhaustion() {
        // 1.44% errors on a 99.9% SLO burns 14.4x.
        let e = Events::new(98_560.0, 100_000.0);
        let burn = burn_rate(e, o(99.9)).unwrap();
        assert!((burn - 14.4).abs() < 1e-9, "{burn}");
        // Half the budget left, burning 14.4x on a 30-day window: 25 hours.
        let t = time_to_exhaustion(0.5, burn, 30 * DAY).unwrap();
        assert_eq!(t, 25 * 3_600_000);
        assert_eq!(time_to_exhaustion(-0.1, burn, 30 * DAY), Some(0));
        assert_eq!(time_to_exhaustion(0.5, 0.0, 30 * DAY), None);
    }

    #[test]
    fn objectives_are_strictly_between_zero_and_a_hundred() {
        for bad in [0.0, 100.0, -1.0, 101.0, f64::NAN] {
            assert!(Objective::from_percent(bad).is_none(), "{bad}");
        }
        assert!((o(99.95).budget() - 0.0005).abs() < 1e-12);
    }
}
