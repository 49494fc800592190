//! `nines incident postmortem draft|show|edit|report`.

use std::process::ExitCode;

use serde_json::{json, Value};

use crate::client::{cell as text, render_table, report, Client};
use crate::targets::Output;

/// `nines incident postmortem ...`
#[derive(Debug, clap::Subcommand)]
pub enum PostmortemCommand {
    /// Draft an incident's postmortem, impact and timeline filled in.
    Draft {
        /// The incident.
        id: i64,
    },
    /// Print it as Markdown (or its JSON with -o json).
    Show {
        /// The incident.
        id: i64,
    },
    /// Change sections, action items or its status.
    Edit {
        /// The incident.
        id: i64,
        /// A section: `summary`, `impact`, `contributingFactors`,
        /// `detection`, `response`, `recovery`, `wentWell`, `wentWrong`,
        /// `gotLucky`, `lessonsLearned`, as NAME=TEXT (repeat for more).
        #[arg(long = "set", value_name = "NAME=TEXT")]
        sections: Vec<String>,
        /// A new action item: KIND|OWNER|SUMMARY[|DUE[|TICKET]], KIND being
        /// mitigate or prevent (repeat for more).
        #[arg(long = "action", value_name = "KIND|OWNER|SUMMARY[|DUE[|TICKET]]")]
        actions: Vec<String>,
        /// Mark action items done, by number (repeat for more).
        #[arg(long = "done")]
        done: Vec<u32>,
        /// draft, in_review or published.
        #[arg(long)]
        status: Option<String>,
        /// The whole edit as JSON (the API's body), instead of the flags.
        #[arg(long, conflicts_with_all = ["sections", "actions", "done", "status"])]
        json: Option<String>,
    },
    /// Overdue postmortems and open action items.
    Report,
}

/// The edit `--set`, `--action`, `--done` and `--status` ask for.
fn edit_body(sections: &[String], actions: &[String], done: &[u32], status: Option<String>) -> Result<Value, String> {
    let mut body = json!({});
    for s in sections {
        let (name, text) = s
            .split_once('=')
            .ok_or_else(|| format!("--set {s:?}: expected NAME=TEXT"))?;
        body[name.trim()] = json!(text);
    }
    let mut added = Vec::new();
    for a in actions {
        let parts: Vec<&str> = a.split('|').map(str::trim).collect();
        let [kind, owner, summary, rest @ ..] = parts.as_slice() else {
            return Err(format!("--action {a:?}: expected KIND|OWNER|SUMMARY[|DUE[|TICKET]]"));
        };
        let mut item = json!({"kind": kind, "owner": owner, "summary": summary});
        if let Some(due) = rest.first().filter(|d| !d.is_empty()) {
            item["due"] = json!(due);
        }
        if let Some(ticket) = rest.get(1).filter(|t| !t.is_empty()) {
            item["ticket"] = json!(ticket);
        }
        added.push(item);
    }
    if !added.is_empty() {
        body["addActionItems"] = json!(added);
    }
    if !done.is_empty() {
        body["actionItems"] = json!(done
            .iter()
            .map(|id| json!({"id": id, "done": true}))
            .collect::<Vec<_>>());
    }
    if let Some(s) = status {
        body["status"] = json!(s);
    }
    Ok(body)
}

/// Runs one subcommand against `server`.
pub fn run(cmd: PostmortemCommand, server: &str, output: Output, client: &Client) -> ExitCode {
    let root = server.trim_end_matches('/');
    let at = |id: i64| format!("{root}/api/v1/incidents/{id}/postmortem");
    let answer = match cmd {
        PostmortemCommand::Draft { id } => client.send_json("postmortem draft", "POST", &at(id), &[], None),
        PostmortemCommand::Show { id } if output == Output::Table => {
            let url = format!("{}.md", at(id));
            return match client.get_text("postmortem show", &url) {
                Ok(md) => {
                    print!("{md}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            };
        }
        PostmortemCommand::Show { id } => client.get_json("postmortem show", &at(id), &[]),
        PostmortemCommand::Edit {
            id,
            sections,
            actions,
            done,
            status,
            json: whole,
        } => {
            let body = match whole {
                Some(text) => serde_json::from_str(&text).map_err(|e| format!("--json: {e}")),
                None => edit_body(&sections, &actions, &done, status),
            };
            body.and_then(|b| client.send_json("postmortem edit", "POST", &format!("{}/edit", at(id)), &[], Some(&b)))
        }
        PostmortemCommand::Report => {
            let answer = client.get_json("postmortem report", &format!("{root}/api/v1/postmortems/report"), &[]);
            return report(answer, output, report_table);
        }
    };
    report(answer, output, summary)
}

fn summary(data: &Value) -> String {
    let items = data["actionItems"].as_array().map_or(0, Vec::len);
    format!(
        "postmortem of incident {} is {} ({items} action items)\n",
        text(&data["incident"]),
        text(&data["status"])
    )
}

fn report_table(data: &Value) -> String {
    let mut out = String::new();
    let mut late = vec![[
        "INCIDENT".to_string(),
        "SEVERITY".into(),
        "DUE".into(),
        "POSTMORTEM".into(),
        "TITLE".into(),
    ]];
    for o in data["overduePostmortems"].as_array().into_iter().flatten() {
        late.push([
            text(&o["incident"]),
            text(&o["severity"]),
            text(&o["dueAt"]),
            text(&o["postmortem"]),
            text(&o["title"]),
        ]);
    }
    out.push_str(&format!("Overdue postmortems: {}\n", late.len() - 1));
    if late.len() > 1 {
        out.push_str(&render_table(&late));
    }
    let mut open = vec![[
        "INCIDENT".to_string(),
        "#".into(),
        "KIND".into(),
        "OWNER".into(),
        "DUE".into(),
        "".into(),
        "ACTION".into(),
    ]];
    for a in data["openActionItems"].as_array().into_iter().flatten() {
        open.push([
            text(&a["incident"]),
            text(&a["id"]),
            text(&a["kind"]),
            text(&a["owner"]),
            text(&a["due"]),
            if a["overdue"] == true {
                "overdue".into()
            } else {
                String::new()
            },
            text(&a["summary"]),
        ]);
    }
    out.push_str(&format!("\nOpen action items: {}\n", open.len() - 1));
    if open.len() > 1 {
        out.push_str(&render_table(&open));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_the_api_edit() {
        let b = edit_body(
            &["wentWell=fast rollback".into()],
            &[
                "prevent|payments|Gate canaries|2026-12-05|https://t/1".into(),
                "mitigate|bo|Runbook".into(),
            ],
            &[3],
            Some("in_review".into()),
        )
        .unwrap();
        assert_eq!(
            b,
            json!({
                "wentWell": "fast rollback",
                "addActionItems": [
                    {"kind": "prevent", "owner": "payments", "summary": "Gate canaries", "due": "2026-12-05", "ticket": "https://t/1"},
                    {"kind": "mitigate", "owner": "bo", "summary": "Runbook"}
                ],
                "actionItems": [{"id": 3, "done": true}],
                "status": "in_review"
            })
        );
        assert!(edit_body(&["nope".into()], &[], &[], None).is_err());
        assert!(edit_body(&[], &["prevent|x".into()], &[], None).is_err());
    }
}
