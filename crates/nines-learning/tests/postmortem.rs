//! A postmortem drafted from a scripted incident, edited, and exported:
//! the Markdown is compared with a stored snapshot
//! (`UPDATE_SNAPSHOTS=1 cargo test -p nines-learning` rewrites it).

use nines_learning::events::{EventLog, NewEvent};
use nines_learning::incident::{declare, update, Act, Declare, MemIncidents, Update};
use nines_learning::metrics::times;
use nines_learning::postmortem::{draft, edit, markdown, open_items, overdue, BudgetBurn, Edit, Status};
use nines_learning::timeline::{timeline, DEFAULT_LOOKBACK_MS};
use serde_json::json;

const MIN: i64 = 60_000;
/// 2026-11-24T10:00:00Z
const T0: i64 = 1_795_514_400_000;

fn scripted() -> (MemIncidents, nines_learning::incident::Incident) {
    let m = MemIncidents::default();
    let ev = |at: i64, kind: &str, actor: &str, payload: serde_json::Value| NewEvent {
        at,
        kind: kind.into(),
        service: Some("checkout".into()),
        actor: Some(actor.into()),
        payload,
    };
    m.log
        .append(&[
            ev(
                T0 - 25 * MIN,
                "deploy",
                "ci",
                json!({"version": "v2.4.0", "environment": "production", "status": "success"}),
            ),
            ev(
                T0 + 3 * MIN,
                "alert.firing",
                "nines",
                json!({"labels": {"alertname": "CheckoutErrorBudgetBurn"}, "summary": "checkout burns its budget 14x"}),
            ),
            ev(
                T0 + 3 * MIN,
                "page.triggered",
                "nines",
                json!({"page": 1, "summary": "checkout burns its budget 14x"}),
            ),
            ev(
                T0 + 3 * MIN,
                "page.notified",
                "nines",
                json!({"page": 1, "level": 1, "recipients": ["bo"]}),
            ),
            ev(T0 + 7 * MIN, "page.acknowledged", "bo", json!({"page": 1})),
            ev(
                T0 + 31 * MIN,
                "deploy",
                "bo",
                json!({"version": "v2.3.9", "environment": "production", "status": "success", "rollback": true}),
            ),
            ev(
                T0 + 33 * MIN,
                "alert.resolved",
                "nines",
                json!({"labels": {"alertname": "CheckoutErrorBudgetBurn"}}),
            ),
        ])
        .unwrap();
    let d = Declare {
        title: "Checkout returns errors after v2.4.0".into(),
        severity: "SEV2".into(),
        services: vec!["checkout".into()],
        pages: vec![1],
        started_at: Some("2026-11-24T10:00:00Z".into()),
        ..Default::default()
    };
    let i = declare(&m, &d, Act::by("bo", T0 + 8 * MIN)).unwrap();
    let step = |s: &str, msg: Option<&str>, at: i64| {
        let u = Update {
            state: Some(s.into()),
            message: msg.map(String::from),
            ..Default::default()
        };
        update(&m, i.id, &u, Act::by("bo", at)).unwrap()
    };
    step(
        "identified",
        Some("v2.4.0 breaks card payments; rolling back"),
        T0 + 20 * MIN,
    );
    step("monitoring", None, T0 + 32 * MIN);
    let i = step(
        "resolved",
        Some("Rolled back to v2.3.9; errors are back to normal."),
        T0 + 45 * MIN,
    );
    (m, i)
}

