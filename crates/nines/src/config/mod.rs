//! The nines configuration file: YAML, every section optional, unknown keys
//! refused. `nines check` and `nines serve` load it the same way.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::units::{ByteSize, Duration};

pub mod auth;
pub(crate) mod files;
pub mod heartbeats;
pub mod incidents;
pub mod routing;
pub(crate) mod rules;
pub mod scrape;
mod slos;
pub mod smtp;

pub use auth::AuthConfig;
pub use scrape::{GlobalConfig, ScrapeConfig};

/// The whole configuration tree.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP listener.
    pub server: ServerConfig,
    /// The embedded time-series store.
    pub storage: StorageConfig,
    /// Limits on what ingestion accepts.
    pub ingest: IngestConfig,
    /// Defaults for scrape jobs (Prometheus's `global:`).
    pub global: GlobalConfig,
    /// Scrape jobs (Prometheus's `scrape_configs:`).
    pub scrape_configs: Vec<ScrapeConfig>,
    /// API tokens.
    pub auth: AuthConfig,
    /// PromQL engine limits.
    pub query: QueryConfig,
    /// SLOs written here.
    pub slos: Vec<nines_slo::SloSpec>,
    /// Files, or folders of `*.yaml`/`*.yml` files, with more `slos:`;
    /// relative to this file.
    pub slo_files: Vec<PathBuf>,
    /// Maintenance windows written here (`slo_files` may hold more).
    pub maintenance: Vec<nines_slo::maintenance::MaintenanceSpec>,
    /// The error budget policy the release gate applies.
    pub budget_policy: nines_slo::gate::PolicyConfig,
    /// Prometheus rule files: files, folders or `*` patterns, relative
    /// to this file.
    pub rule_files: Vec<PathBuf>,
    /// What alerts that page must carry.
    pub alerting: AlertingConfig,
    /// Alerts from outside.
    pub integrations: IntegrationsConfig,
    /// Jobs that must check in every interval.
    pub heartbeats: Vec<heartbeats::HeartbeatConfig>,
    /// Alertmanager's inhibition rules: a firing alert holds back others.
    pub inhibit_rules: Vec<nines_routing::inhibit::InhibitRuleSpec>,
    /// Alertmanager's route tree: where alerts go and how they group.
    pub route: Option<nines_routing::route::RouteSpec>,
    /// Where notifications go.
    pub receivers: Vec<nines_routing::receiver::ReceiverSpec>,
    /// Named time intervals routes mute in or are active in.
    pub time_intervals: Vec<nines_routing::interval::TimeIntervalSpec>,
    /// People who can be paged.
    pub users: Vec<nines_oncall::directory::UserSpec>,
    /// Groups of users.
    pub teams: Vec<nines_oncall::directory::TeamSpec>,
    /// On-call schedules: layers of rotations, with overrides.
    pub schedules: Vec<nines_oncall::directory::ScheduleSpec>,
    /// Who a page notifies, level by level.
    pub escalation_policies: Vec<nines_oncall::escalation::PolicySpec>,
    /// Message templates replacing the defaults.
    pub templates: nines_routing::template::TemplatesSpec,
    /// Incident policy: which pages declare one.
    pub incidents: incidents::IncidentsConfig,
    /// The auto-declare rules, validated.
    #[serde(skip)]
    pub auto_declare_loaded: Vec<incidents::AutoDeclare>,
    /// DORA metrics: which environments are production, which bands.
    pub dora: incidents::DoraConfig,
    /// `incidents:` and `dora:` settings, validated.
    #[serde(skip)]
    pub learning_loaded: nines_learning::settings::Settings,
    /// The mail server email goes through.
    pub smtp: Option<smtp::SmtpConfig>,
    /// The templates, compiled.
    #[serde(skip)]
    pub templates_loaded: std::sync::Arc<nines_routing::template::Templates>,
    /// Users, teams and schedules, validated.
    #[serde(skip)]
    pub oncall_loaded: std::sync::Arc<nines_oncall::Directory>,
    /// The route tree and what it names, validated (None: no `route:`).
    #[serde(skip)]
    pub routing_loaded: Option<routing::RoutingLoaded>,
    /// The inhibition rules, validated.
    #[serde(skip)]
    pub inhibit_loaded: Vec<nines_routing::inhibit::InhibitRule>,
    /// Every rule group of `rule_files`, validated.
    #[serde(skip)]
    pub rules_loaded: Vec<nines_alerting::rulefile::RuleGroup>,
    /// Problems that do not stop nines (e.g. `alerting.page_annotations:
    /// warn`), for `nines check` and the log.
    #[serde(skip)]
    pub warnings: Vec<Problem>,
    /// Every SLO, inline and from files, validated.
    #[serde(skip)]
    pub slos_loaded: Vec<nines_slo::Slo>,
    /// The budget policy, validated.
    #[serde(skip)]
    pub policies_loaded: nines_slo::gate::Policies,
    /// Every maintenance window, inline and from files, validated.
    #[serde(skip)]
    pub maintenance_loaded: Vec<nines_slo::maintenance::Maintenance>,
}

