#![no_main]
//! Any bytes as a deploy, a change, a GitHub deployment_status event, a
//! `git log` of commits, an incident declaration or update, a postmortem
//! edit or DORA bands are read or refused with a message, never a panic;
//! what reads becomes an event of its service, an incident never leaves a
//! closed state, a postmortem export names its title and every action
//! item, and deploys read back from the log give DORA metrics in range.
use libfuzzer_sys::fuzz_target;
use nines_learning::changes::{decode_change, decode_deploy, decode_github_deployment_status, parse_git_log};
use nines_learning::incident::{declare, update, Act, Declare, IncidentRepository, MemIncidents, State, Update};

fuzz_target!(|data: &[u8]| {
    let now = 1_795_514_400_000;
    if let Ok(d) = decode_deploy(data, now) {
        let e = d.event();
        assert_eq!(e.service.as_deref(), Some(d.service.as_str()));
        assert!(d.started_at.is_none_or(|s| s <= d.at));
    }
    if let Ok(c) = decode_change(data, now) {
        assert_eq!(c.event().kind, "change");
    }
    if let Ok(Some(d)) = decode_github_deployment_status(data, now) {
        assert!(!d.service.is_empty());
    }
    let _ = parse_git_log(&String::from_utf8_lossy(data));
    if let Ok(d) = serde_json::from_slice::<Declare>(data) {
        let repo = MemIncidents::default();
        if let Ok(i) = declare(&repo, &d, Act::by("fuzz", now)) {
            assert_eq!(i.state, State::Triage);
        }
    }
    if let Ok(u) = serde_json::from_slice::<Update>(data) {
        let repo = MemIncidents::default();
        let d = Declare {
            title: "t".into(),
            severity: "SEV3".into(),
            ..Default::default()
        };
        if let Ok(i) = declare(&repo, &d, Act::by("fuzz", now)) {
            let before = repo.incident(i.id).ok().flatten().map(|x| x.state);
            if let Ok(after) = update(&repo, i.id, &u, Act::by("fuzz", now + 1)) {
                assert!(before.is_some_and(|b| b == after.state || b.may_become(after.state)));
            }
        }
    }
    postmortem_edit(data, now);
    dora_from_deploys(data, now);
    let _ = nines_learning::dora::Bands::parse(&String::from_utf8_lossy(data));
});

fn postmortem_edit(data: &[u8], now: i64) {
    use nines_learning::postmortem::{draft, edit, markdown, Edit};
    let Ok(e) = serde_json::from_slice::<Edit>(data) else { return };
    let repo = MemIncidents::default();
    let d = Declare {
        title: "t".into(),
        severity: "SEV2".into(),
        ..Default::default()
    };
    let Ok(i) = declare(&repo, &d, Act::by("fuzz", now)) else { return };
    let Ok(t) = nines_learning::timeline::timeline(&repo.log, &i, 0, now) else { return };
    let times = nines_learning::metrics::times(&i, &t);
    let mut pm = draft(&i, &t, &times, &[], now);
    if edit(&mut pm, &e, "fuzz", now).is_ok() {
        let md = markdown(&pm, &i);
        assert!(md.starts_with("# Postmortem: "));
        for a in &pm.action_items {
            assert!(md.contains(&format!("| {} | ", a.id)));
        }
    }
}

fn dora_from_deploys(data: &[u8], now: i64) {
    use nines_learning::dora::{compute, Bands, Inputs, LoggedDeploy};
    let Ok(d) = decode_deploy(data, now) else { return };
    let event = nines_learning::events::Event { id: 1, event: d.event() };
    let Some(logged) = LoggedDeploy::from_event(&event) else { return };
    let production = vec![d.environment.clone()];
    let dora = compute(
        &Inputs {
            deploys: &[logged],
            incidents: &[],
            production: &production,
            from: d.at - 86_400_000,
            to: d.at + 1,
        },
        &Bands::shipped(),
    );
    if let Some(r) = dora.change_failure_rate.value {
        assert!((0.0..=1.0).contains(&r));
    }
    assert!(dora.lead_time.value.is_none_or(|h| h >= 0.0));
}
