//! Deploys and other changes, as CI systems and people report them:
//! `POST /api/v1/deploys` (nines's JSON, with the commits a deploy ships
//! for lead time), `POST /api/v1/changes` (config changes, flag flips,
//! infrastructure), and GitHub's `deployment_status` webhook. Each
//! becomes one event in the log (`deploy`, `change`).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::events::NewEvent;

/// A payload nines cannot take, with what and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(msg.into()))
}

/// Most commits one deploy may list.
pub const MAX_COMMITS: usize = 10_000;
/// Longest name, version, summary or similar field.
pub const MAX_FIELD: usize = 1_024;

/// How a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployStatus {
    /// It is live.
    Success,
    /// It did not go out.
    Failed,
    /// It went out and was taken back.
    RolledBack,
}

impl DeployStatus {
    /// As written and stored.
    pub fn name(self) -> &'static str {
        match self {
            DeployStatus::Success => "success",
            DeployStatus::Failed => "failed",
            DeployStatus::RolledBack => "rolled_back",
        }
    }

    /// The inverse of [`DeployStatus::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [DeployStatus::Success, DeployStatus::Failed, DeployStatus::RolledBack]
            .into_iter()
            .find(|x| x.name() == s)
    }
}

/// One commit a deploy ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Its hash.
    pub sha: String,
    /// When it was authored, ms.
    pub authored_at: Option<i64>,
    /// When it was committed, ms: where lead time starts.
    pub committed_at: Option<i64>,
}

/// A deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    /// The service deployed.
    pub service: String,
    /// Where: `production`, `staging`…
    pub environment: String,
    /// What: a version or image tag.
    pub version: String,
    /// The commit deployed (the head).
    pub commit: Option<String>,
    /// The commits it ships.
    pub commits: Vec<Commit>,
    /// How it ended.
    pub status: DeployStatus,
    /// It takes a previous version back out.
    pub rollback: bool,
    /// An unplanned fix.
    pub hotfix: bool,
    /// When it finished, ms.
    pub at: i64,
    /// When it started, ms.
    pub started_at: Option<i64>,
    /// Who or what deployed.
    pub actor: Option<String>,
    /// A link to the pipeline run.
    pub url: Option<String>,
}

/// A change that is not a deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The service it touches.
    pub service: String,
    /// `config`, `flag`, `infrastructure`, `database`, `other`.
    pub kind: String,
    /// What changed, in a line.
    pub summary: String,
    /// When, ms.
    pub at: i64,
    /// Who.
    pub actor: Option<String>,
    /// Anything else, as given.
    pub details: Value,
}

/// The kinds a change may have.
pub const CHANGE_KINDS: [&str; 5] = ["config", "flag", "infrastructure", "database", "other"];

fn field(value: &str, at: &str) -> Result<String, DecodeError> {
    let v = value.trim();
    if v.is_empty() {
        return err(format!("{at}: required"));
    }
    if v.len() > MAX_FIELD || v.chars().any(char::is_control) {
        return err(format!("{at}: at most {MAX_FIELD} bytes, no control characters"));
    }
    Ok(v.to_string())
}

fn optional(value: Option<&str>, at: &str) -> Result<Option<String>, DecodeError> {
    value.filter(|v| !v.trim().is_empty()).map(|v| field(v, at)).transpose()
}

fn time(value: Option<&str>, at: &str) -> Result<Option<i64>, DecodeError> {
    match value {
        None | Some("") => Ok(None),
        Some(t) => t
            .parse::<jiff::Timestamp>()
            .map(|t| Some(t.as_millisecond()))
            .or_else(|e| err(format!("{at}: {t:?} is not an RFC 3339 time: {e}"))),
    }
}

