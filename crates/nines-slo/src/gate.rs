//! Error budget policy and the release gate: whether a service may ship
//! now, from its SLOs' budgets, its fast-burn pages, change freezes and
//! audited overrides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alerts::Alert;
use crate::maintenance::{parse_schedule, RecurringSpec, Schedule, Timing};
use crate::status::{rfc3339, SloStatus, State};

/// Longest change freeze (a quarter-end or year-end freeze fits).
const MAX_FREEZE_MS: i64 = 92 * 86_400_000;

/// Longest override: a release through a block is a decision for a
/// release, not a standing exemption.
pub const MAX_OVERRIDE_MS: i64 = 7 * 86_400_000;

/// `budget_policy:` as written.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Applies to every service (fields a service leaves out come from here).
    #[serde(default)]
    pub default: PolicySpec,
    /// Per service.
    #[serde(default)]
    pub services: BTreeMap<String, PolicySpec>,
}

/// One policy as written; every field optional so that a service's
/// policy only says what differs from the default.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Warn when an SLO has less than this percentage of its budget left (50).
    #[serde(default)]
    pub warn_below: Option<f64>,
    /// Block when an SLO has less than this percentage left; 0 blocks once
    /// the budget is spent (0).
    #[serde(default)]
    pub block_below: Option<f64>,
    /// A firing page-severity burn alert blocks (true); false: it warns.
    #[serde(default)]
    pub block_on_page: Option<bool>,
    /// Change freezes: no release while one is on.
    #[serde(default)]
    pub freezes: Vec<FreezeSpec>,
}

/// A change freeze as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeSpec {
    /// Its name.
    pub name: String,
    /// Why: printed by the gate.
    pub reason: String,
    /// One-off start, or when a recurrence begins (RFC 3339).
    #[serde(default)]
    pub start: Option<String>,
    /// One-off end, or when a recurrence stops.
    #[serde(default)]
    pub end: Option<String>,
    /// One-off length instead of `end`.
    #[serde(default)]
    pub duration: Option<String>,
    /// Repeats (e.g. Friday afternoons).
    #[serde(default)]
    pub recurring: Option<RecurringSpec>,
}

/// A change freeze, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Freeze {
    /// Its name.
    pub name: String,
    /// Why.
    pub reason: String,
    /// When.
    pub schedule: Schedule,
}

/// A service's policy, validated, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Fraction of budget left below which the gate warns.
    pub warn_below: f64,
    /// Fraction below which it blocks (0: once spent).
    pub block_below: f64,
    /// Whether a page blocks.
    pub block_on_page: bool,
    /// The default's freezes and the service's own.
    pub freezes: Vec<Freeze>,
}

/// Every service's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policies {
    default: Policy,
    services: BTreeMap<String, Policy>,
}

impl Default for Policies {
    fn default() -> Self {
        Self {
            default: Policy {
                warn_below: 0.5,
                block_below: 0.0,
                block_on_page: true,
                freezes: Vec::new(),
            },
            services: BTreeMap::new(),
        }
    }
}

/// A problem with one field: the path below `budget_policy` and what.
pub type PolicyProblem = (Vec<String>, String);

impl Policies {
    /// Validates the config; every problem with its path.
    pub fn from_config(c: &PolicyConfig) -> Result<Self, Vec<PolicyProblem>> {
        let mut problems = Vec::new();
        let base = Policies::default().default;
        let default = resolve(&base, &c.default, &[], vec!["default".to_string()], &mut problems);
        let mut services = BTreeMap::new();
        for (name, spec) in &c.services {
            let path = vec!["services".to_string(), name.clone()];
            if let Err(e) = crate::spec::check_identifier(name) {
                problems.push((path.clone(), e));
            }
            let p = resolve(&default, spec, &default.freezes, path, &mut problems);
            services.insert(name.clone(), p);
        }
        if problems.is_empty() {
            Ok(Self { default, services })
        } else {
            Err(problems)
        }
    }

    /// The policy of `service`.
    pub fn of(&self, service: &str) -> &Policy {
        self.services.get(service).unwrap_or(&self.default)
    }
}

