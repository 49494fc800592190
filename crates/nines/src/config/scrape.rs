//! `global:` and `scrape_configs:` in Prometheus's shape, so the scrape
//! section of a `prometheus.yml` can be pasted in unchanged (for the
//! options listed here; others are refused by name).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use nines_scrape::relabel::{compile_all, RelabelConfig};
use nines_scrape::{Auth, FileSdSpec, ScrapeSpec, TargetGroup, TlsSpec};
use serde::Deserialize;

use super::Key;
use crate::units::{ByteSize, Duration};

/// `global:` defaults for every scrape job.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    /// Default time between scrapes.
    pub scrape_interval: Duration,
    /// Default scrape timeout.
    pub scrape_timeout: Duration,
    /// Default time between rule group evaluations.
    pub evaluation_interval: Duration,
    /// Labels that identify this nines to the outside: `$externalLabels`
    /// in rule templates.
    pub external_labels: BTreeMap<String, String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        // Prometheus's defaults.
        Self {
            scrape_interval: Duration(60_000),
            scrape_timeout: Duration(10_000),
            evaluation_interval: Duration(60_000),
            external_labels: BTreeMap::new(),
        }
    }
}

/// One `scrape_configs` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The job name: the `job` label.
    pub job_name: String,
    /// Overrides `global.scrape_interval`.
    pub scrape_interval: Option<Duration>,
    /// Overrides `global.scrape_timeout` (capped at the interval).
    pub scrape_timeout: Option<Duration>,
    /// Path scraped, `/metrics` by default.
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// `http` (default) or `https`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// URL query parameters.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// HTTP basic auth.
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization` header.
    pub authorization: Option<Authorization>,
    /// TLS for https targets.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Targets listed here.
    #[serde(default)]
    pub static_configs: Vec<TargetGroup>,
    /// Target files.
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Scraped labels win over target labels.
    #[serde(default)]
    pub honor_labels: bool,
    /// Use timestamps from the exposition (default true).
    #[serde(default = "yes")]
    pub honor_timestamps: bool,
    /// Target relabeling.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Series relabeling.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Most samples per scrape, 0 = unlimited.
    #[serde(default)]
    pub sample_limit: usize,
    /// Most labels per series, 0 = unlimited.
    #[serde(default)]
    pub label_limit: usize,
    /// Longest label name, 0 = unlimited.
    #[serde(default)]
    pub label_name_length_limit: usize,
    /// Longest label value, 0 = unlimited.
    #[serde(default)]
    pub label_value_length_limit: usize,
    /// Largest uncompressed body, 0 = unlimited.
    #[serde(default)]
    pub body_size_limit: ByteSize,
}

fn default_metrics_path() -> String {
    "/metrics".into()
}
fn default_scheme() -> String {
    "http".into()
}
fn yes() -> bool {
    true
}

/// `basic_auth:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password, or
    pub password: Option<String>,
    /// a file holding it.
    pub password_file: Option<PathBuf>,
}

/// `authorization:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Scheme, `Bearer` by default.
    #[serde(rename = "type", default = "bearer")]
    pub kind: String,
    /// Credentials, or
    pub credentials: Option<String>,
    /// a file holding them.
    pub credentials_file: Option<PathBuf>,
}

fn bearer() -> String {
    "Bearer".into()
}

/// `tls_config:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Extra trusted CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Skip server certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `file_sd_configs:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// Paths; `*` allowed in the last component.
    pub files: Vec<String>,
    /// Re-read at least this often (default 5m).
    #[serde(default = "five_minutes")]
    pub refresh_interval: Duration,
}

fn five_minutes() -> Duration {
    Duration(300_000)
}

fn std_duration(d: Duration) -> StdDuration {
    StdDuration::from_millis(d.0.max(0) as u64)
}

fn read_secret(path: &PathBuf, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
        .map_err(|e| format!("{what} {}: {e}", path.display()))
}

impl ScrapeConfig {
    /// The effective interval and timeout.
    fn timing(&self, global: &GlobalConfig) -> (Duration, Duration) {
        let interval = self.scrape_interval.unwrap_or(global.scrape_interval);
        // An unset timeout follows the global one but never exceeds the
        // interval, as in Prometheus.
        let timeout = self
            .scrape_timeout
            .unwrap_or(Duration(global.scrape_timeout.0.min(interval.0)));
        (interval, timeout)
    }

