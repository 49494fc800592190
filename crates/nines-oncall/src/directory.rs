//! Users, teams and schedules as written in the config (`users:`,
//! `teams:`, `schedules:`), and their validated form. Every problem names
//! its path from the top of the config.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use nines_alerting::rulefile::{PathPart, Problem};
use nines_routing::interval::{IntervalSpec, TimeIntervalSpec, TimeRangeSpec};
use serde::{Deserialize, Serialize};

use crate::rotation::Layer;
use crate::schedule::{Override, Schedule};

/// A `users:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// How schedules and policies refer to them.
    pub name: String,
    /// Shown in notifications and calendars.
    #[serde(default)]
    pub full_name: Option<String>,
    /// Their address.
    #[serde(default)]
    pub email: Option<String>,
    /// Their IANA zone, for "out of hours" (UTC when absent).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// How a page reaches them.
    #[serde(default)]
    pub contact_methods: Vec<ContactMethod>,
}

/// One way to reach a user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContactMethod {
    /// A generic JSON webhook.
    Webhook {
        /// Where to POST.
        url: String,
    },
    /// A Slack-style incoming webhook.
    Slack {
        /// The incoming webhook URL.
        url: String,
    },
    /// Email, through the `smtp:` server.
    Email {
        /// The address.
        address: String,
    },
}

/// A `teams:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSpec {
    /// Its name.
    pub name: String,
    /// User names.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A `schedules:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Its name (a URL path segment).
    pub name: String,
    /// The team it belongs to.
    #[serde(default)]
    pub team: Option<String>,
    /// The default zone of its layers and of override times written
    /// without an offset (UTC when absent).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Lowest first: a later layer wins where it has someone.
    pub layers: Vec<LayerSpec>,
    /// Someone covers a period.
    #[serde(default)]
    pub overrides: Vec<OverrideSpec>,
}

/// A layer: one rotation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// Shown in shifts.
    #[serde(default)]
    pub name: Option<String>,
    /// User names in rotation order.
    pub participants: Vec<String>,
    /// `1w`, `1d`, `12h`, `1w2d`…: wall-clock time between handoffs.
    pub shift_length: String,
    /// The first handoff on the layer's wall clock, `2026-01-05T09:00`;
    /// its time of day is the handoff time.
    pub start: String,
    /// The layer's zone (the schedule's when absent).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// When set, the layer covers only these times (in its zone).
    #[serde(default)]
    pub restrictions: Vec<RestrictionSpec>,
}

/// Times a layer covers, as Alertmanager's time intervals without a
/// location (the layer's zone is used).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictionSpec {
    /// `{start_time: "09:00", end_time: "17:00"}`.
    #[serde(default)]
    pub times: Vec<TimeRangeSpec>,
    /// `monday:friday`.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// `1:7`, `-1`.
    #[serde(default)]
    pub days_of_month: Vec<String>,
    /// `december`.
    #[serde(default)]
    pub months: Vec<String>,
}

/// An override written in the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideSpec {
    /// Who covers.
    pub user: String,
    /// RFC 3339, or wall-clock time in the schedule's zone.
    pub start: String,
    /// Exclusive end, written the same way.
    pub end: String,
}

/// A validated user.
#[derive(Debug, Clone)]
pub struct User {
    /// Their name.
    pub name: String,
    /// For display.
    pub full_name: Option<String>,
    /// Their address.
    pub email: Option<String>,
    /// Their zone's name.
    pub time_zone: String,
    /// Their zone.
    pub tz: TimeZone,
    /// How to reach them.
    pub contact_methods: Vec<ContactMethod>,
}

impl User {
    /// The name to show.
    pub fn display_name(&self) -> &str {
        self.full_name.as_deref().unwrap_or(&self.name)
    }
}

/// A validated team.
#[derive(Debug, Clone)]
pub struct Team {
    /// Its name.
    pub name: String,
    /// Member names.
    pub members: Vec<String>,
}