fn resolve(
    base: &Policy,
    spec: &PolicySpec,
    inherited_freezes: &[Freeze],
    path: Vec<String>,
    problems: &mut Vec<PolicyProblem>,
) -> Policy {
    let at = |field: &str| {
        let mut p = path.clone();
        p.push(field.to_string());
        p
    };
    let mut percent = |field: &str, v: Option<f64>, fallback: f64| match v {
        Some(x) if (0.0..=100.0).contains(&x) => x / 100.0,
        Some(x) => {
            problems.push((at(field), format!("{x} is not a percentage from 0 to 100")));
            fallback
        }
        None => fallback,
    };
    let warn_below = percent("warn_below", spec.warn_below, base.warn_below);
    let block_below = percent("block_below", spec.block_below, base.block_below);
    if block_below > warn_below {
        problems.push((
            at("block_below"),
            format!(
                "blocks at {:.0}% but only warns below {:.0}%: block_below must not exceed warn_below",
                block_below * 100.0,
                warn_below * 100.0
            ),
        ));
    }
    let mut freezes = inherited_freezes.to_vec();
    for (i, f) in spec.freezes.iter().enumerate() {
        let mut found = Vec::new();
        if let Err(e) = crate::spec::check_identifier(&f.name) {
            found.push(("name", e));
        }
        if f.reason.trim().is_empty() {
            found.push(("reason", "say why: the gate prints it".to_string()));
        }
        let schedule = parse_schedule(
            Timing {
                start: f.start.as_deref(),
                end: f.end.as_deref(),
                duration: f.duration.as_deref(),
                recurring: f.recurring.as_ref(),
            },
            MAX_FREEZE_MS,
            &mut found,
        );
        for (field, msg) in found.drain(..) {
            let mut p = at("freezes");
            p.push(i.to_string());
            p.push(field.to_string());
            problems.push((p, msg));
        }
        if let Some(schedule) = schedule {
            freezes.push(Freeze {
                name: f.name.clone(),
                reason: f.reason.clone(),
                schedule,
            });
        }
    }
    Policy {
        warn_below,
        block_below,
        block_on_page: spec.block_on_page.unwrap_or(base.block_on_page),
        freezes,
    }
}

/// What the gate says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Ship.
    Allow,
    /// Ship, but know why not to.
    Warn,
    /// Do not ship.
    Block,
}

impl Decision {
    /// Its JSON word.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Warn => "warn",
            Decision::Block => "block",
        }
    }
}

/// One reason behind a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// `budget_exhausted`, `budget_below_block`, `budget_below_warn`,
    /// `fast_burn_page`, `change_freeze`, `open_incident`, `no_data`,
    /// `override`.
    pub kind: &'static str,
    /// What this reason alone would decide.
    pub decision: Decision,
    /// For people.
    pub message: String,
    /// The SLO it is about, as `service/slo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<String>,
}

/// An audited permission to release through a block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Override {
    /// The store's id.
    pub id: i64,
    /// The service.
    pub service: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub created_by: String,
    /// When (ms).
    pub created_at_ms: i64,
    /// Until when it holds (ms, exclusive).
    pub until_ms: i64,
    /// When it was revoked (ms).
    pub revoked_at_ms: Option<i64>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

