#![no_main]
//! Any bytes as a deploy, a change, a GitHub deployment_status event, a
//! `git log` of commits, or an incident declaration or update are read or
//! refused with a message, never a panic; what reads becomes an event of
//! its service, and an incident never leaves a closed state.
use libfuzzer_sys::fuzz_target;
use nines_learning::changes::{decode_change, decode_deploy, decode_github_deployment_status, parse_git_log};

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
    use nines_learning::incident::{declare, update, Declare, IncidentRepository, MemIncidents, State, Update};
    if let Ok(d) = serde_json::from_slice::<Declare>(data) {
        let repo = MemIncidents::default();
        if let Ok(i) = declare(&repo, &d, "fuzz", now) {
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
        if let Ok(i) = declare(&repo, &d, "fuzz", now) {
            let before = repo.incident(i.id).ok().flatten().map(|x| x.state);
            if let Ok(after) = update(&repo, i.id, &u, "fuzz", now + 1) {
                assert!(before.is_some_and(|b| b == after.state || b.may_become(after.state)));
            }
        }
    }
});
