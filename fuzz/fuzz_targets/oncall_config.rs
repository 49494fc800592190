#![no_main]
//! Any text as `users:`, `teams:`, `schedules:` and
//! `escalation_policies:` validates or is
//! refused, never panics; a schedule that validates answers who is on
//! call and the shifts of a period around any instant, with shifts in
//! order, inside the period and never overlapping, and its calendar feed
//! never has a line over 75 octets.
use libfuzzer_sys::fuzz_target;
use nines_oncall::directory::{ScheduleSpec, TeamSpec, UserSpec};
use nines_oncall::Directory;

#[derive(serde::Deserialize)]
struct Sections {
    #[serde(default)]
    users: Vec<UserSpec>,
    #[serde(default)]
    teams: Vec<TeamSpec>,
    #[serde(default)]
    schedules: Vec<ScheduleSpec>,
    #[serde(default)]
    escalation_policies: Vec<nines_oncall::escalation::PolicySpec>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sections) = serde_norway::from_str::<Sections>(text) else {
        return;
    };
    let Ok(dir) = Directory::build(&sections.users, &sections.teams, &sections.schedules, &sections.escalation_policies) else {
        return;
    };
    let seed = data.iter().fold(0i64, |acc, &b| acc.wrapping_mul(31).wrapping_add(i64::from(b)));
    let at = 1_700_000_000_000 + seed.rem_euclid(200 * 365 * 86_400_000);
    for schedule in dir.schedules.values() {
        let _ = schedule.at(at, &[]);
        let Ok(shifts) = schedule.shifts(at, at + 60 * 86_400_000, &[]) else {
            continue;
        };
        for w in shifts.windows(2) {
            assert!(w[0].end_ms <= w[1].start_ms);
        }
        for s in &shifts {
            assert!(at <= s.start_ms && s.start_ms < s.end_ms && s.end_ms <= at + 60 * 86_400_000);
        }
        let feed = nines_oncall::ical::calendar(schedule, &shifts, &dir.users, at);
        assert!(feed.split("\r\n").all(|l| l.len() <= 75));
    }
});