impl Override {
    /// Whether it lets releases through at `now_ms`.
    pub fn active_at(&self, now_ms: i64) -> bool {
        self.created_at_ms <= now_ms && now_ms < self.until_ms && self.revoked_at_ms.is_none_or(|r| now_ms < r)
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateAnswer {
    /// The service asked about.
    pub service: String,
    /// The decision.
    pub decision: Decision,
    /// Every reason, worst first.
    pub reasons: Vec<Reason>,
    /// RFC 3339: when the SLOs it read were evaluated.
    pub evaluated_at: String,
}

/// Decides for `service` at `now_ms` from its SLO statuses, the firing
/// alerts, its policy and its overrides. An active override turns a block
/// into an allow, listing what it overrode.
pub fn decide(
    service: &str,
    policy: &Policy,
    statuses: &[&SloStatus],
    alerts: &[Alert],
    overrides: &[Override],
    now_ms: i64,
) -> GateAnswer {
    decide_with(service, policy, statuses, alerts, Vec::new(), overrides, now_ms)
}

/// [`decide`], with reasons from outside the SLOs (open major incidents)
/// weighed like the others: an override lets a release through them too,
/// since the release may be the fix.
pub fn decide_with(
    service: &str,
    policy: &Policy,
    statuses: &[&SloStatus],
    alerts: &[Alert],
    outside: Vec<Reason>,
    overrides: &[Override],
    now_ms: i64,
) -> GateAnswer {
    let mut reasons = outside;
    for s in statuses {
        let id = format!("{}/{}", s.service, s.slo);
        for g in &s.groups {
            let instance = if g.labels.is_empty() {
                id.clone()
            } else {
                let pairs: Vec<String> = g.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                format!("{id}{{{}}}", pairs.join(","))
            };
            let left = g.budget.remaining_ratio;
            let pct = |x: f64| format!("{:.1}%", x * 100.0);
            let reason = if g.state == State::NoData {
                Some((
                    "no_data",
                    Decision::Allow,
                    format!("{instance} has no events in its window"),
                ))
            } else if left <= 0.0 {
                Some((
                    "budget_exhausted",
                    Decision::Block,
                    format!(
                        "{instance} has spent its error budget ({} used)",
                        pct(g.budget.consumed_ratio)
                    ),
                ))
            } else if left < policy.block_below {
                Some((
                    "budget_below_block",
                    Decision::Block,
                    format!(
                        "{instance} has {} of its error budget left; the policy blocks below {}",
                        pct(left),
                        pct(policy.block_below)
                    ),
                ))
            } else if left < policy.warn_below {
                Some((
                    "budget_below_warn",
                    Decision::Warn,
                    format!(
                        "{instance} has {} of its error budget left; the policy warns below {}",
                        pct(left),
                        pct(policy.warn_below)
                    ),
                ))
            } else {
                None
            };
            if let Some((kind, decision, message)) = reason {
                reasons.push(Reason {
                    kind,
                    decision,
                    message,
                    slo: Some(id.clone()),
                });
            }
        }
    }
    for a in alerts.iter().filter(|a| {
        a.labels.get("service").is_some_and(|s| s == service) && a.labels.get("severity").is_some_and(|s| s == "page")
    }) {
        let slo = a.labels.get("slo").map(|s| format!("{service}/{s}"));
        reasons.push(Reason {
            kind: "fast_burn_page",
            decision: if policy.block_on_page {
                Decision::Block
            } else {
                Decision::Warn
            },
            message: format!(
                "{} is paging: {}",
                slo.as_deref().unwrap_or(service),
                a.annotations.get("summary").map_or("", String::as_str)
            ),
            slo,
        });
    }
    for f in &policy.freezes {
        if let Some((start, end)) = f.schedule.occurrences(now_ms, now_ms + 1).first() {
            reasons.push(Reason {
                kind: "change_freeze",
                decision: Decision::Block,
                message: format!(
                    "change freeze {} ({}) from {} to {}",
                    f.name,
                    f.reason,
                    rfc3339(*start),
                    rfc3339(*end)
                ),
                slo: None,
            });
        }
    }
    let mut decision = reasons.iter().map(|r| r.decision).max().unwrap_or(Decision::Allow);
    if decision == Decision::Block {
        if let Some(o) = overrides
            .iter()
            .filter(|o| o.service == service && o.active_at(now_ms))
            .max_by_key(|o| o.until_ms)
        {
            decision = Decision::Allow;
            reasons.push(Reason {
                kind: "override",
                decision: Decision::Allow,
                message: format!(
                    "override {} by {} until {}: {}",
                    o.id,
                    o.created_by,
                    rfc3339(o.until_ms),
                    o.reason
                ),
                slo: None,
            });
        }
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.decision));
    let evaluated_at = statuses
        .iter()
        .map(|s| s.evaluated_at.clone())
        .max()
        .unwrap_or_default();
    GateAnswer {
        service: service.to_string(),
        decision,
        reasons,
        evaluated_at,
    }
}

/// An override to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOverride {
    /// The service.
    pub service: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub created_by: String,
    /// When (ms).
    pub created_at_ms: i64,
    /// Until when (ms).
    pub until_ms: i64,
}

