//! `nines incident declare|list|show|update|note|resolve|timeline|metrics`
//! and `nines incident postmortem ...`.

use std::process::ExitCode;

use serde_json::{json, Value};

use crate::client::{cell as text, render_table, report, Client};
use crate::targets::Output;

/// `nines incident ...`
#[derive(Debug, clap::Subcommand)]
pub enum IncidentCommand {
    /// Declare an incident; prints its id.
    Declare {
        /// What is wrong.
        #[arg(long, short)]
        title: String,
        /// SEV1 to SEV4.
        #[arg(long, short)]
        severity: String,
        /// Services affected (repeat for more).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Who leads the response.
        #[arg(long)]
        commander: Option<String>,
        /// When users were first affected (RFC 3339), if before now.
        #[arg(long)]
        started_at: Option<String>,
        /// The deploy (event id) that caused it (repeat for more).
        #[arg(long = "caused-by")]
        caused_by: Vec<i64>,
    },
    /// Incidents, newest first.
    List {
        /// `open` (not closed), `all`, or a state.
        #[arg(long, default_value = "open")]
        state: String,
    },
    /// One incident.
    Show {
        /// Its id.
        id: i64,
    },
    /// Change state, severity, roles or services, or post a status update.
    Update {
        /// Its id.
        id: i64,
        /// triage, investigating, identified, monitoring, resolved, closed.
        #[arg(long)]
        state: Option<String>,
        /// SEV1 to SEV4.
        #[arg(long)]
        severity: Option<String>,
        /// Incident commander.
        #[arg(long)]
        commander: Option<String>,
        /// Communications lead.
        #[arg(long)]
        communications: Option<String>,
        /// Scribe.
        #[arg(long)]
        scribe: Option<String>,
        /// More services affected.
        #[arg(long = "service")]
        services: Vec<String>,
        /// A status update.
        #[arg(long, short)]
        message: Option<String>,
        /// When users were first affected (RFC 3339).
        #[arg(long)]
        started_at: Option<String>,
        /// A deploy (event id) that caused it (repeat for more).
        #[arg(long = "caused-by")]
        caused_by: Vec<i64>,
    },
    /// Add a note to its timeline.
    Note {
        /// Its id.
        id: i64,
        /// The note.
        text: String,
    },
    /// Resolve it.
    Resolve {
        /// Its id.
        id: i64,
        /// A closing status update.
        #[arg(long, short)]
        message: Option<String>,
    },
    /// Its timeline: the changes just before it first, then everything.
    Timeline {
        /// Its id.
        id: i64,
        /// How far before the start to look for deploys and changes (2h).
        #[arg(long)]
        lookback: Option<String>,
    },
    /// Times to detect, acknowledge, mitigate and resolve: of one
    /// incident, or their means over a period.
    Metrics {
        /// One incident (else the means).
        id: Option<i64>,
        /// Only this service's incidents.
        #[arg(long)]
        service: Option<String>,
        /// Only this team's incidents.
        #[arg(long)]
        team: Option<String>,
        /// From (RFC 3339 or Unix seconds; default 30 days ago).
        #[arg(long)]
        from: Option<String>,
        /// Until (default now).
        #[arg(long)]
        to: Option<String>,
    },
    /// Blameless postmortems.
    #[command(subcommand)]
    Postmortem(crate::postmortem_cli::PostmortemCommand),
}

fn base(server: &str) -> String {
    format!("{}/api/v1/incidents", server.trim_end_matches('/'))
}

fn one(answer: Result<Value, String>) -> Result<Value, String> {
    // One incident is shown as a one-row list.
    answer.map(|mut a| {
        a["data"] = json!({"incidents": [a["data"].take()]});
        a
    })
}

/// Runs one subcommand against `server`, acting as `user`.
pub fn run(cmd: IncidentCommand, server: &str, user: Option<&str>, output: Output, client: &Client) -> ExitCode {
    let post = |path: String, mut body: Value| {
        if let Some(u) = user {
            body["by"] = json!(u);
        }
        client.send_json("incident", "POST", &path, &[], Some(&body))
    };
    let result = match cmd {
        IncidentCommand::Declare {
            title,
            severity,
            services,
            commander,
            started_at,
            caused_by,
        } => one(post(
            base(server),
            json!({"title": title, "severity": severity, "services": services, "commander": commander,
                   "startedAt": started_at, "causedBy": caused_by}),
        )),
        IncidentCommand::List { state } => client.get_json("incident list", &base(server), &[("state", &state)]),
        IncidentCommand::Show { id } => one(client.get_json("incident show", &format!("{}/{id}", base(server)), &[])),
        IncidentCommand::Update {
            id,
            state,
            severity,
            commander,
            communications,
            scribe,
            services,
            message,
            started_at,
            caused_by,
        } => {
            let mut body = json!({"addServices": services, "addCausedBy": caused_by});
            for (k, v) in [
                ("startedAt", started_at),
                ("state", state),
                ("severity", severity),
                ("commander", commander),
                ("communications", communications),
                ("scribe", scribe),
                ("message", message),
            ] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            one(post(format!("{}/{id}/update", base(server)), body))
        }
        IncidentCommand::Note { id, text } => one(post(format!("{}/{id}/notes", base(server)), json!({"note": text}))),
        IncidentCommand::Resolve { id, message } => {
            let mut body = json!({"state": "resolved"});
            if let Some(m) = message {
                body["message"] = json!(m);
            }
            one(post(format!("{}/{id}/update", base(server)), body))
        }
        IncidentCommand::Timeline { id, lookback } => {
            let query: Vec<(&str, &str)> = lookback.iter().map(|l| ("lookback", l.as_str())).collect();
            let answer = client.get_json("incident timeline", &format!("{}/{id}/timeline", base(server)), &query);
            return report(answer, output, timeline_table);
        }
        IncidentCommand::Metrics {
            id: Some(id),
            service: None,
            team: None,
            from: None,
            to: None,
        } => {
            let answer = client.get_json("incident metrics", &format!("{}/{id}/metrics", base(server)), &[]);
            return report(answer, output, times_table);
        }
        IncidentCommand::Metrics { id: Some(_), .. } => {
            Err("incident metrics: give an incident id, or --service/--team/--from/--to for the means".into())
        }
        IncidentCommand::Metrics {
            id: None,
            service,
            team,
            from,
            to,
        } => {
            let mut query: Vec<(&str, &str)> = Vec::new();
            for (k, v) in [("service", &service), ("team", &team), ("from", &from), ("to", &to)] {
                if let Some(v) = v {
                    query.push((k, v));
                }
            }
            let answer = client.get_json("incident metrics", &format!("{}/metrics", base(server)), &query);
            return report(answer, output, means_table);
        }
        IncidentCommand::Postmortem(cmd) => return crate::postmortem_cli::run(cmd, server, output, client),
    };
    report(result, output, table)
}

