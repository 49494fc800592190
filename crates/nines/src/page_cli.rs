//! `nines page list|ack|resolve`: the pages of a running server.

use std::process::ExitCode;

use serde_json::{json, Value};

use crate::client::{render_table, report, Client};
use crate::targets::Output;

fn base(server: &str) -> String {
    format!("{}/api/v1/pages", server.trim_end_matches('/'))
}

/// `nines page list [--status S]`.
pub fn list(server: &str, status: &str, output: Output, client: &Client) -> ExitCode {
    let query: Vec<(&str, &str)> = if status == "all" {
        Vec::new()
    } else {
        vec![("status", status)]
    };
    let result = client.get_json("page list", &base(server), &query);
    report(result, output, table)
}

/// `nines page ack|resolve ID... [--by WHO]`.
pub fn respond(server: &str, action: &str, ids: &[i64], by: Option<&str>, output: Output, client: &Client) -> ExitCode {
    let body = by.map(|b| json!({"by": b}));
    let mut code = ExitCode::SUCCESS;
    for id in ids {
        let url = format!("{}/{id}/{action}", base(server));
        let result = client
            .send_json(&format!("page {action}"), "POST", &url, &[], body.as_ref())
            .map(|mut answer| {
                // One page: shown as a one-row list.
                answer["data"] = json!({"pages": [answer["data"].take()]});
                answer
            });
        if report(result, output, table) != ExitCode::SUCCESS {
            code = ExitCode::FAILURE;
        }
    }
    code
}

fn table(data: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let mut rows = vec![[
        "ID".to_string(),
        "STATUS".into(),
        "LEVEL".into(),
        "POLICY".into(),
        "OPENED".into(),
        "BY".into(),
        "SUMMARY".into(),
    ]];
    for p in data["pages"].as_array().into_iter().flatten() {
        let by = match p["status"].as_str() {
            Some("acknowledged") => text(&p["acknowledgedBy"]),
            Some("resolved") => text(&p["resolvedBy"]),
            _ => "-".into(),
        };
        rows.push([
            text(&p["id"]),
            text(&p["status"]),
            text(&p["level"]),
            text(&p["policy"]),
            text(&p["createdAt"]),
            by,
            text(&p["summary"]),
        ]);
    }
    render_table(&rows)
}
