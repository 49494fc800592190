//! Admin endpoints: flush the head to blocks, take a backup.

use std::path::{Component, Path, PathBuf};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::error::{success, ApiError};
use crate::params::Params;
use crate::AppState;

/// `POST /api/v1/admin/flush`: persist the head to blocks now.
pub async fn flush(State(st): State<AppState>) -> Result<Response, ApiError> {
    let db = st.db.clone();
    let blocks = tokio::task::spawn_blocking(move || db.flush().map(|()| db.blocks().len()))
        .await
        .map_err(|e| ApiError::internal(format!("flush task failed: {e}")))??;
    Ok(success(json!({"blocks": blocks}), Vec::new()))
}

/// `POST /api/v1/admin/backup?dir=PATH`: a consistent copy of the store into
/// `PATH` (relative to `storage.backup_root`, or absolute inside it), which
/// must not exist or be empty. Refused while no backup root is configured.
pub async fn backup(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let params = Params::parse(q.unwrap_or_default().as_bytes());
    let dir = params
        .get("dir")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| ApiError::bad_data("missing parameter \"dir\""))?
        .to_string();
    let root = st.backup_root.clone().ok_or_else(|| ApiError {
        status: StatusCode::FORBIDDEN,
        kind: "forbidden",
        message: "backups over HTTP are off: set storage.backup_root (or --backup-root) to the folder they may be \
                  written under"
            .into(),
    })?;
    let db = st.db.clone();
    let report = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let target = backup_target(&root, db.dir(), &dir)?;
        let report = db.snapshot(&target)?;
        Ok((target, report))
    })
    .await
    .map_err(|e| ApiError::internal(format!("backup task failed: {e}")))??;
    let (target, report) = report;
    Ok(success(
        json!({"dir": target.display().to_string(), "blocks": report.blocks, "head_series": report.head_series}),
        Vec::new(),
    ))
}

/// Where a backup asked for as `dir` goes: below `root`, never inside the
/// data directory `data` (a folder there would be read as part of the
/// store at the next start). Links are followed before deciding.
pub fn backup_target(root: &Path, data: &Path, dir: &str) -> Result<PathBuf, ApiError> {
    let bad = |why: String| ApiError::bad_data(format!("parameter \"dir\" {dir:?}: {why}"));
    let asked = Path::new(dir);
    if asked.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(bad("\"..\" is not allowed".into()));
    }
    let root = root
        .canonicalize()
        .map_err(|e| ApiError::unavailable(format!("backup root {} cannot be used: {e}", root.display())))?;
    let target = if asked.is_absolute() {
        asked.to_path_buf()
    } else {
        root.join(asked)
    };
    let resolved = resolve_existing_prefix(&target).map_err(|e| bad(e.to_string()))?;
    if !resolved.starts_with(&root) || resolved == root {
        return Err(bad(format!(
            "must name a folder below the backup root {}",
            root.display()
        )));
    }
    let data = data
        .canonicalize()
        .map_err(|e| ApiError::internal(format!("data directory: {e}")))?;
    if resolved.starts_with(&data) {
        return Err(bad(format!("must not be inside the data directory {}", data.display())));
    }
    Ok(resolved)
}

/// `path` with its longest existing ancestor canonicalised (links
/// followed) and the rest appended as written.
fn resolve_existing_prefix(path: &Path) -> std::io::Result<PathBuf> {
    let mut rest = Vec::new();
    let mut cur = path;
    loop {
        match cur.canonicalize() {
            Ok(base) => {
                let mut out = base;
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (cur.parent(), cur.file_name()) else {
                    return Err(e);
                };
                rest.push(name.to_os_string());
                cur = parent;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_stay_below_the_root_and_out_of_the_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("backups");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(data.join("blocks")).unwrap();
        let root_c = root.canonicalize().unwrap();
        assert_eq!(backup_target(&root, &data, "nightly").unwrap(), root_c.join("nightly"));
        let inside = root_c.join("a/b");
        assert_eq!(backup_target(&root, &data, inside.to_str().unwrap()).unwrap(), inside);
        for refused in ["../data/blocks/evil", "/etc/nines", "a/../../x", ""] {
            assert!(backup_target(&root, &data, refused).is_err(), "{refused}");
        }
        let evil = data.join("blocks/evil");
        assert!(backup_target(&root, &data, evil.to_str().unwrap()).is_err());
        // A link under the root that points into the data dir is followed.
        std::os::unix::fs::symlink(&data, root.join("link")).unwrap();
        let e = backup_target(&root, &data, "link/blocks/evil").unwrap_err();
        assert!(
            e.message.contains("backup root") || e.message.contains("data directory"),
            "{}",
            e.message
        );
        // A root inside the data dir lets nothing through.
        let nested = data.join("backups");
        std::fs::create_dir_all(&nested).unwrap();
        assert!(backup_target(&nested, &data, "x")
            .unwrap_err()
            .message
            .contains("data directory"));
    }
}
