//! Whether an alert is held back, and by what: the silences that mute it
//! and the inhibition rule a firing alert holds it back with. The alerts
//! API shows this, and notifications skip what is held back.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::inhibit::{InhibitRule, Inhibitor};
use crate::silence::Silences;

type Labels = BTreeMap<String, String>;

/// Why one alert is held back; both empty when it is not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Ids of the silences muting it.
    pub silenced_by: Vec<String>,
    /// The index of the inhibition rule holding it back.
    pub inhibited_by: Option<usize>,
}

impl Verdict {
    /// Whether it is held back.
    pub fn suppressed(&self) -> bool {
        !self.silenced_by.is_empty() || self.inhibited_by.is_some()
    }
}

/// Silences and inhibition rules together (the rules are swapped on
/// reload).
pub struct Suppressor {
    silences: Arc<Silences>,
    inhibit_rules: RwLock<Arc<Vec<InhibitRule>>>,
}

impl Suppressor {
    /// Over the silences, with no inhibition rules yet.
    pub fn new(silences: Arc<Silences>) -> Self {
        Self {
            silences,
            inhibit_rules: RwLock::new(Arc::new(Vec::new())),
        }
    }

    /// The silences.
    pub fn silences(&self) -> &Arc<Silences> {
        &self.silences
    }

    /// Replaces the inhibition rules (at start and reload).
    pub fn set_inhibit_rules(&self, rules: Vec<InhibitRule>) {
        *self.inhibit_rules.write() = Arc::new(rules);
    }

    /// A verdict for each firing alert, in order: only firing alerts
    /// inhibit, and every one of them may be held back.
    pub fn judge(&self, firing: &[&Labels], now: i64) -> Vec<Verdict> {
        let rules = self.inhibit_rules.read().clone();
        let inhibitor = Inhibitor::new(&rules, firing.iter().copied());
        firing
            .iter()
            .map(|labels| Verdict {
                silenced_by: self.silences.muting(labels, now),
                inhibited_by: inhibitor.inhibited_by(labels),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inhibit::InhibitRuleSpec;
    use crate::matchers::parse_matchers;
    use crate::silence::{MemSilenceRepository, SilenceRequest};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn silences_and_inhibition_both_hold_back() {
        let silences = Arc::new(Silences::load(Arc::new(MemSilenceRepository::default()), 0).unwrap());
        let id = silences
            .put(
                SilenceRequest {
                    id: None,
                    matchers: parse_matchers("instance=db-1").unwrap(),
                    starts_at: 0,
                    ends_at: 1_000,
                    created_by: "ana".into(),
                    comment: "replacing the disk".into(),
                },
                0,
            )
            .unwrap();
        let s = Suppressor::new(silences);
        let spec: InhibitRuleSpec = serde_norway::from_str(
            "source_matchers: [alertname=NodeDown]\ntarget_matchers: [severity=warning]\nequal: [instance]\n",
        )
        .unwrap();
        s.set_inhibit_rules(vec![spec.validate().unwrap()]);
        let down = labels(&[("alertname", "NodeDown"), ("instance", "db-2")]);
        let disk = labels(&[("alertname", "DiskSlow"), ("instance", "db-1"), ("severity", "warning")]);
        let cpu = labels(&[("alertname", "CpuHigh"), ("instance", "db-2"), ("severity", "warning")]);
        let verdicts = s.judge(&[&down, &disk, &cpu], 10);
        assert!(!verdicts[0].suppressed());
        assert_eq!(verdicts[1].silenced_by, vec![id]);
        assert_eq!(verdicts[1].inhibited_by, None);
        assert_eq!(verdicts[2].inhibited_by, Some(0));
        // After the silence ends, the disk alert goes through.
        assert!(!s.judge(&[&disk], 1_000)[0].suppressed());
    }
}
