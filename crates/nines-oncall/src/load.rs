//! On-call load over a period: how many pages each person got (and per
//! week), how many came out of hours in their own zone, how fast pages
//! were acknowledged, and which shifts had more pages than the guidance
//! of at most two per shift.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use crate::page::{Page, PageEvent};
use crate::{Directory, OncallError};

/// The SRE guidance: at most two incidents per on-call shift.
pub const MAX_PAGES_PER_SHIFT: usize = 2;
/// Business hours, in each person's zone: Monday to Friday, from 09:00
/// (inclusive) to 17:00 (exclusive).
pub const BUSINESS_HOURS: (i8, i8) = (9, 17);

/// One person's load.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonLoad {
    /// The user.
    pub user: String,
    /// Distinct pages that notified them.
    pub pages: usize,
    /// `pages` per seven days of the period.
    pub pages_per_week: f64,
    /// Of those, pages first reaching them out of business hours.
    pub out_of_hours: usize,
    /// Of those, pages someone acknowledged.
    pub acknowledged: usize,
    /// Median time from first reaching them to the first ack, ms.
    pub median_time_to_ack_ms: Option<i64>,
}

/// One shift that was paged.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftLoad {
    /// The schedule.
    pub schedule: String,
    /// Who was on call.
    pub user: String,
    /// ms.
    pub start_ms: i64,
    /// ms.
    pub end_ms: i64,
    /// Distinct pages that reached them through this schedule.
    pub pages: usize,
}

/// The load of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Per person who was paged, by name.
    pub people: Vec<PersonLoad>,
    /// Shifts that were paged, in time order.
    pub shifts: Vec<ShiftLoad>,
    /// How many shifts the schedules had in the period.
    pub shifts_total: usize,
}

impl Load {
    /// Shifts with more pages than the guidance.
    pub fn over_guidance(&self) -> impl Iterator<Item = &ShiftLoad> {
        self.shifts.iter().filter(|s| s.pages > MAX_PAGES_PER_SHIFT)
    }
}

fn in_business_hours(dir: &Directory, user: &str, at_ms: i64) -> bool {
    let Some(u) = dir.users.get(user) else {
        return true;
    };
    let Ok(ts) = Timestamp::from_millisecond(at_ms) else {
        return true;
    };
    let local = ts.to_zoned(u.tz.clone());
    let weekday = local.weekday().to_monday_one_offset();
    (1..=5).contains(&weekday) && (BUSINESS_HOURS.0..BUSINESS_HOURS.1).contains(&local.hour())
}

fn median(mut xs: Vec<i64>) -> Option<i64> {
    xs.sort_unstable();
    let n = xs.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(xs[n / 2]),
        _ => Some((xs[n / 2 - 1] + xs[n / 2]) / 2),
    }
}

