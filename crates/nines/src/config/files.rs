//! Files a config lists (`slo_files`, `rule_files`): a file, a folder of
//! `*.yaml`/`*.yml` files, or a pattern whose last part has `*` and `?`
//! wildcards (as Prometheus's `rule_files` allows), relative to the config.

use std::path::{Path, PathBuf};

/// The files an entry names, sorted; a pattern may match none.
pub(crate) fn list_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.contains(['*', '?']) {
        let dir = path.parent().unwrap_or(Path::new("."));
        if dir.to_str().is_some_and(|d| d.contains(['*', '?'])) {
            return Err(format!(
                "{}: wildcards are allowed in the file name only",
                path.display()
            ));
        }
        let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| wildcard_match(name.as_bytes(), n.as_bytes()))
            })
            .collect();
        out.sort();
        return Ok(out);
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    out.sort();
    Ok(out)
}

/// Shell-style matching of `*` (any run) and `?` (one byte).
fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was and what it had swallowed up to, to backtrack.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_a_shell() {
        for (pattern, name, want) in [
            ("*.yml", "a.yml", true),
            ("*.yml", "a.yaml", false),
            ("rules-*.y*ml", "rules-api.yaml", true),
            ("rules-*.y*ml", "rules-api.yml", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("**x", "yyx", true),
            ("*ab", "aab", true),
        ] {
            assert_eq!(
                wildcard_match(pattern.as_bytes(), name.as_bytes()),
                want,
                "{pattern} {name}"
            );
        }
    }

    #[test]
    fn patterns_list_matching_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.rules.yml", "a.rules.yml", "c.yml"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let found = list_files(&dir.path().join("*.rules.yml")).unwrap();
        let names: Vec<_> = found.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["a.rules.yml", "b.rules.yml"]);
        assert!(list_files(&dir.path().join("*.none")).unwrap().is_empty());
        assert!(list_files(&dir.path().join("missing.yml")).is_err());
    }
}
