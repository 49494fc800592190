//! `nines silence add|list|expire`: silences of a running server, as
//! amtool handles Alertmanager's.

use std::process::ExitCode;

use nines_routing::matchers::{format_matcher, matcher_json, op_from_flags, parse_matchers, Matcher};
use serde_json::{json, Value};

use crate::client::{render_table, report, Client};
use crate::targets::Output;

/// What `nines silence add` asks for.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Matchers in Alertmanager's syntax (`alertname=DiskFull`,
    /// `'instance=~"db-.*"'`); an alert must meet them all.
    #[arg(required = true)]
    pub matchers: Vec<String>,
    /// Why the alerts are muted.
    #[arg(long, short)]
    pub comment: String,
    /// How long it lasts (`30m`, `2h`).
    #[arg(long, short, default_value = "1h", conflicts_with = "end")]
    pub duration: String,
    /// When it ends (RFC 3339), instead of --duration.
    #[arg(long)]
    pub end: Option<String>,
    /// When it starts (RFC 3339); now if not given.
    #[arg(long)]
    pub start: Option<String>,
    /// Who makes it; $USER if not given.
    #[arg(long, short, env = "USER")]
    pub author: Option<String>,
}

fn base(server: &str) -> String {
    format!("{}/api/v1/silences", server.trim_end_matches('/'))
}

/// `nines silence add MATCHER... --comment C`: prints the new id.
pub fn add(server: &str, args: &AddArgs, now_ms: i64, client: &Client) -> ExitCode {
    let mut matchers = Vec::new();
    for text in &args.matchers {
        match parse_matchers(text) {
            Ok(ms) => matchers.extend(ms.iter().map(matcher_json)),
            Err(e) => {
                eprintln!("nines: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let end = match &args.end {
        Some(end) => end.clone(),
        None => match crate::units::parse_duration(&args.duration) {
            Ok(d) if d.0 > 0 => nines_slo::status::rfc3339(now_ms.saturating_add(d.0)),
            _ => {
                eprintln!(
                    "nines: --duration {:?} is not a positive duration like 2h",
                    args.duration
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let mut body = json!({"matchers": matchers, "endsAt": end, "comment": args.comment});
    if let Some(start) = &args.start {
        body["startsAt"] = json!(start);
    }
    if let Some(author) = &args.author {
        body["createdBy"] = json!(author);
    }
    match client.send_json("silence add", "POST", &base(server), &[], Some(&body)) {
        Ok(answer) => {
            println!("{}", answer["data"]["silenceID"].as_str().unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `nines silence list [--expired]`.
pub fn list(server: &str, expired: bool, output: Output, client: &Client) -> ExitCode {
    let result = client.get_json("silence list", &base(server), &[]).map(|mut body| {
        if let Some(all) = body["data"].as_array_mut() {
            all.retain(|s| expired == (s["status"]["state"] == "expired"));
        }
        body
    });
    report(result, output, table)
}

/// `nines silence expire ID...`.
pub fn expire(server: &str, ids: &[String], client: &Client) -> ExitCode {
    let mut code = ExitCode::SUCCESS;
    for id in ids {
        let url = format!("{}/{id}", base(server));
        if let Err(e) = client.send_json("silence expire", "DELETE", &url, &[], None) {
            eprintln!("{e}");
            code = ExitCode::FAILURE;
        }
    }
    code
}

fn table(data: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut rows = vec![[
        "ID".to_string(),
        "STATE".into(),
        "MATCHERS".into(),
        "STARTS".into(),
        "ENDS".into(),
        "BY".into(),
        "COMMENT".into(),
    ]];
    for s in data.as_array().into_iter().flatten() {
        let matchers: Vec<String> = s["matchers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let op = op_from_flags(m["isRegex"].as_bool()?, m["isEqual"].as_bool()?);
                Matcher::new(op, m["name"].as_str()?, m["value"].as_str()?)
                    .ok()
                    .map(|m| format_matcher(&m))
            })
            .collect();
        rows.push([
            text(&s["id"]),
            text(&s["status"]["state"]),
            matchers.join(" "),
            text(&s["startsAt"]),
            text(&s["endsAt"]),
            text(&s["createdBy"]),
            text(&s["comment"]),
        ]);
    }
    render_table(&rows)
}