/// Everyone and every schedule, validated and cross-checked.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// By name.
    pub users: BTreeMap<String, User>,
    /// By name.
    pub teams: BTreeMap<String, Team>,
    /// By name.
    pub schedules: BTreeMap<String, Schedule>,
    /// Escalation policies by name.
    pub policies: BTreeMap<String, crate::escalation::Policy>,
}

/// The shortest shift a layer may have.
pub const MIN_SHIFT_MINUTES: i64 = 60;
/// The longest.
pub const MAX_SHIFT_MINUTES: i64 = 366 * 24 * 60;

/// Whether `name` may be used as an id in URLs and configs.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

/// Parses `1w2d12h30m` into minutes.
pub fn parse_shift_length(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut seen_unit = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'w' => 7 * 24 * 60,
            'd' => 24 * 60,
            'h' => 60,
            'm' => 1,
            _ => return None,
        };
        let n: i64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
        seen_unit = true;
    }
    (digits.is_empty() && seen_unit).then_some(total)
}

/// An IANA zone by name; `UTC` when `None`.
pub fn zone(name: Option<&str>) -> Result<(String, TimeZone), String> {
    match name {
        None | Some("UTC") => Ok(("UTC".into(), TimeZone::UTC)),
        Some("Local") => Err("\"Local\" is not allowed: name an IANA zone such as Europe/Berlin".into()),
        Some(n) => TimeZone::get(n)
            .map(|tz| (n.to_string(), tz))
            .map_err(|_| format!("{n:?} is not an IANA time zone")),
    }
}

/// An instant written as RFC 3339, or as wall-clock time in `tz`.
pub fn parse_instant(text: &str, tz: &TimeZone) -> Option<i64> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    let zoned = tz.to_ambiguous_zoned(civil).compatible().ok()?;
    Some(zoned.timestamp().as_millisecond())
}

fn at(top: &'static str, i: usize, rest: &[PathPart]) -> Vec<PathPart> {
    let mut p = vec![PathPart::Field(top), PathPart::Index(i)];
    p.extend(rest.iter().cloned());
    p
}

