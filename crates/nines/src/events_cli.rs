//! `nines events`: the event log of a running server.

use std::process::ExitCode;

use serde_json::Value;

use crate::client::{render_table, report, Client};
use crate::targets::Output;

/// What `nines events` asks for.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Only this service's events.
    #[arg(long, short)]
    pub service: Option<String>,
    /// Only these kinds (`page.acknowledged`, or `page.` for every page
    /// event); repeat for more.
    #[arg(long, short)]
    pub kind: Vec<String>,
    /// From (RFC 3339 or Unix seconds).
    #[arg(long)]
    pub from: Option<String>,
    /// Until.
    #[arg(long)]
    pub to: Option<String>,
    /// At most this many (default 1000).
    #[arg(long)]
    pub limit: Option<usize>,
    /// The server to ask.
    #[arg(long, default_value = "http://127.0.0.1:9999")]
    pub server: String,
    /// `table` or `json` (the API's data).
    #[arg(long, short, default_value = "table")]
    pub output: Output,
}

/// `nines events [--service S] [--kind K]... [--from T] [--to T]`.
pub fn run(args: &EventsArgs, client: &Client) -> ExitCode {
    let limit = args.limit.map(|l| l.to_string());
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(s) = &args.service {
        query.push(("service", s));
    }
    for k in &args.kind {
        query.push(("kind", k));
    }
    for (key, value) in [("from", &args.from), ("to", &args.to), ("limit", &limit)] {
        if let Some(v) = value {
            query.push((key, v));
        }
    }
    let url = format!("{}/api/v1/events", args.server.trim_end_matches('/'));
    report(client.get_json("events", &url, &query), args.output, table)
}

fn table(data: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut rows = vec![[
        "ID".to_string(),
        "AT".into(),
        "KIND".into(),
        "SERVICE".into(),
        "ACTOR".into(),
        "WHAT".into(),
    ]];
    for e in data["events"].as_array().into_iter().flatten() {
        let p = &e["payload"];
        let what = p["detail"]
            .as_str()
            .or(p["summary"].as_str())
            .or(p["comment"].as_str())
            .or(p["target"].as_str())
            .unwrap_or("")
            .to_string();
        rows.push([
            e["id"].to_string(),
            text(&e["at"]),
            text(&e["kind"]),
            text(&e["service"]),
            text(&e["actor"]),
            what,
        ]);
    }
    render_table(&rows)
}
