//! `nines maintenance list|add|end|withdraw`: maintenance windows of a
//! running server.

use std::process::ExitCode;

use serde_json::{json, Value};

use crate::client::{render_table, report, Client};
use crate::targets::Output;

/// What `nines maintenance add` records.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The service whose SLOs it applies to.
    #[arg(long)]
    pub service: String,
    /// Why (shown in status and audit).
    #[arg(long)]
    pub reason: String,
    /// When it starts (RFC 3339); now if not given.
    #[arg(long)]
    pub start: Option<String>,
    /// When it ends (RFC 3339).
    #[arg(long, conflicts_with = "duration")]
    pub end: Option<String>,
    /// How long it lasts (`30m`, `2h`), instead of --end.
    #[arg(long)]
    pub duration: Option<String>,
    /// Who records it (required when the server has no tokens; with a
    /// token, recorded next to the token's name).
    #[arg(long)]
    pub by: Option<String>,
}

fn base(server: &str) -> String {
    format!("{}/api/v1/maintenance", server.trim_end_matches('/'))
}

/// `nines maintenance list [--service S]`.
pub fn list(server: &str, service: Option<&str>, output: Output, client: &Client) -> ExitCode {
    let query: Vec<(&str, &str)> = service.map(|s| ("service", s)).into_iter().collect();
    report(
        client.get_json("maintenance list", &base(server), &query),
        output,
        table,
    )
}

/// `nines maintenance add ...`.
pub fn add(server: &str, args: &AddArgs, output: Output, now: &str, client: &Client) -> ExitCode {
    let mut body = json!({
        "service": args.service,
        "reason": args.reason,
        "start": args.start.as_deref().unwrap_or(now),
    });
    for (k, v) in [
        ("end", &args.end),
        ("duration", &args.duration),
        ("created_by", &args.by),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    let result = client.send_json("maintenance add", "POST", &base(server), &[], Some(&body));
    report(result, output, |w| table(&Value::Array(vec![w.clone()])))
}

/// `nines maintenance end ID` and `nines maintenance withdraw ID`.
pub fn finish(server: &str, id: i64, withdraw: bool, by: Option<&str>, output: Output, client: &Client) -> ExitCode {
    let (what, method, url) = if withdraw {
        ("maintenance withdraw", "DELETE", format!("{}/{id}", base(server)))
    } else {
        ("maintenance end", "POST", format!("{}/{id}/end", base(server)))
    };
    let query: Vec<(&str, &str)> = by.map(|b| ("by", b)).into_iter().collect();
    let result = client.send_json(what, method, &url, &query, None);
    report(result, output, |w| table(&Value::Array(vec![w.clone()])))
}

fn table(data: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut rows = vec![[
        "ID".to_string(),
        "SERVICE".into(),
        "STATE".into(),
        "NEXT START".into(),
        "NEXT END".into(),
        "SOURCE".into(),
        "BY".into(),
        "REASON".into(),
    ]];
    for w in data.as_array().into_iter().flatten() {
        rows.push([
            w["id"].to_string(),
            text(&w["service"]),
            text(&w["state"]),
            text(&w["next"]["start"]),
            text(&w["next"]["end"]),
            text(&w["source"]),
            text(&w["created_by"]),
            text(&w["spec"]["reason"]),
        ]);
    }
    render_table(&rows)
}