/// `alerting:`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// `severity` label values that page someone.
    pub page_severities: Vec<String>,
    /// Whether a paging alert without `summary`, `impact` and a playbook
    /// is an error (`enforce`) or a warning (`warn`).
    pub page_annotations: Strictness,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        let policy = nines_alerting::rulefile::PagePolicy::default();
        Self {
            page_severities: policy.severities,
            page_annotations: Strictness::Enforce,
        }
    }
}

impl AlertingConfig {
    /// The policy rule files are checked against.
    pub fn page_policy(&self) -> nines_alerting::rulefile::PagePolicy {
        nines_alerting::rulefile::PagePolicy {
            severities: self.page_severities.clone(),
            enforce: self.page_annotations == Strictness::Enforce,
        }
    }
}

/// `integrations:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrationsConfig {
    /// The PagerDuty Events API v2 endpoint.
    pub pagerduty: PagerdutyConfig,
}

impl IntegrationsConfig {
    /// PagerDuty routing key → service.
    pub fn routing_keys(&self) -> std::collections::HashMap<String, String> {
        self.pagerduty.routing_keys.clone().into_iter().collect()
    }
}

/// `integrations.pagerduty:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerdutyConfig {
    /// Routing (integration) key → the service its events are for.
    pub routing_keys: std::collections::BTreeMap<String, String>,
}

/// Whether a rule is an error or a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strictness {
    /// Refuse the config.
    Enforce,
    /// Load it and warn.
    Warn,
}

/// `query:`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// How far back an instant selector looks for a sample.
    pub lookback_delta: Duration,
    /// Longest a query may run (a request's `timeout` can only lower it).
    pub timeout: Duration,
    /// Most samples one query may load from the store.
    pub max_samples: usize,
    /// Most samples one query may look at over its whole evaluation.
    pub max_samples_processed: u64,
    /// Queries evaluated at once; more wait their turn.
    pub max_concurrency: usize,
    /// Of those, at most this many from one client address; `0`: no
    /// per-client limit.
    pub max_concurrency_per_client: usize,
    /// Most series one query may return.
    pub max_series: usize,
    /// Prometheus's `promql-delayed-name-removal` feature: `__name__` is
    /// removed at the end of evaluation instead of by each function.
    pub delayed_name_removal: bool,
}

impl Default for QueryConfig {
    fn default() -> Self {
        // Prometheus's defaults.
        Self {
            lookback_delta: Duration(300_000),
            timeout: Duration(120_000),
            max_samples: 50_000_000,
            max_samples_processed: nines_promql::DEFAULT_MAX_SAMPLES_PROCESSED,
            max_concurrency: 20,
            max_concurrency_per_client: 10,
            max_series: 1_000_000,
            delayed_name_removal: false,
        }
    }
}

impl QueryConfig {
    /// The engine these settings describe.
    pub fn engine(&self) -> nines_promql::Engine {
        nines_promql::Engine {
            lookback: std::time::Duration::from_millis(self.lookback_delta.0.max(1) as u64),
            timeout: std::time::Duration::from_millis(self.timeout.0.max(1) as u64),
            max_samples: self.max_samples,
            max_samples_processed: self.max_samples_processed,
            max_series: self.max_series,
            delayed_name_removal: self.delayed_name_removal,
            ..nines_promql::Engine::default()
        }
    }
}

