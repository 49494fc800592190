//! Silences, as Alertmanager keeps them: matchers, a start and an end, who
//! made it and why. An active silence mutes every alert its matchers
//! accept. A silence is changed in place while that keeps its history
//! honest (a pending one, or an active one whose matchers and start stay);
//! otherwise the old one is expired and a new one made, as Alertmanager
//! does. Expired silences stay listed for a while so people can see what
//! was muted.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use nines_alerting::repo::{RepoError, RepoResult};

use crate::matchers::{format_matcher, matches_all, Matcher};

/// How long expired silences stay listed (Alertmanager's default
/// retention).
pub const EXPIRED_LISTED_MS: i64 = 120 * 3_600_000;

/// One silence.
#[derive(Debug, Clone)]
pub struct Silence {
    /// Its id (a UUID).
    pub id: String,
    /// What it mutes: alerts every matcher accepts.
    pub matchers: Vec<Matcher>,
    /// ms.
    pub starts_at: i64,
    /// ms.
    pub ends_at: i64,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// ms.
    pub updated_at: i64,
}

impl PartialEq for Silence {
    fn eq(&self, other: &Self) -> bool {
        let texts = |s: &Silence| s.matchers.iter().map(format_matcher).collect::<Vec<_>>();
        self.id == other.id
            && texts(self) == texts(other)
            && self.starts_at == other.starts_at
            && self.ends_at == other.ends_at
            && self.created_by == other.created_by
            && self.comment == other.comment
            && self.updated_at == other.updated_at
    }
}

/// Where a silence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Starts later.
    Pending,
    /// Muting.
    Active,
    /// Over.
    Expired,
}

impl SilenceState {
    /// As shown.
    pub fn name(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    /// Its state at `now`.
    pub fn state(&self, now: i64) -> SilenceState {
        if now >= self.ends_at {
            SilenceState::Expired
        } else if now < self.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Whether it mutes an alert with `labels` at `now`.
    pub fn mutes(&self, labels: &BTreeMap<String, String>, now: i64) -> bool {
        self.state(now) == SilenceState::Active && matches_all(&self.matchers, labels)
    }
}

/// Where silences are kept.
pub trait SilenceRepository: Send + Sync {
    /// Stores a silence, replacing one with the same id, durably.
    fn put_silence(&self, silence: &Silence) -> RepoResult<()>;
    /// Every silence ending at or after `ended_since` ms, by start.
    fn silences(&self, ended_since: i64) -> RepoResult<Vec<Silence>>;
}

/// A silence as asked for (`POST /api/v1/silences`).
#[derive(Debug, Clone)]
pub struct SilenceRequest {
    /// The silence to change, if any.
    pub id: Option<String>,
    /// What it mutes.
    pub matchers: Vec<Matcher>,
    /// ms; a start in the past means now.
    pub starts_at: i64,
    /// ms.
    pub ends_at: i64,
    /// Who asks.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// Why a silence change is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SilenceError {
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// No silence has that id.
    #[error("no silence has id {0:?}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] RepoError),
}

fn invalid(s: impl Into<String>) -> SilenceError {
    SilenceError::Invalid(s.into())
}

impl SilenceRequest {
    fn check(&self, now: i64) -> Result<(), SilenceError> {
        if self.matchers.is_empty() {
            return Err(invalid("a silence needs at least one matcher"));
        }
        if self.matchers.iter().all(|m| m.matches("")) {
            return Err(invalid(
                "at least one matcher must not match the empty string, or the silence would mute every alert",
            ));
        }
        if self.ends_at <= now {
            return Err(invalid("endsAt is in the past: the silence would never mute anything"));
        }
        if self.ends_at <= self.starts_at {
            return Err(invalid("endsAt must be after startsAt"));
        }
        if self.created_by.trim().is_empty() {
            return Err(invalid("createdBy is required: say who made the silence"));
        }
        if self.comment.trim().is_empty() {
            return Err(invalid("comment is required: say why the alerts are muted"));
        }
        Ok(())
    }
}

/// A random version 4 UUID.
fn new_id() -> Result<String, SilenceError> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b)
        .map_err(|e| SilenceError::Store(RepoError(format!("no randomness for an id: {e}"))))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// The silences, cached from the repository, which only this type writes.
pub struct Silences {
    repo: Arc<dyn SilenceRepository>,
    cache: RwLock<Vec<Silence>>,
    writing: Mutex<()>,
}

impl Silences {
    /// Loads the silences not expired for longer than the listing keeps.
    pub fn load(repo: Arc<dyn SilenceRepository>, now: i64) -> RepoResult<Self> {
        let cache = repo.silences(now - EXPIRED_LISTED_MS)?;
        Ok(Self {
            repo,
            cache: RwLock::new(cache),
            writing: Mutex::new(()),
        })
    }

