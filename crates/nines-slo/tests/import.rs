//! Importing OpenSLO v1 and Sloth specs shaped like the ones teams write:
//! every imported SLO is valid nines config, and what did not carry over
//! is said.

use nines_slo::import::{import, ImportOptions, Imported};
use nines_slo::{Slo, SloSpec};

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/import/{name}", env!("CARGO_MANIFEST_DIR"))).expect("example")
}

fn imported(name: &str) -> Imported {
    let out = import(&read(name), &ImportOptions::default()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    for s in &out.slos {
        // What is printed must load: through YAML and validation.
        let yaml = serde_norway::to_string(s).expect("yaml");
        let back: SloSpec = serde_norway::from_str(&yaml).expect("reads back");
        assert_eq!(&back, s);
        Slo::from_spec(s).unwrap_or_else(|e| panic!("{}/{} is not valid: {e:?}\n{yaml}", s.service, s.name));
    }
    out
}

fn has(notes: &[String], needle: &str) -> bool {
    notes.iter().any(|n| n.contains(needle))
}

#[test]
fn sloth_events_become_exact_counter_ratios_and_the_rest_is_said() {
    let out = imported("sloth-myservice.yaml");
    let names: Vec<&str> = out.slos.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "requests-availability",
            "requests-by-route",
            "probe-uptime",
            "queue-lag"
        ]
    );
    let a = &out.slos[0];
    assert_eq!(
        (a.service.as_str(), a.owner.as_str(), a.window.as_str()),
        ("myservice", "myteam", "30d")
    );
    let ratio = a.sli.ratio.as_ref().expect("ratio");
    assert_eq!(
        ratio.bad.as_deref(),
        Some(r#"http_request_duration_seconds_count{code=~"(5..|429)",job="myservice"}"#)
    );
    assert_eq!(ratio.total, r#"http_request_duration_seconds_count{job="myservice"}"#);
    assert_eq!(a.labels["repo"], "myorg/myservice");
    assert_eq!(a.labels["category"], "availability");
    assert!(!a.labels.contains_key("owner"));
    let alerting = a.alerting.as_ref().expect("alerting");
    assert_eq!(alerting.burn_rate["page_1h"].labels["routing_key"], "myteam");
    assert_eq!(
        alerting.burn_rate["ticket_3d"].labels["slack_channel"],
        "#alerts-myteam"
    );
    assert!(has(
        &out.notes,
        "myservice/requests-availability: page_1h: label severity is set by nines"
    ));
    assert!(has(&out.notes, "alert name \"MyServiceHighErrorRate\" not kept"));
    assert!(has(&out.notes, "alert annotations not imported"));

    let by_route = &out.slos[1];
    assert_eq!(by_route.group_by, ["route"]);
    let tiers = &by_route.alerting.as_ref().expect("alerting").burn_rate;
    assert!(!tiers["page_1h"].enabled && !tiers["page_6h"].enabled);

    let probe = &out.slos[2];
    let custom = probe.sli.custom.as_ref().expect("custom");
    assert!(custom.error_ratio.contains("[$window:]"), "{}", custom.error_ratio);
    assert!(has(&out.notes, "probe-uptime: the queries are not rates of counters"));
    let lag = &out.slos[3];
    assert!(lag
        .sli
        .custom
        .as_ref()
        .expect("custom")
        .error_ratio
        .contains("[$window:1m]"));
}

#[test]
fn sloth_plugins_are_refused_with_the_reason() {
    let e = import(&read("sloth-plugin.yaml"), &ImportOptions::default()).unwrap_err();
    assert!(e[0].message.contains("SLI plugins run Go code inside Sloth"), "{e:?}");
}

#[test]
fn openslo_ratio_with_an_indicator_ref_and_a_service_document() {
    let out = imported("openslo-checkout.yaml");
    assert_eq!(out.slos.len(), 1);
    let s = &out.slos[0];
    assert_eq!(
        (s.service.as_str(), s.name.as_str()),
        ("checkout", "checkout-availability")
    );
    assert_eq!(
        (s.owner.as_str(), s.objective, s.window.as_str()),
        ("payments", 99.5, "28d")
    );
    let ratio = s.sli.ratio.as_ref().expect("ratio");
    assert_eq!(
        ratio.good.as_deref(),
        Some(r#"http_requests_total{code!~"5..",service="checkout"}"#)
    );
    assert_eq!(s.labels["tier"], "1");
    assert!(s.description.starts_with("Checkout availability\n99.5%"));
    assert!(has(
        &out.notes,
        "document 1: OpenSLO kind Service has no nines equivalent"
    ));
    assert!(has(
        &out.notes,
        "checkout/checkout-availability: alertPolicies are not imported"
    ));
}

#[test]
fn openslo_thresholds_calendar_months_and_timeslices() {
    let out = imported("openslo-latency.yaml");
    let names: Vec<&str> = out.slos.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["search-latency-fast", "search-latency-acceptable"]);
    let fast = &out.slos[0];
    assert_eq!(
        (fast.window.as_str(), fast.time_zone.as_deref()),
        ("month", Some("Europe/Berlin"))
    );
    assert_eq!(fast.objective, 99.0);
    let b = fast.budgeting.as_ref().expect("timeslices");
    assert_eq!((b.slice.as_deref(), b.slice_threshold), (Some("1m"), Some(95.0)));
    let q = &fast.sli.custom.as_ref().expect("custom").error_ratio;
    assert!(q.contains("> bool 0.3") && q.contains("[$window:1m]"), "{q}");
    let ok = &out.slos[1];
    assert_eq!(ok.objective, 99.9);
    assert!(ok
        .sli
        .custom
        .as_ref()
        .expect("custom")
        .error_ratio
        .contains(">= bool 1"));
    assert!(has(&out.notes, "calendar startTime"));
    assert!(has(&out.notes, "thresholdMetric imported as a custom SLI"));
}

#[test]
fn what_cannot_be_imported_is_an_error_naming_the_document() {
    let web = ImportOptions {
        owner: Some("team-web".into()),
        sloth_window: None,
    };
    let e = import(&read("openslo-datadog.yaml"), &web).unwrap_err();
    assert_eq!(e[0].document, 1);
    assert!(e[0].message.contains("RatioTimeslices is not supported"), "{e:?}");
    let e = import("apiVersion: openslo/v1alpha\nkind: SLO\n", &ImportOptions::default()).unwrap_err();
    assert!(e[0].message.contains("openslo/v1alpha"), "{e:?}");
    let e = import("kind: Deployment\n", &ImportOptions::default()).unwrap_err();
    assert!(e[0].message.contains("neither OpenSLO"), "{e:?}");
    let e = import(
        "version: prometheus/v1\nservice: x\nslos: []\n",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(e[0].message.contains("--owner"), "{e:?}");
    assert!(import("version: prometheus/v1\nservice: x\nslos: []\n", &web).is_ok());
}
