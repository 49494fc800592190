//! Learning for nines: the memory it learns from. So far the event log:
//! every alert, page, silence and notification step appended with its
//! time, kind, service, actor and payload, queried by service, kind and
//! time. Incidents, their timelines, postmortems and DORA metrics are to
//! be built on it.
//!
//! Domain rules only: no HTTP, no storage engine.

pub mod changes;
pub mod events;
pub mod incident;
