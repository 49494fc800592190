//! `nines slo list` and `nines slo show SERVICE/SLO`: SLO statuses of a
//! running server, as a table or as the API's JSON.

use std::process::ExitCode;

use serde_json::Value;

use crate::client::{render_table, Client};
use crate::targets::Output;

/// `nines slo list`.
pub fn list(server: &str, output: Output, client: &Client) -> ExitCode {
    let url = format!("{}/api/v1/slos", server.trim_end_matches('/'));
    match client.get_json("slo list", &url, &[]) {
        Ok(body) => {
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&body["data"]).unwrap_or_default()),
                Output::Table => print!("{}", list_table(&body["data"])),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `nines slo show SERVICE/SLO`.
pub fn show(server: &str, id: &str, output: Output, client: &Client) -> ExitCode {
    let Some((service, slo)) = id.split_once('/') else {
        eprintln!("slo show: {id:?} is not SERVICE/SLO");
        return ExitCode::from(2);
    };
    let url = format!("{}/api/v1/slos/{service}/{slo}", server.trim_end_matches('/'));
    match client.get_json("slo show", &url, &[]) {
        Ok(body) => {
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&body["data"]).unwrap_or_default()),
                Output::Table => print!("{}", show_text(&body["data"])),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn percent(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_string(), |x| format!("{:.digits$}%", x * 100.0))
}

fn group_name(g: &Value) -> String {
    let pairs: Vec<String> = g["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

fn burn(g: &Value, window: &str) -> String {
    g["burn_rates"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["window"] == window)
        .and_then(|b| b["rate"].as_f64())
        .map_or_else(|| "-".to_string(), |r| format!("{r:.2}x"))
}

fn list_table(data: &Value) -> String {
    let mut rows = vec![[
        "SLO".to_string(),
        "OBJECTIVE".into(),
        "WINDOW".into(),
        "SLI".into(),
        "BUDGET LEFT".into(),
        "BURN 1H".into(),
        "STATE".into(),
    ]];
    for s in data.as_array().into_iter().flatten() {
        let id = format!(
            "{}/{}",
            s["service"].as_str().unwrap_or(""),
            s["slo"].as_str().unwrap_or("")
        );
        let objective = format!("{}%", s["objective"].as_f64().unwrap_or(0.0));
        let window = s["window"].as_str().unwrap_or("").to_string();
        let groups = s["groups"].as_array().cloned().unwrap_or_default();
        if groups.is_empty() {
            rows.push([
                id.clone(),
                objective.clone(),
                window.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                s["state"].as_str().unwrap_or("").into(),
            ]);
        }
        for g in groups {
            rows.push([
                format!("{id}{}", group_name(&g)),
                objective.clone(),
                window.clone(),
                percent(&g["sli"], 3),
                percent(&g["budget"]["remaining_ratio"], 1),
                burn(&g, "1h"),
                g["state"].as_str().unwrap_or("").to_string(),
            ]);
        }
    }
    render_table(&rows)
}

fn show_text(s: &Value) -> String {
    let str_of = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut out = format!(
        "{}/{}: {}\n  owner {}, objective {}% over {} ({}), {}\n  period {} .. {}, evaluated at {}\n",
        str_of(&s["service"]),
        str_of(&s["slo"]),
        str_of(&s["state"]),
        str_of(&s["owner"]),
        s["objective"].as_f64().unwrap_or(0.0),
        str_of(&s["window"]),
        str_of(&s["budgeting"]),
        str_of(&s["description"]),
        str_of(&s["period"]["start"]),
        str_of(&s["period"]["end"]),
        str_of(&s["evaluated_at"]),
    );
    for g in s["groups"].as_array().into_iter().flatten() {
        let b = &g["budget"];
        out.push_str(&format!(
            "\n  {}{}\n    SLI {}  events {} good / {} total\n    budget {} {}: consumed {} ({}), remaining {} ({})\n",
            str_of(&g["state"]),
            group_name(g),
            percent(&g["sli"], 4),
            g["events"]["good"].as_f64().unwrap_or(0.0),
            g["events"]["total"].as_f64().unwrap_or(0.0),
            b["total"].as_f64().map_or_else(|| "-".into(), |x| format!("{x:.2}")),
            str_of(&b["unit"]),
            b["consumed"].as_f64().map_or_else(|| "-".into(), |x| format!("{x:.2}")),
            percent(&b["consumed_ratio"], 1),
            b["remaining"]
                .as_f64()
                .map_or_else(|| "-".into(), |x| format!("{x:.2}")),
            percent(&b["remaining_ratio"], 1),
        ));
        if let Some(secs) = b["remaining_seconds"].as_f64() {
            out.push_str(&format!("    budget time remaining {:.0}s\n", secs));
        }
        let rates: Vec<String> = g["burn_rates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                format!(
                    "{} {}",
                    str_of(&r["window"]),
                    burn(g, r["window"].as_str().unwrap_or(""))
                )
            })
            .collect();
        out.push_str(&format!("    burn {}\n", rates.join(", ")));
        if let Some(at) = g["exhaustion"]["at"].as_str() {
            out.push_str(&format!("    budget exhausted at {at} at the 1h burn rate\n"));
        }
        let alerts: Vec<String> = g["alerts"].as_array().into_iter().flatten().map(str_of).collect();
        if !alerts.is_empty() {
            out.push_str(&format!("    firing: {}\n", alerts.join(", ")));
        }
    }
    for n in s["notes"].as_array().into_iter().flatten() {
        out.push_str(&format!("  note: {}\n", str_of(n)));
    }
    out
}

/// `nines slo import FILE...`: the nines YAML on stdout, notes on stderr;
/// exit 1 if any document could not be imported (nothing is printed then).
pub fn import(files: &[std::path::PathBuf], owner: Option<String>, sloth_window: Option<String>) -> ExitCode {
    use std::io::Read;
    let opts = nines_slo::import::ImportOptions { owner, sloth_window };
    let mut all = nines_slo::import::Imported::default();
    let mut failed = false;
    for file in files {
        let name = file.display().to_string();
        let mut text = String::new();
        let read = if name == "-" {
            std::io::stdin().read_to_string(&mut text).map(|_| ())
        } else {
            std::fs::read_to_string(file).map(|t| text = t)
        };
        if let Err(e) = read {
            eprintln!("{name}: cannot read: {e}");
            failed = true;
            continue;
        }
        match nines_slo::import::import(&text, &opts) {
            Ok(got) => {
                all.notes.extend(got.notes.into_iter().map(|n| format!("{name}: {n}")));
                all.slos.extend(got.slos);
            }
            Err(errors) => {
                failed = true;
                for e in errors {
                    eprintln!("{name}: {e}");
                }
            }
        }
    }
    for note in &all.notes {
        eprintln!("note: {note}");
    }
    if failed {
        return ExitCode::FAILURE;
    }
    #[derive(serde::Serialize)]
    struct Out<'a> {
        slos: &'a [nines_slo::SloSpec],
    }
    match serde_norway::to_string(&Out { slos: &all.slos }) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("slo import: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `nines slo rules`: the Prometheus rule file for `slos` (those of
/// `service` only, if given) on stdout, where Prometheus will differ from
/// nines on stderr.
pub fn rules(slos: &[nines_slo::Slo], config: &std::path::Path, service: Option<&str>) -> ExitCode {
    let chosen: Vec<nines_slo::Slo> = slos
        .iter()
        .filter(|s| service.is_none_or(|name| s.service == name))
        .cloned()
        .collect();
    if chosen.is_empty() {
        match service {
            Some(name) => eprintln!("slo rules: {} has no SLOs of service {name:?}", config.display()),
            None => eprintln!("slo rules: {} has no SLOs", config.display()),
        }
        return ExitCode::FAILURE;
    }
    let generated = match nines_slo::rules::prometheus_rules(&chosen) {
        Ok(g) => g,
        Err(errors) => {
            for e in errors {
                eprintln!("slo rules: {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    for note in &generated.notes {
        eprintln!("note: {note}");
    }
    match serde_norway::to_string(&generated.file) {
        Ok(yaml) => {
            println!(
                "# Prometheus rules for the SLOs of {}, written by `nines slo rules`.",
                config.display()
            );
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("slo rules: {e}");
            ExitCode::FAILURE
        }
    }
}
