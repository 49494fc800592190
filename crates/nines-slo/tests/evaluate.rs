//! The evaluator over an in-memory store and a manual clock: a synthetic
//! outage pages when the Workbook's maths says, counter resets and zero
//! traffic are exact, timeslices count bad minutes.

mod common;

use std::sync::Arc;

use common::*;
use nines_clock::ManualClock;
use nines_slo::{Evaluator, State};

#[test]
fn a_full_outage_pages_after_its_first_minute_and_resolves_with_the_short_window() {
    let store = Arc::new(Shared::default());
    // Healthy for two hours, then 10 minutes of 100% errors (minutes 121..=130).
    traffic(&store, 240, 100.0, |m| (121..=130).contains(&m));
    let clock = Arc::new(ManualClock::new(T0));
    let mut e = evaluator(store, clock.clone(), vec![slo(RATIO)]);
    let firing_at = |e: &mut Evaluator, minute: i64| {
        clock.set(T0 + minute * MIN);
        let ev = e.run();
        let mut tiers: Vec<String> = ev.statuses[0].groups.iter().flat_map(|g| g.alerts.clone()).collect();
        tiers.sort();
        (tiers, ev)
    };
    assert!(firing_at(&mut e, 120).0.is_empty(), "healthy before the outage");
    let (tiers, ev) = firing_at(&mut e, 121);
    // One bad minute: 5m window 20% errors, 1h window 1/60 = 1.67%, both
    // above 14.4 × 0.1% = 1.44%. The longer tiers too (their windows hold
    // only the 121 minutes of data: 1/121 = 0.83%), and one bad minute in
    // 121 is 8x the 0.1% budget: spent.
    assert_eq!(
        tiers,
        ["budget_exhausted", "page_1h", "page_6h", "ticket_1d", "ticket_3d"]
    );
    let page = ev
        .alerts
        .iter()
        .find(|a| a.labels["long_window"] == "1h")
        .expect("page alert");
    assert_eq!(page.labels["severity"], "page");
    assert_eq!(page.labels["alertname"], "SLOErrorBudgetBurn");
    assert_eq!(page.active_at, "2026-01-05T02:01:00Z");
    assert_eq!(
        ev.statuses[0].state,
        State::Exhausted,
        "a 10th of a minute of outage spends 2h of budget"
    );
    // Still firing 4 minutes after the last bad minute: (129, 134] holds minute 130.
    assert!(firing_at(&mut e, 134).0.contains(&"page_1h".to_string()));
    let (tiers, ev) = firing_at(&mut e, 135);
    assert!(
        !tiers.contains(&"page_1h".to_string()),
        "resolved once 5m is clean: {tiers:?}"
    );
    assert!(
        tiers.contains(&"page_6h".to_string()),
        "the 30m short window still holds it"
    );
    let g = &ev.statuses[0].groups[0];
    // 10 bad minutes × 4 scrapes × 100 requests.
    assert_eq!(g.events.bad, 4_000.0);
    assert_eq!(g.events.total, 135.0 * 400.0);
    assert!(firing_at(&mut e, 159).0.contains(&"page_6h".to_string()));
    assert!(!firing_at(&mut e, 160).0.contains(&"page_6h".to_string()));
}

#[test]
fn the_page_fires_in_the_minute_the_error_ratio_crosses_the_threshold() {
    // 1.5% errors (15x, just above 14.4x) from minute 61: both windows
    // cross at once, in the first failing minute.
    let store = Arc::new(Shared::default());
    let mut pts_ok = Vec::new();
    let mut pts_bad = Vec::new();
    let (mut ok, mut bad) = (0.0, 0.0);
    for i in 0..=(120 * 4) {
        let t = T0 + i * 15_000;
        if i > 60 * 4 {
            ok += 985.0;
            bad += 15.0;
        } else if i > 0 {
            ok += 1000.0;
        }
        pts_ok.push((t, ok));
        pts_bad.push((t, bad));
    }
    {
        let mut s = store.0.write();
        s.add(labels(&[("__name__", "requests_total"), ("code", "200")]), &pts_ok);
        s.add(labels(&[("__name__", "requests_total"), ("code", "500")]), &pts_bad);
    }
    let clock = Arc::new(ManualClock::new(T0 + 60 * MIN));
    let mut e = evaluator(store, clock.clone(), vec![slo(RATIO)]);
    assert!(e.run().alerts.is_empty());
    // After one failing minute the 1h window holds 1 minute at 1.5%:
    // 1.5/60 = 0.025% < 1.44%; the page waits until the long window's
    // ratio crosses 1.44%, which with 1.5% errors takes 58 minutes
    // (1.5 × m / 60 > 1.44 ⇔ m > 57.6).
    for minute in 61..=117 {
        clock.set(T0 + minute * MIN);
        let ev = e.run();
        assert!(
            !ev.alerts
                .iter()
                .any(|a| a.labels.get("long_window").is_some_and(|w| w == "1h")),
            "too early at minute {minute}"
        );
    }
    clock.set(T0 + 118 * MIN);
    let ev = e.run();
    assert!(ev
        .alerts
        .iter()
        .any(|a| a.labels.get("long_window").is_some_and(|w| w == "1h")));
}

