//! `nines deploy record`: tell a running server about a deploy, from a
//! CI pipeline, with the commits it ships for lead time.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{json, Value};

use crate::client::Client;

/// What `nines deploy record` sends.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The service deployed.
    #[arg(long, short)]
    pub service: String,
    /// Where (`production`, `staging`…).
    #[arg(long, short, default_value = "production")]
    pub env: String,
    /// What: a version or image tag.
    #[arg(long, short)]
    pub version: String,
    /// The commit deployed.
    #[arg(long)]
    pub commit: Option<String>,
    /// When that commit was made (RFC 3339), when --changes is not given.
    #[arg(long, requires = "commit", conflicts_with = "changes")]
    pub commit_time: Option<String>,
    /// The commits it ships: `git log --format='%H %aI %cI' PREVIOUS..NEW`
    /// output, or `-` for standard input.
    #[arg(long)]
    pub changes: Option<PathBuf>,
    /// `success`, `failed` or `rolled_back`.
    #[arg(long, default_value = "success")]
    pub status: String,
    /// It takes a previous version back out.
    #[arg(long)]
    pub rollback: bool,
    /// An unplanned fix.
    #[arg(long)]
    pub hotfix: bool,
    /// When it started (RFC 3339).
    #[arg(long)]
    pub started_at: Option<String>,
    /// When it finished (RFC 3339); now if not given.
    #[arg(long)]
    pub finished_at: Option<String>,
    /// A link to the pipeline run.
    #[arg(long)]
    pub url: Option<String>,
    /// Who deploys; $USER if not given.
    #[arg(long, env = "USER")]
    pub actor: Option<String>,
    /// The server to tell.
    #[arg(long, default_value = "http://127.0.0.1:9999")]
    pub server: String,
}

fn commits(args: &RecordArgs) -> Result<Vec<Value>, String> {
    let Some(path) = &args.changes else {
        return Ok(Vec::new());
    };
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("--changes -: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("--changes {}: {e}", path.display()))?
    };
    nines_learning::changes::parse_git_log(&text).map_err(|e| format!("--changes {}: {e}", path.display()))
}

/// Sends the deploy; prints the event's id.
pub fn record(args: &RecordArgs, client: &Client) -> ExitCode {
    let commits = match commits(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nines: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut body = json!({
        "service": args.service,
        "environment": args.env,
        "version": args.version,
        "status": args.status,
        "rollback": args.rollback,
        "hotfix": args.hotfix,
        "commits": commits,
    });
    for (key, value) in [
        ("commit", &args.commit),
        ("commitTime", &args.commit_time),
        ("startedAt", &args.started_at),
        ("finishedAt", &args.finished_at),
        ("url", &args.url),
        ("actor", &args.actor),
    ] {
        if let Some(v) = value {
            body[key] = json!(v);
        }
    }
    let url = format!("{}/api/v1/deploys", args.server.trim_end_matches('/'));
    match client.send_json("deploy record", "POST", &url, &[], Some(&body)) {
        Ok(answer) => {
            println!("{}", answer["data"]["id"]);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