    /// Every problem of this entry, keyed below `scrape_configs[i]`.
    pub fn validate(&self, global: &GlobalConfig, out: &mut Vec<(Vec<Key>, String)>) -> bool {
        let before = out.len();
        let mut push = |key: &[Key], msg: String| out.push((key.to_vec(), msg));
        if self.job_name.is_empty() {
            push(&[Key::from("job_name")], "must not be empty".into());
        }
        let (interval, timeout) = self.timing(global);
        if interval.0 <= 0 {
            push(&[Key::from("scrape_interval")], "must be above zero".into());
        }
        if timeout.0 <= 0 || timeout > interval {
            push(
                &[Key::from("scrape_timeout")],
                format!("{timeout} must be above zero and at most scrape_interval ({interval})"),
            );
        }
        if self.scheme != "http" && self.scheme != "https" {
            push(
                &[Key::from("scheme")],
                format!("{:?} is not http or https", self.scheme),
            );
        }
        if !self.metrics_path.starts_with('/') {
            push(&[Key::from("metrics_path")], "must start with '/'".into());
        }
        if self.basic_auth.is_some() && self.authorization.is_some() {
            push(
                &[Key::from("authorization")],
                "give basic_auth or authorization, not both".into(),
            );
        }
        if let Some(b) = &self.basic_auth {
            if b.password.is_some() && b.password_file.is_some() {
                push(
                    &[Key::from("basic_auth")],
                    "give password or password_file, not both".into(),
                );
            }
        }
        if let Some(a) = &self.authorization {
            if a.credentials.is_some() == a.credentials_file.is_some() {
                push(
                    &[Key::from("authorization")],
                    "give exactly one of credentials or credentials_file".into(),
                );
            }
        }
        if let Some(ca) = &self.tls_config.ca_file {
            if !ca.is_file() {
                push(
                    &[Key::from("tls_config"), Key::from("ca_file")],
                    format!("{} is not a readable file", ca.display()),
                );
            }
        }
        for (i, g) in self.static_configs.iter().enumerate() {
            for t in &g.targets {
                if t.is_empty() || t.contains('/') {
                    push(
                        &[Key::from("static_configs"), Key::Index(i), Key::from("targets")],
                        format!("{t:?} is not host:port (set scheme and metrics_path separately)"),
                    );
                }
            }
            for n in g.labels.keys() {
                if !nines_tsdb::is_valid_label_name(n) {
                    push(
                        &[Key::from("static_configs"), Key::Index(i), Key::from("labels")],
                        format!("invalid label name {n:?}"),
                    );
                }
            }
        }
        for (i, f) in self.file_sd_configs.iter().enumerate() {
            if f.files.is_empty() {
                push(
                    &[Key::from("file_sd_configs"), Key::Index(i), Key::from("files")],
                    "must list at least one path".into(),
                );
            }
            for p in &f.files {
                let ext_ok = [".json", ".yml", ".yaml"].iter().any(|e| p.ends_with(e));
                if !ext_ok {
                    push(
                        &[Key::from("file_sd_configs"), Key::Index(i), Key::from("files")],
                        format!("{p:?} must end in .json, .yml or .yaml"),
                    );
                }
            }
            if f.refresh_interval.0 < 1000 {
                push(
                    &[
                        Key::from("file_sd_configs"),
                        Key::Index(i),
                        Key::from("refresh_interval"),
                    ],
                    "must be at least 1s".into(),
                );
            }
        }
        for (field, rules) in [
            ("relabel_configs", &self.relabel_configs),
            ("metric_relabel_configs", &self.metric_relabel_configs),
        ] {
            for (i, r) in rules.iter().enumerate() {
                if let Err(e) = nines_scrape::relabel::Rule::compile(r) {
                    push(&[Key::from(field), Key::Index(i)], e.0);
                }
            }
        }
        out.len() == before
    }

    /// The runtime spec and a fingerprint that changes whenever anything
    /// that affects scraping does (secrets read from files included).
    pub fn to_spec(&self, global: &GlobalConfig) -> Result<(ScrapeSpec, u64), String> {
        let (interval, timeout) = self.timing(global);
        let auth = match (&self.basic_auth, &self.authorization) {
            (Some(b), _) => Some(Auth::Basic {
                username: b.username.clone(),
                password: match (&b.password, &b.password_file) {
                    (_, Some(f)) => read_secret(f, "basic_auth.password_file")?,
                    (Some(p), None) => p.clone(),
                    (None, None) => String::new(),
                },
            }),
            (None, Some(a)) => Some(Auth::Authorization {
                scheme: a.kind.clone(),
                credentials: match (&a.credentials, &a.credentials_file) {
                    (_, Some(f)) => read_secret(f, "authorization.credentials_file")?,
                    (Some(c), None) => c.clone(),
                    (None, None) => String::new(),
                },
            }),
            (None, None) => None,
        };
        let mut hasher = rustc_hash::FxHasher::default();
        format!("{self:?}{global:?}").hash(&mut hasher);
        if let Some(a) = &auth {
            match a {
                Auth::Basic { password, .. } => password.hash(&mut hasher),
                Auth::Authorization { credentials, .. } => credentials.hash(&mut hasher),
            }
        }
        let spec = ScrapeSpec {
            job_name: self.job_name.clone(),
            interval: std_duration(interval),
            timeout: std_duration(timeout),
            metrics_path: self.metrics_path.clone(),
            scheme: self.scheme.clone(),
            params: self.params.clone(),
            auth,
            tls: TlsSpec {
                ca_file: self.tls_config.ca_file.clone(),
                insecure_skip_verify: self.tls_config.insecure_skip_verify,
            },
            static_groups: self.static_configs.clone(),
            file_sd: self
                .file_sd_configs
                .iter()
                .map(|f| FileSdSpec {
                    files: f.files.clone(),
                    refresh_interval: std_duration(f.refresh_interval),
                })
                .collect(),
            honor_labels: self.honor_labels,
            honor_timestamps: self.honor_timestamps,
            relabel: compile_all(&self.relabel_configs).map_err(|e| format!("relabel_configs: {e}"))?,
            metric_relabel: compile_all(&self.metric_relabel_configs)
                .map_err(|e| format!("metric_relabel_configs: {e}"))?,
            sample_limit: self.sample_limit,
            label_limit: self.label_limit,
            label_name_length_limit: self.label_name_length_limit,
            label_value_length_limit: self.label_value_length_limit,
            body_size_limit: self.body_size_limit.0,
        };
        Ok((spec, hasher.finish()))
    }
}