fn sha(value: &str, at: &str) -> Result<String, DecodeError> {
    let v = value.trim();
    if (4..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v.to_ascii_lowercase())
    } else {
        err(format!("{at}: {value:?} is not a commit hash (4 to 64 hex digits)"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeployBody {
    service: String,
    environment: String,
    version: String,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    commit_time: Option<String>,
    #[serde(default)]
    commits: Vec<CommitBody>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    rollback: bool,
    #[serde(default)]
    hotfix: bool,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    finished_at: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CommitBody {
    sha: String,
    #[serde(default)]
    authored_at: Option<String>,
    #[serde(default)]
    committed_at: Option<String>,
}

/// Reads `POST /api/v1/deploys`; `now` stands for a missing `finishedAt`.
pub fn decode_deploy(bytes: &[u8], now: i64) -> Result<Deploy, DecodeError> {
    let b: DeployBody = serde_json::from_slice(bytes).or_else(|e| err(format!("deploy: {e}")))?;
    if b.commits.len() > MAX_COMMITS {
        return err(format!("commits: more than {MAX_COMMITS}"));
    }
    let commit = b.commit.as_deref().map(|c| sha(c, "commit")).transpose()?;
    let mut commits = Vec::with_capacity(b.commits.len() + 1);
    for (i, c) in b.commits.iter().enumerate() {
        commits.push(Commit {
            sha: sha(&c.sha, &format!("commits[{i}].sha"))?,
            authored_at: time(c.authored_at.as_deref(), &format!("commits[{i}].authoredAt"))?,
            committed_at: time(c.committed_at.as_deref(), &format!("commits[{i}].committedAt"))?,
        });
    }
    let commit_time = time(b.commit_time.as_deref(), "commitTime")?;
    match (&commit, commit_time) {
        (None, Some(_)) => return err("commitTime: needs commit"),
        (Some(head), Some(t)) if !commits.iter().any(|c| &c.sha == head) => commits.push(Commit {
            sha: head.clone(),
            authored_at: None,
            committed_at: Some(t),
        }),
        _ => {}
    }
    let status = match b.status.as_deref() {
        None => DeployStatus::Success,
        Some(s) => DeployStatus::parse(s)
            .ok_or_else(|| DecodeError(format!("status: {s:?} is not success, failed or rolled_back")))?,
    };
    let at = time(b.finished_at.as_deref(), "finishedAt")?.unwrap_or(now);
    let started_at = time(b.started_at.as_deref(), "startedAt")?;
    if started_at.is_some_and(|s| s > at) {
        return err("startedAt: after finishedAt");
    }
    if let Some(c) = commits.iter().find(|c| c.committed_at.is_some_and(|t| t > at)) {
        return err(format!("commits: {} was committed after the deploy finished", c.sha));
    }
    let url = optional(b.url.as_deref(), "url")?;
    if url
        .as_deref()
        .is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://")))
    {
        return err("url: must be an http:// or https:// URL");
    }
    Ok(Deploy {
        service: field(&b.service, "service")?,
        environment: field(&b.environment, "environment")?,
        version: field(&b.version, "version")?,
        commit,
        commits,
        status,
        rollback: b.rollback,
        hotfix: b.hotfix,
        at,
        started_at,
        actor: optional(b.actor.as_deref(), "actor")?,
        url,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    service: String,
    kind: String,
    summary: String,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    details: Option<Value>,
}

/// Reads `POST /api/v1/changes`; `now` stands for a missing `at`.
pub fn decode_change(bytes: &[u8], now: i64) -> Result<Change, DecodeError> {
    let b: ChangeBody = serde_json::from_slice(bytes).or_else(|e| err(format!("change: {e}")))?;
    if !CHANGE_KINDS.contains(&b.kind.as_str()) {
        return err(format!("kind: {:?} is not one of {}", b.kind, CHANGE_KINDS.join(", ")));
    }
    let details = b.details.unwrap_or(Value::Null);
    if details.to_string().len() > 64 * 1024 {
        return err("details: larger than 64 KiB");
    }
    Ok(Change {
        service: field(&b.service, "service")?,
        kind: b.kind,
        summary: field(&b.summary, "summary")?,
        at: time(b.at.as_deref(), "at")?.unwrap_or(now),
        actor: optional(b.actor.as_deref(), "actor")?,
        details,
    })
}

#[derive(Deserialize)]
struct GhEvent {
    deployment_status: GhStatus,
    deployment: GhDeployment,
    repository: GhRepository,
}

#[derive(Deserialize)]
struct GhStatus {
    state: String,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    creator: Option<GhUser>,
    #[serde(default)]
    target_url: Option<String>,
    #[serde(default)]
    log_url: Option<String>,
}

#[derive(Deserialize)]
struct GhDeployment {
    sha: String,
    #[serde(default, rename = "ref")]
    reference: Option<String>,
    environment: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct GhRepository {
    name: String,
}

#[derive(Deserialize)]
struct GhUser {
    login: String,
}

/// Reads GitHub's `deployment_status` webhook. Only finished states
/// (`success`, `failure`, `error`) are deploys; the others are `None`.
/// The service is `deployment.payload.service` when given, else the
/// repository's name; a `rollback` or `hotfix` flag in the payload, or
/// a description starting with "rollback"/"hotfix", marks the deploy.
pub fn decode_github_deployment_status(bytes: &[u8], now: i64) -> Result<Option<Deploy>, DecodeError> {
    let e: GhEvent = serde_json::from_slice(bytes).or_else(|e| err(format!("deployment_status event: {e}")))?;
    let status = match e.deployment_status.state.as_str() {
        "success" => DeployStatus::Success,
        "failure" | "error" => DeployStatus::Failed,
        _ => return Ok(None),
    };
    let service = match e.deployment.payload.get("service").and_then(Value::as_str) {
        Some(s) => field(s, "deployment.payload.service")?,
        None => field(&e.repository.name, "repository.name")?,
    };
    let description = e
        .deployment
        .description
        .clone()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let flag = |name: &str| {
        e.deployment.payload.get(name).and_then(Value::as_bool).unwrap_or(false) || description.starts_with(name)
    };
    let version = e
        .deployment
        .reference
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| e.deployment.sha.clone());
    let url = e
        .deployment_status
        .log_url
        .or(e.deployment_status.target_url)
        .filter(|u| u.starts_with("http"));
    Ok(Some(Deploy {
        service,
        environment: field(&e.deployment.environment, "deployment.environment")?,
        version: field(&version, "deployment.ref")?,
        commit: Some(sha(&e.deployment.sha, "deployment.sha")?),
        commits: Vec::new(),
        status,
        rollback: flag("rollback"),
        hotfix: flag("hotfix"),
        at: time(
            e.deployment_status.updated_at.as_deref(),
            "deployment_status.updated_at",
        )?
        .unwrap_or(now),
        started_at: time(e.deployment.created_at.as_deref(), "deployment.created_at")?,
        actor: e.deployment_status.creator.map(|c| c.login),
        url,
    }))
}

fn rfc3339(ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(ms).ok().map(|t| t.to_string())
}

impl Deploy {
    /// Its event in the log.
    pub fn event(&self) -> NewEvent {
        NewEvent {
            at: self.at,
            kind: "deploy".into(),
            service: Some(self.service.clone()),
            actor: self.actor.clone(),
            payload: json!({
                "environment": self.environment,
                "version": self.version,
                "commit": self.commit,
                "commits": self.commits.iter().map(|c| json!({
                    "sha": c.sha,
                    "authoredAt": c.authored_at.and_then(rfc3339),
                    "committedAt": c.committed_at.and_then(rfc3339),
                })).collect::<Vec<_>>(),
                "status": self.status.name(),
                "rollback": self.rollback,
                "hotfix": self.hotfix,
                "startedAt": self.started_at.and_then(rfc3339),
                "url": self.url,
            }),
        }
    }
}

impl Change {
    /// Its event in the log.
    pub fn event(&self) -> NewEvent {
        NewEvent {
            at: self.at,
            kind: "change".into(),
            service: Some(self.service.clone()),
            actor: self.actor.clone(),
            payload: json!({"kind": self.kind, "summary": self.summary, "details": self.details}),
        }
    }
}

/// Reads `git log --format='%H %aI %cI'` output: one commit per line,
/// hash then authored and committed times. Blank lines are skipped.
pub fn parse_git_log(text: &str) -> Result<Vec<Value>, DecodeError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [hash, authored, committed] = parts[..] else {
            return err(format!(
                "line {}: expected HASH AUTHORED COMMITTED (git log --format='%H %aI %cI')",
                n + 1
            ));
        };
        let at = format!("line {}", n + 1);
        sha(hash, &at)?;
        time(Some(authored), &at)?;
        time(Some(committed), &at)?;
        out.push(json!({"sha": hash, "authoredAt": authored, "committedAt": committed}));
    }
    if out.len() > MAX_COMMITS {
        return err(format!("more than {MAX_COMMITS} commits"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_514_400_000;

    #[test]
    fn deploys_read_with_their_commits_and_marks() {
        let d = decode_deploy(
            br#"{"service":"checkout","environment":"production","version":"v1.2.3","commit":"ABC123",
                "commitTime":"2026-11-24T08:00:00Z",
                "commits":[{"sha":"def456","authoredAt":"2026-11-23T10:00:00Z","committedAt":"2026-11-23T11:00:00Z"}],
                "hotfix":true,"finishedAt":"2026-11-24T09:00:00Z","actor":"ci"}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(d.commit.as_deref(), Some("abc123"));
        assert_eq!(d.commits.len(), 2);
        assert_eq!(d.commits[1].committed_at, Some(NOW - 2 * 3_600_000));
        assert!(d.hotfix && !d.rollback);
        assert_eq!(d.at, NOW - 3_600_000);
        let e = d.event();
        assert_eq!((e.kind.as_str(), e.service.as_deref()), ("deploy", Some("checkout")));
        assert_eq!(e.payload["commits"][0]["committedAt"], "2026-11-23T11:00:00Z");

        for (body, says) in [
            (r#"{"service":"","environment":"p","version":"1"}"#, "service: required"),
            (
                r#"{"service":"s","environment":"p","version":"1","status":"meh"}"#,
                "status:",
            ),
            (
                r#"{"service":"s","environment":"p","version":"1","commit":"xyz"}"#,
                "commit:",
            ),
            (
                r#"{"service":"s","environment":"p","version":"1","commitTime":"2026-01-01T00:00:00Z"}"#,
                "needs commit",
            ),
            (
                r#"{"service":"s","environment":"p","version":"1","finishedAt":"2026-01-01T00:00:00Z","commits":[{"sha":"abcd","committedAt":"2026-02-01T00:00:00Z"}]}"#,
                "committed after",
            ),
            (
                r#"{"service":"s","environment":"p","version":"1","extra":1}"#,
                "unknown field",
            ),
            ("[]", "deploy:"),
        ] {
            let e = decode_deploy(body.as_bytes(), NOW).unwrap_err();
            assert!(e.0.contains(says), "{body}: {e}");
        }
    }

    #[test]
    fn changes_and_github_deployment_statuses_read() {
        let c = decode_change(
            br#"{"service":"checkout","kind":"flag","summary":"new-cart on for 10%"}"#,
            NOW,
        )
        .unwrap();
        assert_eq!((c.at, c.event().kind.as_str()), (NOW, "change"));
        assert!(decode_change(br#"{"service":"s","kind":"vibes","summary":"x"}"#, NOW).is_err());

        let gh = |state: &str| {
            format!(
                r#"{{"action":"created","deployment_status":{{"state":"{state}","updated_at":"2026-11-24T09:30:00Z","creator":{{"login":"octocat"}},"log_url":"https://ci.example/run/1"}},
                   "deployment":{{"sha":"0123abcd","ref":"v2.0.0","environment":"production","created_at":"2026-11-24T09:20:00Z","payload":{{"service":"checkout"}},"description":"Rollback to v1"}},
                   "repository":{{"name":"shop","full_name":"acme/shop"}}}}"#
            )
        };
        let d = decode_github_deployment_status(gh("success").as_bytes(), NOW)
            .unwrap()
            .unwrap();
        assert_eq!(
            (d.service.as_str(), d.version.as_str(), d.status),
            ("checkout", "v2.0.0", DeployStatus::Success)
        );
        assert!(d.rollback);
        assert_eq!(d.actor.as_deref(), Some("octocat"));
        assert_eq!(d.started_at, Some(NOW - 40 * 60_000));
        assert_eq!(
            decode_github_deployment_status(gh("failure").as_bytes(), NOW)
                .unwrap()
                .unwrap()
                .status,
            DeployStatus::Failed
        );
        assert_eq!(
            decode_github_deployment_status(gh("in_progress").as_bytes(), NOW).unwrap(),
            None
        );
        assert!(decode_github_deployment_status(b"{}", NOW).is_err());
    }

    #[test]
    fn git_log_lines_become_commits() {
        let commits = parse_git_log(
            "0123abcd 2026-11-23T10:00:00+01:00 2026-11-23T11:00:00+01:00\n\n4567ef01 2026-11-22T10:00:00Z 2026-11-22T10:05:00Z\n",
        )
        .unwrap();
        assert_eq!(commits.len(), 2);
        assert!(parse_git_log("0123abcd yesterday today").is_err());
        assert!(parse_git_log("just-one-field").is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode_deploy(&bytes, NOW);
            let _ = decode_change(&bytes, NOW);
            let _ = decode_github_deployment_status(&bytes, NOW);
            let _ = parse_git_log(&String::from_utf8_lossy(&bytes));
        }
    }
}
