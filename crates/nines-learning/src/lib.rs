//! Learning for nines: the memory it learns from. The event log (every
//! alert, page, silence, notification, deploy, change and incident step,
//! appended with its time, kind, service, actor and payload) and what is
//! built on it: incidents, their timelines and times to detect,
//! acknowledge, mitigate and resolve, blameless postmortems, and DORA's
//! delivery metrics.
//!
//! Domain rules only: no HTTP, no storage engine.

pub mod changes;
pub mod dora;
pub mod events;
pub mod incident;
pub mod metrics;
pub mod postmortem;
pub mod settings;
pub mod timeline;
