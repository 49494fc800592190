#![no_main]
//! Any bytes posted to the Alertmanager, PagerDuty or generic integration
//! decode or are refused with a message; what decodes names an alert
//! (alertname present) and merges into the in-memory store.
use libfuzzer_sys::fuzz_target;
use nines_alerting::inbound::{
    decode_alertmanager, decode_generic, decode_pagerduty, InboundChange, InboundRepository, MemInboundRepository,
};

fuzz_target!(|data: &[u8]| {
    let now = 1_795_514_400_000;
    let mut changes = Vec::new();
    for decoded in [decode_alertmanager(data, now), decode_generic(data, now)] {
        match decoded {
            Ok(found) => changes.extend(found),
            Err(e) => assert!(!e.0.is_empty()),
        }
    }
    match decode_pagerduty(data, now, |k| (!k.is_empty()).then(|| "svc".to_string())) {
        Ok(e) => {
            assert!(!e.dedup_key.is_empty());
            changes.push(e.change);
        }
        Err(e) => assert!(!e.0.is_empty()),
    }
    for c in &changes {
        if let InboundChange::Upsert(a) = c {
            assert!(a.labels.contains_key("alertname"));
        }
    }
    let repo = MemInboundRepository::default();
    repo.apply_inbound(&changes).expect("memory never fails");
});
