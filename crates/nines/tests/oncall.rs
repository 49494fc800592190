//! On-call schedules through the real binary: who is on call across the
//! March and October daylight-saving changes in Berlin, a restricted
//! layer above a weekly rotation, an override above both, the shifts of a
//! period, the iCalendar feed read back by an iCalendar library, config
//! problems named by path, and a reload that changes the schedule.

mod common;

use std::path::Path;

use common::Server;
use icalendar::Component;
use serde_json::Value;

const CONFIG: &str = "users:
- {name: alice, full_name: Alice Adler, time_zone: Europe/Berlin, email: alice@example.com}
- {name: bob, time_zone: America/New_York}
- {name: carol}
- {name: dave}
teams:
- {name: payments, members: [alice, bob, carol, dave]}
schedules:
- name: payments-primary
  team: payments
  time_zone: Europe/Berlin
  layers:
  - name: weekly
    participants: [alice, bob]
    shift_length: 1w
    start: '2026-03-02T09:00'
  - name: saturday
    participants: [carol]
    shift_length: 1d
    start: '2026-03-02T00:00'
    restrictions:
    - {weekdays: [saturday], times: [{start_time: '10:00', end_time: '14:00'}]}
  overrides:
  - {user: dave, start: '2026-10-26T09:00', end: '2026-10-26T12:00'}
";

fn start(dir: &Path, config: &str) -> Server {
    let path = dir.join("nines.yaml");
    std::fs::write(&path, config).unwrap();
    Server::start(&dir.join("data"), &["--config", path.to_str().unwrap()])
}