impl Config {
    /// The scrape jobs in runtime form with their fingerprints.
    pub fn scrape_specs(&self) -> Result<Vec<(nines_scrape::ScrapeSpec, u64)>, String> {
        self.scrape_configs
            .iter()
            .map(|c| {
                c.to_spec(&self.global)
                    .map_err(|e| format!("scrape job {}: {e}", c.job_name))
            })
            .collect()
    }
}

/// One step of a path to a config key: a map key or a list position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A map key (owned when it comes from the config, e.g. a service).
    Name(std::borrow::Cow<'static, str>),
    /// A list item, 0-based.
    Index(usize),
}

impl From<&'static str> for Key {
    fn from(s: &'static str) -> Self {
        Key::Name(s.into())
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key::Name(s.into())
    }
}

fn key_path(keys: &[Key]) -> String {
    let mut out = String::new();
    for k in keys {
        match k {
            Key::Name(n) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(n);
            }
            Key::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// `server:`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// PEM certificate chain; with `tls_key_file`, the listener speaks TLS.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key.
    pub tls_key_file: Option<PathBuf>,
    /// Largest request head (request line plus headers).
    pub max_header_size: ByteSize,
    /// Time a client has to send its request head (and finish TLS).
    pub read_header_timeout: Duration,
    /// Longest a request body may go without bytes; also the grace before
    /// `min_body_rate` counts.
    pub read_body_timeout: Duration,
    /// Bytes per second a request body must average after that grace;
    /// `0` turns the rate check off.
    pub min_body_rate: ByteSize,
    /// Requests one client IP may have in flight; more get 429. 0 = no limit.
    pub max_concurrent_requests_per_client: usize,
    /// The URL people reach nines at (behind a proxy, say):
    /// `$externalURL` in rule templates. Default: `http://` + `listen`.
    pub external_url: Option<String>,
}

impl ServerConfig {
    /// `external_url`, or the URL of the listen address.
    pub fn external_url(&self) -> String {
        match &self.external_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9999".into(),
            tls_cert_file: None,
            tls_key_file: None,
            max_header_size: ByteSize(64 << 10),
            read_header_timeout: Duration(30_000),
            read_body_timeout: Duration(30_000),
            min_body_rate: ByteSize(1024),
            max_concurrent_requests_per_client: 64,
            external_url: None,
        }
    }
}

/// `storage:`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Data directory.
    pub path: PathBuf,
    /// Delete data older than this; `0` keeps everything.
    pub retention: Duration,
    /// Delete the oldest blocks while the store is larger; `0` = no limit.
    pub retention_size: ByteSize,
    /// Time range of a block cut from the head.
    pub block_duration: Duration,
    /// Size at which a WAL segment is closed.
    pub wal_segment_size: ByteSize,
    /// How often the WAL is forced to disk; `0` forces it before every
    /// acknowledgement.
    pub wal_fsync_interval: Duration,
    /// How often the head is cut into blocks, compacted and retention run.
    pub maintenance_interval: Duration,
    /// How far past the wall clock a sample may be; later ones are refused
    /// and counted. `0` turns the check off.
    pub future_tolerance: Duration,
    /// The only folder `POST /api/v1/admin/backup` may write under (and
    /// never inside `path`). Unset: backups over HTTP are refused.
    pub backup_root: Option<PathBuf>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data"),
            retention: Duration(15 * 86_400_000),
            retention_size: ByteSize(0),
            block_duration: Duration(2 * 3_600_000),
            wal_segment_size: ByteSize(128 << 20),
            wal_fsync_interval: Duration(1_000),
            maintenance_interval: Duration(60_000),
            future_tolerance: Duration(nines_tsdb::DEFAULT_FUTURE_TOLERANCE_MS),
            backup_root: None,
        }
    }
}

/// `ingest:`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest request body (remote_write is measured compressed) and
    /// largest import line.
    pub max_body_size: ByteSize,
    /// Largest decompressed remote_write body.
    pub max_decompressed_size: ByteSize,
    /// Most labels on one series, `__name__` included.
    pub max_labels_per_series: usize,
    /// Longest label name, bytes.
    pub max_label_name_length: usize,
    /// Longest label value, bytes.
    pub max_label_value_length: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_size: ByteSize(32 << 20),
            max_decompressed_size: ByteSize(128 << 20),
            max_labels_per_series: 64,
            max_label_name_length: 256,
            max_label_value_length: 4096,
        }
    }
}