    /// Every silence still listed at `now` (expired ones for a while).
    pub fn list(&self, now: i64) -> Vec<Silence> {
        self.cache
            .read()
            .iter()
            .filter(|s| s.ends_at >= now - EXPIRED_LISTED_MS)
            .cloned()
            .collect()
    }

    /// One silence.
    pub fn get(&self, id: &str) -> Option<Silence> {
        self.cache.read().iter().find(|s| s.id == id).cloned()
    }

    /// The ids of the silences muting `labels` at `now`.
    pub fn muting(&self, labels: &BTreeMap<String, String>, now: i64) -> Vec<String> {
        self.cache
            .read()
            .iter()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
            .collect()
    }

    fn store(&self, silence: Silence) -> Result<(), SilenceError> {
        self.repo.put_silence(&silence)?;
        let mut cache = self.cache.write();
        match cache.iter_mut().find(|s| s.id == silence.id) {
            Some(old) => *old = silence,
            None => cache.push(silence),
        }
        cache.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then_with(|| a.id.cmp(&b.id)));
        Ok(())
    }

    /// Creates or changes a silence (durably); returns its id, which is
    /// new when the change could not be made in place.
    pub fn put(&self, mut req: SilenceRequest, now: i64) -> Result<String, SilenceError> {
        let _one_writer = self.writing.lock();
        req.starts_at = req.starts_at.max(now);
        req.check(now)?;
        let existing = match &req.id {
            None => None,
            Some(id) => Some(self.get(id).ok_or_else(|| SilenceError::NotFound(id.clone()))?),
        };
        let in_place = existing.as_ref().filter(|old| match old.state(now) {
            SilenceState::Expired => false,
            SilenceState::Pending => true,
            SilenceState::Active => {
                let texts = |ms: &[Matcher]| ms.iter().map(format_matcher).collect::<Vec<_>>();
                texts(&old.matchers) == texts(&req.matchers) && req.starts_at <= now
            }
        });
        let id = match in_place {
            Some(old) => {
                // An active silence keeps its start: it has been muting since then.
                if old.state(now) == SilenceState::Active {
                    req.starts_at = old.starts_at;
                }
                old.id.clone()
            }
            None => {
                if let Some(old) = existing.filter(|o| o.state(now) != SilenceState::Expired) {
                    self.store(expired(old, now))?;
                }
                new_id()?
            }
        };
        self.store(Silence {
            id: id.clone(),
            matchers: req.matchers,
            starts_at: req.starts_at,
            ends_at: req.ends_at,
            created_by: req.created_by,
            comment: req.comment,
            updated_at: now,
        })?;
        Ok(id)
    }

    /// Ends a silence now (durably).
    pub fn expire(&self, id: &str, now: i64) -> Result<Silence, SilenceError> {
        let _one_writer = self.writing.lock();
        let old = self.get(id).ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        if old.state(now) == SilenceState::Expired {
            return Err(invalid(format!("silence {id} has already expired")));
        }
        let done = expired(old, now);
        self.store(done.clone())?;
        Ok(done)
    }
}

fn expired(mut s: Silence, now: i64) -> Silence {
    if s.starts_at > now {
        s.starts_at = now;
    }
    s.ends_at = now;
    s.updated_at = now;
    s
}

/// A [`SilenceRepository`] in memory.
#[derive(Debug, Default)]
pub struct MemSilenceRepository {
    silences: Mutex<Vec<Silence>>,
}

impl SilenceRepository for MemSilenceRepository {
    fn put_silence(&self, silence: &Silence) -> RepoResult<()> {
        let mut all = self.silences.lock();
        all.retain(|s| s.id != silence.id);
        all.push(silence.clone());
        Ok(())
    }

    fn silences(&self, ended_since: i64) -> RepoResult<Vec<Silence>> {
        let mut out: Vec<Silence> = self
            .silences
            .lock()
            .iter()
            .filter(|s| s.ends_at >= ended_since)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }
}

/// The contract every [`SilenceRepository`] keeps.
pub mod contract {
    use super::*;
    use crate::matchers::parse_matchers;