#[test]
fn counter_resets_mid_window_lose_no_events() {
    let store = Arc::new(Shared::default());
    let mut pts = Vec::new();
    let mut v = 0.0;
    for i in 0..=(60 * 4) {
        // The process restarts at scrape 100: its counter starts over.
        if i == 100 {
            v = 0.0;
        }
        if i > 0 {
            v += 10.0;
        }
        pts.push((T0 + i * 15_000, v));
    }
    store
        .0
        .write()
        .add(labels(&[("__name__", "requests_total"), ("code", "200")]), &pts);
    let clock = Arc::new(ManualClock::new(T0 + 60 * MIN));
    let mut e = evaluator(store, clock, vec![slo(RATIO)]);
    let ev = e.run();
    let g = &ev.statuses[0].groups[0];
    // 240 scrapes after the first, 10 each: the reset sample counts its 10.
    assert_eq!(g.events.total, 2_400.0);
    assert_eq!(g.events.bad, 0.0);
    assert_eq!(g.sli, Some(1.0));
    assert_eq!(g.state, State::Healthy);
}

#[test]
fn zero_traffic_is_no_data_without_nan() {
    let store = Arc::new(Shared::default());
    // A counter that exists but never moves.
    let pts: Vec<(i64, f64)> = (0..=240).map(|i| (T0 + i * 15_000, 5.0)).collect();
    store
        .0
        .write()
        .add(labels(&[("__name__", "requests_total"), ("code", "200")]), &pts);
    let clock = Arc::new(ManualClock::new(T0 + 60 * MIN));
    let mut e = evaluator(store, clock, vec![slo(RATIO)]);
    let ev = e.run();
    assert_eq!(ev.statuses[0].state, State::NoData);
    assert!(ev.statuses[0].groups.is_empty(), "no events, no instance");
    let json = serde_json::to_string(&ev.statuses).expect("json");
    assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    assert!(ev.alerts.is_empty());
}

#[test]
fn timeslices_count_bad_minutes_and_spend_time() {
    let store = Arc::new(Shared::default());
    traffic(&store, 120, 100.0, |m| m == 30 || m == 31);
    let spec = RATIO.replace(
        "window: 30d",
        "window: 30d\nbudgeting: {method: timeslices, slice: 1m, slice_threshold: 95}",
    );
    let clock = Arc::new(ManualClock::new(T0 + 120 * MIN));
    let mut e = evaluator(store, clock, vec![slo(&spec)]);
    let ev = e.run();
    let g = &ev.statuses[0].groups[0];
    assert_eq!(g.budget.unit, "slices");
    assert_eq!(g.budget.consumed, 2.0);
    assert_eq!(g.budget.consumed_seconds, Some(120.0));
    // 30 days × 0.1% = 43.2 minutes.
    assert!((g.budget.total_seconds.expect("time") - 2_592.0).abs() < 1e-6);
    assert!((g.budget.remaining_seconds.expect("time") - 2_472.0).abs() < 1e-6);
}

#[test]
fn groups_are_separate_instances() {
    let store = Arc::new(Shared::default());
    {
        let mut s = store.0.write();
        for (route, bad_per_scrape) in [("/a", 0.0), ("/b", 1.0)] {
            let ok: Vec<(i64, f64)> = (0..=240).map(|i| (T0 + i * 15_000, i as f64 * 10.0)).collect();
            let bad: Vec<(i64, f64)> = (0..=240)
                .map(|i| (T0 + i * 15_000, i as f64 * bad_per_scrape))
                .collect();
            s.add(
                labels(&[("__name__", "requests_total"), ("code", "200"), ("route", route)]),
                &ok,
            );
            s.add(
                labels(&[("__name__", "requests_total"), ("code", "500"), ("route", route)]),
                &bad,
            );
        }
    }
    let clock = Arc::new(ManualClock::new(T0 + 60 * MIN));
    let mut e = evaluator(store, clock, vec![slo(&format!("{RATIO}group_by: [route]\n"))]);
    let ev = e.run();
    let s = &ev.statuses[0];
    assert_eq!(s.groups.len(), 2);
    assert_eq!(s.groups[0].labels["route"], "/a");
    assert_eq!(s.groups[0].events.bad, 0.0);
    assert_eq!(s.groups[1].events.bad, 240.0);
    assert_eq!(s.groups[1].events.total, 2_640.0);
    assert_eq!(s.state, State::Exhausted);
    assert!(ev.alerts.iter().all(|a| a.labels["route"] == "/b"));
}

