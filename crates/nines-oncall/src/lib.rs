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
