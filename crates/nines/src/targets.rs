//! `nines targets`: the scrape targets of a running server as a table.

use std::process::ExitCode;

use serde_json::Value;

/// How to print.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// The API's `data` object.
    Json,
}

/// Fetches `/api/v1/targets` and prints it.
pub fn run(server: &str, job: Option<&str>, output: Output, client: &crate::client::Client) -> ExitCode {
    let url = format!("{}/api/v1/targets", server.trim_end_matches('/'));
    let mut req = client.get(&url).query("state", "active");
    if let Some(j) = job {
        req = req.query("scrapePool", j);
    }
    let body: Value = match req.call() {
        Ok(resp) => match resp
            .into_string()
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                eprintln!("targets: {url} answered with invalid JSON: {e}");
                return ExitCode::FAILURE;
            }
        },
        Err(ureq::Error::Status(code, resp)) => {
            eprintln!(
                "targets: {url} answered {code}: {}",
                resp.into_string().unwrap_or_default()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("targets: cannot reach {url}: {e}");
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
    let mut widths = [0usize; 6];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
