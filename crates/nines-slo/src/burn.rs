//! Multiwindow, multi-burn-rate alert tiers (the SRE Workbook's, chapter
//! "Alerting on SLOs"): a tier fires while the error ratio over both its
//! long and its short window exceeds `factor × budget`, where the factor
//! is the rate that would spend the tier's share of the budget within the
//! long window. Factors are derived from the share, so they scale with the
//! SLO's window: 2% of a 30-day budget in 1 h is 14.4x, of a 28-day one
//! 13.44x.

use crate::budget::{Events, Objective};

/// Whether a tier pages someone or opens a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Wake someone up.
    Page,
    /// Look at it in working hours.
    Ticket,
}

impl Severity {
    /// The name used in labels and config.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One burn-rate condition.
#[derive(Debug, Clone, PartialEq)]
pub struct BurnTier {
    /// Page or ticket.
    pub severity: Severity,
    /// The long window, ms.
    pub long_ms: i64,
    /// The short window (a twelfth of the long one in the Workbook), ms:
    /// it makes the alert stop soon after the burning does.
    pub short_ms: i64,
    /// The share of the whole window's budget that, spent within the long
    /// window, fires the tier.
    pub budget_share: f64,
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

impl BurnTier {
    /// The Workbook's four tiers: page on 2% of the budget in 1 h (5 m) or
    /// 5% in 6 h (30 m); ticket on 10% in 1 d (2 h) or 10% in 3 d (6 h).
    pub fn workbook() -> Vec<BurnTier> {
        let tier = |severity, long_ms, short_ms, budget_share| BurnTier {
            severity,
            long_ms,
            short_ms,
            budget_share,
        };
        vec![
            tier(Severity::Page, HOUR, 5 * MINUTE, 0.02),
            tier(Severity::Page, 6 * HOUR, 30 * MINUTE, 0.05),
            tier(Severity::Ticket, 24 * HOUR, 2 * HOUR, 0.10),
            tier(Severity::Ticket, 72 * HOUR, 6 * HOUR, 0.10),
        ]
    }

    /// The burn-rate factor for an SLO window of `window_ms`:
    /// `share × window / long`.
    pub fn factor(&self, window_ms: i64) -> f64 {
        self.budget_share * window_ms as f64 / self.long_ms as f64
    }

    /// Whether the tier's condition holds: both windows' error ratios
    /// above `factor × budget`, and the long window has at least
    /// `min_events` events (so that two failures out of three requests at
    /// night do not page; the cost is that a real outage of a very quiet
    /// service is seen later, by the ticket tiers or the budget alerts).
    pub fn fires(&self, long: Events, short: Events, objective: Objective, window_ms: i64, min_events: f64) -> bool {
        if long.total < min_events {
            return false;
        }
        let threshold = self.factor(window_ms) * objective.budget();
        let above = |e: Events| e.error_ratio().is_some_and(|r| r > threshold);
        above(long) && above(short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * HOUR;

    #[test]
    fn workbook_factors_for_thirty_days() {
        let f: Vec<f64> = BurnTier::workbook().iter().map(|t| t.factor(30 * DAY)).collect();
        for (got, want) in f.iter().zip([14.4, 6.0, 3.0, 1.0]) {
            assert!((got - want).abs() < 1e-9, "{f:?}");
        }
        let page = &BurnTier::workbook()[0];
        assert!((page.factor(28 * DAY) - 13.44).abs() < 1e-9);
        assert!((page.factor(7 * DAY) - 3.36).abs() < 1e-9);
    }

    #[test]
    fn both_windows_must_burn_and_traffic_must_be_enough() {
        let page = &BurnTier::workbook()[0];
        let o = Objective::from_percent(99.9).unwrap();
        let burning = Events::new(0.0, 1000.0);
        let calm = Events::new(1000.0, 1000.0);
        assert!(page.fires(burning, burning, o, 30 * DAY, 0.0));
        assert!(
            !page.fires(burning, calm, o, 30 * DAY, 0.0),
            "recovered: the short window stops it"
        );
        assert!(
            !page.fires(calm, burning, o, 30 * DAY, 0.0),
            "a blip: the long window holds it"
        );
        assert!(!page.fires(burning, burning, o, 30 * DAY, 5000.0), "too little traffic");
        // 1.40% errors is 14x (below 14.4x), 1.45% is 14.5x.
        let below = Events::new(986.0, 1000.0);
        assert!(!page.fires(below, below, o, 30 * DAY, 0.0));
        let above = Events::new(985.5, 1000.0);
        assert!(page.fires(above, above, o, 30 * DAY, 0.0));
    }
}