fn timeline_table(data: &Value) -> String {
    let mut out = String::new();
    let suspects = data["suspects"].as_array().cloned().unwrap_or_default();
    if !suspects.is_empty() {
        out.push_str("Changes just before the start, most recent first:\n");
        for s in &suspects {
            out.push_str(&format!("  {}  {}\n", text(&s["at"]), text(&s["summary"])));
        }
        out.push('\n');
    }
    let mut rows = vec![["AT".to_string(), "KIND".into(), "".into(), "WHAT".into()]];
    for e in data["entries"].as_array().into_iter().flatten() {
        rows.push([
            text(&e["at"]),
            text(&e["kind"]),
            if e["suspect"] == true {
                "*".into()
            } else {
                String::new()
            },
            text(&e["summary"]),
        ]);
    }
    out.push_str(&render_table(&rows));
    out
}

/// Seconds as `1h05m`, `12m`, `40s`.
fn span(v: &Value) -> String {
    let Some(s) = v.as_i64() else { return "-".into() };
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, _) => format!("{m}m"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

fn times_table(data: &Value) -> String {
    let mut rows = vec![["".to_string(), "AT".into(), "AFTER".into()]];
    for (label, at, after) in [
        ("started", "startedAt", Value::Null),
        ("detected", "detectedAt", data["timeToDetectSeconds"].clone()),
        (
            "acknowledged",
            "acknowledgedAt",
            data["timeToAcknowledgeSeconds"].clone(),
        ),
        ("mitigated", "mitigatedAt", data["timeToMitigateSeconds"].clone()),
        ("resolved", "resolvedAt", data["timeToResolveSeconds"].clone()),
    ] {
        rows.push([label.to_string(), text(&data[at]), span(&after)]);
    }
    let mut out = render_table(&rows);
    for b in data["budgetBurnt"].as_array().into_iter().flatten() {
        let pct = b["budgetConsumedRatio"].as_f64().unwrap_or(0.0) * 100.0;
        out.push_str(&format!("error budget burnt on {}: {pct:.1}%\n", text(&b["slo"])));
    }
    out
}

fn means_table(data: &Value) -> String {
    let ms = |v: &Value| span(&v.as_i64().map_or(Value::Null, |m| Value::from(m / 1000)));
    let mut rows = vec![[
        "SCOPE".to_string(),
        "INCIDENTS".into(),
        "MTTD".into(),
        "MTTA".into(),
        "MTTM".into(),
        "MTTR".into(),
    ]];
    let mut push = |scope: String, m: &Value| {
        rows.push([
            scope,
            text(&m["incidents"]),
            ms(&m["mttd"]),
            ms(&m["mtta"]),
            ms(&m["mttm"]),
            ms(&m["mttr"]),
        ])
    };
    push("all".into(), &data["overall"]);
    for (key, prefix) in [("services", "service"), ("teams", "team")] {
        for (name, m) in data[key].as_object().into_iter().flatten() {
            push(format!("{prefix} {name}"), m);
        }
    }
    render_table(&rows)
}

fn table(data: &Value) -> String {
    let mut rows = vec![[
        "ID".to_string(),
        "SEVERITY".into(),
        "STATE".into(),
        "SERVICES".into(),
        "COMMANDER".into(),
        "DECLARED".into(),
        "TITLE".into(),
    ]];
    for i in data["incidents"].as_array().into_iter().flatten() {
        let services: Vec<String> = i["services"].as_array().into_iter().flatten().map(text).collect();
        rows.push([
            text(&i["id"]),
            text(&i["severityName"]),
            text(&i["state"]),
            services.join(","),
            text(&i["commander"]),
            text(&i["declaredAt"]),
            text(&i["title"]),
        ]);
    }
    render_table(&rows)
}