/// One problem in a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub at: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Reads and validates a config file, returning every problem found.
pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Problem {
            file: path.to_path_buf(),
            at: None,
            message: format!("cannot read: {e}"),
        }]
    })?;
    parse(path, &text)
}

/// Parses and validates config text; `path` is used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, Vec<Problem>> {
    let config: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        serde_norway::from_str(text).map_err(|e| {
            let at = e.location().map(|l| (l.line(), l.column()));
            vec![Problem {
                file: path.to_path_buf(),
                at,
                message: strip_location(&e.to_string()),
            }]
        })?
    };
    let mut problems = validate(&config)
        .into_iter()
        .map(|(key, message)| Problem {
            file: path.to_path_buf(),
            at: locate(text, &key),
            message: format!("{}: {message}", key_path(&key)),
        })
        .collect::<Vec<_>>();
    let mut config = config;
    match slos::collect(path, text, &config.slos, &config.maintenance, &config.slo_files) {
        Ok(loaded) => {
            config.slos_loaded = loaded.slos;
            config.maintenance_loaded = loaded.maintenance;
        }
        Err(found) => problems.extend(found),
    }
    let rules = rules::collect(path, text, &config.rule_files, &config.alerting.page_policy());
    config.rules_loaded = rules.groups;
    config.warnings = rules.warnings;
    problems.extend(rules.problems);
    let (beat_problems, beat_warnings) = heartbeats::check(&config.heartbeats, &config.alerting.page_policy());
    let at_key = |(key, message): (Vec<Key>, String)| Problem {
        file: path.to_path_buf(),
        at: locate(text, &key),
        message: format!("{}: {message}", key_path(&key)),
    };
    problems.extend(beat_problems.into_iter().map(at_key));
    config.warnings.extend(beat_warnings.into_iter().map(at_key));
    match routing::inhibit_rules(&config.inhibit_rules) {
        Ok(rules) => config.inhibit_loaded = rules,
        Err(found) => problems.extend(found.into_iter().map(at_key)),
    }
    match routing::route_tree(&config) {
        Ok(loaded) => config.routing_loaded = loaded,
        Err(found) => problems.extend(found.into_iter().map(at_key)),
    }
    let base = path.parent().unwrap_or(Path::new("."));
    if let Some(root) = &config.storage.backup_root {
        // As Prometheus resolves file_sd paths: from the file that names it.
        config.storage.backup_root = Some(base.join(root));
    }
    match incidents::settings(&config.incidents, &config.dora, base) {
        Ok(s) => config.learning_loaded = s,
        Err(found) => problems.extend(found.into_iter().map(at_key)),
    }
    match config.incidents.rules(&config.learning_loaded.severity_names) {
        Ok(rules) => config.auto_declare_loaded = rules,
        Err(found) => problems.extend(found.into_iter().map(at_key)),
    }
    match nines_routing::template::Templates::new(&config.templates) {
        Ok(t) => config.templates_loaded = std::sync::Arc::new(t),
        Err(found) => problems.extend(
            found
                .into_iter()
                .map(|(path, m)| at_key((routing::below(vec![Key::from("templates")], path), m))),
        ),
    }
    let emails = config.receivers.iter().any(|r| !r.email_configs.is_empty())
        || config.users.iter().any(|u| {
            u.contact_methods
                .iter()
                .any(|c| matches!(c, nines_oncall::ContactMethod::Email { .. }))
        });
    match &config.smtp {
        Some(smtp) => {
            let mut found = Vec::new();
            smtp.validate(&mut found);
            problems.extend(found.into_iter().map(at_key));
        }
        None if emails => problems.push(at_key((
            vec![Key::from("smtp")],
            "email is configured (email_configs or an email contact method) but no smtp: server is".into(),
        ))),
        None => {}
    }
    match nines_oncall::Directory::build(
        &config.users,
        &config.teams,
        &config.schedules,
        &config.escalation_policies,
    ) {
        Ok(dir) => config.oncall_loaded = std::sync::Arc::new(dir),
        Err(found) => problems.extend(
            found
                .into_iter()
                .map(|(path, m)| at_key((routing::below(Vec::new(), path), m))),
        ),
    }
    match nines_slo::gate::Policies::from_config(&config.budget_policy) {
        Ok(p) => config.policies_loaded = p,
        Err(found) => {
            for (fields, message) in found {
                let mut key = vec![Key::from("budget_policy")];
                key.extend(fields.into_iter().map(|p| match p.parse::<usize>() {
                    Ok(i) => Key::Index(i),
                    Err(_) => Key::from(p),
                }));
                problems.push(Problem {
                    file: path.to_path_buf(),
                    at: locate(text, &key),
                    message: format!("{}: {message}", key_path(&key)),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// serde_norway appends " at line L column C"; we print the location first.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Checks that need more than one field or a range; each names its key.
fn validate(c: &Config) -> Vec<(Vec<Key>, String)> {
    let mut out: Vec<(Vec<Key>, String)> = Vec::new();
    let mut seen_jobs = std::collections::HashSet::new();
    for (i, job) in c.scrape_configs.iter().enumerate() {
        let mut problems = Vec::new();
        job.validate(&c.global, &mut problems);
        if !seen_jobs.insert(job.job_name.as_str()) {
            problems.push((
                vec![Key::from("job_name")],
                format!("{:?} is used by an earlier job", job.job_name),
            ));
        }
        for (key, msg) in problems {
            let mut full = vec![Key::from("scrape_configs"), Key::Index(i)];
            full.extend(key);
            out.push((full, msg));
        }
    }
    c.auth.validate(&mut out);
    let mut out_named: Vec<(Vec<&'static str>, String)> = Vec::new();
    let out_scrape = std::mem::take(&mut out);
    if let Err(e) = c.server.listen.parse::<SocketAddr>() {
        out_named.push((
            vec!["server", "listen"],
            format!("{:?} is not an address like 127.0.0.1:9999: {e}", c.server.listen),
        ));
    }
    if c.server.tls_cert_file.is_some() != c.server.tls_key_file.is_some() {
        out_named.push((
            vec!["server", "tls_cert_file"],
            "tls_cert_file and tls_key_file go together".into(),
        ));
    }
    if let (Some(cert), Some(key)) = (&c.server.tls_cert_file, &c.server.tls_key_file) {
        if let Err(e) = nines_server::listen::load_tls(cert, key) {
            out_named.push((vec!["server", e.what], e.to_string()));
        }
    }
    if let Some(url) = &c.server.external_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(char::is_whitespace) {
            out_named.push((
                vec!["server", "external_url"],
                format!("{url:?} is not an http:// or https:// URL"),
            ));
        }
    }
    if c.global.evaluation_interval.0 < 1000 {
        out_named.push((vec!["global", "evaluation_interval"], "must be at least 1s".into()));
    }
    for name in c.global.external_labels.keys() {
        if !nines_tsdb::is_valid_label_name(name) || name.starts_with("__") {
            out_named.push((
                vec!["global", "external_labels"],
                format!("{name:?} is not a label name an external label can have"),
            ));
        }
    }
    for (key, service) in &c.integrations.pagerduty.routing_keys {
        if key.trim().is_empty() || key.len() > 255 || service.trim().is_empty() {
            out_named.push((
                vec!["integrations", "pagerduty", "routing_keys"],
                "each routing key (at most 255 characters) names a service".into(),
            ));
        }
    }
    if c.alerting.page_severities.iter().any(|s| s.trim().is_empty()) {
        out_named.push((vec!["alerting", "page_severities"], "severities cannot be empty".into()));
    }
    if c.query.lookback_delta.0 < 1000 {
        out_named.push((vec!["query", "lookback_delta"], "must be at least 1s".into()));
    }
    if c.query.timeout.0 < 100 {
        out_named.push((vec!["query", "timeout"], "must be at least 100ms".into()));
    }
    if c.query.max_samples < 1 {
        out_named.push((vec!["query", "max_samples"], "must be at least 1".into()));
    }
    if c.server.max_header_size.0 < 8192 {
        out_named.push((vec!["server", "max_header_size"], "must be at least 8KiB".into()));
    }
    if c.server.read_header_timeout.0 < 100 {
        out_named.push((vec!["server", "read_header_timeout"], "must be at least 100ms".into()));
    }
    let s = &c.storage;
    let hour = 3_600_000;
    if s.block_duration.0 < 60_000 || s.block_duration.0 > 24 * hour {
        out_named.push((
            vec!["storage", "block_duration"],
            format!("{} must be between 1m and 24h", s.block_duration),
        ));
    } else if (24 * hour) % s.block_duration.0 != 0 {
        out_named.push((
            vec!["storage", "block_duration"],
            format!("{} must divide a day evenly (e.g. 1h, 2h, 6h)", s.block_duration),
        ));
    }
    if s.retention.0 != 0 && s.retention.0 < s.block_duration.0 {
        out_named.push((
            vec!["storage", "retention"],
            format!(
                "{} is shorter than storage.block_duration ({})",
                s.retention, s.block_duration
            ),
        ));
    }
    if s.wal_segment_size.0 < (1 << 20) {
        out_named.push((vec!["storage", "wal_segment_size"], "must be at least 1MiB".into()));
    }
    if s.maintenance_interval.0 < 1_000 {
        out_named.push((vec!["storage", "maintenance_interval"], "must be at least 1s".into()));
    }
    let i = &c.ingest;
    if i.max_body_size.0 < 1024 {
        out_named.push((vec!["ingest", "max_body_size"], "must be at least 1KiB".into()));
    }
    if i.max_decompressed_size.0 < i.max_body_size.0 {
        out_named.push((
            vec!["ingest", "max_decompressed_size"],
            "must not be smaller than ingest.max_body_size".into(),
        ));
    }
    if i.max_labels_per_series < 1 {
        out_named.push((vec!["ingest", "max_labels_per_series"], "must be at least 1".into()));
    }
    if i.max_label_name_length < 1 || i.max_label_value_length < 1 {
        out_named.push((
            vec!["ingest", "max_label_value_length"],
            "label length limits must be at least 1".into(),
        ));
    }
    out_named
        .into_iter()
        .map(|(k, m)| (k.into_iter().map(Key::from).collect(), m))
        .chain(out_scrape)
        .collect()
}

/// Finds the line and column of a nested key in block-style YAML by
/// indentation, list items included; `None` when the key is not written
/// out (a default) or the YAML is in flow style.
fn locate(text: &str, path: &[Key]) -> Option<(usize, usize)> {
    // Each line as (indent, content, is a list item); an item line
    // `- key: v` also yields its content at the indent after the dash.
    let mut lines: Vec<(usize, usize, &str, bool)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some(rest) = trimmed.strip_prefix('-').filter(|r| r.is_empty() || r.starts_with(' ')) {
            lines.push((n, indent, "", true));
            let inner = rest.trim_start();
            if !inner.is_empty() {
                lines.push((n, indent + (trimmed.len() - inner.len()), inner, false));
            }
        } else {
            lines.push((n, indent, trimmed, false));
        }
    }
    let mut pos = 0;
    // Lines of the current block are deeper than this (or, for the items
    // of a list under a key, at least as deep).
    let mut floor: Option<usize> = None;
    let mut found = None;
    for key in path {
        match key {
            Key::Name(name) => {
                let mut block_indent = None;
                let mut hit = None;
                while pos < lines.len() {
                    let (n, indent, content, item) = lines[pos];
                    if floor.is_some_and(|f| indent <= f) && !(item && floor == Some(indent) && block_indent.is_none())
                    {
                        break;
                    }
                    pos += 1;
                    if item {
                        if block_indent.is_some_and(|b| indent < b) {
                            break;
                        }
                        continue;
                    }
                    let b = *block_indent.get_or_insert(indent);
                    if indent == b
                        && content
                            .strip_prefix(name.as_ref())
                            .is_some_and(|r| r.trim_start().starts_with(':'))
                    {
                        hit = Some((n, indent));
                        break;
                    }
                }
                let (n, indent) = hit?;
                found = Some((n + 1, indent + 1));
                floor = Some(indent);
            }
            Key::Index(want) => {
                let parent = floor?;
                let mut list_indent = None;
                let mut count = 0;
                let mut hit = None;
                while pos < lines.len() {
                    let (n, indent, _, item) = lines[pos];
                    if indent < parent || (indent == parent && !item) {
                        break;
                    }
                    pos += 1;
                    if item && *list_indent.get_or_insert(indent) == indent {
                        if count == *want {
                            hit = Some((n, indent));
                            break;
                        }
                        count += 1;
                    }
                }
                let (n, indent) = hit?;
                found = Some((n + 1, indent + 1));
                floor = Some(indent);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse(Path::new("nines.yaml"), text) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn budget_policy_and_maintenance_problems_name_file_line_and_field() {
        let p = problems(
            "budget_policy:\n  services:\n    api:\n      warn_below: 10\n      block_below: 80\n      freezes:\n        - name: launch\n          reason: Launch\n          start: soon\n          duration: 2h\n",
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("nines.yaml:5:") && m.contains("budget_policy.services.api.block_below")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("nines.yaml:9:") && m.contains("freezes[0].start")),
            "{p:?}"
        );
        let p = problems(
            "maintenance:\n  - service: api\n    reason: r\n    start: 2026-01-01T00:00:00Z\n    duration: 1h\n  - service: api\n    name: x\n    reason: r\n    start: 2026-01-01T00:00:00Z\n    duration: 9d\n",
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("nines.yaml:2:") && m.contains("needs a name")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("nines.yaml:10:") && m.contains("maintenance[1].duration")),
            "{p:?}"
        );
    }

    #[test]
    fn empty_config_is_all_defaults() {
        let c = parse(Path::new("x"), "").unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:9999");
        assert_eq!(c.storage.retention, Duration(15 * 86_400_000));
    }

    #[test]
    fn a_bad_duration_points_at_its_line_and_column() {
        let p = problems("storage:\n  retention: 30x\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("nines.yaml:2:14: "), "{p:?}");
        assert!(p[0].contains("unknown unit \"x\""), "{p:?}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let p = problems("storage:\n  retension: 30d\n");
        assert!(p[0].starts_with("nines.yaml:2:3: "), "{p:?}");
        assert!(p[0].contains("unknown field `retension`"), "{p:?}");
    }

    #[test]
    fn every_semantic_problem_is_reported_with_its_place() {
        let p = problems("server:\n  listen: nowhere\nstorage:\n  block_duration: 7h\n  retention: 1h\n");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("nines.yaml:2:3: server.listen:"), "{p:?}");
        assert!(
            p[1].starts_with("nines.yaml:4:3: storage.block_duration: 7h must divide a day"),
            "{p:?}"
        );
        assert!(
            p[2].starts_with("nines.yaml:5:3: storage.retention: 1h is shorter"),
            "{p:?}"
        );
    }

    #[test]
    fn scrape_config_problems_point_into_lists() {
        let p = problems(
            "global:\n  scrape_interval: 15s\nscrape_configs:\n- job_name: a\n  static_configs:\n  - targets: [x:1]\n\
             - job_name: a\n  scrape_timeout: 20s\n  relabel_configs:\n  - source_labels: [x]\n    regex: '('\n",
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            p[0].starts_with("nines.yaml:8:3: scrape_configs[1].scrape_timeout: 20s must be"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("nines.yaml:10:3: scrape_configs[1].relabel_configs[0]: invalid regex"),
            "{p:?}"
        );
        assert!(
            p[2].starts_with("nines.yaml:7:3: scrape_configs[1].job_name: \"a\" is used"),
            "{p:?}"
        );
    }

    #[test]
    fn prometheus_scrape_sections_parse() {
        let c = parse(
            Path::new("x"),
            "scrape_configs:\n  - job_name: node\n    scheme: https\n    params:\n      module: [http_2xx]\n\
             \x20   basic_auth:\n      username: u\n      password: p\n    tls_config:\n      insecure_skip_verify: true\n\
             \x20   honor_labels: true\n    file_sd_configs:\n      - files: ['/etc/t/*.json']\n        refresh_interval: 30s\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let specs = c.scrape_specs().unwrap();
        assert_eq!(specs[0].0.interval, std::time::Duration::from_secs(60));
        assert_eq!(specs[0].0.timeout, std::time::Duration::from_secs(10));
        assert!(specs[0].0.honor_labels && specs[0].0.tls.insecure_skip_verify);
        let p = problems("scrape_configs:\n- job_name: x\n  proxy_url: http://p\n");
        assert!(p[0].contains("unknown field `proxy_url`"), "{p:?}");
    }

    #[test]
    fn the_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/nines.yaml");
        let c = load(&path).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(c.server.listen, "127.0.0.1:9999");
    }
}