/// Where overrides are kept: durably, with their audit trail.
pub trait GateRepository: Send + Sync {
    /// Records an override; its id.
    fn add_override(&self, o: &NewOverride) -> crate::repo::RepoResult<i64>;
    /// Every override, revoked and expired ones too, oldest first.
    fn overrides(&self) -> crate::repo::RepoResult<Vec<Override>>;
    /// Revokes one; false if there is no such override.
    fn revoke_override(&self, id: i64, by: &str, at_ms: i64) -> crate::repo::RepoResult<bool>;
}

/// The contract every [`GateRepository`] keeps.
#[doc(hidden)]
pub mod contract {
    use super::*;

    /// Runs the checks on a fresh repository.
    pub fn run_all<R: GateRepository>(r: R) {
        let new = |service: &str, until_ms| NewOverride {
            service: service.into(),
            reason: "hotfix for INC-42".into(),
            created_by: "alice".into(),
            created_at_ms: 1_000,
            until_ms,
        };
        let a = r.add_override(&new("api", 5_000)).expect("add");
        let b = r.add_override(&new("web", 9_000)).expect("add");
        assert_ne!(a, b);
        let all = r.overrides().expect("list");
        assert_eq!(all.iter().map(|o| o.id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(
            (all[0].service.as_str(), all[0].reason.as_str(), all[0].until_ms),
            ("api", "hotfix for INC-42", 5_000)
        );
        assert!(all[0].active_at(2_000) && !all[0].active_at(5_000));
        assert!(r.revoke_override(a, "bob", 3_000).expect("revoke"));
        assert!(!r.revoke_override(a + b + 100, "bob", 3_000).expect("unknown"));
        let revoked = &r.overrides().expect("list")[0];
        assert_eq!(
            (revoked.revoked_at_ms, revoked.revoked_by.as_deref()),
            (Some(3_000), Some("bob"))
        );
        assert!(revoked.active_at(2_999) && !revoked.active_at(3_000));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(yaml: &str) -> Result<Policies, Vec<PolicyProblem>> {
        let c: PolicyConfig = serde_norway::from_str(yaml).expect("yaml");
        Policies::from_config(&c)
    }

    #[test]
    fn services_inherit_what_they_leave_out_and_the_default_freezes() {
        let p = policies(
            r#"
default:
  warn_below: 40
  freezes:
    - name: year-end
      reason: Year-end freeze
      start: 2026-12-20T00:00:00Z
      end: 2027-01-04T00:00:00Z
services:
  checkout:
    block_below: 10
    block_on_page: false
    freezes:
      - name: fridays
        reason: No Friday afternoon releases
        recurring: {weekdays: [friday], time: "15:00", duration: 9h, time_zone: Europe/Berlin}
"#,
        )
        .expect("valid");
        let c = p.of("checkout");
        assert_eq!((c.warn_below, c.block_below, c.block_on_page), (0.4, 0.1, false));
        let names: Vec<&str> = c.freezes.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["year-end", "fridays"]);
        let other = p.of("search");
        assert_eq!(
            (other.warn_below, other.block_below, other.block_on_page),
            (0.4, 0.0, true)
        );
        assert_eq!(other.freezes.len(), 1);
        assert_eq!(Policies::default().of("x").warn_below, 0.5);
    }

    #[test]
    fn policy_mistakes_name_their_field() {
        let e = policies("default:\n  warn_below: 120\nservices:\n  api:\n    warn_below: 10\n    block_below: 20\n")
            .unwrap_err();
        let paths: Vec<String> = e.iter().map(|(p, _)| p.join(".")).collect();
        assert_eq!(paths, ["default.warn_below", "services.api.block_below"], "{e:?}");
        let e = policies("default:\n  freezes:\n    - name: x\n      reason: r\n      start: 2026-01-01T00:00:00Z\n")
            .unwrap_err();
        assert_eq!(e[0].0.join("."), "default.freezes.0.end", "{e:?}");
    }

    #[test]
    fn overrides_hold_from_creation_until_expiry_or_revocation() {
        let mut o = Override {
            id: 1,
            service: "api".into(),
            reason: "r".into(),
            created_by: "a".into(),
            created_at_ms: 100,
            until_ms: 200,
            revoked_at_ms: None,
            revoked_by: None,
        };
        assert!(!o.active_at(99) && o.active_at(100) && o.active_at(199) && !o.active_at(200));
        o.revoked_at_ms = Some(150);
        assert!(o.active_at(149) && !o.active_at(150));
    }
}
