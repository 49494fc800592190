//! Escalation policies (`escalation_policies:`): ordered levels, each
//! notifying users and/or whoever is on call on a schedule, with a delay
//! before the next level, the whole run repeated `repeat` more times, and
//! an optional ack timeout after which an acknowledged page triggers
//! again.

use nines_alerting::rulefile::{PathPart, Problem};
use serde::Deserialize;

/// Delay before the next level when a level does not say.
pub const DEFAULT_LEVEL_DELAY_MS: i64 = 10 * 60_000;
/// The shortest delay a level may have.
pub const MIN_LEVEL_DELAY_MS: i64 = 1_000;
/// At most this many extra runs through the levels.
pub const MAX_REPEAT: u32 = 20;

/// An `escalation_policies:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// How receivers name it.
    pub name: String,
    /// Levels, first notified first.
    pub levels: Vec<LevelSpec>,
    /// How many more times to run through all levels when nobody acks.
    #[serde(default)]
    pub repeat: u32,
    /// After an ack, how long before the page triggers again if it is
    /// still not resolved (never when absent).
    #[serde(default)]
    pub ack_timeout: Option<String>,
}

/// One level.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelSpec {
    /// Who it notifies.
    pub targets: Vec<TargetSpec>,
    /// How long before the next level (default 10m).
    #[serde(default)]
    pub delay: Option<String>,
}

/// `{user: NAME}` or `{schedule: NAME}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// A user by name.
    #[serde(default)]
    pub user: Option<String>,
    /// Whoever is on call on this schedule when the level is reached.
    #[serde(default)]
    pub schedule: Option<String>,
}

/// Who a level notifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This user.
    User(String),
    /// The schedule's on-call user at that instant.
    Schedule(String),
}

/// A validated level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// Who it notifies.
    pub targets: Vec<Target>,
    /// ms before the next level.
    pub delay_ms: i64,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its name.
    pub name: String,
    /// Its levels.
    pub levels: Vec<Level>,
    /// Extra runs through the levels.
    pub repeat: u32,
    /// ms after an ack before the page triggers again.
    pub ack_timeout_ms: Option<i64>,
}

fn duration(text: &str, field: &'static str, path: &[PathPart], problems: &mut Vec<Problem>) -> Option<i64> {
    let mut p = path.to_vec();
    p.push(PathPart::Field(field));
    match nines_promql::parse_duration_ms(text) {
        Some(ms) if ms >= MIN_LEVEL_DELAY_MS => Some(ms),
        Some(_) => {
            problems.push((p, format!("{text:?} is shorter than 1s")));
            None
        }
        None => {
            problems.push((p, format!("{text:?} is not a duration like 30s or 10m")));
            None
        }
    }
}

impl PolicySpec {
    /// Checks it against the users and schedules that exist; problems
    /// carry their path below the entry.
    pub fn validate(
        &self,
        user: &dyn Fn(&str) -> bool,
        schedule: &dyn Fn(&str) -> bool,
    ) -> Result<Policy, Vec<Problem>> {
        let mut problems: Vec<Problem> = Vec::new();
        if !crate::directory::is_valid_name(&self.name) {
            problems.push((
                vec![PathPart::Field("name")],
                format!("{:?} is not a valid name", self.name),
            ));
        }
        if self.levels.is_empty() {
            problems.push((
                vec![PathPart::Field("levels")],
                "a policy needs at least one level".into(),
            ));
        }
        if self.repeat > MAX_REPEAT {
            problems.push((vec![PathPart::Field("repeat")], format!("at most {MAX_REPEAT}")));
        }
        let ack_timeout_ms = self
            .ack_timeout
            .as_deref()
            .and_then(|t| duration(t, "ack_timeout", &[], &mut problems));
        let mut levels = Vec::new();
        for (i, l) in self.levels.iter().enumerate() {
            let path = [PathPart::Field("levels"), PathPart::Index(i)];
            let delay_ms = match &l.delay {
                None => DEFAULT_LEVEL_DELAY_MS,
                Some(t) => duration(t, "delay", &path, &mut problems).unwrap_or(DEFAULT_LEVEL_DELAY_MS),
            };
            if l.targets.is_empty() {
                let mut p = path.to_vec();
                p.push(PathPart::Field("targets"));
                problems.push((p, "a level needs at least one target".into()));
            }
            let mut targets = Vec::new();
            for (j, t) in l.targets.iter().enumerate() {
                let mut p = path.to_vec();
                p.extend([PathPart::Field("targets"), PathPart::Index(j)]);
                match (&t.user, &t.schedule) {
                    (Some(u), None) if user(u) => targets.push(Target::User(u.clone())),
                    (Some(u), None) => problems.push((p, format!("no user is named {u:?}"))),
                    (None, Some(s)) if schedule(s) => targets.push(Target::Schedule(s.clone())),
                    (None, Some(s)) => problems.push((p, format!("no schedule is named {s:?}"))),
                    _ => problems.push((p, "give exactly one of user or schedule".into())),
                }
            }
            levels.push(Level { targets, delay_ms });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Policy {
            name: self.name.clone(),
            levels,
            repeat: self.repeat,
            ack_timeout_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_check_their_targets_and_durations() {
        let spec: PolicySpec = serde_norway::from_str(
            "name: pay\nrepeat: 1\nack_timeout: 30m\nlevels:\n- targets: [{schedule: primary}]\n  delay: 10m\n- targets: [{user: lead}, {user: cto}]\n",
        )
        .unwrap();
        let p = spec
            .validate(&|u| u == "lead" || u == "cto", &|s| s == "primary")
            .unwrap();
        assert_eq!(p.levels[0].targets, vec![Target::Schedule("primary".into())]);
        assert_eq!(p.levels[1].delay_ms, DEFAULT_LEVEL_DELAY_MS);
        assert_eq!(p.ack_timeout_ms, Some(1_800_000));

        let bad: PolicySpec = serde_norway::from_str(
            "name: pay\nrepeat: 99\nlevels:\n- targets: [{user: ghost}, {schedule: none}, {}, {user: lead, schedule: primary}]\n  delay: 0s\n- targets: []\n",
        )
        .unwrap();
        let found: Vec<String> = bad
            .validate(&|u| u == "lead", &|s| s == "primary")
            .unwrap_err()
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(
            found,
            vec![
                "at most 20",
                "\"0s\" is shorter than 1s",
                "no user is named \"ghost\"",
                "no schedule is named \"none\"",
                "give exactly one of user or schedule",
                "give exactly one of user or schedule",
                "a level needs at least one target",
            ]
        );
    }
}
