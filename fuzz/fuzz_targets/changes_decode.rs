#![no_main]
//! Any bytes as a deploy, a change, a GitHub deployment_status event or
//! a `git log` of commits are read or refused with a message, never a
//! panic; what reads becomes an event of its service.
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
});
