//! `nines oncall who|shifts|load`: who is on call on a running server,
//! the shifts of a period with times on the schedule's wall clock, and
//! the on-call load of a period.

use std::process::ExitCode;

use serde_json::Value;

use crate::client::{render_table, report, Client};
use crate::targets::Output;

fn url(server: &str, path: &str) -> String {
    format!("{}{path}", server.trim_end_matches('/'))
}

/// `2026-11-24 11:00 CET` for an RFC 3339 time in the zone `tz`, or the
/// text as given when either cannot be read.
fn local(rfc3339: &Value, tz: &Value) -> String {
    let Some(text) = rfc3339.as_str() else {
        return "-".into();
    };
    let zoned = text
        .parse::<jiff::Timestamp>()
        .ok()
        .zip(tz.as_str().and_then(|z| jiff::tz::TimeZone::get(z).ok()))
        .map(|(ts, tz)| ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M %Z").to_string());
    zoned.unwrap_or_else(|| text.to_string())
}

fn who_is(user: &Value) -> String {
    match (user["name"].as_str(), user["fullName"].as_str()) {
        (Some(name), Some(full)) => format!("{name} ({full})"),
        (Some(name), None) => name.to_string(),
        _ => "-".into(),
    }
}

/// `nines oncall who [--schedule X] [--at T]`.
pub fn who(server: &str, schedule: Option<&str>, at: Option<&str>, output: Output, client: &Client) -> ExitCode {
    let mut query = Vec::new();
    if let Some(s) = schedule {
        query.push(("schedule", s));
    }
    if let Some(t) = at {
        query.push(("at", t));
    }
    let result = client.get_json("oncall who", &url(server, "/api/v1/oncall"), &query);
    report(result, output, |data| {
        let mut rows = vec![[
            "SCHEDULE".to_string(),
            "ON CALL".into(),
            "SINCE".into(),
            "UNTIL".into(),
            "BY".into(),
        ]];
        for entry in data["oncall"].as_array().into_iter().flatten() {
            let shift = &entry["shift"];
            let tz = &entry["timeZone"];
            let by = match shift["source"].as_str() {
                Some("override") => "override".to_string(),
                Some(_) => shift["layer"].as_str().unwrap_or("-").to_string(),
                None => "-".into(),
            };
            rows.push([
                entry["schedule"].as_str().unwrap_or("-").to_string(),
                if shift.is_null() {
                    "nobody".into()
                } else {
                    who_is(&shift["user"])
                },
                local(&shift["start"], tz),
                local(&shift["end"], tz),
                by,
            ]);
        }
        render_table(&rows)
    })
}

/// `nines oncall shifts --schedule X [--start T] [--end T]`.
pub fn shifts(
    server: &str,
    schedule: &str,
    start: Option<&str>,
    end: Option<&str>,
    output: Output,
    client: &Client,
) -> ExitCode {
    let mut query = Vec::new();
    if let Some(s) = start {
        query.push(("start", s));
    }
    if let Some(e) = end {
        query.push(("end", e));
    }
    let path = format!("/api/v1/schedules/{schedule}/shifts");
    let result = client.get_json("oncall shifts", &url(server, &path), &query);
    report(result, output, |data| {
        let tz = &data["timeZone"];
        let mut rows = vec![["START".to_string(), "END".into(), "ON CALL".into(), "BY".into()]];
        for s in data["shifts"].as_array().into_iter().flatten() {
            let by = s["layer"].as_str().unwrap_or("override").to_string();
            rows.push([local(&s["start"], tz), local(&s["end"], tz), who_is(&s["user"]), by]);
        }
        render_table(&rows)
    })
}

/// `nines oncall load [--start T] [--end T]`.
pub fn load(server: &str, start: Option<&str>, end: Option<&str>, output: Output, client: &Client) -> ExitCode {
    let mut query = Vec::new();
    if let Some(s) = start {
        query.push(("start", s));
    }
    if let Some(e) = end {
        query.push(("end", e));
    }
    let result = client.get_json("oncall load", &url(server, "/api/v1/oncall/load"), &query);
    report(result, output, |data| {
        let text = |v: &Value| match v {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut rows = vec![[
            "PERSON".to_string(),
            "PAGES".into(),
            "PER WEEK".into(),
            "OUT OF HOURS".into(),
            "ACKED".into(),
            "MEDIAN TO ACK (s)".into(),
        ]];
        for p in data["people"].as_array().into_iter().flatten() {
            rows.push([
                who_is(&p["user"]),
                text(&p["pages"]),
                text(&p["pagesPerWeek"]),
                text(&p["outOfHours"]),
                text(&p["acknowledged"]),
                text(&p["medianTimeToAckSeconds"]),
            ]);
        }
        let mut out = format!("{} to {}\n", text(&data["start"]), text(&data["end"]));
        out.push_str(&render_table(&rows));
        out.push_str(&format!(
            "\n{} of {} shifts had more than {} pages\n",
            text(&data["shiftsOverGuidance"]),
            text(&data["shiftsTotal"]),
            text(&data["guidance"]["maxPagesPerShift"]),
        ));
        let mut over = vec![[
            "SCHEDULE".to_string(),
            "ON CALL".into(),
            "START".into(),
            "END".into(),
            "PAGES".into(),
        ]];
        for s in data["shifts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["overGuidance"] == true)
        {
            over.push([
                text(&s["schedule"]),
                text(&s["user"]),
                text(&s["start"]),
                text(&s["end"]),
                text(&s["pages"]),
            ]);
        }
        if over.len() > 1 {
            out.push_str(&render_table(&over));
        }
        out
    })
}
