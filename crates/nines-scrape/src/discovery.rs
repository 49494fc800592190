//! File-based service discovery: JSON or YAML files holding lists of
//! target groups, found by path patterns (`*` in the last component), and
//! read again when they change or every `refresh_interval`.
//!
//! A file that fails to parse keeps contributing the groups it last
//! parsed to, with an error logged, as in Prometheus: a half-written file
//! must not make every target vanish.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::spec::TargetGroup;

/// A target file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum FileSdError {
    /// Reading the file failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a list of target groups.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Parses one target file by its extension: `.json`, or `.yml`/`.yaml`.
pub fn parse_file(path: &Path, bytes: &[u8]) -> Result<Vec<TargetGroup>, FileSdError> {
    let parse_err = |message: String| FileSdError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let groups: Vec<TargetGroup> = match ext {
        "json" => serde_json::from_slice(bytes).map_err(|e| parse_err(e.to_string()))?,
        "yml" | "yaml" => {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                Vec::new()
            } else {
                serde_norway::from_slice(bytes).map_err(|e| parse_err(e.to_string()))?
            }
        }
        other => {
            return Err(parse_err(format!(
                "unknown extension {other:?} (use .json, .yml or .yaml)"
            )))
        }
    };
    for g in &groups {
        for n in g.labels.keys() {
            if !nines_tsdb::is_valid_label_name(n) {
                return Err(parse_err(format!("invalid label name {n:?}")));
            }
        }
    }
    Ok(groups)
}

/// Expands patterns whose last component may hold `*` wildcards.
pub fn expand(patterns: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.contains('*') {
            out.push(path.to_path_buf());
            continue;
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard_match(name, n)))
            .map(|e| e.path())
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

fn wildcard_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// What a file looked like when last read: a change in any of these means
/// it is read again.
type Stamp = Option<(SystemTime, u64)>;

/// The target groups of a set of file patterns, kept current by polling.
#[derive(Debug, Default)]
pub struct FileWatcher {
    files: BTreeMap<PathBuf, (Stamp, Vec<TargetGroup>)>,
}

impl FileWatcher {
    /// Re-reads what changed (or everything, if `force`). Returns true if
    /// the groups changed.
    pub fn poll(&mut self, patterns: &[String], force: bool) -> bool {
        let paths = expand(patterns);
        let mut changed = false;
        let before = self.files.len();
        self.files.retain(|p, _| paths.contains(p));
        changed |= before != self.files.len();
        for path in paths {
            let stamp = std::fs::metadata(&path)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
            let known = self.files.get(&path);
            if !force && known.is_some_and(|(s, _)| *s == stamp) {
                continue;
            }
            let result = std::fs::read(&path)
                .map_err(|source| FileSdError::Read {
                    path: path.clone(),
                    source,
                })
                .and_then(|bytes| parse_file(&path, &bytes));
            match result {
                Ok(groups) => {
                    if known.is_none_or(|(_, g)| *g != groups) {
                        changed = true;
                    }
                    self.files.insert(path, (stamp, groups));
                }
                Err(e) => {
                    tracing::error!("file_sd: {e}; keeping its previous targets");
                    let previous = known.map(|(_, g)| g.clone()).unwrap_or_default();
                    self.files.insert(path, (stamp, previous));
                }
            }
        }
        changed
    }

    /// Every group of every file, files in path order.
    pub fn groups(&self) -> Vec<TargetGroup> {
        self.files.values().flat_map(|(_, g)| g.iter().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_files_parse() {
        let json = br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}]"#;
        let g = parse_file(Path::new("t.json"), json).unwrap();
        assert_eq!(g[0].targets, vec!["a:1", "b:2"]);
        let yaml = b"- targets: [c:3]\n  labels:\n    team: x\n";
        let g = parse_file(Path::new("t.yml"), yaml).unwrap();
        assert_eq!(g[0].labels["team"], "x");
        assert!(parse_file(Path::new("t.json"), b"{").is_err());
        assert!(parse_file(Path::new("t.txt"), b"[]").is_err());
        assert!(parse_file(Path::new("t.json"), br#"[{"targets": [], "labels": {"a-b": "1"}}]"#).is_err());
    }

    #[test]
    fn wildcards_match_names() {
        assert!(wildcard_match("tg_*.json", "tg_web.json"));
        assert!(!wildcard_match("tg_*.json", "tg_web.yml"));
        assert!(wildcard_match("*", "x"));
        assert!(wildcard_match("a*b*c", "a12b34c"));
        assert!(!wildcard_match("a*b*c", "acb"));
    }

    #[test]
    fn watcher_picks_up_changes_and_keeps_targets_of_a_broken_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("targets.json");
        std::fs::write(&file, br#"[{"targets": ["a:1"]}]"#).unwrap();
        let patterns = vec![dir.path().join("*.json").to_string_lossy().into_owned()];
        let mut w = FileWatcher::default();
        assert!(w.poll(&patterns, false));
        assert_eq!(w.groups()[0].targets, vec!["a:1"]);
        std::fs::write(&file, br#"[{"targets": ["a:1", "b:2"]}]"#).unwrap();
        assert!(w.poll(&patterns, false));
        assert_eq!(w.groups()[0].targets.len(), 2);
        std::fs::write(&file, b"[{\"targets\": ").unwrap();
        w.poll(&patterns, false);
        assert_eq!(w.groups()[0].targets.len(), 2);
        std::fs::remove_file(&file).unwrap();
        assert!(w.poll(&patterns, false));
        assert!(w.groups().is_empty());
    }
}
