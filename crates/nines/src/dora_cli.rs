//! `nines dora`: DORA's delivery metrics of a service, a team or all.

use std::process::ExitCode;

use serde_json::Value;

use crate::client::{render_table, report, Client};
use crate::targets::Output;

/// What `nines dora` asks for.
#[derive(Debug, clap::Args)]
pub struct DoraArgs {
    /// One service.
    #[arg(long, short)]
    pub service: Option<String>,
    /// A team: the services whose SLOs it owns.
    #[arg(long, short)]
    pub team: Option<String>,
    /// From (RFC 3339 or Unix seconds; default 90 days ago).
    #[arg(long)]
    pub from: Option<String>,
    /// Until (default now).
    #[arg(long)]
    pub to: Option<String>,
    /// The server to ask.
    #[arg(long, default_value = "http://127.0.0.1:9999")]
    pub server: String,
    /// `table` or `json` (the API's data).
    #[arg(long, short, default_value = "table")]
    pub output: Output,
}

/// `nines dora [--service S | --team T] [--from T] [--to T]`.
pub fn run(args: &DoraArgs, client: &Client) -> ExitCode {
    let mut query: Vec<(&str, &str)> = Vec::new();
    for (k, v) in [
        ("service", &args.service),
        ("team", &args.team),
        ("from", &args.from),
        ("to", &args.to),
    ] {
        if let Some(v) = v {
            query.push((k, v));
        }
    }
    let url = format!("{}/api/v1/dora", args.server.trim_end_matches('/'));
    report(client.get_json("dora", &url, &query), args.output, table)
}

fn value(m: &Value) -> String {
    let Some(v) = m["value"].as_f64() else {
        return "-".into();
    };
    match m["unit"].as_str() {
        Some("ratio") => format!("{:.1}%", v * 100.0),
        Some("hours") if v < 1.0 => format!("{:.0} min", v * 60.0),
        Some("hours") => format!("{v:.1} h"),
        Some("deploys per day") if v < 1.0 => format!("{:.1}/week", v * 7.0),
        Some(u) => format!("{v:.2} {u}"),
        None => v.to_string(),
    }
}

fn table(data: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut rows = vec![["METRIC".to_string(), "VALUE".into(), "BAND".into(), "OVER".into()]];
    for (key, name) in [
        ("deploymentFrequency", "deployment frequency"),
        ("leadTime", "lead time for changes"),
        ("changeFailureRate", "change failure rate"),
        ("recoveryTime", "failed deployment recovery time"),
        ("reworkRate", "rework rate"),
    ] {
        let m = &data[key];
        rows.push([name.to_string(), value(m), text(&m["band"]), text(&m["basis"])]);
    }
    let mut out = format!("{} to {}\n", text(&data["from"]), text(&data["to"]));
    out.push_str(&render_table(&rows));
    let mut weeks = vec![[
        "WEEK".to_string(),
        "DEPLOYS".into(),
        "FAILED".into(),
        "LEAD TIME".into(),
    ]];
    for w in data["weekly"].as_array().into_iter().flatten() {
        weeks.push([
            text(&w["start"]).chars().take(10).collect(),
            w["deploys"].to_string(),
            w["failed"].to_string(),
            w["leadTimeHours"].as_f64().map_or("-".into(), |h| format!("{h:.1} h")),
        ]);
    }
    out.push('\n');
    out.push_str(&render_table(&weeks));
    out.push_str(&format!("\nbands: {}\n", text(&data["bandsSource"])));
    out
}
