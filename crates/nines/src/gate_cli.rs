//! `nines gate`: asks the release gate whether a service may ship, for CI
//! pipelines. Exit 0 on allow or warn (reasons printed), 1 on block, 2
//! when no decision could be had (server unreachable, unknown service, not
//! evaluated yet). Also records, lists and revokes overrides.

use std::process::ExitCode;

use serde_json::{json, Value};

use crate::client::{render_table, Client};
use crate::targets::Output;

/// Exit code when the gate could not decide.
const UNDECIDED: u8 = 2;

fn base(server: &str) -> String {
    format!("{}/api/v1/gate", server.trim_end_matches('/'))
}

/// `nines gate --service S [--strict]`.
pub fn check(server: &str, service: &str, strict: bool, output: Output, client: &Client) -> ExitCode {
    let answer = match client.get_json("gate", &base(server), &[("service", service)]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("gate: no decision for {service}");
            return ExitCode::from(UNDECIDED);
        }
    };
    let Some(mut decision) = answer["decision"].as_str().map(str::to_string) else {
        eprintln!("gate: the answer has no decision: {answer}");
        return ExitCode::from(UNDECIDED);
    };
    if strict && decision == "warn" {
        decision = "block".into();
    }
    match output {
        Output::Json => {
            let mut shown = answer.clone();
            shown["decision"] = json!(decision);
            println!("{}", serde_json::to_string_pretty(&shown).unwrap_or_default());
        }
        Output::Table => print!("{}", explain(service, &decision, strict, &answer)),
    }
    match decision.as_str() {
        "allow" | "warn" => ExitCode::SUCCESS,
        "block" => ExitCode::FAILURE,
        other => {
            eprintln!("gate: unknown decision {other:?}");
            ExitCode::from(UNDECIDED)
        }
    }
}

fn explain(service: &str, decision: &str, strict: bool, answer: &Value) -> String {
    let verdict = match decision {
        "block" => "must not release now",
        "warn" => "may release, with care",
        _ => "may release",
    };
    let mut out = format!("gate: {service} {verdict} ({decision})");
    if strict && answer["decision"] == "warn" {
        out.push_str(" [--strict turns warn into block]");
    }
    out.push('\n');
    for r in answer["reasons"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<5}  {}: {}\n",
            r["decision"].as_str().unwrap_or("-"),
            r["kind"].as_str().unwrap_or("-"),
            r["message"].as_str().unwrap_or("")
        ));
    }
    if let Some(at) = answer["evaluated_at"].as_str() {
        out.push_str(&format!("  (SLOs as evaluated at {at})\n"));
    }
    out
}

/// What `nines gate override` records.
#[derive(Debug, clap::Args)]
pub struct OverrideArgs {
    /// The service to let through.
    #[arg(long)]
    pub service: String,
    /// Why the release must go through the block.
    #[arg(long)]
    pub reason: String,
    /// How long it holds (`2h`; at most 7 days).
    #[arg(long = "for", conflicts_with = "until", required_unless_present = "until")]
    pub duration: Option<String>,
    /// Until when it holds (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Who decides (required when the server has no tokens).
    #[arg(long)]
    pub by: Option<String>,
}

fn finish(result: Result<Value, String>, output: Output) -> ExitCode {
    match result {
        Ok(body) => {
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&body["data"]).unwrap_or_default()),
                Output::Table => {
                    let data = match &body["data"] {
                        Value::Array(a) => a.clone(),
                        one => vec![one.clone()],
                    };
                    print!("{}", overrides_table(&data));
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `nines gate override ...`.
pub fn add_override(server: &str, args: &OverrideArgs, output: Output, client: &Client) -> ExitCode {
    let mut body = json!({"service": args.service, "reason": args.reason});
    for (k, v) in [
        ("duration", &args.duration),
        ("until", &args.until),
        ("created_by", &args.by),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    let url = format!("{}/overrides", base(server));
    finish(
        client.send_json("gate override", "POST", &url, &[], Some(&body)),
        output,
    )
}

/// `nines gate overrides [--service S]`.
pub fn list_overrides(server: &str, service: Option<&str>, output: Output, client: &Client) -> ExitCode {
    let query: Vec<(&str, &str)> = service.map(|s| ("service", s)).into_iter().collect();
    let url = format!("{}/overrides", base(server));
    finish(client.get_json("gate overrides", &url, &query), output)
}

/// `nines gate revoke ID`.
pub fn revoke(server: &str, id: i64, by: Option<&str>, output: Output, client: &Client) -> ExitCode {
    let query: Vec<(&str, &str)> = by.map(|b| ("by", b)).into_iter().collect();
    let url = format!("{}/overrides/{id}", base(server));
    finish(client.send_json("gate revoke", "DELETE", &url, &query, None), output)
}

fn overrides_table(data: &[Value]) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut rows = vec![[
        "ID".to_string(),
        "SERVICE".into(),
        "ACTIVE".into(),
        "UNTIL".into(),
        "BY".into(),
        "REVOKED BY".into(),
        "REASON".into(),
    ]];
    for o in data {
        rows.push([
            o["id"].to_string(),
            text(&o["service"]),
            o["active"].to_string(),
            text(&o["until"]),
            text(&o["created_by"]),
            text(&o["revoked_by"]),
            text(&o["reason"]),
        ]);
    }
    render_table(&rows)
}