/// The load of `[from_ms, to_ms)` given the pages opened then.
pub fn load(
    dir: &Directory,
    history: &[(Page, Vec<PageEvent>)],
    from_ms: i64,
    to_ms: i64,
) -> Result<Load, OncallError> {
    if to_ms <= from_ms {
        return Err(OncallError::Period("the end must be after the start".into()));
    }
    // user -> page -> first time it reached them
    let mut reached: BTreeMap<String, BTreeMap<i64, i64>> = BTreeMap::new();
    // (schedule, user) -> [(at, page)]
    let mut via: BTreeMap<(String, String), Vec<(i64, i64)>> = BTreeMap::new();
    let mut first_ack: BTreeMap<i64, i64> = BTreeMap::new();
    for (page, events) in history {
        for e in events {
            match e.kind.as_str() {
                "notified" => {
                    for r in &e.recipients {
                        reached
                            .entry(r.user.clone())
                            .or_default()
                            .entry(page.id)
                            .or_insert(e.at);
                        if let Some(s) = &r.on_call_for {
                            via.entry((s.clone(), r.user.clone()))
                                .or_default()
                                .push((e.at, page.id));
                        }
                    }
                }
                "acknowledged" => {
                    first_ack.entry(page.id).or_insert(e.at);
                }
                _ => {}
            }
        }
    }
    let weeks = (to_ms as f64 - from_ms as f64) / (7.0 * 86_400_000.0);
    let people = reached
        .iter()
        .map(|(user, pages)| {
            let to_ack: Vec<i64> = pages
                .iter()
                .filter_map(|(id, at)| first_ack.get(id).map(|ack| (ack - at).max(0)))
                .collect();
            PersonLoad {
                user: user.clone(),
                pages: pages.len(),
                pages_per_week: pages.len() as f64 / weeks,
                out_of_hours: pages.values().filter(|&&at| !in_business_hours(dir, user, at)).count(),
                acknowledged: to_ack.len(),
                median_time_to_ack_ms: median(to_ack),
            }
        })
        .collect();
    let mut shifts = Vec::new();
    let mut shifts_total = 0;
    for (name, schedule) in &dir.schedules {
        let all = schedule.shifts(from_ms, to_ms, &[])?;
        shifts_total += all.len();
        for shift in all {
            let Some(hits) = via.get(&(name.clone(), shift.user.clone())) else {
                continue;
            };
            let pages: BTreeSet<i64> = hits
                .iter()
                .filter(|(at, _)| shift.start_ms <= *at && *at < shift.end_ms)
                .map(|&(_, id)| id)
                .collect();
            if !pages.is_empty() {
                shifts.push(ShiftLoad {
                    schedule: name.clone(),
                    user: shift.user,
                    start_ms: shift.start_ms,
                    end_ms: shift.end_ms,
                    pages: pages.len(),
                });
            }
        }
    }
    shifts.sort_by_key(|s| (s.start_ms, s.schedule.clone()));
    Ok(Load {
        people,
        shifts,
        shifts_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::{MemPageRepository, PageAlert, PageRepository};
    use crate::pager::{GroupNotice, Pager};
    use std::sync::Arc;

    const T0: i64 = 1_795_514_400_000; // Tuesday 2026-11-24T10:00:00Z
    const HOUR: i64 = 3_600_000;

    fn directory() -> Arc<Directory> {
        crate::fixtures::directory(
            "users:\n- {name: alice, time_zone: Europe/Berlin}\n- {name: bob, time_zone: America/New_York}\nschedules:\n- name: primary\n  layers:\n  - {participants: [alice, bob], shift_length: 12h, start: '2026-11-24T00:00'}\nescalation_policies:\n- {name: p, levels: [{targets: [{schedule: primary}], delay: 1h}]}\n",
        )
    }

    fn open(pager: &Pager, key: &str, at: i64) -> i64 {
        let alert = PageAlert {
            labels: [("alertname".to_string(), key.to_string())].into(),
            annotations: Default::default(),
            starts_at: at,
            source: "rule".into(),
        };
        let notice = GroupNotice {
            receiver: "r",
            policy: "p",
            group_key: key,
            firing: vec![alert],
        };
        pager.on_group(notice, at).unwrap().unwrap().id
    }

    #[test]
    fn pages_are_counted_per_person_and_shift_with_time_to_ack_and_hours() {
        let repo = Arc::new(MemPageRepository::default());
        let pager = Pager::load(repo.clone(), Box::new(|| {})).unwrap();
        let dir = directory();
        pager.configure(dir.clone(), String::new(), Arc::default());
        // alice's shift (00:00-12:00Z): three pages, one at 10:00Z (11:00
        // in Berlin, in hours) and two early (out of hours in Berlin).
        let a = open(&pager, "a", T0);
        pager.acknowledge(a, "alice", T0 + 120_000).unwrap();
        let b = open(&pager, "b", T0 - 8 * HOUR);
        pager.acknowledge(b, "alice", T0 - 8 * HOUR + 600_000).unwrap();
        open(&pager, "c", T0 - 9 * HOUR);
        // bob's shift (12:00-24:00Z): one page at 13:00Z = 08:00 in New York.
        let d = open(&pager, "d", T0 + 3 * HOUR);
        pager.acknowledge(d, "bob", T0 + 3 * HOUR + 60_000).unwrap();

        let from = T0 - 10 * HOUR;
        let to = from + 7 * 24 * HOUR;
        let history = repo.page_history(from, to).unwrap();
        let l = load(&dir, &history, from, to).unwrap();
        assert_eq!(l.people.len(), 2);
        let alice = &l.people[0];
        assert_eq!(
            (alice.user.as_str(), alice.pages, alice.out_of_hours, alice.acknowledged),
            ("alice", 3, 2, 2)
        );
        assert_eq!(alice.median_time_to_ack_ms, Some(360_000));
        assert!((alice.pages_per_week - 3.0).abs() < 1e-9);
        let bob = &l.people[1];
        assert_eq!(
            (bob.pages, bob.out_of_hours, bob.median_time_to_ack_ms),
            (1, 1, Some(60_000))
        );
        assert_eq!(
            l.shifts.iter().map(|s| (s.user.as_str(), s.pages)).collect::<Vec<_>>(),
            vec![("alice", 3), ("bob", 1)]
        );
        assert_eq!(l.over_guidance().count(), 1);
        assert_eq!(l.shifts_total, 14);
        assert!(load(&dir, &history, to, from).is_err());
    }
}