impl Directory {
    /// Validates the three sections together: names unique and
    /// well-formed, every user a team or layer names defined, zones real,
    /// shift lengths and starts readable, restrictions valid.
    pub fn build(
        users: &[UserSpec],
        teams: &[TeamSpec],
        schedules: &[ScheduleSpec],
        policies: &[crate::escalation::PolicySpec],
    ) -> Result<Directory, Vec<Problem>> {
        let mut problems: Vec<Problem> = Vec::new();
        let mut dir = Directory::default();
        for (i, u) in users.iter().enumerate() {
            let here = |f: &'static str| at("users", i, &[PathPart::Field(f)]);
            if !is_valid_name(&u.name) {
                problems.push((
                    here("name"),
                    format!("{:?} must be 1 to 128 letters, digits, '-', '_', '.' or '@'", u.name),
                ));
            }
            let (time_zone, tz) = match zone(u.time_zone.as_deref()) {
                Ok(z) => z,
                Err(e) => {
                    problems.push((here("time_zone"), e));
                    ("UTC".into(), TimeZone::UTC)
                }
            };
            for (j, c) in u.contact_methods.iter().enumerate() {
                let bad = match c {
                    ContactMethod::Webhook { url } | ContactMethod::Slack { url } => (!(url.starts_with("http://")
                        || url.starts_with("https://")))
                    .then(|| format!("{url:?} is not an http(s) URL")),
                    ContactMethod::Email { address } => (!nines_routing::receiver::is_address_list(address)
                        || address.contains(','))
                    .then(|| format!("{address:?} is not an email address")),
                };
                if let Some(e) = bad {
                    problems.push((
                        at("users", i, &[PathPart::Field("contact_methods"), PathPart::Index(j)]),
                        e,
                    ));
                }
            }
            let user = User {
                name: u.name.clone(),
                full_name: u.full_name.clone(),
                email: u.email.clone(),
                time_zone,
                tz,
                contact_methods: u.contact_methods.clone(),
            };
            if dir.users.insert(u.name.clone(), user).is_some() {
                problems.push((here("name"), format!("{:?} is used by an earlier user", u.name)));
            }
        }
        let known = |name: &str| users.iter().any(|u| u.name == name);
        for (i, t) in teams.iter().enumerate() {
            if !is_valid_name(&t.name) {
                problems.push((
                    at("teams", i, &[PathPart::Field("name")]),
                    format!("{:?} is not a valid name", t.name),
                ));
            }
            for (j, m) in t.members.iter().enumerate() {
                if !known(m) {
                    problems.push((
                        at("teams", i, &[PathPart::Field("members"), PathPart::Index(j)]),
                        format!("no user is named {m:?}"),
                    ));
                }
            }
            let team = Team {
                name: t.name.clone(),
                members: t.members.clone(),
            };
            if dir.teams.insert(t.name.clone(), team).is_some() {
                problems.push((
                    at("teams", i, &[PathPart::Field("name")]),
                    format!("{:?} is used by an earlier team", t.name),
                ));
            }
        }
        for (i, s) in schedules.iter().enumerate() {
            match schedule(s, &known, &|t| teams.iter().any(|x| x.name == t)) {
                Ok(v) => {
                    if dir.schedules.insert(s.name.clone(), v).is_some() {
                        problems.push((
                            at("schedules", i, &[PathPart::Field("name")]),
                            format!("{:?} is used by an earlier schedule", s.name),
                        ));
                    }
                }
                Err(found) => problems.extend(found.into_iter().map(|(p, m)| (at("schedules", i, &p), m))),
            }
        }
        let schedule_exists = |name: &str| schedules.iter().any(|s| s.name == name);
        for (i, p) in policies.iter().enumerate() {
            match p.validate(&known, &schedule_exists) {
                Ok(v) => {
                    if dir.policies.insert(p.name.clone(), v).is_some() {
                        problems.push((
                            at("escalation_policies", i, &[PathPart::Field("name")]),
                            format!("{:?} is used by an earlier policy", p.name),
                        ));
                    }
                }
                Err(found) => problems.extend(
                    found
                        .into_iter()
                        .map(|(path, m)| (at("escalation_policies", i, &path), m)),
                ),
            }
        }
        if problems.is_empty() {
            Ok(dir)
        } else {
            Err(problems)
        }
    }

    /// A schedule by name.
    pub fn schedule(&self, name: &str) -> Result<&Schedule, crate::OncallError> {
        self.schedules
            .get(name)
            .ok_or_else(|| crate::OncallError::UnknownSchedule(name.to_string()))
    }
}

