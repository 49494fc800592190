//! What the config says about learning: what severities are called, how
//! far back a timeline looks for changes, when postmortems are due, which
//! environments are production, and the DORA bands. Swapped on reload.

use std::sync::Arc;

use crate::dora::Bands;
use crate::incident::SeverityNames;

/// The settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// What SEV1 … SEV4 are called.
    pub severity_names: SeverityNames,
    /// How far before an incident's start its timeline looks for
    /// deploys and changes (ms).
    pub lookback_ms: i64,
    /// How long after its resolution a major incident's postmortem is
    /// due (ms).
    pub postmortem_due_ms: i64,
    /// The environments that are production.
    pub production: Vec<String>,
    /// DORA's performance bands.
    pub bands: Bands,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            severity_names: SeverityNames::default(),
            lookback_ms: crate::timeline::DEFAULT_LOOKBACK_MS,
            postmortem_due_ms: 5 * 86_400_000,
            production: vec!["production".into(), "prod".into()],
            bands: Bands::shipped(),
        }
    }
}

/// Settings shared between the API and reload.
pub type SharedSettings = Arc<parking_lot::RwLock<Settings>>;
