//! On-call for nines: who is responsible right now, and who will be.
//!
//! Users, teams and schedules are written in the config. A schedule is a
//! stack of layers; each layer is a rotation (participants in order, a
//! shift length, a first handoff, a time zone) that restrictions may
//! limit to some hours. A higher layer wins where it has someone;
//! overrides win over every layer. Handoffs keep their wall-clock time
//! across daylight-saving changes.
//!
//! Domain rules only: no HTTP, no storage.

pub mod directory;
pub mod escalation;
pub mod ical;
pub mod link;
pub mod load;
pub mod message;
pub mod page;
pub mod pager;
pub mod rotation;
pub mod schedule;

pub use directory::{ContactMethod, Directory, Team, User};
pub use schedule::{Override, Schedule, Shift, ShiftSource};

/// A question about a schedule that cannot be answered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OncallError {
    /// No schedule has that name.
    #[error("no schedule is named {0:?}")]
    UnknownSchedule(String),
    /// The period asked for is empty, reversed or too long.
    #[error("{0}")]
    Period(String),
}

/// Directories written as the config writes them, for tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::sync::Arc;

    /// The on-call sections of a config.
    #[derive(serde::Deserialize)]
    pub struct Sections {
        #[serde(default)]
        pub users: Vec<crate::directory::UserSpec>,
        #[serde(default)]
        pub teams: Vec<crate::directory::TeamSpec>,
        #[serde(default)]
        pub schedules: Vec<crate::directory::ScheduleSpec>,
        #[serde(default)]
        pub escalation_policies: Vec<crate::escalation::PolicySpec>,
    }

    /// The directory `yaml` describes, or its problems.
    pub fn build(yaml: &str) -> Result<crate::Directory, Vec<nines_alerting::rulefile::Problem>> {
        let s: Sections = serde_norway::from_str(yaml).expect("fixture YAML");
        crate::Directory::build(&s.users, &s.teams, &s.schedules, &s.escalation_policies)
    }

    /// The directory `yaml` describes, which must be valid.
    pub fn directory(yaml: &str) -> Arc<crate::Directory> {
        Arc::new(build(yaml).expect("a valid fixture"))
    }
}