fn window(start_minute: i64, end_minute: i64) -> nines_slo::maintenance::Maintenance {
    let at = |m: i64| nines_slo::status::rfc3339(T0 + m * MIN);
    nines_slo::maintenance::Maintenance::from_spec(nines_slo::maintenance::MaintenanceSpec {
        service: "api".into(),
        name: None,
        reason: "database failover drill".into(),
        start: Some(at(start_minute)),
        end: Some(at(end_minute)),
        duration: None,
        recurring: None,
    })
    .expect("valid window")
}

#[test]
fn maintenance_windows_exclude_their_minutes_even_after_the_fact() {
    let store = Arc::new(Shared::default());
    // Failing in minutes 61..=70; a drill planned from minute 60 to 70.
    traffic(&store, 180, 100.0, |m| (61..=70).contains(&m));
    let clock = Arc::new(ManualClock::new(T0 + 50 * MIN));
    let mut e = evaluator(store.clone(), clock.clone(), vec![slo(RATIO)]);
    e.run();
    let w = e.add_maintenance(window(60, 70), "alice").expect("recorded");
    assert_eq!((w.created_by.as_str(), w.source.as_str()), ("alice", "api"));
    clock.set(T0 + 90 * MIN);
    let ev = e.run();
    let s = &ev.statuses[0];
    let g = &s.groups[0];
    assert_eq!(g.events.bad, 0.0, "the failing minutes were maintenance");
    assert_eq!(g.excluded.total, 4_000.0);
    assert_eq!(g.excluded.bad, 4_000.0);
    assert_eq!(g.events.total, 80.0 * 400.0);
    assert!(ev.alerts.is_empty(), "{:?}", ev.alerts);
    assert_eq!(s.maintenance.len(), 1);
    assert_eq!(s.maintenance[0].reason, "database failover drill");
    assert_eq!(s.maintenance[0].start, "2026-01-05T01:00:00Z");
    assert!(!s.maintenance[0].active);

    // Withdrawn after the fact: the minutes are counted again.
    e.end_maintenance(w.id, "bob", true).expect("withdrawn");
    let ev = e.run();
    let g = &ev.statuses[0].groups[0];
    assert_eq!((g.events.bad, g.excluded.total), (4_000.0, 0.0));
    assert!(ev.statuses[0].maintenance.is_empty());
    assert!(matches!(
        e.end_maintenance(w.id, "bob", true),
        Err(nines_slo::Error::WithdrawnWindow(_))
    ));

    // Recorded after the outage it covers: the window rolls back.
    let late = e.add_maintenance(window(65, 70), "carol").expect("recorded");
    let ev = e.run();
    let g = &ev.statuses[0].groups[0];
    assert_eq!((g.events.bad, g.excluded.bad), (2_000.0, 2_000.0));
    // Ending it now changes nothing already past.
    e.end_maintenance(late.id, "carol", false).expect("ended");
    let g = &e.run().statuses[0].groups[0];
    assert_eq!((g.events.bad, g.excluded.bad), (2_000.0, 2_000.0));
    assert!(matches!(
        e.end_maintenance(999, "x", false),
        Err(nines_slo::Error::UnknownWindow(999))
    ));
}

#[test]
fn config_windows_follow_the_config() {
    let store = Arc::new(Shared::default());
    traffic(&store, 120, 100.0, |m| (31..=40).contains(&m));
    let clock = Arc::new(ManualClock::new(T0 + 100 * MIN));
    let mut e = evaluator(store, clock.clone(), vec![slo(RATIO)]);
    e.run();
    let mut drill = window(30, 40);
    drill.spec.name = Some("drill".into());
    e.set_config_maintenance(vec![drill.clone()]).expect("synced");
    let g = &e.run().statuses[0].groups[0];
    assert_eq!(g.events.bad, 0.0);
    // The same config again changes nothing; a config window cannot be
    // ended through the API.
    e.set_config_maintenance(vec![drill]).expect("synced");
    let id = e.run().statuses[0].maintenance[0].id;
    assert!(matches!(
        e.end_maintenance(id, "x", true),
        Err(nines_slo::Error::ConfigWindow(_))
    ));
    // Removed from the config: withdrawn, and the minutes count again.
    e.set_config_maintenance(vec![]).expect("synced");
    let ev = e.run();
    assert_eq!(ev.statuses[0].groups[0].events.bad, 4_000.0);
    assert!(ev.statuses[0].maintenance.is_empty());
}

