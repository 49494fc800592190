//! The nines configuration file: YAML, every section optional, unknown keys
//! refused. `nines check` and `nines serve` load it the same way.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::units::{ByteSize, Duration};

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
}

/// `server:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9999".into(),
        }
    }
}

/// `storage:`
#[derive(Debug, Clone, Deserialize)]
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
        }
    }
}

/// `ingest:`
#[derive(Debug, Clone, Deserialize)]
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
    let problems = validate(&config)
        .into_iter()
        .map(|(key, message)| Problem {
            file: path.to_path_buf(),
            at: locate(text, &key),
            message: format!("{}: {message}", key.join(".")),
        })
        .collect::<Vec<_>>();
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
fn validate(c: &Config) -> Vec<(Vec<&'static str>, String)> {
    let mut out = Vec::new();
    if let Err(e) = c.server.listen.parse::<SocketAddr>() {
        out.push((
            vec!["server", "listen"],
            format!("{:?} is not an address like 127.0.0.1:9999: {e}", c.server.listen),
        ));
    }
    let s = &c.storage;
    let hour = 3_600_000;
    if s.block_duration.0 < 60_000 || s.block_duration.0 > 24 * hour {
        out.push((
            vec!["storage", "block_duration"],
            format!("{} must be between 1m and 24h", s.block_duration),
        ));
    } else if (24 * hour) % s.block_duration.0 != 0 {
        out.push((
            vec!["storage", "block_duration"],
            format!("{} must divide a day evenly (e.g. 1h, 2h, 6h)", s.block_duration),
        ));
    }
    if s.retention.0 != 0 && s.retention.0 < s.block_duration.0 {
        out.push((
            vec!["storage", "retention"],
            format!(
                "{} is shorter than storage.block_duration ({})",
                s.retention, s.block_duration
            ),
        ));
    }
    if s.wal_segment_size.0 < (1 << 20) {
        out.push((vec!["storage", "wal_segment_size"], "must be at least 1MiB".into()));
    }
    if s.maintenance_interval.0 < 1_000 {
        out.push((vec!["storage", "maintenance_interval"], "must be at least 1s".into()));
    }
    let i = &c.ingest;
    if i.max_body_size.0 < 1024 {
        out.push((vec!["ingest", "max_body_size"], "must be at least 1KiB".into()));
    }
    if i.max_decompressed_size.0 < i.max_body_size.0 {
        out.push((
            vec!["ingest", "max_decompressed_size"],
            "must not be smaller than ingest.max_body_size".into(),
        ));
    }
    if i.max_labels_per_series < 1 {
        out.push((vec!["ingest", "max_labels_per_series"], "must be at least 1".into()));
    }
    if i.max_label_name_length < 1 || i.max_label_value_length < 1 {
        out.push((
            vec!["ingest", "max_label_value_length"],
            "label length limits must be at least 1".into(),
        ));
    }
    out
}

/// Finds the line and column of a nested key by indentation. Good enough
/// for block-style YAML; `None` when the key is not written out.
fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let mut depth = 0;
    let mut indent_of_parent: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some(p) = indent_of_parent {
            if indent <= p {
                return None;
            }
        }
        let key = path[depth];
        let matches = trimmed
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with(':'));
        if matches && indent_of_parent.is_none_or(|p| indent > p) {
            if depth + 1 == path.len() {
                return Some((n + 1, indent + 1));
            }
            depth += 1;
            indent_of_parent = Some(indent);
        }
    }
    None
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
    fn the_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/nines.yaml");
        let c = load(&path).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(c.server.listen, "127.0.0.1:9999");
    }
}
