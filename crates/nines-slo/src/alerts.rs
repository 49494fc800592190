//! SLO alerts: the multiwindow multi-burn-rate tiers and the budget
//! alerts, evaluated from the same window differences as the status.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::burn::BurnTier;
use crate::repo::GroupLabels;
use crate::spec::Slo;

/// One configured burn-rate tier.
#[derive(Debug, Clone, PartialEq)]
pub struct TierRule {
    /// `page_1h`, `page_6h`, `ticket_1d`, `ticket_3d`.
    pub name: &'static str,
    /// The condition.
    pub tier: BurnTier,
    /// Off when disabled in the config.
    pub enabled: bool,
    /// Extra labels on its alerts.
    pub labels: BTreeMap<String, String>,
}

/// The Workbook's tiers under their config names.
pub fn workbook_rules() -> Vec<TierRule> {
    let names = ["page_1h", "page_6h", "ticket_1d", "ticket_3d"];
    names
        .into_iter()
        .zip(BurnTier::workbook())
        .map(|(name, tier)| TierRule {
            name,
            tier,
            enabled: true,
            labels: BTreeMap::new(),
        })
        .collect()
}

/// How an SLO alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// Burn-rate tiers.
    pub tiers: Vec<TierRule>,
    /// Fewest events in a tier's long window for it to fire.
    pub min_events: f64,
    /// Alert (and warn in the status) when the remaining budget is below
    /// this fraction; `None`: never.
    pub budget_remaining_below: Option<f64>,
    /// Alert when the budget is spent.
    pub budget_exhausted: bool,
    /// Labels on every alert of the SLO.
    pub labels: BTreeMap<String, String>,
}

impl Default for Alerting {
    fn default() -> Self {
        Self {
            tiers: workbook_rules(),
            min_events: 0.0,
            budget_remaining_below: Some(0.25),
            budget_exhausted: true,
            labels: BTreeMap::new(),
        }
    }
}

/// Alert names, as they appear in `alertname`.
pub const BURN_ALERT: &str = "SLOErrorBudgetBurn";
/// Budget below the configured level.
pub const LOW_ALERT: &str = "SLOErrorBudgetLow";
/// Budget spent.
pub const EXHAUSTED_ALERT: &str = "SLOErrorBudgetExhausted";

/// A firing SLO alert, in the shape of Prometheus's `/api/v1/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Identifying labels (`alertname`, `service`, `slo`, `severity`, ...).
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`.
    pub annotations: BTreeMap<String, String>,
    /// Always `firing`: resolved alerts are not listed.
    pub state: &'static str,
    /// RFC 3339: when it started firing.
    #[serde(rename = "activeAt")]
    pub active_at: String,
    /// The value that fired it (a burn rate or the remaining ratio), as
    /// Prometheus writes sample values.
    pub value: String,
    /// For sorting and the status: the tier or budget rule.
    #[serde(skip)]
    pub rule: String,
    /// When it started firing, ms.
    #[serde(skip)]
    pub active_since_ms: i64,
}

/// The labels an alert of `slo`'s instance `group` carries.
pub fn alert_labels(slo: &Slo, group: &GroupLabels, alerting: &Alerting, alertname: &str) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = slo.labels.clone();
    l.extend(alerting.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    l.extend(group.iter().map(|(k, v)| (k.clone(), v.clone())));
    l.insert("alertname".into(), alertname.into());
    l.insert("service".into(), slo.service.clone());
    l.insert("slo".into(), slo.name.clone());
    l.insert("owner".into(), slo.owner.clone());
    l
}