    fn silence(id: &str, starts: i64, ends: i64) -> Silence {
        Silence {
            id: id.into(),
            matchers: parse_matchers(r#"{alertname="Down", team=~"db|storage", x!="\"q\""}"#).expect("matchers"),
            starts_at: starts,
            ends_at: ends,
            created_by: "ana".into(),
            comment: "migration".into(),
            updated_at: starts,
        }
    }

    /// Runs every check against a fresh repository.
    pub fn run_all(repo: &dyn SilenceRepository) {
        let a = silence("a", 2_000, 9_000);
        let b = silence("b", 1_000, 5_000);
        repo.put_silence(&a).expect("put");
        repo.put_silence(&b).expect("put");
        assert_eq!(repo.silences(0).expect("list"), vec![b.clone(), a.clone()]);
        assert_eq!(repo.silences(6_000).expect("list"), vec![a.clone()]);
        let mut changed = a.clone();
        changed.ends_at = 12_000;
        changed.comment = "longer".into();
        repo.put_silence(&changed).expect("replace");
        assert_eq!(repo.silences(10_000).expect("list"), vec![changed]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matchers::parse_matchers;

    fn request(matchers: &str, starts: i64, ends: i64) -> SilenceRequest {
        SilenceRequest {
            id: None,
            matchers: parse_matchers(matchers).unwrap(),
            starts_at: starts,
            ends_at: ends,
            created_by: "ana".into(),
            comment: "db migration".into(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn memory_keeps_the_contract() {
        contract::run_all(&MemSilenceRepository::default());
    }

    #[test]
    fn a_silence_mutes_while_active_and_expiring_ends_it() {
        let s = Silences::load(Arc::new(MemSilenceRepository::default()), 0).unwrap();
        let id = s.put(request(r#"service="checkout""#, 1_000, 10_000), 0).unwrap();
        assert_eq!(id.len(), 36);
        let checkout = labels(&[("service", "checkout"), ("alertname", "Down")]);
        assert!(s.muting(&checkout, 500).is_empty(), "pending");
        assert_eq!(s.muting(&checkout, 1_000), vec![id.clone()]);
        assert!(s.muting(&labels(&[("service", "billing")]), 1_000).is_empty());
        let done = s.expire(&id, 4_000).unwrap();
        assert_eq!(done.ends_at, 4_000);
        assert!(s.muting(&checkout, 4_000).is_empty());
        assert!(matches!(s.expire(&id, 5_000), Err(SilenceError::Invalid(_))));
        assert!(matches!(s.expire("nope", 5_000), Err(SilenceError::NotFound(_))));
        // Listed for 120h after expiry, then not.
        assert_eq!(s.list(4_000 + EXPIRED_LISTED_MS).len(), 1);
        assert!(s.list(4_001 + EXPIRED_LISTED_MS).is_empty());
    }

    #[test]
    fn changes_are_in_place_only_when_history_stays_true() {
        let s = Silences::load(Arc::new(MemSilenceRepository::default()), 0).unwrap();
        let id = s.put(request("a=b", 0, 10_000), 0).unwrap();
        // Active, same matchers: extended in place, start kept.
        let mut longer = request("a=b", 5_000, 20_000);
        longer.id = Some(id.clone());
        assert_eq!(s.put(longer, 5_000).unwrap(), id);
        assert_eq!(s.get(&id).unwrap().starts_at, 0);
        assert_eq!(s.get(&id).unwrap().ends_at, 20_000);
        // Active, other matchers: the old one ends, a new one starts.
        let mut other = request("a=c", 0, 20_000);
        other.id = Some(id.clone());
        let new = s.put(other, 6_000).unwrap();
        assert_ne!(new, id);
        assert_eq!(s.get(&id).unwrap().state(6_000), SilenceState::Expired);
        assert_eq!(s.get(&new).unwrap().starts_at, 6_000);
        // Expired ones are not revived.
        let mut revive = request("a=b", 0, 30_000);
        revive.id = Some(id.clone());
        let again = s.put(revive, 7_000).unwrap();
        assert_ne!(again, id);
    }

    #[test]
    fn requests_that_could_not_mean_well_are_refused() {
        let s = Silences::load(Arc::new(MemSilenceRepository::default()), 0).unwrap();
        for (req, says) in [
            (request(r#"a=~".*""#, 0, 10), "empty string"),
            (request("a=b", 2_000, 1_500), "after startsAt"),
            (request("a=b", 0, 100), "in the past"),
            (
                SilenceRequest {
                    comment: " ".into(),
                    ..request("a=b", 0, 1_000)
                },
                "comment",
            ),
            (
                SilenceRequest {
                    created_by: "".into(),
                    ..request("a=b", 0, 1_000)
                },
                "createdBy",
            ),
        ] {
            let e = s.put(req, 200).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        let mut missing = request("a=b", 0, 1_000);
        missing.id = Some("gone".into());
        assert!(matches!(s.put(missing, 0), Err(SilenceError::NotFound(_))));
        assert!(s.list(0).is_empty());
    }
}