#[test]
fn the_gate_blocks_on_a_spent_budget_a_page_or_a_freeze_and_an_override_lets_a_release_through() {
    use nines_slo::gate::{decide, Decision, Override, Policies, PolicyConfig};
    let store = Arc::new(Shared::default());
    // 0.06% errors for three hours: 60% of the 0.1% budget burns, nothing pages.
    traffic(&store, 180, 100.0, |_| false);
    {
        let mut s = store.0.write();
        let pts: Vec<(i64, f64)> = (0..=720).map(|i| (T0 + i * 15_000, 0.06 * i as f64)).collect();
        s.add(labels(&[("__name__", "requests_total"), ("code", "500")]), &pts);
    }
    let clock = Arc::new(ManualClock::new(T0 + 180 * MIN));
    let mut e = evaluator(store.clone(), clock.clone(), vec![slo(RATIO)]);
    let ev = e.run();
    let statuses: Vec<_> = ev.statuses.iter().collect();
    let left = statuses[0].groups[0].budget.remaining_ratio;
    assert!((0.35..0.45).contains(&left), "{left}");
    let policy = |yaml: &str| {
        let c: PolicyConfig = serde_norway::from_str(yaml).expect("yaml");
        Policies::from_config(&c).expect("valid")
    };
    let now = T0 + 180 * MIN;
    let p = policy("default: {}");
    let answer = decide("api", p.of("api"), &statuses, &ev.alerts, &[], now);
    assert_eq!(answer.decision, Decision::Warn, "{answer:?}");
    assert_eq!(answer.reasons[0].kind, "budget_below_warn");
    assert!(
        answer.reasons[0].message.contains("the policy warns below 50.0%"),
        "{answer:?}"
    );
    let p = policy("services:\n  api:\n    warn_below: 70\n    block_below: 60\n");
    let answer = decide("api", p.of("api"), &statuses, &ev.alerts, &[], now);
    assert_eq!(
        (answer.decision, answer.reasons[0].kind),
        (Decision::Block, "budget_below_block")
    );
    let allow = policy("default:\n  warn_below: 10\n");
    assert_eq!(
        decide("api", allow.of("api"), &statuses, &ev.alerts, &[], now).decision,
        Decision::Allow
    );

    // A freeze in force blocks, whatever the budget.
    let frozen = policy(
        "default:\n  warn_below: 10\n  freezes:\n    - name: launch\n      reason: Launch day\n      start: 2026-01-05T02:00:00Z\n      duration: 2h\n",
    );
    let answer = decide("api", frozen.of("api"), &statuses, &ev.alerts, &[], now);
    assert_eq!(answer.decision, Decision::Block);
    assert!(
        answer.reasons[0].message.contains("change freeze launch (Launch day)"),
        "{answer:?}"
    );

    // An active override lets it through and says so; an expired one does not.
    let o = Override {
        id: 7,
        service: "api".into(),
        reason: "security fix CVE-2026-1".into(),
        created_by: "alice".into(),
        created_at_ms: now - MIN,
        until_ms: now + 30 * MIN,
        revoked_at_ms: None,
        revoked_by: None,
    };
    let answer = decide(
        "api",
        frozen.of("api"),
        &statuses,
        &ev.alerts,
        std::slice::from_ref(&o),
        now,
    );
    assert_eq!(answer.decision, Decision::Allow);
    assert!(answer
        .reasons
        .iter()
        .any(|r| r.kind == "override" && r.message.contains("alice")));
    assert!(
        answer.reasons.iter().any(|r| r.kind == "change_freeze"),
        "what was overridden stays listed"
    );
    let answer = decide("api", frozen.of("api"), &statuses, &ev.alerts, &[o], now + 45 * MIN);
    assert_eq!(answer.decision, Decision::Block);

    // A full outage pages: blocked, and with block_on_page off only warned about.
    traffic(&store, 200, 100.0, |m| m > 185);
    clock.set(T0 + 190 * MIN);
    let ev = e.run();
    assert!(
        ev.alerts.iter().any(|a| a.labels["severity"] == "page"),
        "{:?}",
        ev.alerts
    );
    let statuses: Vec<_> = ev.statuses.iter().collect();
    let lenient = policy("default:\n  warn_below: 0\n  block_on_page: false\n");
    let answer = decide("api", lenient.of("api"), &statuses, &ev.alerts, &[], T0 + 190 * MIN);
    assert!(answer
        .reasons
        .iter()
        .any(|r| r.kind == "fast_burn_page" && r.decision == Decision::Warn));
    let strict = policy("default: {}");
    let answer = decide("api", strict.of("api"), &statuses, &ev.alerts, &[], T0 + 190 * MIN);
    assert_eq!(answer.decision, Decision::Block);
}