#[test]
fn the_markdown_export_matches_the_snapshot() {
    let (m, i) = scripted();
    let tl = timeline(&m.log, &i, DEFAULT_LOOKBACK_MS, T0 + 60 * MIN).unwrap();
    let t = times(&i, &tl);
    let burns = [BudgetBurn {
        slo: "checkout/availability".into(),
        bad: 1_250.0,
        total: 50_000.0,
        budget_consumed_ratio: 0.0625,
    }];
    let mut pm = draft(&i, &tl, &t, &burns, T0 + 24 * 60 * MIN);
    let e: Edit = serde_json::from_value(json!({
        "contributingFactors": "The canary stage checked latency only, so a payment error rate of 5% passed it.",
        "wentWell": "The burn-rate page fired within 3 minutes; the rollback took 2.",
        "addActionItems": [
            {"kind": "prevent", "summary": "Gate canaries on the payment error rate", "owner": "payments", "due": "2026-12-05", "ticket": "https://tracker.example/PAY-12"},
            {"kind": "mitigate", "summary": "One-command rollback in the runbook", "owner": "bo"}
        ],
        "status": "in_review"
    }))
    .unwrap();
    let events = edit(&mut pm, &e, "bo", T0 + 25 * 60 * MIN).unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        [
            "action_item.added",
            "action_item.added",
            "postmortem.status",
            "postmortem.edited"
        ]
    );
    let md = markdown(&pm, &i);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/postmortem.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &md).unwrap();
    }
    let want = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        md, want,
        "the Markdown changed; rerun with UPDATE_SNAPSHOTS=1 if that is intended"
    );
    let lower = md.to_lowercase();
    assert!(!lower.contains("root cause") && !lower.contains("who caused") && !lower.contains("fault"));
}

#[test]
fn late_postmortems_and_open_action_items_are_reported() {
    let (m, i) = scripted();
    let day = 24 * 60 * MIN;
    let resolved = T0 + 45 * MIN;
    use nines_learning::incident::IncidentRepository;
    let all = m.incidents().unwrap();
    assert!(
        overdue(&all, &[], 5 * day, resolved + 4 * day).is_empty(),
        "not due yet"
    );
    let late = overdue(&all, &[], 5 * day, resolved + 6 * day);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].postmortem, "missing");
    let tl = timeline(&m.log, &i, DEFAULT_LOOKBACK_MS, T0 + 60 * MIN).unwrap();
    let mut pm = draft(&i, &tl, &times(&i, &tl), &[], resolved + day);
    let add: Edit = serde_json::from_value(json!({"addActionItems": [
        {"kind": "prevent", "summary": "a", "owner": "x", "due": "2026-11-30"},
        {"kind": "prevent", "summary": "b", "owner": "y"}
    ]}))
    .unwrap();
    edit(&mut pm, &add, "bo", resolved + day).unwrap();
    assert_eq!(
        overdue(&all, std::slice::from_ref(&pm), 5 * day, resolved + 6 * day)[0].postmortem,
        "draft"
    );
    let items = open_items(std::slice::from_ref(&pm), "2026-12-01".parse().unwrap());
    assert_eq!(
        items.iter().map(|o| (o.item.id, o.overdue)).collect::<Vec<_>>(),
        [(1, true), (2, false)]
    );
    let done: Edit =
        serde_json::from_value(json!({"actionItems": [{"id": 1, "done": true}], "status": "published"})).unwrap();
    edit(&mut pm, &done, "bo", resolved + 2 * day).unwrap();
    assert_eq!(pm.status, Status::Published);
    assert_eq!(
        open_items(std::slice::from_ref(&pm), "2026-12-01".parse().unwrap()).len(),
        1
    );
    assert!(overdue(&all, &[pm.clone()], 5 * day, resolved + 6 * day).is_empty());
    let bad: Edit = serde_json::from_value(json!({"actionItems": [{"id": 9, "done": true}]})).unwrap();
    assert_eq!(
        edit(&mut pm, &bad, "bo", 0).unwrap_err().to_string(),
        "actionItems[id 9]: no such action item"
    );
    let bad_date: Edit = serde_json::from_value(
        json!({"addActionItems": [{"kind": "prevent", "summary": "a", "owner": "x", "due": "soon"}]}),
    )
    .unwrap();
    assert!(edit(&mut pm, &bad_date, "bo", 0)
        .unwrap_err()
        .to_string()
        .starts_with("addActionItems[0].due: \"soon\" is not a date"));
}

#[test]
fn memory_keeps_the_postmortem_contract() {
    nines_learning::postmortem::contract::run_all(&nines_learning::postmortem::MemPostmortems::default());
}