/// One schedule; paths are below the entry.
fn schedule(
    s: &ScheduleSpec,
    known: &dyn Fn(&str) -> bool,
    team: &dyn Fn(&str) -> bool,
) -> Result<Schedule, Vec<Problem>> {
    let mut problems: Vec<Problem> = Vec::new();
    if !is_valid_name(&s.name) {
        problems.push((
            vec![PathPart::Field("name")],
            format!("{:?} must be 1 to 128 letters, digits, '-', '_', '.' or '@'", s.name),
        ));
    }
    if let Some(t) = s.team.as_deref().filter(|t| !team(t)) {
        problems.push((vec![PathPart::Field("team")], format!("no team is named {t:?}")));
    }
    let (time_zone, tz) = zone(s.time_zone.as_deref()).unwrap_or_else(|e| {
        problems.push((vec![PathPart::Field("time_zone")], e));
        ("UTC".into(), TimeZone::UTC)
    });
    if s.layers.is_empty() {
        problems.push((
            vec![PathPart::Field("layers")],
            "a schedule needs at least one layer".into(),
        ));
    }
    let mut layers = Vec::new();
    for (i, l) in s.layers.iter().enumerate() {
        let here = |f: &'static str| vec![PathPart::Field("layers"), PathPart::Index(i), PathPart::Field(f)];
        if l.participants.is_empty() {
            problems.push((here("participants"), "a layer needs at least one participant".into()));
        }
        for (j, p) in l.participants.iter().enumerate() {
            if !known(p) {
                problems.push((
                    vec![
                        PathPart::Field("layers"),
                        PathPart::Index(i),
                        PathPart::Field("participants"),
                        PathPart::Index(j),
                    ],
                    format!("no user is named {p:?}"),
                ));
            }
        }
        let shift_minutes = match parse_shift_length(&l.shift_length) {
            Some(m) if (MIN_SHIFT_MINUTES..=MAX_SHIFT_MINUTES).contains(&m) => m,
            Some(_) => {
                problems.push((here("shift_length"), "must be from 1h to 366d".into()));
                MIN_SHIFT_MINUTES
            }
            None => {
                problems.push((
                    here("shift_length"),
                    format!("{:?} is not a length such as 1w, 1d or 12h", l.shift_length),
                ));
                MIN_SHIFT_MINUTES
            }
        };
        let (zone_name, layer_tz) = match l.time_zone.as_deref() {
            None => (time_zone.clone(), tz.clone()),
            Some(n) => zone(Some(n)).unwrap_or_else(|e| {
                problems.push((here("time_zone"), e));
                ("UTC".into(), TimeZone::UTC)
            }),
        };
        let start = match l.start.parse::<jiff::civil::DateTime>() {
            Ok(d) => d,
            Err(_) => {
                problems.push((
                    here("start"),
                    format!("{:?} is not a wall-clock time such as 2026-01-05T09:00", l.start),
                ));
                jiff::civil::DateTime::default()
            }
        };
        let restriction = if l.restrictions.is_empty() {
            None
        } else {
            let spec = TimeIntervalSpec {
                name: format!("{}.layers[{i}].restrictions", s.name),
                time_intervals: l
                    .restrictions
                    .iter()
                    .map(|r| IntervalSpec {
                        times: r.times.clone(),
                        weekdays: r.weekdays.clone(),
                        days_of_month: r.days_of_month.clone(),
                        months: r.months.clone(),
                        years: Vec::new(),
                        location: Some(zone_name.clone()),
                    })
                    .collect(),
            };
            match spec.validate() {
                Ok(v) => Some(v),
                Err(found) => {
                    for (path, message) in found {
                        // The interval's own list is this layer's `restrictions`.
                        let mut p = vec![
                            PathPart::Field("layers"),
                            PathPart::Index(i),
                            PathPart::Field("restrictions"),
                        ];
                        p.extend(path.into_iter().skip(1));
                        problems.push((p, message));
                    }
                    None
                }
            }
        };
        layers.push(Layer {
            name: l.name.clone().unwrap_or_else(|| format!("layer {}", i + 1)),
            participants: l.participants.clone(),
            shift_minutes,
            start,
            tz: layer_tz,
            restriction,
        });
    }
    let mut overrides = Vec::new();
    for (i, o) in s.overrides.iter().enumerate() {
        let here = |f: &'static str| vec![PathPart::Field("overrides"), PathPart::Index(i), PathPart::Field(f)];
        if !known(&o.user) {
            problems.push((here("user"), format!("no user is named {:?}", o.user)));
        }
        let start = parse_instant(&o.start, &tz);
        let end = parse_instant(&o.end, &tz);
        if start.is_none() {
            problems.push((
                here("start"),
                format!("{:?} is not RFC 3339 or a wall-clock time", o.start),
            ));
        }
        if end.is_none() {
            problems.push((here("end"), format!("{:?} is not RFC 3339 or a wall-clock time", o.end)));
        }
        if let (Some(start_ms), Some(end_ms)) = (start, end) {
            if end_ms <= start_ms {
                problems.push((here("end"), "must be after start".into()));
            }
            overrides.push(Override {
                user: o.user.clone(),
                start_ms,
                end_ms,
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Schedule {
        name: s.name.clone(),
        team: s.team.clone(),
        time_zone,
        layers,
        overrides,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(yaml: &str) -> Result<Directory, Vec<String>> {
        crate::fixtures::build(yaml).map_err(|found| {
            found
                .into_iter()
                .map(|(p, m)| {
                    let path: Vec<String> = p
                        .iter()
                        .map(|x| match x {
                            PathPart::Field(f) => f.to_string(),
                            PathPart::Index(i) => i.to_string(),
                            PathPart::Key(k) => k.clone(),
                        })
                        .collect();
                    format!("{}: {m}", path.join("."))
                })
                .collect()
        })
    }

    #[test]
    fn shift_lengths_read_like_durations() {
        assert_eq!(parse_shift_length("1w"), Some(7 * 24 * 60));
        assert_eq!(parse_shift_length("1d12h"), Some(36 * 60));
        assert_eq!(parse_shift_length("90m"), Some(90));
        for bad in ["", "1", "w", "1x", "1.5d", "99999999999999999999w"] {
            assert_eq!(parse_shift_length(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_full_directory_builds() {
        let dir = build(
            "users:\n- {name: alice, time_zone: Europe/Berlin, contact_methods: [{type: webhook, url: 'http://127.0.0.1:9/x'}]}\n- {name: bob}\nteams:\n- {name: pay, members: [alice, bob]}\nschedules:\n- name: pay-primary\n  team: pay\n  time_zone: Europe/Berlin\n  layers:\n  - {participants: [alice, bob], shift_length: 1w, start: '2026-01-05T09:00', restrictions: [{weekdays: ['monday:friday']}]}\n  overrides:\n  - {user: bob, start: '2026-12-24T00:00', end: '2026-12-27T00:00'}\n",
        )
        .unwrap();
        let s = dir.schedule("pay-primary").unwrap();
        assert_eq!(s.layers[0].name, "layer 1");
        assert_eq!(
            s.overrides[0].start_ms,
            "2026-12-23T23:00:00Z".parse::<Timestamp>().unwrap().as_millisecond()
        );
        assert_eq!(dir.users["alice"].contact_methods.len(), 1);
        assert!(dir.schedule("nope").is_err());
    }

    #[test]
    fn every_problem_names_its_path() {
        let found = build(
            "users:\n- {name: alice, time_zone: Mars/Base, contact_methods: [{type: slack, url: nowhere}]}\n- {name: alice}\nteams:\n- {name: t, members: [zed]}\nschedules:\n- name: s\n  team: other\n  layers:\n  - {participants: [alice, ghost], shift_length: 1y, start: soon, time_zone: Nowhere, restrictions: [{weekdays: [funday]}]}\n  overrides:\n  - {user: ghost, start: '2026-01-02T00:00', end: '2026-01-01T00:00'}\n- {name: empty, layers: []}\nescalation_policies:\n- {name: p, levels: [{targets: [{schedule: nope}]}]}\n",
        )
        .unwrap_err();
        let expected = [
            "users.0.time_zone: \"Mars/Base\" is not an IANA time zone",
            "users.0.contact_methods.0: \"nowhere\" is not an http(s) URL",
            "users.1.name: \"alice\" is used by an earlier user",
            "teams.0.members.0: no user is named \"zed\"",
            "schedules.0.team: no team is named \"other\"",
            "schedules.0.layers.0.participants.1: no user is named \"ghost\"",
            "schedules.0.layers.0.shift_length: \"1y\" is not a length such as 1w, 1d or 12h",
            "schedules.0.layers.0.time_zone: \"Nowhere\" is not an IANA time zone",
            "schedules.0.layers.0.start: \"soon\" is not a wall-clock time such as 2026-01-05T09:00",
            "schedules.0.layers.0.restrictions.0.weekdays.0: \"funday\" is not valid here",
            "schedules.0.overrides.0.user: no user is named \"ghost\"",
            "schedules.0.overrides.0.end: must be after start",
            "schedules.1.layers: a schedule needs at least one layer",
            "escalation_policies.0.levels.0.targets.0: no schedule is named \"nope\"",
        ];
        for e in expected {
            assert!(found.iter().any(|f| f == e), "missing {e:?} in {found:#?}");
        }
        assert_eq!(found.len(), expected.len(), "{found:#?}");
    }
}
