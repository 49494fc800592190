//! `nines targets`: the scrape targets of a running server as a table.

use std::process::ExitCode;

use serde_json::Value;

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// The API's `data` object.
    Json,
}

/// Fetches `/api/v1/targets` and prints it.
pub fn run(server: &str, job: Option<&str>, output: Output, client: &crate::client::Client) -> ExitCode {
    let url = format!("{}/api/v1/targets", server.trim_end_matches('/'));
    let mut query = vec![("state", "active")];
    if let Some(j) = job {
        query.push(("scrapePool", j));
    }
    let body: Value = match client.get_json("targets", &url, &query) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&body["data"]).unwrap_or_default()),
        Output::Table => print!("{}", table(&body["data"])),
    }
    ExitCode::SUCCESS
}

fn table(data: &Value) -> String {
    let mut rows = vec![[
        "JOB".to_string(),
        "INSTANCE".into(),
        "HEALTH".into(),
        "LAST SCRAPE".into(),
        "DURATION".into(),
        "ERROR".into(),
    ]];
    for t in data["activeTargets"].as_array().into_iter().flatten() {
        rows.push([
            t["scrapePool"].as_str().unwrap_or("").to_string(),
            t["labels"]["instance"].as_str().unwrap_or("").to_string(),
            t["health"].as_str().unwrap_or("").to_string(),
            t["lastScrape"].as_str().unwrap_or("").to_string(),
            format!("{:.3}s", t["lastScrapeDuration"].as_f64().unwrap_or(0.0)),
            t["lastError"].as_str().unwrap_or("").to_string(),
        ]);
    }
    crate::client::render_table(&rows)
}
