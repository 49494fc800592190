//! `nines incident declare|list|show|update|note|resolve`.

use std::process::ExitCode;

use serde_json::{json, Value};

use crate::client::{render_table, report, Client};
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
        } => one(post(
            base(server),
            json!({"title": title, "severity": severity, "services": services, "commander": commander}),
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
        } => {
            let mut body = json!({"addServices": services});
            for (k, v) in [
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
    };
    report(result, output, table)
}

fn table(data: &Value) -> String {
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
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
            text(&i["severity"]),
            text(&i["state"]),
            services.join(","),
            text(&i["commander"]),
            text(&i["declaredAt"]),
            text(&i["title"]),
        ]);
    }
    render_table(&rows)
}