#[test]
fn a_calendar_month_in_berlin_follows_local_midnight_across_the_dst_change() {
    // March 2026 in Europe/Berlin: from 1 March 00:00 CET (28 Feb 23:00 UTC)
    // to 1 April 00:00 CEST (31 Mar 22:00 UTC); clocks go forward on 29
    // March, so the month is 31 days less an hour: 743 h.
    const MARCH_START: i64 = 1_772_319_600_000; // 2026-02-28T23:00:00Z
    const APRIL_START: i64 = 1_774_994_400_000; // 2026-03-31T22:00:00Z
    assert_eq!((APRIL_START - MARCH_START) / (60 * MIN), 743);
    // Scraped every minute, 100 requests a minute; all failing in the
    // last 10 minutes of February, the first 5 of March, the last 5 of
    // March and the first 3 of April (Berlin time).
    let failing = |t: i64| {
        (MARCH_START - 10 * MIN < t && t <= MARCH_START + 5 * MIN)
            || (APRIL_START - 5 * MIN < t && t <= APRIL_START + 3 * MIN)
    };
    let (mut ok, mut bad) = (0.0, 0.0);
    let (mut ok_pts, mut bad_pts) = (Vec::new(), Vec::new());
    let mut t = MARCH_START - 3 * 60 * MIN;
    while t <= APRIL_START + 2 * 60 * MIN {
        if failing(t) {
            bad += 100.0;
        } else {
            ok += 100.0;
        }
        ok_pts.push((t, ok));
        bad_pts.push((t, bad));
        t += MIN;
    }
    let store = Arc::new(Shared::default());
    {
        let mut s = store.0.write();
        s.add(labels(&[("__name__", "requests_total"), ("code", "200")]), &ok_pts);
        s.add(labels(&[("__name__", "requests_total"), ("code", "500")]), &bad_pts);
    }
    let month = RATIO.replace("window: 30d", "window: month\ntime_zone: Europe/Berlin");
    let sliced = month.replace("name: availability", "name: sliced")
        + "budgeting: {method: timeslices, slice: 1m, slice_threshold: 99}\n";
    let clock = Arc::new(ManualClock::new(APRIL_START));
    let mut e = evaluator(store, clock.clone(), vec![slo(&month), slo(&sliced)]);

    // The last minute of March: its 5 + 5 failing minutes, not February's.
    let ev = e.run();
    let (occurrences, slices) = (&ev.statuses[0], &ev.statuses[1]);
    assert_eq!(occurrences.period.start, "2026-02-28T23:00:00Z");
    assert_eq!(occurrences.period.end, "2026-03-31T22:00:00Z");
    let g = &occurrences.groups[0];
    assert_eq!(g.events.bad, 1_000.0);
    assert_eq!(g.events.total, 743.0 * 60.0 * 100.0);
    // 4,458,000 events × 0.1% allow 4,458 bad ones.
    assert!((g.budget.total - 4_458.0).abs() < 1e-6, "{}", g.budget.total);
    let g = &slices.groups[0];
    assert_eq!(g.budget.consumed, 10.0);
    assert_eq!(g.budget.consumed_seconds, Some(600.0));
    // 743 h × 0.1% = 44.58 minutes, not the 44.64 of a 31-day month.
    assert!((g.budget.total_seconds.expect("time") - 2_674.8).abs() < 1e-6);

    // Three minutes into April (Berlin): a new period with only April's 3.
    clock.set(APRIL_START + 3 * MIN);
    let ev = e.run();
    let (occurrences, slices) = (&ev.statuses[0], &ev.statuses[1]);
    assert_eq!(occurrences.period.start, "2026-03-31T22:00:00Z");
    assert_eq!(occurrences.period.end, "2026-03-31T22:03:00Z", "so far");
    assert_eq!(occurrences.groups[0].events.bad, 300.0);
    assert_eq!(occurrences.groups[0].events.total, 300.0);
    assert_eq!(slices.groups[0].budget.consumed, 3.0);
    // April has 30 days of 24 h.
    assert!((slices.groups[0].budget.total_seconds.expect("time") - 2_592.0).abs() < 1e-6);
}