fn json(s: &Server, path: &str) -> Value {
    let (code, body) = s.get(path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// (user, start, end, source) of the shift at `at`.
fn on_call(s: &Server, at: &str) -> (String, String, String, String) {
    let body = json(s, &format!("/api/v1/oncall?schedule=payments-primary&at={at}"));
    let shift = &body["data"]["oncall"][0]["shift"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        text(&shift["user"]["name"]),
        text(&shift["start"]),
        text(&shift["end"]),
        if shift["source"] == "override" {
            "override".into()
        } else {
            text(&shift["layer"])
        },
    )
}

#[test]
fn schedules_answer_who_is_on_call_across_dst_with_layers_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), CONFIG);

    // Sunday after the spring change: bob's week ends at 09:00 CEST
    // (07:00Z, where it began at 08:00Z); he has held the schedule since
    // the Saturday layer let go at 14:00 CET.
    assert_eq!(
        on_call(&s, "2026-03-29T07:30:00Z"),
        (
            "bob".into(),
            "2026-03-28T13:00:00Z".into(),
            "2026-03-30T07:00:00Z".into(),
            "weekly".into()
        )
    );
    // The Saturday layer wins 10:00 to 14:00 Berlin time.
    assert_eq!(on_call(&s, "2026-03-28T09:30:00Z").0, "carol");
    assert_eq!(on_call(&s, "2026-03-28T13:30:00Z").0, "bob");
    assert_eq!(on_call(&s, "2026-03-23T07:30:00Z").0, "alice");
    assert_eq!(on_call(&s, "2026-03-23T08:30:00Z").0, "bob");
    // Autumn: the handoff moves back to 08:00Z, and dave covers 09:00 to
    // 12:00 Berlin time on the handoff day.
    assert_eq!(on_call(&s, "2026-10-26T07:30:00Z").0, "bob");
    assert_eq!(on_call(&s, "2026-10-26T08:30:00Z").3, "override");
    assert_eq!(on_call(&s, "2026-10-26T11:00:00Z").0, "alice");

    let shifts = json(
        &s,
        "/api/v1/schedules/payments-primary/shifts?start=2026-10-19T00:00:00Z&end=2026-10-27T00:00:00Z",
    );
    let got: Vec<(String, String)> = shifts["data"]["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["user"]["name"].as_str().unwrap().into(),
                x["start"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("alice", "2026-10-19T00:00:00Z"),
        ("bob", "2026-10-19T07:00:00Z"),
        ("carol", "2026-10-24T08:00:00Z"),
        ("bob", "2026-10-24T12:00:00Z"),
        ("dave", "2026-10-26T08:00:00Z"),
        ("alice", "2026-10-26T11:00:00Z"),
    ];
    let want: Vec<(String, String)> = want.iter().map(|(u, t)| (u.to_string(), t.to_string())).collect();
    assert_eq!(got, want);

    // The CLI shows times on the schedule's wall clock.
    let (ok, out) = s.cli(&[
        "oncall",
        "who",
        "--schedule",
        "payments-primary",
        "--at",
        "2026-03-29T07:30:00Z",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("bob"), "{out}");
    assert!(
        out.contains("2026-03-28 14:00 CET") && out.contains("2026-03-30 09:00 CEST"),
        "{out}"
    );
    let (ok, out) = s.cli(&[
        "oncall",
        "shifts",
        "--schedule",
        "payments-primary",
        "--start",
        "2026-10-26T00:00:00Z",
        "--end",
        "2026-10-27T00:00:00Z",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("2026-10-26 09:00 CET") && out.contains("override"),
        "{out}"
    );
    let (ok, out) = s.cli(&["oncall", "who", "--schedule", "nope"]);
    assert!(!ok && out.contains("no schedule is named \"nope\""), "{out}");

    // Bad questions are refused with what is wrong.
    assert_eq!(s.get("/api/v1/oncall?schedule=nope").0, 404);
    let (code, body) = s.get("/api/v1/oncall?at=yesterday");
    assert!(code == 400 && body.contains("at: \\\"yesterday\\\""), "{body}");
    let (code, body) =
        s.get("/api/v1/schedules/payments-primary/shifts?start=2026-01-01T00:00:00Z&end=2028-01-01T00:00:00Z");
    assert!(code == 400 && body.contains("at most 400 days"), "{body}");
}

#[test]
fn the_calendar_feed_reads_back_as_the_same_shifts() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), CONFIG);
    let range = "start=2026-03-01T00:00:00Z&end=2026-04-15T00:00:00Z";
    let shifts = json(&s, &format!("/api/v1/schedules/payments-primary/shifts?{range}"));
    let shifts = shifts["data"]["shifts"].as_array().unwrap().clone();
    let (code, text) = s.get(&format!("/api/v1/schedules/payments-primary/calendar.ics?{range}"));
    assert_eq!(code, 200, "{text}");
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n") && text.ends_with("END:VCALENDAR\r\n"));
    assert!(
        text.split("\r\n").all(|line| line.len() <= 75),
        "a line is longer than 75 octets"
    );

    let calendar: icalendar::Calendar = text.parse().expect("an iCalendar library reads the feed");
    let events: Vec<&icalendar::Event> = calendar.components.iter().filter_map(|c| c.as_event()).collect();
    assert_eq!(events.len(), shifts.len());
    assert!(events.len() >= 12, "{} events", events.len());
    let millis = |v: Option<icalendar::DatePerhapsTime>| match v {
        Some(icalendar::DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(t))) => t.timestamp_millis(),
        other => panic!("not a UTC time: {other:?}"),
    };
    let ms = |v: &Value| v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap().as_millisecond();
    for (event, shift) in events.iter().zip(&shifts) {
        assert_eq!(millis(event.get_start()), ms(&shift["start"]));
        assert_eq!(millis(event.get_end()), ms(&shift["end"]));
        let who = shift["user"]["fullName"]
            .as_str()
            .or(shift["user"]["name"].as_str())
            .unwrap();
        let summary = event.get_summary().unwrap();
        assert!(summary.contains(who), "{summary:?} should name {who}");
        assert!(event.get_uid().is_some());
    }
    let names: std::collections::HashSet<_> = shifts.iter().map(|x| x["user"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob", "carol"].into_iter().collect());

    // Calendar apps send no token: the signed URL opens this feed only.
    let listed = json(&s, "/api/v1/schedules");
    let url = listed["data"]["schedules"][0]["calendarUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let path = &url[url.find("/p/").unwrap()..];
    let (code, same) = s.get(&format!("{path}&{range}"));
    assert_eq!(code, 200);
    assert_eq!(same.matches("BEGIN:VEVENT").count(), events.len());
    assert_eq!(s.get(&path.replace("sig=", "sig=00")).0, 403);
    // The link expires: moving its expiry forward breaks the signature.
    let expires: i64 = path
        .split("expires=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((80 * 86_400..=91 * 86_400).contains(&(expires - now_s)), "{path}");
    let stretched = path.replace(&format!("expires={expires}"), &format!("expires={}", expires + 86_400));
    assert_eq!(s.get(&stretched).0, 403);
    assert_eq!(s.get(&path.replace("payments-primary", "other")).0, 403);
}

#[test]
fn bad_schedules_are_named_by_path_and_a_reload_changes_who_is_on_call() {
    let dir = tempfile::tempdir().unwrap();
    let bad = CONFIG
        .replace("participants: [alice, bob]", "participants: [alice, zed]")
        .replace("shift_length: 1d", "shift_length: 1 day")
        .replace("Europe/Berlin\n  layers", "Europe/Atlantis\n  layers");
    let (ok, err) = common::check_config(dir.path(), &bad);
    assert!(!ok);
    for expected in [
        "schedules[0].layers[0].participants[1]: no user is named \"zed\"",
        "schedules[0].layers[1].shift_length: \"1 day\" is not a length such as 1w, 1d or 12h",
        "schedules[0].time_zone: \"Europe/Atlantis\" is not an IANA time zone",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }

    let s = start(dir.path(), CONFIG);
    assert_eq!(on_call(&s, "2026-03-29T07:30:00Z").0, "bob");
    let covered = format!("{CONFIG}  - {{user: carol, start: '2026-03-29T00:00:00Z', end: '2026-03-30T00:00:00Z'}}\n");
    std::fs::write(dir.path().join("nines.yaml"), covered).unwrap();
    let (code, body) = s.post("/-/reload", "text/plain", b"");
    assert_eq!(code, 200, "{body}");
    assert_eq!(on_call(&s, "2026-03-29T07:30:00Z").0, "carol");
}
