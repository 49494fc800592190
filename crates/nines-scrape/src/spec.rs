//! What one scrape job is, in runtime form: the binary's config loader
//! turns a `scrape_configs` entry into a [`ScrapeSpec`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::relabel::Rule;

/// One `scrape_configs` entry, validated.
#[derive(Debug, Clone)]
pub struct ScrapeSpec {
    /// The `job` label and the scrape pool name.
    pub job_name: String,
    /// Time between scrapes of one target.
    pub interval: Duration,
    /// Longest a scrape may take; at most `interval`.
    pub timeout: Duration,
    /// Default path, overridable per target by `__metrics_path__`.
    pub metrics_path: String,
    /// `http` or `https`, overridable by `__scheme__`.
    pub scheme: String,
    /// URL query parameters, overridable by `__param_<name>`.
    pub params: BTreeMap<String, Vec<String>>,
    /// Credentials sent with every scrape.
    pub auth: Option<Auth>,
    /// TLS settings for `https` targets.
    pub tls: TlsSpec,
    /// Targets written in the config.
    pub static_groups: Vec<TargetGroup>,
    /// Target files.
    pub file_sd: Vec<FileSdSpec>,
    /// Scraped labels win over target labels on conflict.
    pub honor_labels: bool,
    /// Timestamps in the exposition are used (else the scrape time).
    pub honor_timestamps: bool,
    /// Rules applied to discovered targets.
    pub relabel: Vec<Rule>,
    /// Rules applied to every scraped series.
    pub metric_relabel: Vec<Rule>,
    /// Most samples one scrape may yield after metric relabeling; 0 = no
    /// limit. Over it the scrape fails.
    pub sample_limit: usize,
    /// Most labels on one scraped series; 0 = no limit.
    pub label_limit: usize,
    /// Longest label name; 0 = no limit.
    pub label_name_length_limit: usize,
    /// Longest label value; 0 = no limit.
    pub label_value_length_limit: usize,
    /// Largest uncompressed body; 0 = no limit.
    pub body_size_limit: u64,
}

/// Credentials for scrapes.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `Authorization: <scheme> <credentials>`.
    Authorization {
        /// Scheme, `Bearer` by default.
        scheme: String,
        /// The credentials.
        credentials: String,
    },
}

impl std::fmt::Debug for Auth {
    // Secrets never reach logs, even through debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <secret>)"),
            Auth::Authorization { scheme, .. } => write!(f, "Authorization({scheme} <secret>)"),
        }
    }
}

/// TLS settings for scraping `https` targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSpec {
    /// PEM file of CA certificates trusted in addition to the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (testing only).
    pub insecure_skip_verify: bool,
}

/// A set of targets sharing labels, from the config or a target file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels added to every target of the group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSdSpec {
    /// Paths; the last component may contain `*` wildcards.
    pub files: Vec<String>,
    /// Re-read at least this often even without a change.
    pub refresh_interval: Duration,
}
